"""Regression gate: the robustness metrics of one grid cell, for syrupy snapshots judged paired, image by image.

A snapshot keeps, for every measured set and model (clean and adversarial; base, pruned and control), the rounded
accuracy for a reader and the per-image correctness (packed bits) for the gate. A new measurement is compared with
the snapshot on the same images:
- a value fails when its paired 95% interval (new minus snapshot) lies wholly beyond +-VALUE_TOLERANCE;
- the snapshot fails when the pooled change over all its values does, beyond +-POOLED_TOLERANCE: a uniform drop of
  a few points in every value fails even where no single value can show it.
Anything else passes, so a rebuild that flips a few images either way is not a regression. The false-alarm rate of
this rule under random flips is measured by simulation in tests/test_gate_extension.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from syrupy.extensions.json import JSONSnapshotExtension

from robustness import metrics, pipeline
from robustness.profiles import Profile
from robustness.store import Artifact, Store

VALUE_TOLERANCE = 0.02  # one value: its paired interval wholly beyond two points fails
POOLED_TOLERANCE = 0.01  # all values of a snapshot together: wholly beyond one point fails
FORMAT = 2  # snapshots of format 1 kept rounded values only; they cannot be judged paired


def pack(correct: np.ndarray) -> str:
    return base64.b64encode(np.packbits(np.asarray(correct, dtype=bool)).tobytes()).decode()


def unpack(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8), count=n).astype(bool)


def cell_metrics(store: Store, profile: Profile, ds: Artifact, arch: str, criterion: str,
                 ratio: float) -> dict[str, Any]:
    """Every set's accuracy of the cell's base, pruned and control models, rounded, and their per-image
    correctness."""
    base = pipeline.base_model(store, profile, ds, arch)
    pruned = pipeline.pruned_model(store, profile, ds, base, criterion, ratio)
    control = pipeline.control_model(store, profile, ds, base, ratio)
    models = {"base": base, "pruned": pruned, "control": control}
    sets: dict[str, tuple[Artifact, str]] = {"clean": (ds, "test")}
    for source in (s for s in profile.sources if s != "pruned"):
        src = pipeline.attack_source_model(store, profile, ds, arch, source)
        for attack in profile.attacks:
            sets[f"{source}/{attack}"] = (pipeline.adversarial_set(store, profile, ds, src, source, attack), "adv")
    values: dict[str, dict[str, float]] = {}
    correct: dict[str, dict[str, str]] = {}
    n: dict[str, int] = {}
    for name, (target, part) in sets.items():
        ok = {k: pipeline.correct(store, m, target, part) for k, m in models.items()}
        values[name] = {k: round(100 * float(v.mean()), 1) for k, v in ok.items()}
        correct[name] = {k: pack(v) for k, v in ok.items()}
        n[name] = int(next(iter(ok.values())).size)
    return {"format": FORMAT, "values": values, "n": n, "correct": correct,
            "tolerance_pp": {"value": 100 * VALUE_TOLERANCE, "pooled": 100 * POOLED_TOLERANCE}}


def compare(new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """New against snapshot, paired per image: the values beyond their tolerance, the pooled change and the
    verdict (`pass`, `fail`, or `error` when the two cannot be compared)."""
    if old.get("format") != FORMAT or "correct" not in old:
        return {"verdict": "error", "why": "the snapshot has no per-image correctness (an older format): accept "
                                           "the current measurement with --snapshot-update"}
    if new.get("n") != old.get("n") or set(new["correct"]) != set(old["correct"]):
        return {"verdict": "error", "why": f"the sets or their sizes differ: snapshot {old.get('n')}, now "
                                           f"{new.get('n')}"}
    if any(set(new["correct"][name]) != set(models) for name, models in old["correct"].items()):
        return {"verdict": "error", "why": "the models measured differ from the snapshot's: accept the current "
                                           "measurement with --snapshot-update"}
    beyond, up, down, total = [], 0, 0, 0
    for name, models in old["correct"].items():
        size = int(old["n"][name])
        for model, bits in models.items():
            before, after = unpack(bits, size), unpack(new["correct"][name][model], size)
            rose, fell = int((after & ~before).sum()), int((before & ~after).sum())  # now minus snapshot
            up, down, total = up + rose, down + fell, total + size
            lo, hi = metrics.paired_bounds(rose, fell, size)
            if lo > VALUE_TOLERANCE or hi < -VALUE_TOLERANCE:
                beyond.append({"value": f"{name} {model}", "change_pp": round(100 * (rose - fell) / size, 2),
                               "interval_pp": [round(100 * lo, 2), round(100 * hi, 2)], "n": size})
    lo, hi = metrics.paired_bounds(up, down, total)
    pooled = {"value": (up - down) / total, "interval": [lo, hi], "n": total, "up": up, "down": down}
    fails = bool(beyond) or lo > POOLED_TOLERANCE or hi < -POOLED_TOLERANCE
    return {"verdict": "fail" if fails else "pass", "beyond": beyond, "pooled": pooled}


def summary(result: dict[str, Any]) -> str:
    if result["verdict"] == "error":
        return result["why"]
    p = result["pooled"]
    text = (f"pooled change {100 * p['value']:+.2f} pp [{100 * p['interval'][0]:+.2f}, {100 * p['interval'][1]:+.2f}] "
            f"over {p['n']} image scores ({p['down']} fell, {p['up']} rose; tolerance +-{100 * POOLED_TOLERANCE:g} "
            f"pp)")
    if result["beyond"]:
        worst = result["beyond"][0]
        text += (f"; {len(result['beyond'])} values beyond +-{100 * VALUE_TOLERANCE:g} pp, e.g. {worst['value']} "
                 f"{worst['change_pp']:+.2f} pp {worst['interval_pp']} (n={worst['n']})")
    return text


class ToleranceJSONExtension(JSONSnapshotExtension):
    """syrupy's JSON snapshots (sorted keys, one file per test), judged paired per image (compare); the last
    comparison is kept for the test's record and message."""

    last: dict[str, Any] | None = None

    def matches(self, *, serialized_data, snapshot_data) -> bool:
        try:
            new, old = json.loads(serialized_data), json.loads(snapshot_data)
        except (TypeError, ValueError):
            ToleranceJSONExtension.last = None
            return bool(serialized_data == snapshot_data)
        if not isinstance(old, dict) or not isinstance(new, dict) or "values" not in new:
            ToleranceJSONExtension.last = None
            return bool(serialized_data == snapshot_data)
        ToleranceJSONExtension.last = compare(new, old)
        return ToleranceJSONExtension.last["verdict"] == "pass"
