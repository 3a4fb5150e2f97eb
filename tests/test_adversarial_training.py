"""Adversarial training (open question 1) and the criteria's transfer (open question 3): the training arm, its
keys, its claims and their report, on the smoke profile's tiny models."""

import numpy as np
import pytest
import torch

from robustness import adversarial_training, claims, metrics, pipeline, plots, report
from robustness.build import STAGES, build_grid
from robustness.errors import UsageError
from robustness.models import create_model
from robustness.plan import graph
from robustness.profiles import load_profile

GRID = [s for s in STAGES if s != "predictions"]
ARM = {"archs": "vgg19", "criteria": "l1", "ratios": "0,0.5", "attacks": "fgsm,pgd", "curve_attacks": "pgd",
       "eps_list": "2/255,8/255,64/255", "pruned_source_attacks": "pgd", "training": "standard,adversarial",
       "methods": "nncf_filter"}


def test_training_is_checked_and_the_standard_arm_keeps_its_hash():
    default = load_profile("default")
    # the adversarial settings change nothing while training is standard: earlier results keep their names
    assert load_profile("default", overrides={"adv_train_eps": "4/255"}).hash == default.hash
    assert load_profile("default", overrides={"training": "standard,adversarial"}).hash != default.hash
    with pytest.raises(UsageError, match="must hold 'standard'"):
        load_profile("default", overrides={"training": "adversarial"})
    with pytest.raises(UsageError, match="unknown training 'robust'"):
        load_profile("default", overrides={"training": "standard,robust"})
    with pytest.raises(UsageError, match="fgsm_rs takes one step"):
        load_profile("default", overrides={"training": "standard,adversarial", "adv_train_steps": "3"})
    with pytest.raises(UsageError, match="unknown adv_train_method"):
        load_profile("default", overrides={"adv_train_method": "trades"})


def test_the_adversarial_arm_adds_keys_and_leaves_the_standard_arm_s_alone(tmp_path):
    small = {"epochs": "1", "n_train": "96", "n_test": "48", "n_attack": "16", "sources": "base,surrogate"}
    standard = load_profile("smoke", overrides={**ARM, **small, "training": "standard"})
    both = load_profile("smoke", overrides={**ARM, **small})
    before = {s.key for s in graph(standard, tmp_path, GRID)}
    steps = graph(both, tmp_path, GRID)
    assert before < {s.key for s in steps}
    added = [s for s in steps if s.key not in before]
    assert added and all(s.node.training == "adversarial" for s in added)
    # every model of the adversarial arm has the recipe in its key; the standard arm's specs have none
    recipe = adversarial_training.recipe(both, "adversarial")["training"]
    assert recipe["method"] == "fgsm_rs" and recipe["code"]["robustness.adversarial_training"] >= 1
    assert adversarial_training.recipe(both, "standard") == {}


def test_a_training_batch_is_crafted_in_eval_mode_inside_the_eps_ball():
    profile = load_profile("smoke", overrides={"training": "standard,adversarial"})
    perturb = adversarial_training.perturber(adversarial_training.recipe(profile, "adversarial"), 10)
    torch.manual_seed(0)
    model = create_model("vgg19", 10, 0.125, [0.5] * 3, [0.25] * 3).train()
    modes = []
    model.register_forward_pre_hook(lambda m, a: modes.append(m.training))
    x = torch.rand(8, 3, 32, 32)
    y = torch.arange(8) % 10
    np.random.seed(0)
    x_adv = perturb(model, x, y)
    assert modes and not any(modes), "the batch was crafted with BatchNorm in training mode"
    assert model.training, "the training step must go on in training mode"
    delta = (x_adv - x).abs().max().item()
    assert 0 < delta <= profile.adv_train_eps + 1e-6 and x_adv.min() >= 0 and x_adv.max() <= 1
    np.random.seed(0)
    assert torch.equal(perturb(model, x, y), x_adv)  # the random start comes from the seeded generator
    assert adversarial_training.perturber({}, 10) is None


