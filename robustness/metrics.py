"""Metrics: accuracies with their sample size and 95% interval, and paired base-vs-pruned differences.

Base and pruned models are scored on the same images, so their difference is paired: a score interval for paired
proportions and an exact McNemar test on the discordant images, never two independent intervals. A bootstrap
would not do: when no image disagrees it returns [0, 0], yet 0 of 256 discordant pairs still allow a true
difference of more than a point.

Several comparisons at once (the pairs of a transfer pattern, the criteria of one model) take every pair's score
interval at Bonferroni level; a mean over cells that share their images (the pooled claims) takes the score
interval of the pooled table with its variance corrected for the cells' correlation on each image. Each gives the
p-value against an edge of a bound from the same score test (p_bound), so a bound is tested as the interval
decides it.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Callable

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
    b_only: int = 0  # images only b got right
    a_only: int = 0  # images only a got right

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
# for n = 64, 256 and 540 and discordance rates from 0 to 40% (tests/test_metrics.py enumerates every table);
# without the correction it dips to 93.7%, Newcombe's hybrid score interval to 92.3%.
CONTINUITY = 0.5


def _tango_score(b: np.ndarray, c: np.ndarray, n: np.ndarray, d: np.ndarray, shift: float) -> np.ndarray:
    """Tango's score statistic for a difference d of paired proportions, (b_only - a_only) / n, with the nuisance
    rate at its restricted maximum likelihood; `shift` is the continuity correction, in images."""
    w = -b - c + (2 * n - b + c) * d
    q = (np.sqrt(np.maximum(w**2 + 8 * n * c * d * (1 - d), 0)) - w) / (4 * n)
    return (b - c - n * d + shift) / np.sqrt(np.maximum(n * (2 * q + d * (1 - d)), 1e-300))


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
            right = _tango_score(b, c, n, d, shift) > target
            lo, hi = np.where(right, d, lo), np.where(right, hi, d)
        bounds.append((lo + hi) / 2)
    return bounds[0], bounds[1]


def p_beyond(b_only: float, a_only: float, n: float, edge: float, above: bool) -> float:
    """One-sided p-value of Tango's score test, with the interval's continuity correction, that the difference
    lies beyond `edge`: above (null: difference <= edge) or below (null: difference >= edge). The 95% interval's
    lower end lies above `edge` exactly when this p (above) is under 2.5%; counts may be fractional."""
    if not -1 < edge < 1:  # no difference of proportions lies beyond -1 or 1
        return 1.0
    b, c, m, d = (np.float64(v) for v in (b_only, a_only, n, edge))
    if above:
        return float(stats.norm.sf(_tango_score(b, c, m, d, -CONTINUITY)))
    return float(stats.norm.cdf(_tango_score(b, c, m, d, CONTINUITY)))


def p_bound(tables: list[list[float]], lo_edge: float, hi_edge: float) -> float:
    """The one-sided p-value against the nearer edge of an allowed region [lo_edge, hi_edge] (either may be
    infinite), for an interval made of paired score intervals at Bonferroni level: each table is
    (b_only, a_only, n, comparisons), and the interval lies wholly outside the region exactly when some table's
    interval does at its level, so p = min over tables of comparisons x p (at most 1)."""
    ps = []
    for b, c, n, m in tables:
        est = (b - c) / n
        if np.isinf(hi_edge) or (np.isfinite(lo_edge) and est - lo_edge < hi_edge - est):
            p = p_beyond(b, c, n, lo_edge, above=False)
        else:
            p = p_beyond(b, c, n, hi_edge, above=True)
        ps.append(min(1.0, m * p))
    return min(ps) if ps else 1.0


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
    return Difference((b_only - a_only) / n, lo, hi, n, p, discordant, b_only, a_only)


@functools.lru_cache(maxsize=65536)
def _mcnemar_p(b_only: int, discordant: int) -> float:
    """The exact McNemar test: the discordant pairs' split under a fair coin."""
    return float(stats.binomtest(b_only, discordant).pvalue)


