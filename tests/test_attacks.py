"""The attack wrapper: ART's attacks run unchanged on an estimator whose per-label class gradient takes one
backward pass; its gradients and a Carlini-Wagner set equal stock ART's."""

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
