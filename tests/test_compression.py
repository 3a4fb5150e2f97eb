"""Compression methods beyond NNCF's filter pruning: the registry and its profile axis, Torch-Pruning's physically
smaller models and their IRs, INT8 IRs from nncf.quantize, their keys, and the claims asked of them."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from robustness import claims, compression, deploy, pipeline
from robustness.cli import main
from robustness.compression import artifacts, depgraph
from robustness.errors import SelfCheckError, UsageError
from robustness.models import create_model, list_models
from robustness.plan import graph
from robustness.profiles import load_profile
from robustness.store import Store, load_state_dict

REPO = Path(__file__).resolve().parent.parent
NO_PREDICTIONS = ["base", "attacks", "pruning", "deploy"]
OLD_KINDS = {"dataset", "base_model", "control_models", "pruned_models", "ir", "adversarial_set"}


def _no_finetune(model, step):
    pass


class _Snapshots(list):
    """A fine-tuning step that trains nothing and keeps a copy of the model the pruner left."""

    def __call__(self, model, step):
        self.append(copy.deepcopy(model).eval())


# the registry and the profile ----------------------------------------------------------------------------------
def test_list_names_the_methods_with_their_references(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "methods: int8 nncf_filter torch_pruning" in out
    assert "torch_pruning: pruning, Torch-Pruning" in out and "judged against the control arm" in out
    assert "int8: quantization" in out and "judged against the FP32 IR of the same model" in out


@pytest.mark.parametrize("changes, words", [
    ({"methods": "nncf_filter,int4"}, "unknown method 'int4' in profile field 'methods': choose from int8, "
                                      "nncf_filter, torch_pruning"),
    ({"torch_pruning_criteria": "taylor"}, "criterion 'taylor' in profile field 'torch_pruning_criteria' is not "
                                           "offered by torch_pruning"),
    ({"int8_calibration_size": "601"}, "int8_calibration_size 601 is larger than the training split (600 images): "
                                       "set int8_calibration_size to at most 600"),
    ({"methods": "torch_pruning,int8"}, "it must hold nncf_filter"),
    ({"int8_preset": "fast"}, "unknown int8_preset 'fast': choose from mixed, performance"),
])
def test_bad_compression_settings_are_one_line_naming_the_fix(changes, words, capsys, tmp_path):
    with pytest.raises(UsageError, match=None) as info:
        load_profile("smoke", overrides=changes)
    assert words in str(info.value) and "\n" not in str(info.value)
    args = [a for k, v in changes.items() for a in ("--set", f"{k}={v}")]
    assert main(["build", "--profile", "smoke", *args, "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not list(tmp_path.rglob("manifest.json"))


def test_the_calibration_subset_is_checked_against_the_whole_split_too():
    with pytest.raises(UsageError, match="larger than the training split \\(1257 images\\)"):
        load_profile("default", overrides={"int8_calibration_size": "1258"})
    load_profile("default", overrides={"int8_calibration_size": "1258", "methods": "nncf_filter,torch_pruning"})


def test_int8_on_a_cpu_openvino_cannot_run_int8_on_stops_before_anything_is_built(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(deploy, "cpu_int8_features",
                        lambda: {"int8_instructions": [], "openvino_capabilities": ["FP32", "BIN"]})
    assert main(["build", "--profile", "smoke", "--cache-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "offers no INT8 inference on this machine" in err[0]
    assert "--set methods=nncf_filter,torch_pruning" in err[0]
    assert not (tmp_path / "objects").exists()
    assert main(["build", "--profile", "smoke", "--set", "methods=nncf_filter,torch_pruning", "--set",
                 "archs=vgg19", "--stages", "base", "--set", "epochs=1", "--set", "n_train=64", "--set",
                 "n_test=32", "--cache-dir", str(tmp_path)]) == 0  # without int8 the same CPU builds


def test_the_paper_s_keys_are_the_same_with_and_without_the_other_methods(tmp_path):
    """NNCF's artifacts add nothing to their specs for the other methods: a store built before them is reused."""
    smoke = load_profile("smoke")
    paper_only = smoke.replace(methods=("nncf_filter",), torch_pruning_criteria=("l2",), int8_calibration_size=9)
    with_all = {s.key: s.kind for s in graph(smoke, tmp_path, NO_PREDICTIONS)}
    before = {s.key: s.kind for s in graph(paper_only, tmp_path, NO_PREDICTIONS)}
    assert set(before.values()) == OLD_KINDS
    assert {k for k, kind in with_all.items() if kind in OLD_KINDS} == set(before)
    assert {"tp_pruned_models", "tp_ir", "int8_ir", "query_set"} <= set(with_all.values())
    assert paper_only.hash == load_profile("smoke", overrides={"methods": "nncf_filter"}).hash != smoke.hash


