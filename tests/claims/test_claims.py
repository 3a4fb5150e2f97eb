"""The paper's claims, one test per claim and grid cell: `pytest -m claims -n 4`."""

import pytest

from robustness import claims, expected

pytestmark = pytest.mark.claims


def pytest_generate_tests(metafunc):
    if "claim_cell" not in metafunc.fixturenames:
        return
    from robustness.plugin.options import get_profile

    profile = get_profile(metafunc.config)
    claim = claims.get_claim(metafunc.function.__name__.removeprefix("test_"))
    recorded = expected.for_profile(profile)
    params = []
    for cell in claims.cells(claim, profile):
        cid = claims.cell_id(claim, cell)
        entry = recorded.get(expected.key(claim.id, cid))
        # only the claim's own assertion is expected: a crash in a listed cell fails the run, and so does a cell
        # whose recorded verdict or finding changed (claims.check shows both)
        failing = entry is not None and entry.get("verdict", "not reproduced") == "not reproduced"
        marks = [pytest.mark.xfail(raises=claims.ClaimNotReproduced, strict=True, reason=_recorded(claim, entry))
                 ] if failing else []
        params.append(pytest.param(cell, id=cid, marks=marks))
    metafunc.parametrize("claim_cell", params)


def _recorded(claim, entry):
    return f"recorded not reproduced: {claims.fmt(claim, entry['value'], *entry['interval'])}, n={entry['n']}"


def _claim_test(claim: claims.Claim):
    def test(claim_cell, store, profile, dataset, record_claim):
        record = claims.measure(claim, claim_cell, store, profile, dataset)
        record_claim(record)
        claims.check(record, expected.for_profile(profile).get(expected.key(claim.id, record["cell"])))

    test.__name__ = test.__qualname__ = f"test_{claim.id}"
    for name, *args in claim.marks:
        test = getattr(pytest.mark, name)(*args)(test)
    return test


# one test function per claim, named for it, so ids read `test_adv_within_1pp[surrogate-digits-...]`
for _claim in claims.CLAIMS:
    globals()[f"test_{_claim.id}"] = _claim_test(_claim)
