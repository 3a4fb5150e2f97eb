"""The transfer claims' intervals, simulated through the claim's own function: patterns that pruning keeps exactly
must be covered and almost never called `not reproduced`, and a pattern too flat to rank is `uninformative`."""

import numpy as np
import pytest

from robustness import claims, pipeline
from robustness.profiles import load_profile

ARCHS = ("densenet121", "mobilenet_v1", "resnet50", "vgg19")


def _pattern(rng, accuracies, n=256, discordance=0.1):
    """Per image correctness of base, control and pruned targets for each ordered pair, all three with the same
    true transfer accuracy (the pattern kept exactly: true rank correlation 1, true differences 0); the control
    arm and the pruned model each change `discordance` of the images, either way, keeping the accuracy."""
    difficulty = rng.random(n)
    out = {}
    for pair, acc in accuracies.items():
        base = np.where(rng.random(n) < 0.7, difficulty, rng.random(n)) < acc
        models = {"base": base}
        changed = min(discordance, 1.8 * min(acc, 1 - acc))  # as many images either way: the accuracy is kept
        for role in ("control", "pruned"):
            u = rng.random(n)
            flip = np.where(base, u < changed / 2 / acc, u < changed / 2 / (1 - acc))
            models[role] = base ^ flip
        out[pair] = models
    return out


def _measure(monkeypatch, pattern, profile):
    """claims.transfer on simulated correctness: the pipeline hands out names, `correct` reads the pattern."""
    monkeypatch.setattr(pipeline, "base_model", lambda store, prof, ds, arch, *a, **k: ("base", arch))
    monkeypatch.setattr(pipeline, "pruned_model", lambda store, prof, ds, base, c, r, *a, **k: ("pruned", base[1]))
    monkeypatch.setattr(pipeline, "control_model", lambda store, prof, ds, base, r, *a, **k: ("control", base[1]))
    monkeypatch.setattr(pipeline, "adversarial_set", lambda store, prof, ds, model, source, attack, *a, **k: model[1])
    monkeypatch.setattr("robustness.claims.context.set_index", lambda adv: np.arange(256), raising=False)
    claim = claims.get_claim("transfer_consistent")
    rec = claims.transfer({"criterion": "l1", "attack": "pgd", "ratio": 0.5}, None, profile, None,
                          correct=lambda model, adv, part: pattern[f"{adv}->{model[1]}"][model[0]])
    claims._decided(claim, rec)
    final = "uninformative" if rec.get("uninformative_because") else claims.verdict(claim, rec["value"],
                                                                                     *rec["interval"])
    return rec, final


def _accuracies(low, high, rng):
    pairs = [f"{s}->{t}" for s in ARCHS for t in ARCHS if s != t]
    return dict(zip(pairs, rng.uniform(low, high, len(pairs))))


@pytest.mark.parametrize("discordance", [0.1, 0.3])
@pytest.mark.parametrize("band", [(0.60, 0.64), (0.93, 0.97), (0.15, 0.90)],
                         ids=["narrow band", "barely transferring", "spread"])
def test_a_kept_transfer_pattern_is_covered_and_almost_never_called_not_reproduced(monkeypatch, band, discordance):
    """The rank correlation's bootstrap called a pattern kept exactly `not reproduced` in 54-72% of such draws in
    the narrow bands where pruning changes 10-30% of the images. Here: 200 draws of 12 pairs, 256 images; a band
    narrower than the bound is too flat to rank, a spread pattern is not."""
    rng = np.random.default_rng(0)
    profile = load_profile("smoke").replace(archs=ARCHS)
    accuracies = _accuracies(*band, rng)
    results = [_measure(monkeypatch, _pattern(rng, accuracies, discordance=discordance), profile)
               for _ in range(200)]
    covered = np.mean([rec["interval"][0] <= 1e-12 for rec, _ in results])  # the true largest |difference| is 0
    wrong = np.mean([v == "not reproduced" for _, v in results])
    assert covered >= 0.94 and wrong <= 0.05, (covered, wrong)
    flat = np.mean([v == "uninformative" for _, v in results])
    if band[1] - band[0] < claims.TRANSFER_BOUND:  # no two pairs differ by more than the bound: too flat to rank
        assert flat >= 0.9, flat
    else:
        assert flat <= 0.1, flat


def test_a_moved_pair_is_found(monkeypatch):
    """One pair's pruned target loses 20 points against its control arm: `not reproduced`, and the record shows
    the pair's difference; a flat pattern does not hide it."""
    rng = np.random.default_rng(1)
    profile = load_profile("smoke").replace(archs=ARCHS)
    pattern = _pattern(rng, _accuracies(0.60, 0.64, rng))
    hit = pattern["vgg19->resnet50"]
    hit["pruned"] = hit["pruned"] & (rng.random(256) > 0.33)
    rec, final = _measure(monkeypatch, pattern, profile)
    assert final == "not reproduced" and rec["interval"][0] > 0.05
    assert rec["transfer"]["vgg19->resnet50"]["pruned"] < rec["transfer"]["vgg19->resnet50"]["control"] - 0.1
    assert rec["p_tables"] and claims.p_bound(claims.get_claim("transfer_consistent"), rec) < 0.025


def test_criteria_whose_transfer_patterns_are_the_same_are_almost_never_called_different(monkeypatch):
    """Open question 3 on the same footing: three criteria with one true pattern (pruned sources and targets),
    each model changing 20% of the images; 200 draws."""
    rng = np.random.default_rng(3)
    profile = load_profile("default")
    accuracies = _accuracies(0.15, 0.90, rng)
    monkeypatch.setattr(pipeline, "pruned_model", lambda st, pr, ds, base, c, r: (base, c))
    monkeypatch.setattr(pipeline, "adversarial_set", lambda st, pr, ds, model, source, attack: model)
    monkeypatch.setattr("robustness.claims.context.set_index", lambda adv: np.arange(256))
    claim = claims.get_claim("criteria_transfer_agree")
    cell = claims.cells(claim, profile)[0]
    verdicts, covered = [], []
    for _ in range(200):
        pattern = _pattern(rng, accuracies, discordance=0.2)
        ok = {c: {pair: models[role] for pair, models in pattern.items()}
              for c, role in zip(profile.criteria, ("base", "control", "pruned"))}

        class Ctx:
            store = ds = None

            def base(self, arch, arm):
                return arch

            def correct(self, model, adv, ok=ok):
                (target, c), (source, _) = model, adv
                return ok[c][f"{source}->{target}"]

        Ctx.profile = profile
        rec = claim.measure(Ctx(), cell)
        verdicts.append("uninformative" if rec.get("uninformative_because")
                        else claims.verdict(claim, rec["value"], *rec["interval"]))
        covered.append(rec["interval"][0] <= 1e-12)
    assert np.mean(covered) >= 0.94 and np.mean([v == "not reproduced" for v in verdicts]) <= 0.05
