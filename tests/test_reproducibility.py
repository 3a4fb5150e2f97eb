"""A build killed at a random point resumes to the same artifacts as an uninterrupted build in another folder."""

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import smoke_settings

TINY = ["build", "--profile", "smoke", "--stages", "base,attacks", "--set", "archs=vgg19", "--set", "epochs=2",
        "--set", "n_train=128", "--set", "n_test=64", "--set", "n_attack=32", "--set", "attacks=fgsm,pgd,uap",
        "--set", "eps_list=8/255", "--set", "sources=base,surrogate"]


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


RACE_TESTS = '''
import pytest
from robustness import pipeline

@pytest.mark.parametrize("i", range(8))
def test_reads_whole_artifacts(i, adversarial_set, ir_model):
    assert len(pipeline.load_adversarial(adversarial_set)["y"]) == 32  # checksums verified on every load
    assert ir_model.file("model.xml").is_file()
'''
RACE_ARGS = ["--robustness-profile", "smoke", *smoke_settings("archs=vgg19", "epochs=2", "n_train=128", "n_test=64",
                                                            "n_attack=32", "attacks=fgsm", "criteria=l1", "ratios=0.5",
                                                            "sources=base"),
             "-p", "no:cacheprovider", "-p", "no:randomly"]


def test_pytest_n4_workers_on_an_empty_cache_build_each_artifact_once(pytester):
    """Four xdist workers want the same chain (split, model, set, pruned model, IR) at the same moment."""
    cache = pytester.path / "cache"
    pytester.makepyfile(test_race=RACE_TESTS)
    result = pytester.runpytest_subprocess(*RACE_ARGS, f"--robustness-cache-dir={cache}", "-n", "4")
    result.assert_outcomes(passed=8)
    events = [json.loads(line) for line in (cache / "events.jsonl").read_text().splitlines()]
    built = [e["key"] for e in events if e["event"] == "built"]
    assert len(built) == len(set(built)) == 5  # dataset, base model, fgsm set, pruning schedule, pruned IR
    assert {e["kind"] for e in events if e["event"] == "built"} >= {"dataset", "base_model", "adversarial_set", "ir"}
    assert not [e for e in events if e["event"] == "corrupt"]


CLAIMS_ARGS = ["-m", "claims", "-k", "not latency", "--robustness-profile", "smoke",
               *smoke_settings("archs=vgg19", "epochs=2", "n_train=128", "n_test=64", "n_attack=32",
                               "attacks=fgsm,pgd", "criteria=l1,l2", "ratios=0,0.5", "eps_list=4/255,8/255"),
               "-p", "no:cacheprovider", "-q"]


def _measurements(results: Path) -> list[dict]:
    """The records of a results.json: one per claim cell, with every measured value (not the stamp, which names
    the run and its time)."""
    records = json.loads((results / "results.json").read_text())["records"]
    assert all(r["stamp"]["run"] for r in records)
    return [{k: v for k, v in r.items() if k != "stamp"} for r in records]


def test_two_cold_claims_runs_give_identical_results(tmp_path):
    """Latency is excluded (-k): timings differ between runs by nature; every other measurement must not."""
    root = Path(__file__).resolve().parents[1]
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-m", "pytest", str(root / "tests" / "claims"), *CLAIMS_ARGS,
                        f"--robustness-cache-dir={tmp_path / run / 'cache'}",
                        f"--robustness-results-dir={tmp_path / run / 'results'}"],
                       cwd=root, capture_output=True, text=True, timeout=900)
    a, b = _measurements(tmp_path / "a" / "results"), _measurements(tmp_path / "b" / "results")
    assert len(a) >= 20 and {r["claim"] for r in a} >= {"adv_within_1pp", "clean_within_2pp", "ir_size_cut_66"}
    assert a == b


def test_an_ir_exported_twice_is_byte_identical(tmp_path):
    """OpenVINO's generated node names come from process-wide counters; the export renames them, so an IR does
    not depend on what the process exported before (a Ray worker's history differs from a local build's)."""
    import torch

    from robustness import deploy
    from robustness.models import create_model

    torch.manual_seed(0)
    model = create_model("resnet50", 10, 0.125, [0.5] * 3, [0.25] * 3)
    for name in ("a", "b"):
        deploy.export_ir(model, tmp_path / name / "model.xml")
    for suffix in ("xml", "bin"):
        assert (tmp_path / "a" / f"model.{suffix}").read_bytes() == (tmp_path / "b" / f"model.{suffix}").read_bytes()


def test_torch_computes_with_the_pinned_instruction_set_and_keys_record_it(store, smoke, smoke_base, monkeypatch):
    """AVX-512 kernels sum in another order than AVX2 ones: the pin makes a build the same on every x86 machine
    (the gate's snapshots, recorded on an AVX2 machine, pass on an AVX-512 one), and keys say what was pinned."""
    import platform

    import pytest
    import torch

    from robustness import isa
    from robustness.errors import UsageError

    if platform.machine().lower() in ("x86_64", "amd64"):  # pinned on import, before torch computed anything
        assert torch.backends.cpu.get_cpu_capability().lower() == isa.in_force()["ATEN_CPU_CAPABILITY"].lower()
    assert smoke_base.artifact.spec["cpu_isa"] == isa.in_force()
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "not-" + torch.backends.cpu.get_cpu_capability())
    with pytest.raises(UsageError, match="import robustness before torch computes"):
        isa.check()
