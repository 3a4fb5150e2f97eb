"""The paper's claims, one test per claim and grid cell: `pytest -m claims -n 4`."""

import pytest

from robustness import claims

pytestmark = pytest.mark.claims


def pytest_generate_tests(metafunc):
    if "claim_cell" not in metafunc.fixturenames:
        return
    from robustness.plugin.options import PROFILE_KEY

    profile = metafunc.config.stash[PROFILE_KEY]
    claim = claims.get_claim(metafunc.function.__name__.removeprefix("test_"))
    cells = claims.cells(claim, profile)
    params = []
    for cell in cells:
        cid = claims.cell_id(claim, cell)
        reason = claim.expected_failures.get(f"{profile.name}/{cid}")
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(cell, id=cid, marks=marks))
    metafunc.parametrize("claim_cell", params)


def _check(claim_id, claim_cell, store, profile, dataset, record_claim):
    claim = claims.get_claim(claim_id)
    record = claims.measure(claim, claim_cell, store, profile, dataset)
    record_claim(record)
    assert record["verdict"] != "not reproduced", record["message"]


def test_adv_within_1pp(claim_cell, store, profile, dataset, record_claim):
    _check("adv_within_1pp", claim_cell, store, profile, dataset, record_claim)


def test_adv_within_1pp_whitebox_base(claim_cell, store, profile, dataset, record_claim):
    _check("adv_within_1pp_whitebox_base", claim_cell, store, profile, dataset, record_claim)


def test_adv_within_1pp_whitebox_pruned(claim_cell, store, profile, dataset, record_claim):
    _check("adv_within_1pp_whitebox_pruned", claim_cell, store, profile, dataset, record_claim)


def test_adv_within_1pp_over_eps(claim_cell, store, profile, dataset, record_claim):
    _check("adv_within_1pp_over_eps", claim_cell, store, profile, dataset, record_claim)


def test_clean_within_2pp(claim_cell, store, profile, dataset, record_claim):
    _check("clean_within_2pp", claim_cell, store, profile, dataset, record_claim)


def test_ir_size_cut_66(claim_cell, store, profile, dataset, record_claim):
    _check("ir_size_cut_66", claim_cell, store, profile, dataset, record_claim)


@pytest.mark.xdist_group("latency")  # one worker times every latency cell, so -n 4 disturbs it least
def test_latency_gain_8pct(claim_cell, store, profile, dataset, record_claim):
    _check("latency_gain_8pct", claim_cell, store, profile, dataset, record_claim)


@pytest.mark.transfer
def test_transfer_consistent(claim_cell, store, profile, dataset, record_claim):
    _check("transfer_consistent", claim_cell, store, profile, dataset, record_claim)


def test_criteria_comparable(claim_cell, store, profile, dataset, record_claim):
    _check("criteria_comparable", claim_cell, store, profile, dataset, record_claim)
