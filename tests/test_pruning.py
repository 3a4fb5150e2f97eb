"""NNCF pruning and OpenVINO deployment on untrained width-reduced models: structure, not accuracy."""

import numpy as np
import pytest
import torch

from robustness import deploy, pruning
from robustness.errors import UsageError
from robustness.models import create_model, list_models


def _no_finetune(model, step):
    pass


@pytest.fixture(scope="module", params=list_models())
def pruned_pair(request, tmp_path_factory):
    torch.manual_seed(0)
    model = create_model(request.param, 10, 0.25).eval()
    steps = pruning.prune_stepwise(model, "l2", [0.3, 0.5], _no_finetune, prune_downsample_convs=True)
    folder = tmp_path_factory.mktemp(request.param)
    pruned = create_model(request.param, 10, 0.25)
    pruned.load_state_dict(steps[-1].state_dict, strict=True)
    return {"name": request.param, "model": model, "pruned": pruned.eval(), "steps": steps,
            "base_ir": deploy.export_ir(model, folder / "base.xml"), "base_xml": folder / "base.xml",
            "pruned_ir": deploy.export_ir(pruned, folder / "pruned.xml"), "pruned_xml": folder / "pruned.xml"}


def test_masks_are_nested_filter_by_filter_and_ratios_reached(pruned_pair):
    s30, s50 = pruned_pair["steps"]
    for layer, info in s50.stats["layers"].items():
        assert info["pruned"] == int(info["filters"] * 0.5) == len(info["pruned_filters"]), layer  # floor(C * r)
        earlier = set(s30.stats["layers"][layer]["pruned_filters"])
        assert earlier <= set(info["pruned_filters"]), f"{layer}: filters pruned at 0.3 came back at 0.5"
        assert len(earlier) == int(info["filters"] * 0.3), layer
    zero = pruning.zero_filter_fraction(pruned_pair["pruned"])
    assert 0.2 < zero <= 0.5


def test_original_model_is_left_untouched(pruned_pair):
    assert pruning.zero_filter_fraction(pruned_pair["model"]) == 0.0


def test_openvino_removes_the_zeroed_filters(pruned_pair):
    base, pruned = pruned_pair["base_ir"], pruned_pair["pruned_ir"]
    b, p = [c for _, c in base["conv_channels"]], [c for _, c in pruned["conv_channels"]]
    assert len(b) == len(p)
    assert any(pc < bc for pc, bc in zip(p, b)) and all(pc <= bc for pc, bc in zip(p, b))
    assert pruned["bin_bytes"] < 0.8 * base["bin_bytes"], (pruned["bin_bytes"], base["bin_bytes"])


def test_openvino_predicts_like_torch(pruned_pair):
    x = np.random.default_rng(0).random((64, 3, 32, 32), dtype=np.float32)
    for model, xml in ((pruned_pair["model"], pruned_pair["base_xml"]),
                       (pruned_pair["pruned"], pruned_pair["pruned_xml"])):
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        out = deploy.Runner(xml, batch=len(x)).logits(x)
        assert np.abs(out - ref).max() < 1e-3
        assert (out.argmax(1) == ref.argmax(1)).mean() >= 0.995


def test_the_build_refuses_an_ir_that_kept_pruned_channels(pruned_pair):
    """What the opset-14 pool bug did: one convolution keeps its pruned channels. A test on counts of any
    shrunk conv would pass it; the build-time check compares every convolution with the torch model."""
    from robustness.errors import SelfCheckError

    kept = [c for _, c in pruned_pair["pruned_ir"]["conv_channels"]]
    deploy.check_channels(pruned_pair["pruned"], kept)  # the real IR passes
    full = [c for _, c in pruned_pair["base_ir"]["conv_channels"]]
    i = next(i for i, (a, b) in enumerate(zip(kept, full)) if a < b)
    with pytest.raises(SelfCheckError, match=f"IR convolution {i} has {full[i]} output channels"):
        deploy.check_channels(pruned_pair["pruned"], kept[:i] + [full[i]] + kept[i + 1:])


def test_first_conv_is_kept_whole(pruned_pair):
    base, pruned = pruned_pair["base_ir"]["conv_channels"], pruned_pair["pruned_ir"]["conv_channels"]
    assert pruned[0][1] == base[0][1]


def test_control_arm_trains_without_pruning():
    model = create_model("vgg19", 10, 0.125)
    calls = []
    states = pruning.control_stepwise(model, 3, lambda m, step: calls.append(step))
    assert calls == [0, 1, 2] and len(states) == 3


@pytest.mark.parametrize("criterion, ratios, words", [
    ("random", [0.5], "unknown criterion 'random'"),
    ("l1", [1.0], "outside (0, 1)"),
    ("l1", [0.0], "control arm"),
])
def test_bad_pruning_input(criterion, ratios, words):
    with pytest.raises(UsageError) as err:
        pruning.prune_stepwise(create_model("vgg19", 10, 0.125), criterion, ratios, _no_finetune)
    assert words in str(err.value)
