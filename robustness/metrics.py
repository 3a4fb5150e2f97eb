"""Metrics: accuracies with their sample size and 95% interval, and paired base-vs-pruned differences.

Base and pruned models are scored on the same images, so their difference is paired: a paired bootstrap interval
and an exact McNemar test on the discordant images, never two independent intervals.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Estimate:
    value: float
    lo: float
    hi: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{100 * self.value:.1f}% [{100 * self.lo:.1f}, {100 * self.hi:.1f}] (n={self.n})"


@dataclass(frozen=True)
class Difference(Estimate):
    """b minus a on the same images, in fractions (0.01 is one percentage point)."""

    mcnemar_p: float
    discordant: int

    def __str__(self) -> str:
        return (f"{100 * self.value:+.2f} pp [{100 * self.lo:+.2f}, {100 * self.hi:+.2f}] "
                f"(n={self.n}, McNemar p={self.mcnemar_p:.3f})")


def accuracy(correct: np.ndarray) -> Estimate:
    """Accuracy with a Wilson 95% interval."""
    correct = np.asarray(correct, dtype=bool)
    n, k = int(correct.size), int(correct.sum())
    if n == 0:
        return Estimate(float("nan"), 0.0, 1.0, 0)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return Estimate(k / n, float(ci.low), float(ci.high), n)


def paired_difference(a_correct: np.ndarray, b_correct: np.ndarray, seed: int = 0,
                      resamples: int = 2000) -> Difference:
    """Accuracy of b minus accuracy of a on the same images: paired bootstrap interval, exact McNemar test."""
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired difference needs the same images: {a.shape} vs {b.shape}")
    n = int(a.size)
    diff = b.astype(np.float64) - a.astype(np.float64)
    value = float(diff.mean()) if n else float("nan")
    b_only, a_only = int((b & ~a).sum()), int((a & ~b).sum())
    discordant = a_only + b_only
    p = float(stats.binomtest(b_only, discordant).pvalue) if discordant else 1.0
    if discordant == 0:  # every image agrees: the bootstrap has nothing to resample
        return Difference(value, value, value, n, p, 0)
    res = stats.bootstrap((diff,), np.mean, confidence_level=CONFIDENCE, n_resamples=resamples,
                          method="percentile", rng=np.random.default_rng(seed))
    return Difference(value, float(res.confidence_interval.low), float(res.confidence_interval.high), n, p,
                      discordant)


def spearman(x: list[float], y: list[float]) -> float:
    if len(x) < 3:
        return float("nan")
    return float(stats.spearmanr(x, y).statistic)


def latency_gain(base_seconds: np.ndarray, pruned_seconds: np.ndarray, seed: int = 0,
                 resamples: int = 2000) -> Estimate:
    """1 - median(pruned) / median(base) over alternating timings; the interval resamples the pairs."""
    b = np.asarray(base_seconds, dtype=np.float64)
    p = np.asarray(pruned_seconds, dtype=np.float64)

    def gain(bb, pp, axis=-1):
        return 1 - np.median(pp, axis=axis) / np.median(bb, axis=axis)

    value = float(gain(b, p))
    res = stats.bootstrap((b, p), gain, paired=True, vectorized=True, confidence_level=CONFIDENCE,
                          n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed))
    return Estimate(value, float(res.confidence_interval.low), float(res.confidence_interval.high), int(b.size))
