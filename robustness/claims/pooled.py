"""The pooled claims: the paper's +-1 point sentence is a summary over models and attacks, so it is also asked of
the mean pruned-minus-control difference over the cells of a +-1 point claim, per ratio (every architecture,
criterion and attack together) and per architecture and ratio. One cell of 256 images cannot show a +-1 point
bound (its narrowest interval is +-1.8 points); the mean over tens of cells can. adv_within_1pp_pooled is the
main job's answer to the paper's sentence, reported first.

Every pooled cell attacks the same test images, so the interval resamples images, with all the cells' outcomes
on an image kept together (metrics.pooled_difference). A cell in which both models compared sit at the floor or
ceiling is left out of the mean (it says nothing about the claim and would pull the mean toward 0)."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from robustness import metrics
from robustness.claims.context import Context, Faced
from robustness.claims.paper import PLUS_MINUS_1PP, faced, over_eps, self_attacked
from robustness.claims.registry import ALL_ARCHS, get_claim, pooled_members, register
from robustness.claims.verdicts import _informative

POOLED = dict(interval="pooled", **PLUS_MINUS_1PP)
WHY = ("the paper's bound on the mean over cells: its sentence summarises models and attacks, and a single cell's "
       "interval on a few hundred images cannot show +-1 point")


@register(metric="mean over the cells of adv_within_1pp (every criterion and attack; every architecture, or "
                 "one) of adversarial accuracy of the pruned model minus the control arm's (and minus the base's), "
                 "surrogate-crafted examples", axes=("source", "dataset", "arch", "ratio"),
          scope="every ratio up to 0.5, for all architectures together and for each", source="surrogate",
          threat_model="surrogate: crafted on an independently trained model of the same architecture (the "
                       "paper's threat model)", why_bound=WHY, pools="adv_within_1pp", headline=True, **POOLED)
def adv_within_1pp_pooled(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _pooled(ctx, cell, "adv_within_1pp_pooled", faced)


@register(metric="mean over the cells of adv_within_1pp_whitebox_base of pruned minus control arm (and minus "
                 "base), examples crafted white-box on the base model", axes=("source", "dataset", "arch", "ratio"),
          scope="every ratio up to 0.5, for all architectures together and for each", source="base",
          threat_model="base: white-box on the victim's base model, so pruned and control arm face a transfer "
                       "attack", why_bound=WHY, pools="adv_within_1pp_whitebox_base", **POOLED)
def adv_within_1pp_whitebox_base_pooled(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _pooled(ctx, cell, "adv_within_1pp_whitebox_base_pooled", faced)


@register(metric="mean over the cells of adv_within_1pp_whitebox_pruned of pruned minus control arm (and minus "
                 "base), each model attacked white-box on itself", axes=("source", "dataset", "arch", "ratio"),
          scope="the largest ratio, for all architectures together and for each", source="pruned",
          threat_model="pruned: each model attacked white-box on itself", why_bound=WHY,
          pools="adv_within_1pp_whitebox_pruned", ratios="largest", attacks="pruned_source", **POOLED)
def adv_within_1pp_whitebox_pruned_pooled(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _pooled(ctx, cell, "adv_within_1pp_whitebox_pruned_pooled", self_attacked)


@register(metric="mean over the cells of adv_within_1pp_over_eps at one eps (every criterion and curve attack) "
                 "of pruned minus control arm (and minus base), examples crafted white-box on the base model",
          axes=("source", "dataset", "arch", "eps"),
          scope="every eps of the security curve at ratio 0.5, for all architectures together and for each",
          source="base", threat_model="base: white-box on the victim's base model", why_bound=WHY,
          pools="adv_within_1pp_over_eps", ratios="half", attacks="curve", **POOLED)
def adv_within_1pp_over_eps_pooled(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _pooled(ctx, cell, "adv_within_1pp_over_eps_pooled", over_eps)


def _pooled(ctx: Context, cell: dict[str, Any], claim_id: str,
            faced_by: Callable[[Context, dict[str, Any]], Faced]) -> dict[str, Any]:
    """The pooled record: pruned minus control (decided) and pruned minus base, each a mean over the informative
    member cells, with the mean accuracies of the three models."""
    claim = get_claim(claim_id)
    members = pooled_members(claim, cell, ctx.profile)
    got = [faced_by(ctx, c) for c in members]
    for g, c in zip(got[1:], members[1:]):
        if not np.array_equal(g.index, got[0].index):
            raise ValueError(f"{claim.pools}[{c}] attacks other test images than {members[0]}: they cannot be pooled")
    kept = [g.ok for g in got if _informative(float(g.ok[1].mean()), float(g.ok[2].mean()))]
    left_out = len(got) - len(kept)
    n = int(got[0].index.size)
    where = f"ratio {cell['ratio']:g}" + (f", eps {255 * cell['eps']:g}/255" if "eps" in cell else "")
    archs = "every architecture" if cell["arch"] == ALL_ARCHS else cell["arch"]
    compared = (f"pruned minus control arm (and minus base), the mean over {len(kept)} cells of {claim.pools} "
                f"({archs}, {where}, every criterion and attack), the same {n} images in every cell; {left_out} "
                "cells with both models at the floor or ceiling left out")
    if not kept:
        nothing = {"value": 0.0, "lo": -1.0, "hi": 1.0, "n": n}
        return {"n": n, "cells": 0, "left_out": left_out, "pruned_minus_control": nothing, "difference": nothing,
                **({"eps": cell["eps"]} if "eps" in cell else {}),
                "p_tables": [], "compared": compared, "method": "-", "verdict_vs_base": "uninformative",
                "uninformative_because": "every member cell has both models at the floor or ceiling"}
    vs_control = metrics.pooled_difference([(c, p) for _, p, c in kept])
    vs_base = metrics.pooled_difference([(b, p) for b, p, _ in kept])
    means = {role: float(np.mean([ok[i].mean() for ok in kept])) for i, role in enumerate(("base", "pruned",
                                                                                           "control"))}
    return {"n": n, "cells": len(kept), "left_out": left_out, "pruned_minus_control": vs_control.to_dict(),
            **({"eps": cell["eps"]} if "eps" in cell else {}),
            "difference": vs_base.to_dict(), **{role: {"value": v} for role, v in means.items()},
            "method": "95% score interval (Tango) of the pooled (image, cell) table, its variance inflated by the "
                      "correlation of the cells on each image (design effect, resampling images)",
            "compared": compared}
