"""The paper's latency claim, as two: the direction (50% pruning makes inference at least 8% faster) and the
magnitude (the gain lies near the paper's 8-10%). Both read one timing per architecture and run."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from robustness import metrics, pipeline
from robustness.claims.context import Context
from robustness.claims.registry import register

CONTROL_LATENCY_TOLERANCE = 0.03  # the control arm's IR timed further than this from the base: inconclusive
LATENCY_PRECISION = 0.01  # rounds stop once every timed IR's median is known to +-1% (at least 30 rounds)
# One inference thread. With the latency hint's own count (every core, 2 here), IRs timed alternately in one
# process ran slower the later they were compiled: the 6th of six identical VGG19 IRs +7 to +8%, whichever IR it
# was (measured 2026-11-29); with one thread the same six were within 2%, and the timing leaves a core to the rest.
LATENCY_THREADS = 1
# The paper's 8-10%, widened on each side by the distance two identical IRs may time apart on one machine before
# a cell is inconclusive (CONTROL_LATENCY_TOLERANCE): a gain the measurement cannot tell from 8-10% is inside.
LATENCY_WINDOW = (round(0.08 - CONTROL_LATENCY_TOLERANCE, 4), round(0.10 + CONTROL_LATENCY_TOLERANCE, 4))
NO_CONTROL = "no control arm timed (the profile's ratios lack 0): decided on the gain over the base alone"

LATENCY = dict(axes=("dataset", "arch", "criterion"), scope="every architecture and criterion at ratio 0.5",
               threat_model="none", sentence="inference latency improves by 8-10% at 50% pruning", unit="%",
               ratios="half", interval="bootstrap", timed=True,
               marks=(("xdist_group", "latency"),))  # with a working loadgroup, one worker times them all
METRIC = ("latency gain of the 0.5-pruned IR minus the control arm's (the base architecture timed alongside), both "
          "1 - median / median of the base IR; OpenVINO CPU, batch 1; without a timed control arm, the gain alone")


@register(metric=METRIC, comparison="ge", bound=0.08,
          why_bound="the paper's lower figure: the direction of the claim (pruning makes inference faster by at "
                    "least that much); latency_gain_8_10pct asks for the magnitude", **LATENCY)
def latency_gain_8pct(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _latency_gain(ctx, cell)


@register(metric=METRIC, comparison="within", bound=LATENCY_WINDOW,
          why_bound=f"{100 * LATENCY_WINDOW[0]:g}-{100 * LATENCY_WINDOW[1]:g}%: the paper's 8-10%, widened on each "
                    f"side by {100 * CONTROL_LATENCY_TOLERANCE:g} points, the distance two identical IRs may time "
                    "apart on one machine before a cell is called inconclusive; a gain far above it (a small model "
                    "bound by compute, not by memory or overhead) does not reproduce the paper's figure",
          **LATENCY)
def latency_gain_8_10pct(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _latency_gain(ctx, cell)


def _latency_gain(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    """Both latency claims' record of a cell, from the architecture's one timing in this run."""
    from robustness import deploy

    base = ctx.base(cell["arch"])
    key = f"{cell['ratio']:g}"
    times = _architecture_latency(ctx, base, cell["ratio"])
    pruned = times[f"{cell['criterion']}-{key}"]
    gross = metrics.latency_gain(times["base"], pruned)
    # the control arm's IR is the base architecture: its gain is the measurement's own error, subtracted
    control = metrics.latency_gain(times["base"], times["control"]) if "control" in times else None
    net = metrics.latency_gain_net(times["base"], pruned, times["control"]) if control else gross
    p = ctx.profile
    against = "minus the control arm's gain" if control else NO_CONTROL
    out = {"n": net.n, "value": net.value, "interval": [net.lo, net.hi],
           "method": "95% paired bootstrap over alternating rounds",
           "decided_against": "control arm" if control else "base (no control arm timed)",
           "gain": gross.to_dict(), "control_gain": control.to_dict() if control else None,
           "base_median_ms": 1000 * float(np.median(times["base"])),
           "pruned_median_ms": 1000 * float(np.median(pruned)),
           "median_ms_by_ratio": {**({"0": 1000 * float(np.median(times["control"]))} if control else {}),
                                  key: 1000 * float(np.median(pruned))},
           "median_precision": {k: metrics.median_precision(v) for k, v in times.items()},
           "cpu": deploy.cpu_name(),
           "threads": LATENCY_THREADS,
           "compared": f"OpenVINO CPU latency (batch 1, static shape, latency hint, {LATENCY_THREADS} inference "
                       f"thread, OpenVINO's own per-inference time as benchmark_app reports it, {p.latency_warmup} "
                       f"warm-up rounds excluded, timed under the store's exclusive hold, alternating with the "
                       f"architecture's other criteria) of {cell['arch']}-{cell['criterion']}-{key} vs {base.name}, "
                       f"{against}, {net.n} alternating rounds"}
    if control and abs(control.value) > CONTROL_LATENCY_TOLERANCE:  # identical architectures timed apart
        out["inconclusive_because"] = (
            f"the control arm's IR (the base architecture) timed {100 * control.value:+.1f}% apart from the base, "
            f"more than {100 * CONTROL_LATENCY_TOLERANCE:g}%: something outside this store disturbed the timing")
    return out


def _architecture_latency(ctx: Context, base: pipeline.ModelRef, ratio: float) -> dict[str, np.ndarray]:
    """Seconds per inference of the base IR, the control arm's and every criterion's at `ratio`, timed in one
    alternation under the store's exclusive hold, once per run: the criteria's cells (of both latency claims)
    share the base and control timings, and the machine is held once per architecture instead of once per cell.
    The timing is kept in the run's folder on this machine, so the cells share it in whichever xdist worker they
    run (xdist_group alone cannot promise one worker: pytest 9.2 broke loadgroup, pytest-dev/pytest-xdist#1386)."""
    from filelock import FileLock

    from robustness import deploy

    irs = {"base": pipeline.ir_model(ctx.store, base)}
    if 0 in ctx.profile.ratios:
        irs["control"] = pipeline.ir_model(ctx.store, pipeline.control_model(ctx.store, ctx.profile, ctx.ds, base,
                                                                             ratio))
    for criterion in ctx.profile.criteria:
        irs[f"{criterion}-{ratio:g}"] = pipeline.ir_model(ctx.store, pipeline.pruned_model(
            ctx.store, ctx.profile, ctx.ds, base, criterion, ratio))
    p = ctx.profile
    what = [[k, ir.key] for k, ir in irs.items()] + [p.latency_iterations, p.latency_warmup, LATENCY_PRECISION]
    path = ctx.store.run_folder() / f"latency-{hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]}.json"
    with FileLock(f"{path}.lock"):
        if not path.exists():
            with ctx.store.computing():  # compiling is computing: no other worker's timing runs beside it
                runners = {k: deploy.Runner(ir.file("model.xml"), latency=True, threads=LATENCY_THREADS)
                           for k, ir in irs.items()}
            x1 = pipeline.load_arrays(ctx.ds, "test")[0][:1]
            with ctx.store.timing():  # no build or claim computation of this store runs meanwhile, in any process
                raw = deploy.alternating_latency(runners, x1, p.latency_iterations, p.latency_warmup,
                                                 precise=tuple(runners), precision=LATENCY_PRECISION)
            part = path.with_suffix(f".{os.getpid()}.part")
            part.write_text(json.dumps(raw))
            os.replace(part, path)
        return {k: np.array(v) for k, v in json.loads(path.read_text()).items()}
