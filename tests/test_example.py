"""examples/own-model as a new repository would run it: only the example's files, this project installed."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "own-model"


def _run(folder: Path, store, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ROBUSTNESS_CACHE_DIR": str(store.root)}
    env.pop("ROBUSTNESS_RUN_ID", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=900)


def test_the_example_gate_passes_in_a_fresh_folder(tmp_path, store):
    repo = shutil.copytree(EXAMPLE, tmp_path / "repo", ignore=shutil.ignore_patterns("__pycache__", "results"))
    result = _run(repo, store)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout  # three thresholds and the IR size on the one pruned variant


def test_the_example_gate_fails_with_the_measured_drop(tmp_path, store):
    repo = shutil.copytree(EXAMPLE, tmp_path / "repo", ignore=shutil.ignore_patterns("__pycache__", "results"))
    result = _run(repo, store, "--robustness-set", "ratios=0.6", "-k", "clean")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "gate clean-drop2pp on own_model:small_cnn-l1-0.6: fail: accuracy" in result.stdout
    assert "(paired 95%), allowed 2.00 pp; n=300 clean test images" in result.stdout
