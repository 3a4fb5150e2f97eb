"""Gate thresholds a team sets for its own models, e.g. "pruned PGD accuracy at 8/255 may not drop more than 2
points below base". They live in the profile file as `[[threshold]]` tables beside the profile's fields.

A threshold fails on the measured drop (as a claim does on its measured value); the paired 95% interval and n
are in every message, so a failure near the bound can be told from a clear one.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.errors import UsageError
from robustness.profiles import ATTACKS, SOURCES, Profile, _number

if TYPE_CHECKING:  # reading thresholds (at collection) must not import torch
    from robustness.pipeline import ModelRef
    from robustness.store import Artifact, Store

METRICS = ["adversarial", "clean"]


@dataclass(frozen=True)
class Threshold:
    max_drop: float  # base accuracy minus pruned accuracy may be at most this (0.02: two points)
    metric: str = "adversarial"
    attack: str = "pgd"
    source: str = "base"  # who the examples are crafted on: base, surrogate or pruned (the pruned model itself)
    eps: float | None = None  # None: the profile's eps

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise UsageError(f"unknown threshold metric {self.metric!r}: choose from {', '.join(METRICS)}")
        if self.attack not in ATTACKS:
            raise UsageError(f"unknown attack {self.attack!r} in a threshold: choose from {', '.join(ATTACKS)}")
        if self.source not in SOURCES:
            raise UsageError(f"unknown source {self.source!r} in a threshold: choose from {', '.join(SOURCES)}")
        if self.eps is not None and not 0 <= self.eps <= 1:
            raise UsageError(f"threshold eps {self.eps} is outside [0, 1]: eps is Linf in [0,1] pixel space")
        if not -1 <= self.max_drop <= 1:
            raise UsageError(f"threshold max_drop {self.max_drop} is outside [-1, 1]: it is a fraction, 0.02 is "
                             "two points")

    @property
    def id(self) -> str:
        if self.metric == "clean":
            return f"clean-drop{100 * self.max_drop:g}pp"
        eps = "" if self.eps is None else f"-eps{round(255 * self.eps, 2):g}"
        return f"{self.source}-{self.attack}{eps}-drop{100 * self.max_drop:g}pp"


def load_thresholds(profile_file: str | Path | None) -> list[Threshold]:
    """The `[[threshold]]` tables of a profile file (none without a file)."""
    if profile_file is None:
        return []
    path = Path(profile_file)
    try:
        tables = tomllib.loads(path.read_text()).get("threshold", [])
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"profile file {path} cannot be read ({exc}): fix it or give another") from None
    if not isinstance(tables, list):
        raise UsageError(f"{path}: write thresholds as [[threshold]] tables")
    valid = sorted(f.name for f in fields(Threshold))
    out = []
    for i, table in enumerate(tables, 1):
        unknown = sorted(set(table) - set(valid))
        if unknown or "max_drop" not in table:
            raise UsageError(f"{path}: threshold {i} has unknown fields {unknown} or lacks max_drop: valid fields "
                             f"are {', '.join(valid)}")
        try:
            values = {k: (_number(v) if k in ("max_drop", "eps") else str(v)) for k, v in table.items()}
        except ValueError:
            raise UsageError(f"{path}: threshold {i}: max_drop and eps are numbers such as 0.02 or 8/255") from None
        out.append(Threshold(**values))
    return out


def check(threshold: Threshold, store: Store, profile: Profile, ds: Artifact, base: ModelRef,
          pruned: ModelRef) -> dict[str, Any]:
    """Measure one threshold on one pruned model; the record says `pass` or `fail` and why."""
    from robustness import metrics, pipeline

    if threshold.metric == "clean":
        on_base = on_pruned = ds
        part, what = "test", "clean test images"
    else:
        part = "adv"
        on_base, on_pruned = pipeline.faced_sets(store, profile, ds, base, pruned, threshold.source,
                                                 threshold.attack, threshold.eps)
        crafted = ("white-box on each model itself" if threshold.source == "pruned"
                   else f"on the {threshold.source} model")
        eps = on_pruned.spec["eps"]
        what = f"{threshold.attack} examples{f' at eps {255 * eps:g}/255' if eps is not None else ''} crafted " \
               f"{crafted}"
    b = pipeline.correct(store, base, on_base, part)
    ok = pipeline.correct(store, pruned, on_pruned, part)
    diff = metrics.paired_difference(b, ok)
    drop = -diff.value
    verdict = "pass" if drop <= threshold.max_drop else "fail"
    message = (f"gate {threshold.id} on {pruned.name}: {verdict}: accuracy {metrics.accuracy(ok)} vs base "
               f"{metrics.accuracy(b)}, drop {100 * drop:+.2f} pp [{-100 * diff.hi:+.2f}, {-100 * diff.lo:+.2f}] "
               f"(paired 95%), allowed {100 * threshold.max_drop:.2f} pp; n={diff.n} {what}")
    return {"threshold": asdict(threshold), "id": threshold.id, "model": pruned.name, "base_model": base.name,
            "n": diff.n, "drop": drop, "interval": [-diff.hi, -diff.lo], "base": metrics.accuracy(b).to_dict(),
            "pruned": metrics.accuracy(ok).to_dict(), "verdict": verdict, "message": message}

