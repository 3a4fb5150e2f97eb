"""Build a profile's whole grid in data-flow order, with progress: what `python -m robustness build` runs."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from robustness import pipeline
from robustness.profiles import Profile
from robustness.progress import duration, eta
from robustness.store import Store

STAGES = ["base", "attacks", "pruning", "deploy"]


def curve_eps(profile: Profile) -> list[float]:
    """The eps of the security curves: the profile's list, without the main eps (built anyway)."""
    return [e for e in profile.eps_list if abs(e - profile.eps) > 1e-12]


def build_grid(store: Store, profile: Profile, data_dir: Path | None = None, stages: list[str] | None = None,
               progress: Callable[[str], None] = print, first_arch: int = 0) -> None:
    """`first_arch` rotates the architectures, so parallel jobs start apart and meet only at the end."""
    stages = stages or STAGES
    ds = pipeline.dataset(store, profile, data_dir, progress)
    archs = list(profile.archs)
    archs = archs[first_arch % len(archs):] + archs[:first_arch % len(archs)]
    pruned_ratios = [r for r in profile.ratios if r > 0]
    started = time.perf_counter()
    for i, arch in enumerate(archs, 1):
        head = f"[{i}/{len(archs)}] {arch}"
        if i > 1:
            progress(f"architectures {eta(i - 1, len(archs), started)} (from this job's pace)")
        progress(f"{head}: base model")
        base = pipeline.base_model(store, profile, ds, arch, "victim", progress)
        if "pruning" in stages or "deploy" in stages:
            progress(f"{head}: control arm and pruned variants ({', '.join(profile.criteria)})")
            pipeline.control_schedule(store, profile, ds, base, progress)
            for criterion in profile.criteria:
                pipeline.prune_schedule(store, profile, ds, base, criterion, progress)
        if "deploy" in stages:
            progress(f"{head}: OpenVINO IRs")
            pipeline.ir_model(store, base, progress)
            for ratio in pruned_ratios:  # every control step: claims score the control arm with its IR
                pipeline.ir_model(store, pipeline.control_model(store, profile, ds, base, ratio), progress)
            for criterion in profile.criteria:
                for ratio in profile.ratios:
                    pipeline.ir_model(store, pipeline.pruned_model(store, profile, ds, base, criterion, ratio),
                                      progress)
        if "attacks" in stages:
            for source in profile.sources:
                refs = _source_models(store, profile, ds, arch, source, pruned_ratios, progress)
                for j, ref in enumerate(refs, 1):
                    progress(f"{head}: adversarial sets on {ref.name} ({source}) [{j}/{len(refs)}]")
                    for attack in profile.source_attacks(source):
                        pipeline.adversarial_set(store, profile, ds, ref, source, attack, None, progress)
                    if source == "base":
                        for attack in profile.curve_attacks:
                            for eps in curve_eps(profile):
                                pipeline.adversarial_set(store, profile, ds, ref, source, attack, eps, progress)
        elif "base" in stages and "surrogate" in profile.sources:
            pipeline.base_model(store, profile, ds, arch, "surrogate", progress)


def _source_models(store, profile, ds, arch, source, pruned_ratios, progress) -> list:
    """White-box on the pruned model is crafted at the largest ratio of each criterion: the open question is
    whether a pruned model is weaker against attacks on itself, and the largest ratio is where it would show.
    The control arm at the same step is attacked white-box too: it tells pruning from the extra fine-tuning."""
    if source != "pruned":
        return [pipeline.attack_source_model(store, profile, ds, arch, source, progress=progress)]
    base = pipeline.base_model(store, profile, ds, arch, "victim", progress)
    control = pipeline.control_model(store, profile, ds, base, max(pruned_ratios), progress)
    return [pipeline.attack_source_model(store, profile, ds, arch, "pruned", c, max(pruned_ratios), progress)
            for c in profile.criteria] + [control]


def cost_table(store: Store, events: list[dict[str, Any]]) -> list[str]:
    """Seconds spent per stage and kind by the artifacts a run built (adversarial sets per attack): where a
    cold build's time goes."""
    rows: dict[str, list[float]] = {}
    for e in events:
        if e["event"] != "built":
            continue
        name = e["kind"]
        if name == "adversarial_set":
            try:
                spec = json.loads((store.path_of(e["kind"], e["key"]) / "manifest.json").read_text())["spec"]
                name = f"adversarial_set {spec['attack']} ({spec['source']})"
            except (OSError, ValueError, KeyError):
                pass
        rows.setdefault(name, []).append(float(e.get("seconds") or 0.0))
    total = sum(sum(v) for v in rows.values()) or 1.0
    lines = [f"{'kind':<38} {'built':>6} {'seconds':>9} {'share':>6} {'mean s':>8}"]
    for name, secs in sorted(rows.items(), key=lambda kv: -sum(kv[1])):
        lines.append(f"{name:<38} {len(secs):>6} {sum(secs):>9.1f} {100 * sum(secs) / total:>5.1f}% "
                     f"{sum(secs) / len(secs):>8.2f}")
    lines.append(f"{'all (process seconds, summed over jobs)':<38} {sum(len(v) for v in rows.values()):>6} "
                 f"{total:>9.1f} ({duration(total)})")
    return lines
