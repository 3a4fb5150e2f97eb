"""Report: results.json (one record per measurement), report.md with the verdict table, for every claims run."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

from robustness import metrics
from robustness.claims import (
    PAPER,
    VERDICTS,
    allowed,
    claim_table,
    fmt,
    fmt_value,
    get_claim,
    narrowest_half_width,
    side,
    stamps,
)
from robustness.errors import UsageError
from robustness.profiles import Profile
from robustness.store import library_versions
from robustness.validation import no_symlink, read_json


def collect(records_dir: Path) -> list[dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in sorted(records_dir.glob("*.json"))
               if not p.name.startswith("gate-")]
    return sorted(records, key=lambda r: (r["claim"], r["cell"]))


def collect_gates(records_dir: Path) -> list[dict[str, Any]]:
    """The gate verdicts of a run (robustness.thresholds, the snapshot gate), one per gate test."""
    return sorted((json.loads(p.read_text()) for p in records_dir.glob("gate-*.json")), key=lambda r: r["test"])


def gate_error_record(test: str, profile: Profile, why: str) -> dict[str, Any]:
    """A gate test that crashed before it recorded its verdict: it stays in the gate table as an error."""
    return {"kind": "gate", "test": test, "gate": test.rsplit("::", 1)[-1], "model": "-", "profile": profile.name,
            "profile_hash": profile.hash, "verdict": "error", "fails": True, "message": f"{test}: error: {why}"}


def gate_lines(gates: list[dict[str, Any]]) -> list[str]:
    """One row per gate test: what it compared, the measured value with its interval and n, the verdict."""
    lines = ["| gate | model | measured [95%] | bound | n | verdict |", "|---|---|---|---|---|---|"]
    for g in gates:
        if "value" not in g:
            lines.append(f"| {g['gate']} | {g.get('model', '-')} | {g['message'][:160]} | - | - | {g['verdict']} |")
            continue
        lo, hi = g["interval"]
        pct = g.get("metric") in ("latency", "size", "snapshot")
        unit = "%" if pct and g.get("metric") != "snapshot" else " pp"
        sign = "+" if not pct or g.get("metric") == "snapshot" else ""
        measured = f"{100 * g['value']:{sign}.2f}{unit} [{100 * lo:{sign}.2f}, {100 * hi:{sign}.2f}]"
        bound = "-" if g.get("bound") is None else (f"drop <= {100 * g['bound']:g} pp" if g.get("metric") in (
            "adversarial", "clean") else f"gain >= {100 * g['bound']:g}%" if g.get("metric") in ("latency", "size")
            else f"+-{100 * g['bound']:g} pp")
        verdict = g["verdict"] + (" (fails)" if g.get("fails") and g["verdict"] not in ("fail", "error") else "")
        lines.append(f"| {g['gate']} | {g['model']} | {measured} | {bound} | {g['n']} | {verdict} |")
    return lines


def _merge_gates(gates: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """This run's gate verdicts over the folder's earlier ones, test by test."""
    path = out / "results.json"
    data = read_json(path, "move it aside or restore it from version control (the next run writes a new one)") \
        if path.exists() else {}
    old = data.get("gates", []) if isinstance(data, dict) else []
    merged = {g["test"]: g for g in old}
    merged.update({g["test"]: g for g in gates})
    return [merged[k] for k in sorted(merged)]


def error_record(claim_id: str, cell: str, profile: Profile, why: str, run_id: str = "") -> dict[str, Any]:
    """A collected claim cell that wrote no record: it stays in the table as an error, never vanishes."""
    return {"claim": claim_id, "cell": cell, "profile": profile.name, "profile_hash": profile.hash,
            "verdict": "error", "message": f"{claim_id}[{cell}]: error: {why}", "stamp": stamps.stamp(run_id)}


def current(records: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records measured by this code version, and those of any other (or of none: written before records
    were stamped). Only the first count: a verdict of other code is set apart, never mixed in."""
    version = stamps.code_version()
    return ([r for r in records if stamps.of(r) == version], [r for r in records if stamps.of(r) != version])


