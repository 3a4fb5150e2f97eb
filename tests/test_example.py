"""The examples as a new repository would run them: only the example's files, this project installed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
EXAMPLE = EXAMPLES / "own-model"
COMPRESSED = EXAMPLES / "own-compressed"


def _run(folder: Path, store_root, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROBUSTNESS_CACHE_DIR": str(store_root)}
    env.pop("ROBUSTNESS_RUN_ID", None)
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=1800)


def _copy(example: Path, tmp_path: Path) -> Path:
    return shutil.copytree(example, tmp_path / "repo", ignore=shutil.ignore_patterns("__pycache__", "results"))


def test_the_example_gate_passes_in_a_fresh_folder(tmp_path, store):
    repo = _copy(EXAMPLE, tmp_path)
    result = _run(repo, store.root)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout  # three thresholds and the IR size on the one pruned variant


def test_the_example_gate_fails_with_the_measured_drop(tmp_path, store):
    repo = _copy(EXAMPLE, tmp_path)
    result = _run(repo, store.root, "--robustness-set", "ratios=0.6", "-k", "clean")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "gate clean-drop2pp on own_model:small_cnn-l1-0.6: fail: drop" in result.stdout
    assert "n=300, compared own_model:small_cnn-l1-0.6 vs base" in result.stdout


def test_the_compressed_example_passes_as_shipped(tmp_path, store):
    """Every threshold on every shipped variant: 16 gates pass, white-box on the two IRs is skipped with its
    reason; the gate table ends the session and report.md holds it."""
    repo = _copy(COMPRESSED, tmp_path)
    result = _run(repo, store.root, "-rs")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "16 passed, 2 skipped" in result.stdout
    assert "white-box needs the torch model" in result.stdout
    table = result.stdout.split("robustness gates", 1)[1]
    assert "| surrogate-pgd-drop10pp | int8 |" in table and "| latency-gain-10pct | pruned-onnx |" in table
    report = next((repo / "results").glob("own-compressed-*/report.md")).read_text()
    assert "| query-drop15pp | pruned |" in report


def _zero_weights(repo: Path) -> None:
    """Every compressed weight file overwritten by zeros, each the same size as before."""
    import torch

    _zero_ir_weights(repo / "variants" / "int8" / "model.xml")
    import importlib.util

    # this example's own_model, not another example's module of the same name imported earlier in the process
    spec = importlib.util.spec_from_file_location("own_compressed_model", repo / "own_model.py")
    own = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(own)
    model = own.small_cnn(10, [8, 16, 16, 32])
    ckpt = repo / "variants" / "pruned" / "model.pt"
    weights = {name for name, _ in model.named_parameters()}  # the buffers (statistics, normalisation) stay
    state = {k: torch.zeros_like(v) if k in weights else v for k, v in torch.load(ckpt, weights_only=True).items()}
    torch.save(state, ckpt)
    model.load_state_dict(state)
    pytest.importorskip("onnx")
    torch.onnx.export(model.eval(), (torch.rand(1, 3, 32, 32),), repo / "variants" / "pruned.onnx", dynamo=False,
                      input_names=["images"], output_names=["logits"], dynamic_axes={"images": {0: "n"}})


def _zero_ir_weights(xml: Path) -> None:
    """An INT8 IR's weights (its 8-bit constants) overwritten by zeros in its .bin, in place: the quantization
    scales, shapes and indices stay, so the IR still runs, with every weight zero."""
    import xml.etree.ElementTree as ET

    data = bytearray(xml.with_suffix(".bin").read_bytes())
    zeroed = 0
    for layer in ET.parse(xml).getroot().iter("layer"):
        d = layer.find("data")
        if layer.get("type") == "Const" and d is not None and d.get("element_type") in ("i8", "u8"):
            offset, size = int(d.get("offset")), int(d.get("size"))
            data[offset:offset + size] = bytes(size)
            zeroed += size
    assert zeroed > len(data) // 2, "the INT8 weights are most of the .bin"
    xml.with_suffix(".bin").write_bytes(bytes(data))


def test_zeroed_weights_fail_the_gate_with_its_line_first(tmp_path, store):
    repo = _copy(COMPRESSED, tmp_path)
    sizes = {p: p.stat().st_size for p in (repo / "variants").rglob("*.bin")}
    _zero_weights(repo)
    assert {p: p.stat().st_size for p in sizes} == sizes
    result = _run(repo, store.root, "-k", "clean or surrogate")
    assert result.returncode == 1, result.stdout[-4000:]
    failures = result.stdout.split("= FAILURES =", 1)[1].split("robustness gates", 1)[0]
    for block in failures.split("\n_")[1:]:  # each failure: its header, then the gate's own line
        first = block.splitlines()[1].strip()
        assert first.startswith("gate ") and ": fail: drop" in first, block[:600]
    assert "Traceback" not in failures and "def test_" not in failures and "robustness/" not in failures
    assert "6 failed" in result.stdout  # clean and surrogate PGD, on each of the three variants
    assert len(failures.split("\n_")[1:]) == 6


def test_both_option_spellings_collect_the_same_tests(tmp_path, store):
    """pytest takes an existing folder after an option for its root folder; the plugin decides the root again,
    so the example's pytest.ini (its profile file) holds with either spelling."""
    repo = _copy(COMPRESSED, tmp_path)
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    spaced = _run(repo, store.root, "--collect-only", "--robustness-results-dir", str(folder))
    joined = _run(repo, store.root, "--collect-only", f"--robustness-results-dir={folder}")
    assert spaced.returncode == joined.returncode == 0, spaced.stdout[-2000:] + spaced.stderr[-2000:]
    tests = [line for line in joined.stdout.splitlines() if "::" in line]
    assert len(tests) == 18 and [line for line in spaced.stdout.splitlines() if "::" in line] == tests


