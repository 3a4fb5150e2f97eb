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


# one test function per claim, named for it, so ids read `test_adv_within_1pp[surrogate-digits-...]`
MARKS = {
    "latency_gain_8pct": [pytest.mark.xdist_group("latency")],  # one worker times every latency cell
    "transfer_consistent": [pytest.mark.transfer],
}


def _claim_test(claim_id: str):
    def test(claim_cell, store, profile, dataset, record_claim):
        record = claims.measure(claims.get_claim(claim_id), claim_cell, store, profile, dataset)
        record_claim(record)
        assert record["verdict"] != "not reproduced", record["message"]

    test.__name__ = test.__qualname__ = f"test_{claim_id}"
    for mark in MARKS.get(claim_id, []):
        test = mark(test)
    return test


for _claim in claims.CLAIMS:
    globals()[f"test_{_claim.id}"] = _claim_test(_claim.id)
