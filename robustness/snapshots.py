"""Regression gate: the robustness metrics of one grid cell, rounded, for syrupy snapshots with a tolerance.

A cell's accuracies (clean and adversarial, base, pruned and control) are compared with the committed snapshot;
a value may move by at most two images' worth (200/n percentage points) before the gate fails.
"""

from __future__ import annotations

import json
from typing import Any

from syrupy.extensions.json import JSONSnapshotExtension

from robustness import pipeline
from robustness.profiles import Profile
from robustness.store import Artifact, Store

TOLERANCE_IMAGES = 2


def _pct(store: Store, model: pipeline.ModelRef, target: Artifact, part: str) -> float:
    pred, y = pipeline.predictions(store, model, target, part)
    return round(100 * float((pred == y).mean()), 1)


def cell_metrics(store: Store, profile: Profile, ds: Artifact, arch: str, criterion: str,
                 ratio: float) -> dict[str, Any]:
    base = pipeline.base_model(store, profile, ds, arch)
    pruned = pipeline.pruned_model(store, profile, ds, base, criterion, ratio)
    control = pipeline.control_model(store, profile, ds, base, ratio)
    models = {"base": base, "pruned": pruned, "control": control}
    out: dict[str, Any] = {"clean": {k: _pct(store, m, ds, "test") for k, m in models.items()}}
    n = None
    for source in (s for s in profile.sources if s != "pruned"):
        src = pipeline.attack_source_model(store, profile, ds, arch, source)
        for attack in profile.attacks:
            adv = pipeline.adversarial_set(store, profile, ds, src, source, attack)
            out[f"{source}/{attack}"] = {k: _pct(store, m, adv, "adv") for k, m in models.items()}
            n = adv.info["n"]
    n_clean = ds.info["n_test"]
    out["n"] = {"adversarial": n, "clean": n_clean}
    out["tolerance_pp"] = round(100 * TOLERANCE_IMAGES / min(x for x in (n, n_clean) if x), 2)
    return out


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(a - b) <= tol + 1e-9
    return a == b


class ToleranceJSONExtension(JSONSnapshotExtension):
    """syrupy's JSON snapshots (sorted keys, one file per test), numbers compared within the snapshot's tolerance."""

    def matches(self, *, serialized_data, snapshot_data) -> bool:
        try:
            new, old = json.loads(serialized_data), json.loads(snapshot_data)
        except (TypeError, ValueError):
            return bool(serialized_data == snapshot_data)
        if not isinstance(old, dict) or "tolerance_pp" not in old:
            return bool(serialized_data == snapshot_data)
        if new.get("n") != old.get("n") or new.get("tolerance_pp") != old.get("tolerance_pp"):
            return False
        return _close(new, old, float(old["tolerance_pp"]))
