"""Files the suite reads: its JSON (manifests, stages.json, expected_failures.json, results.json) loads or gives one
line naming the file and the fix, and a profile's own files (checkpoint, data.npz, factory) are checked before any
artifact is stored."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from robustness import expected, report, stages
from robustness.cli import main
from robustness.errors import CorruptArtifactError, UsageError
from robustness.plan import graph
from robustness.profiles import load_profile
from robustness.store import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-model"
CONFLICT = '{\n<<<<<<< HEAD\n "a": {}\n=======\n "b": {}\n>>>>>>> theirs\n}\n'


def _one_line(exc: BaseException, *words: str) -> None:
    text = str(exc)
    assert "\n" not in text and all(w in text for w in words), text


# the suite's JSON -----------------------------------------------------------------------------------------------
def test_a_truncated_manifest_under_plan_is_planned_as_missing_and_a_build_moves_it_aside(tmp_path, caplog):
    profile = load_profile("smoke", overrides={"archs": "vgg19"})
    from robustness import pipeline

    ds = pipeline.dataset(Store(tmp_path), profile)
    manifest = ds.path / "manifest.json"
    manifest.write_text(manifest.read_text()[:40])
    with caplog.at_level("WARNING", logger="robustness.plan"):
        steps = graph(profile, tmp_path, ["base"])
    assert [s.held for s in steps if s.kind == "dataset"] == [False]
    assert "manifest" in caplog.text and "moves it aside" in caplog.text
    again = pipeline.dataset(Store(tmp_path), profile)
    assert again.key == ds.key and len(list((tmp_path / "corrupt").iterdir())) == 1
    assert [s.held for s in graph(profile, tmp_path, ["base"]) if s.kind == "dataset"] == [True]


def test_a_manifest_naming_a_file_outside_its_artifact_is_corrupt(tmp_path):
    store = Store(tmp_path / "store")
    art = store.get("thing", {"a": 1}, [], lambda tmp: (tmp / "x.txt").write_text("x") and None)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    data = json.loads((art.path / "manifest.json").read_text())
    data["files"] = {"../../../../outside.txt": hashlib.sha256(b"secret").hexdigest()}
    (art.path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(CorruptArtifactError, match="leads out of its folder"):
        store.verify(art.path, art.key)
    data["files"] = {str(outside): hashlib.sha256(b"secret").hexdigest()}
    (art.path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(CorruptArtifactError, match="leads out of its folder"):
        store.verify(art.path, art.key)


@pytest.mark.parametrize("text", ["{", CONFLICT, "[1, 2]"])
def test_a_damaged_stages_json_is_one_line(tmp_path, monkeypatch, capsys, text):
    lock = tmp_path / "stages.json"
    lock.write_text(text)
    monkeypatch.setattr(stages, "LOCK", lock)
    stages.recorded.cache_clear()
    try:
        with pytest.raises(UsageError) as err:
            stages.code_versions("dataset")
        _one_line(err.value, str(lock), "restore it from version control")
        assert main(["stages"]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1
    finally:
        stages.recorded.cache_clear()


def test_expected_failures_with_conflict_markers_or_unwritable_are_one_line(tmp_path, smoke):
    path = tmp_path / "expected_failures.json"
    path.write_text(CONFLICT)
    with pytest.raises(UsageError) as err:
        expected.for_profile(smoke, path)
    _one_line(err.value, str(path), "resolve its merge conflict")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"profile": smoke.to_dict(), "profile_hash": smoke.hash, "records": []}))
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    with pytest.raises(UsageError) as err:  # a folder that cannot be written (a file where its folder should be)
        expected.update(results, blocked / "expected_failures.json")
    _one_line(err.value, "cannot write", "make it writable")
    results.write_text('{"profile": {"name": "smo')
    with pytest.raises(UsageError) as err:
        expected.update(results, tmp_path / "new.json")
    _one_line(err.value, str(results), "run the claims again")


def test_a_truncated_results_json_or_an_unwritable_results_folder_is_one_line(tmp_path, smoke):
    records = [report.error_record("ir_size_cut_66", "cell-a", smoke, "x")]
    report.write(records, tmp_path, smoke)
    whole = (tmp_path / "results.json").read_text()
    (tmp_path / "results.json").write_text(whole[: len(whole) // 2])
    with pytest.raises(UsageError) as err:
        report.write(records, tmp_path, smoke)
    _one_line(err.value, str(tmp_path / "results.json"), "move it aside")
    blocked = tmp_path / "a_file"
    blocked.write_text("")
    with pytest.raises(UsageError) as err:
        report.write(records, blocked / "results", smoke)
    _one_line(err.value, "cannot be written", "--robustness-results-dir")


# a profile's own files, before anything is stored -------------------------------------------------------------
def _own(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "own.toml"
    lines = {"profile": "smoke", "archs": ["own_model:small_cnn"], "attacks": ["fgsm"], "criteria": ["l1"],
             "ratios": [0.25], **fields}
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in lines.items()))
    return path


def _npz(folder: Path, **changes) -> Path:
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {"x_train": rng.random((40, 3, 32, 32), dtype=np.float32), "y_train": np.arange(40) % 10,
              "x_test": rng.random((20, 3, 32, 32), dtype=np.float32), "y_test": np.arange(20) % 10, **changes}
    np.savez(folder / "data.npz", **arrays)
    return folder


def _nan_pixel(tmp_path):
    x = np.random.default_rng(0).random((40, 3, 32, 32), dtype=np.float32)
    x[3, 1, 2, 2] = np.nan
    return {"dataset": "npz", "data_path": str(_npz(tmp_path / "d", x_train=x))}


def _huge_label(tmp_path):
    y = np.arange(40) % 10
    y[0] = 5000
    return {"dataset": "npz", "data_path": str(_npz(tmp_path / "d", y_train=y)), "archs": ["vgg19"],
            "epochs": 1}


def _truncated_checkpoint(tmp_path):
    whole = (EXAMPLE / "model.pt").read_bytes()
    (tmp_path / "model.pt").write_bytes(whole[: len(whole) // 2])
    return {"dataset": "npz", "data_path": str(EXAMPLE / "data"), "checkpoint": str(tmp_path / "model.pt")}


@pytest.mark.parametrize("fields, words", [
    (_truncated_checkpoint, "model.pt is not a plain state dict"),
    (lambda t: {"dataset": "npz", "data_path": str(t)}, "data.npz does not exist"),
    (_nan_pixel, "pixel values must be finite"),
    (_huge_label, "labels must be the class indices 0 to K-1, K at most 1000"),
    (lambda t: {"dataset": "npz", "data_path": str(_npz(t / "d")), "n_train": 4},
     "n_train 4 is less than the 10 classes"),
    (lambda t: {"archs": ["own_model:no_such_fn"]}, "has no callable 'no_such_fn'"),
], ids=["truncated checkpoint", "data_path without data.npz", "NaN pixel", "a label of 5000",
        "n_train below the class count", "factory without its function"])
def test_a_profiles_own_files_are_checked_before_anything_is_stored(tmp_path, monkeypatch, capsys, fields, words):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    path = _own(tmp_path, **fields(tmp_path))
    store = tmp_path / "store"
    assert main(["build", "--profile-file", str(path), "--stages", "base", "--cache-dir", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not store.exists() or not list((store / "objects").rglob("manifest.json"))


def test_the_plugin_reads_a_profiles_own_files_before_collection(pytester, tmp_path):
    shutil.copytree(EXAMPLE / "data", tmp_path / "d")
    x = np.random.default_rng(0).random((40, 3, 32, 32), dtype=np.float32)
    x[0, 0, 0, 0] = np.nan
    _npz(tmp_path / "d", x_train=x)
    pytester.makepyfile(test_x="def test_x(store):\n    pass\n")
    result = pytester.runpytest_subprocess(f"--robustness-cache-dir={tmp_path / 'store'}", "--robustness-set",
                                           "dataset=npz", "--robustness-set", f"data_path={tmp_path / 'd'}",
                                           "-p", "no:cacheprovider")
    out = [line for line in result.stdout.lines + result.stderr.lines if line.strip()]
    assert result.ret == 4 and len(out) == 1 and "pixel values must be finite" in out[0], out
    assert not (tmp_path / "store").exists()
