"""Claims: the paper's claims as a registry (one function per claim, registered with its metadata), the grid
cells each applies to, and the measurement behind a verdict.

A verdict is one of: `reproduced` (the 95% interval lies inside the bound), `not reproduced` (it lies wholly
outside: the data contradict the claim), `inconclusive` (it straddles the bound), `uninformative` (both models
compared sit at the floor or ceiling, at or below 2% or at or above 98%: such a cell says nothing about the
claim) and, in the report only, `error` (the cell crashed and wrote no record). Only `not reproduced` fails a
claim test, through the claim's own assertion (ClaimNotReproduced); any other exception is a crash.

An effect attributed to pruning is decided against the control arm (the same fine-tuning steps without pruning):
every accuracy record keeps the paper's comparison (pruned minus base) and pruned minus control, and the verdict
is taken on the claim's `reference`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from robustness import metrics, pipeline
from robustness.profiles import Profile
from robustness.store import Artifact, Store

PAPER = "Benchmarking Adversarial Robustness of Compressed Deep Learning Models (arXiv 2308.08160)"
VERDICTS = ["reproduced", "inconclusive", "not reproduced", "uninformative", "error"]
FLOOR, CEILING = 0.02, 0.98  # both models at or beyond: the cell carries no information about the claim
CONTROL_LATENCY_TOLERANCE = 0.03  # the control arm's IR timed further than this from the base: inconclusive


class ClaimNotReproduced(AssertionError):
    """The claim's own assertion: the measured interval lies wholly outside the claim's bound."""


@dataclass(frozen=True)
class Claim:
    id: str
    metric: str
    comparison: str  # "abs_le": |value| <= bound; "ge": value >= bound; "within": lo <= value <= hi
    bound: float | tuple[float, float]
    axes: tuple[str, ...]
    scope: str
    threat_model: str
    sentence: str
    why_bound: str = ""
    unit: str = "pp"  # pp (paired accuracy difference), % (a fraction), rho (a rank correlation)
    source: str | None = None  # who the adversarial examples are crafted on
    ratios: str = "all"  # all ratios in (0, 0.5], "largest" of them, "half" (0.5 only), "none" (base models only)
    attacks: str = "all"  # all, pruned_source (the profile's pruned_source_attacks) or curve (curve_attacks)
    reference: str | None = None  # "control": decided on pruned minus control arm; "base"; None: not a difference
    comparisons: int = 1  # simultaneous paired comparisons behind one interval (Bonferroni)
    min_archs: int = 1
    min_criteria: int = 1
    # the training arm of its models: "standard" (no axis), "adversarial" or "each" arm of the profile (a
    # `training` axis), "both" (compares the arms: cells only where the profile has both)
    training: str = "standard"
    question: str = ""  # beyond the paper: which of its open questions the claim answers
    needs_attacks: tuple[str, ...] = ()  # no cells unless the profile has all of them
    marks: tuple[tuple[str, ...], ...] = ()  # pytest marks of its tests: (name, *args)
    timed: bool = False  # times the machine: takes the store's exclusive hold instead of a shared one
    measure: Callable[..., dict[str, Any]] | None = field(default=None, compare=False, repr=False)


_REGISTRY: dict[str, Claim] = {}


def register(**meta: Any) -> Callable:
    """Register a claim: the function's name is the claim's id, as a model's name is its factory's."""
    def add(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        _REGISTRY[fn.__name__] = Claim(id=fn.__name__, measure=fn, **meta)
        return fn
    return add


@dataclass(frozen=True)
class Context:
    store: Store
    profile: Profile
    ds: Artifact
    parity: list[dict[str, Any]] = field(default_factory=list)  # of every prediction set the cell scored

    def base(self, arch: str, arm: str = "standard") -> pipeline.ModelRef:
        return pipeline.base_model(self.store, self.profile, self.ds, arch, arm=arm)

    def models(self, cell: dict[str, Any], arm: str | None = None
               ) -> tuple[pipeline.ModelRef, pipeline.ModelRef, pipeline.ModelRef]:
        """Base, pruned and control arm (as many fine-tuning steps as the pruned model had) of a cell, in the
        cell's training arm (or `arm`)."""
        base = self.base(cell["arch"], arm or cell.get("training", "standard"))
        pruned = pipeline.pruned_model(self.store, self.profile, self.ds, base, cell["criterion"], cell["ratio"])
        control = pipeline.control_model(self.store, self.profile, self.ds, base, cell["ratio"])
        return base, pruned, control

    def correct(self, model: pipeline.ModelRef, target: Artifact, part: str = "adv") -> np.ndarray:
        """Per image, whether the deployed model (the IR) is right; notes the set's parity with torch."""
        preds = pipeline.prediction_set(self.store, model, target, part)
        self.parity.append(preds.info["parity"])
        return _correct(str(preds.file("predictions.npz")))

    def parity_summary(self) -> dict[str, Any] | None:
        """The cell's IR-versus-torch agreement over every set it scored; below PARITY_MIN it is an error."""
        if not self.parity:
            return None
        checked = sum(p["checked"] for p in self.parity)
        agree = sum(p["agree"] for p in self.parity)
        worst = min(p["agreement"] for p in self.parity)
        return {"sets": len(self.parity), "checked": checked, "agree": agree, "lowest_agreement": worst,
                "max_logit_diff": max(p["max_logit_diff"] for p in self.parity),
                "ok": worst >= pipeline.PARITY_MIN}