def _tables(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int]:
    """b only right, a only right, images: the paired table of b against a."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"a paired difference needs the same, non-empty images: {a.shape} vs {b.shape}")
    return int((b & ~a).sum()), int((a & ~b).sum()), int(a.size)


def difference_of_differences(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                              confidence: float = CONFIDENCE) -> Estimate:
    """(b[1] - b[0]) - (a[1] - a[0]): two paired differences on the same images (say, pruned minus control in two
    training arms), compared. Each difference gets its paired score interval at Bonferroni level (97.5%); when
    both cover, the difference of differences lies between their extremes, so coverage is at least 95% even
    where few images disagree (where a bootstrap of per-image differences collapses)."""
    level = 1 - (1 - confidence) / 2
    parts = []
    for first, second in (a, b):
        b_only, a_only, n = _tables(first, second)
        lo, hi = paired_interval(b_only, a_only, n, level) if confidence != CONFIDENCE \
            else paired_bounds(b_only, a_only, n, level)
        parts.append(((b_only - a_only) / n, float(lo), float(hi), n))
    (va, la, ha, na), (vb, lb, hb, nb) = parts
    if na != nb:
        raise ValueError(f"the two differences are on {na} and {nb} images: compare them on the same images")
    return Estimate(vb - va, lb - ha, hb - la, na)


def inverted_p(interval: Callable[[float], tuple[float, float]], value: float, lo_edge: float,
               hi_edge: float) -> float:
    """One-sided p-value against the nearer edge of [lo_edge, hi_edge] for any interval method that takes a
    confidence level: half the level at which the interval's near end meets the edge (so the 95% interval lies
    wholly beyond it exactly when p < 2.5%), found by bisection."""
    if np.isinf(hi_edge) or (np.isfinite(lo_edge) and value - lo_edge < hi_edge - value):
        edge, beyond = lo_edge, (lambda c: interval(c)[1] < lo_edge)
    else:
        edge, beyond = hi_edge, (lambda c: interval(c)[0] > hi_edge)
    if not np.isfinite(edge):
        return 1.0
    lo, hi = 0.0, 1.0 - 1e-12  # confidence levels: beyond at lo (a point), not beyond at hi (everything)
    if not beyond(1e-9):
        return 0.5
    if beyond(hi):
        return (1 - hi) / 2
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if beyond(mid) else (lo, mid)
    return (1 - hi) / 2


@dataclass(frozen=True)
class Simultaneous(Estimate):
    """The largest absolute difference among several paired comparisons on the same images, with the paired
    tables its interval was built from: (b_only, a_only, n, comparisons) each."""

    tables: tuple[tuple[int, int, int, int], ...] = ()


def largest_paired_difference(pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Simultaneous:
    """max |b - a| over named pairs of models scored on the same images, with a 95% interval from the paired score
    intervals of all pairs at Bonferroni level: when every pair's interval covers its difference, the largest
    |difference| lies between the largest distance of an interval from 0 and the largest |bound|."""
    tables = np.array([_tables(a, b) for a, b in pairs.values()], dtype=np.int64).reshape(-1, 3)
    m = len(tables)
    if not m:
        raise ValueError("the largest difference of no pairs")
    lo, hi = paired_interval(tables[:, 0], tables[:, 1], tables[:, 2], 1 - (1 - CONFIDENCE) / m)
    off_zero = np.where((lo <= 0) & (0 <= hi), 0.0, np.minimum(np.abs(lo), np.abs(hi)))
    value = np.abs(tables[:, 0] - tables[:, 1]) / tables[:, 2]
    return Simultaneous(float(value.max()), float(off_zero.max()), float(np.maximum(np.abs(lo), np.abs(hi)).max()),
                        int(tables[0, 2]), tuple((int(b), int(c), int(n), m) for b, c, n in tables))


def range_difference(correct: dict[str, np.ndarray]) -> Simultaneous:
    """Largest minus smallest accuracy across k models on the same images, with a 95% interval built from the
    paired intervals of all k(k-1)/2 pairs at Bonferroni level: when every pair's interval covers its difference,
    the range max|d_ij| lies between the largest distance of an interval from 0 and the largest |bound|.

    Not a bootstrap of the range: fixing the extreme pair after seeing the data covers too seldom, and
    bootstrapping the range itself is biased at the bound (a true 2-point range was called above 2 points in 10%
    of simulated draws). tests/test_metrics.py checks this method's coverage and its error at the bound."""
    names = list(correct)
    return largest_paired_difference({f"{a}~{b}": (correct[a], correct[b])
                                      for i, a in enumerate(names) for b in names[i + 1:]})


@dataclass(frozen=True)
class Pooled(Estimate):
    """A mean of paired differences over cells that score the same images, with what its interval stands on."""

    cells: int
    design_effect: float
    # (b_only, a_only, pairs, 1) over all (image, cell) pairs, over the design effect: what p_bound reads
    tables: tuple[tuple[float, float, float, int], ...]


def pooled_difference(pairs: list[tuple[np.ndarray, np.ndarray]], confidence: float = CONFIDENCE) -> Pooled:
    """The mean over K cells of (b - a), every cell scored on the same n images, with a score interval that
    resamples images, not (image, cell) pairs: the cells' disagreements on one image are correlated (the same
    pruned model faces several attacks, every attack perturbs the same image).

    Tango's paired score interval on the pooled table of all K x n (image, cell) pairs would hold if the pairs
    were independent; their correlation within an image inflates the variance of the mean by a design effect,
    the variance of the per-image sum of differences under resampling images (what a bootstrap over images
    estimates; here in closed form) over the variance the independent pairs would give. The table is divided by
    it (Rao and Scott's correction) before the score interval is taken. A pseudo-image on which every cell
    disagrees the same way, weighted as one (image, cell) pair, enters the design effect: the least favourable
    correlation, so that a few disagreements never pass for independent ones; with none at all the design effect
    is K and the interval is that of one cell. A percentile bootstrap over images covered 91% where pruning only
    lowers accuracy (the per-image differences are skewed); this interval's coverage is simulated in
    tests/test_metrics.py."""
    arrays = [(np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)) for a, b in pairs]
    if not arrays:
        raise ValueError("a pooled difference of no cells")
    n = arrays[0][0].size
    if n < 2 or any(a.shape != (n,) or b.shape != (n,) for a, b in arrays):
        raise ValueError("pooled cells must score the same images (and at least two)")
    k = len(arrays)
    d = np.array([b.astype(np.int8) - a for a, b in arrays], dtype=np.float64)  # cells x images
    b_only, a_only = float((d > 0).sum()), float((d < 0).sum())
    total = k * n
    per_image = d.sum(0)
    mean = per_image.sum() / total
    spread = float(((per_image - per_image.mean()) ** 2).sum() * n / (n - 1)) + k  # images, and the pseudo-image
    independent = b_only + a_only - total * mean**2 + 1
    deff = float(min(max(spread / independent, 1.0), k))
    lo, hi = paired_interval(b_only / deff, a_only / deff, total / deff, confidence)
    return Pooled(float(mean), float(lo), float(hi), n, k, deff, ((b_only / deff, a_only / deff, total / deff, 1),))


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
