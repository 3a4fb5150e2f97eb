"""The claims' registry: a claim is data (the `Claim` record) and one function that measures a grid cell,
registered under the function's name; the cells each claim applies to under a profile and their readable ids."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from robustness.profiles import Profile

PAPER = "Benchmarking Adversarial Robustness of Compressed Deep Learning Models (arXiv 2308.08160)"
VERDICTS = ["reproduced", "inconclusive", "not reproduced", "uninformative", "error"]
FLOOR, CEILING = 0.02, 0.98  # both models at or beyond: the cell carries no information about the claim


class ClaimNotReproduced(AssertionError):
    """The claim's own assertion: the measured interval lies wholly outside the claim's bound."""


@dataclass(frozen=True)
class Claim:
    id: str
    metric: str
    comparison: str  # "abs_le": |value| <= bound; "ge": value >= bound; "within": lo <= value <= hi
    bound: float | tuple[float, float]
    axes: tuple[str, ...]
    scope: str
    threat_model: str
    sentence: str
    why_bound: str = ""
    unit: str = "pp"  # pp (paired accuracy difference), % (a fraction), rho (a rank correlation)
    # how its 95% interval is made, which sets the narrowest interval its n allows: "paired" (one paired score
    # interval, at Bonferroni level over `comparisons`), "largest" (the largest |difference| of `comparisons`
    # pairs, each at Bonferroni level), "difference_of_differences" (two paired intervals at 97.5%, summed),
    # "pooled" (a mean over cells, metrics.pooled_difference), "bootstrap", "exact"
    interval: str = "paired"
    source: str | None = None  # who the adversarial examples are crafted on
    ratios: str = "all"  # all ratios in (0, 0.5], "largest" of them, "half" (0.5 only), "none" (base models only)
    attacks: str = "all"  # all, pruned_source (the profile's pruned_source_attacks) or curve (curve_attacks)
    reference: str | None = None  # "control": decided on pruned minus control arm; "base"; None: not a difference
    comparisons: int = 1  # simultaneous paired comparisons behind one interval (Bonferroni)
    min_archs: int = 1
    min_criteria: int = 1
    # the training arm of its models: "standard" (no axis), "adversarial" or "each" arm of the profile (a
    # `training` axis), "both" (compares the arms: cells only where the profile has both)
    training: str = "standard"
    question: str = ""  # beyond the paper: which of its open questions the claim answers
    needs_attacks: tuple[str, ...] = ()  # no cells unless the profile has all of them
    marks: tuple[tuple[str, ...], ...] = ()  # pytest marks of its tests: (name, *args)
    timed: bool = False  # times the machine: takes the store's exclusive hold instead of a shared one
    pools: str | None = None  # a pooled claim: the claim whose cells it averages (per its own axes, arch "all")
    headline: bool = False  # the main job's answer to the paper's sentence: first in every table
    methods: tuple[str, ...] = ()  # compression methods it is asked of (robustness.claims.compression)
    measure: Callable[..., dict[str, Any]] | None = field(default=None, compare=False, repr=False)


_REGISTRY: dict[str, Claim] = {}


def register(**meta: Any) -> Callable:
    """Register a claim: the function's name is the claim's id, as a model's name is its factory's."""
    def add(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        _REGISTRY[fn.__name__] = Claim(id=fn.__name__, measure=fn, **meta)
        return fn
    return add


def get_claim(claim_id: str) -> Claim:
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise KeyError(f"unknown claim {claim_id!r}: choose from {', '.join(sorted(_REGISTRY))}") from None


def claim_ratios(profile: Profile) -> list[float]:
    return [r for r in profile.ratios if 0 < r <= 0.5]


def cells(claim: Claim, profile: Profile) -> list[dict[str, Any]]:
    """The grid cells a claim applies to under a profile, in a fixed order."""
    if claim.pools:
        return _pooled_cells(claim, profile)
    if claim.source is not None and claim.source not in profile.sources:
        return []
    arms = {"standard": [], "each": list(profile.training),
            "adversarial": [t for t in profile.training if t == "adversarial"],
            "both": ["adversarial"] if "adversarial" in profile.training else []}[claim.training]
    if claim.training != "standard" and not arms:
        return []
    if not set(claim.needs_attacks) <= set(profile.attacks):
        return []
    if len(profile.archs) < claim.min_archs or len(profile.criteria) < claim.min_criteria:
        return []
    ratios = {"all": claim_ratios(profile), "largest": claim_ratios(profile)[-1:],
              "half": [0.5] if 0.5 in profile.ratios else [], "none": [None]}[claim.ratios]
    if not ratios:
        return []
    attacks = {"all": list(profile.attacks), "pruned_source": profile.source_attacks("pruned"),
               "curve": list(profile.curve_attacks)}[claim.attacks]
    values: dict[str, list[Any]] = {
        "training": arms, "source": [claim.source], "dataset": [profile.dataset], "arch": list(profile.archs),
        "criterion": list(profile.criteria), "ratio": ratios, "attack": attacks, "eps": list(profile.eps_list)}
    if claim.methods:  # each compression method has its own criteria, INT8 of the base none
        from robustness.claims.compression import method_cells

        return method_cells(claim, profile, values)
    out: list[dict[str, Any]] = [{} if "ratio" in claim.axes else {"ratio": ratios[0]}]
    for axis in claim.axes:
        out = [{**c, axis: v} for c in out for v in values[axis]]
    return out


ALL_ARCHS = "all"  # a pooled cell's architecture when it pools every architecture


def _pooled_cells(claim: Claim, profile: Profile) -> list[dict[str, Any]]:
    """A pooled claim's cells: one per value of its kept axes (ratio, or eps) among the pooled claim's cells, for
    all architectures together and for each one (the same when the profile has one architecture)."""
    pooled = cells(get_claim(claim.pools), profile)
    archs = list(profile.archs) if len(profile.archs) == 1 else [ALL_ARCHS, *profile.archs]
    out: list[dict[str, Any]] = []
    for arch in archs:
        for c in pooled:
            cell = {**{a: c[a] for a in claim.axes if a != "arch"}, "arch": arch, "ratio": c.get("ratio")}
            if arch in (ALL_ARCHS, c["arch"]) and cell not in out:
                out.append(cell)
    return out


def pooled_members(claim: Claim, cell: dict[str, Any], profile: Profile) -> list[dict[str, Any]]:
    """The cells of the pooled claim that a pooled cell averages: the same kept axes, its architecture or all."""
    kept = [a for a in (*claim.axes, "ratio") if a != "arch"]
    return [c for c in cells(get_claim(claim.pools), profile)
            if all(c.get(a) == cell.get(a) for a in kept) and cell["arch"] in (ALL_ARCHS, c["arch"])]


def _id_part(axis: str, value: Any) -> str:
    if axis == "eps":  # eps in 1/255 units, as it is usually written: eps8 is 8/255
        return f"eps{round(255 * value, 2):g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def cell_id(claim: Claim, cell: dict[str, Any]) -> str:
    axes = (*claim.axes, *(["ratio"] if cell.get("ratio") is not None and "ratio" not in claim.axes else []))
    return "-".join(_id_part(a, cell[a]) for a in axes if a in cell)  # INT8 of the base: no criterion, no ratio


def claim_table() -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(c).items() if k != "measure"}
            for c in sorted(_REGISTRY.values(), key=lambda c: c.id)]