@pytest.mark.parametrize("field, value", [("int8_calibration_size", 32), ("int8_preset", "mixed"),
                                          ("int8_fast_bias_correction", False)])
def test_int8_keys_change_with_the_calibration_settings_and_nothing_else_does(tmp_path, field, value):
    smoke = load_profile("smoke")
    one = {s.node: (s.key, s.kind) for s in graph(smoke, tmp_path, NO_PREDICTIONS)}
    other = {s.node: (s.key, s.kind) for s in graph(smoke.replace(**{field: value}), tmp_path, NO_PREDICTIONS)}
    assert one.keys() == other.keys()
    int8 = [n for n, (_, kind) in one.items() if kind == "int8_ir"]
    assert len(int8) == 14 and all(one[n][0] != other[n][0] for n in int8)
    # the query attack on an INT8 IR follows its IR; every other artifact keeps its key
    moved = {n for n in one if one[n][0] != other[n][0]}
    assert moved == set(int8) | {n for n in one if n.stage == "query" and n.method == "int8"}


def test_method_cells_give_each_method_its_criteria_and_int8_of_the_base_none():
    default = load_profile("default")
    cells = claims.cells(claims.get_claim("compressed_clean_within_2pp"), default)
    ids = [claims.cell_id(claims.get_claim("compressed_clean_within_2pp"), c) for c in cells]
    assert "int8-digits-resnet50" in ids and "torch_pruning+int8-digits-vgg19-l1-0.5" in ids
    assert "nncf_filter+int8-digits-vgg19-geometric_median-0.1" in ids and len(ids) == len(set(ids))
    assert {c["criterion"] for c in cells if c["method"] == "torch_pruning"} == {"l1"}
    assert not [c for c in cells if c["method"] == "int8" and ("criterion" in c or "ratio" in c)]
    assert not [c for c in cells if c["method"] == "nncf_filter"]  # the paper's claims measure it
    lib = claims.get_claim("libraries_comparable")
    assert {c["criterion"] for c in claims.cells(lib, default)} == {"l1"}
    assert not claims.cells(lib, default.replace(methods=("int8", "nncf_filter")))
    assert not claims.cells(claims.get_claim("int8_query_within_1pp"), default.replace(methods=("nncf_filter",)))


def test_claims_collect_cells_for_int8_and_torch_pruning_on_default():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBUSTNESS_", "PYTEST_XDIST"))}
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/claims", "-m", "claims", "--collect-only", "-q",
                             "--robustness-profile", "default", "-p", "no:cacheprovider"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    out = result.stdout
    assert result.returncode == 0, out[-2000:] + result.stderr[-2000:]
    assert "test_compressed_adv_within_1pp[int8-surrogate-digits-densenet121-apgd]" in out
    assert "test_compressed_adv_within_1pp[torch_pruning-surrogate-digits-vgg19-l1-0.5-pgd]" in out
    assert "test_int8_query_within_1pp[int8-digits-resnet50]" in out
    assert "test_libraries_comparable[surrogate-digits-mobilenet_v1-l1-0.3-fgsm]" in out


# Torch-Pruning on untrained models: structure ------------------------------------------------------------------
@pytest.fixture(scope="module", params=list_models())
def tp_pruned(request):
    torch.manual_seed(0)
    model = create_model(request.param, 10, 0.125).eval()
    criterion = {"densenet121": "l2", "mobilenet_v1": "geometric_median"}.get(request.param, "l1")
    pruned = _Snapshots()
    steps = depgraph.prune_stepwise(model, criterion, [0.3, 0.5], pruned)
    return {"name": request.param, "model": model, "steps": steps, "criterion": criterion, "pruned": pruned}


