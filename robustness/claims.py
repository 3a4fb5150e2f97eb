"""Claims: the paper's claims as data, the grid cells each applies to, and the measurement behind a verdict.

A verdict is one of: `reproduced` (the 95% interval lies inside the bound), `not reproduced` (it lies wholly
outside: the data contradict the claim) or `inconclusive` (it straddles the bound: too few images to tell, whichever
side the measured value is on). Only `not reproduced` fails a claim test; the report shows all three with the
measured value, so a reader sees where an inconclusive cell leans.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustness import metrics, pipeline
from robustness.profiles import Profile
from robustness.store import Artifact, Store

PAPER = "Benchmarking Adversarial Robustness of Compressed Deep Learning Models (arXiv 2308.08160)"


@dataclass(frozen=True)
class Claim:
    id: str
    metric: str
    comparison: str  # "abs_le": |value| <= bound; "ge": value >= bound; "within": lo <= value <= hi
    bound: float | tuple[float, float]
    axes: tuple[str, ...]
    scope: str
    threat_model: str
    sentence: str
    why_bound: str = ""
    # confirmed non-reproductions, "<profile>/<cell id>" -> the measured reason: a strict xfail, so a change shows
    expected_failures: dict[str, str] = field(default_factory=dict)


# Confirmed non-reproductions as data, written from a default run: each reason gives the measured value
EXPECTED_FAILURES: dict[str, dict[str, str]] = json.loads(
    (Path(__file__).parent / "expected_failures.json").read_text())

CLAIMS: list[Claim] = sorted([
    Claim("adv_within_1pp", "adversarial accuracy of the pruned model minus the base model's, on the same images",
          "abs_le", 0.01, ("source", "dataset", "arch", "criterion", "ratio", "attack"),
          "every architecture, criterion, ratio up to 0.5 and attack; examples crafted on a surrogate",
          "surrogate: crafted on an independently trained model of the same architecture; base and pruned "
          "victims both face them as transfer (the paper's threat model)",
          "pruning up to 50% keeps adversarial accuracy within +-1 percentage point of the base model"),
    Claim("adv_within_1pp_whitebox_base", "adversarial accuracy of the pruned model minus the base model's, on "
          "examples crafted white-box on the base model", "abs_le", 0.01,
          ("source", "dataset", "arch", "criterion", "ratio", "attack"),
          "every architecture, criterion, ratio up to 0.5 and attack; examples crafted on the victim's base model",
          "base: white-box on the victim's base model, so the pruned model faces a transfer attack",
          "pruning up to 50% keeps adversarial accuracy within +-1 percentage point of the base model"),
    Claim("adv_within_1pp_whitebox_pruned", "adversarial accuracy of the pruned model attacked white-box on itself "
          "minus the base model's attacked white-box on itself, on the same clean images", "abs_le", 0.01,
          ("source", "dataset", "arch", "criterion", "ratio", "attack"),
          "every architecture and criterion at the largest ratio, the profile's pruned_source_attacks",
          "pruned: each model is attacked white-box on itself (beyond the paper: its open question 2); the record "
          "also gives the pruned model's accuracy on the transferred (base-crafted) examples",
          "pruning up to 50% keeps adversarial accuracy within +-1 percentage point of the base model",
          "the paper's bound, applied when the attacker holds the pruned model itself"),
    Claim("adv_within_1pp_over_eps", "adversarial accuracy of the pruned model minus the base model's at each eps "
          "of the security curve, examples crafted white-box on the base model", "abs_le", 0.01,
          ("source", "dataset", "arch", "criterion", "attack", "eps"),
          "every architecture and criterion at ratio 0.5, the profile's curve attacks and eps_list",
          "base: white-box on the victim's base model, so the pruned model faces a transfer attack",
          "pruning up to 50% keeps adversarial accuracy within +-1 percentage point of the base model",
          "the paper's bound at every eps, not only one: the security curves of base and pruned model"),
    Claim("clean_within_2pp", "clean accuracy of the pruned model minus the base model's", "abs_le", 0.02,
          ("dataset", "arch", "criterion", "ratio"), "every architecture, criterion and ratio up to 0.5",
          "none (clean test set)", "pruned models stay within 1-2 points of the base model's clean accuracy",
          "the paper's upper figure, 2 points"),
    Claim("ir_size_cut_66", "1 - pruned IR bytes / base IR bytes at ratio 0.5", "within", (0.56, 0.76),
          ("dataset", "arch", "criterion"), "every architecture and criterion at ratio 0.5", "none",
          "model size drops by about 66% at 50% pruning",
          "+-10 points around 66%: removing half the filters of two consecutive layers removes 3/4 of the weights "
          "between them, layers kept whole (first conv, classifier) remove less, and the mix depends on the "
          "architecture"),
    Claim("latency_gain_8pct", "1 - median pruned latency / median base latency, OpenVINO CPU, batch 1, at 0.5",
          "ge", 0.08, ("dataset", "arch", "criterion"), "every architecture and criterion at ratio 0.5", "none",
          "inference latency improves by 8-10% at 50% pruning",
          "the paper's lower figure; the measured gain is reported whatever it is"),
    Claim("transfer_consistent", "Spearman correlation, over ordered pairs of different architectures, between "
          "the transfer accuracy of base targets and of pruned targets (ratio 0.5)", "ge", 0.8,
          ("source", "dataset", "criterion", "attack"),
          "every criterion and attack, examples crafted white-box on each architecture's base model; needs three "
          "or more architectures", "base: crafted on one architecture's base model, evaluated on the others",
          "transferability patterns of base and pruned models are consistent",
          "0.8: a strong rank agreement; the paper gives no number"),
    Claim("criteria_comparable", "largest minus smallest adversarial accuracy across the pruning criteria",
          "abs_le", 0.02, ("source", "dataset", "arch", "ratio", "attack"),
          "every architecture, ratio up to 0.5 and attack, surrogate-crafted examples",
          "surrogate", "the L1, L2 and geometric-median criteria give comparable robustness",
          "2 points: twice the paper's +-1 point tolerance for one comparison"),
], key=lambda c: c.id)
CLAIMS = [dataclasses.replace(c, expected_failures=EXPECTED_FAILURES.get(c.id, {})) for c in CLAIMS]

CLAIM_SOURCES = {"adv_within_1pp": "surrogate", "adv_within_1pp_over_eps": "base",
                 "adv_within_1pp_whitebox_base": "base", "adv_within_1pp_whitebox_pruned": "pruned",
                 "criteria_comparable": "surrogate", "transfer_consistent": "base"}


AT_HALF = ("adv_within_1pp_over_eps", "ir_size_cut_66", "latency_gain_8pct")  # stated at 50% pruning


def get_claim(claim_id: str) -> Claim:
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim
    raise KeyError(claim_id)


def claim_ratios(profile: Profile) -> list[float]:
    return [r for r in profile.ratios if 0 < r <= 0.5]


def cells(claim: Claim, profile: Profile) -> list[dict[str, Any]]:
    """The grid cells a claim applies to under a profile, in a fixed order."""
    source = CLAIM_SOURCES.get(claim.id)
    if source is not None and source not in profile.sources:
        return []
    if claim.id in (*AT_HALF, "transfer_consistent") and 0.5 not in profile.ratios:
        return []
    if claim.id == "adv_within_1pp_whitebox_pruned" and not claim_ratios(profile):
        return []
    if claim.id == "criteria_comparable" and len(profile.criteria) < 2:
        return []
    if claim.id == "transfer_consistent" and len(profile.archs) < 3:
        return []
    values: dict[str, list[Any]] = {
        "source": [source], "dataset": [profile.dataset], "arch": list(profile.archs),
        "criterion": list(profile.criteria), "ratio": claim_ratios(profile), "attack": list(profile.attacks),
        "eps": list(profile.eps_list)}
    if claim.id == "adv_within_1pp_whitebox_pruned":  # crafted on the pruned models of the largest ratio only
        values.update(ratio=claim_ratios(profile)[-1:], attack=profile.source_attacks("pruned"))
    if claim.id == "adv_within_1pp_over_eps":
        values["attack"] = list(profile.curve_attacks)
    out: list[dict[str, Any]] = [{"ratio": 0.5}] if claim.id in AT_HALF else [{}]
    for axis in claim.axes:
        out = [{**c, axis: v} for c in out for v in values[axis]]
    return out


def _id_part(axis: str, value: Any) -> str:
    if axis == "eps":  # eps in 1/255 units, as it is usually written: eps8 is 8/255
        return f"eps{round(255 * value, 2):g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def cell_id(claim: Claim, cell: dict[str, Any]) -> str:
    axes = (*claim.axes, *(["ratio"] if "ratio" in cell and "ratio" not in claim.axes else []))
    return "-".join(_id_part(a, cell[a]) for a in axes)


def verdict(claim: Claim, value: float, lo: float, hi: float) -> str:
    """Decided by the interval, not the point: with 256 images one image is 0.4 points, so a point outside a
    +-1 point bound is often noise; an interval wholly outside is evidence."""
    if claim.comparison == "abs_le":
        inside_lo, inside_hi = -float(claim.bound), float(claim.bound)
    elif claim.comparison == "ge":
        inside_lo, inside_hi = float(claim.bound), float("inf")
    else:  # "within"
        inside_lo, inside_hi = claim.bound
    if inside_lo <= lo and hi <= inside_hi:
        return "reproduced"
    if hi < inside_lo or lo > inside_hi:
        return "not reproduced"
    return "inconclusive"


# measurements -------------------------------------------------------------------------------------------------
def measure(claim: Claim, cell: dict[str, Any], store: Store, profile: Profile, ds: Artifact) -> dict[str, Any]:
    """Measure one claim cell; return a results.json record with the verdict."""
    arch = cell.get("arch", "all")
    base = pipeline.base_model(store, profile, ds, arch) if arch != "all" else None
    record: dict[str, Any] = {"claim": claim.id, "cell": cell_id(claim, cell), "profile": profile.name,
                              "dataset": profile.dataset, "arch": arch, "criterion": cell.get("criterion"),
                              "ratio": cell.get("ratio"), "attack": cell.get("attack"),
                              "source": cell.get("source"), "threat_model": claim.threat_model,
                              "metric": claim.metric, "comparison": claim.comparison, "bound": claim.bound,
                              "paper": claim.sentence}
    if claim.id in ("adv_within_1pp", "adv_within_1pp_whitebox_base"):
        pruned = pipeline.pruned_model(store, profile, ds, base, cell["criterion"], cell["ratio"])
        control = pipeline.control_model(store, profile, ds, base, cell["ratio"])
        adv, _ = pipeline.faced_sets(store, profile, ds, base, pruned, cell["source"], cell["attack"])
        b, p, c = (pipeline.correct(store, m, adv, "adv") for m in (base, pruned, control))
        diff = metrics.paired_difference(b, p)
        vs_control = metrics.paired_difference(c, p)
        record.update(eps=adv.spec["eps"], n=int(b.size), base=metrics.accuracy(b).to_dict(),
                      pruned=metrics.accuracy(p).to_dict(), control=metrics.accuracy(c).to_dict(),
                      value=diff.value, interval=[diff.lo, diff.hi], difference=diff.to_dict(),
                      pruned_minus_control=vs_control.to_dict(),
                      compared=f"{pruned.name} vs {base.name} on {b.size} {cell['attack']} examples crafted on "
                               f"{adv.info['source_model'].get('arch')}-{adv.info['source_model'].get('role')} "
                               f"({cell['source']})")
    elif claim.id == "adv_within_1pp_over_eps":
        pruned = pipeline.pruned_model(store, profile, ds, base, cell["criterion"], cell["ratio"])
        adv = pipeline.adversarial_set(store, profile, ds, base, "base", cell["attack"], cell["eps"])
        b, p = (pipeline.correct(store, m, adv, "adv") for m in (base, pruned))
        diff = metrics.paired_difference(b, p)
        record.update(eps=cell["eps"], n=int(b.size), base=metrics.accuracy(b).to_dict(),
                      pruned=metrics.accuracy(p).to_dict(), value=diff.value, interval=[diff.lo, diff.hi],
                      difference=diff.to_dict(),
                      compared=f"{pruned.name} vs {base.name} on {b.size} {cell['attack']} examples at eps "
                               f"{255 * cell['eps']:g}/255 crafted on {base.name} (base)")
    elif claim.id == "adv_within_1pp_whitebox_pruned":
        pruned = pipeline.pruned_model(store, profile, ds, base, cell["criterion"], cell["ratio"])
        on_base, on_pruned = pipeline.faced_sets(store, profile, ds, base, pruned, "pruned", cell["attack"])
        b, p = pipeline.correct(store, base, on_base, "adv"), pipeline.correct(store, pruned, on_pruned, "adv")
        transferred = pipeline.correct(store, pruned, on_base, "adv")
        diff = metrics.paired_difference(b, p)
        record.update(eps=on_pruned.spec["eps"], n=int(b.size), base=metrics.accuracy(b).to_dict(),
                      pruned=metrics.accuracy(p).to_dict(), transferred=metrics.accuracy(transferred).to_dict(),
                      value=diff.value, interval=[diff.lo, diff.hi], difference=diff.to_dict(),
                      whitebox_minus_transferred=metrics.paired_difference(transferred, p).to_dict(),
                      compared=f"{pruned.name} attacked white-box on itself vs {base.name} attacked white-box on "
                               f"itself, the same {b.size} clean images, {cell['attack']}")
    elif claim.id == "clean_within_2pp":
        pruned = pipeline.pruned_model(store, profile, ds, base, cell["criterion"], cell["ratio"])
        b, p = (pipeline.correct(store, m, ds, "test") for m in (base, pruned))
        diff = metrics.paired_difference(b, p)
        record.update(n=int(b.size), base=metrics.accuracy(b).to_dict(), pruned=metrics.accuracy(p).to_dict(),
                      value=diff.value, interval=[diff.lo, diff.hi], difference=diff.to_dict(),
                      compared=f"{pruned.name} vs {base.name} on {b.size} clean test images")
    elif claim.id == "ir_size_cut_66":
        irs = _ratio_irs(store, profile, ds, base, cell["criterion"])
        base_bytes = pipeline.ir_model(store, base).info["bin_bytes"]
        sizes = {k: ir.info["bin_bytes"] for k, ir in irs.items()}
        cut = 1 - sizes[f"{cell['ratio']:g}"] / base_bytes
        record.update(n=1, value=cut, interval=[cut, cut], base_bytes=base_bytes,
                      pruned_bytes=sizes[f"{cell['ratio']:g}"], bytes_by_ratio=sizes,
                      compared=f"OpenVINO FP32 IR of {arch}-{cell['criterion']}-{cell['ratio']:g} vs {base.name} "
                               "(exact byte counts)")
    elif claim.id == "latency_gain_8pct":
        from robustness import deploy

        # every ratio of the criterion is timed in the same alternation, for the size-latency plot
        irs = {"base": pipeline.ir_model(store, base), **_ratio_irs(store, profile, ds, base, cell["criterion"])}
        runners = {k: deploy.Runner(ir.file("model.xml"), latency=True) for k, ir in irs.items()}
        x1 = pipeline.load_arrays(ds, "test")[0][:1]
        times = {k: np.array(v) for k, v in deploy.alternating_latency(
            runners, x1, profile.latency_iterations, profile.latency_warmup).items()}
        key = f"{cell['ratio']:g}"
        gain = metrics.latency_gain(times["base"], times[key])
        record.update(n=gain.n, value=gain.value, interval=[gain.lo, gain.hi],
                      base_median_ms=1000 * float(np.median(times["base"])),
                      pruned_median_ms=1000 * float(np.median(times[key])),
                      median_ms_by_ratio={k: 1000 * float(np.median(v)) for k, v in times.items() if k != "base"},
                      # the control arm's IR is the base architecture: its gain is the measurement's own error
                      control_gain=(metrics.latency_gain(times["base"], times["0"]).to_dict()
                                    if "0" in times else None),
                      compared=f"OpenVINO CPU latency (batch 1, latency hint, {profile.latency_warmup} warm-up runs "
                               f"excluded) of {arch}-{cell['criterion']}-{key} vs {base.name}, {gain.n} "
                               f"alternating pairs")
    elif claim.id == "transfer_consistent":
        record.update(transfer(cell, store, profile, ds))
    elif claim.id == "criteria_comparable":
        src = pipeline.attack_source_model(store, profile, ds, arch, cell["source"])
        adv = pipeline.adversarial_set(store, profile, ds, src, cell["source"], cell["attack"])
        per = {c: pipeline.correct(store, pipeline.pruned_model(store, profile, ds, base, c, cell["ratio"]), adv, "adv")
               for c in profile.criteria}
        accs = {c: float(v.mean()) for c, v in per.items()}
        hi_c, lo_c = max(accs, key=accs.get), min(accs, key=accs.get)
        diff = metrics.paired_difference(per[lo_c], per[hi_c])
        record.update(eps=adv.spec["eps"], n=int(per[hi_c].size), value=diff.value, interval=[diff.lo, diff.hi],
                      accuracies={c: metrics.accuracy(v).to_dict() for c, v in per.items()},
                      difference=diff.to_dict(),
                      compared=f"{hi_c} vs {lo_c} pruned {arch} at {cell['ratio']:g} on {per[hi_c].size} "
                               f"{cell['attack']} examples crafted on {src.name}")
    else:
        raise KeyError(f"no measurement for claim {claim.id!r}")
    record["verdict"] = verdict(claim, record["value"], *record["interval"])
    null = record.get("control_gain")
    if null and abs(null["value"]) > float(claim.bound):  # the same architecture timed apart: the machine was busy
        record["verdict"] = "inconclusive"
        record["note"] = (f"the control arm's IR (the base architecture) timed {100 * null['value']:+.1f}% apart "
                          "from the base: other work disturbed the timing; run `pytest -m claims -k latency` "
                          "without -n")
    record["message"] = message(claim, record)
    return record


def _ratio_irs(store: Store, profile: Profile, ds: Artifact, base: pipeline.ModelRef,
               criterion: str) -> dict[str, Artifact]:
    """The IR at every ratio of a criterion (ratio 0: the control arm), keyed by the ratio as written in ids."""
    return {f"{r:g}": pipeline.ir_model(store, pipeline.pruned_model(store, profile, ds, base, criterion, r))
            for r in profile.ratios}


def transfer(cell: dict[str, Any], store: Store, profile: Profile, ds: Artifact, resamples: int = 1000,
             seed: int = 0) -> dict[str, Any]:
    """Transfer matrices (source arch x target arch) for base and pruned targets, and their rank agreement.

    Every set holds the same test images, so the interval resamples images jointly across all pairs."""
    archs = list(profile.archs)
    bases = {a: pipeline.base_model(store, profile, ds, a) for a in archs}
    pruned = {a: pipeline.pruned_model(store, profile, ds, bases[a], cell["criterion"], 0.5) for a in archs}
    pairs, base_ok, pruned_ok = [], [], []
    for src in archs:
        adv = pipeline.adversarial_set(store, profile, ds, bases[src], "base", cell["attack"])
        for tgt in archs:
            if tgt != src:
                pairs.append((src, tgt))
                base_ok.append(pipeline.correct(store, bases[tgt], adv, "adv"))
                pruned_ok.append(pipeline.correct(store, pruned[tgt], adv, "adv"))
    b, p = np.array(base_ok), np.array(pruned_ok)  # pairs x images
    rho = metrics.spearman(list(b.mean(1)), list(p.mean(1)))
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(resamples):
        idx = rng.integers(0, b.shape[1], b.shape[1])
        boot.append(metrics.spearman(list(b[:, idx].mean(1)), list(p[:, idx].mean(1))))
    boot = np.array([x for x in boot if np.isfinite(x)])
    lo, hi = (float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))) if boot.size else (rho, rho)
    matrix = {f"{s}->{t}": {"base": float(bb.mean()), "pruned": float(pp.mean())}
              for (s, t), bb, pp in zip(pairs, b, p)}
    return {"n": int(b.shape[1]), "value": rho, "interval": [lo, hi], "transfer": matrix,
            "eps": profile.eps,
            "compared": f"transfer accuracy of base vs {cell['criterion']}-0.5 pruned targets over {len(pairs)} "
                        f"architecture pairs, {b.shape[1]} {cell['attack']} examples each (crafted on each base)"}


def message(claim: Claim, rec: dict[str, Any]) -> str:
    value, (lo, hi) = rec["value"], rec["interval"]
    if claim.comparison == "within":
        bound = f"in [{100 * claim.bound[0]:.0f}%, {100 * claim.bound[1]:.0f}%]"
        measured = f"{100 * value:.1f}%"
    elif claim.id == "transfer_consistent":
        bound = f"rho >= {float(claim.bound):.2f}"
        measured = f"rho {value:.3f} [{lo:.3f}, {hi:.3f}] (95% bootstrap over images)"
    elif claim.id == "latency_gain_8pct":
        bound = f">= {100 * float(claim.bound):.0f}%"
        measured = f"{100 * value:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] (95% paired bootstrap)"
    else:
        bound = f"{'|d| <=' if claim.comparison == 'abs_le' else '>='} {100 * float(claim.bound):.1f} pp"
        measured = f"{100 * value:+.2f} pp [{100 * lo:+.2f}, {100 * hi:+.2f}] (95% paired bootstrap)"
    note = f" ({rec['note']})" if rec.get("note") else ""
    return f"{claim.id}[{rec['cell']}]: {rec['verdict']}: measured {measured}, bound {bound}, n={rec['n']}; " \
           f"compared {rec['compared']}{note}"


def claim_table() -> list[dict[str, Any]]:
    return [asdict(c) for c in CLAIMS]
