"""Build a profile's whole grid in data-flow order, with progress: what `python -m robustness build` runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from robustness import compression, pipeline
from robustness.errors import UsageError
from robustness.profiles import Profile
from robustness.progress import duration, eta
from robustness.store import Artifact, Store

STAGES = ["base", "attacks", "pruning", "deploy", "predictions"]


@dataclass(frozen=True)
class Node:
    """One artifact of the grid, named by what builds it rather than by its key: plain data, so a Ray task can
    carry it and rebuild the call on any machine. `model`: ("victim",), ("surrogate",), ("control", ratio) or
    (criterion, ratio); `method`: the model's compression method where it is not NNCF's filter pruning (a model
    method of robustness.compression: torch_pruning, int8 of the base, nncf_filter+int8, ...)."""

    stage: str  # dataset, base, control, pruned, ir, quantized, adv, query, predictions
    arch: str = ""
    model: tuple = ()
    criterion: str = ""
    source: str = ""
    attack: str = ""
    eps: float | None = None
    claim: str = ""
    cell: str = ""
    training: str = "standard"  # the arm: adversarial models are trained and fine-tuned on adversarial batches
    method: str = ""

    @property
    def label(self) -> str:
        model = _model_name(self.model) + (f" ({self.method})" if self.method else "")
        what = {"dataset": "dataset", "base": f"base model ({self.model[0] if self.model else ''})",
                "control": "control arm",
                "pruned": f"pruned ({self.criterion}{', ' + self.method if self.method else ''})",
                "ir": f"IR of {model}", "quantized": f"quantized IR of {model}",
                "query": f"query attack on the IR of {model}",
                "adv": f"{self.attack} set on {_model_name(self.model)} ({self.source})"
                       + (f" eps {self.eps:.4g}" if self.eps is not None else ""),
                "predictions": f"predictions for {self.claim}[{self.cell}]"}[self.stage]
        what += " [adversarial training]" if self.training == "adversarial" else ""
        return f"{self.arch}: {what}" if self.arch else what


def _model_name(model: tuple) -> str:
    return "-".join(f"{v:g}" if isinstance(v, float) else str(v) for v in model)


def curve_eps(profile: Profile) -> list[float]:
    """The eps of the security curves: the profile's list, without the main eps (built anyway)."""
    return [e for e in profile.eps_list if abs(e - profile.eps) > 1e-12]


def arch_nodes(profile: Profile, arch: str, stages: list[str]) -> list[tuple[str, list[Node]]]:
    """An architecture's nodes in data-flow order, in groups that progress names (the group's heading): the
    standard arm, then (training 'adversarial') the same grid for the adversarial arm."""
    return [(f"{heading} [adversarial training]" if t == "adversarial" else heading, group)
            for t in profile.training for heading, group in _arm_nodes(profile, arch, stages, t)]


def _arm_nodes(profile: Profile, arch: str, stages: list[str], t: str) -> list[tuple[str, list[Node]]]:
    pruned_ratios = [r for r in profile.ratios if r > 0]
    groups: list[tuple[str, list[Node]]] = [("base model", [Node("base", arch, ("victim",), training=t)])]
    if "surrogate" in profile.sources and ("attacks" in stages or "base" in stages):
        groups.append(("surrogate", [Node("base", arch, ("surrogate",), training=t)]))
    if "pruning" in stages or "deploy" in stages:
        groups.append((f"control arm and pruned variants ({', '.join(profile.criteria)})",
                       [Node("control", arch, training=t),
                        *(Node("pruned", arch, criterion=c, training=t) for c in profile.criteria)]))
    if t == "standard" and ("pruning" in stages or "deploy" in stages):
        groups += [(f"{m} pruned variants ({', '.join(compression.criteria_of(profile, m))})",
                    [Node("pruned", arch, criterion=c, method=m) for c in compression.criteria_of(profile, m)])
                   for m in compression.prunings(profile) if m != "nncf_filter"]
    if "deploy" in stages:  # every control step: claims score the control arm with its IR
        models = [("victim",), *(("control", r) for r in pruned_ratios),
                  *((c, r) for c in profile.criteria for r in pruned_ratios)]
        groups.append(("OpenVINO IRs", [Node("ir", arch, m, training=t) for m in models]))
        if t == "standard":
            groups += _compressed_ir_nodes(profile, arch, stages)
    if "attacks" in stages:
        for source in profile.sources:
            if source == "pruned":  # at the largest ratio of each criterion, and the control arm at that step
                models = [(c, max(pruned_ratios)) for c in profile.criteria] + [("control", max(pruned_ratios))]
            else:
                models = [("surrogate",) if source == "surrogate" else ("victim",)]
            for j, model in enumerate(models, 1):
                nodes = [Node("adv", arch, model, source=source, attack=a, training=t)
                         for a in profile.source_attacks(source)]
                if source == "base":
                    nodes += [Node("adv", arch, model, source=source, attack=a, eps=e, training=t)
                              for a in profile.curve_attacks for e in curve_eps(profile)]
                groups.append((f"adversarial sets on {arch}-{_model_name(model)} ({source}) [{j}/{len(models)}]",
                               nodes))
    return groups