def test_torch_pruning_removes_channels_stepwise_and_keeps_first_conv_and_classes(tp_pruned):
    full = depgraph.conv_out_channels(tp_pruned["model"])
    s30, s50 = tp_pruned["steps"]
    w30, w50 = s30.structure["conv_out_channels"], s50.structure["conv_out_channels"]
    assert len(w30) == len(w50) == len(full) and w50[0] == full[0]  # the first conv stays whole
    assert all(b <= a <= f for f, a, b in zip(full, w30, w50)) and sum(w50) < sum(w30) < sum(full)
    assert 0.3 <= s50.stats["filters_pruned_ratio"] <= 0.5
    assert s50.stats["params_current"] < s30.stats["params_current"] < s50.stats["params_full"]
    assert s50.state_dict[next(k for k in s50.state_dict if k.endswith("fc.weight") or k.endswith(
        "classifier.weight"))].shape[0] == 10
    assert depgraph.conv_out_channels(tp_pruned["model"]) == full  # the base model is left untouched


def test_a_torch_pruning_model_is_a_plain_state_dict_rebuilt_from_json(tp_pruned, tmp_path):
    step = tp_pruned["steps"][-1]
    torch.save(step.state_dict, tmp_path / "model.pt")
    (tmp_path / "structure.json").write_text(json.dumps(step.structure))
    assert torch.load(tmp_path / "model.pt", weights_only=True).keys() == step.state_dict.keys()
    meta = {"arch": tp_pruned["name"], "num_classes": 10, "width": 0.125, "mean": [0.5] * 3, "std": [0.25] * 3,
            "structure": "structure.json"}
    rebuilt = artifacts.load(meta, tmp_path / "model.pt")
    assert depgraph.conv_out_channels(rebuilt) == step.structure["conv_out_channels"]
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():  # the very model the pruner left
        assert torch.equal(rebuilt(x), tp_pruned["pruned"][-1](x))


