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

from robustness import metrics, plots
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
    written = ["results.json", "report.md", LOCK, *(name for *_, name in plots.PLOTS),
               *(f".{name}.sha256" for *_, name in plots.PLOTS)]
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
    drawn = plots.draw([r for r in mine if r["verdict"] != "error"], out)
    if drawn:
        lines[plots_at:plots_at] = [" ".join(f"![{p.stem}]({p.name})" for p in drawn), ""]
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
