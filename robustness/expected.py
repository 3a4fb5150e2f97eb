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
from robustness.validation import read_json

PATH = Path(__file__).with_name("expected_failures.json")


def key(claim_id: str, cell_id: str) -> str:
    return f"{claim_id}[{cell_id}]"


FIX = ("resolve its merge conflict, or restore it from version control (git checkout -- "
       "robustness/expected_failures.json) and record again with `python -m robustness expected --update`")


def load(path: Path | None = None) -> dict[str, Any]:
    path = path or PATH
    if not path.exists():
        return {}
    st = path.stat()
    return dict(_parsed(str(path), st.st_mtime_ns, st.st_size))


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
    data = read_json(Path(path), FIX)
    if not isinstance(data, dict) or not all(isinstance(e, dict) for e in data.values()):
        raise UsageError(f"{path} is not a table of expected failures by profile hash: {FIX}")
    return data


def update(results_json: Path, path: Path | None = None) -> tuple[str, int]:
    """Record every `not reproduced` cell of a results.json under its profile's hash; other profiles' entries
    stay, an older hash of the same profile goes (its cells can no longer run). Returns the hash and the number
    of cells recorded."""
    try:
        results = read_json(Path(results_json), "run the claims again (`pytest -m claims`) to write it anew")
    except FileNotFoundError:
        raise UsageError(f"{results_json} does not exist: run `pytest -m claims` for this profile first") from None
    if not isinstance(results, dict) or not isinstance(results.get("profile"), dict) \
            or not isinstance(results.get("records"), list):
        raise UsageError(f"{results_json} is not a claims run's results.json: run `pytest -m claims` again")
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
    try:
        path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write {path} ({exc.strerror or exc}): make it writable (it lives in the "
                         "project's checkout; a package installed read-only cannot record)") from None
    return digest, len(cells)
