"""Report: results.json (one record per measurement), report.md with the verdict table, for every claims run."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robustness import metrics, plots
from robustness.claims import PAPER, VERDICTS, allowed, claim_table, fmt, get_claim, side
from robustness.errors import UsageError
from robustness.profiles import Profile
from robustness.store import library_versions


def collect(records_dir: Path) -> list[dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in sorted(records_dir.glob("*.json"))]
    return sorted(records, key=lambda r: (r["claim"], r["cell"]))


def error_record(claim_id: str, cell: str, profile: Profile, why: str) -> dict[str, Any]:
    """A collected claim cell that wrote no record: it stays in the table as an error, never vanishes."""
    return {"claim": claim_id, "cell": cell, "profile": profile.name, "profile_hash": profile.hash,
            "verdict": "error", "message": f"{claim_id}[{cell}]: error: {why}"}


def merge(records: list[dict[str, Any]], out: Path, profile: Profile) -> list[dict[str, Any]]:
    """This run's records over the folder's earlier ones, cell by cell: a partial run (`-k latency`) updates its
    cells and keeps every other. A folder holding another profile's results is refused, never overwritten."""
    path = out / "results.json"
    old: list[dict[str, Any]] = []
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("profile_hash") != profile.hash:
            raise UsageError(f"{out} holds results of profile {data.get('profile', {}).get('name')!r} (hash "
                             f"{data.get('profile_hash')}), not of this run's {profile.name!r} ({profile.hash}): "
                             "give another results folder (--robustness-results-dir)")
        old = data["records"]
    merged = {(r["claim"], r["cell"]): r for r in old}
    merged.update({(r["claim"], r["cell"]): r for r in records})
    return [merged[k] for k in sorted(merged)]


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim: how many cells gave each verdict, how many non-reproductions survive a 5%
    false-discovery rate over the claim's cells, and the narrowest interval its n allows."""
    rows = []
    for claim_id in sorted({r["claim"] for r in records}):
        claim = get_claim(claim_id)
        mine = [r for r in records if r["claim"] == claim_id]
        measured = [r for r in mine if r["verdict"] != "error"]
        counts = Counter(r["verdict"] for r in mine)
        values = [r["value"] for r in measured]
        row: dict[str, Any] = {
            "claim": claim_id, "cells": len(mine), **{v: counts.get(v, 0) for v in VERDICTS},
            "value outside": sum(side(claim, r["value"]) != 0 for r in measured),
            "min": min(values) if values else None, "max": max(values) if values else None,
            "not reproduced (FDR 5%)": None, "narrowest half-width": None, "n": None}
        tested = [r for r in measured if r.get("mcnemar_p") is not None]
        if tested:
            q = metrics.benjamini_hochberg([r["mcnemar_p"] for r in tested])
            row["not reproduced (FDR 5%)"] = sum(r["verdict"] == "not reproduced" and qi < 0.05
                                                 for r, qi in zip(tested, q))
        if claim.unit == "pp" and measured:
            n = min(r["n"] for r in measured)
            row.update(n=n, **{"narrowest half-width": metrics.narrowest_half_width(n, claim.comparisons)})
            lo, hi = allowed(claim)  # an interval at least twice the half-width wide must fit inside the bound
            row["n can show the bound"] = 2 * row["narrowest half-width"] < hi - lo
        rows.append(row)
    return rows


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:+.2f}"


def _measured(r: dict[str, Any]) -> str:
    """A record's value and interval in its claim's unit."""
    return fmt(get_claim(r["claim"]), r["value"], *r["interval"])


def _acc(v: float) -> str:
    return f"{100 * v:.1f}%"


def _bound_note(row: dict[str, Any]) -> str:
    if row.get("narrowest half-width") is None:
        return "-"
    hw = f"+-{100 * row['narrowest half-width']:.2f} pp at n={row['n']}"
    return hw if row["n can show the bound"] else f"{hw}: n cannot show the bound, none can be reproduced"


