"""A lost cluster node, not only a lost worker: on Ray's own multi-node harness (a head and two worker nodes on one
machine), the node building a model is removed mid-build; the build finishes on the other node, leaves nothing
partial, and gives the keys and file checksums of a plain build."""

import json
import threading
import time
from pathlib import Path

import pytest

from robustness.cli import main
from robustness.store import Store, read_events

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")
from ray.cluster_utils import Cluster  # noqa: E402

# the smoke grid reduced to one architecture, base and attacks: a dataset, two models that train for several
# seconds (the removal lands inside a build), and six adversarial sets
TINY = ["--profile", "smoke", "--stages", "base,attacks", "--set", "archs=vgg19", "--set", "epochs=12",
        "--set", "n_train=256", "--set", "n_test=64", "--set", "n_attack=32", "--set", "attacks=fgsm,pgd,uap",
        "--set", "eps_list=8/255", "--set", "sources=base,surrogate"]


def _payloads(root: Path) -> dict[str, dict[str, str]]:
    """Key -> file checksums of every artifact (manifests' times and build seconds differ, payloads must not)."""
    return {json.loads(m.read_text())["key"]: json.loads(m.read_text())["files"]
            for m in sorted((root / "objects").rglob("manifest.json"))}


def _node_of(pid: int, nodes) -> object | None:
    """The worker node whose raylet started the process `pid` (Ray's workers are its raylet's children)."""
    raylets = {node.all_processes["raylet"][0].process.pid: node for node in nodes}
    try:
        for parent in psutil.Process(pid).parents():
            if parent.pid in raylets:
                return raylets[parent.pid]
    except psutil.NoSuchProcess:
        return None
    return None


@pytest.fixture
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    harness = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # the head only schedules
    workers = [harness.add_node(num_cpus=1) for _ in range(2)]
    harness.wait_for_nodes()
    yield harness, workers
    ray.shutdown()
    harness.shutdown()


def test_a_node_removed_while_it_builds_costs_nothing(cluster, tmp_path):
    harness, workers = cluster
    plain, cache = tmp_path / "plain", tmp_path / "ray"
    assert main(["build", *TINY, "--cache-dir", str(plain)]) == 0
    result: list = []
    thread = threading.Thread(target=lambda: result.append(main(
        ["build", *TINY, "--executor", "ray", "--address", harness.address, "--cache-dir", str(cache)])))
    thread.start()
    removed = victim = None
    deadline = time.time() + 300
    while removed is None and time.time() < deadline and thread.is_alive():
        building = {e["key"]: e for e in read_events(cache) if e["event"] == "building" and e["kind"] == "base_model"}
        built = {e["key"] for e in read_events(cache) if e["event"] == "built"}
        for key, event in building.items():
            node = None if key in built else _node_of(event["pid"], workers)
            if node is not None:
                victim, removed = event, node
                harness.remove_node(node, allow_graceful=False)
                break
        time.sleep(0.05)
    thread.join(900)
    assert removed is not None, "no base model was seen building on a worker node"
    assert result == [0]
    events = read_events(cache)
    assert not [e for e in events if e["event"] == "built" and e["pid"] == victim["pid"]
                and e["key"] == victim["key"]]  # the build died with its node
    assert [e for e in events if e["event"] == "built" and e["key"] == victim["key"]]  # built again elsewhere
    assert not list((cache / "tmp").iterdir())  # nothing partial: the lost builder's folder was cleared
    store = Store(cache, read_only=True)
    for manifest in (cache / "objects").rglob("manifest.json"):  # every artifact whole
        store.verify(manifest.parent, manifest.parent.name)
    assert _payloads(cache) == _payloads(plain) and len(_payloads(plain)) == 9
