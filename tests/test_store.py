import json
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from robustness.errors import CorruptArtifactError, StoreError, UsageError
from robustness.store import Store, load_npz, load_state_dict, read_events, save_npz


def _build_payload(tmp):
    save_npz(tmp / "data.npz", x=np.arange(10, dtype=np.float32))
    (tmp / "nested").mkdir()
    (tmp / "nested" / "note.txt").write_text("hello")
    return {"answer": 42}


def _get(store, spec=None):
    return store.get("thing", spec or {"a": 1}, [], _build_payload)


def test_key_is_stable_and_depends_on_spec_and_parents(tmp_path):
    store = Store(tmp_path)
    parent = _get(store)
    assert Store.key("thing", {"a": 1}) == Store.key("thing", {"a": 1}) == parent.key
    assert Store.key("thing", {"a": 2}) != parent.key
    assert Store.key("other", {"a": 1}) != parent.key
    assert Store.key("thing", {"a": 1}, [parent]) != parent.key


def test_builds_once_then_reuses_with_manifest(tmp_path):
    store = Store(tmp_path)
    art = _get(store)
    again = _get(Store(tmp_path))
    assert again.path == art.path and again.info == {"answer": 42}
    manifest = json.loads((art.path / "manifest.json").read_text())
    assert set(manifest["files"]) == {"data.npz", "nested/note.txt"}
    assert manifest["kind"] == "thing" and manifest["spec"] == {"a": 1} and "torch" in manifest["versions"]
    assert [e["event"] for e in store.events()] == ["building", "built", "cached"]
    assert not list((tmp_path / "tmp").iterdir())


def test_a_run_reads_the_event_log_from_where_it_began(tmp_path):
    # the summary at the end of a run reads the log from its size when the run began, not the store's history
    _get(Store(tmp_path, run_id="earlier"))
    began = (tmp_path / "events.jsonl").stat().st_size
    _get(Store(tmp_path, run_id="later"))
    assert {e["run"] for e in read_events(tmp_path, since=began)} == {"later"}
    assert [e["event"] for e in read_events(tmp_path, "later", since=began)] == ["cached"]
    assert {e["run"] for e in read_events(tmp_path)} == {"earlier", "later"}


def _damage_truncate(art):
    p = art.file("data.npz")
    p.write_bytes(p.read_bytes()[:20])


def _damage_bitflip(art):
    p = art.file("data.npz")
    raw = bytearray(p.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    p.write_bytes(bytes(raw))


def _damage_delete(art):
    art.file("nested/note.txt").unlink()


def _damage_manifest(art):
    art.file("manifest.json").write_text("{not json")


@pytest.mark.parametrize("damage", [_damage_truncate, _damage_bitflip, _damage_delete, _damage_manifest])
def test_corrupt_artifact_is_moved_aside_and_rebuilt(tmp_path, damage, caplog):
    art = _get(Store(tmp_path))
    damage(art)
    with caplog.at_level("WARNING", logger="robustness.store"):
        again = _get(Store(tmp_path))
    assert "corrupt artifact" in caplog.text and art.key[:12] in caplog.text
    assert load_npz(again.file("data.npz"))["x"].tolist() == list(range(10))
    assert len(list((tmp_path / "corrupt").iterdir())) == 1


def test_failed_build_leaves_nothing_and_keeps_others(tmp_path):
    store = Store(tmp_path)
    good = _get(store)

    def broken(tmp):
        (tmp / "half.bin").write_bytes(b"x" * 100)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.get("thing", {"a": 2}, [], broken)
    assert not store.path_of("thing", Store.key("thing", {"a": 2})).exists()
    assert not list((tmp_path / "tmp").iterdir())
    assert Store(tmp_path).verify(good.path).key == good.key


def test_disk_full_during_a_write_is_a_clear_error(tmp_path):
    store = Store(tmp_path)
    good = _get(store)

    def full(tmp):
        raise OSError(28, "No space left on device")

    with pytest.raises(StoreError, match="No space left on device.*earlier artifacts are intact"):
        store.get("thing", {"a": 3}, [], full)
    assert Store(tmp_path).verify(good.path).key == good.key


def test_cache_path_that_is_a_file(tmp_path):
    f = tmp_path / "cache"
    f.write_text("")
    with pytest.raises(UsageError, match="is a file.*--cache-dir"):
        Store(f)


def test_read_only_cache_via_a_file_parent(tmp_path):
    (tmp_path / "afile").write_text("")
    with pytest.raises(StoreError, match="cannot be written.*--cache-dir"):
        Store(tmp_path / "afile" / "store")


def test_pickle_payload_in_a_model_file_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(1), "evil": Evil()}, path)
    with pytest.raises(CorruptArtifactError, match="not a plain state dict"):
        load_state_dict(path)
    assert not (tmp_path / "pwned").exists()
    with open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(CorruptArtifactError):
        load_state_dict(path)
    assert not (tmp_path / "pwned").exists()