def table_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = ["| claim | cells | reproduced | inconclusive | not reproduced (FDR 5%) | uninformative | error | "
             "value outside the bound | narrowest interval | measured range (pp, % or rho) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary(records):
        fdr = row["not reproduced (FDR 5%)"]
        lines.append(f"| {row['claim']} | {row['cells']} | {row['reproduced']} | {row['inconclusive']} | "
                     f"{row['not reproduced']}{'' if fdr is None else f' ({fdr})'} | {row['uninformative']} | "
                     f"{row['error']} | {row['value outside']} | {_bound_note(row)} | "
                     f"{_pct(row['min'])} .. {_pct(row['max'])} |")
    return lines


def means_lines(records: list[dict[str, Any]]) -> list[str]:
    """Mean accuracy differences of each accuracy claim, by ratio and by attack: pruned minus control arm (what
    the verdicts decide on) beside pruned minus base (the paper's comparison), in points."""
    lines = ["## Mean differences (points)", "",
             "| claim | group | cells | pruned minus control | pruned minus base |", "|---|---|---|---|---|"]
    measured = [r for r in records if r["verdict"] != "error" and "pruned_minus_control" in r]
    for claim_id in sorted({r["claim"] for r in measured}):
        mine = [r for r in measured if r["claim"] == claim_id]
        groups = [("all", mine)]
        for axis in ("ratio", "attack", "arch"):
            keys = sorted({r[axis] for r in mine if r.get(axis) is not None}, key=str)
            if len(keys) > 1:
                groups += [(f"{axis} {k:g}" if isinstance(k, float) else f"{axis} {k}",
                            [r for r in mine if r.get(axis) == k]) for k in keys]
        for name, rows in groups:
            control = np.mean([r["pruned_minus_control"]["value"] for r in rows])
            base = np.mean([r["difference"]["value"] for r in rows])
            lines.append(f"| {claim_id} | {name} | {len(rows)} | {100 * control:+.2f} | {100 * base:+.2f} |")
    return [*lines, ""] if measured else []


def latency_lines(records: list[dict[str, Any]]) -> list[str]:
    """The latency cells as a table: medians, the gain, the control arm's own gap and the gain net of it."""
    rows = sorted((r for r in records if r["claim"] == "latency_gain_8pct" and r["verdict"] != "error"
                   and r.get("gain")), key=lambda r: (r["arch"], r["criterion"]))
    if not rows:
        return []
    cpus = sorted({r.get("cpu", "?") for r in rows})
    threads = sorted({str(r.get("threads", "the latency hint's")) for r in rows})
    lines = ["## Latency at ratio 0.5", "", f"OpenVINO CPU, batch 1, {' or '.join(threads)} inference thread(s), "
             f"each inference as OpenVINO times it, on {', '.join(cpus)}; gain = 1 - median pruned / median base; "
             "the verdict is on the gain net of the control arm's (the same architecture timed alongside), with a "
             "95% paired bootstrap interval over alternating rounds.", "",
             "| architecture | criterion | base ms | 50% pruned ms | gain | control arm | net gain | verdict |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g, c, (lo, hi) = r["gain"], r.get("control_gain") or {}, r["interval"]
        lines.append(f"| {r['arch']} | {r['criterion']} | {r['base_median_ms']:.3f} | {r['pruned_median_ms']:.3f} | "
                     f"{100 * g['value']:.1f}% | {100 * c.get('value', 0):+.1f}% | "
                     f"{100 * r['value']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] | {r['verdict']} |")
    return [*lines, ""]


def open_question_lines(records: list[dict[str, Any]]) -> list[str]:
    """Beyond the paper: adversarial training with pruning (open question 1), the criteria's transfer (3), and
    the self-checks that make robust accuracies worth comparing."""
    by = defaultdict(list)
    for r in records:
        if r["verdict"] != "error" or (r["claim"] == "robust_accuracy_honest" and "training" in r):
            by[r["claim"]].append(r)
    lines: list[str] = []
    if by["robust_accuracy_honest"]:
        lines += ["## Self-checks of robust accuracy (gradient masking)", "",
                  "White-box on each base model: PGD must be at least as strong as FGSM, fall with eps, and leave "
                  "little at the largest eps; a failed check makes the cell an error.", "",
                  "| arm | architecture | FGSM | PGD | PGD at each eps (x/255: %) | failed checks | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for r in sorted(by["robust_accuracy_honest"], key=lambda r: (r.get("training", ""), r["arch"])):
            if "pgd_by_eps" not in r:
                lines.append(f"| {r['training']} | {r['arch']} | - | - | - | {r['message'][-100:]} | error |")
                continue
            by_eps = sorted(r["pgd_by_eps"].items(), key=lambda kv: float(kv[0].split("/")[0]))
            curve = ", ".join(f"{e.split('/')[0]}: {100 * a['value']:.0f}" for e, a in by_eps)
            pgd = r["pgd_by_eps"][f"{255 * r['eps']:g}/255"]
            lines.append(f"| {r['training']} | {r['arch']} | {_acc(r['fgsm']['value'])} | {_acc(pgd['value'])} | "
                         f"{curve} | {'; '.join(r['self_checks_failed']) or 'none'} | {r['verdict']} |")
        lines.append("")
    if by["adv_training_helps"]:
        lines += ["## Open question 1: adversarial training with pruning", "",
                  "Sanity first: white-box accuracy of the adversarially trained base minus the standard base's "
                  "(each attacked on itself). Where its interval is not wholly above the margin, every question-1 "
                  "cell of the architecture is `uninformative`.", "",
                  "| architecture | attack | standard | adversarial | gain [95%] | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(by["adv_training_helps"], key=lambda r: (r["arch"], r["attack"])):
            lines.append(f"| {r['arch']} | {r['attack']} | {_acc(r['standard'])} | {_acc(r['adversarial'])} | "
                         f"{_measured(r)} | {r['verdict']} |")
        lines.append("")
    if by["retained_robustness_std_vs_adv"]:
        lines += ["Robustness retained under pruning (pruned minus control arm, each model attacked white-box on "
                  "itself), standard against adversarially trained arm, the same images:", "",
                  "| architecture | criterion | ratio | standard arm | adversarial arm | adversarial minus standard "
                  "[95%] | verdict |", "|---|---|---|---|---|---|---|"]
        for r in sorted(by["retained_robustness_std_vs_adv"], key=lambda r: (r["arch"], r["criterion"])):
            s, a = r["standard_pruned_minus_control"], r["adversarial_pruned_minus_control"]
            lines.append(f"| {r['arch']} | {r['criterion']} | {r['ratio']:g} | {100 * s['value']:+.1f} pp | "
                         f"{100 * a['value']:+.1f} pp | {_measured(r)} | {r['verdict']} |")
        lines.append("")
    if by["criteria_transfer_agree"]:
        lines += ["## Open question 3: do the criteria differ in transferability?", "",
                  "Per criterion, the transfer matrix among the architectures' pruned models (sources and targets); "
                  "the claim is the smallest rank correlation between two criteria's matrices, with a bootstrap "
                  "over images resampled jointly for every matrix.", "",
                  "| arm | attack | ratio | rho per criterion pair | smallest rho [95%] | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(by["criteria_transfer_agree"], key=lambda r: (r["training"], r["attack"])):
            lo, hi = r["interval"]
            pairs = ", ".join(f"{k}: {v:.2f}" for k, v in r["rho_by_criteria"].items())
            lines.append(f"| {r['training']} | {r['attack']} | {r['ratio']:g} | {pairs} | {r['value']:.3f} "
                         f"[{lo:.3f}, {hi:.3f}] | {r['verdict']} |")
        lines.append("")
    return lines


def parity_lines(records: list[dict[str, Any]]) -> list[str]:
    """How far the deployed IRs' predictions agree with torch over every prediction set the claims scored."""
    par = [r["parity"] for r in records if r.get("parity") and r["parity"]["checked"]]
    if not par:
        return []
    checked, agree = sum(p["checked"] for p in par), sum(p["agree"] for p in par)
    return ["## Predictions: the IR against torch", "",
            f"Every accuracy comes from the OpenVINO IR. Over the {len(par)} cells that scored predictions, "
            f"torch re-predicted {checked} images (a fixed sample of each set and every image near the IR's decision "
            f"boundary; sets shared by cells are counted in each): {agree} agreed "
            f"({100 * agree / checked:.2f}%), lowest agreement in one cell "
            f"{100 * min(p['lowest_agreement'] for p in par):.2f}%, largest logit difference "
            f"{max(p['max_logit_diff'] for p in par):.2e}. A cell below 99.5% is an error.", ""]


def write(records: list[dict[str, Any]], out: Path, profile: Profile) -> list[dict[str, Any]]:
    """Merge this run's records into out/results.json, then write report.md and the plots from all of them."""
    out.mkdir(parents=True, exist_ok=True)
    records = merge(records, out, profile)
    payload = {"paper": PAPER, "profile": profile.to_dict(), "profile_hash": profile.hash,
               "versions": library_versions(), "claims": claim_table(), "records": records}
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, default=str))
    tmp.replace(out / "results.json")  # a killed run leaves the old results whole
    lines = [f"# Claims of {PAPER}", "",
             f"Profile `{profile.name}` (hash {profile.hash}, dataset {profile.dataset}): {profile.notes}. "
             "A verdict from a profile other than `paper` is not a CIFAR result.", "",
             *table_lines(records), "",
             "`reproduced`: the 95% interval lies inside the bound; `not reproduced`: it lies wholly outside (the "
             "data contradict the claim; in brackets, how many of those survive a Benjamini-Hochberg false-"
             "discovery rate of 5% over the claim's McNemar p-values); `inconclusive`: it straddles the bound; "
             "`uninformative`: both models compared are at or below 2% or at or above 98%; `error`: the cell "
             "crashed and wrote no record. Accuracy claims are decided on pruned minus control arm (the same "
             "fine-tuning without pruning); every cell also gives pruned minus base, the paper's comparison. "
             "Narrowest interval: the half-width of a paired interval on n images when no image disagrees; a "
             "bound tighter than that cannot be reproduced at this n.", "",
             *means_lines(records), *latency_lines(records), *open_question_lines(records), *parity_lines(records),
             "## Every cell", "", "| claim | cell | n | measured | 95% interval | verdict | pruned minus base |",
             "|---|---|---|---|---|---|---|"]
    for r in records:
        if r["verdict"] == "error":
            lines.append(f"| {r['claim']} | {r['cell']} | - | - | - | error | {r['message'][-120:]} |")
            continue
        lo, hi = r["interval"]
        paper = r.get("difference")
        vs_base = f"{_pct(paper['value'])} [{_pct(paper['lo'])}, {_pct(paper['hi'])}], {r['verdict_vs_base']}" \
            if paper and "verdict_vs_base" in r else "-"
        lines.append(f"| {r['claim']} | {r['cell']} | {r['n']} | {_pct(r['value'])} | [{_pct(lo)}, {_pct(hi)}] | "
                     f"{r['verdict']} | {vs_base} |")
    drawn = plots.draw([r for r in records if r["verdict"] != "error"], out)
    if drawn:
        lines[4:4] = [" ".join(f"![{p.stem}]({p.name})" for p in drawn), ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return records

