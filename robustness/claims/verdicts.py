"""Verdicts: a measured interval against a claim's bound, the record a claim test writes, its message, and the
claim test's own assertion."""

from __future__ import annotations

from typing import Any

from robustness import pipeline
from robustness.claims.context import Context
from robustness.claims.registry import CEILING, FLOOR, Claim, ClaimNotReproduced, cell_id, get_claim
from robustness.profiles import Profile
from robustness.store import Artifact, Store


def _informative(*accuracies: float) -> bool:
    return not (all(a <= FLOOR for a in accuracies) or all(a >= CEILING for a in accuracies))


def _decided(claim: Claim, rec: dict[str, Any]) -> None:
    """Take value and interval from the comparison the claim is decided on; keep the other's verdict too."""
    if claim.reference is None:
        return
    key = "pruned_minus_control" if claim.reference == "control" else "difference"
    d = rec[key]
    rec.update(value=d["value"], interval=[d["lo"], d["hi"]], mcnemar_p=d["mcnemar_p"])
    rec["informative"] = _informative(rec["pruned"]["value"], rec[claim.reference]["value"])
    paper = rec["difference"]
    rec["verdict_vs_base"] = (verdict(claim, paper["value"], paper["lo"], paper["hi"])
                              if _informative(rec["pruned"]["value"], rec["base"]["value"]) else "uninformative")


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
    ctx = Context(store, profile, ds)
    if claim.timed:
        record.update(claim.measure(ctx, cell))
    else:
        with store.computing():  # latency cells wait for this, in any process on the store
            record.update(claim.measure(ctx, cell))
    _decided(claim, record)
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


def check(record: dict[str, Any], expected: dict[str, Any] | None = None) -> None:
    """The claim test's assertion. `expected`: the cell's recorded non-reproduction (robustness.expected). A
    non-reproduction raises ClaimNotReproduced (what an expected failure waits for) only where it is the
    recorded one: its interval overlaps the recorded interval on the same side of the bound. A moved one is a
    plain failure showing both."""
    # the message says everything; pytest then shows no source of this module, which it would parse anew for
    # every failure and expected failure (190 of them cost a warm run 13 s)
    __tracebackhide__ = True
    if record["verdict"] == "error":
        raise AssertionError(record["message"])
    if record["verdict"] != "not reproduced":
        return
    claim = get_claim(record["claim"])
    if expected is None:
        raise ClaimNotReproduced(record["message"])
    lo, hi = record["interval"]
    e_lo, e_hi = expected["interval"]
    recorded = f"{fmt(claim, expected['value'], e_lo, e_hi)}, n={expected['n']}"
    if lo <= e_hi and e_lo <= hi and side(claim, record["value"]) == side(claim, expected["value"]):
        raise ClaimNotReproduced(f"{record['message']}; as recorded: {recorded}")
    raise AssertionError(f"{record['message']}; recorded as not reproduced with {recorded}: the measurement "
                         "moved; if the change is intended, run `python -m robustness expected --update`")