def test_the_ir_holds_exactly_the_kept_channels_and_a_violation_fails(tp_pruned, tmp_path):
    step = tp_pruned["steps"][-1]
    model = create_model(tp_pruned["name"], 10, 0.125)
    depgraph.rebuild(model, step.structure, step.state_dict, "test")
    info = deploy.export_ir(model, tmp_path / "model.xml", remove_zeroed=False)
    ir = [c for _, c in info["conv_channels"]]
    kept = step.structure["conv_out_channels"]
    depgraph.check_kept(kept, ir)
    i = next(i for i, c in enumerate(kept) if c < depgraph.conv_out_channels(tp_pruned["model"])[i])
    with pytest.raises(SelfCheckError, match=f"IR convolution {i} has {kept[i] + 1} output channels"):
        depgraph.check_kept(kept, ir[:i] + [kept[i] + 1] + ir[i + 1:])
    x = np.random.default_rng(0).random((16, 3, 32, 32), dtype=np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    assert np.abs(deploy.Runner(tmp_path / "model.xml", batch=16).logits(x) - ref).max() < 1e-3


def test_bad_torch_pruning_input():
    with pytest.raises(UsageError, match="not offered by torch_pruning: choose from geometric_median, l1, l2"):
        depgraph.importance("taylor")
    with pytest.raises(UsageError, match="outside \\(0, 1\\)"):
        depgraph.prune_stepwise(create_model("vgg19", 10, 0.125), "l1", [0.5, 1.0], _no_finetune)


# the smoke build ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def smoke_models(store, smoke, smoke_dataset, smoke_base):
    """Smoke's first architecture compressed every way at ratio 0.5 (L1, which both libraries run)."""
    made = {m: compression.compressed_model(store, smoke, smoke_dataset, smoke_base, m,
                                            *(() if m == "int8" else ("l1", 0.5)))
            for m in ("int8", "torch_pruning", "nncf_filter+int8", "torch_pruning+int8")}
    made["nncf_filter"] = pipeline.pruned_model(store, smoke, smoke_dataset, smoke_base, "l1", 0.5)
    return made


@pytest.mark.parametrize("method", ["int8", "nncf_filter+int8", "torch_pruning+int8"])
def test_int8_irs_hold_8_bit_weights_in_at_most_0_4_of_the_fp32_bytes(smoke_models, store, method):
    int8 = smoke_models[method]
    info = int8.artifact.info
    fp32 = int8.reference
    assert info["precision"] == "INT8" and info["fake_quantize"] > 0
    assert info["weight_constants"].get("i8", 0) + info["weight_constants"].get("u8", 0) > 0
    assert (int8.artifact.path / "model.bin").stat().st_size <= 0.4 * (fp32.path / "model.bin").stat().st_size
    assert [c for _, c in info["conv_channels"]] == [c for _, c in fp32.info["conv_channels"]]  # same structure
    assert int8.artifact.spec["compress_to_fp16"] is False and int8.artifact.spec["calibration"]["size"] == 64
    assert set(info["runtime_precision"]["Convolution"]) <= {"u8", "i8"}  # OpenVINO ran int8 kernels
    assert "INT8" in info["openvino_capabilities"]


@pytest.mark.parametrize("method", ["int8", "nncf_filter+int8", "torch_pruning+int8"])
def test_int8_agrees_with_its_fp32_ir_on_clean_images_or_the_record_says_otherwise(smoke_models, store,
                                                                                     smoke_dataset, method):
    int8 = smoke_models[method]
    fp32 = smoke_models[compression.split(method)[0]] if method != "int8" else None
    got, y = pipeline.predictions(store, int8, smoke_dataset, "test")
    ref = deploy.Runner(int8.reference.file("model.xml"), batch=len(y)).predict(pipeline.load_arrays(
        smoke_dataset, "test")[0])
    record = int8.artifact.info["clean_agreement"]
    assert record["n"] == len(y) == 200 and record["agree"] == int((got == ref).sum())
    if record["agreement"] < 0.99:
        assert record["below_bound"].startswith(f"INT8 labels agree with the FP32 IR's on {record['agree']} of 200")
    else:
        assert "below_bound" not in record
    parity = pipeline.prediction_set(store, int8, smoke_dataset, "test").info["parity"]
    assert parity["informational"] and parity["agree"] == record["agree"] and parity["checked"] == 200
    if fp32 is not None:  # the reference IR is the FP32 IR of the same pruned model
        assert int8.reference.key == pipeline.deployed_ir(store, fp32).key


def test_torch_pruning_models_are_physically_smaller_and_their_irs_were_checked(smoke_models, store, smoke_base):
    tp, nncf = smoke_models["torch_pruning"], smoke_models["nncf_filter"]
    state = load_state_dict(tp.weights)  # weights_only: nothing stored runs code
    base_state = load_state_dict(smoke_base.weights)
    assert sum(v.numel() for v in state.values()) < 0.5 * sum(v.numel() for v in base_state.values())
    ir = pipeline.deployed_ir(store, tp)
    assert ir.kind == "tp_ir" and [c for _, c in ir.info["conv_channels"]] == ir.info["kept_conv_out_channels"]
    assert ir.info["bin_bytes"] < 0.5 * pipeline.ir_model(store, smoke_base).info["bin_bytes"]
    assert tp.name == "resnet50-torch_pruning-l1-0.5" and nncf.name == "resnet50-l1-0.5"


def test_a_torch_pruning_ir_that_lost_channels_fails_its_build_and_stores_nothing(smoke_models, monkeypatch,
                                                                                   tmp_path):
    """The build-time check replayed: an export whose IR differs in one convolution from what the pruner kept."""
    real = deploy.export_ir

    def one_more(model, xml, remove_zeroed=True):
        info = real(model, xml, remove_zeroed)
        info["conv_channels"][3][1] += 1
        return info

    monkeypatch.setattr(deploy, "export_ir", one_more)
    with pytest.raises(SelfCheckError, match="IR convolution 3 has .* output channels, the Torch-Pruning model kept"):
        artifacts.tp_ir(Store(tmp_path), smoke_models["torch_pruning"])
    assert not list(tmp_path.rglob("manifest.json"))


def test_compression_claims_measure_each_method_against_its_references(smoke_models, store, smoke, smoke_dataset):
    def record(claim_id, cell):
        return claims.measure(claims.get_claim(claim_id), cell, store, smoke, smoke_dataset)

    both = record("compressed_adv_within_1pp", {"method": "torch_pruning+int8", "source": "surrogate",
                                                "dataset": "digits", "arch": "resnet50", "criterion": "l1",
                                                "ratio": 0.5, "attack": "pgd"})
    assert both["decided_on"] == "control" and set(both["minus"]) == {"control", "fp32", "base"}
    assert both["value"] == both["minus"]["control"]["value"] and both["n"] == smoke.n_attack
    assert "minus fp32:" in both["message"] and both["verdict"] in claims.VERDICTS
    assert both["parity"]["against_reference_ir"]["sets"] == 1  # the INT8 IR, apart from the torch parity
    int8 = record("compressed_clean_within_2pp", {"method": "int8", "dataset": "digits", "arch": "resnet50"})
    assert int8["decided_on"] == "fp32" and set(int8["minus"]) == {"fp32"} and int8["n"] == 200
    assert int8["cell"] == "int8-digits-resnet50" and int8["criterion"] is None
    size = record("int8_ir_size_cut", {"method": "nncf_filter+int8", "dataset": "digits", "arch": "resnet50",
                                       "criterion": "l1", "ratio": 0.5})
    assert size["value"] >= 0.6 and size["verdict"] == "reproduced" and size["cut_vs_base"] > size["value"]
    lib = record("libraries_comparable", {"source": "surrogate", "dataset": "digits", "arch": "resnet50",
                                          "criterion": "l1", "ratio": 0.5, "attack": "fgsm"})
    assert set(lib["accuracies"]) == {"nncf_filter", "torch_pruning"} and lib["n"] == smoke.n_attack
    assert lib["interval"][0] <= lib["value"] <= lib["interval"][1]


def test_the_query_attack_and_latency_of_int8_name_what_ran(smoke_models, store, smoke, smoke_dataset):
    query = claims.measure(claims.get_claim("int8_query_within_1pp"),
                           {"method": "int8", "dataset": "digits", "arch": "resnet50"}, store, smoke, smoke_dataset)
    assert query["decided_on"] == "fp32" and query["n"] == smoke.n_attack
    assert query["queries_per_image"]["int8"] > smoke.query_max_iter
    latency = claims.measure(claims.get_claim("compressed_latency_gain_8pct"),
                             {"method": "int8", "dataset": "digits", "arch": "resnet50"}, store, smoke, smoke_dataset)
    assert "int8_instructions" in latency and "INT8" in latency["openvino_capabilities"]
    assert set(latency["runtime_precision"]["compressed"]["Convolution"]) <= {"u8", "i8"}
    assert set(latency["runtime_precision"]["fp32"]["Convolution"]) == {"f32"}
    assert latency["execution_devices"] == ["CPU"] and latency["decided_on"] == "fp32"


@pytest.mark.parametrize("ratios", [(0.0, 0.25, 0.5), (0.5,)], ids=["with-control-arm", "without-ratio-0"])
def test_a_pruned_method_s_latency_is_decided_on_the_control_arm_where_one_is_timed(ratios, store, smoke,
                                                                                     smoke_dataset):
    """Net of the control arm's gain where the profile times one; without ratio 0 no control arm is timed, and the
    gain over the base decides, as the paper's latency claim does (the record says so)."""
    profile = smoke.replace(ratios=ratios, methods=("nncf_filter", "torch_pruning"))  # no INT8 to build and time
    rec = claims.measure(claims.get_claim("compressed_latency_gain_8pct"),
                         {"method": "torch_pruning", "dataset": "digits", "arch": "resnet50", "criterion": "l1",
                          "ratio": 0.5}, store, profile, smoke_dataset)
    assert rec["interval"][0] <= rec["value"] <= rec["interval"][1] and rec["n"] == profile.latency_iterations
    if 0 in ratios:
        assert rec["decided_on"] == "control" and rec["control_gain"]["n"] == rec["n"]
        assert "net of the control arm" in rec["reference"] and set(rec["gain"]) == {"base"}
    else:
        assert rec["decided_on"] == "base" and rec["control_gain"] is None
        assert "no control arm timed" in rec["reference"]
        assert rec["value"] == pytest.approx(rec["gain"]["base"]["value"])
