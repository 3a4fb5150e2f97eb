"""Expected verdicts: every cell's verdict, value, interval and n for a profile, as data written from a run by
`python -m robustness expected --update`, never by hand (the way PyTorch keeps ci_expected_accuracy). The
recorded `not reproduced` cells are the expected failures: strict xfails that wait for the claim's own assertion.

Keyed by the profile's hash, so a profile with any field overridden inherits none. A recorded cell's test fails
when its verdict changes (a reproduction that became inconclusive too) or its finding moves: each point value must
lie inside the other's interval (robustness.claims.check). Entries without a verdict (written before every verdict
was recorded) are non-reproductions. Errors are never recorded: a crash is never expected. Only records measured
by the current code (their stamps) are recorded; results.json mixing in others is refused.
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
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


def update(results_json: Path, path: Path | None = None) -> tuple[str, Counter]:
    """Record every cell of a results.json (verdict, value, interval, n; errors left out) under its profile's hash;
    other profiles' entries stay, an older hash of the same profile goes (its cells can no longer run). Refused
    when a record was measured by other code than the current one. Returns the hash and the count per verdict."""
    from robustness.claims import stamps

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
    version = stamps.code_version()
    stale = [r for r in results["records"] if stamps.of(r) != version]
    if stale:
        claims = sorted({r["claim"] for r in stale})
        raise UsageError(f"{len(stale)} records of {results_json} were measured by other code than this "
                         f"({version}; they are of {', '.join(sorted({stamps.of(r) or 'none' for r in stale}))}), "
                         f"claims {', '.join(claims)}: run them again (`pytest -m claims`) before recording")
    cells = {key(r["claim"], r["cell"]): {"verdict": r["verdict"], "value": r["value"], "interval": r["interval"],
                                         "n": r["n"]}
             for r in results["records"] if r["verdict"] != "error"}
    path = path or PATH
    data = {h: e for h, e in load(path).items() if e.get("profile") != profile["name"] or h == digest}
    data[digest] = {"profile": profile["name"], "written": time.strftime("%Y-%m-%d"), "code": version,
                    "from": f"{results_json} ({len(results['records'])} cells)", "cells": dict(sorted(cells.items()))}
    try:
        path.write_text(_dumps(data))
    except OSError as exc:
        raise UsageError(f"cannot write {path} ({exc.strerror or exc}): make it writable (it lives in the "
                         "project's checkout; a package installed read-only cannot record)") from None
    return digest, Counter(e["verdict"] for e in cells.values())


def _dumps(data: dict[str, Any]) -> str:
    """JSON with one cell per line, so that a change of expected verdicts reads as a diff of the lines changed."""
    out = ["{"]
    for i, (digest, entry) in enumerate(sorted(data.items())):
        head = {k: v for k, v in entry.items() if k != "cells"}
        out.append(f" {json.dumps(digest)}: {{")
        out += [f"  {json.dumps(k)}: {json.dumps(v)}," for k, v in sorted(head.items())]
        cells = sorted(entry.get("cells", {}).items())
        out.append('  "cells": {' + ("" if cells else "}"))
        out += [f"   {json.dumps(c)}: {json.dumps(v, sort_keys=True)}{',' if j < len(cells) - 1 else ''}"
                for j, (c, v) in enumerate(cells)]
        if cells:
            out.append("  }")
        out.append(" }" + ("," if i < len(data) - 1 else ""))
    return "\n".join(out) + "\n}\n"
