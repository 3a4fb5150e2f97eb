"""Bring your own model, checkpoint and data; robustness.evaluate; team thresholds; the pytest11 entry points."""

import shutil
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import torch

import robustness
from robustness import pipeline, thresholds
from robustness.errors import UsageError
from robustness.profiles import load_profile

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-model"
OWN = dict(dataset="npz", data_path=str(EXAMPLE / "data"), archs=["own_model:small_cnn"],
           checkpoint=str(EXAMPLE / "model.pt"), attacks=["fgsm"], criteria=["l1"], ratios=[0.25])


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))


def test_the_plugin_is_registered_by_entry_points():
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names["robustness-options"] == "robustness.plugin.options"
    assert names["robustness-fixtures"] == "robustness.plugin.fixtures"
    assert names["robustness-claims"] == "robustness.plugin.claims"


def test_evaluate_returns_results_json_records(store, tmp_path):
    from own_model import small_cnn

    records = robustness.evaluate(small_cnn, EXAMPLE / "data", checkpoint=EXAMPLE / "model.pt", attacks=["fgsm"],
                                  criteria=["l1"], ratios=[0.25], profile="smoke", cache_dir=store.root,
                                  claims=["clean_within_2pp", "ir_size_cut_66"], results_dir=tmp_path,
                                  progress=None, n_test=0)
    assert [r["claim"] for r in records] == ["clean_within_2pp"]  # the IR claim is stated at 0.5 only
    rec = records[0]
    assert rec["cell"] == "npz-own_model:small_cnn-l1-0.25" and rec["n"] == 300
    assert rec["base"]["value"] > 0.9 and rec["interval"][0] <= rec["value"] <= rec["interval"][1]
    assert rec["verdict"] in ("reproduced", "inconclusive", "not reproduced")
    assert (tmp_path / "results.json").is_file() and (tmp_path / "report.md").is_file()


def test_own_model_keys_follow_content_not_paths(store, tmp_path):
    copy = shutil.copytree(EXAMPLE / "data", tmp_path / "elsewhere")
    a = pipeline.dataset(store, load_profile("smoke", overrides=OWN))
    b = pipeline.dataset(store, load_profile("smoke", overrides={**OWN, "data_path": str(copy)}))
    assert a.key == b.key
    prof = load_profile("smoke", overrides=OWN)
    base = pipeline.base_model(store, prof, a, "own_model:small_cnn")
    assert base.artifact.info["checkpoint"].endswith("model.pt")
    state = torch.load(EXAMPLE / "model.pt", weights_only=True)
    state["classifier.bias"] = state["classifier.bias"] + 1.0
    torch.save(state, tmp_path / "other.pt")
    changed = load_profile("smoke", overrides={**OWN, "checkpoint": str(tmp_path / "other.pt")})
    other = pipeline.base_model(store, changed, a, "own_model:small_cnn")
    assert other.artifact.key != base.artifact.key


@pytest.mark.parametrize("change, fix", [
    ({"data_path": "/nonexistent"}, "dataset npz needs data_path"),
    ({"checkpoint": "/nonexistent/model.pt"}, "is not a file"),
    ({"archs": ["own_model:small_cnn", "vgg19"]}, "checkpoint"),
    ({"archs": ["own_model:small cnn"]}, "is not of the form package.module:function"),
])
def test_bad_own_settings_name_the_fix(change, fix):
    with pytest.raises(UsageError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        load_profile("smoke", overrides={**OWN, **change})


@pytest.mark.parametrize("change, fix", [
    ({"archs": ["own_model:no_such_fn"]}, "has no callable 'no_such_fn'"),
    ({"archs": ["no_such_module:fn"]}, "cannot import model factory 'no_such_module:fn'"),
    ({"dataset": "own_model:nothing"}, "has no callable 'nothing'"),
])
def test_a_factory_is_imported_when_a_build_checks_its_inputs_not_when_a_profile_is_read(change, fix):
    from robustness.validation import check_inputs

    profile = load_profile("smoke", overrides={**OWN, **change})  # reading imports nothing
    with pytest.raises(UsageError, match=fix):
        check_inputs(profile)


def test_a_checkpoint_that_does_not_fit_or_is_a_pickle_is_refused(store, tmp_path):
    ds = pipeline.dataset(store, load_profile("smoke", overrides=OWN))
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, tmp_path / "misfit.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pt")
    for name, fix in (("misfit.pt", "does not fit own_model:small_cnn"),
                      ("pickled.pt", "torch.save\\(model.state_dict")):
        prof = load_profile("smoke", overrides={**OWN, "checkpoint": str(tmp_path / name)})
        with pytest.raises(UsageError, match=fix):
            pipeline.base_model(store, prof, ds, "own_model:small_cnn")


