"""What a claim's function measures with: the cell's models and their per-image correctness on the deployed IR,
and the paired comparisons the accuracy claims share (pruned against base and against the control arm)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from robustness import metrics, pipeline
from robustness.profiles import Profile
from robustness.store import Artifact, Store


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
        """The cell's IR-versus-torch agreement over every set it scored; below PARITY_MIN it is an error. An IR
        compared with a reference IR instead (INT8 against its FP32 IR) is reported apart: their disagreement is a
        measurement of quantization, not a deployment that differs from the model measured."""
        deployed = [p for p in self.parity if not p.get("informational")]
        if not deployed:
            return None
        checked = sum(p["checked"] for p in deployed)
        agree = sum(p["agree"] for p in deployed)
        worst = min(p["agreement"] for p in deployed)
        diffs = [p["max_logit_diff"] for p in deployed]
        out = {"sets": len(deployed), "checked": checked, "agree": agree, "lowest_agreement": worst,
               "max_logit_diff": None if None in diffs else max(diffs), "ok": worst >= pipeline.PARITY_MIN}
        reference = [p for p in self.parity if p.get("informational")]
        if reference:
            out["against_reference_ir"] = {"sets": len(reference), "checked": sum(p["checked"] for p in reference),
                                           "agree": sum(p["agree"] for p in reference)}
        return out


class Faced(NamedTuple):
    """What a cell's base, pruned and control arm faced: the models, the set (the base's, where each model has
    its own), the test images it holds and each model's per-image correctness, in that order."""

    models: tuple[pipeline.ModelRef, pipeline.ModelRef, pipeline.ModelRef]
    adv: Artifact
    index: np.ndarray
    ok: tuple[np.ndarray, np.ndarray, np.ndarray]


def set_index(adv: Artifact) -> np.ndarray:
    """The test images an adversarial set holds (its `index` array alone, not the images)."""
    return _index(str(adv.file("adv.npz")))


@functools.lru_cache(maxsize=4096)
def _index(path: str) -> np.ndarray:
    with np.load(path, allow_pickle=False) as arrays:
        index = arrays["index"]
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=4096)
def _correct(predictions: str) -> np.ndarray:
    """A prediction set's per-image correctness, read once per process (several cells score the same model on
    the same set, and an artifact never changes under its key); read-only."""
    arrays = pipeline.load_npz(Path(predictions))
    ok = arrays["pred"] == arrays["y"]
    ok.flags.writeable = False
    return ok


def _versus_method() -> str:
    return "95% paired score interval (Tango, continuity-corrected)"


def _versus(base_ok: np.ndarray, pruned_ok: np.ndarray, control_ok: np.ndarray) -> dict[str, Any]:
    """Both comparisons on the same images: the paper's (pruned minus base) and pruned minus control arm."""
    vs_base = metrics.paired_difference(base_ok, pruned_ok)
    vs_control = metrics.paired_difference(control_ok, pruned_ok)
    accs = {k: metrics.accuracy(v) for k, v in (("base", base_ok), ("pruned", pruned_ok),
                                                 ("control", control_ok))}
    return {"n": int(base_ok.size), **{k: a.to_dict() for k, a in accs.items()},
            "difference": vs_base.to_dict(), "pruned_minus_control": vs_control.to_dict(),
            "method": _versus_method()}


def _ratio_irs(ctx: Context, base: pipeline.ModelRef, criterion: str) -> dict[str, Artifact]:
    """The IR at every ratio of a criterion (ratio 0: the control arm), keyed by the ratio as written in ids."""
    return {f"{r:g}": pipeline.ir_model(ctx.store, pipeline.pruned_model(ctx.store, ctx.profile, ctx.ds, base,
                                                                         criterion, r))
            for r in ctx.profile.ratios}
