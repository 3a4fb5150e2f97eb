"""Verdicts that can be trusted as a gate: a crash is never green, a crashed cell never vanishes, a recorded
non-reproduction only passes while it is the same finding, and a partial run never drops other cells."""

import json
from pathlib import Path

import numpy as np
import pytest

from robustness import claims, expected, plots, report
from robustness.profiles import load_profile
from tests.conftest import smoke_settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["archs=vgg19", "epochs=2", "n_train=128", "n_test=64", "n_attack=32", "attacks=fgsm",
            "criteria=l1,l2", "ratios=0,0.5", "sources=base"]
ARGS = ["-m", "claims", "--robustness-profile", "smoke", *smoke_settings(*SETTINGS), "-p", "no:cacheprovider"]
CRASH = '''
import robustness.claims as claims
import robustness.expected as expected

expected.PATH = __import__("pathlib").Path(__file__).with_name("expected.json")
real = claims.measure


def measure(claim, cell, *args):
    if claim.id == "clean_within_2pp":
        raise KeyError("a missing artifact")
    return real(claim, cell, *args)


claims.measure = measure
'''


def _profile():
    return load_profile("smoke", overrides=dict(s.split("=", 1) for s in SETTINGS))


def _run(pytester, cache, results, *extra):
    pytester.makepyfile(test_claims=(ROOT / "tests" / "claims" / "test_claims.py").read_text())
    return pytester.runpytest_subprocess(*ARGS, f"--robustness-cache-dir={cache}",
                                         f"--robustness-results-dir={results}", *extra)


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("verdict-cache")


def test_a_crash_in_a_listed_cell_fails_the_run_and_shows_as_error(pytester, shared_cache):
    profile = _profile()
    cell = "digits-vgg19-l1-0.5"
    (pytester.path / "expected.json").write_text(json.dumps({profile.hash: {"profile": "smoke", "cells": {
        f"clean_within_2pp[{cell}]": {"value": -0.3, "interval": [-0.4, -0.2], "n": 64}}}}))
    pytester.makeconftest(CRASH)
    results = pytester.path / "results"
    result = _run(pytester, shared_cache, results, "-k", "clean_within_2pp", "-n", "2")  # reports via xdist
    result.assert_outcomes(failed=2)  # the listed cell too: KeyError is not the claim's own assertion
    assert result.ret == 1
    records = {r["cell"]: r for r in json.loads((results / "results.json").read_text())["records"]}
    assert records[cell]["verdict"] == "error" and "KeyError" in records[cell]["message"]
    assert f"| clean_within_2pp | {cell} | - | - | - | error |" in (results / "report.md").read_text()


def test_a_claim_whose_cells_all_crash_stays_in_the_table(pytester, shared_cache):
    pytester.makeconftest(CRASH)
    results = pytester.path / "results"
    result = _run(pytester, shared_cache, results, "-k", "clean_within_2pp or ir_size")
    assert result.ret == 1
    rows = {r["claim"]: r for r in report.summary(json.loads((results / "results.json").read_text())["records"])}
    assert rows["clean_within_2pp"]["error"] == rows["clean_within_2pp"]["cells"] == 2
    assert rows["ir_size_cut_66"]["error"] == 0


