"""Honest evaluation: checks the suite runs on itself, on the smoke profile's artifacts."""

import json

import numpy as np
import pytest
import torch

from robustness import attacks, deploy, pipeline, training
from robustness.errors import UsageError
from robustness.profiles import LINF_ATTACKS, load_profile

SMOKE = load_profile("smoke")
pytestmark = pytest.mark.selfcheck


@pytest.fixture(scope="session", params=SMOKE.archs)
def smoke_arch_base(request, store, smoke, smoke_dataset):
    return pipeline.base_model(store, smoke, smoke_dataset, request.param)


def _set(store, smoke, ds, model, attack, eps=None, source="base"):
    art = pipeline.adversarial_set(store, smoke, ds, model, source, attack, eps)
    return art, pipeline.load_adversarial(art)


def _accuracy(model, adv):
    return float((training.predict(model, adv["x_adv"]) == adv["y"]).mean())


@pytest.mark.parametrize("attack", SMOKE.attacks)
def test_examples_stay_in_the_eps_ball_and_unit_range(store, smoke, smoke_dataset, smoke_arch_base, attack):
    art, adv = _set(store, smoke, smoke_dataset, smoke_arch_base, attack)
    x_te, _ = pipeline.load_arrays(smoke_dataset, "test")
    x = x_te[adv["index"]]
    assert adv["x_adv"].min() >= 0.0 and adv["x_adv"].max() <= 1.0
    assert len(adv["y"]) == smoke.n_attack
    recomputed = attacks.norms(x, adv["x_adv"])
    np.testing.assert_allclose(adv["linf"], recomputed["linf"], atol=1e-6)
    np.testing.assert_allclose(adv["l2"], recomputed["l2"], rtol=1e-5, atol=1e-6)
    if attack in LINF_ATTACKS:
        assert adv["linf"].max() <= smoke.eps + 1e-6, f"{attack} left its eps ball: {adv['linf'].max()}"
    assert art.info["source"] == "base" and art.info["craft_seconds"] >= 0


@pytest.mark.parametrize("attack", SMOKE.attacks)
def test_an_attack_leaves_the_model_in_eval_mode_and_batchnorm_unchanged(smoke_base, smoke_dataset, attack):
    model = smoke_base.load()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = pipeline.load_arrays(smoke_dataset, "test")
    attacks.craft(attacks.attack_spec(SMOKE, attack), model, x[:16], y[:16], 10)
    assert not model.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the attack changed weights or BN statistics"


def test_pgd_accuracy_falls_with_eps_and_vanishes_at_a_large_eps(store, smoke, smoke_dataset, smoke_arch_base):
    model = smoke_arch_base.load()
    eps_list = sorted(smoke.eps_list)
    acc = [_accuracy(model, _set(store, smoke, smoke_dataset, smoke_arch_base, "pgd", e)[1]) for e in eps_list]
    n = smoke.n_attack
    for a, b, e in zip(acc, acc[1:], eps_list[1:]):  # one image of slack: PGD starts at a random point
        assert b <= a + 1 / n, f"PGD accuracy rose at eps {e:.4f}: {acc}"
    assert eps_list[-1] == pytest.approx(64 / 255) and acc[-1] <= 0.05, acc


@pytest.mark.parametrize("attack", ["pgd", "bim", "apgd"])
def test_iterative_attacks_are_at_least_as_strong_as_fgsm(store, smoke, smoke_dataset, smoke_arch_base, attack):
    model = smoke_arch_base.load()
    fgsm = _accuracy(model, _set(store, smoke, smoke_dataset, smoke_arch_base, "fgsm")[1])
    iterative = _accuracy(model, _set(store, smoke, smoke_dataset, smoke_arch_base, attack)[1])
    assert iterative <= fgsm, f"{attack} {iterative:.3f} > fgsm {fgsm:.3f} on {smoke.n_attack} images"


def test_adversarial_sets_are_deterministic(smoke_base, smoke_dataset):
    model = smoke_base.load()
    x, y = pipeline.load_arrays(smoke_dataset, "test")
    spec = attacks.attack_spec(SMOKE, "pgd")
    a = attacks.craft(spec, model, x[:16], y[:16], 10)
    b = attacks.craft(spec, model, x[:16], y[:16], 10)
    assert np.array_equal(a, b)


@pytest.fixture(scope="session", params=[(c, r) for c in SMOKE.criteria for r in SMOKE.ratios])
def smoke_pruned(request, store, smoke, smoke_dataset, smoke_arch_base):
    criterion, ratio = request.param
    return pipeline.pruned_model(store, smoke, smoke_dataset, smoke_arch_base, criterion, ratio)


def test_pruned_ir_has_fewer_channels_than_base_ir(store, smoke_arch_base, smoke_pruned):
    base = pipeline.ir_model(store, smoke_arch_base).info
    pruned = pipeline.ir_model(store, smoke_pruned).info
    b, p = [c for _, c in base["conv_channels"]], [c for _, c in pruned["conv_channels"]]
    assert len(b) == len(p) and all(pc <= bc for pc, bc in zip(p, b))
    if smoke_pruned.meta["ratio"] > 0:
        assert any(pc < bc for pc, bc in zip(p, b))
        assert pruned["bin_bytes"] < base["bin_bytes"]
    else:  # the control arm is fine-tuned, not pruned
        assert p == b


