"""Report: results.json (one record per measurement), report.md with the verdict table, for every claims run."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robustness.claims import PAPER, claim_table
from robustness.store import library_versions

VERDICTS = ["reproduced", "consistent", "not reproduced"]


def collect(records_dir: Path) -> list[dict[str, Any]]:
    records = [json.loads(p.read_text()) for p in sorted(records_dir.glob("*.json"))]
    return sorted(records, key=lambda r: (r["claim"], r["cell"]))


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per claim: how many cells gave each verdict."""
    rows = []
    for claim in sorted({r["claim"] for r in records}):
        cells = [r for r in records if r["claim"] == claim]
        counts = Counter(r["verdict"] for r in cells)
        values = [r["value"] for r in cells]
        rows.append({"claim": claim, "cells": len(cells), **{v: counts.get(v, 0) for v in VERDICTS},
                     "min": min(values), "max": max(values)})
    return rows


def _pct(v: float) -> str:
    return f"{100 * v:+.2f}"


def write(records: list[dict[str, Any]], out: Path, profile: dict[str, Any]) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"paper": PAPER, "profile": profile,
                                                  "versions": library_versions(), "claims": claim_table(),
                                                  "records": records}, indent=1, sort_keys=True, default=str))
    lines = [f"# Claims of {PAPER}", "",
             f"Profile `{profile['name']}` (dataset {profile['dataset']}): {profile.get('notes', '')}. "
             "A verdict from a profile other than `paper` is not a CIFAR result.", "",
             "| claim | cells | reproduced | consistent | not reproduced | measured range (pp or %) |",
             "|---|---|---|---|---|---|"]
    for row in summary(records):
        lines.append(f"| {row['claim']} | {row['cells']} | {row['reproduced']} | {row['consistent']} | "
                     f"{row['not reproduced']} | {_pct(row['min'])} .. {_pct(row['max'])} |")
    lines += ["", "`reproduced`: the 95% interval lies inside the bound; `consistent`: the measured value does "
              "but the interval is wider; `not reproduced`: the measured value lies outside the bound.", "",
              "## Every cell", "", "| claim | cell | n | measured | 95% interval | verdict |",
              "|---|---|---|---|---|---|"]
    for r in records:
        lo, hi = r["interval"]
        lines.append(f"| {r['claim']} | {r['cell']} | {r['n']} | {_pct(r['value'])} | "
                     f"[{_pct(lo)}, {_pct(hi)}] | {r['verdict']} |")
    plots = plot(records, out)
    if plots:
        lines[4:4] = [" ".join(f"![{p.stem}]({p.name})" for p in plots), ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out


def plot(records: list[dict[str, Any]], out: Path) -> list[Path]:
    """Adversarial accuracy against pruning ratio, one panel per architecture, one line per criterion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adv = [r for r in records if r["claim"] == "adv_within_1pp"]
    if not adv:
        return []
    archs = sorted({r["arch"] for r in adv})
    fig, axes = plt.subplots(1, len(archs), figsize=(4 * len(archs), 3.4), squeeze=False, sharey=True)
    pruned: dict[tuple, list[float]] = defaultdict(list)  # (arch, criterion) -> [(ratio, accuracy)]
    base: dict[str, list[float]] = defaultdict(list)
    for r in adv:
        pruned[r["arch"], r["criterion"]].append((r["ratio"], r["pruned"]["value"]))
        base[r["arch"]].append(r["base"]["value"])
    for ax, arch in zip(axes[0], archs):
        ax.axhline(100 * np.mean(base[arch]), color="black", linestyle="--", label="base")
        for criterion in sorted(c for a, c in pruned if a == arch):
            by_ratio: dict[float, list[float]] = defaultdict(list)
            for ratio, acc in pruned[arch, criterion]:
                by_ratio[ratio].append(acc)
            ratios = sorted(by_ratio)
            ax.plot(ratios, [100 * np.mean(by_ratio[x]) for x in ratios], marker="o", label=criterion)
        ax.set_title(arch)
        ax.set_xlabel("pruning ratio")
    axes[0][0].set_ylabel("adversarial accuracy, mean over attacks (%)")
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("surrogate-crafted examples: pruned vs base")
    fig.tight_layout()
    path = out / "adv_accuracy_vs_ratio.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [path]
