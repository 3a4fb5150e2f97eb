"""The snapshot gate judged paired per image: a uniform drop of 3 points fails, a wobble of two images passes, and
random flips either way (a rebuild's noise) raise a false alarm at the rate the simulation below measures."""

import json

import numpy as np
import pytest

from robustness import snapshots

SETS = {"clean": 200, **{f"{s}/{a}": 64 for s in ("base", "surrogate")
                         for a in ("apgd", "bim", "cw", "deepfool", "fgsm", "pgd", "uap")}}  # smoke's cell
MODELS = ("base", "pruned", "control")


def _snapshot(correct: dict[str, dict[str, np.ndarray]]) -> dict:
    return {"format": snapshots.FORMAT, "n": {k: int(v["base"].size) for k, v in correct.items()},
            "values": {k: {m: round(100 * float(c.mean()), 1) for m, c in v.items()} for k, v in correct.items()},
            "correct": {k: {m: snapshots.pack(c) for m, c in v.items()} for k, v in correct.items()},
            "tolerance_pp": {"value": 2.0, "pooled": 1.0}}


def _measured(rng, accuracy=0.8):
    return {k: {m: rng.random(n) < accuracy for m in MODELS} for k, n in SETS.items()}


def _flipped(correct, pick):
    """A copy in which `pick(name, model, c)` returns the indices whose correctness flips."""
    out = {}
    for k, v in correct.items():
        out[k] = {}
        for m, c in v.items():
            c = c.copy()
            idx = pick(k, m, c)
            c[idx] = ~c[idx]
            out[k][m] = c
    return out


def _drop(images_per_64):
    def pick(name, model, c):
        k = int(np.ceil(images_per_64 * c.size / 64))
        return np.flatnonzero(c)[:k]  # correct images become wrong
    return pick


def test_packed_bits_round_trip():
    x = np.random.default_rng(0).random(203) < 0.5
    assert np.array_equal(snapshots.unpack(snapshots.pack(x), x.size), x)


def test_an_unchanged_measurement_passes():
    c = _measured(np.random.default_rng(1))
    assert snapshots.compare(_snapshot(c), _snapshot(c))["verdict"] == "pass"


def test_a_uniform_three_point_drop_fails_though_no_single_value_can_show_it():
    c = _measured(np.random.default_rng(2))
    new = _flipped(c, _drop(2))  # 2 of 64 images (3.1 points) in every value, 7 of 200 on clean
    result = snapshots.compare(_snapshot(new), _snapshot(c))
    assert result["verdict"] == "fail"
    assert result["beyond"] == []  # no single value shows it: the pooled change does
    assert result["pooled"]["interval"][1] < -snapshots.POOLED_TOLERANCE
    assert "pooled change -3.1" in snapshots.summary(result)


def test_a_two_image_wobble_passes():
    c = _measured(np.random.default_rng(3))
    one_value = _flipped(c, lambda k, m, x: np.flatnonzero(x)[:2] if (k, m) == ("base/pgd", "pruned") else [])
    assert snapshots.compare(_snapshot(one_value), _snapshot(c))["verdict"] == "pass"
    spread = _flipped(c, lambda k, m, x: [5, 9] if (k, m) in (("clean", "base"), ("surrogate/cw", "control")) else [])
    assert snapshots.compare(_snapshot(spread), _snapshot(c))["verdict"] == "pass"


def test_one_value_far_off_fails_alone():
    c = _measured(np.random.default_rng(4))
    new = _flipped(c, lambda k, m, x: np.flatnonzero(x)[:12] if (k, m) == ("surrogate/pgd", "pruned") else [])
    result = snapshots.compare(_snapshot(new), _snapshot(c))
    assert result["verdict"] == "fail"
    assert [b["value"] for b in result["beyond"]] == ["surrogate/pgd pruned"]


def test_another_sample_or_an_old_snapshot_cannot_be_compared():
    c = _measured(np.random.default_rng(5))
    other = _snapshot(c)
    other["n"] = {**other["n"], "clean": 100}
    assert snapshots.compare(_snapshot(c), other)["verdict"] == "error"
    old = {"clean": {"base": 90.0}, "n": {"adversarial": 64, "clean": 200}, "tolerance_pp": 3.12}  # format 1
    assert snapshots.compare(_snapshot(c), old)["verdict"] == "error"


def test_the_extension_matches_through_compare_and_keeps_the_result():
    c = _measured(np.random.default_rng(6))
    ext = snapshots.ToleranceJSONExtension.__new__(snapshots.ToleranceJSONExtension)
    same = ext.matches(serialized_data=json.dumps(_snapshot(c)), snapshot_data=json.dumps(_snapshot(c)))
    assert same and snapshots.ToleranceJSONExtension.last["verdict"] == "pass"
    dropped = json.dumps(_snapshot(_flipped(c, _drop(2))))
    assert not ext.matches(serialized_data=dropped, snapshot_data=json.dumps(_snapshot(c)))
    assert snapshots.ToleranceJSONExtension.last["verdict"] == "fail"


def false_alarm_rate(unstable: float, draws: int, seed: int = 0, accuracy: float = 0.8) -> float:
    """Share of draws failing the gate when a share `unstable` of the image scores is decided afresh (correct with
    the same probability as before), independently: a rebuild's noise, flips either way, no change in expected
    accuracy."""
    rng = np.random.default_rng(seed)
    fails = 0
    for _ in range(draws):
        c = _measured(rng, accuracy)
        new = _flipped(c, lambda k, m, x: np.flatnonzero((rng.random(x.size) < unstable)
                                                         & ((rng.random(x.size) < accuracy) != x)))
        fails += snapshots.compare(_snapshot(new), _snapshot(c))["verdict"] == "fail"
    return fails / draws


def detection_rate(images_per_64: int, draws: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    return float(np.mean([snapshots.compare(_snapshot(_flipped(c, _drop(images_per_64))), _snapshot(c))["verdict"]
                          == "fail" for c in (_measured(rng) for _ in range(draws))]))


@pytest.mark.parametrize("unstable", [0.02, 0.1])
def test_false_alarms_under_random_flips_are_rare(unstable):
    """Up to a tenth of the image scores decided afresh, each on its own: at most 1% false alarms."""
    assert false_alarm_rate(unstable, draws=200) <= 0.01


def test_a_uniform_three_point_drop_is_always_caught():
    assert detection_rate(2, draws=50) == 1.0