def test_npz_with_an_object_array_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(CorruptArtifactError, match="object arrays"):
        load_npz(path)


def _race(root, barrier, n):
    barrier.wait()
    store = Store(root, run_id="race")

    def slow(tmp):
        time.sleep(0.5)
        return _build_payload(tmp)

    for i in range(n):
        store.get("thing", {"i": i}, [], slow)


def test_racing_processes_build_each_artifact_once(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_race, args=(tmp_path, barrier, 3)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    events = Store(tmp_path).events("race")
    built = sorted(e["key"] for e in events if e["event"] == "built")
    assert len(built) == len(set(built)) == 3
    assert len([e for e in events if e["event"] == "cached"]) == 9


KILLED_BUILD = """
import sys, time
from robustness.store import Store
def build(tmp):
    (tmp / "part.bin").write_bytes(b"x" * 1000)
    print("writing", flush=True)
    time.sleep(60)
Store(sys.argv[1]).get("thing", {"a": 9}, [], build)
"""


def test_a_killed_build_leaves_no_artifact_that_looks_whole(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BUILD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    key = Store.key("thing", {"a": 9})
    assert not Store(tmp_path).path_of("thing", key).exists()
    art = Store(tmp_path).get("thing", {"a": 9}, [], _build_payload)  # the lock died with the process
    assert art.info == {"answer": 42}


def test_rebuild_builds_once_per_run_and_keeps_the_old_copy(tmp_path):
    first = _get(Store(tmp_path))
    store = Store(tmp_path, run_id="again", rebuild=True)
    second = _get(store)
    third = _get(Store(tmp_path, run_id="again", rebuild=True))  # another worker of the same run
    assert second.key == third.key == first.key
    assert [e["event"] for e in store.events("again")] == ["building", "built", "cached"]
    assert len(list((tmp_path / "replaced").iterdir())) == 1


HOLD_COMPUTING = """
import sys, time
from robustness.store import Store
store = Store(sys.argv[1])
with store.computing():
    print("holding", flush=True)
    time.sleep(1.5)
    released = time.time()
print(released, flush=True)
"""


def test_timing_waits_for_every_computation_of_the_store_in_any_process(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLD_COMPUTING, str(tmp_path)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "holding"
    with Store(tmp_path).timing():
        acquired = time.time()
    released = float(proc.stdout.readline())
    proc.wait(30)
    assert acquired >= released  # the exclusive hold came only after the other process let go


def test_builds_hold_the_store_shared(tmp_path):
    """A build runs under the shared hold: a timing in another process cannot start while it runs."""
    try_timing = ("import sys\nfrom filelock import Timeout\nfrom robustness.store import Store\n"
                  "try:\n    with Store(sys.argv[1]).timing(timeout=0.3):\n        print('timed')\n"
                  "except Timeout:\n    print('waited')\n")
    seen = []

    def build(tmp):
        seen.append(subprocess.run([sys.executable, "-c", try_timing, str(tmp_path)], capture_output=True,
                                   text=True, timeout=60).stdout.strip())
        return _build_payload(tmp)

    Store(tmp_path).get("thing", {"shared": 1}, [], build)
    after = subprocess.run([sys.executable, "-c", try_timing, str(tmp_path)], capture_output=True, text=True,
                           timeout=60).stdout.strip()
    assert seen == ["waited"] and after == "timed"


def _files(root) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_a_read_only_store_reads_and_names_the_build_for_what_it_lacks(tmp_path):
    """A store mounted from a cluster: artifacts are read and verified; a missing one is one clear error; the
    store is not touched (no events, no locks, no temporary folders), and the machine's hold still works."""
    Store(tmp_path).get("thing", {"a": 1}, [], lambda tmp: (tmp / "f.txt").write_text("x") and None)
    before = _files(tmp_path)
    ro = Store(tmp_path, read_only=True)
    art = ro.get("thing", {"a": 1}, [], lambda tmp: pytest.fail("a read-only store built something"))
    assert art.file("f.txt").read_text() == "x"
    with pytest.raises(StoreError, match=r"not in the read-only store .*python -m robustness build"):
        ro.get("thing", {"a": 2}, [], lambda tmp: pytest.fail("a read-only store built something"))
    with ro.computing():
        pass
    with ro.timing():
        pass
    assert _files(tmp_path) == before


def test_a_read_only_store_refuses_a_folder_that_no_build_wrote(tmp_path):
    with pytest.raises(UsageError, match="has no objects/ folder"):
        Store(tmp_path / "empty", read_only=True)
    assert not (tmp_path / "empty").exists()
