"""Report: results.json (one record per measurement), report.md with the verdict table, for every claims run."""

from __future__ import annotations

import json
import os
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from filelock import FileLock

from robustness import metrics, plots
from robustness.claims import (
    PAPER,
    VERDICTS,
    allowed,
    claim_table,
    fmt_value,
    get_claim,
    narrowest_half_width,
    side,
    stamps,
)
from robustness.errors import UsageError
from robustness.profiles import Profile
from robustness.report.sections import (  # noqa: F401 (the report's names, as before the split)
    _acc,
    _measured,
    _pct,
    compression_lines,
    gate_lines,
    latency_lines,
    means_lines,
    open_question_lines,
    other_lines,
    parity_lines,
    transfer_lines,
)
from robustness.store import library_versions
from robustness.validation import no_symlink, read_json


def collect(records_dir: Path) -> list[dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in sorted(records_dir.glob("*.json"))
               if not p.name.startswith("gate-")]
    return sorted(records, key=lambda r: (r["claim"], r["cell"]))


def collect_gates(records_dir: Path) -> list[dict[str, Any]]:
    """The gate verdicts of a run (robustness.thresholds, the snapshot gate), one per gate test."""
    return sorted((json.loads(p.read_text()) for p in records_dir.glob("gate-*.json")),
                  key=lambda r: (r["test"], str(r.get("gate")), str(r.get("model"))))


def gate_error_record(test: str, profile: Profile, why: str) -> dict[str, Any]:
    """A gate test that crashed before it recorded its verdict: it stays in the gate table as an error."""
    return {"kind": "gate", "test": test, "gate": test.rsplit("::", 1)[-1], "model": "-", "profile": profile.name,
            "profile_hash": profile.hash, "verdict": "error", "fails": True, "message": f"{test}: error: {why}"}




def _merge_gates(gates: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """This run's gate verdicts over the folder's earlier ones, test by test."""
    path = out / "results.json"
    data = read_json(path, "move it aside or restore it from version control (the next run writes a new one)") \
        if path.exists() else {}
    old = data.get("gates", []) if isinstance(data, dict) else []
    def key(g: dict[str, Any]) -> tuple[str, str, str]:
        return g["test"], str(g.get("gate")), str(g.get("model"))

    merged = {key(g): g for g in old}
    merged.update({key(g): g for g in gates})
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
              *compression_lines(mine),
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

