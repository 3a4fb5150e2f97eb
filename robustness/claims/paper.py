"""The paper's claims on accuracy and size: adversarial and clean accuracy within its bounds, model size at 50%
pruning, comparable criteria; one function per claim. Latency, transfer and the pooled headline have modules of
their own."""

from __future__ import annotations

from typing import Any

import numpy as np

from robustness import metrics, pipeline
from robustness.claims.context import Context, Faced, _ratio_irs, _versus, set_index
from robustness.claims.registry import register
from robustness.claims.verdicts import _informative

# what the four +-1 point claims share: the paper's sentence and bound, decided against the control arm
PLUS_MINUS_1PP = dict(comparison="abs_le", bound=0.01, reference="control",
                      sentence="pruning up to 50% keeps adversarial accuracy within +-1 percentage point of the base "
                               "model")
GRID = ("source", "dataset", "arch", "criterion", "ratio", "attack")


@register(metric="adversarial accuracy of the pruned model minus the control arm's (and minus the base model's), "
              "on the same surrogate-crafted images", axes=GRID,
       scope="every architecture, criterion, ratio up to 0.5 and attack; examples crafted on a surrogate",
       threat_model="surrogate: crafted on an independently trained model of the same architecture; base, "
                    "pruned and control victims all face them as transfer (the paper's threat model)",
       source="surrogate", **PLUS_MINUS_1PP)
def adv_within_1pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _transferred(ctx, cell)


@register(metric="adversarial accuracy of the pruned model minus the control arm's (and minus the base model's), "
              "on examples crafted white-box on the base model", axes=GRID,
       scope="every architecture, criterion, ratio up to 0.5 and attack; examples crafted on the victim's base",
       threat_model="base: white-box on the victim's base model, so pruned and control arm face a transfer "
                    "attack; against the base itself the set is white-box, hence the control arm as reference",
       source="base", **PLUS_MINUS_1PP)