def test_openvino_ir_predicts_like_torch(store, smoke_dataset, smoke_arch_base, smoke_pruned):
    x, _ = pipeline.load_arrays(smoke_dataset, "test")
    for ref in (smoke_arch_base, smoke_pruned):
        ir = pipeline.ir_model(store, ref)
        agree = (deploy.Runner(ir.file("model.xml"), batch=64).predict(x) == training.predict(ref.load(), x)).mean()
        assert agree >= 0.995, f"{ref.name}: IR agrees with torch on {agree:.4f} of {len(x)} images"


def test_pruning_removes_the_ratio_of_filters_it_names(smoke_pruned):
    info = smoke_pruned.artifact.info
    if smoke_pruned.meta["ratio"] == 0:
        assert set(info["steps"]) == {"1", "2"}
        return
    stats = info["ratios"][f"{smoke_pruned.meta['ratio']:g}"]
    assert stats["zero_filter_fraction"] > 0.5 * smoke_pruned.meta["ratio"]


@pytest.mark.parametrize("bad, words", [({"attack": "square"}, "unknown attack 'square'"),
                                        ({"attack": "pgd", "eps": -0.1}, "eps -0.1 is outside [0, 1]")])
def test_bad_attack_input(bad, words):
    with pytest.raises(UsageError) as err:
        attacks.attack_spec(SMOKE, bad["attack"], bad.get("eps"))
    assert words in str(err.value)


def test_a_set_outside_its_eps_ball_fails_the_build_and_is_not_stored(store, smoke, smoke_dataset, smoke_base,
                                                                      monkeypatch):
    from robustness.errors import SelfCheckError

    class TooFar:  # what a larger budget than the spec's would give
        def __init__(self, eps):
            self.eps = eps

        def generate(self, x, y):
            return np.clip(x + 2 * self.eps, 0, 1)

    monkeypatch.setattr(attacks, "_build", lambda spec, clf: TooFar(spec.eps))
    eps = 5 / 255  # a set no other test builds, so the store cannot answer from its cache
    with pytest.raises(SelfCheckError, match="left its eps ball"):
        pipeline.adversarial_set(store, smoke, smoke_dataset, smoke_base, "base", "pgd", eps)
    manifests = (store.root / "objects" / "adversarial_set").glob("*/manifest.json")
    assert not [m for m in manifests if json.loads(m.read_text())["spec"]["eps"] == eps]


def test_no_gradient_masking_zero_input_gradients(smoke_arch_base, smoke_dataset):
    """Gradient masking shows first as exactly zero input gradients (a saturated softmax, a flat layer)."""
    x, y = pipeline.load_arrays(smoke_dataset, "test")
    one_hot = np.eye(10)[y[:SMOKE.n_attack]]
    zero = attacks.zero_gradient_fraction(smoke_arch_base.load(), x[:SMOKE.n_attack], one_hot, 10)
    assert zero <= 0.02, f"{smoke_arch_base.name}: {zero:.1%} of images have an all-zero input gradient"


def test_no_gradient_masking_apgd_dlr_is_not_much_stronger_than_cross_entropy(store, smoke, smoke_dataset,
                                                                            smoke_arch_base):
    """If APGD with Croce and Hein's DLR loss beat cross-entropy by far, cross-entropy gradients would be masked:
    a margin of 5 points plus two images."""
    model = smoke_arch_base.load()
    adv = _set(store, smoke, smoke_dataset, smoke_arch_base, "apgd")[1]
    ce = _accuracy(model, adv)
    spec = attacks.with_loss(attacks.attack_spec(SMOKE, "apgd"), "difference_logits_ratio")
    x_te, _ = pipeline.load_arrays(smoke_dataset, "test")
    x_dlr = attacks.craft(spec, model, x_te[adv["index"]], adv["y"], 10)
    dlr = float((training.predict(model, x_dlr) == adv["y"]).mean())
    assert dlr >= ce - 0.05 - 2 / len(adv["y"]), f"{smoke_arch_base.name}: APGD-DLR {dlr:.3f}, APGD-CE {ce:.3f}"


def test_smoke_pruned_models_stay_within_10_points_of_base_and_control(store, smoke, smoke_dataset,
                                                                       smoke_arch_base, smoke_pruned):
    """Otherwise the gate tracks a broken fine-tuning, not pruning. The control arm had the same fine-tuning."""
    ratio = smoke_pruned.meta["ratio"]
    if ratio == 0:
        pytest.skip("the control arm is the reference")
    base = smoke_arch_base.artifact.info["clean_accuracy"]
    acc = smoke_pruned.artifact.info["ratios"][f"{ratio:g}"]["clean_accuracy"]
    control = pipeline.control_model(store, smoke, smoke_dataset, smoke_arch_base, ratio)
    reference = control.artifact.info["steps"][str(control.meta["steps"])]["clean_accuracy"]
    assert acc >= base - 0.10 and abs(acc - reference) <= 0.10, \
        f"{smoke_pruned.name}: clean {acc:.3f}, base {base:.3f}, control {reference:.3f}"
