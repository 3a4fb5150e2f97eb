import numpy as np
import pytest
import torch

from robustness import pipeline, training
from robustness.models import create_model
from robustness.profiles import load_profile


def test_training_is_deterministic_on_cpu(smoke_dataset):
    x, y = pipeline.load_arrays(smoke_dataset, "train")
    states = []
    for _ in range(2):
        model = create_model("mobilenet_v1", 10, 0.125)
        training.seed_everything(3)
        model = create_model("mobilenet_v1", 10, 0.125)
        training.train(model, x[:128], y[:128], epochs=1, batch_size=32, lr=0.05, weight_decay=5e-4, seed=3)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_progress_is_reported_per_epoch(smoke_dataset):
    x, y = pipeline.load_arrays(smoke_dataset, "train")
    lines = []
    training.train(create_model("vgg19", 10, 0.125), x[:64], y[:64], epochs=2, batch_size=32, lr=0.01,
                   weight_decay=0, seed=0, progress=lines.append, label="vgg")
    assert lines[0].startswith("vgg: epoch 1/2, ") and " left, loss " in lines[0]  # with the time left
    assert lines[1].startswith("vgg: epoch 2/2, took ")


def test_channels_last_gives_the_same_predictions_and_leaves_weights_contiguous(smoke_base, smoke_dataset):
    x, _ = pipeline.load_arrays(smoke_dataset, "test")
    model = smoke_base.load()
    plain = training.logits(model, x[:64])
    fast = training.logits(model, x[:64], layout="channels_last")
    assert np.abs(plain - fast).max() < 1e-3 and (plain.argmax(1) == fast.argmax(1)).all()
    assert all(p.is_contiguous() for p in model.parameters())  # a saved state dict does not depend on it
    assert not model._forward_pre_hooks
    with pytest.raises(Exception, match="channels_last, contiguous"):
        training.predict(model, x[:2], layout="nhwc")


def test_the_memory_format_is_a_profile_field_and_part_of_the_keys(smoke):
    from robustness.errors import UsageError

    assert smoke.memory_format == "channels_last"
    assert smoke.replace(memory_format="contiguous").hash != smoke.hash
    with pytest.raises(UsageError, match="choose from channels_last, contiguous"):
        load_profile("smoke", overrides={"memory_format": "nhwc"})


def test_smoke_base_model_learns(smoke_base, smoke_dataset):
    x, y = pipeline.load_arrays(smoke_dataset, "test")
    model = smoke_base.load()
    acc = float((training.predict(model, x) == y).mean())
    assert acc == smoke_base.artifact.info["clean_accuracy"]
    # smoke proves the code path; the accuracy bar is on the default profile (test_default_base_models_reach_95)
    assert acc > 0.6, f"smoke base model reaches only {acc:.3f} on {len(y)} digits (chance is 0.1)"
    assert not model.training


def test_checkpoint_that_does_not_fit_is_refused(smoke_base):
    from robustness.errors import UsageError

    meta = {**smoke_base.meta, "width": smoke_base.meta["width"] * 2}
    with pytest.raises(UsageError, match="does not fit.*give the architecture, width and class count"):
        pipeline.build_module(meta, torch.load(smoke_base.weights, weights_only=True), "ckpt")
    meta = {**smoke_base.meta, "num_classes": 100}
    with pytest.raises(UsageError, match="does not fit"):
        pipeline.build_module(meta, torch.load(smoke_base.weights, weights_only=True), "ckpt")


def test_predict_keeps_train_mode_and_batches():
    model = create_model("vgg19", 10, 0.125).train()
    preds = training.predict(model, np.random.rand(5, 3, 32, 32).astype(np.float32), batch_size=2)
    assert preds.shape == (5,) and model.training


@pytest.mark.slow
@pytest.mark.parametrize("arch", load_profile("default").archs)
def test_default_base_models_reach_95(store, arch):
    default = load_profile("default")
    ds = pipeline.dataset(store, default)
    ref = pipeline.base_model(store, default, ds, arch)
    x, y = pipeline.load_arrays(ds, "test")
    acc = float((training.predict(ref.load(), x) == y).mean())
    assert acc >= 0.95, f"default {arch} reaches {acc:.4f} clean accuracy on {len(y)} digits"
