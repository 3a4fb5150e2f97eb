"""Beyond the paper: claims that answer its open questions 1 (does pruning keep the robustness of an adversarially
trained model?) and 3 (do the pruning criteria differ in cross-architecture transferability?)."""

from __future__ import annotations

from typing import Any

import numpy as np

from robustness import metrics, pipeline
from robustness.claims.context import Context, _versus_method
from robustness.claims.paper import GRID, PLUS_MINUS_1PP, _self_attacked, _transferred, _whitebox_on_itself
from robustness.claims.registry import get_claim, register
from robustness.claims.transferability import TRANSFER_BOUND, flat_because, pattern_range, same_images
from robustness.claims.verdicts import allowed, fmt, verdict
from robustness.store import Artifact

Q1 = "open question 1: does pruning keep the robustness of an adversarially trained model?"
Q3 = "open question 3: do the pruning criteria differ in cross-architecture transferability?"
ADV_TRAINING_MARGIN = 0.05  # adversarial training must raise white-box PGD accuracy by this much to count


@register(metric="white-box PGD accuracy of the adversarially trained base minus the standard base's, each "
              "attacked on itself, the same clean images", comparison="ge", bound=ADV_TRAINING_MARGIN,
       axes=("source", "dataset", "arch", "attack"),
       scope="every architecture, the profile's pruned_source_attacks at its eps; needs training = [standard, "
             "adversarial]",
       threat_model="base: each base model attacked white-box on itself",
       sentence="(sanity check of the adversarial arm) adversarial training raises robust accuracy",
       why_bound="5 points: below it the adversarial arm is not a robust model, and the question-1 claims of the "
                 "architecture are reported as uninformative", source="base", attacks="pruned_source",
       ratios="none", training="both", question=Q1)
def adv_training_helps(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    gain, sets, (std_ok, adv_ok) = _training_gain(ctx, cell["arch"], cell["attack"])
    return {"eps": sets[1].spec["eps"], "n": gain.n, "value": gain.value, "interval": [gain.lo, gain.hi],
            "difference": gain.to_dict(), "mcnemar_p": gain.mcnemar_p, "method": _versus_method(),
            "p_tables": [[gain.b_only, gain.a_only, gain.n, 1]],
            "standard": float(std_ok.mean()), "adversarial": float(adv_ok.mean()),
            "compared": f"{cell['attack']} white-box accuracy of {cell['arch']}-victim-adv vs {cell['arch']}-victim "
                        f"(each attacked on itself) on the same {gain.n} clean images"}


def _training_gain(ctx: Context, arch: str, attack: str
                   ) -> tuple[metrics.Difference, tuple[Artifact, ...], tuple[np.ndarray, ...]]:
    """Adversarially trained minus standard base, each attacked white-box on itself."""
    arms = [ctx.base(arch, arm) for arm in ("standard", "adversarial")]
    sets = tuple(pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, m, "base", attack) for m in arms)
    if not np.array_equal(*(pipeline.load_adversarial(a)["index"] for a in sets)):
        raise ValueError(f"{sets[0].key} and {sets[1].key} attack different test images")
    ok = tuple(ctx.correct(m, a) for m, a in zip(arms, sets))
    return metrics.paired_difference(*ok), sets, ok


def _adversarial_arm_checked(ctx: Context, cell: dict[str, Any], rec: dict[str, Any]) -> dict[str, Any]:
    """A question-1 record is uninformative where adversarial training did not help (the sanity claim's
    interval not wholly above its margin): pruning a model that is not robust says nothing about robust ones."""
    attack = cell["attack"] if cell["attack"] in ctx.profile.source_attacks("pruned") else "pgd"
    gain = _training_gain(ctx, cell["arch"], attack)[0]
    rec["adversarial_training_gain"] = gain.to_dict()
    if gain.lo < ADV_TRAINING_MARGIN:
        measured = fmt(get_claim("adv_training_helps"), gain.value, gain.lo, gain.hi)
        rec["uninformative_because"] = (
            f"adversarial training raised {attack} white-box accuracy of {cell['arch']} by {measured}, not "
            f"surely {100 * ADV_TRAINING_MARGIN:g} points: the adversarial arm is not a robust model")
    return rec


