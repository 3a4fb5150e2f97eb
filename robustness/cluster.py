"""Scale-out on Ray: one task per artifact of the grid, submitted in dependency order to a cluster whose nodes all
mount the store (NFS or a cloud file system, at the same path).

The driver plans the grid (robustness.plan: every key known before anything runs) and submits each key the store
lacks once; a task asks the store for its node's artifact, whose parents are there by then. A task that dies with
its worker is retried by Ray (max_retries); the store's per-key lock and temporary-folder-and-rename make a retried
or duplicated task harmless, and a new builder of a key clears what a killed one left in tmp/. Latency is not
built here: the claims time an architecture's IRs in one process on one machine, and the record names its CPU.
"""

from __future__ import annotations

import dataclasses
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from robustness.build import Node
from robustness.errors import StoreError, UsageError
from robustness.profiles import Profile
from robustness.store import Store, default_cache_dir, read_events

TORCH_STAGES = ("base", "control", "pruned", "adv")  # the stages that train or attack: a GPU on a cuda profile


def _import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install -e .[ray] (on every node of the cluster)") from None
    return ray


def build_node(root: str, profile: Profile, node: Node, key: str | None, data_dir: Path | None,
               run_id: str, *parents: dict[str, Any]) -> dict[str, Any]:
    """One Ray task: build (or find) one node's artifact and check it is the key the driver planned. `parents`
    are the parent tasks' results: passing them makes Ray start this task only after they finished."""
    from robustness.build import resolve

    start = time.perf_counter()
    art = resolve(Store(root, run_id=run_id), profile, node, data_dir, progress=lambda m: None)
    if key is not None and (art is None or art.key != key):
        raise StoreError(f"{node.label}: built key {getattr(art, 'key', None)} is not the planned {key}: the "
                         "nodes run other code or another profile than the driver (install the same version "
                         "everywhere)")
    return {"key": key, "stage": node.stage, "seconds": time.perf_counter() - start, "host": os.uname().nodename}


def resources(profile: Profile, node: Node) -> dict[str, Any]:
    """What a node's task asks Ray for: the profile's threads (and a GPU on a cuda profile) to train or
    attack; one CPU to export IRs and predict with OpenVINO."""
    if node.stage in TORCH_STAGES:
        return {"num_cpus": profile.threads, "num_gpus": 1 if profile.device == "cuda" else 0}
    return {"num_cpus": 1, "num_gpus": 0}


def cluster_profile(profile: Profile, gpus: float) -> Profile:
    """'auto' is decided for the cluster, not for the driver (which may have no GPU); a cuda profile on a
    cluster without GPUs stops before anything is submitted."""
    if profile.device == "auto":
        return dataclasses.replace(profile, device="cuda" if gpus else "cpu")
    if profile.device == "cuda" and not gpus:
        raise UsageError("the profile asks for device cuda but the Ray cluster has no GPU: add GPU nodes, or "
                         "use --set device=cpu")
    return profile


def build_on_ray(profile: Profile, root: Path | str | None, stages: list[str], data_dir: Path | None = None,
                 address: str | None = None, progress: Callable[[str], None] = print, max_retries: int = 3,
                 every: float = 10.0) -> int:
    from robustness.plan import estimate, graph, measure_rates

    ray = _import_ray()
    own = not ray.is_initialized()
    if own:
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 logging_level="WARNING")
    try:
        root = Path(root or default_cache_dir()).resolve()
        Store(root)  # writable here; every node must mount it at this path
        profile = cluster_profile(profile, ray.cluster_resources().get("GPU", 0))
        steps = graph(profile, root, stages, data_dir)
        estimate(steps, profile, measure_rates(profile))
        run_id = uuid.uuid4().hex
        task = ray.remote(build_node)
        refs: dict[int, Any] = {}
        for i, step in enumerate(steps):
            if step.held:
                continue
            deps = [refs[d] for d in step.deps if d in refs]
            refs[i] = task.options(max_retries=max_retries, name=step.node.label,
                                   **resources(profile, step.node)).remote(
                str(root), profile, step.node, step.key, data_dir, run_id, *deps)
        progress(f"ray: {len(refs)} tasks for {len(steps)} artifacts of profile {profile.name} "
                 f"({len(steps) - len(refs)} in the store {root}); cluster {ray.cluster_resources()}")
        _wait(ray, steps, refs, root, run_id, progress, every)
    finally:
        if own:
            ray.shutdown()
    return 0


def _wait(ray, steps, refs: dict[int, Any], root: Path, run_id: str, progress: Callable[[str], None],
          every: float) -> None:
    """Collect the tasks; whenever a count moves (and once a minute at most `6 * every` apart) say, per stage,
    how many finished and run, and the time left from the share of estimated work done so far."""
    from robustness.progress import duration

    index = {ref: i for i, ref in refs.items()}
    pending, finished = list(refs.values()), set()
    started = last = time.perf_counter()
    total = sum(steps[i].seconds for i in refs) or 1.0
    said = ""
    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=every)
        for ref in done:
            ray.get(ref)  # a task that failed after its retries raises here, naming its node
            finished.add(index[ref])
        running = _running(root, run_id)
        line = []
        for stage in dict.fromkeys(steps[i].node.stage for i in refs):
            ids = [i for i in refs if steps[i].node.stage == stage]
            fin = sum(i in finished for i in ids)
            run = sum(steps[i].key in running for i in ids if i not in finished)
            line.append(f"{stage} {fin}/{len(ids)} ({run} running)")
        if "; ".join(line) == said and time.perf_counter() - last < 6 * every and pending:
            continue  # nothing moved: say it again only now and then
        said, last = "; ".join(line), time.perf_counter()
        frac = sum(steps[i].seconds for i in finished) / total
        elapsed = time.perf_counter() - started
        left = f", {duration(elapsed * (1 - frac) / frac)} left" if 0 < frac < 1 else ""
        progress(f"ray: {said}{left}")


def _running(root: Path, run_id: str) -> set[str]:
    events = read_events(root, run_id)
    built = {e["key"] for e in events if e["event"] == "built"}
    return {e["key"] for e in events if e["event"] == "building" and e["key"] not in built}
