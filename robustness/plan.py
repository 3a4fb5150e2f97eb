"""Plan: a profile's artifact graph before anything runs, what of it the store holds, and what the rest costs.

`python -m robustness plan --profile NAME` walks the same grid nodes a build walks, against a store that builds
nothing (PlanStore): every key is exact, because keys depend on specs and parent keys only. The cost of each node
is its work (images times forward and backward passes, from the profile's settings and the attack's algorithm)
over throughputs measured on this machine in a few seconds, or an images-per-second figure you give for a GPU.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from robustness.build import STAGES, Node, grid_nodes, resolve
from robustness.profiles import SPLIT_SIZES, Profile
from robustness.store import MANIFEST, Artifact, Store
from robustness.validation import BUILTIN_SPLITS

CLASSES = {name: classes for name, (classes, *_) in BUILTIN_SPLITS.items()}
log = logging.getLogger("robustness.plan")


class PlanStore(Store):
    """A store that builds nothing and writes nothing: it records each artifact a run asks for, with its key,
    parents and whether the store at `root` already holds it."""

    def __init__(self, root: Path | str | None = None) -> None:
        super().__init__(root, read_only=False)
        self.asked: dict[str, dict[str, Any]] = {}

    def _prepare(self) -> None:  # planning must work on a store that does not exist yet
        pass

    def get(self, kind: str, spec: dict[str, Any], parents, build, label: str | None = None) -> Artifact:
        key = self.key(kind, spec, parents)
        path = self.path_of(kind, key)
        if key not in self.asked:
            manifest = self._manifest(path, label or kind)
            held = manifest is not None
            manifest = manifest or {"spec": spec, "info": self._placeholder_info(kind, spec, build)}
            self.asked[key] = {"kind": kind, "label": label or kind, "parents": [p.key for p in parents],
                               "held": held, "artifact": Artifact(key, kind, path, manifest)}
        return self.asked[key]["artifact"]

    @staticmethod
    def _manifest(path: Path, label: str) -> dict[str, Any] | None:
        """A stored artifact's manifest; an unreadable one is a corrupt artifact, which a build moves aside and
        builds again: planned as missing (nothing is moved here, planning writes nothing)."""
        if not (path / MANIFEST).is_file():
            return None
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, ValueError, RecursionError) as exc:
            manifest = str(exc)[:120]
        if not isinstance(manifest, dict) or not isinstance(manifest.get("info", {}), dict):
            log.warning("%s: manifest %s is unreadable (%s); a build moves it aside and builds it again", label,
                        path / MANIFEST, manifest if isinstance(manifest, str) else "not a manifest")
            return None
        return manifest

    @staticmethod
    def _placeholder_info(kind: str, spec: dict[str, Any], build) -> dict[str, Any]:
        """What later keys read from an artifact not built yet: only a dataset's class count enters a key."""
        if kind != "dataset":
            return {}
        if spec["dataset"] in CLASSES:
            return {"num_classes": CLASSES[spec["dataset"]], "mean": [0.0] * 3, "std": [1.0] * 3}
        with tempfile.TemporaryDirectory() as tmp:  # your own data: reading it is the only way to its classes
            return build(Path(tmp))


@dataclass
class Step:
    node: Node
    key: str | None  # None for a predictions node (it stands for many sets)
    kind: str
    held: bool
    deps: list[int] = field(default_factory=list)
    seconds: float = 0.0


def graph(profile: Profile, root: Path | str | None = None, stages: list[str] | None = None,
          data_dir: Path | None = None) -> list[Step]:
    """The grid's nodes, one per distinct key, in an order where parents come first, with their dependencies."""
    stages = stages or STAGES
    store = PlanStore(root)
    steps: list[Step] = []
    owner: dict[str, int] = {}
    for node in grid_nodes(profile, stages):
        if node.stage == "predictions":
            same = [i for i, s in enumerate(steps)
                    if s.kind != "predictions" and (not node.arch or s.node.arch in ("", node.arch))]
            steps.append(Step(node, None, "predictions", False, same))
            continue
        art = resolve(store, profile, node, data_dir)
        unowned = [store.asked[k]["label"] for k in store.asked if k not in owner and k != art.key]
        if unowned:  # a parent no node builds would be built inside another task, unplanned and uncosted
            raise RuntimeError(f"{node.label} needs {', '.join(unowned)}, which no earlier node of the grid builds")
        if art.key in owner:  # the same artifact reached twice (the control arm's last step and ratio 0)
            continue
        rec = store.asked[art.key]
        owner[art.key] = len(steps)
        steps.append(Step(node, art.key, art.kind, rec["held"], [owner[p] for p in rec["parents"]]))
    return steps