@register(metric="adversarial accuracy of the pruned adversarially trained model minus its control arm's (and "
              "minus its base's), on the same examples crafted on an adversarially trained surrogate",
       axes=("training", *GRID),
       scope="every architecture, criterion and ratio up to 0.5, the profile's pruned_source_attacks; the "
             "adversarial arm (models trained and fine-tuned on adversarial batches)",
       threat_model="surrogate: crafted on an independently, adversarially trained model of the same architecture "
                    "(the attacker knows the recipe, not the weights)",
       why_bound="the paper's bound for standard models, asked of adversarially trained ones", source="surrogate",
       attacks="pruned_source", training="adversarial", question=Q1, **PLUS_MINUS_1PP)
def adv_trained_within_1pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _adversarial_arm_checked(ctx, cell, _transferred(ctx, cell))


@register(metric="adversarial accuracy of the pruned adversarially trained model attacked white-box on itself "
              "minus its control arm's attacked white-box on itself (and minus its base's), the same clean images",
       axes=("training", *GRID),
       scope="every architecture and criterion at the largest ratio, the profile's pruned_source_attacks; the "
             "adversarial arm",
       threat_model="pruned: each model attacked white-box on itself", why_bound="the paper's bound, asked of "
       "adversarially trained models under the strongest threat model", source="pruned", ratios="largest",
       attacks="pruned_source", training="adversarial", question=Q1, **PLUS_MINUS_1PP)
