"""Regression gate: `pytest -m gate --robustness-profile smoke`; accept a change with `--snapshot-update`
(without -n). Each cell is judged paired per image against its snapshot (robustness.snapshots)."""

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


def test_robustness_metrics_match_the_snapshot(gate_cell, gate_snapshot, store, profile, dataset, record_gate):
    new = snapshots.cell_metrics(store, profile, dataset, **gate_cell)
    snapshots.ToleranceJSONExtension.last = None
    matched = gate_snapshot == new  # syrupy reads (or, with --snapshot-update, writes) the snapshot
    result = snapshots.ToleranceJSONExtension.last
    name = f"{gate_cell['arch']}-{gate_cell['criterion']}-{gate_cell['ratio']:g}"
    if result is None:  # no snapshot to compare with, or one written just now
        result = {"verdict": "pass" if matched else "error", "why": "no snapshot to compare with: record one with "
                                                                   "--snapshot-update (without -n)"}
    verdict = result["verdict"]
    if matched and verdict == "fail":  # --snapshot-update: the snapshot was rewritten to the new measurement
        verdict = "updated"
    record = {"gate": "snapshot", "model": name, "metric": "snapshot", "verdict": verdict,
              "fails": not matched, "compared": f"every value of {name} against its snapshot, paired per image",
              "message": f"gate snapshot on {name}: {verdict}: {snapshots.summary(result)}"
              if "pooled" in result or result["verdict"] == "error" else f"gate snapshot on {name}: recorded"}
    if "pooled" in result:
        pooled = result["pooled"]
        record.update(n=pooled["n"], value=pooled["value"], interval=pooled["interval"],
                      bound=snapshots.POOLED_TOLERANCE, beyond=result["beyond"])
    record_gate(record)
    if not matched:
        pytest.fail(record["message"], pytrace=False)
