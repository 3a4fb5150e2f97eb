"""Metrics: accuracies with their sample size and 95% interval, and paired base-vs-pruned differences.

Base and pruned models are scored on the same images, so their difference is paired: a score interval for paired
proportions and an exact McNemar test on the discordant images, never two independent intervals. A bootstrap
would not do: when no image disagrees it returns [0, 0], yet 0 of 256 discordant pairs still allow a true
difference of more than a point.
"""

from __future__ import annotations

import functools
import warnings
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
    return Estimate(k / n, *_wilson(k, n), n)


@functools.lru_cache(maxsize=65536)
def _wilson(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(ci.low), float(ci.high)


# Tango's score interval with a continuity correction of half an image: its exact coverage stays at or above 95%
# for n = 64 and 256 and discordance rates from 0 to 20% (tests/test_metrics.py enumerates it); without the
# correction it dips to 93.7%, Newcombe's hybrid score interval to 92.3%.
CONTINUITY = 0.5


def paired_interval(b_only: np.ndarray, a_only: np.ndarray, n: np.ndarray | int,
                    confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """Interval for (b_only - a_only) / n, the difference of paired proportions (Tango 1998, score test with
    the nuisance rate at its restricted maximum likelihood), found by bisection; vectorised over tables."""
    b, c, n = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b_only, a_only, n)))
    z = stats.norm.ppf(0.5 + confidence / 2)
    bounds = []
    for target, shift in ((z, -CONTINUITY), (-z, CONTINUITY)):  # the score falls as delta grows
        lo, hi = np.full(b.shape, -1.0), np.full(b.shape, 1.0)
        for _ in range(50):
            d = (lo + hi) / 2
            w = -b - c + (2 * n - b + c) * d
            q = (np.sqrt(np.maximum(w**2 + 8 * n * c * d * (1 - d), 0)) - w) / (4 * n)
            score = (b - c - n * d + shift) / np.sqrt(np.maximum(n * (2 * q + d * (1 - d)), 1e-300))
            right = score > target
            lo, hi = np.where(right, d, lo), np.where(right, hi, d)
        bounds.append((lo + hi) / 2)
    return bounds[0], bounds[1]


@functools.lru_cache(maxsize=65536)
def paired_bounds(b_only: int, a_only: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """paired_interval of one table, remembered: a claims run asks for the same tables again and again (the
    bisection costs 2 ms in numpy for a single table)."""
    lo, hi = paired_interval(b_only, a_only, n, confidence)
    return float(lo), float(hi)


def narrowest_half_width(n: int, comparisons: int = 1) -> float:
    """The half-width of the paired interval when no image disagrees: no paired comparison on n images can show
    a bound tighter than this (1.8 points at n = 256; wider for several pairs at Bonferroni level)."""
    return paired_bounds(0, 0, n, 1 - (1 - CONFIDENCE) / comparisons)[1] if n else float("inf")


def paired_difference(a_correct: np.ndarray, b_correct: np.ndarray) -> Difference:
    """Accuracy of b minus accuracy of a on the same images: paired score interval, exact McNemar test."""
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"paired difference needs the same images: {a.shape} vs {b.shape}")
    n = int(a.size)
    if n == 0:
        raise ValueError("paired difference of no images")
    b_only, a_only = int((b & ~a).sum()), int((a & ~b).sum())
    discordant = a_only + b_only
    p = _mcnemar_p(b_only, discordant) if discordant else 1.0
    lo, hi = paired_bounds(b_only, a_only, n)
    return Difference((b_only - a_only) / n, lo, hi, n, p, discordant)


@functools.lru_cache(maxsize=65536)
def _mcnemar_p(b_only: int, discordant: int) -> float:
    """The exact McNemar test: the discordant pairs' split under a fair coin."""
    return float(stats.binomtest(b_only, discordant).pvalue)


def difference_of_differences(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> Estimate:
    """(b[1] - b[0]) - (a[1] - a[0]): two paired differences on the same images (say, pruned minus control in two
    training arms), compared. Each difference gets its paired score interval at Bonferroni level (97.5%); when
    both cover, the difference of differences lies between their extremes, so coverage is at least 95% even
    where few images disagree (where a bootstrap of per-image differences collapses)."""
    level = 1 - (1 - CONFIDENCE) / 2
    parts = []
    for first, second in (a, b):
        f, s = np.asarray(first, dtype=bool), np.asarray(second, dtype=bool)
        if f.shape != s.shape or f.size == 0:
            raise ValueError(f"a paired difference needs the same, non-empty images: {f.shape} vs {s.shape}")
        lo, hi = paired_bounds(int((s & ~f).sum()), int((f & ~s).sum()), f.size, level)
        parts.append((float(s.mean() - f.mean()), lo, hi, f.size))
    (va, la, ha, na), (vb, lb, hb, nb) = parts
    if na != nb:
        raise ValueError(f"the two differences are on {na} and {nb} images: compare them on the same images")
    return Estimate(vb - va, lb - ha, hb - la, na)


def range_difference(correct: dict[str, np.ndarray]) -> Estimate:
    """Largest minus smallest accuracy across k models on the same images, with a 95% interval built from the
    paired intervals of all k(k-1)/2 pairs at Bonferroni level: when every pair's interval covers its difference,
    the range max|d_ij| lies between the largest distance of an interval from 0 and the largest |bound|.

    Not a bootstrap of the range: fixing the extreme pair after seeing the data covers too seldom, and
    bootstrapping the range itself is biased at the bound (a true 2-point range was called above 2 points in 10%
    of simulated draws). tests/test_metrics.py checks this method's coverage and its error at the bound."""
    names = list(correct)
    m = {k: np.asarray(v, dtype=bool) for k, v in correct.items()}
    n = len(next(iter(m.values())))
    means = [float(v.mean()) for v in m.values()]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    level = 1 - (1 - CONFIDENCE) / max(len(pairs), 1)
    lo_all, hi_all = 0.0, 0.0
    for a, b in pairs:
        lo, hi = paired_bounds(int((m[b] & ~m[a]).sum()), int((m[a] & ~m[b]).sum()), n, level)
        lo_all = max(lo_all, 0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)))
        hi_all = max(hi_all, abs(lo), abs(hi))
    return Estimate(max(means) - min(means), lo_all, hi_all, n)


