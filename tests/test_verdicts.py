"""Verdicts that can be trusted as a gate: a crash is never green, a crashed cell never vanishes, a recorded
non-reproduction only passes while it is the same finding, and a partial run never drops other cells."""

import json
from pathlib import Path

import numpy as np
import pytest

from robustness import claims, expected, plots, report
from robustness.errors import UsageError
from robustness.profiles import load_profile
from tests.conftest import smoke_settings

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ["archs=vgg19", "epochs=2", "n_train=128", "n_test=64", "n_attack=32", "attacks=fgsm",
            "criteria=l1,l2", "ratios=0,0.5", "sources=base", "methods=nncf_filter"]  # the paper's method alone
PAPER_CLEAN = "clean_within_2pp and not compressed"  # the paper's claims, not the compression methods'
PAPER_SIZE_AND_CLEAN = "(clean_within_2pp or ir_size_cut_66) and not compressed and not int8"
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
    result = _run(pytester, shared_cache, results, "-k", PAPER_CLEAN, "-n", "2")  # reports via xdist
    result.assert_outcomes(failed=2)  # the listed cell too: KeyError is not the claim's own assertion
    assert result.ret == 1
    records = {r["cell"]: r for r in json.loads((results / "results.json").read_text())["records"]}
    assert records[cell]["verdict"] == "error" and "KeyError" in records[cell]["message"]
    assert f"| clean_within_2pp | {cell} | - | - | - | error |" in (results / "report.md").read_text()


def test_a_claim_whose_cells_all_crash_stays_in_the_table(pytester, shared_cache):
    pytester.makeconftest(CRASH)
    results = pytester.path / "results"
    result = _run(pytester, shared_cache, results, "-k", PAPER_SIZE_AND_CLEAN)
    assert result.ret == 1
    rows = {r["claim"]: r for r in report.summary(json.loads((results / "results.json").read_text())["records"])}
    assert rows["clean_within_2pp"]["error"] == rows["clean_within_2pp"]["cells"] == 2
    assert rows["ir_size_cut_66"]["error"] == 0