# nncf.quantize of an IR: its fixed cost, and the cost of one calibration image in batched OpenVINO forwards (NNCF
# runs one image at a time and collects statistics at every quantizer): 50 to 105 such forwards per image in the
# CPU seconds of smoke's 14 INT8 IRs (build_cpu_seconds of their manifests)
QUANTIZE_SECONDS = 2.0
CALIBRATION_PASSES = 70.0


# throughputs -----------------------------------------------------------------------------------------------
@dataclass
class Rates:
    """Seconds per image: torch forward+backward at the training batch and at batch 1 (universal perturbations
    go one image at a time), torch forward, OpenVINO forward; and seconds per IR export and IR compile."""

    fb: dict[str, float]
    fb1: dict[str, float]
    fwd: dict[str, float]
    ov: dict[str, float]
    export: dict[str, float]
    compile: dict[str, float]
    source: str


def measure_rates(profile: Profile, given: dict[str, float] | None = None, reps: int = 3) -> Rates:
    """This machine's throughputs for the profile's architectures, width, layout and thread count. `given`:
    images per second (forward+backward) per architecture on the profile's device, e.g. a GPU's; OpenVINO stays
    measured here (IRs are exported and timed on CPUs)."""
    from robustness import training
    from robustness.models import create_model

    rates = Rates({}, {}, {}, {}, {}, {}, "measured on this machine")
    batch = max(2, min(profile.batch_size, 32))
    given = given or {}
    with training.torch_threads(profile.threads), tempfile.TemporaryDirectory() as tmp:
        for arch in profile.archs:
            model = create_model(arch, CLASSES.get(profile.dataset, 10), profile.width, [0.5] * 3, [0.25] * 3)
            ips = given.get(arch, given.get("*"))
            if ips:  # a GPU's figure: a forward about a third of forward+backward, batch 1 as fast per call
                rates.fb[arch] = 1.0 / ips
                rates.fwd[arch] = rates.fb[arch] / 3
                rates.fb1[arch] = rates.fb[arch] * batch / 2
            else:
                _measure_torch(rates, arch, model, profile.memory_format, batch, reps)
            _measure_openvino(rates, arch, model, batch, reps, Path(tmp) / arch / "model.xml")
    if given:
        rates.source = "given images per second for torch, measured on this machine for OpenVINO"
    return rates


def _measure_torch(rates: Rates, arch: str, model, layout: str, batch: int, reps: int) -> None:
    import torch

    from robustness import training

    x = torch.rand(batch, 3, 32, 32)
    with training.memory_format(model, layout):
        rates.fb[arch] = _per_image(lambda: _fwd_bwd(model, x), batch, reps)
        rates.fb1[arch] = _per_image(lambda: _fwd_bwd(model, x[:2]), 2, reps)
        model.eval()
        with torch.no_grad():
            rates.fwd[arch] = _per_image(lambda: model(x), batch, reps)


def _measure_openvino(rates: Rates, arch: str, model, batch: int, reps: int, xml: Path) -> None:
    import numpy as np

    from robustness import deploy

    start = time.perf_counter()
    deploy.export_ir(model.eval(), xml)
    rates.export[arch] = time.perf_counter() - start
    start = time.perf_counter()
    runner = deploy.Runner(xml, batch=batch, threads=1)
    rates.compile[arch] = time.perf_counter() - start
    xs = np.random.default_rng(0).random((batch, 3, 32, 32), dtype=np.float32)
    rates.ov[arch] = _per_image(lambda: runner.logits(xs), batch, reps)