def test_bad_data_npz_names_the_fix(tmp_path):
    from robustness.data import load_npz_split

    np.savez(tmp_path / "data.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8), y_train=np.zeros(2))
    with pytest.raises(UsageError, match="lacks x_test, y_test"):
        load_npz_split(tmp_path, 0, 0, 0)
    np.savez(tmp_path / "data.npz", x_train=np.zeros((2, 3, 8, 8), np.float32), y_train=np.zeros(2),
             x_test=np.zeros((2, 3, 8, 8), np.float32), y_test=np.zeros(2))
    with pytest.raises(UsageError, match="N x 3 x 32 x 32"):
        load_npz_split(tmp_path, 0, 0, 0)
    np.savez(tmp_path / "data.npz", x_train=np.array([object()]), y_train=np.zeros(1), x_test=np.zeros(1),
             y_test=np.zeros(1))
    with pytest.raises(UsageError, match="object arrays"):
        load_npz_split(tmp_path, 0, 0, 0)


def test_thresholds_are_read_and_checked(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[[threshold]]\nattack = "pgd"\neps = "8/255"\nmax_drop = 0.02\n[[threshold]]\nmetric = "clean"\n'
                    'max_drop = 0.01\n')
    got = thresholds.load_thresholds(path)
    assert [t.id for t in got] == ["base-pgd-eps8-drop2pp", "clean-drop1pp"]
    assert got[0].eps == pytest.approx(8 / 255)
    assert load_profile("smoke", path).to_dict() == load_profile("smoke").to_dict()  # thresholds are not fields
    path.write_text('[[threshold]]\nattack = "pgd"\nmax_dorp = 0.02\n')
    with pytest.raises(UsageError, match="unknown fields \\['max_dorp'\\] or lacks max_drop"):
        thresholds.load_thresholds(path)
    with pytest.raises(UsageError, match="unknown attack 'pgdd'"):
        thresholds.Threshold(max_drop=0.02, attack="pgdd")


def test_a_threshold_fails_with_the_measured_drop(store):
    prof = load_profile("smoke", overrides={**OWN, "ratios": [0.5], "n_test": 0})
    ds = pipeline.dataset(store, prof)
    base = pipeline.base_model(store, prof, ds, "own_model:small_cnn")
    pruned = pipeline.pruned_model(store, prof, ds, base, "l1", 0.5)
    strict = thresholds.check(thresholds.Threshold(max_drop=-0.5, metric="clean"), store, prof, ds, base, pruned)
    assert strict["verdict"] == "fail" and "allowed -50.00 pp" in strict["message"]
    assert "n=300" in strict["message"] and "on 300 clean test images" in strict["message"]
    loose = thresholds.check(thresholds.Threshold(max_drop=0.5, metric="clean"), store, prof, ds, base, pruned)
    assert loose["verdict"] == "pass" and loose["value"] == strict["value"] and loose["interval"] == strict["interval"]




def tiny_dataset(train: bool):
    """A torchvision-style dataset factory: (image tensor in [0, 1], label) items."""
    g = torch.Generator().manual_seed(0 if train else 1)
    return [(torch.rand(3, 32, 32, generator=g), i % 3) for i in range(30 if train else 12)]


def test_a_dataset_factory_is_read_and_keyed_by_content(store):
    prof = load_profile("smoke", overrides={"dataset": f"{__name__}:tiny_dataset", "archs": ["vgg19"]})
    ds = pipeline.dataset(store, prof)
    x, y = pipeline.load_arrays(ds, "train")
    assert x.shape == (30, 3, 32, 32) and ds.info["num_classes"] == 3 and sorted(set(y)) == [0, 1, 2]
    assert ds.spec["sha256"] and ds.spec["factory_sha256"]