def claim_order(claim_id: str) -> tuple[bool, bool, str]:
    """The headline first, then the other pooled claims, then the rest by id."""
    claim = get_claim(claim_id)
    return not claim.headline, claim.pools is None, claim_id


def merge(records: list[dict[str, Any]], out: Path, profile: Profile) -> list[dict[str, Any]]:
    """This run's records over the folder's earlier ones, cell by cell: a partial run (`-k latency`) updates its
    cells and keeps every other. A folder holding another profile's results is refused, never overwritten."""
    path = out / "results.json"
    old: list[dict[str, Any]] = []
    if path.exists():
        data = read_json(path, "move it aside or restore it from version control (the next run writes a new one); "
                               f"this run's records stay in {out / 'records'}")
        if not isinstance(data, dict) or not isinstance(data.get("records"), list):
            raise UsageError(f"{path} is not a claims run's results.json: move it aside (the next run writes a new "
                             f"one); this run's records stay in {out / 'records'}")
        if data.get("profile_hash") != profile.hash:
            raise UsageError(f"{out} holds results of profile {data.get('profile', {}).get('name')!r} (hash "
                             f"{data.get('profile_hash')}), not of this run's {profile.name!r} ({profile.hash}): "
                             "give another results folder (--robustness-results-dir)")
        old = data["records"]
    merged = {(r["claim"], r["cell"]): r for r in old}
    merged.update({(r["claim"], r["cell"]): r for r in records})
    return [merged[k] for k in sorted(merged)]


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim, the headline first: how many cells gave each verdict, how many non-reproductions
    survive a 5% false-discovery rate over the claim's cells, and the narrowest interval its n allows.

    The false-discovery count runs Benjamini-Hochberg over each cell's p_bound (the one-sided p against the
    nearer edge of the bound) and counts the `not reproduced` cells whose q-value is under 2.5%, the level each
    side of a 95% interval has: a single cell then counts exactly when it is `not reproduced`."""
    rows = []
    for claim_id in sorted({r["claim"] for r in records}, key=claim_order):
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
        tested = [r for r in measured if r.get("p_bound") is not None]
        if tested:
            q = metrics.benjamini_hochberg([r["p_bound"] for r in tested])
            row["not reproduced (FDR 5%)"] = sum(r["verdict"] == "not reproduced" and qi < (1 - metrics.CONFIDENCE) / 2
                                                 for r, qi in zip(tested, q))
        if measured:
            n = min(r["n"] for r in measured)
            m = max([r.get("comparisons") or claim.comparisons for r in measured])
            hw = narrowest_half_width(claim, n, m)
            if hw is not None:
                lo, hi = allowed(claim)  # an interval at least twice the half-width wide must fit inside the bound
                row.update(n=n, **{"narrowest half-width": hw, "n can show the bound": 2 * hw < hi - lo})
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


def _range(claim_id: str, row: dict[str, Any]) -> str:
    claim = get_claim(claim_id)
    if row["min"] is None:
        return "-"
    return f"{fmt_value(claim, row['min'])} .. {fmt_value(claim, row['max'])}" + (" pp" if claim.unit == "pp" else "")


def table_lines(records: list[dict[str, Any]]) -> list[str]:
    lines = ["| claim | cells | reproduced | inconclusive | not reproduced (FDR 5%) | uninformative | error | "
             "value outside the bound | narrowest interval | measured range |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in summary(records):
        fdr = row["not reproduced (FDR 5%)"]
        lines.append(f"| {row['claim']} | {row['cells']} | {row['reproduced']} | {row['inconclusive']} | "
                     f"{row['not reproduced']}{'' if fdr is None else f' ({fdr})'} | {row['uninformative']} | "
                     f"{row['error']} | {row['value outside']} | {_bound_note(row)} | {_range(row['claim'], row)} |")
    return lines


def headline_lines(records: list[dict[str, Any]]) -> list[str]:
    """The pooled claims, per ratio (or eps) for every architecture together, then per architecture: the main
    job's answer to the paper's +-1 point sentence."""
    pooled = [r for r in records if r["verdict"] != "error" and get_claim(r["claim"]).pools]
    if not pooled:
        return []
    lines = ["## Headline: pruned minus control arm, mean over cells", "",
             "Each +-1 point claim asked of the mean pruned-minus-control difference over its cells (every "
             "criterion and attack), for every architecture together (`all`) and for each: the main job's answer to "
             "the paper's sentence. All cells attack the same images, so the interval takes the image as its unit "
             "(a score interval whose variance is that of resampling images, every cell's outcome on an image kept "
             "together). Cells with both models at the floor or ceiling are left out.", "",
             "| claim | architecture | ratio / eps | cells | n | pruned minus control [95%] | verdict | "
             "pruned minus base [95%] |", "|---|---|---|---|---|---|---|---|"]
    for claim_id in sorted({r["claim"] for r in pooled}, key=claim_order):
        mine = [r for r in pooled if r["claim"] == claim_id]
        for r in sorted(mine, key=lambda r: (r["arch"] != "all", r["arch"], r.get("eps") or 0, r["ratio"] or 0)):
            where = f"eps {255 * r['eps']:g}/255" if r.get("eps") is not None else f"{r['ratio']:g}"
            paper = r["difference"]
            lines.append(f"| {claim_id} | {r['arch']} | {where} | {r.get('cells', '-')} | {r['n']} | {_measured(r)} | "
                         f"{r['verdict']} | {_pct(paper['value'])} [{_pct(paper['lo'])}, {_pct(paper['hi'])}], "
                         f"{r.get('verdict_vs_base', '-')} |")
    return [*lines, ""]


def means_lines(records: list[dict[str, Any]]) -> list[str]:
    """Mean accuracy differences of each accuracy claim, by ratio and by attack: pruned minus control arm (what
    the verdicts decide on) beside pruned minus base (the paper's comparison), in points."""
    lines = ["## Mean differences (points)", "",
             "| claim | group | cells | pruned minus control | pruned minus base |", "|---|---|---|---|---|"]
    measured = [r for r in records if r["verdict"] != "error" and "pruned_minus_control" in r
                and "pruned" in r and not get_claim(r["claim"]).pools]
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
    """The latency cells as a table: medians, the gain, the control arm's own gap, the gain net of it and both
    latency claims' verdicts (direction: >= 8%; magnitude: near the paper's 8-10%)."""
    timed = [r for r in records if r["claim"] in ("latency_gain_8pct", "latency_gain_8_10pct")
             and r["verdict"] != "error" and r.get("gain")]
    verdicts = {(r["claim"], r["arch"], r["criterion"]): r["verdict"] for r in timed}
    rows = sorted({(r["arch"], r["criterion"]): r for r in timed}.values(), key=lambda r: (r["arch"], r["criterion"]))
    if not rows:
        return []
    cpus = sorted({r.get("cpu", "?") for r in rows})
    threads = sorted({str(r.get("threads", "the latency hint's")) for r in rows})
    lo_w, hi_w = allowed(get_claim("latency_gain_8_10pct"))
    lines = ["## Latency at ratio 0.5", "", f"OpenVINO CPU, batch 1, {' or '.join(threads)} inference thread(s), "
             f"each inference as OpenVINO times it, on {', '.join(cpus)}; gain = 1 - median pruned / median base; "
             "the verdicts are on the gain net of the control arm's (the same architecture timed alongside), with a "
             "95% paired bootstrap interval over alternating rounds; where no control arm was timed (the profile's "
             f"ratios lack 0), on the gain over the base alone. Direction: at least 8%; magnitude: within "
             f"{100 * lo_w:g}-{100 * hi_w:g}%, the paper's 8-10% and the timing's tolerance.", "",
             "| architecture | criterion | base ms | 50% pruned ms | gain | control arm | decided on [95%] | "
             "direction | magnitude |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g, c, (lo, hi) = r["gain"], r.get("control_gain"), r["interval"]
        control = f"{100 * c['value']:+.1f}%" if c else "not timed (ratios lack 0)"
        decided = "net" if c else "gain over the base"
        lines.append(f"| {r['arch']} | {r['criterion']} | {r['base_median_ms']:.3f} | {r['pruned_median_ms']:.3f} | "
                     f"{100 * g['value']:.1f}% | {control} | {decided} {100 * r['value']:.1f}% "
                     f"[{100 * lo:.1f}, {100 * hi:.1f}] | "
                     f"{verdicts.get(('latency_gain_8pct', r['arch'], r['criterion']), '-')} | "
                     f"{verdicts.get(('latency_gain_8_10pct', r['arch'], r['criterion']), '-')} |")
    return [*lines, ""]


def transfer_lines(records: list[dict[str, Any]]) -> list[str]:
    """transfer_consistent per criterion and attack: how far pruning moves the transfer pattern."""
    rows = sorted((r for r in records if r["claim"] == "transfer_consistent" and r["verdict"] != "error"),
                  key=lambda r: (r["criterion"], r["attack"]))
    if not rows:
        return []
    lines = ["## Transfer between architectures", "",
             "Per ordered architecture pair (examples crafted white-box on the source's base model), the pruned "
             "target's transfer accuracy minus the control arm's (decided) and minus the base model's (the paper's "
             "comparison); the largest |difference| over pairs, with a 95% interval from every pair's paired score "
             "interval at Bonferroni level. A pattern whose pairs are not shown to differ by more than the bound is "
             "too flat to rank: uninformative.", "",
             "| criterion | attack | pairs | n | largest pruned minus control [95%] | verdict | largest pruned minus "
             "base [95%] | verdict vs base | control pattern's range |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, spread = r["difference"], r.get("pattern_range", {}).get("control")
        flat = "-" if not spread else \
            f"{100 * spread['value']:.1f} [{100 * spread['lo']:.1f}, {100 * spread['hi']:.1f}]"
        lines.append(f"| {r['criterion']} | {r['attack']} | {r.get('comparisons', '-')} | {r['n']} | {_measured(r)} | "
                     f"{r['verdict']} | {_pct(b['value'])} [{_pct(b['lo'])}, {_pct(b['hi'])}] | "
                     f"{r.get('verdict_vs_base', '-')} | {flat} |")
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
                  "the claim is the largest difference in transfer accuracy between two criteria over all pairs, "
                  "with a 95% interval from every (pair, criterion pair) paired score interval at Bonferroni level.",
                  "", "| arm | attack | ratio | largest difference per criterion pair (pp) | largest [95%] | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(by["criteria_transfer_agree"], key=lambda r: (r["training"], r["attack"])):
            pairs = ", ".join(f"{k}: {100 * v:.1f}" for k, v in r.get("largest_by_criteria", {}).items())
            lines.append(f"| {r['training']} | {r['attack']} | {r['ratio']:g} | {pairs or '-'} | {_measured(r)} | "
                         f"{r['verdict']} |")
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
            f"{max((p['max_logit_diff'] for p in par if p['max_logit_diff'] is not None), default=0.0):.2e}. A cell "
            "below 99.5% is an error.", ""]


def write(records: list[dict[str, Any]], out: Path, profile: Profile,
          gates: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Merge this run's records (and gate verdicts) into out/results.json, then write report.md and the plots from
    all of them.

    Under a file lock: runs finishing together into one folder each merge into what the one before wrote, so every
    record of every run is kept. Each file is written to a temporary file of its own and renamed into place (a
    killed run leaves the old one whole), and none through a link the suite did not make."""
    written = ["results.json", "report.md", LOCK, *(name for *_, name in PLOTS),
               *(f".{name}.sha256" for *_, name in PLOTS)]
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name in written:
            no_symlink(out / name, " from the results folder")
        with FileLock(str(out / LOCK)):
            return _write(records, out, profile, gates or [])
    except OSError as exc:
        raise UsageError(f"results folder {out} cannot be written ({exc.strerror or exc}): give a writable folder "
                         "with --robustness-results-dir") from None


LOCK = ".results.lock"


def _replace_text(path: Path, text: str) -> None:
    """Write a temporary file of this process's own, then rename it over `path` (never writing through it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with open(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write(records: list[dict[str, Any]], out: Path, profile: Profile,
           gates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    records = merge(records, out, profile)
    gates = _merge_gates(gates or [], out)
    payload = {"paper": PAPER, "profile": profile.to_dict(), "profile_hash": profile.hash,
               "versions": library_versions(), "code_version": stamps.code_version(), "claims": claim_table(),
               "records": records, "gates": gates}
    _replace_text(out / "results.json", json.dumps(payload, indent=1, sort_keys=True, default=str))
    gate_part = ["## Gates", "", "Each gate decided on its 95% interval against the base model: `pass` (the interval "
                 "shows it within the bound), `fail` (beyond it), `inconclusive` (straddles it; fails or warns as "
                 "the profile says), `uninformative` (the base at the floor: fails with the fix).", "",
                 *gate_lines(gates), ""] if gates else []
    if gates and not records:  # a team's gate run: its gates are the report
        _replace_text(out / "report.md", "\n".join([f"# Robustness gates: profile `{profile.name}`", "",
                                                      *gate_part[2:]]) + "\n")
        return records
    mine, other = current(records)
    lines = [f"# Claims of {PAPER}", "",
             f"Profile `{profile.name}` (hash {profile.hash}, dataset {profile.dataset}): {profile.notes}. "
             "A verdict from a profile other than `paper` is not a CIFAR result.", "", *gate_part,
             *headline_lines(mine), *table_lines(mine), "",
             "`reproduced`: the 95% interval lies inside the bound; `not reproduced`: it lies wholly outside (the "
             "data contradict the claim; in brackets, how many of those survive a Benjamini-Hochberg false-"
             "discovery rate of 5% over the claim's cells, on each cell's p-value against the nearer edge of the "
             "bound); `inconclusive`: it straddles the bound; `uninformative`: both models compared are at or "
             "below 2% or at or above 98% (or, for a transfer pattern, the pattern is too flat to rank); `error`: "
             "the cell crashed and wrote no record. Accuracy claims are decided on pruned minus control arm (the "
             "same fine-tuning without pruning); every cell also gives pruned minus base, the paper's comparison. "
             "Narrowest interval: the half-width of the claim's interval on n images when no image disagrees; a "
             "bound tighter than that cannot be reproduced at this n (a pooled claim's depends on how its cells "
             "disagree, and is not shown).", ""]
    plots_at = len(lines)
    lines += [*means_lines(mine), *latency_lines(mine), *transfer_lines(mine), *open_question_lines(mine),
              *parity_lines(mine), *other_lines(other),
              "## Every cell", "", "| claim | cell | n | measured | 95% interval | verdict | pruned minus base |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(mine, key=lambda r: (claim_order(r["claim"]), r["cell"])):
        if r["verdict"] == "error":
            lines.append(f"| {r['claim']} | {r['cell']} | - | - | - | error | {r['message'][-120:]} |")
            continue
        claim = get_claim(r["claim"])
        lo, hi = r["interval"]
        paper = r.get("difference")
        vs_base = f"{_pct(paper['value'])} [{_pct(paper['lo'])}, {_pct(paper['hi'])}], {r['verdict_vs_base']}" \
            if paper and "verdict_vs_base" in r else "-"
        lines.append(f"| {r['claim']} | {r['cell']} | {r['n']} | {fmt_value(claim, r['value'])} | "
                     f"[{fmt_value(claim, lo)}, {fmt_value(claim, hi)}] | {r['verdict']} | {vs_base} |")
    plots = plot([r for r in mine if r["verdict"] != "error"], out)
    if plots:
        lines[plots_at:plots_at] = [" ".join(f"![{p.stem}]({p.name})" for p in plots), ""]
    _replace_text(out / "report.md", "\n".join(lines) + "\n")
    return records


def other_lines(other: list[dict[str, Any]]) -> list[str]:
    """Records of another code version (or unstamped), kept in results.json but counted nowhere above."""
    if not other:
        return []
    by = Counter((stamps.of(r) or "none (unstamped)", (r.get("stamp") or {}).get("commit") or "-") for r in other)
    lines = ["## Records of other code versions (not counted)", "",
             f"{len(other)} records in results.json were measured by code other than this report's "
             f"({stamps.code_version()}): their cells were not run again since the code changed. Run them again "
             "(`pytest -m claims`, or `-k` with their claims) to count them.", "",
             "| code version | commit | records | claims |", "|---|---|---|---|"]
    for (code, commit), count in sorted(by.items()):
        claims = sorted({r["claim"] for r in other if (stamps.of(r) or "none (unstamped)", (r.get("stamp") or {})
                                                       .get("commit") or "-") == (code, commit)})
        lines.append(f"| {code} | {commit} | {count} | {', '.join(claims)} |")
    return [*lines, ""]


def plot(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """Every plot the records allow; a plot whose claim was not run is skipped, and one whose records (and this
    module's code) are those it was drawn from is kept as it is: a warm run re-times only the latency cells, and
    drawing everything again cost it 4 s."""
    import hashlib

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    paths = []
    for draw, claims, name in PLOTS:
        mine = [r for r in records if r["claim"] in claims]
        if not mine:
            continue
        digest = hashlib.sha256(json.dumps([code, mine], sort_keys=True, default=str).encode()).hexdigest()
        stamp = out / f".{name}.sha256"
        if (out / name).exists() and stamp.exists() and stamp.read_text() == digest:
            paths.append(out / name)
            continue
        import matplotlib

        matplotlib.use("Agg")
        path = draw(records, out / name)
        if path is not None:
            stamp.write_text(digest)
            paths.append(path)
    return paths


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _panels(n: int, height: float = 3.4):
    import matplotlib.pyplot as plt

    return plt.subplots(1, n, figsize=(4 * n, height), squeeze=False, sharey=True)


def _finish_panels(fig, axes, ylabel: str, title: str, path: Path) -> Path:
    axes[0][0].set_ylabel(ylabel)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def _accuracy_vs_ratio(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Adversarial accuracy against pruning ratio, one panel per architecture, one line per criterion."""
    adv = [r for r in records if r["claim"] == "adv_within_1pp"]
    if not adv:
        return None
    archs = sorted({r["arch"] for r in adv})
    fig, axes = _panels(len(archs))
    pruned: dict[tuple, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    base: dict[str, list[float]] = defaultdict(list)
    for r in adv:
        pruned[r["arch"], r["criterion"]][r["ratio"]].append(r["pruned"]["value"])
        base[r["arch"]].append(r["base"]["value"])
    for ax, arch in zip(axes[0], archs):
        ax.axhline(100 * np.mean(base[arch]), color="black", linestyle="--", label="base")
        for criterion in sorted(c for a, c in pruned if a == arch):
            by_ratio = pruned[arch, criterion]
            ratios = sorted(by_ratio)
            ax.plot(ratios, [100 * np.mean(by_ratio[x]) for x in ratios], marker="o", label=criterion)
        ax.set_title(arch)
        ax.set_xlabel("pruning ratio")
    return _finish_panels(fig, axes, "adversarial accuracy, mean over attacks (%)",
                          "surrogate-crafted examples: pruned vs base", path)


def _security_curves(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Accuracy against eps for base and each criterion's 0.5-pruned model, per architecture and attack."""
    rows = [r for r in records if r["claim"] == "adv_within_1pp_over_eps"]
    if not rows:
        return None
    panels = sorted({(r["arch"], r["attack"]) for r in rows})
    fig, axes = _panels(len(panels))
    for ax, (arch, attack) in zip(axes[0], panels):
        mine = sorted((r for r in rows if (r["arch"], r["attack"]) == (arch, attack)), key=lambda r: r["eps"])
        base = {r["eps"]: r["base"]["value"] for r in mine}
        ax.plot([255 * e for e in base], [100 * v for v in base.values()], "k--", marker="s", label="base")
        for criterion in sorted({r["criterion"] for r in mine}):
            pts = [(255 * r["eps"], 100 * r["pruned"]["value"]) for r in mine if r["criterion"] == criterion]
            ax.plot(*zip(*pts), marker="o", label=f"{criterion} 0.5")
        ax.set_xscale("log", base=2)
        ax.set_title(f"{arch}, {attack}")
        ax.set_xlabel("eps (x/255)")
    return _finish_panels(fig, axes, "accuracy (%)", "security curves, examples crafted white-box on the base model",
                          path)


def _transfer_heatmaps(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Source x target transfer accuracy, a row per attack: base targets (the same for every criterion), then each
    criterion's 0.5-pruned targets; one colour scale for all."""
    rows = [r for r in records if r["claim"] == "transfer_consistent" and r.get("transfer")]
    if not rows:
        return None
    import matplotlib.pyplot as plt

    attacks = sorted({r["attack"] for r in rows})
    criteria = sorted({r["criterion"] for r in rows})
    by = {(r["attack"], r["criterion"]): r for r in rows}
    archs = sorted({a for r in rows for pair in r["transfer"] for a in pair.split("->")})
    fig, axes = plt.subplots(len(attacks), 1 + len(criteria), figsize=(3.3 * (1 + len(criteria)) + 1,
                                                                          3.1 * len(attacks)), squeeze=False)
    for row_axes, attack in zip(axes, attacks):
        first = next(by[attack, c] for c in criteria if (attack, c) in by)
        im = _heatmap(row_axes[0], {pair: v["base"] for pair, v in first["transfer"].items()}, archs,
                      f"{attack}: base targets")
        for ax, c in zip(row_axes[1:], criteria):
            r = by.get((attack, c))
            _heatmap(ax, {pair: v["pruned"] for pair, v in r["transfer"].items()} if r else {}, archs,
                     f"{attack}: {c} 0.5 targets")
    fig.subplots_adjust(left=0.08, right=0.9, top=0.97, bottom=0.05, hspace=0.55, wspace=0.45)
    fig.colorbar(im, cax=fig.add_axes([0.92, 0.3, 0.015, 0.4]), label="accuracy (%)")
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _heatmap(ax, matrix: dict[str, float], archs: list[str], title: str):
    """Accuracy of each `source->target` pair, sources as rows."""
    grid = np.full((len(archs), len(archs)), np.nan)
    for pair, v in matrix.items():
        s, t = pair.split("->")
        grid[archs.index(s), archs.index(t)] = 100 * v
    im = ax.imshow(grid, vmin=0, vmax=100, cmap="viridis")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", color="white" if v < 60 else "black")
    ax.set_xticks(range(len(archs)), archs, rotation=30, fontsize=7)
    ax.set_yticks(range(len(archs)), archs, fontsize=7)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("target")
    ax.set_ylabel("source")
    return im


def _criteria_transfer_heatmaps(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Open question 3: one transfer matrix per criterion (pruned sources and targets), a row per arm and attack."""
    rows = sorted((r for r in records if r["claim"] == "criteria_transfer_agree" and r.get("matrices")),
                  key=lambda r: (r["training"], r["attack"]))
    if not rows:
        return None
    import matplotlib.pyplot as plt

    criteria = sorted({c for r in rows for c in r["matrices"]})
    archs = sorted({a for r in rows for m in r["matrices"].values() for pair in m for a in pair.split("->")})
    fig, axes = plt.subplots(len(rows), len(criteria), figsize=(4.2 * len(criteria), 3.6 * len(rows)),
                             squeeze=False, layout="constrained")
    for row_axes, r in zip(axes, rows):
        for ax, c in zip(row_axes, criteria):
            im = _heatmap(ax, r["matrices"].get(c, {}), archs, f"{r['training']}, {r['attack']}: {c} {r['ratio']:g} "
                          f"(largest difference {100 * r['value']:.1f} pp)")
        fig.colorbar(im, ax=row_axes.tolist(), label="accuracy (%)")
    fig.suptitle("transfer between architectures' pruned models, per criterion")
    return _save(fig, path)


def _adversarial_arm_vs_ratio(records: list[dict[str, Any]], path: Path) -> Path | None:
    """Open question 1: surrogate-crafted accuracy against ratio, standard arm (dashed) and adversarial arm."""
    arms = {"adversarial": [r for r in records if r["claim"] == "adv_trained_within_1pp"],
            "standard": [r for r in records if r["claim"] == "adv_within_1pp"]}
    if not arms["adversarial"]:
        return None
    attacks = {r["attack"] for r in arms["adversarial"]}
    archs = sorted({r["arch"] for r in arms["adversarial"]})
    fig, axes = _panels(len(archs))
    for ax, arch in zip(axes[0], archs):
        for arm, style in (("standard", "--"), ("adversarial", "-")):
            mine = [r for r in arms[arm] if r["arch"] == arch and r["attack"] in attacks]
            for criterion in sorted({r["criterion"] for r in mine}):
                pts = sorted((r["ratio"], 100 * r["pruned"]["value"]) for r in mine if r["criterion"] == criterion)
                base = 100 * mine[0]["base"]["value"]
                ax.plot([0.0, *(x for x, _ in pts)], [base, *(y for _, y in pts)], style, marker="o",
                        label=f"{criterion} ({arm})")
        ax.set_title(arch)
        ax.set_xlabel("pruning ratio (0: base)")
    return _finish_panels(fig, axes, f"accuracy on {', '.join(sorted(attacks))} examples (%)",
                          "open question 1: surrogate-crafted examples, standard (dashed) and adversarially trained "
                          "arms", path)


def _size_latency(records: list[dict[str, Any]], path: Path) -> Path | None:
    """IR size and median latency at each ratio, relative to the base model, per architecture and criterion."""
    sizes = [r for r in records if r["claim"] == "ir_size_cut_66" and r.get("bytes_by_ratio")]
    lats = [r for r in records if r["claim"] == "latency_gain_8pct" and r.get("median_ms_by_ratio")]
    if not sizes and not lats:
        return None
    import matplotlib.pyplot as plt

    fig, (ax_s, ax_l) = plt.subplots(1, 2, figsize=(10, 3.8))
    for r in sizes:
        pts = sorted((float(k), 100 * v / r["base_bytes"]) for k, v in r["bytes_by_ratio"].items())
        ax_s.plot(*zip(*pts), marker="o", label=f"{r['arch']} {r['criterion']}")
    for r in lats:
        pts = sorted((float(k), 100 * v / r["base_median_ms"]) for k, v in r["median_ms_by_ratio"].items())
        ax_l.plot(*zip(*pts), marker="o", label=f"{r['arch']} {r['criterion']}")
    ax_s.set_ylabel("IR size, % of base")
    ax_l.set_ylabel("median latency, % of base (batch 1)")
    for ax in (ax_s, ax_l):
        if ax.get_lines():
            ax.legend(fontsize=6, ncol=2)
        ax.set_xlabel("pruning ratio (0: control arm)")
        ax.axhline(100, color="black", linewidth=0.8)
    return _save(fig, path)


# every plot, the claims whose records it draws, and its file
PLOTS = [(_accuracy_vs_ratio, ("adv_within_1pp",), "adv_accuracy_vs_ratio.png"),
         (_security_curves, ("adv_within_1pp_over_eps",), "security_curves.png"),
         (_transfer_heatmaps, ("transfer_consistent",), "transfer_heatmaps.png"),
         (_size_latency, ("ir_size_cut_66", "latency_gain_8pct"), "size_latency.png"),
         (_adversarial_arm_vs_ratio, ("adv_trained_within_1pp", "adv_within_1pp"), "adversarial_arm_vs_ratio.png"),
         (_criteria_transfer_heatmaps, ("criteria_transfer_agree",), "criteria_transfer_heatmaps.png")]
