import json

from robustness import snapshots

SNAP = {"clean": {"base": 90.0, "pruned": 85.5}, "n": {"adversarial": 64, "clean": 200}, "tolerance_pp": 3.12}


def _matches(new):
    ext = snapshots.ToleranceJSONExtension.__new__(snapshots.ToleranceJSONExtension)
    return ext.matches(serialized_data=json.dumps(new), snapshot_data=json.dumps(SNAP))


def test_within_tolerance_passes_and_beyond_fails():
    assert _matches(SNAP)
    assert _matches({**SNAP, "clean": {"base": 90.0, "pruned": 85.5 - 3.1}})
    assert not _matches({**SNAP, "clean": {"base": 90.0, "pruned": 85.5 - 3.2}})


def test_a_changed_sample_size_or_missing_key_fails():
    assert not _matches({**SNAP, "n": {"adversarial": 32, "clean": 200}})
    assert not _matches({k: v for k, v in SNAP.items() if k != "clean"})