def _fwd_bwd(model, x) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()


def _per_image(fn: Callable[[], Any], n: int, reps: int) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - start) / (reps * n)


# cost per node ---------------------------------------------------------------------------------------------
def attack_passes(profile: Profile, attack: str, num_classes: int) -> float:
    """Forward+backward passes per image an attack takes at most, as ART runs it (a forward alone counts a
    third). Early stopping makes DeepFool and Carlini-Wagner cheaper on images they flip early."""
    from robustness.attacks import attack_spec

    p = attack_spec(profile, attack).params
    restarts = max(1, p.get("num_random_init", p.get("nb_random_init", 1)))
    return {
        "fgsm": 1.0,
        "bim": float(p.get("max_iter", 0)),
        "pgd": float(p.get("max_iter", 0) * restarts),
        "apgd": p.get("max_iter", 0) * restarts * (1 + 1 / 3),  # a gradient and a loss evaluation per step
        "deepfool": p.get("max_iter", 0) * (min(p.get("nb_grads", 10), num_classes) + 1 / 3),
        # two class gradients (one backward each, robustness.attacks) and ~5 line-search forwards per step
        "cw": p.get("max_iter", 0) * p.get("binary_search_steps", 1) * (2 + 5 / 3),
        "uap": float(p.get("max_iter", 1)),  # FGSM per image, one image at a time: costed at batch 1
    }[attack]


def _sizes(profile: Profile) -> tuple[int, int]:
    """Training and test images: the profile's subset, or the whole split (0); unknown for your own data."""
    whole = SPLIT_SIZES.get(profile.dataset, (0, 0))
    return tuple(min(n, w) if n and w else n or w for n, w in zip((profile.n_train, profile.n_test), whole))


def prediction_sets(profile: Profile) -> dict[str, int]:
    """An upper bound on the prediction sets the claims read, per architecture: every IR of an architecture on
    the test split and on each adversarial set crafted on it, and the base and 0.5 models on the other
    architectures' transfer sets; as many again for an adversarially trained arm. The other compression methods'
    IRs on the test split and the surrogate's and base's sets, and the query attacks' sets."""
    from robustness import compression

    nonzero = [r for r in profile.ratios if r > 0]
    irs = 1 + len(nonzero) + len(profile.criteria) * len(nonzero)
    sets = sum(1 for n in grid_nodes(profile, ["base", "attacks"])
               if n.stage == "adv" and n.arch == profile.archs[0] and n.training == "standard")
    transfer = (len(profile.archs) - 1) * (1 + len(profile.criteria)) * len(profile.attacks)
    compressed = 0
    for method in compression.model_methods(profile):
        pruning, _ = compression.split(method)
        if pruning is None:
            compressed += 1
        elif method != "nncf_filter":
            compressed += len(compression.criteria_of(profile, pruning)) * len(nonzero)
    queries = 3 * len(compression.quantizations(profile))  # each IR on its own set, INT8 on the FP32 IR's
    extra = compressed * (2 * len(profile.attacks) + 1) + queries
    return {a: (irs * (sets + 1) + transfer) * len(profile.training) + extra for a in profile.archs}


