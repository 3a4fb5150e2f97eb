"""Verdicts: a measured interval against a claim's bound, the record a claim test writes, its message, and the
claim test's own assertion.

Every record of a claim whose interval is made of paired score intervals also carries `p_bound`: the one-sided
p-value against the nearer edge of the bound, from the same score method as the interval (Tango's, with the same
continuity correction), so the interval lies wholly beyond the bound exactly when p_bound < 2.5%. The report's
false-discovery count runs over it: `not reproduced` means beyond the bound, not merely different from zero.
"""

from __future__ import annotations

from typing import Any

from robustness import metrics, pipeline
from robustness.claims import stamps
from robustness.claims.context import Context
from robustness.claims.registry import CEILING, FLOOR, Claim, ClaimNotReproduced, cell_id, get_claim
from robustness.profiles import Profile
from robustness.store import Artifact, Store


def _informative(*accuracies: float) -> bool:
    return not (all(a <= FLOOR for a in accuracies) or all(a >= CEILING for a in accuracies))


def _decided(claim: Claim, rec: dict[str, Any]) -> None:
    """Take value and interval from the comparison the claim is decided on; keep the other's verdict too (unless
    the claim's function gave it), and the paired tables its p_bound is computed from."""
    if claim.reference is None:
        return
    key = "pruned_minus_control" if claim.reference == "control" else "difference"
    d = rec[key]
    rec.update(value=d["value"], interval=[d["lo"], d["hi"]], mcnemar_p=d.get("mcnemar_p"))
    if "p_tables" not in rec:
        rec["p_tables"] = d.get("tables") or ([[d["b_only"], d["a_only"], d["n"], 1]] if "b_only" in d else [])
    if "pruned" in rec:  # accuracies: both models at the floor or ceiling say nothing
        rec["informative"] = _informative(rec["pruned"]["value"], rec[claim.reference]["value"])
    if "verdict_vs_base" not in rec:
        paper = rec["difference"]
        rec["verdict_vs_base"] = (verdict(claim, paper["value"], paper["lo"], paper["hi"])
                                  if "pruned" not in rec or _informative(rec["pruned"]["value"],
                                                                         rec["base"]["value"])
                                  else "uninformative")


def p_bound(claim: Claim, rec: dict[str, Any]) -> float | None:
    """The one-sided p-value against the nearer edge of the claim's bound (None where the interval is no paired
    score interval: a bootstrap, exact bytes). Where the bound allows a difference of 0, it is never smaller than
    the McNemar p against 0: a difference shown to lie beyond the bound is shown to differ from 0 too."""
    if rec.get("p_bound") is not None:
        return rec["p_bound"]
    tables = rec.get("p_tables")
    if not tables:
        return None
    lo, hi = allowed(claim)
    p = metrics.p_bound(tables, lo, hi)
    if lo <= 0 <= hi and rec.get("mcnemar_p") is not None:
        p = max(p, rec["mcnemar_p"])
    return p


def allowed(claim: Claim) -> tuple[float, float]:
    if claim.comparison == "abs_le":
        return -float(claim.bound), float(claim.bound)
    if claim.comparison == "ge":
        return float(claim.bound), float("inf")
    return float(claim.bound[0]), float(claim.bound[1])


def verdict(claim: Claim, value: float, lo: float, hi: float) -> str:
    """Decided by the interval, not the point: with 256 images one image is 0.4 points, so a point outside a
    +-1 point bound is often noise; an interval wholly outside is evidence."""
    inside_lo, inside_hi = allowed(claim)
    if inside_lo <= lo and hi <= inside_hi:
        return "reproduced"
    if hi < inside_lo or lo > inside_hi:
        return "not reproduced"
    return "inconclusive"


def side(claim: Claim, value: float) -> int:
    """-1 below the bound, +1 above it, 0 inside."""
    inside_lo, inside_hi = allowed(claim)
    return -1 if value < inside_lo else 1 if value > inside_hi else 0


def measure(claim: Claim, cell: dict[str, Any], store: Store, profile: Profile, ds: Artifact) -> dict[str, Any]:
    """Measure one claim cell; return a results.json record with the verdict."""
    record: dict[str, Any] = {
        "claim": claim.id, "cell": cell_id(claim, cell), "profile": profile.name, "profile_hash": profile.hash,
        "dataset": profile.dataset, "arch": cell.get("arch", "all"), "criterion": cell.get("criterion"),
        "ratio": cell.get("ratio"), "attack": cell.get("attack"), "source": cell.get("source"),
        "training": cell.get("training", "both" if claim.training == "both" else "standard"),
        "threat_model": claim.threat_model, "metric": claim.metric, "comparison": claim.comparison,
        "bound": claim.bound, "reference": claim.reference, "paper": claim.sentence}
    record["stamp"] = stamps.stamp(store.run_id)
    ctx = Context(store, profile, ds)
    if claim.timed:
        record.update(claim.measure(ctx, cell))
    else:
        with store.computing():  # latency cells wait for this, in any process on the store
            record.update(claim.measure(ctx, cell))
    _decided(claim, record)
    record["p_bound"] = p_bound(claim, record)
    record["parity"] = par = ctx.parity_summary()
    if par and not par["ok"]:
        record["verdict"] = "error"
        record["error"] = (f"the IR and the torch model disagree on {par['checked'] - par['agree']} of "
                           f"{par['checked']} checked images (lowest agreement {100 * par['lowest_agreement']:.1f}% "
                           f"< {100 * pipeline.PARITY_MIN:g}%): the deployed model is not the model measured")
    elif record.get("error"):  # a self-check of the evaluation failed: its numbers cannot be trusted
        record["verdict"] = "error"
    elif not record.get("informative", True) or record.get("uninformative_because"):
        record["verdict"] = "uninformative"
    elif record.get("inconclusive_because"):
        record["verdict"] = "inconclusive"
    else:
        record["verdict"] = verdict(claim, record["value"], *record["interval"])
    record["message"] = message(claim, record)
    return record