def _compressed_ir_nodes(profile: Profile, arch: str, stages: list[str]) -> list[tuple[str, list[Node]]]:
    """The IRs of the other compression methods: each pruning method's FP32 IRs, then each quantization of the
    base and of every pruned model, and (with attacks) the query attack on the base's IR and on its INT8 IR."""
    ratios = [r for r in profile.ratios if r > 0]
    groups = []
    for m in compression.prunings(profile):
        if m != "nncf_filter":
            groups.append((f"{m} OpenVINO IRs", [Node("ir", arch, (c, r), method=m)
                                                 for c in compression.criteria_of(profile, m) for r in ratios]))
    for q in compression.quantizations(profile):
        nodes = [Node("quantized", arch, ("victim",), method=q)]
        for m in compression.prunings(profile):
            nodes += [Node("quantized", arch, (c, r), method=f"{m}+{q}") for c in compression.criteria_of(profile, m)
                      for r in ratios]
        groups.append((f"{q} IRs of the base and every pruned model", nodes))
        if "attacks" in stages:
            groups.append((f"query attacks on the FP32 and {q} IRs of the base model",
                           [Node("query", arch, ("victim",)), Node("query", arch, ("victim",), method=q)]))
    return groups


def prediction_nodes(profile: Profile) -> list[Node]:
    """The claims' prediction sets, one node per claim cell: measuring a cell builds exactly the sets its test
    will read. Latency cells are left to the tests, which time an architecture's IRs on one machine; pooled cells
    read only sets their member cells build."""
    from robustness import claims

    return [Node("predictions", cell.get("arch", ""), claim=claim.id, cell=claims.cell_id(claim, cell))
            for claim in claims.CLAIMS if not claim.timed and not claim.pools
            for cell in claims.cells(claim, profile)]


def grid_nodes(profile: Profile, stages: list[str] | None = None) -> list[Node]:
    """Every node of a profile's grid in an order where parents come first."""
    stages = stages or STAGES
    nodes = [Node("dataset")]
    for arch in profile.archs:
        nodes += [n for _, group in arch_nodes(profile, arch, stages) for n in group]
    if "predictions" in stages:
        nodes += prediction_nodes(profile)
    return nodes


def model_ref(store: Store, profile: Profile, ds: Artifact, arch: str, model: tuple,
              progress: Callable[[str], None] | None = None, arm: str = "standard",
              method: str = "") -> pipeline.ModelRef | pipeline.IRRef:
    if method:  # another compression method's model: of the base ("victim",) or at (criterion, ratio)
        base = pipeline.base_model(store, profile, ds, arch, "victim", progress, arm)
        criterion, ratio = (None, None) if model[0] == "victim" else model
        return compression.compressed_model(store, profile, ds, base, method, criterion, ratio, progress)
    if model[0] in ("victim", "surrogate"):
        return pipeline.base_model(store, profile, ds, arch, model[0], progress, arm)
    base = pipeline.base_model(store, profile, ds, arch, "victim", progress, arm)
    if model[0] == "control":
        return pipeline.control_model(store, profile, ds, base, model[1], progress)
    return pipeline.pruned_model(store, profile, ds, base, model[0], model[1], progress)


