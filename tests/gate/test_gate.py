"""Regression gate: `pytest -m gate --robustness-profile smoke`; accept a change with `--snapshot-update`
(without -n)."""

import pytest

from robustness import snapshots

pytestmark = pytest.mark.gate


def pytest_generate_tests(metafunc):
    if "gate_cell" not in metafunc.fixturenames:
        return
    from robustness.plugin.options import get_profile

    p = get_profile(metafunc.config)
    cells = [{"arch": a, "criterion": c, "ratio": r} for a in p.archs for c in p.criteria for r in p.ratios if r > 0]
    metafunc.parametrize("gate_cell", cells, ids=[f"{p.name}-{c['arch']}-{c['criterion']}-{c['ratio']:g}"
                                                  for c in cells])


@pytest.fixture
def gate_snapshot(snapshot):
    return snapshot.use_extension(snapshots.ToleranceJSONExtension)


def test_robustness_metrics_match_the_snapshot(gate_cell, gate_snapshot, store, profile, dataset):
    assert snapshots.cell_metrics(store, profile, dataset, **gate_cell) == gate_snapshot