def test_difference_of_differences_covers_when_few_images_disagree():
    rng = np.random.default_rng(0)
    n, draws = 256, 300
    for p10, p01 in ((0.0, 0.0), (0.01, 0.0), (0.03, 0.01), (0.1, 0.05)):
        truth = (p10 - p01) - 0.0
        covered = 0
        for _ in range(draws):
            arms = []
            for a, b in ((p10, p01), (0.0, 0.0)):
                u = rng.random(n)
                first = np.ones(n, bool)
                second = np.ones(n, bool)
                first[u < a] = False  # second right, first wrong: +1 for second - first
                second[(u >= a) & (u < a + b)] = False
                arms.append((first, second))
            d = metrics.difference_of_differences(arms[1], arms[0])
            covered += d.lo <= truth <= d.hi
        assert covered / draws >= 0.95, (p10, p01, covered / draws)
    with pytest.raises(ValueError, match="same images"):
        metrics.difference_of_differences((np.ones(3), np.ones(3)), (np.ones(4), np.ones(4)))


def test_criteria_transfer_agreement_compares_the_criteria_s_matrices_pair_by_pair(monkeypatch):
    """Question 3's statistic on made-up transfer results: equal matrices agree, a reversed one does not."""
    archs, n = list(load_profile("default").archs), 200
    pairs = [(s, t) for s in archs for t in archs if s != t]
    rates = np.linspace(0.1, 0.9, len(pairs))
    rng = np.random.default_rng(1)
    truth = {"l1": rates, "l2": rates, "geometric_median": rates[::-1]}
    ok = {c: {p: rng.random(n) < r for p, r in zip(pairs, v)} for c, v in truth.items()}
    monkeypatch.setattr(pipeline, "pruned_model", lambda st, pr, ds, base, c, r: (base, c))
    monkeypatch.setattr(pipeline, "adversarial_set", lambda st, pr, ds, model, source, attack: model)
    monkeypatch.setattr("robustness.claims.context.set_index", lambda adv: np.arange(n))  # the same images

    class Ctx:
        profile = load_profile("default")
        store = ds = None

        def base(self, arch, arm):
            return arch

        def correct(self, model, adv):
            (target, c), (source, _) = model, adv
            return ok[c][source, target]

    claim = claims.get_claim("criteria_transfer_agree")
    cell = claims.cells(claim, Ctx.profile)[0]
    rec = claim.measure(Ctx(), cell)
    assert rec["largest_by_criteria"]["l1~l2"] < 0.2 and rec["value"] > 0.7  # l1 and l2 alike, the third reversed
    assert claims.verdict(claim, rec["value"], *rec["interval"]) == "not reproduced"
    assert rec["comparisons"] == 3 * len(pairs) == len(rec["p_tables"])
    assert set(rec["matrices"]) == set(truth) and len(rec["matrices"]["l1"]) == len(pairs)
    assert rec["interval"][0] <= rec["value"] <= rec["interval"][1]


@pytest.fixture(scope="module")
def arm(store):
    """Smoke's VGG19 in both arms: trained, pruned to 0.5 (L1), fine-tuned, attacked and deployed (the standard
    arm's base models and sets are the smoke run's own: the same keys)."""
    profile = load_profile("smoke", overrides=ARM)
    build_grid(store, profile, stages=GRID, progress=lambda m: None)
    return store, profile, pipeline.dataset(store, profile)


def test_the_adversarial_arm_trains_prunes_and_fine_tunes_adversarially(arm):
    store, profile, ds = arm
    base = pipeline.base_model(store, profile, ds, "vgg19", arm="adversarial")
    assert base.name == "vgg19-victim-adv" and base.artifact.spec["training"]["method"] == "fgsm_rs"
    surrogate = pipeline.base_model(store, profile, ds, "vgg19", "surrogate", arm="adversarial")
    assert surrogate.artifact.spec["training"] == base.artifact.spec["training"]
    pruned = pipeline.pruned_model(store, profile, ds, base, "l1", 0.5)
    control = pipeline.control_model(store, profile, ds, base, 0.5)
    for model in (pruned, control):
        assert model.training == "adversarial"
        assert model.artifact.spec["training"] == base.artifact.spec["training"]
        assert base.artifact.key in [p["key"] for p in model.artifact.manifest["parents"]]
    standard = pipeline.base_model(store, profile, ds, "vgg19")
    assert "training" not in standard.artifact.spec and standard.artifact.key != base.artifact.key
    assert not base.load().training  # attacks after training see the model in eval mode