@functools.lru_cache(maxsize=4096)
def _correct(predictions: str) -> np.ndarray:
    """A prediction set's per-image correctness, read once per process (several cells score the same model on
    the same set, and an artifact never changes under its key); read-only."""
    arrays = pipeline.load_npz(Path(predictions))
    ok = arrays["pred"] == arrays["y"]
    ok.flags.writeable = False
    return ok


# the claims ---------------------------------------------------------------------------------------------------
# what the four +-1 point claims share: the paper's sentence and bound, decided against the control arm
PLUS_MINUS_1PP = dict(comparison="abs_le", bound=0.01, reference="control",
                      sentence="pruning up to 50% keeps adversarial accuracy within +-1 percentage point of the base "
                               "model")
GRID = ("source", "dataset", "arch", "criterion", "ratio", "attack")


@register(metric="adversarial accuracy of the pruned model minus the control arm's (and minus the base model's), "
              "on the same surrogate-crafted images", axes=GRID,
       scope="every architecture, criterion, ratio up to 0.5 and attack; examples crafted on a surrogate",
       threat_model="surrogate: crafted on an independently trained model of the same architecture; base, "
                    "pruned and control victims all face them as transfer (the paper's threat model)",
       source="surrogate", **PLUS_MINUS_1PP)
def adv_within_1pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _transferred(ctx, cell)


@register(metric="adversarial accuracy of the pruned model minus the control arm's (and minus the base model's), "
              "on examples crafted white-box on the base model", axes=GRID,
       scope="every architecture, criterion, ratio up to 0.5 and attack; examples crafted on the victim's base",
       threat_model="base: white-box on the victim's base model, so pruned and control arm face a transfer "
                    "attack; against the base itself the set is white-box, hence the control arm as reference",
       source="base", **PLUS_MINUS_1PP)