def fmt(claim: Claim, value: float, lo: float, hi: float) -> str:
    if claim.unit == "rho":
        return f"rho {value:.3f} [{lo:.3f}, {hi:.3f}]"
    if claim.unit == "%":
        return f"{100 * value:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"
    return f"{100 * value:+.2f} pp [{100 * lo:+.2f}, {100 * hi:+.2f}]"


def fmt_value(claim: Claim, value: float) -> str:
    """A value alone, in its claim's unit (a rank correlation as it is, a fraction as a percentage)."""
    if claim.unit == "rho":
        return f"{value:.3f}"
    if claim.unit == "%":
        return f"{100 * value:.1f}%"
    return f"{100 * value:+.2f}"


def narrowest_half_width(claim: Claim, n: int, comparisons: int | None = None) -> float | None:
    """Half the width of the narrowest interval the claim's method gives on n images (no image disagrees): a
    bound tighter than it cannot be reproduced at this n. None where that does not depend on n alone (a pooled
    mean, a bootstrap, exact bytes)."""
    m = comparisons or claim.comparisons
    if claim.interval in ("paired", "largest"):  # "largest" with no disagreement: [0, this]
        return metrics.narrowest_half_width(n, m)
    if claim.interval == "difference_of_differences":  # two 97.5% intervals, their extremes subtracted
        return 2 * metrics.narrowest_half_width(n, 2)
    return None


def bound_text(claim: Claim) -> str:
    lo, hi = allowed(claim)
    scale = 1 if claim.unit == "rho" else 100
    unit = "" if claim.unit == "rho" else " pp" if claim.unit == "pp" else "%"
    if claim.comparison == "abs_le":
        return f"|d| <= {scale * hi:g}{unit}"
    if claim.comparison == "ge":
        return f">= {scale * lo:g}{unit}"
    return f"in [{scale * lo:g}, {scale * hi:g}]{unit}"


def message(claim: Claim, rec: dict[str, Any]) -> str:
    measured = f"{fmt(claim, rec['value'], *rec['interval'])} ({rec.get('method', '95% interval')})"
    if claim.reference is not None:
        paper = rec["difference"]
        measured = (f"pruned minus {claim.reference} {measured}; pruned minus base (the paper's comparison) "
                    f"{fmt(claim, paper['value'], paper['lo'], paper['hi'])}, {rec['verdict_vs_base']}")
    note = f" ({rec['inconclusive_because']})" if rec.get("inconclusive_because") else ""
    note += f" (error: {rec['error']})" if rec.get("error") else ""
    if rec.get("uninformative_because"):
        note += f" (uninformative: {rec['uninformative_because']})"
    elif rec["verdict"] == "uninformative":
        note += f" (both models at or beyond {100 * FLOOR:g}% / {100 * CEILING:g}%: no information on the claim)"
    return (f"{claim.id}[{rec['cell']}]: {rec['verdict']}: measured {measured}, bound {bound_text(claim)}, "
            f"n={rec['n']}; compared {rec['compared']}{note}")


def same_finding(claim: Claim, record: dict[str, Any], expected: dict[str, Any]) -> bool:
    """The same verdict, and each point value inside the other's interval. A timed claim's value is the
    machine's, not the code's: for it the verdict alone must hold."""
    if record["verdict"] != expected.get("verdict", "not reproduced"):
        return False
    if claim.timed:
        return True
    (lo, hi), (e_lo, e_hi) = record["interval"], expected["interval"]
    return lo <= expected["value"] <= hi and e_lo <= record["value"] <= e_hi


def recorded_text(claim: Claim, expected: dict[str, Any]) -> str:
    return (f"{expected.get('verdict', 'not reproduced')} with {fmt(claim, expected['value'], *expected['interval'])}"
            f", n={expected['n']}")


def check(record: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
    """The claim test's assertion. `expected`: the cell's recorded verdict, value, interval and n
    (robustness.expected). Where one is recorded, the cell must give the same finding (same_finding) or fail
    showing both, whatever the verdict: a reproduction that became inconclusive fails too. A `not reproduced`
    raises ClaimNotReproduced (what an expected failure waits for) only where it is the recorded finding."""
    # the message says everything; pytest then shows no source of this module, which it would parse anew for
    # every failure and expected failure (190 of them cost a warm run 13 s)
    __tracebackhide__ = True
    if record["verdict"] == "error":
        raise AssertionError(record["message"])
    claim = get_claim(record["claim"])
    if expected is not None and not same_finding(claim, record, expected):
        what = "the verdict changed" if record["verdict"] != expected.get("verdict", "not reproduced") \
            else "the measurement moved (a value outside the other's interval)"
        raise AssertionError(f"{record['message']}; now {recorded_text(claim, record)}, recorded as "
                             f"{recorded_text(claim, expected)}: {what}; if the change is intended, run "
                             "`python -m robustness expected --update`")
    if record["verdict"] != "not reproduced":
        return
    if expected is None:
        raise ClaimNotReproduced(record["message"])
    raise ClaimNotReproduced(f"{record['message']}; as recorded: {recorded_text(claim, expected)}")
