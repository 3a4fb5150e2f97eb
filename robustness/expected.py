"""Expected failures: the confirmed non-reproductions of a profile, as data written from a run by
`python -m robustness expected --update`, never by hand (the way PyTorch keeps ci_expected_accuracy).

Keyed by the profile's hash, so a profile with any field overridden inherits none. Per cell: the measured value,
interval and n. A listed cell's test passes only while it fails by the claim's own assertion with an interval
that overlaps the recorded one on the same side of the bound (robustness.claims.check).
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path
from typing import Any

from robustness.errors import UsageError
from robustness.profiles import Profile

PATH = Path(__file__).with_name("expected_failures.json")


def key(claim_id: str, cell_id: str) -> str:
    return f"{claim_id}[{cell_id}]"


def load(path: Path | None = None) -> dict[str, Any]:
    path = path or PATH
    return json.loads(path.read_text()) if path.exists() else {}


def for_profile(profile: Profile, path: Path | None = None) -> dict[str, dict[str, Any]]:
    """`claim[cell]` -> {value, interval, n} recorded for exactly this profile (its hash); read-only, parsed once
    per process and file version (every claim test asks for its cell's entry)."""
    path = path or PATH
    if not path.exists():
        return {}
    st = path.stat()
    return _parsed(str(path), st.st_mtime_ns, st.st_size).get(profile.hash, {}).get("cells", {})


@functools.lru_cache(maxsize=4)
def _parsed(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def update(results_json: Path, path: Path | None = None) -> tuple[str, int]:
    """Record every `not reproduced` cell of a results.json under its profile's hash; other profiles' entries
    stay, an older hash of the same profile goes (its cells can no longer run). Returns the hash and the number
    of cells recorded."""
    try:
        results = json.loads(Path(results_json).read_text())
    except FileNotFoundError:
        raise UsageError(f"{results_json} does not exist: run `pytest -m claims` for this profile first") from None
    profile = results["profile"]
    digest = results.get("profile_hash")
    if not digest:
        raise UsageError(f"{results_json} has no profile hash (written by an older version): run the claims again")
    cells = {key(r["claim"], r["cell"]): {"value": r["value"], "interval": r["interval"], "n": r["n"]}
             for r in results["records"] if r["verdict"] == "not reproduced"}
    path = path or PATH
    data = {h: e for h, e in load(path).items() if e.get("profile") != profile["name"] or h == digest}
    data[digest] = {"profile": profile["name"], "written": time.strftime("%Y-%m-%d"),
                    "from": f"{results_json} ({len(results['records'])} cells)", "cells": dict(sorted(cells.items()))}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return digest, len(cells)