def adv_trained_within_1pp_whitebox(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _adversarial_arm_checked(ctx, cell, _whitebox_on_itself(ctx, cell))


@register(metric="robustness retained under pruning (pruned minus control arm, each attacked white-box on "
              "itself) of the adversarially trained arm minus that of the standard arm, the same clean images",
       comparison="abs_le", bound=0.02, axes=GRID,
       scope="every architecture and criterion at the largest ratio, the profile's pruned_source_attacks; needs "
             "training = [standard, adversarial]",
       threat_model="pruned: each model attacked white-box on itself",
       sentence="(open question 1) pruning keeps an adversarially trained model's robustness as it keeps a "
                "standard model's",
       why_bound="2 points: the paper's +-1 point tolerance for each of the two differences compared",
       source="pruned", ratios="largest", attacks="pruned_source", training="both", comparisons=2, question=Q1,
       interval="difference_of_differences")
def retained_robustness_std_vs_adv(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    arms = {arm: _self_attacked(ctx, cell, arm) for arm in ("standard", "adversarial")}
    kept = {arm: {"vs_control": metrics.paired_difference(c, p), "vs_base": metrics.paired_difference(b, p)}
            for arm, (b, p, c) in ((arm, got["ok"]) for arm, got in arms.items())}
    both = tuple((got["ok"][2], got["ok"][1]) for got in arms.values())
    d = metrics.difference_of_differences(*both)

    def at(confidence: float) -> tuple[float, float]:
        e = metrics.difference_of_differences(*both, confidence=confidence)
        return e.lo, e.hi

    rec = {"eps": arms["adversarial"]["sets"][1].spec["eps"], "n": d.n, "value": d.value, "interval": [d.lo, d.hi],
           "p_bound": metrics.inverted_p(at, d.value, *allowed(get_claim("retained_robustness_std_vs_adv"))),
           "method": "95% simultaneous: each arm's paired score interval (pruned minus control) at 97.5%, "
                     "Bonferroni, their difference's range",
           **{f"{arm}_pruned_minus_control": k["vs_control"].to_dict() for arm, k in kept.items()},
           **{f"{arm}_pruned_minus_base": k["vs_base"].to_dict() for arm, k in kept.items()},
           **{f"{arm}_accuracies": {name: metrics.accuracy(ok).to_dict()
                                    for name, ok in zip(("base", "pruned", "control"), got["ok"])}
              for arm, got in arms.items()},
           "compared": f"{cell['arch']}-{cell['criterion']}-{cell['ratio']:g} against its control arm, standard and "
                       f"adversarially trained, each model attacked white-box on itself ({cell['attack']}), the "
                       f"same {kept['standard']['vs_control'].n} clean images"}
    return _adversarial_arm_checked(ctx, cell, rec)


@register(metric="largest difference in transfer accuracy between two pruning criteria over ordered pairs of "
                 "different architectures (the largest ratio's pruned models as both sources and targets): for "
                 "each pair the criteria's range, the largest over pairs", comparison="abs_le",
          bound=TRANSFER_BOUND, axes=("training", "source", "dataset", "attack"),
          scope="every training arm and pruned_source attack at the largest ratio; needs three or more "
                "architectures and two or more criteria",
          threat_model="pruned: crafted white-box on one architecture's pruned model, evaluated on the other "
                       "architectures' models pruned by the same criterion",
          sentence="(open question 3) the criteria do not differ in cross-architecture transferability",
          why_bound="5 points per pair: the bound asked of base and pruned transfer patterns (transfer_consistent)",
          source="pruned", ratios="largest", attacks="pruned_source", training="each", min_archs=3,
          min_criteria=2, question=Q3, interval="largest", marks=(("transfer",),))
def criteria_transfer_agree(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    p = ctx.profile
    archs, ratio = list(p.archs), cell["ratio"]
    bases = {a: ctx.base(a, cell["training"]) for a in archs}
    ok: dict[str, dict[str, np.ndarray]] = {}
    names = [(s, t) for s in archs for t in archs if s != t]
    every_set = []
    for c in p.criteria:
        pruned = {a: pipeline.pruned_model(ctx.store, p, ctx.ds, bases[a], c, ratio) for a in archs}
        sets = {a: pipeline.adversarial_set(ctx.store, p, ctx.ds, pruned[a], "pruned", cell["attack"])
                for a in archs}
        every_set += sets.values()
        ok[c] = {f"{s}->{t}": ctx.correct(pruned[t], sets[s]) for s, t in names}
    same_images(every_set)  # the criteria's differences pair by image
    crit_pairs = [(a, b) for i, a in enumerate(p.criteria) for b in p.criteria[i + 1:]]
    spread = metrics.largest_paired_difference({f"{k}: {a}~{b}": (ok[a][k], ok[b][k])
                                               for k in ok[p.criteria[0]] for a, b in crit_pairs})
    claim = get_claim("criteria_transfer_agree")
    rec = {"n": spread.n, "value": spread.value, "interval": [spread.lo, spread.hi], "ratio": ratio,
           "p_tables": [list(t) for t in spread.tables], "comparisons": len(spread.tables),
           "largest_by_criteria": {f"{a}~{b}": max(abs(float(ok[b][k].mean() - ok[a][k].mean())) for k in ok[a])
                                   for a, b in crit_pairs},
           "matrices": {c: {k: float(v.mean()) for k, v in ok[c].items()} for c in p.criteria},
           "method": f"95% simultaneous: the paired score interval of each of the {len(spread.tables)} (architecture "
                     "pair, criterion pair) differences at Bonferroni level (all sets hold the same clean images)",
           "compared": f"transfer accuracy among {', '.join(archs)} pruned to {ratio:g} by each of "
                       f"{', '.join(p.criteria)} ({cell['training']} training), {len(names)} ordered pairs, "
                       f"{spread.n} {cell['attack']} examples each crafted white-box on the source's pruned model"}
    flat = [flat_because(claim, pattern_range(ok[c]), f"the {c} models'") for c in p.criteria]
    if all(flat) and verdict(claim, spread.value, spread.lo, spread.hi) != "not reproduced":
        rec["uninformative_because"] = "; ".join(flat)
    return rec