def benjamini_hochberg(p_values: list[float]) -> list[float]:
    """Adjusted p-values (q-values) controlling the false-discovery rate over one claim's cells."""
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        return []
    order = np.argsort(p)
    ranked = p[order] * p.size / np.arange(1, p.size + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1].clip(max=1)
    out = np.empty_like(q)
    out[order] = q
    return out.tolist()


def spearman(x: list[float], y: list[float]) -> float:
    columns = (np.asarray(v, dtype=np.float64).reshape(-1, 1) for v in (x, y))
    return float(spearman_columns(*columns)[0])


def spearman_columns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each column of x with the same column of y: scipy's Pearson r of the ranks, column by
    column, as scipy.stats.spearmanr computes it (nan for fewer than 3 rows or a constant column). A bootstrap
    draws a thousand of them: spearmanr on two matrices correlates every column with every other, and one call
    per column took half a millisecond."""
    if x.shape[0] < 3:
        return np.full(x.shape[1], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # a constant column's rho is nan, as spearmanr's
        return stats.pearsonr(stats.rankdata(x, axis=0), stats.rankdata(y, axis=0), axis=0).statistic


def resample_counts(n: int, resamples: int, seed: int = 0) -> np.ndarray:
    """Bootstrap resamples of n images as counts (images x resamples): a mean over resampled images is then one
    matrix product, the same sums the resampled rows would give."""
    rng = np.random.default_rng(seed)
    return np.array([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(resamples)],
                    dtype=np.float64).T.reshape(n, resamples)


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


def latency_gain_net(base_seconds: np.ndarray, pruned_seconds: np.ndarray, control_seconds: np.ndarray,
                     seed: int = 0, resamples: int = 2000) -> Estimate:
    """The pruned IR's latency gain minus the control arm's, both over the base: the control arm is the base
    architecture, so its gain is what the measurement gives without pruning. Rounds are resampled jointly."""
    b, p, c = (np.asarray(a, dtype=np.float64) for a in (base_seconds, pruned_seconds, control_seconds))

    def net(bb, pp, cc, axis=-1):
        return (np.median(cc, axis=axis) - np.median(pp, axis=axis)) / np.median(bb, axis=axis)

    value = float(net(b, p, c))
    res = stats.bootstrap((b, p, c), net, paired=True, vectorized=True, confidence_level=CONFIDENCE,
                          n_resamples=resamples, method="percentile", rng=np.random.default_rng(seed))
    return Estimate(value, float(res.confidence_interval.low), float(res.confidence_interval.high), int(b.size))


def median_precision(seconds: list[float] | np.ndarray) -> float:
    """Half the width of the median's distribution-free 95% interval (order statistics), relative to the median:
    how well a run of timings already knows its median, whatever their distribution."""
    x = np.asarray(seconds, dtype=np.float64)
    median = float(np.median(x))
    ci = stats.quantile_test(x, q=median, p=0.5).confidence_interval(CONFIDENCE)
    return float(ci.high - ci.low) / (2 * median) if median > 0 else float("inf")


def n_to_decide(b_only: int, a_only: int, n: int, bound: float, limit: int = 10_000_000) -> int | None:
    """The number of images at which a paired interval with the same discordance rates (b_only and a_only per n)
    would no longer straddle `bound`: what an inconclusive gate needs to be decided. None when the measured
    difference sits on the bound (no n decides it) or beyond `limit`."""
    d = (b_only - a_only) / n
    if abs(d - bound) < 1e-12:
        return None

    def decided(m: float) -> bool:
        lo, hi = paired_interval(b_only * m / n, a_only * m / n, m)
        return bool(hi <= bound or lo > bound)

    lo, hi = float(n), float(n)
    while not decided(hi):
        lo, hi = hi, hi * 2
        if hi > limit:
            return None
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if decided(mid) else (mid, hi)
    return int(np.ceil(hi))