def test_question_1_claims_measure_the_arm_and_say_when_it_is_not_robust(arm, tmp_path):
    store, profile, ds = arm
    records = []
    for claim_id in ("adv_training_helps", "adv_trained_within_1pp", "adv_trained_within_1pp_whitebox",
                     "retained_robustness_std_vs_adv", "robust_accuracy_honest"):
        claim = claims.get_claim(claim_id)
        cells = claims.cells(claim, profile)
        assert cells, claim_id
        for cell in cells:
            rec = claims.measure(claim, cell, store, profile, ds)
            assert rec["verdict"] in claims.VERDICTS and rec["n"] == profile.n_attack
            assert rec["interval"][0] <= rec["value"] <= rec["interval"][1]
            records.append(rec)
    helps = next(r for r in records if r["claim"] == "adv_training_helps")
    # the arm is a robust model: FGSM-RS raised white-box PGD accuracy on smoke's digits
    assert helps["adversarial"] > helps["standard"] and helps["value"] > 0
    gain_known = helps["verdict"] == "reproduced"
    for r in records:
        if r["claim"] in ("adv_trained_within_1pp", "adv_trained_within_1pp_whitebox",
                          "retained_robustness_std_vs_adv"):
            assert r["adversarial_training_gain"]["value"] == helps["value"]
            assert ("uninformative_because" in r) == (not gain_known)
            assert r["verdict"] != "uninformative" or not gain_known or not r.get("informative", True)
    honest = [r for r in records if r["claim"] == "robust_accuracy_honest"]
    assert {r["training"] for r in honest} == {"standard", "adversarial"}
    assert all(set(r["pgd_by_eps"]) == {"2/255", "8/255", "64/255"} for r in honest)
    retained = next(r for r in records if r["claim"] == "retained_robustness_std_vs_adv")
    s, a = retained["standard_pruned_minus_control"], retained["adversarial_pruned_minus_control"]
    assert retained["value"] == pytest.approx(a["value"] - s["value"])
    for r in records:  # p_bound, the score test the interval inverts: under 2.5% exactly where it lies beyond
        claim = claims.get_claim(r["claim"])
        beyond = claims.verdict(claim, r["value"], *r["interval"]) == "not reproduced"
        assert r["p_bound"] is not None and (r["p_bound"] < 0.025) == beyond, r["claim"]
    report.write(records, tmp_path, profile)
    text = (tmp_path / "report.md").read_text()
    assert "## Open question 1" in text and "## Self-checks of robust accuracy" in text
    assert (tmp_path / "adversarial_arm_vs_ratio.png").stat().st_size > 0


def test_a_self_check_that_fails_makes_the_cell_an_error(arm, monkeypatch):
    store, profile, ds = arm
    claim = claims.get_claim("robust_accuracy_honest")
    cell = claims.cells(claim, profile)[0]
    real = claims.Context.correct

    def unmasked_at_large_eps(self, model, target, part="adv"):
        ok = real(self, model, target, part)
        return np.ones_like(ok) if target.spec.get("eps") == pytest.approx(64 / 255) else ok

    monkeypatch.setattr(claims.Context, "correct", unmasked_at_large_eps)
    rec = claims.measure(claim, cell, store, profile, ds)
    assert rec["verdict"] == "error" and "self-check failed" in rec["message"]
    with pytest.raises(AssertionError, match="PGD accuracy"):
        claims.check(rec)


def test_the_criteria_heatmap_panel_is_drawn(tmp_path):
    matrices = {c: {"a->b": 0.2, "b->a": 0.4, "a->c": 0.6, "c->a": 0.1, "b->c": 0.3, "c->b": 0.5}
                for c in ("l1", "l2")}
    rec = {"claim": "criteria_transfer_agree", "training": "standard", "attack": "pgd", "ratio": 0.5, "value": 1.0,
           "matrices": matrices, "verdict": "reproduced"}
    path = plots._criteria_transfer_heatmaps([rec], tmp_path / "heatmaps.png")
    assert path is not None and path.stat().st_size > 0