def adv_within_1pp_whitebox_base(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _transferred(ctx, cell)


def _transferred(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    base, pruned, control = ctx.models(cell)
    adv, _ = pipeline.faced_sets(ctx.store, ctx.profile, ctx.ds, base, pruned, cell["source"], cell["attack"])
    b, p, c = (ctx.correct(m, adv) for m in (base, pruned, control))
    src = adv.info["source_model"]
    return {"eps": adv.spec["eps"], **_versus(b, p, c),
            "compared": f"{pruned.name} vs its control arm and {base.name} on {b.size} {cell['attack']} examples "
                        f"crafted on {src.get('arch')}-{src.get('role')} ({cell['source']})"}


@register(metric="adversarial accuracy of the pruned model attacked white-box on itself minus the control arm's "
              "attacked white-box on itself (and minus the base model's), on the same clean images",
       axes=GRID, scope="every architecture and criterion at the largest ratio, the profile's pruned_source_attacks",
       threat_model="pruned: each model is attacked white-box on itself (beyond the paper: its open question 2); "
                    "the record also gives the pruned model's accuracy on the transferred (base-crafted) examples",
       why_bound="the paper's bound, applied when the attacker holds the pruned model", source="pruned",
       ratios="largest", attacks="pruned_source", **PLUS_MINUS_1PP)
def adv_within_1pp_whitebox_pruned(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _whitebox_on_itself(ctx, cell)


def _self_attacked(ctx: Context, cell: dict[str, Any], arm: str | None = None) -> dict[str, Any]:
    """Base, pruned and control arm of a cell, each attacked white-box on itself: models, sets and per-image
    correctness, all on the same clean images."""
    base, pruned, control = ctx.models(cell, arm)
    on_base, on_pruned = pipeline.faced_sets(ctx.store, ctx.profile, ctx.ds, base, pruned, "pruned",
                                             cell["attack"])
    on_control = pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, control, "pruned", cell["attack"])
    if not np.array_equal(pipeline.load_adversarial(on_control)["index"],
                          pipeline.load_adversarial(on_base)["index"]):
        raise ValueError(f"{on_control.key} and {on_base.key} attack different test images")
    return {"models": (base, pruned, control), "sets": (on_base, on_pruned, on_control),
            "ok": (ctx.correct(base, on_base), ctx.correct(pruned, on_pruned), ctx.correct(control, on_control))}


def _whitebox_on_itself(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    got = _self_attacked(ctx, cell)
    (base, pruned, _), (on_base, on_pruned, _), (b, p, c) = got["models"], got["sets"], got["ok"]
    transferred = ctx.correct(pruned, on_base)
    return {"eps": on_pruned.spec["eps"], **_versus(b, p, c),
            "transferred": metrics.accuracy(transferred).to_dict(),
            "whitebox_minus_transferred": metrics.paired_difference(transferred, p).to_dict(),
            "compared": f"{pruned.name}, its control arm and {base.name}, each attacked white-box on itself, the "
                        f"same {b.size} clean images, {cell['attack']}"}


@register(metric="adversarial accuracy of the pruned model minus the control arm's (and minus the base model's) at "
              "each eps of the security curve, examples crafted white-box on the base model",
       axes=("source", "dataset", "arch", "criterion", "attack", "eps"),
       scope="every architecture and criterion at ratio 0.5, the profile's curve attacks and eps_list",
       threat_model="base: white-box on the victim's base model, so pruned and control arm face a transfer attack",
       why_bound="the paper's bound at every eps, not only one: the security curves of base and pruned model",
       source="base", ratios="half", attacks="curve", **PLUS_MINUS_1PP)
def adv_within_1pp_over_eps(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    base, pruned, control = ctx.models(cell)
    adv = pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, base, "base", cell["attack"], cell["eps"])
    b, p, c = (ctx.correct(m, adv) for m in (base, pruned, control))
    return {"eps": cell["eps"], **_versus(b, p, c),
            "compared": f"{pruned.name} vs its control arm and {base.name} on {b.size} {cell['attack']} examples "
                        f"at eps {255 * cell['eps']:g}/255 crafted on {base.name} (base)"}


@register(metric="clean accuracy of the pruned model minus the control arm's (and minus the base model's)",
       comparison="abs_le", bound=0.02, axes=("dataset", "arch", "criterion", "ratio"),
       scope="every architecture, criterion and ratio up to 0.5", threat_model="none (clean test set)",
       sentence="pruned models stay within 1-2 points of the base model's clean accuracy",
       why_bound="the paper's upper figure, 2 points", reference="control")
def clean_within_2pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    base, pruned, control = ctx.models(cell)
    b, p, c = (ctx.correct(m, ctx.ds, "test") for m in (base, pruned, control))
    return {**_versus(b, p, c),
            "compared": f"{pruned.name} vs its control arm and {base.name} on {b.size} clean test images"}


@register(metric="1 - pruned IR bytes / base IR bytes at ratio 0.5", comparison="within", bound=(0.56, 0.76),
       axes=("dataset", "arch", "criterion"), scope="every architecture and criterion at ratio 0.5",
       threat_model="none", sentence="model size drops by about 66% at 50% pruning",
       why_bound="+-10 points around 66%: removing half the filters of two consecutive layers removes 3/4 of the "
                 "weights between them, layers kept whole (first conv, classifier) remove less, and the mix "
                 "depends on the architecture", unit="%", ratios="half")
def ir_size_cut_66(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    base = ctx.base(cell["arch"])
    sizes = {k: ir.info["bin_bytes"] for k, ir in _ratio_irs(ctx, base, cell["criterion"]).items()}
    base_bytes = pipeline.ir_model(ctx.store, base).info["bin_bytes"]
    key = f"{cell['ratio']:g}"
    cut = 1 - sizes[key] / base_bytes
    return {"n": 1, "value": cut, "interval": [cut, cut], "base_bytes": base_bytes, "pruned_bytes": sizes[key],
            "bytes_by_ratio": sizes, "method": "exact byte counts",
            "compared": f"OpenVINO FP32 IR of {cell['arch']}-{cell['criterion']}-{key} vs {base.name}"}


@register(metric="latency gain of the 0.5-pruned IR minus the control arm's, both 1 - median / median of the "
              "base IR; OpenVINO CPU, batch 1", comparison="ge",
       bound=0.08, axes=("dataset", "arch", "criterion"), scope="every architecture and criterion at ratio 0.5",
       threat_model="none", sentence="inference latency improves by 8-10% at 50% pruning",
       why_bound="the paper's lower figure; the measured gain is reported whatever it is", unit="%", ratios="half",
       marks=(("xdist_group", "latency"),), timed=True)  # with a working loadgroup, one worker times them all
def latency_gain_8pct(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
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
    out = {"n": net.n, "value": net.value, "interval": [net.lo, net.hi],
           "method": "95% paired bootstrap over alternating rounds",
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
                       f"minus the control arm's gain, {net.n} alternating rounds"}
    if control and abs(control.value) > CONTROL_LATENCY_TOLERANCE:  # identical architectures timed apart
        out["inconclusive_because"] = (
            f"the control arm's IR (the base architecture) timed {100 * control.value:+.1f}% apart from the base, "
            f"more than {100 * CONTROL_LATENCY_TOLERANCE:g}%: something outside this store disturbed the timing")
    return out


LATENCY_PRECISION = 0.01  # rounds stop once every timed IR's median is known to +-1% (at least 30 rounds)
# One inference thread. With the latency hint's own count (every core, 2 here), IRs timed alternately in one
# process ran slower the later they were compiled: the 6th of six identical VGG19 IRs +7 to +8%, whichever IR it
# was (measured 2026-11-29); with one thread the same six were within 2%, and the timing leaves a core to the rest.
LATENCY_THREADS = 1


def _architecture_latency(ctx: Context, base: pipeline.ModelRef, ratio: float) -> dict[str, np.ndarray]:
    """Seconds per inference of the base IR, the control arm's and every criterion's at `ratio`, timed in one
    alternation under the store's exclusive hold, once per run: the criteria's cells share the base and control
    timings, and the machine is held once per architecture instead of once per cell. The timing is kept in the
    run's folder on this machine, so the cells share it in whichever xdist worker they run (xdist_group alone
    cannot promise one worker: pytest 9.2 broke loadgroup, pytest-dev/pytest-xdist#1386)."""
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


@register(metric="Spearman correlation, over ordered pairs of different architectures, between the transfer "
              "accuracy of base targets and of pruned targets (ratio 0.5)", comparison="ge", bound=0.8,
       axes=("source", "dataset", "criterion", "attack"),
       scope="every criterion and attack, examples crafted white-box on each architecture's base model; needs "
             "three or more architectures",
       threat_model="base: crafted on one architecture's base model, evaluated on the others",
       sentence="transferability patterns of base and pruned models are consistent",
       why_bound="0.8: a strong rank agreement; the paper gives no number", unit="rho", source="base",
       ratios="half", min_archs=3, marks=(("transfer",),))
def transfer_consistent(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return transfer(cell, ctx.store, ctx.profile, ctx.ds, correct=ctx.correct)


@register(metric="largest minus smallest adversarial accuracy across the pruning criteria", comparison="abs_le",
       bound=0.02, axes=("source", "dataset", "arch", "ratio", "attack"),
       scope="every architecture, ratio up to 0.5 and attack, surrogate-crafted examples", threat_model="surrogate",
       sentence="the L1, L2 and geometric-median criteria give comparable robustness",
       why_bound="2 points: twice the paper's +-1 point tolerance for one comparison", source="surrogate",
       min_criteria=2, comparisons=3)
def criteria_comparable(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    p = ctx.profile
    base = ctx.base(cell["arch"])
    src = pipeline.attack_source_model(ctx.store, p, ctx.ds, cell["arch"], cell["source"])
    adv = pipeline.adversarial_set(ctx.store, p, ctx.ds, src, cell["source"], cell["attack"])
    per = {c: ctx.correct(pipeline.pruned_model(ctx.store, p, ctx.ds, base, c, cell["ratio"]), adv)
           for c in p.criteria}
    spread = metrics.range_difference(per)
    accs = {c: metrics.accuracy(v) for c, v in per.items()}
    k = len(per)
    return {"eps": adv.spec["eps"], "n": spread.n, "value": spread.value, "interval": [spread.lo, spread.hi],
            "accuracies": {c: a.to_dict() for c, a in accs.items()},
            "informative": _informative(*(a.value for a in accs.values())),
            "method": f"95% simultaneous: paired score intervals of the {k * (k - 1) // 2} criterion pairs, "
                      "Bonferroni",
            "compared": f"{', '.join(per)} pruned {cell['arch']} at {cell['ratio']:g} on {spread.n} "
                        f"{cell['attack']} examples crafted on {src.name}"}


# beyond the paper: its open questions 1 (adversarial training with pruning) and 3 (criteria and transfer) ------
Q1 = "open question 1: does pruning keep the robustness of an adversarially trained model?"
Q3 = "open question 3: do the pruning criteria differ in cross-architecture transferability?"
ADV_TRAINING_MARGIN = 0.05  # adversarial training must raise white-box PGD accuracy by this much to count
HONEST_LARGE_EPS_ACCURACY = 0.10  # at the largest eps a robust model too should be near zero


@register(metric="white-box PGD accuracy of the adversarially trained base minus the standard base's, each "
              "attacked on itself, the same clean images", comparison="ge", bound=ADV_TRAINING_MARGIN,
       axes=("source", "dataset", "arch", "attack"),
       scope="every architecture, the profile's pruned_source_attacks at its eps; needs training = [standard, "
             "adversarial]",
       threat_model="base: each base model attacked white-box on itself",
       sentence="(sanity check of the adversarial arm) adversarial training raises robust accuracy",
       why_bound="5 points: below it the adversarial arm is not a robust model, and the question-1 claims of the "
                 "architecture are reported as uninformative", source="base", attacks="pruned_source",
       ratios="none", training="both", question=Q1)
def adv_training_helps(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    gain, sets, (std_ok, adv_ok) = _training_gain(ctx, cell["arch"], cell["attack"])
    return {"eps": sets[1].spec["eps"], "n": gain.n, "value": gain.value, "interval": [gain.lo, gain.hi],
            "difference": gain.to_dict(), "mcnemar_p": gain.mcnemar_p, "method": _versus_method(),
            "standard": float(std_ok.mean()), "adversarial": float(adv_ok.mean()),
            "compared": f"{cell['attack']} white-box accuracy of {cell['arch']}-victim-adv vs {cell['arch']}-victim "
                        f"(each attacked on itself) on the same {gain.n} clean images"}


def _training_gain(ctx: Context, arch: str, attack: str
                   ) -> tuple[metrics.Difference, tuple[Artifact, ...], tuple[np.ndarray, ...]]:
    """Adversarially trained minus standard base, each attacked white-box on itself."""
    arms = [ctx.base(arch, arm) for arm in ("standard", "adversarial")]
    sets = tuple(pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, m, "base", attack) for m in arms)
    if not np.array_equal(*(pipeline.load_adversarial(a)["index"] for a in sets)):
        raise ValueError(f"{sets[0].key} and {sets[1].key} attack different test images")
    ok = tuple(ctx.correct(m, a) for m, a in zip(arms, sets))
    return metrics.paired_difference(*ok), sets, ok


def _adversarial_arm_checked(ctx: Context, cell: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """A question-1 record is uninformative where adversarial training did not help (the sanity claim's
    interval not wholly above its margin): pruning a model that is not robust says nothing about robust ones."""
    attack = cell["attack"] if cell["attack"] in ctx.profile.source_attacks("pruned") else "pgd"
    gain = _training_gain(ctx, cell["arch"], attack)[0]
    rec["adversarial_training_gain"] = gain.to_dict()
    if gain.lo < ADV_TRAINING_MARGIN:
        measured = fmt(get_claim("adv_training_helps"), gain.value, gain.lo, gain.hi)
        rec["uninformative_because"] = (
            f"adversarial training raised {attack} white-box accuracy of {cell['arch']} by {measured}, not "
            f"surely {100 * ADV_TRAINING_MARGIN:g} points: the adversarial arm is not a robust model")
    return rec


@register(metric="adversarial accuracy of the pruned adversarially trained model minus its control arm's (and "
              "minus its base's), on the same examples crafted on an adversarially trained surrogate",
       axes=("training", *GRID),
       scope="every architecture, criterion and ratio up to 0.5, the profile's pruned_source_attacks; the "
             "adversarial arm (models trained and fine-tuned on adversarial batches)",
       threat_model="surrogate: crafted on an independently, adversarially trained model of the same architecture "
                    "(the attacker knows the recipe, not the weights)",
       why_bound="the paper's bound for standard models, asked of adversarially trained ones", source="surrogate",
       attacks="pruned_source", training="adversarial", question=Q1, **PLUS_MINUS_1PP)
def adv_trained_within_1pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _adversarial_arm_checked(ctx, cell, _transferred(ctx, cell))


@register(metric="adversarial accuracy of the pruned adversarially trained model attacked white-box on itself "
              "minus its control arm's attacked white-box on itself (and minus its base's), the same clean images",
       axes=("training", *GRID),
       scope="every architecture and criterion at the largest ratio, the profile's pruned_source_attacks; the "
             "adversarial arm",
       threat_model="pruned: each model attacked white-box on itself", why_bound="the paper's bound, asked of "
       "adversarially trained models under the strongest threat model", source="pruned", ratios="largest",
       attacks="pruned_source", training="adversarial", question=Q1, **PLUS_MINUS_1PP)
def adv_trained_within_1pp_whitebox(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _adversarial_arm_checked(ctx, cell, _whitebox_on_itself(ctx, cell))


@register(metric="robustness retained under pruning (pruned minus control arm, each attacked white-box on "
              "itself) of the adversarially trained arm minus that of the standard arm, the same clean images",
       comparison="abs_le", bound=0.02, axes=GRID,
       scope="every architecture and criterion at the largest ratio, the profile's pruned_source_attacks; needs "
             "training = [standard, adversarial]",
       threat_model="pruned: each model attacked white-box on itself",
       sentence="(open question 1) pruning keeps an adversarially trained model's robustness as it keeps a "
                "standard model's",
       why_bound="2 points: the paper's +-1 point tolerance for each of the two differences compared",
       source="pruned", ratios="largest", attacks="pruned_source", training="both", comparisons=2, question=Q1)
def retained_robustness_std_vs_adv(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    arms = {arm: _self_attacked(ctx, cell, arm) for arm in ("standard", "adversarial")}
    kept = {arm: {"vs_control": metrics.paired_difference(c, p), "vs_base": metrics.paired_difference(b, p)}
            for arm, (b, p, c) in ((arm, got["ok"]) for arm, got in arms.items())}
    d = metrics.difference_of_differences(*((got["ok"][2], got["ok"][1]) for got in arms.values()))
    rec = {"eps": arms["adversarial"]["sets"][1].spec["eps"], "n": d.n, "value": d.value, "interval": [d.lo, d.hi],
           "method": "95% simultaneous: each arm's paired score interval (pruned minus control) at 97.5%, "
                     "Bonferroni, their difference's range",
           **{f"{arm}_pruned_minus_control": k["vs_control"].to_dict() for arm, k in kept.items()},
           **{f"{arm}_pruned_minus_base": k["vs_base"].to_dict() for arm, k in kept.items()},
           **{f"{arm}_accuracies": {name: metrics.accuracy(ok).to_dict()
                                    for name, ok in zip(("base", "pruned", "control"), got["ok"])}
              for arm, got in arms.items()},
           "compared": f"{cell['arch']}-{cell['criterion']}-{cell['ratio']:g} against its control arm, standard and "
                       f"adversarially trained, each model attacked white-box on itself ({cell['attack']}), the "
                       f"same {kept['standard']['vs_control'].n} clean images"}
    return _adversarial_arm_checked(ctx, cell, rec)


@register(metric="white-box PGD accuracy minus FGSM accuracy on the base model at the profile's eps; with checks "
              "that PGD accuracy does not rise with eps and is near zero at the largest eps",
       comparison="within", bound=(-1.0, 0.01), axes=("training", "source", "dataset", "arch"),
       scope="every architecture of every training arm; needs fgsm and pgd", needs_attacks=("fgsm", "pgd"),
       threat_model="base: white-box on the base model",
       sentence="(self-check) robust accuracy comes from robustness, not from masked gradients",
       why_bound="an iterative attack is at least as strong as its one-step version (1 point for noise); a "
                 "masked model shows FGSM stronger than PGD, accuracy that rises with eps, or accuracy left at "
                 "a large eps (Carlini et al. 2019, On Evaluating Adversarial Robustness)",
       source="base", ratios="none", training="each", question=Q1)
def robust_accuracy_honest(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    p = ctx.profile
    base = ctx.base(cell["arch"], cell["training"])
    curve = {e: ctx.correct(base, pipeline.adversarial_set(ctx.store, p, ctx.ds, base, "base", "pgd", e))
             for e in sorted({*p.eps_list, p.eps})}
    fgsm = ctx.correct(base, pipeline.adversarial_set(ctx.store, p, ctx.ds, base, "base", "fgsm"))
    d = metrics.paired_difference(fgsm, curve[p.eps])
    accs = {e: metrics.accuracy(ok) for e, ok in curve.items()}
    eps = sorted(accs)
    # a rise larger than the paired interval of two sets allows (score interval, not the point) is a failure
    rises = [(a, b) for a, b in zip(eps, eps[1:])
             if metrics.paired_difference(curve[a], curve[b]).lo > 0]
    largest = accs[eps[-1]]
    failed = [f"PGD accuracy rises from eps {255 * a:g}/255 to {255 * b:g}/255 "
              f"({100 * accs[a].value:.1f}% to {100 * accs[b].value:.1f}%)" for a, b in rises]
    if largest.lo > HONEST_LARGE_EPS_ACCURACY:
        failed.append(f"PGD accuracy at eps {255 * eps[-1]:g}/255 is {largest} (more than "
                      f"{100 * HONEST_LARGE_EPS_ACCURACY:g}%)")
    rec = {"eps": p.eps, "n": d.n, "value": d.value, "interval": [d.lo, d.hi], "mcnemar_p": d.mcnemar_p,
           "difference": d.to_dict(), "fgsm": metrics.accuracy(fgsm).to_dict(),
           "pgd_by_eps": {f"{255 * e:g}/255": a.to_dict() for e, a in accs.items()},
           "informative": _informative(accs[p.eps].value, metrics.accuracy(fgsm).value),
           "method": _versus_method(), "self_checks_failed": failed,
           "compared": f"PGD vs FGSM white-box on {base.name} at eps {255 * p.eps:g}/255 and PGD over "
                       f"{len(eps)} eps, the same {d.n} clean images"}
    if failed:
        rec["error"] = "self-check failed: " + "; ".join(failed)
    return rec


@register(metric="smallest Spearman correlation, over pairs of pruning criteria, between their cross-architecture "
              "transfer matrices (ordered pairs of different architectures; the largest ratio's pruned models as "
              "both sources and targets)", comparison="ge", bound=0.8,
       axes=("training", "source", "dataset", "attack"),
       scope="every training arm and pruned_source attack at the largest ratio; needs three or more architectures "
             "and two or more criteria",
       threat_model="pruned: crafted white-box on one architecture's pruned model, evaluated on the other "
                    "architectures' models pruned by the same criterion",
       sentence="(open question 3) the criteria do not differ in cross-architecture transferability",
       why_bound="0.8: the rank agreement asked of base and pruned transfer patterns (transfer_consistent)",
       unit="rho", source="pruned", ratios="largest", attacks="pruned_source", training="each", min_archs=3,
       min_criteria=2, question=Q3, marks=(("transfer",),))
def criteria_transfer_agree(ctx: Context, cell: dict[str, Any], resamples: int = 1000) -> dict[str, Any]:
    p = ctx.profile
    archs, ratio = list(p.archs), cell["ratio"]
    bases = {a: ctx.base(a, cell["training"]) for a in archs}
    ok: dict[str, np.ndarray] = {}
    pairs = [(s, t) for s in archs for t in archs if s != t]
    for c in p.criteria:
        pruned = {a: pipeline.pruned_model(ctx.store, p, ctx.ds, bases[a], c, ratio) for a in archs}
        sets = {a: pipeline.adversarial_set(ctx.store, p, ctx.ds, pruned[a], "pruned", cell["attack"])
                for a in archs}
        ok[c] = np.array([ctx.correct(pruned[t], sets[s]) for s, t in pairs])  # pairs x images
    crit_pairs = [(a, b) for i, a in enumerate(p.criteria) for b in p.criteria[i + 1:]]
    rhos = {f"{a}~{b}": metrics.spearman(list(ok[a].mean(1)), list(ok[b].mean(1))) for a, b in crit_pairs}
    value = min(rhos.values())
    n = ok[p.criteria[0]].shape[1]
    counts = metrics.resample_counts(n, resamples)
    resampled = {c: v @ counts / n for c, v in ok.items()}  # pairs x resamples
    boot = np.min([metrics.spearman_columns(resampled[a], resampled[b]) for a, b in crit_pairs], axis=0)
    boot = boot[np.isfinite(boot)]
    lo, hi = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if boot.size else (value, value)
    return {"n": int(n), "value": value, "interval": [lo, hi], "rho_by_criteria": rhos, "ratio": ratio,
            "matrices": {c: {f"{s}->{t}": float(v) for (s, t), v in zip(pairs, ok[c].mean(1))} for c in p.criteria},
            "method": "95% bootstrap over images, resampled jointly for every criterion and pair (all sets hold "
                      "the same clean images)",
            "compared": f"transfer accuracy among {', '.join(archs)} pruned to {ratio:g} by each of "
                        f"{', '.join(p.criteria)} ({cell['training']} training), {len(pairs)} ordered pairs, {n} "
                        f"{cell['attack']} examples each crafted white-box on the source's pruned model"}


# shared measurement pieces ------------------------------------------------------------------------------------
def _versus_method() -> str:
    return "95% paired score interval (Tango, continuity-corrected)"

def _informative(*accuracies: float) -> bool:
    return not (all(a <= FLOOR for a in accuracies) or all(a >= CEILING for a in accuracies))


def _versus(base_ok: np.ndarray, pruned_ok: np.ndarray, control_ok: np.ndarray) -> dict[str, Any]:
    """Both comparisons on the same images: the paper's (pruned minus base) and pruned minus control arm."""
    vs_base = metrics.paired_difference(base_ok, pruned_ok)
    vs_control = metrics.paired_difference(control_ok, pruned_ok)
    accs = {k: metrics.accuracy(v) for k, v in (("base", base_ok), ("pruned", pruned_ok),
                                                 ("control", control_ok))}
    return {"n": int(base_ok.size), **{k: a.to_dict() for k, a in accs.items()},
            "difference": vs_base.to_dict(), "pruned_minus_control": vs_control.to_dict(),
            "method": _versus_method()}


def _decided(claim: Claim, rec: dict[str, Any]) -> None:
    """Take value and interval from the comparison the claim is decided on; keep the other's verdict too."""
    if claim.reference is None:
        return
    key = "pruned_minus_control" if claim.reference == "control" else "difference"
    d = rec[key]
    rec.update(value=d["value"], interval=[d["lo"], d["hi"]], mcnemar_p=d["mcnemar_p"])
    rec["informative"] = _informative(rec["pruned"]["value"], rec[claim.reference]["value"])
    paper = rec["difference"]
    rec["verdict_vs_base"] = (verdict(claim, paper["value"], paper["lo"], paper["hi"])
                              if _informative(rec["pruned"]["value"], rec["base"]["value"]) else "uninformative")


def _ratio_irs(ctx: Context, base: pipeline.ModelRef, criterion: str) -> dict[str, Artifact]:
    """The IR at every ratio of a criterion (ratio 0: the control arm), keyed by the ratio as written in ids."""
    return {f"{r:g}": pipeline.ir_model(ctx.store, pipeline.pruned_model(ctx.store, ctx.profile, ctx.ds, base,
                                                                         criterion, r))
            for r in ctx.profile.ratios}


def transfer(cell: dict[str, Any], store: Store, profile: Profile, ds: Artifact, resamples: int = 1000,
             seed: int = 0, correct: Callable[..., np.ndarray] | None = None) -> dict[str, Any]:
    """Transfer matrices (source arch x target arch) for base and pruned targets, and their rank agreement.

    Every set holds the same test images, so the interval resamples images jointly across all pairs."""
    archs = list(profile.archs)
    ratio = cell.get("ratio", 0.5)
    correct = correct or (lambda model, adv, part: pipeline.correct(store, model, adv, part))
    bases = {a: pipeline.base_model(store, profile, ds, a) for a in archs}
    pruned = {a: pipeline.pruned_model(store, profile, ds, bases[a], cell["criterion"], ratio) for a in archs}
    pairs, base_ok, pruned_ok = [], [], []
    for src in archs:
        adv = pipeline.adversarial_set(store, profile, ds, bases[src], "base", cell["attack"])
        for tgt in archs:
            if tgt != src:
                pairs.append((src, tgt))
                base_ok.append(correct(bases[tgt], adv, "adv"))
                pruned_ok.append(correct(pruned[tgt], adv, "adv"))
    b, p = np.array(base_ok), np.array(pruned_ok)  # pairs x images
    rho = metrics.spearman(list(b.mean(1)), list(p.mean(1)))
    counts = metrics.resample_counts(b.shape[1], resamples, seed)
    boot = metrics.spearman_columns(b @ counts / b.shape[1], p @ counts / b.shape[1])
    boot = boot[np.isfinite(boot)]
    lo, hi = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if boot.size else (rho, rho)
    matrix = {f"{s}->{t}": {"base": float(bb.mean()), "pruned": float(pp.mean())}
              for (s, t), bb, pp in zip(pairs, b, p)}
    return {"n": int(b.shape[1]), "value": rho, "interval": [lo, hi], "transfer": matrix, "eps": profile.eps,
            "method": "95% bootstrap over images",
            "compared": f"transfer accuracy of base vs {cell['criterion']}-{ratio:g} pruned targets over "
                        f"{len(pairs)} architecture pairs, {b.shape[1]} {cell['attack']} examples each (crafted on "
                        "each base)"}


# cells, ids, verdicts -----------------------------------------------------------------------------------------
CLAIMS: list[Claim] = sorted(_REGISTRY.values(), key=lambda c: c.id)


def get_claim(claim_id: str) -> Claim:
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}: choose from {', '.join(c.id for c in CLAIMS)}") from None


def claim_ratios(profile: Profile) -> list[float]:
    return [r for r in profile.ratios if 0 < r <= 0.5]


def cells(claim: Claim, profile: Profile) -> list[dict[str, Any]]:
    """The grid cells a claim applies to under a profile, in a fixed order."""
    if claim.source is not None and claim.source not in profile.sources:
        return []
    arms = {"standard": [], "each": list(profile.training),
            "adversarial": [t for t in profile.training if t == "adversarial"],
            "both": ["adversarial"] if "adversarial" in profile.training else []}[claim.training]
    if claim.training != "standard" and not arms:
        return []
    if not set(claim.needs_attacks) <= set(profile.attacks):
        return []
    if len(profile.archs) < claim.min_archs or len(profile.criteria) < claim.min_criteria:
        return []
    ratios = {"all": claim_ratios(profile), "largest": claim_ratios(profile)[-1:],
              "half": [0.5] if 0.5 in profile.ratios else [], "none": [None]}[claim.ratios]
    if not ratios:
        return []
    attacks = {"all": list(profile.attacks), "pruned_source": profile.source_attacks("pruned"),
               "curve": list(profile.curve_attacks)}[claim.attacks]
    values: dict[str, list[Any]] = {
        "training": arms, "source": [claim.source], "dataset": [profile.dataset], "arch": list(profile.archs),
        "criterion": list(profile.criteria), "ratio": ratios, "attack": attacks, "eps": list(profile.eps_list)}
    out: list[dict[str, Any]] = [{} if "ratio" in claim.axes else {"ratio": ratios[0]}]
    for axis in claim.axes:
        out = [{**c, axis: v} for c in out for v in values[axis]]
    return out


def _id_part(axis: str, value: Any) -> str:
    if axis == "eps":  # eps in 1/255 units, as it is usually written: eps8 is 8/255
        return f"eps{round(255 * value, 2):g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def cell_id(claim: Claim, cell: dict[str, Any]) -> str:
    axes = (*claim.axes, *(["ratio"] if cell.get("ratio") is not None and "ratio" not in claim.axes else []))
    return "-".join(_id_part(a, cell[a]) for a in axes)


def allowed(claim: Claim) -> tuple[float, float]:
    if claim.comparison == "abs_le":
        return -float(claim.bound), float(claim.bound)
    if claim.comparison == "ge":
        return float(claim.bound), float("inf")
    return float(claim.bound[0]), float(claim.bound[1])


def verdict(claim: Claim, value: float, lo: float, hi: float) -> str:
    """Decided by the interval, not the point: with 256 images one image is 0.4 points, so a point outside a
    +-1 point bound is often noise; an interval wholly outside is evidence."""
    inside_lo, inside_hi = allowed(claim)
    if inside_lo <= lo and hi <= inside_hi:
        return "reproduced"
    if hi < inside_lo or lo > inside_hi:
        return "not reproduced"
    return "inconclusive"


def side(claim: Claim, value: float) -> int:
    """-1 below the bound, +1 above it, 0 inside."""
    inside_lo, inside_hi = allowed(claim)
    return -1 if value < inside_lo else 1 if value > inside_hi else 0


def measure(claim: Claim, cell: dict[str, Any], store: Store, profile: Profile, ds: Artifact) -> dict[str, Any]:
    """Measure one claim cell; return a results.json record with the verdict."""
    record: dict[str, Any] = {
        "claim": claim.id, "cell": cell_id(claim, cell), "profile": profile.name, "profile_hash": profile.hash,
        "dataset": profile.dataset, "arch": cell.get("arch", "all"), "criterion": cell.get("criterion"),
        "ratio": cell.get("ratio"), "attack": cell.get("attack"), "source": cell.get("source"),
        "training": cell.get("training", "both" if claim.training == "both" else "standard"),
        "threat_model": claim.threat_model, "metric": claim.metric, "comparison": claim.comparison,
        "bound": claim.bound, "reference": claim.reference, "paper": claim.sentence}
    ctx = Context(store, profile, ds)
    if claim.timed:
        record.update(claim.measure(ctx, cell))
    else:
        with store.computing():  # latency cells wait for this, in any process on the store
            record.update(claim.measure(ctx, cell))
    _decided(claim, record)
    record["parity"] = par = ctx.parity_summary()
    if par and not par["ok"]:
        record["verdict"] = "error"
        record["error"] = (f"the IR and the torch model disagree on {par['checked'] - par['agree']} of "
                           f"{par['checked']} checked images (lowest agreement {100 * par['lowest_agreement']:.1f}% "
                           f"< {100 * pipeline.PARITY_MIN:g}%): the deployed model is not the model measured")
    elif record.get("error"):  # a self-check of the evaluation failed: its numbers cannot be trusted
        record["verdict"] = "error"
    elif not record.get("informative", True) or record.get("uninformative_because"):
        record["verdict"] = "uninformative"
    elif record.get("inconclusive_because"):
        record["verdict"] = "inconclusive"
    else:
        record["verdict"] = verdict(claim, record["value"], *record["interval"])
    record["message"] = message(claim, record)
    return record


def fmt(claim: Claim, value: float, lo: float, hi: float) -> str:
    if claim.unit == "rho":
        return f"rho {value:.3f} [{lo:.3f}, {hi:.3f}]"
    if claim.unit == "%":
        return f"{100 * value:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{100 * value:+.2f} pp [{100 * lo:+.2f}, {100 * hi:+.2f}]"


def bound_text(claim: Claim) -> str:
    lo, hi = allowed(claim)
    scale = 1 if claim.unit == "rho" else 100
    unit = "" if claim.unit == "rho" else " pp" if claim.unit == "pp" else "%"
    if claim.comparison == "abs_le":
        return f"|d| <= {scale * hi:g}{unit}"
    if claim.comparison == "ge":
        return f">= {scale * lo:g}{unit}"
    return f"in [{scale * lo:g}, {scale * hi:g}]{unit}"


def message(claim: Claim, rec: dict[str, Any]) -> str:
    measured = f"{fmt(claim, rec['value'], *rec['interval'])} ({rec.get('method', '95% interval')})"
    if claim.reference is not None:
        paper = rec["difference"]
        measured = (f"pruned minus {claim.reference} {measured}; pruned minus base (the paper's comparison) "
                    f"{fmt(claim, paper['value'], paper['lo'], paper['hi'])}, {rec['verdict_vs_base']}")
    note = f" ({rec['inconclusive_because']})" if rec.get("inconclusive_because") else ""
    note += f" (error: {rec['error']})" if rec.get("error") else ""
    if rec.get("uninformative_because"):
        note += f" (uninformative: {rec['uninformative_because']})"
    elif rec["verdict"] == "uninformative":
        note += f" (both models at or beyond {100 * FLOOR:g}% / {100 * CEILING:g}%: no information on the claim)"
    return (f"{claim.id}[{rec['cell']}]: {rec['verdict']}: measured {measured}, bound {bound_text(claim)}, "
            f"n={rec['n']}; compared {rec['compared']}{note}")


def check(record: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
    """The claim test's assertion. `expected`: the cell's recorded non-reproduction (robustness.expected). A
    non-reproduction raises ClaimNotReproduced (what an expected failure waits for) only where it is the
    recorded one: its interval overlaps the recorded interval on the same side of the bound. A moved one is a
    plain failure showing both."""
    # the message says everything; pytest then shows no source of this module, which it would parse anew for
    # every failure and expected failure (190 of them cost a warm run 13 s)
    __tracebackhide__ = True
    if record["verdict"] == "error":
        raise AssertionError(record["message"])
    if record["verdict"] != "not reproduced":
        return
    claim = get_claim(record["claim"])
    if expected is None:
        raise ClaimNotReproduced(record["message"])
    lo, hi = record["interval"]
    e_lo, e_hi = expected["interval"]
    recorded = f"{fmt(claim, expected['value'], e_lo, e_hi)}, n={expected['n']}"
    if lo <= e_hi and e_lo <= hi and side(claim, record["value"]) == side(claim, expected["value"]):
        raise ClaimNotReproduced(f"{record['message']}; as recorded: {recorded}")
    raise AssertionError(f"{record['message']}; recorded as not reproduced with {recorded}: the measurement "
                         "moved; if the change is intended, run `python -m robustness expected --update`")


def claim_table() -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(c).items() if k != "measure"} for c in CLAIMS]