def adv_within_1pp_whitebox_base(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _transferred(ctx, cell)


def faced(ctx: Context, cell: dict[str, Any]) -> Faced:
    """A cell's base, pruned and control arm facing one set crafted on the surrogate or the base."""
    base, pruned, control = ctx.models(cell)
    adv, _ = pipeline.faced_sets(ctx.store, ctx.profile, ctx.ds, base, pruned, cell["source"], cell["attack"])
    return Faced((base, pruned, control), adv, set_index(adv),
                 tuple(ctx.correct(m, adv) for m in (base, pruned, control)))


def _transferred(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    (base, pruned, _), adv, _, (b, p, c) = faced(ctx, cell)
    src = adv.info["source_model"]
    return {"eps": adv.spec["eps"], **_versus(b, p, c),
            "compared": f"{pruned.name} vs its control arm and {base.name} on {b.size} {cell['attack']} examples "
                        f"crafted on {src.get('arch')}-{src.get('role')} ({cell['source']})"}


@register(metric="adversarial accuracy of the pruned model attacked white-box on itself minus the control arm's "
              "attacked white-box on itself (and minus the base model's), on the same clean images",
       axes=GRID, scope="every architecture and criterion at the largest ratio, the profile's pruned_source_attacks",
       threat_model="pruned: each model is attacked white-box on itself (beyond the paper: its open question 2); "
                    "the record also gives the pruned model's accuracy on the transferred (base-crafted) examples",
       why_bound="the paper's bound, applied when the attacker holds the pruned model", source="pruned",
       ratios="largest", attacks="pruned_source", **PLUS_MINUS_1PP)
def adv_within_1pp_whitebox_pruned(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _whitebox_on_itself(ctx, cell)


def _self_attacked(ctx: Context, cell: dict[str, Any], arm: str | None = None) -> dict[str, Any]:
    """Base, pruned and control arm of a cell, each attacked white-box on itself: models, sets and per-image
    correctness, all on the same clean images."""
    base, pruned, control = ctx.models(cell, arm)
    on_base, on_pruned = pipeline.faced_sets(ctx.store, ctx.profile, ctx.ds, base, pruned, "pruned",
                                             cell["attack"])
    on_control = pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, control, "pruned", cell["attack"])
    if not np.array_equal(set_index(on_control), set_index(on_base)):
        raise ValueError(f"{on_control.key} and {on_base.key} attack different test images")
    return {"models": (base, pruned, control), "sets": (on_base, on_pruned, on_control),
            "ok": (ctx.correct(base, on_base), ctx.correct(pruned, on_pruned), ctx.correct(control, on_control))}


def self_attacked(ctx: Context, cell: dict[str, Any]) -> Faced:
    """_self_attacked as the pooled claims read it."""
    got = _self_attacked(ctx, cell)
    return Faced(got["models"], got["sets"][0], set_index(got["sets"][0]), got["ok"])


def _whitebox_on_itself(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    got = _self_attacked(ctx, cell)
    (base, pruned, _), (on_base, on_pruned, _), (b, p, c) = got["models"], got["sets"], got["ok"]
    transferred = ctx.correct(pruned, on_base)
    return {"eps": on_pruned.spec["eps"], **_versus(b, p, c),
            "transferred": metrics.accuracy(transferred).to_dict(),
            "whitebox_minus_transferred": metrics.paired_difference(transferred, p).to_dict(),
            "compared": f"{pruned.name}, its control arm and {base.name}, each attacked white-box on itself, the "
                        f"same {b.size} clean images, {cell['attack']}"}


@register(metric="adversarial accuracy of the pruned model minus the control arm's (and minus the base model's) at "
              "each eps of the security curve, examples crafted white-box on the base model",
       axes=("source", "dataset", "arch", "criterion", "attack", "eps"),
       scope="every architecture and criterion at ratio 0.5, the profile's curve attacks and eps_list",
       threat_model="base: white-box on the victim's base model, so pruned and control arm face a transfer attack",
       why_bound="the paper's bound at every eps, not only one: the security curves of base and pruned model",
       source="base", ratios="half", attacks="curve", **PLUS_MINUS_1PP)
def adv_within_1pp_over_eps(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    (base, pruned, _), _, _, (b, p, c) = over_eps(ctx, cell)
    return {"eps": cell["eps"], **_versus(b, p, c),
            "compared": f"{pruned.name} vs its control arm and {base.name} on {b.size} {cell['attack']} examples "
                        f"at eps {255 * cell['eps']:g}/255 crafted on {base.name} (base)"}


def over_eps(ctx: Context, cell: dict[str, Any]) -> Faced:
    """A cell's base, pruned and control arm facing the base-crafted set at the cell's eps."""
    base, pruned, control = ctx.models(cell)
    adv = pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, base, "base", cell["attack"], cell["eps"])
    return Faced((base, pruned, control), adv, set_index(adv),
                 tuple(ctx.correct(m, adv) for m in (base, pruned, control)))


@register(metric="clean accuracy of the pruned model minus the control arm's (and minus the base model's)",
       comparison="abs_le", bound=0.02, axes=("dataset", "arch", "criterion", "ratio"),
       scope="every architecture, criterion and ratio up to 0.5", threat_model="none (clean test set)",
       sentence="pruned models stay within 1-2 points of the base model's clean accuracy",
       why_bound="the paper's upper figure, 2 points", reference="control")
def clean_within_2pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    base, pruned, control = ctx.models(cell)
    b, p, c = (ctx.correct(m, ctx.ds, "test") for m in (base, pruned, control))
    return {**_versus(b, p, c),
            "compared": f"{pruned.name} vs its control arm and {base.name} on {b.size} clean test images"}


@register(metric="1 - pruned IR bytes / base IR bytes at ratio 0.5", comparison="within", bound=(0.56, 0.76),
       axes=("dataset", "arch", "criterion"), scope="every architecture and criterion at ratio 0.5",
       threat_model="none", sentence="model size drops by about 66% at 50% pruning",
       why_bound="+-10 points around 66%: removing half the filters of two consecutive layers removes 3/4 of the "
                 "weights between them, layers kept whole (first conv, classifier) remove less, and the mix "
                 "depends on the architecture", unit="%", ratios="half", interval="exact")
def ir_size_cut_66(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    base = ctx.base(cell["arch"])
    sizes = {k: ir.info["bin_bytes"] for k, ir in _ratio_irs(ctx, base, cell["criterion"]).items()}
    base_bytes = pipeline.ir_model(ctx.store, base).info["bin_bytes"]
    key = f"{cell['ratio']:g}"
    cut = 1 - sizes[key] / base_bytes
    return {"n": 1, "value": cut, "interval": [cut, cut], "base_bytes": base_bytes, "pruned_bytes": sizes[key],
            "bytes_by_ratio": sizes, "method": "exact byte counts",
            "compared": f"OpenVINO FP32 IR of {cell['arch']}-{cell['criterion']}-{key} vs {base.name}"}


@register(metric="largest minus smallest adversarial accuracy across the pruning criteria", comparison="abs_le",
       bound=0.02, axes=("source", "dataset", "arch", "ratio", "attack"),
       scope="every architecture, ratio up to 0.5 and attack, surrogate-crafted examples", threat_model="surrogate",
       sentence="the L1, L2 and geometric-median criteria give comparable robustness",
       why_bound="2 points: twice the paper's +-1 point tolerance for one comparison", source="surrogate",
       min_criteria=2, comparisons=3, interval="largest")
def criteria_comparable(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    p = ctx.profile
    base = ctx.base(cell["arch"])
    src = pipeline.attack_source_model(ctx.store, p, ctx.ds, cell["arch"], cell["source"])
    adv = pipeline.adversarial_set(ctx.store, p, ctx.ds, src, cell["source"], cell["attack"])
    per = {c: ctx.correct(pipeline.pruned_model(ctx.store, p, ctx.ds, base, c, cell["ratio"]), adv)
           for c in p.criteria}
    spread = metrics.range_difference(per)
    accs = {c: metrics.accuracy(v) for c, v in per.items()}
    k = len(per)
    return {"eps": adv.spec["eps"], "n": spread.n, "value": spread.value, "interval": [spread.lo, spread.hi],
            "p_tables": [list(t) for t in spread.tables], "comparisons": k * (k - 1) // 2,
            "accuracies": {c: a.to_dict() for c, a in accs.items()},
            "informative": _informative(*(a.value for a in accs.values())),
            "method": f"95% simultaneous: paired score intervals of the {k * (k - 1) // 2} criterion pairs, "
                      "Bonferroni",
            "compared": f"{', '.join(per)} pruned {cell['arch']} at {cell['ratio']:g} on {spread.n} "
                        f"{cell['attack']} examples crafted on {src.name}"}
