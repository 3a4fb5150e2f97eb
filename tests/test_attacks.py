"""The attack wrapper: ART's attacks run unchanged on an estimator whose per-label class gradient takes one
backward pass; its gradients and a Carlini-Wagner set equal stock ART's."""

import contextlib
import warnings

import numpy as np
import pytest
import torch

from robustness import attacks, pipeline


@pytest.fixture(scope="module")
def few(smoke_dataset):
    x, y = pipeline.load_arrays(smoke_dataset, "test")
    return np.ascontiguousarray(x[:24]), y[:24]


def _stock(model, num_classes):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model.eval(), loss=torch.nn.CrossEntropyLoss(), input_shape=(3, 32, 32),
                             nb_classes=num_classes, clip_values=(0.0, 1.0), device_type="cpu")


def test_one_backward_class_gradient_equals_arts(smoke_base, few):
    x, y = few
    model = smoke_base.load()
    fast, stock = attacks.classifier(model, 10), _stock(model, 10)
    assert type(fast).__mro__[1] is type(stock)  # a subclass: ART's attack classes see an ART estimator
    labels = (y + 3) % 10  # several distinct labels, not the true ones
    np.testing.assert_array_equal(fast.class_gradient(x, label=labels), stock.class_gradient(x, label=labels))
    for label in (None, 4):  # every other case is ART's own code
        np.testing.assert_array_equal(fast.class_gradient(x, label=label), stock.class_gradient(x, label=label))


def test_a_carlini_wagner_set_equals_the_one_stock_art_crafts(smoke, smoke_base, few, monkeypatch):
    x, y = few
    model = smoke_base.load()
    spec = attacks.attack_spec(smoke, "cw")
    ours = attacks.craft(spec, model, x, y, 10)
    with monkeypatch.context() as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from art.estimators.classification import PyTorchClassifier

        m.setattr(attacks, "_one_backward_class", lambda: PyTorchClassifier)
        assert type(attacks.classifier(model, 10)) is PyTorchClassifier
        stock = attacks.craft(spec, model, x, y, 10)
    np.testing.assert_array_equal(ours, stock)
    assert not np.array_equal(ours, x)  # the attack did something


def test_craft_runs_in_the_profiles_layout_and_restores_the_model(smoke, smoke_base, few):
    x, y = few
    model = smoke_base.load()
    x_adv = attacks.craft(attacks.attack_spec(smoke, "fgsm"), model, x, y, 10, layout="channels_last")
    attacks.check_perturbation(attacks.attack_spec(smoke, "fgsm"), x, x_adv)
    assert all(p.is_contiguous() for p in model.parameters()) and not model._forward_pre_hooks


def test_the_estimator_runs_on_the_profiles_device():
    from robustness.errors import UsageError

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    assert str(attacks.classifier(model, 10, "cpu").device) == "cpu"
    if not torch.cuda.is_available():  # a cuda profile on a machine without a GPU: one clear line
        with pytest.raises(UsageError, match="no GPU is visible"):
            attacks.classifier(model, 10, "cuda")
    else:
        assert attacks.classifier(model, 10, "cuda").device.type == "cuda"


def test_every_attack_crafts_the_same_bits_with_the_weights_frozen(smoke, few, monkeypatch):
    """Frozen weights only skip the weights' gradients, which no attack uses: every attack's set is the one it
    crafts on a model whose weights require gradients, and the weights are trainable again afterwards. (A small
    untrained VGG19 on 8 images: the three gradient paths of ART's estimator are the same on any model.)"""
    from robustness.models import create_model

    x, y = few[0][:8], few[1][:8]
    torch.manual_seed(0)
    model = create_model("vgg19", 10, 0.0625, [0.5] * 3, [0.25] * 3).eval()
    seen = []
    real = attacks._craft
    monkeypatch.setattr(attacks, "_craft", lambda *a: seen.append(any(p.requires_grad for p in a[1].parameters()))
                        or real(*a))
    for name in smoke.attacks:
        spec = attacks.attack_spec(smoke, name)
        frozen = attacks.craft(spec, model, x, y, 10, layout="channels_last")
        assert all(p.requires_grad for p in model.parameters())
        with monkeypatch.context() as m:
            m.setattr(attacks, "input_gradients_only", contextlib.nullcontext)
            trainable = attacks.craft(spec, model, x, y, 10, layout="channels_last")
        np.testing.assert_array_equal(frozen, trainable, err_msg=name)
    assert seen == [False, True] * len(smoke.attacks)


