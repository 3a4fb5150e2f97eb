"""Self-checks of the evaluation: robust accuracy that comes from robustness, not from masked gradients. A failed
check makes the cell an error, so no verdict stands on numbers it cannot trust."""

from __future__ import annotations

from typing import Any

from robustness import metrics, pipeline
from robustness.claims.context import Context, _versus_method
from robustness.claims.questions import Q1
from robustness.claims.registry import register
from robustness.claims.verdicts import _informative

HONEST_LARGE_EPS_ACCURACY = 0.10  # at the largest eps a robust model too should be near zero


@register(metric="white-box PGD accuracy minus FGSM accuracy on the base model at the profile's eps; with checks "
              "that PGD accuracy does not rise with eps and is near zero at the largest eps",
       comparison="within", bound=(-1.0, 0.01), axes=("training", "source", "dataset", "arch"),
       scope="every architecture of every training arm; needs fgsm and pgd", needs_attacks=("fgsm", "pgd"),
       threat_model="base: white-box on the base model",
       sentence="(self-check) robust accuracy comes from robustness, not from masked gradients",
       why_bound="an iterative attack is at least as strong as its one-step version (1 point for noise); a "
                 "masked model shows FGSM stronger than PGD, accuracy that rises with eps, or accuracy left at "
                 "a large eps (Carlini et al. 2019, On Evaluating Adversarial Robustness)",
       source="base", ratios="none", training="each", question=Q1)
def robust_accuracy_honest(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    p = ctx.profile
    base = ctx.base(cell["arch"], cell["training"])
    curve = {e: ctx.correct(base, pipeline.adversarial_set(ctx.store, p, ctx.ds, base, "base", "pgd", e))
             for e in sorted({*p.eps_list, p.eps})}
    fgsm = ctx.correct(base, pipeline.adversarial_set(ctx.store, p, ctx.ds, base, "base", "fgsm"))
    d = metrics.paired_difference(fgsm, curve[p.eps])
    accs = {e: metrics.accuracy(ok) for e, ok in curve.items()}
    eps = sorted(accs)
    # a rise larger than the paired interval of two sets allows (score interval, not the point) is a failure
    rises = [(a, b) for a, b in zip(eps, eps[1:])
             if metrics.paired_difference(curve[a], curve[b]).lo > 0]
    largest = accs[eps[-1]]
    failed = [f"PGD accuracy rises from eps {255 * a:g}/255 to {255 * b:g}/255 "
              f"({100 * accs[a].value:.1f}% to {100 * accs[b].value:.1f}%)" for a, b in rises]
    if largest.lo > HONEST_LARGE_EPS_ACCURACY:
        failed.append(f"PGD accuracy at eps {255 * eps[-1]:g}/255 is {largest} (more than "
                      f"{100 * HONEST_LARGE_EPS_ACCURACY:g}%)")
    rec = {"eps": p.eps, "n": d.n, "value": d.value, "interval": [d.lo, d.hi], "mcnemar_p": d.mcnemar_p,
           "p_tables": [[d.b_only, d.a_only, d.n, 1]],
           "difference": d.to_dict(), "fgsm": metrics.accuracy(fgsm).to_dict(),
           "pgd_by_eps": {f"{255 * e:g}/255": a.to_dict() for e, a in accs.items()},
           "informative": _informative(accs[p.eps].value, metrics.accuracy(fgsm).value),
           "method": _versus_method(), "self_checks_failed": failed,
           "compared": f"PGD vs FGSM white-box on {base.name} at eps {255 * p.eps:g}/255 and PGD over "
                       f"{len(eps)} eps, the same {d.n} clean images"}
    if failed:
        rec["error"] = "self-check failed: " + "; ".join(failed)
    return rec