def test_a_partial_run_merges_into_the_results_and_drops_no_cell(pytester, shared_cache, monkeypatch):
    results = pytester.path / "results"
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    first = _run(pytester, shared_cache, results, "-k", "clean_within_2pp", f"--junitxml={pytester.path / 'j.xml'}")
    assert sum(first.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 2  # verdicts do not matter here
    assert '<property name="verdict"' in (pytester.path / "j.xml").read_text()  # CI dashboards read these
    assert "| clean_within_2pp | 2 |" in summary.read_text()
    second = _run(pytester, shared_cache, results, "-k", "ir_size_cut_66")
    assert sum(second.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 2
    claims_seen = {r["claim"] for r in json.loads((results / "results.json").read_text())["records"]}
    assert claims_seen == {"clean_within_2pp", "ir_size_cut_66"}


HEAVY = '''
import sys


def pytest_sessionfinish(session):
    worker = getattr(session.config, "workerinput", {}).get("workerid", "controller")
    heavy = ("torch", "torchvision", "nncf", "openvino", "art")
    (session.config.rootpath / f"heavy-{worker}.txt").write_text(",".join(m for m in heavy if m in sys.modules))
'''


def test_a_warm_claims_run_imports_no_torch_in_any_process(pytester, shared_cache):
    """A warm run derives keys and reads what is stored: importing torch would cost each process seconds."""
    results = pytester.path / "results"
    cold = _run(pytester, shared_cache, results, "-k", "clean_within_2pp or ir_size_cut_66")
    assert sum(cold.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 4
    pytester.makeconftest(HEAVY)
    warm = _run(pytester, shared_cache, results, "-k", "clean_within_2pp or ir_size_cut_66", "-n", "2")
    assert sum(warm.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 4
    assert "built 0 artifacts" in warm.stdout.str()
    found = {p.name: p.read_text() for p in pytester.path.glob("heavy-*.txt")}
    assert set(found) == {"heavy-controller.txt", "heavy-gw0.txt", "heavy-gw1.txt"} and not any(found.values()), found


def test_results_of_another_profile_are_refused_never_overwritten(tmp_path):
    smoke = load_profile("smoke")
    rec = {"claim": "ir_size_cut_66", "cell": "digits-vgg19-l1-0.5", "verdict": "reproduced", "value": 0.7,
           "interval": [0.7, 0.7], "n": 1}
    report.write([rec], tmp_path, smoke)
    before = (tmp_path / "results.json").read_text()
    with pytest.raises(Exception, match="holds results of profile 'smoke'"):
        report.write([rec], tmp_path, smoke.replace(eps=4 / 255))
    assert (tmp_path / "results.json").read_text() == before


def test_overridden_fields_get_their_own_results_and_no_expected_failures(tmp_path):
    default = load_profile("default")
    changed = load_profile("default", overrides={"eps": "4/255"})
    assert changed.name == default.name and changed.results_name != default.results_name
    path = tmp_path / "expected.json"
    path.write_text(json.dumps({default.hash: {"cells": {"adv_within_1pp[x]": {}}}}))
    assert expected.for_profile(default, path) and not expected.for_profile(changed, path)


def _record(value, lo, hi, verdict="not reproduced"):
    return {"claim": "criteria_comparable", "cell": "c", "verdict": verdict, "value": value, "interval": [lo, hi],
            "n": 256, "message": "m"}


def test_a_recorded_non_reproduction_passes_only_while_it_is_the_same_finding():
    recorded = {"value": -0.08, "interval": [-0.13, -0.03], "n": 256}
    with pytest.raises(claims.ClaimNotReproduced):  # the same finding: what the strict xfail waits for
        claims.check(_record(-0.07, -0.12, -0.02), recorded)
    for moved in (_record(0.30, 0.25, 0.35), _record(-0.30, -0.35, -0.25)):  # other side, or far away
        with pytest.raises(AssertionError, match="moved") as err:
            claims.check(moved, recorded)
        assert not isinstance(err.value, claims.ClaimNotReproduced)
    claims.check(_record(0.0, -0.02, 0.02, "inconclusive"), recorded)  # passes: strict xfail then fails it


def test_expected_failures_are_written_from_results_with_value_interval_and_n(tmp_path):
    smoke = load_profile("smoke")
    records = [_record(-0.08, -0.13, -0.03), {**_record(0.0, -0.02, 0.02, "inconclusive"), "cell": "d"}]
    report.write(records, tmp_path, smoke)
    path = tmp_path / "expected.json"
    digest, count = expected.update(tmp_path / "results.json", path)
    assert digest == smoke.hash and count == 1
    assert expected.for_profile(smoke, path) == {"criteria_comparable[c]": {"value": -0.08, "interval": [-0.13, -0.03],
                                                                        "n": 256}}
    changed = smoke.replace(finetune_epochs=5)  # the preset changed: its old entry can never run again
    report.write(records, tmp_path / "new", changed)
    expected.update(tmp_path / "new" / "results.json", path)
    assert set(expected.load(path)) == {changed.hash}


def test_floor_and_ceiling_cells_are_uninformative():
    zeros, ones = np.zeros(256, bool), np.ones(256, bool)
    rec = {**claims._versus(zeros, zeros, zeros)}
    claims._decided(claims.get_claim("adv_within_1pp"), rec)
    assert rec["informative"] is False and rec["interval"][1] > 0.012  # and no [0, 0] interval
    rec = {**claims._versus(ones, ones, ones)}
    claims._decided(claims.get_claim("adv_within_1pp"), rec)
    assert rec["informative"] is False
    some = np.arange(256) % 2 == 0
    rec = {**claims._versus(some, some, some)}
    claims._decided(claims.get_claim("adv_within_1pp"), rec)
    assert rec["informative"] is True


def test_accuracy_claims_are_decided_against_the_control_arm():
    base = np.zeros(256, bool)  # white-box on the base: the base fails every image
    control = np.arange(256) < 128  # transfer: the unpruned control arm recovers half
    pruned = control.copy()
    rec = claims._versus(base, pruned, control)
    claims._decided(claims.get_claim("adv_within_1pp_whitebox_base"), rec)
    assert rec["value"] == 0 and rec["difference"]["value"] == 0.5  # pruning did nothing; the threat model did
    assert rec["verdict_vs_base"] == "not reproduced"
    assert claims.verdict(claims.get_claim("adv_within_1pp"), rec["value"], *rec["interval"]) != "not reproduced"


def test_the_table_adjusts_for_multiplicity_and_says_when_n_cannot_show_the_bound():
    rng = np.random.default_rng(0)
    recs = []
    for i in range(40):  # 40 cells, no true effect; one lucky "not reproduced" at p = 0.03
        p = 0.03 if i == 0 else float(rng.uniform(0.2, 1))
        rec = _record(-0.05, -0.09, -0.011) if i == 0 else _record(0, -0.02, 0.02, "inconclusive")
        recs.append({**rec, "cell": str(i), "mcnemar_p": p})
    row = report.summary(recs)[0]
    assert row["not reproduced"] == 1 and row["not reproduced (FDR 5%)"] == 0
    assert row["n can show the bound"] is False and row["narrowest half-width"] > 0.01
    assert "n cannot show the bound" in "\n".join(report.table_lines(recs))


def test_a_plot_is_drawn_again_only_when_its_records_change(tmp_path, monkeypatch):
    """A warm run re-times the latency cells alone: their plot is drawn again, the others are kept."""
    size = {"claim": "ir_size_cut_66", "cell": "digits-vgg19-l1-0.5", "arch": "vgg19", "criterion": "l1",
            "ratio": 0.5, "value": 0.7, "interval": [0.7, 0.7], "n": 1, "verdict": "reproduced", "message": "m",
            "base_bytes": 100, "bytes_by_ratio": {"0": 100, "0.5": 30}}
    heat = {"claim": "transfer_consistent", "cell": "base-digits-l1-pgd-0.5", "criterion": "l1", "attack": "pgd",
            "value": 0.9, "interval": [0.5, 1.0], "n": 8, "verdict": "inconclusive", "message": "m",
            "transfer": {"a->b": {"base": 0.9, "pruned": 0.8}, "b->a": {"base": 0.7, "pruned": 0.6}}}
    drawn = []

    def counted(draw):
        return lambda records, path: drawn.append(path.name) or draw(records, path)

    monkeypatch.setattr(plots, "PLOTS", [(counted(d), claims_read, name) for d, claims_read, name in plots.PLOTS])
    plots.draw([size, heat], tmp_path)
    assert sorted(drawn) == ["size_latency.png", "transfer_heatmaps.png"]
    drawn.clear()
    assert plots.draw([{**size, "value": 0.71}, heat], tmp_path) == [tmp_path / "transfer_heatmaps.png",
                                                                      tmp_path / "size_latency.png"]
    assert drawn == ["size_latency.png"]