def resolve(store: Store, profile: Profile, node: Node, data_dir: Path | None = None,
            progress: Callable[[str], None] | None = None) -> Artifact | None:
    """Ask the store for a node's artifact (its parents are found or built on the way). Predictions nodes
    return None: their artifacts are the many sets their claim's cells read."""
    ds = pipeline.dataset(store, profile, data_dir, progress)
    if node.stage == "dataset":
        return ds
    if node.stage == "base":
        return pipeline.base_model(store, profile, ds, node.arch, node.model[0], progress, node.training).artifact
    if node.stage == "predictions":
        from robustness import claims

        claim = claims.get_claim(node.claim)
        cell = next((c for c in claims.cells(claim, profile) if claims.cell_id(claim, c) == node.cell), None)
        if cell is None:
            raise UsageError(f"claim {node.claim} has no cell {node.cell} under profile {profile.name}")
        claims.measure(claim, cell, store, profile, ds)
        return None
    base = pipeline.base_model(store, profile, ds, node.arch, "victim", progress, node.training)
    if node.stage == "control":
        return pipeline.control_schedule(store, profile, ds, base, progress)
    if node.stage == "pruned":
        return compression.pruning_schedule(store, profile, ds, base, node.method or "nncf_filter", node.criterion,
                                            progress)
    ref = model_ref(store, profile, ds, node.arch, node.model, progress, node.training, node.method)
    if node.stage == "ir":
        return pipeline.ir_model(store, ref, progress) if not node.method else pipeline.deployed_ir(store, ref)
    if node.stage == "query":
        from robustness import variants

        return variants.query_set(store, profile, ds, ref)
    if node.stage == "quantized":
        return ref.artifact
    if node.stage == "adv":
        return pipeline.adversarial_set(store, profile, ds, ref, node.source, node.attack, node.eps, progress)
    raise ValueError(f"unknown stage {node.stage!r}")


def build_grid(store: Store, profile: Profile, data_dir: Path | None = None, stages: list[str] | None = None,
               progress: Callable[[str], None] = print, first_arch: int = 0) -> None:
    """`first_arch` rotates the architectures, so parallel jobs start apart and meet only at the end."""
    stages = stages or STAGES
    pipeline.dataset(store, profile, data_dir, progress)
    archs = list(profile.archs)
    archs = archs[first_arch % len(archs):] + archs[:first_arch % len(archs)]
    started = time.perf_counter()
    for i, arch in enumerate(archs, 1):
        if i > 1:
            progress(f"architectures {eta(i - 1, len(archs), started)} (from this job's pace)")
        for heading, nodes in arch_nodes(profile, arch, stages):
            progress(f"[{i}/{len(archs)}] {arch}: {heading}")
            for node in nodes:
                resolve(store, profile, node, data_dir, progress)
    if "predictions" in stages:
        nodes = prediction_nodes(profile)
        shift = (first_arch % len(profile.archs)) * len(nodes) // len(profile.archs)  # jobs start apart here too
        nodes = nodes[shift:] + nodes[:shift]
        started = said = time.perf_counter()
        for k, node in enumerate(nodes):
            if k and (node.claim != nodes[k - 1].claim or time.perf_counter() - said > 30):
                said = time.perf_counter()
                progress(f"predictions for the claims' cells {eta(k, len(nodes), started)} ({node.claim})")
            resolve(store, profile, node, data_dir, progress)


def cost_table(store: Store, events: list[dict[str, Any]]) -> list[str]:
    """Seconds spent per stage and kind by the artifacts a run built (adversarial sets per attack): where a
    cold build's time goes. CPU seconds are the work itself; wall seconds also count the wait for a core when
    several jobs share them, so they sum to more than the run took."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for e in events:
        if e["event"] != "built":
            continue
        name = e["kind"]
        if name == "adversarial_set":
            try:
                spec = json.loads((store.path_of(e["kind"], e["key"]) / "manifest.json").read_text())["spec"]
                name = f"adversarial_set {spec['attack']} ({spec['source']})"
            except (OSError, ValueError, KeyError, TypeError):
                pass
        rows.setdefault(name, []).append((float(e.get("seconds") or 0.0), float(e.get("cpu_seconds") or 0.0)))
    total = sum(w for v in rows.values() for w, _ in v) or 1.0
    cpu = sum(c for v in rows.values() for _, c in v)
    lines = [f"{'kind':<38} {'built':>6} {'seconds':>9} {'share':>6} {'mean s':>8} {'cpu s':>9} {'cpu share':>9}"]
    for name, secs in sorted(rows.items(), key=lambda kv: -sum(w for w, _ in kv[1])):
        wall, work = sum(w for w, _ in secs), sum(c for _, c in secs)
        lines.append(f"{name:<38} {len(secs):>6} {wall:>9.1f} {100 * wall / total:>5.1f}% "
                     f"{wall / len(secs):>8.2f} {work:>9.1f} {100 * work / (cpu or 1.0):>8.1f}%")
    lines.append(f"{'all (process seconds, summed over jobs)':<38} {sum(len(v) for v in rows.values()):>6} "
                 f"{total:>9.1f} ({duration(total)}); cpu {cpu:.1f} s ({duration(cpu)})")
    return lines
