"""A build killed at a random point resumes to the same artifacts as an uninterrupted build in another folder."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

TINY = ["build", "--profile", "smoke", "--stages", "base,attacks", "--set", "archs=vgg19", "--set", "epochs=2",
        "--set", "n_train=128", "--set", "n_test=64", "--set", "n_attack=32", "--set", "attacks=fgsm,pgd,uap",
        "--set", "eps_list=8/255"]


def _build(cache: Path, kill_after: float | None = None) -> subprocess.CompletedProcess | None:
    cmd = [sys.executable, "-m", "robustness", *TINY, f"--cache-dir={cache}"]
    if kill_after is None:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return None


def _payloads(cache: Path) -> dict[str, dict[str, str]]:
    """Every artifact's key and file checksums (the manifest's times and build seconds differ, payloads not)."""
    out = {}
    for manifest in sorted((cache / "objects").rglob("manifest.json")):
        data = json.loads(manifest.read_text())
        out[data["key"]] = data["files"]
    return out


def test_killed_build_resumes_to_the_same_artifacts_as_a_clean_one(tmp_path):
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    start = time.perf_counter()
    _build(clean)
    full = time.perf_counter() - start
    rng = random.Random(0)
    for _ in range(2):  # two kills at random points of the build (training, attacks or writing)
        _build(killed, kill_after=rng.uniform(2.0, max(2.5, 0.8 * full)))
    for folder in (killed / "objects").rglob("*"):
        if folder.is_dir() and folder.parent.parent == killed / "objects":
            assert (folder / "manifest.json").is_file(), f"half artifact visible: {folder}"
    result = _build(killed)
    assert "built" in result.stdout
    assert _payloads(killed) == _payloads(clean) and len(_payloads(clean)) == 9  # split, 2 models, 6 sets
