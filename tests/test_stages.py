"""Stage versions: changed code gets new keys for exactly the artifacts it builds."""

import json

import pytest

from robustness import stages
from robustness.errors import UsageError
from robustness.store import Store


def test_every_stage_version_matches_its_code():
    changed = stages.stale()
    assert not changed, (f"{', '.join(changed)} changed without a new version: run `python -m robustness stages "
                         "--update` (their artifacts then rebuild)")


@pytest.fixture
def edited(tmp_path, monkeypatch):
    """A copy of the lock, and a function that makes one unit's code look edited."""
    lock = tmp_path / "stages.json"
    lock.write_text(stages.LOCK.read_text())
    real = stages.fingerprint
    monkeypatch.setattr(stages, "LOCK", lock)

    def edit(unit: str):
        monkeypatch.setattr(stages, "fingerprint", lambda u: "edited" if u == unit else real(u))
        stages.recorded.cache_clear()
        return lock

    yield edit
    stages.recorded.cache_clear()


def test_a_code_change_without_a_new_version_is_caught_and_update_bumps_only_that_unit(edited):
    lock = edited("robustness.attacks")
    assert stages.stale() == ["robustness.attacks"]
    before = {k: stages.code_versions(k) for k in stages.KIND_CODE}
    assert stages.update(lock) == ["robustness.attacks"]
    after = {k: stages.code_versions(k) for k in stages.KIND_CODE}
    assert [k for k in stages.KIND_CODE if after[k] != before[k]] == ["adversarial_set", "query_set"]  # both craft
    assert json.loads(lock.read_text())["robustness.attacks"]["version"] == before["adversarial_set"][
        "robustness.attacks"] + 1
    assert stages.stale() == []


def test_a_same_output_change_records_the_code_and_keeps_the_version(edited):
    """For code added on a path old keys never take (the adversarial arm): shown byte-identical, then recorded."""
    lock = edited("robustness.training")
    before = {k: stages.code_versions(k) for k in stages.KIND_CODE}
    assert stages.update(lock, same_output=("robustness.training",)) == []
    assert json.loads(lock.read_text())["robustness.training"]["fingerprint"] == "edited"
    assert {k: stages.code_versions(k) for k in stages.KIND_CODE} == before and stages.stale() == []
    with pytest.raises(UsageError, match="unknown stage unit 'robustness.nothing'"):
        stages.update(lock, same_output=("robustness.nothing",))


def test_fingerprints_ignore_comments_and_docstrings_but_not_code():
    a = 'def f(x):\n    """why"""\n    return x + 1  # note\n'
    assert stages._tree_sha256(a) == stages._tree_sha256("def f(x):\n    return x + 1\n")
    assert stages._tree_sha256(a) != stages._tree_sha256("def f(x):\n    return x + 2\n")


@pytest.mark.parametrize("kind", sorted(stages.KIND_CODE))
def test_the_key_of_every_kind_holds_its_code_versions(kind, tmp_path, monkeypatch):
    from robustness import pipeline

    seen = {}

    def fake_get(self, kind_, spec, parents, build, label=None):
        seen[kind_] = spec
        return None

    monkeypatch.setattr(Store, "get", fake_get)
    pipeline._get(Store(tmp_path), kind, {"x": 1}, [], lambda tmp: {}, "label")
    assert seen[kind]["code"] == stages.code_versions(kind) and seen[kind]["code"]