def _ir(path: Path, num_classes: int, shape=(1, 3, 32, 32)) -> Path:
    import openvino as ov
    import torch

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(np.prod(shape[1:])), num_classes))
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov.convert_model(model, example_input=torch.rand(*shape), input=list(shape)), str(path),
                  compress_to_fp16=False)
    return path


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


BAD_VARIANTS = {
    "unknown field": (lambda repo: None, 'name = "int8"', 'name = "int8"\nquantized = true',
                      "unknown fields ['quantized']"),
    "missing IR": (lambda repo: None, "variants/int8/model.xml", "variants/int8/nowhere.xml", "does not exist"),
    "truncated IR weights": (lambda repo: _truncate(repo / "variants" / "int8" / "model.bin"), None, None,
                             "OpenVINO cannot read it"),
    "truncated ONNX": (lambda repo: _truncate(repo / "variants" / "pruned.onnx"), None, None,
                       "OpenVINO cannot read it"),
    "class count": (lambda repo: _ir(repo / "variants" / "five" / "model.xml", 5), "variants/int8/model.xml",
                    "variants/five/model.xml", "the base model's N x 10"),
    "input shape": (lambda repo: _ir(repo / "variants" / "gray" / "model.xml", 10, (1, 1, 28, 28)),
                    "variants/int8/model.xml", "variants/gray/model.xml", "N x 3 x 32 x 32"),
    "the base itself": (lambda repo: None, "variants/pruned/model.pt", "model.pt", "is the base checkpoint"),
    "checkpoint that does not fit": (lambda repo: None, "widths = [8, 16, 16, 32]", "widths = [8, 16, 16, 16]",
                                     "does not fit"),
}


@pytest.mark.parametrize("case", sorted(BAD_VARIANTS))
def test_a_bad_variant_is_one_line_and_stores_nothing(tmp_path, case):
    make, old, new, expected = BAD_VARIANTS[case]
    repo = _copy(COMPRESSED, tmp_path)
    make(repo)
    if old is not None:
        profile = repo / "profile.toml"
        assert old in profile.read_text()
        profile.write_text(profile.read_text().replace(old, new, 1))
    store_root = tmp_path / "store"
    result = _run(repo, store_root, "--collect-only")
    assert result.returncode == 4, result.stdout[-2000:] + result.stderr[-2000:]
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: ") and expected in lines[0], lines
    assert "profile.toml" in lines[0] or "variants/" in lines[0] or "model.pt" in lines[0]
    assert not (store_root / "objects").exists() or not any((store_root / "objects").iterdir())