def test_a_partial_run_merges_into_the_results_and_drops_no_cell(pytester, shared_cache, monkeypatch):
    results = pytester.path / "results"
    summary = pytester.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    first = _run(pytester, shared_cache, results, "-k", PAPER_CLEAN, f"--junitxml={pytester.path / 'j.xml'}")
    assert sum(first.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 2  # verdicts do not matter here
    assert '<property name="verdict"' in (pytester.path / "j.xml").read_text()  # CI dashboards read these
    assert "| clean_within_2pp | 2 |" in summary.read_text()
    second = _run(pytester, shared_cache, results, "-k", "ir_size_cut_66 and not compressed")
    assert sum(second.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 2
    claims_seen = {r["claim"] for r in json.loads((results / "results.json").read_text())["records"]}
    assert claims_seen == {"clean_within_2pp", "ir_size_cut_66"}


EXPECTED_HERE = '''
import robustness.expected as expected

expected.PATH = __import__("pathlib").Path(__file__).with_name("expected.json")
'''


def test_a_strict_run_fails_where_a_recorded_verdict_changed_and_shows_both(pytester, shared_cache):
    """Every cell's verdict is recorded from a run; the next run fails the cell whose verdict differs from the
    record (here the record is edited, as a code change would move the measurement) and passes the other."""
    pytester.makeconftest(EXPECTED_HERE)
    results = pytester.path / "results"
    _run(pytester, shared_cache, results, "-k", PAPER_CLEAN)
    path = pytester.path / "expected.json"
    expected.update(results / "results.json", path)
    data = json.loads(path.read_text())
    cells = data[_profile().hash]["cells"]
    first = sorted(cells)[0]
    was = cells[first]["verdict"]
    cells[first]["verdict"] = "inconclusive" if was == "reproduced" else "reproduced"
    path.write_text(json.dumps(data))
    result = _run(pytester, shared_cache, results, "-k", PAPER_CLEAN)
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == 1 and outcomes.get("passed", 0) + outcomes.get("xfailed", 0) == 1, outcomes
    assert f"recorded as {cells[first]['verdict']} with" in result.stdout.str() and "verdict changed" in \
        result.stdout.str()


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
    cold = _run(pytester, shared_cache, results, "-k", PAPER_SIZE_AND_CLEAN)
    assert sum(cold.parseoutcomes().get(k, 0) for k in ("passed", "failed")) == 4
    pytester.makeconftest(HEAVY)
    warm = _run(pytester, shared_cache, results, "-k", PAPER_SIZE_AND_CLEAN, "-n", "2")
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
    recorded = {"value": -0.08, "interval": [-0.13, -0.03], "n": 256}  # written before verdicts were recorded
    with pytest.raises(claims.ClaimNotReproduced):  # the same finding: what the strict xfail waits for
        claims.check(_record(-0.07, -0.12, -0.02), recorded)
    # other side, far away, or overlapping yet moved: a point outside the other's interval
    for moved in (_record(0.30, 0.25, 0.35), _record(-0.30, -0.35, -0.25), _record(-0.14, -0.19, -0.09)):
        with pytest.raises(AssertionError, match="moved") as err:
            claims.check(moved, recorded)
        assert not isinstance(err.value, claims.ClaimNotReproduced)
    with pytest.raises(AssertionError, match="verdict changed") as err:  # no longer not reproduced
        claims.check(_record(0.0, -0.02, 0.02, "inconclusive"), recorded)
    assert not isinstance(err.value, claims.ClaimNotReproduced)


def test_a_moved_finding_fails_even_where_the_intervals_overlap():
    """-5 [-8, -2] recorded, -9 [-13, -5] measured: the intervals overlap, yet neither point lies in the other's
    interval. It used to pass as the recorded non-reproduction."""
    recorded = {"verdict": "not reproduced", "value": -0.05, "interval": [-0.08, -0.02], "n": 256}
    with pytest.raises(AssertionError) as err:
        claims.check(_record(-0.09, -0.13, -0.05), recorded)
    assert not isinstance(err.value, claims.ClaimNotReproduced)
    assert "-9.00 pp [-13.00, -5.00]" in str(err.value) and "-5.00 pp [-8.00, -2.00]" in str(err.value)


def test_a_lost_reproduction_fails_showing_both():
    """Every verdict is recorded: a cell that was reproduced and is now inconclusive fails the run."""
    recorded = {"verdict": "reproduced", "value": 0.004, "interval": [-0.008, 0.009], "n": 256}
    claims.check({**_record(0.004, -0.008, 0.009, "reproduced"), "claim": "adv_within_1pp"}, recorded)  # the same
    with pytest.raises(AssertionError, match="verdict changed") as err:
        claims.check({**_record(0.004, -0.03, 0.04, "inconclusive"), "claim": "adv_within_1pp"}, recorded)
    assert "recorded as reproduced with +0.40 pp [-0.80, +0.90], n=256" in str(err.value)
    assert not isinstance(err.value, claims.ClaimNotReproduced)
    with pytest.raises(AssertionError, match="moved"):  # the same verdict, another finding
        claims.check({**_record(-0.006, -0.0095, -0.0001, "reproduced"), "claim": "adv_within_1pp"}, recorded)


def test_a_timed_cell_keeps_its_verdict_not_its_machines_value():
    recorded = {"verdict": "reproduced", "value": 0.40, "interval": [0.38, 0.42], "n": 40}
    timed = {**_record(0.30, 0.29, 0.31, "reproduced"), "claim": "latency_gain_8pct"}
    claims.check(timed, recorded)  # another machine, another gain: the same verdict is the same finding
    with pytest.raises(AssertionError, match="verdict changed"):
        claims.check({**timed, "verdict": "inconclusive"}, recorded)


def _stamped(rec, code=None):
    return {**rec, "stamp": {"run": "r", "commit": None, "time": "t", "code": code or claims.stamps.code_version(),
                             "stages": {}}}


def test_expected_verdicts_are_written_from_results_for_every_cell_but_errors(tmp_path):
    smoke = load_profile("smoke")
    records = [_stamped(r) for r in (_record(-0.08, -0.13, -0.03), {**_record(0.0, -0.02, 0.02, "inconclusive"),
                                                                     "cell": "d"})]
    crashed = _stamped(report.error_record("criteria_comparable", "e", smoke, "KeyError"), None)
    report.write([*records, crashed], tmp_path, smoke)
    path = tmp_path / "expected.json"
    digest, counts = expected.update(tmp_path / "results.json", path)
    assert digest == smoke.hash and counts == {"not reproduced": 1, "inconclusive": 1}  # a crash is never expected
    assert expected.for_profile(smoke, path) == {
        "criteria_comparable[c]": {"verdict": "not reproduced", "value": -0.08, "interval": [-0.13, -0.03], "n": 256},
        "criteria_comparable[d]": {"verdict": "inconclusive", "value": 0.0, "interval": [-0.02, 0.02], "n": 256}}
    assert len(path.read_text().splitlines()) == 12  # one line per cell: a change reads as a diff of its lines
    changed = smoke.replace(finetune_epochs=5)  # the preset changed: its old entry can never run again
    report.write(records, tmp_path / "new", changed)
    expected.update(tmp_path / "new" / "results.json", path)
    assert set(expected.load(path)) == {changed.hash}


def test_records_of_other_code_are_set_apart_in_the_report_and_refused_by_expected(tmp_path):
    smoke = load_profile("smoke")
    now = _stamped(_record(-0.08, -0.13, -0.03))
    old = {**_stamped({**_record(0.0, -0.02, 0.02, "inconclusive"), "cell": "d"}, code="0123456789ab")}
    unstamped = {**_record(0.0, -0.02, 0.02, "reproduced"), "cell": "e"}
    report.write([now, old, unstamped], tmp_path, smoke)
    text = (tmp_path / "report.md").read_text()
    assert "| criteria_comparable | 1 | 0 | 0 | 1" in text  # only this code's record is counted
    assert "## Records of other code versions (not counted)" in text
    assert "| 0123456789ab | - | 1 | criteria_comparable |" in text and "| none (unstamped) | - | 1 |" in text
    with pytest.raises(UsageError, match="2 records .* were measured by other code"):
        expected.update(tmp_path / "results.json", tmp_path / "expected.json")
    assert not (tmp_path / "expected.json").exists()


def test_a_record_is_stamped_with_run_commit_time_and_stage_versions(tmp_path):
    from robustness import stages
    from robustness.claims import stamps
    from robustness.store import Store

    rec = _fake_measure(tmp_path, *([np.arange(256) % 2 == 0] * 3))
    stamp = rec["stamp"]
    assert stamp["run"] == "run-1" and stamp["code"] == stamps.code_version() and stamp["time"].endswith("Z")
    assert stamp["stages"] == {u: e["version"] for u, e in stages.recorded().items()}
    assert stamp["commit"] is None or len(stamp["commit"].removesuffix("+dirty")) == 40
    assert stamps.commit(tmp_path) is None  # outside git: no commit, and no error
    assert Store(tmp_path).run_id  # (the store names the run the stamp gives)


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
    for i in range(40):  # 40 cells, no true effect; one lucky "not reproduced" at p = 0.02
        p = 0.02 if i == 0 else float(rng.uniform(0.2, 1))
        rec = _record(-0.05, -0.09, -0.011) if i == 0 else _record(0, -0.02, 0.02, "inconclusive")
        recs.append({**rec, "cell": str(i), "p_bound": p})
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


def _fake_measure(tmp_path, base, pruned, control, attack="pgd", claim_id="adv_within_1pp"):
    """claims.measure of one cell whose models' per-image correctness is given."""
    from dataclasses import replace

    from robustness.store import Store

    claim = replace(claims.get_claim(claim_id),
                    measure=lambda ctx, cell: {**claims._versus(base, pruned, control), "compared": "given"})
    cell = {"source": "surrogate", "dataset": "digits", "arch": "vgg19", "criterion": "l1", "ratio": 0.5,
            "attack": attack}
    return claims.measure(claim, cell, Store(tmp_path, run_id="run-1"), load_profile("smoke"), None)


def test_the_false_discovery_count_tests_the_bound_not_zero(tmp_path):
    """24 cells; in 4 the pruned model alone gets 11 images right and the control arm alone 1 (n=256): each is
    `not reproduced` (its interval lies above +1 point), McNemar's p against 0 is 0.0064 but the p against +1
    point is 0.0148. Over 24 cells none survives a 5% false-discovery rate against the bound: "4 (0)"."""
    control = np.arange(256) % 2 == 0
    moved = control.copy()
    moved[1:22:2] = True  # 11 images only the pruned model gets right
    moved[0] = False  # 1 only the control arm does
    same = control.copy()
    same[1:6:2], same[[0, 2, 4]] = True, False  # 3 and 3
    records = [_fake_measure(tmp_path, control, moved if i < 4 else same, control, attack=f"a{i}") for i in range(24)]
    bad = records[0]
    assert bad["verdict"] == "not reproduced" and bad["mcnemar_p"] == pytest.approx(0.00635, abs=5e-5)
    row = report.summary(records)[0]
    assert row["not reproduced"] == 4 and row["not reproduced (FDR 5%)"] == 0  # against zero it read "4 (4)"
    assert "| adv_within_1pp | 24 | 0 | 20 | 4 (0) |" in "\n".join(report.table_lines(records))
    assert bad["p_bound"] == pytest.approx(0.0148, abs=5e-5) and bad["p_bound"] >= bad["mcnemar_p"]
    assert all(r["p_bound"] >= r["mcnemar_p"] for r in records)


def test_the_narrowest_interval_of_a_difference_of_differences_is_two_intervals_wide():
    """retained_robustness_std_vs_adv sums two 97.5% intervals: at n=256 its narrowest half-width is 4.6 points,
    not one interval's 2.3, and at n=500 it still cannot show the 2-point bound."""
    from robustness import metrics

    def row(n):
        rec = {"claim": "retained_robustness_std_vs_adv", "cell": "c", "verdict": "inconclusive", "value": 0.0,
               "interval": [-0.05, 0.05], "n": n, "message": "m"}
        return report.summary([rec])[0]

    assert row(256)["narrowest half-width"] == pytest.approx(2 * metrics.narrowest_half_width(256, 2))
    assert row(256)["narrowest half-width"] > 0.045
    assert row(500)["n can show the bound"] is False


def test_the_measured_range_is_printed_in_each_claims_unit(monkeypatch):
    """A rank correlation is not points, nor a fraction of bytes."""
    from dataclasses import replace

    size = {"claim": "ir_size_cut_66", "cell": "c", "verdict": "reproduced", "value": 0.7, "interval": [0.7, 0.7],
            "n": 1, "message": "m"}
    monkeypatch.setitem(claims._REGISTRY, "a_rank_claim", replace(claims.get_claim("ir_size_cut_66"),
                                                                  id="a_rank_claim", unit="rho"))
    rho = [{**size, "claim": "a_rank_claim", "value": v, "interval": [v, v]} for v in (0.4319, 0.7228)]
    text = "\n".join(report.table_lines([size, *rho]))
    assert "| 70.0% .. 70.0% |" in text and "| 0.432 .. 0.723 |" in text and "+43.19" not in text


def test_the_headline_comes_first_in_the_table_and_the_report(tmp_path):
    smoke = load_profile("smoke")
    cell = _fake_measure(tmp_path, *([np.arange(256) % 2 == 0] * 3))
    pooled = {**cell, "claim": "adv_within_1pp_pooled", "cell": "surrogate-digits-all-0.5", "arch": "all",
              "cells": 28, "left_out": 0}
    report.write([cell, pooled], tmp_path, smoke)
    text = (tmp_path / "report.md").read_text()
    assert text.index("## Headline") < text.index("| claim | cells |")
    rows = [line for line in report.table_lines([cell, pooled]) if line.startswith("| adv")]
    assert rows[0].startswith("| adv_within_1pp_pooled |")
    assert "| adv_within_1pp_pooled | all | 0.5 | 28 | 256 |" in text
