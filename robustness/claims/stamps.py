"""Stamps: the run, commit, time and code a record comes from. results.json merges the records of many runs
(`-k latency` updates its cells and keeps the rest), so a record says which code measured it, and the report and
`python -m robustness expected --update` set apart the records of code other than the current one.

The code version is a digest of what decides a record: the stage versions (what built its artifacts) and the
syntax trees of the claims, compression-method and metrics code (which models a record compares, what measured
and decided it; docstrings and comments aside)."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the project's checkout, when it is one
VERDICT_CODE = ("robustness.claims", "robustness.compression", "robustness.metrics")  # what picks, measures, decides


@functools.lru_cache(maxsize=1)
def stage_versions() -> dict[str, int]:
    from robustness import stages

    return {unit: int(entry["version"]) for unit, entry in sorted(stages.recorded().items())}


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Digest of the stage versions and the verdict code's syntax trees: equal for records of the same code."""
    from robustness import stages

    what = {"stages": stage_versions(), **{unit: stages.fingerprint(unit) for unit in VERDICT_CODE}}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:12]


@functools.lru_cache(maxsize=4)
def commit(root: Path = ROOT) -> str | None:
    """The checkout's commit, with "+dirty" when tracked files changed; None outside git (never an error)."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):  # no git on this machine, or it hung
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def stamp(run_id: str) -> dict[str, Any]:
    return {"run": run_id, "commit": commit(), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "code": code_version(), "stages": stage_versions()}


def of(record: dict[str, Any]) -> str | None:
    """The code version a record was measured by (None: written before records carried stamps)."""
    return (record.get("stamp") or {}).get("code")