def test_the_second_gradient_of_the_same_images_reuses_the_first_forward_pass(smoke_base, few):
    """Carlini-Wagner asks for two labels' gradients of the same images in a row: one forward pass serves both,
    a third call, other images or changed weights get a new one, and every gradient is stock ART's."""
    x, y = few
    model = smoke_base.load()
    fast, stock = attacks.classifier(model, 10), _stock(model, 10)
    forwards = []
    a, b = (y + 1) % 10, (y + 2) % 10

    def counted(*calls):
        handle = model.register_forward_hook(lambda *_: forwards.append(1))
        try:
            return [fast.class_gradient(xx, label=label) for xx, label in calls]
        finally:
            handle.remove()

    ga, gb, ga_again = counted((x, a), (x, b), (x, a))
    assert len(forwards) == 2  # the pair shared one; the third call found the graph used up
    for got, label in ((ga, a), (gb, b), (ga_again, a)):
        np.testing.assert_array_equal(got, stock.class_gradient(x, label=label))
    other = x.copy()
    other[0, 0, 0, 0] = 1 - other[0, 0, 0, 0]
    counted((other, b))
    assert len(forwards) == 3  # other images: a new forward pass
    counted((x, a))
    with torch.no_grad():
        next(model.parameters()).mul_(0.5)
    (g_changed,) = counted((x, b))
    assert len(forwards) == 5  # changed weights: a new forward pass, and the new weights' gradient
    np.testing.assert_array_equal(g_changed, stock.class_gradient(x, label=b))


def _deepfool_both(spec, model, x, y, monkeypatch):
    """The set our DeepFool crafts (stepping the images still standing) and the one ART's DeepFool crafts."""
    from art.attacks.evasion import DeepFool

    ours = attacks.craft(spec, model, x, y, 10, layout="channels_last")
    with monkeypatch.context() as m:
        m.setattr(attacks, "_deepfool_standing_class", lambda: DeepFool)
        stock = attacks.craft(spec, model, x, y, 10, layout="channels_last")
    return ours, stock


@pytest.mark.parametrize("where", ["smoke", "default"])
def test_deepfool_on_the_images_still_standing_equals_arts(where, smoke, smoke_base, few, monkeypatch):
    """The same sets as ART's DeepFool within 1e-6 per pixel, and the same predictions, on the smoke base model
    and on an untrained default-width DenseNet121 (the architecture DeepFool leaves most images standing on)."""
    from robustness.models import create_model
    from robustness.training import predict

    x, y = few
    if where == "smoke":
        spec, model = attacks.attack_spec(smoke, "deepfool"), smoke_base.load()
    else:  # 8 images: DenseNet121's every class gradient at every step is the costly part
        from robustness.profiles import load_profile

        spec = attacks.attack_spec(load_profile("default"), "deepfool")
        torch.manual_seed(0)
        model = create_model("densenet121", 10, 0.25, [0.5] * 3, [0.25] * 3).eval()
        x, y = x[:8], y[:8]
    assert spec.params["steps"] == "standing"
    from robustness.training import torch_threads

    with torch_threads(1):  # two threads contending with other workers made this case 100x slower
        ours, stock = _deepfool_both(spec, model, x, y, monkeypatch)
    assert float(np.abs(ours - stock).max()) <= 1e-6
    np.testing.assert_array_equal(predict(model, ours), predict(model, stock))
    assert not np.array_equal(ours, x)


def test_deepfool_steps_only_the_images_still_standing(smoke, smoke_base, few, monkeypatch):
    """Counted in images differentiated: ART takes the whole batch's gradients at every step, ours only those of
    the images not yet fooled, so ours costs less wherever an image is fooled before the last step."""
    from art.attacks.evasion import DeepFool

    x, y = few
    model = smoke_base.load()
    spec = attacks.attack_spec(smoke, "deepfool")
    real = attacks._one_backward_class()

    def rows_differentiated(kind) -> list[int]:
        rows: list[int] = []

        class Counting(real):
            def class_gradient(self, x, label=None, **kwargs):
                rows.append(len(x))
                return super().class_gradient(x, label=label, **kwargs)

        with monkeypatch.context() as m:
            m.setattr(attacks, "_one_backward_class", lambda: Counting)
            m.setattr(attacks, "_deepfool_standing_class", kind)
            attacks.craft(spec, model, x, y, 10)
        return rows

    ours = rows_differentiated(attacks._deepfool_standing_class)
    stock = rows_differentiated(lambda: DeepFool)
    assert set(stock) == {len(x)} and ours[0] == len(x)
    assert sum(ours) < sum(stock) and ours == sorted(ours, reverse=True)
