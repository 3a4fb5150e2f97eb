"""The Ray executor on a local cluster: the same artifacts as a plain build, and a killed worker costs nothing."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from robustness.build import build_grid
from robustness.cli import main
from robustness.plan import graph
from robustness.store import read_events

ray = pytest.importorskip("ray")
REPO = Path(__file__).resolve().parent.parent

# one architecture, base and attacks: the kill test's grid (a dataset, two models, six sets); the models train
# for several seconds, so the kill lands inside a build
TINY = ["--profile", "smoke", "--stages", "base,attacks", "--set", "archs=vgg19", "--set", "epochs=12",
        "--set", "n_train=256", "--set", "n_test=64", "--set", "n_attack=32", "--set", "attacks=fgsm,pgd,uap",
        "--set", "eps_list=8/255", "--set", "sources=base,surrogate"]


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def _payloads(root: Path, keys=None) -> dict[str, dict[str, str]]:
    """Key -> file checksums of every artifact (manifests' times and build seconds differ, payloads must not)."""
    out = {}
    for manifest in sorted((root / "objects").rglob("manifest.json")):
        data = json.loads(manifest.read_text())
        if keys is None or data["key"] in keys:
            out[data["key"]] = data["files"]
    return out


def test_ray_builds_the_smoke_grid_with_the_keys_and_files_of_a_plain_build(cluster, tmp_path, store, smoke):
    paper = smoke.replace(methods=("nncf_filter",))  # the other methods: the test below
    build_grid(store, paper, progress=lambda m: None)  # the plain build, in the session's store
    assert main(["build", "--profile", "smoke", "--set", "methods=nncf_filter", "--executor", "ray", "--cache-dir",
                 str(tmp_path)]) == 0
    on_ray = _payloads(tmp_path)
    assert _payloads(store.root, set(on_ray)) == on_ray
    planned = graph(paper, tmp_path)
    assert all(s.held for s in planned if s.key)  # every artifact of the grid is there, none is missing
    assert {s.key for s in planned if s.key} <= set(on_ray)
    kinds = {json.loads(m.read_text())["kind"] for m in (tmp_path / "objects").rglob("manifest.json")}
    assert kinds == {"dataset", "base_model", "control_models", "pruned_models", "ir", "adversarial_set",
                     "predictions"}
    built = [e["key"] for e in read_events(tmp_path) if e["event"] == "built"]
    assert len(built) == len(set(built)) == len(on_ray)  # each key scheduled and built once
    assert not list((tmp_path / "tmp").iterdir())
    _claims_only_read(tmp_path)


def _claims_only_read(root: Path) -> None:
    """`pytest -m claims` on the built store, read-only: every cell (latency too) finds what it needs, and
    the store is left exactly as it was."""
    before = {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBUSTNESS_", "PYTEST_XDIST"))}
    out = subprocess.run([sys.executable, "-m", "pytest", "tests/claims", "-m", "claims", "-p", "no:cacheprovider",
                          "--robustness-profile", "smoke", "--robustness-set", "methods=nncf_filter",
                          f"--robustness-cache-dir={root}", "--robustness-read-only",
                          f"--robustness-results-dir={root.parent / 'results'}"], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    text = out.stdout + out.stderr
    assert "read only, nothing built or written" in text, text[-3000:]
    assert "not in the read-only store" not in text and " error" not in text.splitlines()[-1], text[-3000:]
    records = json.loads((root.parent / "results" / "results.json").read_text())["records"]
    assert {r["claim"] for r in records} >= {"adv_within_1pp", "latency_gain_8pct", "criteria_comparable"}
    assert not [r for r in records if r["verdict"] == "error"]
    assert {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")} == before


def test_ray_walks_the_other_compression_methods_with_the_keys_and_files_of_a_plain_build(cluster, tmp_path,
                                                                                        store, smoke):
    """Torch-Pruning's schedule and IRs and the INT8 IRs are tasks of the grid like NNCF's: one architecture."""
    stages = ["pruning", "deploy"]
    profile = smoke.replace(archs=("vgg19",))
    build_grid(store, profile, stages=stages, progress=lambda m: None)
    assert main(["build", "--profile", "smoke", "--set", "archs=vgg19", "--stages", ",".join(stages), "--executor",
                 "ray", "--cache-dir", str(tmp_path)]) == 0
    on_ray = _payloads(tmp_path)
    assert _payloads(store.root, set(on_ray)) == on_ray
    kinds = [json.loads(m.read_text())["kind"] for m in (tmp_path / "objects").rglob("manifest.json")]
    assert {k: kinds.count(k) for k in ("tp_pruned_models", "tp_ir", "int8_ir")} == {
        "tp_pruned_models": 1, "tp_ir": 2, "int8_ir": 7}  # l1 at 0.25 and 0.5; INT8 of the base and 6 pruned
    assert {s.key for s in graph(profile, tmp_path, stages)} <= set(on_ray)


def test_a_worker_killed_while_it_builds_is_retried_and_leaves_nothing_partial(cluster, tmp_path):
    plain, cache = tmp_path / "plain", tmp_path / "ray"
    assert main(["build", *TINY, "--cache-dir", str(plain)]) == 0
    result: list = []
    thread = threading.Thread(target=lambda: result.append(
        main(["build", *TINY, "--executor", "ray", "--cache-dir", str(cache)])))
    thread.start()
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline and thread.is_alive():
        building = [e for e in read_events(cache) if e["event"] == "building" and e["kind"] == "base_model"]
        if building:
            victim = building[0]
            os.kill(victim["pid"], signal.SIGKILL)
        time.sleep(0.1)
    thread.join(600)
    assert victim is not None, "no base model build was seen to kill"
    assert result == [0]
    events = read_events(cache)
    assert not [e for e in events if e["event"] == "built" and e["pid"] == victim["pid"]
                and e["key"] == victim["key"]]  # the killed task did not finish: another worker built it
    assert [e for e in events if e["event"] == "built" and e["key"] == victim["key"]]
    assert not list((cache / "tmp").iterdir())  # the killed builder's folder was cleared by its successor
    assert _payloads(cache) == _payloads(plain) and len(_payloads(plain)) == 9


def test_auto_is_decided_for_the_cluster_and_cuda_needs_its_gpus():
    from robustness.build import Node
    from robustness.cluster import cluster_profile, resources
    from robustness.errors import UsageError
    from robustness.profiles import load_profile

    paper = load_profile("paper")
    assert cluster_profile(paper, gpus=8).device == "cuda" and cluster_profile(paper, gpus=0).device == "cpu"
    with pytest.raises(UsageError, match="has no GPU"):
        cluster_profile(load_profile("paper", overrides={"device": "cuda"}), gpus=0)
    gpu = cluster_profile(paper, gpus=1)
    assert resources(gpu, Node("adv", "vgg19", ("victim",), attack="pgd")) == {"num_cpus": 1, "num_gpus": 1}
    assert resources(gpu, Node("base", "vgg19", ("victim",)))["num_gpus"] == 1
    assert resources(gpu, Node("ir", "vgg19", ("victim",))) == {"num_cpus": 1, "num_gpus": 0}
    assert resources(load_profile("smoke"), Node("base", "vgg19", ("victim",)))["num_gpus"] == 0