def estimate(steps: list[Step], profile: Profile, rates: Rates) -> None:
    """Fill each step's estimated seconds (0 for what the store holds)."""
    n_train, n_test = _sizes(profile)
    n_attack = min(profile.n_attack, n_test) if profile.n_attack else n_test
    classes = CLASSES.get(profile.dataset, 10)
    schedule = len([r for r in profile.ratios if r > 0])
    sets = prediction_sets(profile)
    predictions_total = sum(sets[a] * (rates.compile[a] + n_attack * rates.ov[a] + 64 * rates.fwd[a])
                            for a in profile.archs)
    cells = sum(1 for s in steps if s.kind == "predictions")
    for s in steps:
        if s.held:
            continue
        a, n = s.node.arch, s.node
        # an adversarial batch costs its attack's passes (a forward and backward each) before the training pass
        train_passes = 1 + profile.adv_train_steps if n.training == "adversarial" else 1
        if n.stage == "base":
            s.seconds = profile.epochs * n_train * train_passes * rates.fb[a] + n_test * rates.fwd[a]
        elif n.stage in ("control", "pruned"):
            s.seconds = schedule * (profile.finetune_epochs * n_train * train_passes * rates.fb[a]
                                    + n_test * rates.fwd[a])
        elif n.stage == "adv":
            per = rates.fb1[a] if n.attack == "uap" else rates.fb[a]
            s.seconds = n_attack * (attack_passes(profile, n.attack, classes) * per + 2 * rates.fwd[a])
        elif n.stage == "ir":
            s.seconds = rates.export[a]
        elif n.stage == "quantized":  # calibration one image at a time, with NNCF's statistics, then compiles
            s.seconds = (QUANTIZE_SECONDS + profile.int8_calibration_size * CALIBRATION_PASSES * rates.ov[a]
                         + 2 * (rates.compile[a] + n_test * rates.ov[a]))
        elif n.stage == "query":  # about three queries per image and iteration (the attack's records)
            s.seconds = rates.compile[a] + n_attack * 3 * profile.query_max_iter * rates.ov[a]
        elif n.stage == "predictions":  # the sets' upper bound, spread evenly over the claims' cells
            s.seconds = predictions_total / max(cells, 1)


def critical_path(steps: list[Step]) -> tuple[float, list[int]]:
    """The longest chain of estimated seconds through the graph: no number of workers finishes sooner."""
    best: list[float] = []
    prev: list[int | None] = []
    for s in steps:
        b, p = max(((best[d], d) for d in s.deps), default=(0.0, None))
        best.append(b + s.seconds)
        prev.append(p)
    if not best:
        return 0.0, []
    i: int | None = max(range(len(best)), key=best.__getitem__)
    end, chain = best[i], []
    while i is not None:
        chain.append(i)
        i = prev[i]
    return end, chain[::-1]


def table(steps: list[Step], profile: Profile, rates: Rates, workers: int) -> list[str]:
    from robustness.progress import duration

    rows: dict[str, list[Step]] = {}
    for s in steps:
        rows.setdefault(s.kind, []).append(s)
    lines = [f"plan for profile {profile.name} (hash {profile.hash}): dataset {profile.dataset}, "
             f"archs {', '.join(profile.archs)}, device {profile.device}; costs {rates.source}",
             f"{'kind':<16} {'artifacts':>9} {'in store':>8} {'to build':>8} {'est. seconds':>13} {'share':>6}"]
    total = sum(s.seconds for s in steps) or 1.0
    for kind, group in rows.items():
        todo = [s for s in group if not s.held]
        secs = sum(s.seconds for s in group)
        if kind == "predictions":  # sets are many per node and only the claims know which: counted, not looked up
            count, held, todo_n = f"~{sum(prediction_sets(profile).values())}", "?", f"{len(todo)} cells"
        else:
            count, held, todo_n = str(len(group)), str(len(group) - len(todo)), str(len(todo))
        lines.append(f"{kind:<16} {count:>9} {held:>8} {todo_n:>8} {secs:>13.0f} "
                     f"{100 * secs / total:>5.1f}%")
    path_s, chain = critical_path(steps)
    wall = max(path_s, total / max(workers, 1))
    lines.append(f"total {total:.0f} s of work ({duration(total)}); critical path {duration(path_s)}: "
                 + " -> ".join(f"{steps[i].node.label} {duration(steps[i].seconds)}" for i in chain))
    lines.append(f"estimated wall time with {workers} worker(s): {duration(wall)} (the larger of the critical "
                 "path and the work shared evenly)")
    lines.append("predictions: an upper bound of the sets the claims read (counted as sets x images); attacks: "
                 "at most their iterations (early stopping finishes sooner)")
    return lines


def plan(profile: Profile, root: Path | str | None = None, stages: list[str] | None = None,
         data_dir: Path | None = None, given: dict[str, float] | None = None,
         workers: int | None = None) -> list[str]:
    steps = graph(profile, root, stages, data_dir)
    rates = measure_rates(profile, given)
    estimate(steps, profile, rates)
    return table(steps, profile, rates, workers or os.cpu_count() or 1)
