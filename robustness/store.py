"""Artifact store: every box of the data flow is built once, kept on disk, and shared by all processes.

Key = sha256 of the canonical JSON of (kind, spec, parent keys, schema version). An artifact is a folder with
manifest.json (kind, spec, parents, file checksums, library versions, build seconds). Building happens under a
per-key file lock into a temporary folder that is renamed into place, so a killed build leaves nothing that looks
whole; checksums are verified on load and a corrupt artifact is moved aside and rebuilt.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import shutil
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from filelock import FileLock

from robustness.errors import CorruptArtifactError, StoreError
from robustness.validation import check_folder_option, check_store_root, inside, no_symlink

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
log = logging.getLogger("robustness.store")


QUIET_KINDS = ("predictions",)  # sub-second builds: logged at DEBUG so progress shows the steps that take time


def default_cache_dir() -> Path:
    """$ROBUSTNESS_CACHE_DIR, else ~/.cache/robustness/store; an empty variable is unset (never the working
    folder), as for every ROBUSTNESS_* variable."""
    given = os.environ.get("ROBUSTNESS_CACHE_DIR", "").strip()
    return Path(given) if given else Path.home() / ".cache" / "robustness" / "store"


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def arrays_sha256(*arrays: np.ndarray) -> str:
    """Content hash of arrays (dtype, shape and bytes), for data that has no file of its own."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("torch", "torchvision", "nncf", "openvino", "adversarial-robustness-toolbox", "torch-pruning",
                 "numpy"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


@dataclass(frozen=True)
class Artifact:
    key: str
    kind: str
    path: Path
    manifest: dict[str, Any]

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def spec(self) -> dict[str, Any]:
        return self.manifest["spec"]

    @property
    def info(self) -> dict[str, Any]:
        return self.manifest.get("info", {})


Builder = Callable[[Path], "dict[str, Any] | None"]


class Store:
    def __init__(self, root: Path | str | None = None, run_id: str | None = None, rebuild: bool = False,
                 read_only: bool = False, before_build: Callable[[], None] | None = None) -> None:
        check_folder_option(None if root is None else str(root), "--cache-dir")
        self.root = Path(root) if root is not None else default_cache_dir()
        self.rebuild = rebuild  # build every artifact this run asks for once more, even if cached
        # read-only: a store that a cluster built, mounted here; a missing artifact is an error, nothing is written
        self.read_only = read_only
        self.run_id = run_id or os.environ.get("ROBUSTNESS_RUN_ID") or uuid.uuid4().hex
        self._verified: dict[str, Artifact] = {}
        self._hold = None  # the machine's hold, opened once (every claim computation takes it)
        # checks of what the run's profile names (robustness.validation.check_inputs), once, before the first build
        self._before_build = before_build
        self._prepare()

    def _prepare(self) -> None:
        check_store_root(self.root, self.read_only, self.rebuild)
        if self.read_only:
            return
        try:
            for sub in ("objects", "locks", "tmp", "corrupt"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            probe = self.root / "tmp" / f".probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise StoreError(f"cache folder {self.root} cannot be written ({exc.strerror or exc}): give a "
                             "writable folder with --cache-dir (pytest: --robustness-cache-dir) "
                             "or ROBUSTNESS_CACHE_DIR") from None

    # the machine: builds and claim computations share it, latency timing has it alone
    def computing(self) -> contextlib.AbstractContextManager:
        """A shared hold, taken by every build and claim computation of every process on this store."""
        return self._machine().read_lock()

    def timing(self, timeout: float = -1) -> contextlib.AbstractContextManager:
        """An exclusive hold for timing: it waits for every computation to finish and holds new ones back (a
        waiting writer goes first), so under `pytest -n 4` the IRs are timed on an otherwise idle store."""
        return self._machine().write_lock(timeout=timeout)

    def _machine(self):
        """The hold lives on this machine, not in the store: on a cluster every node mounts the store, but a
        node's builds must not hold back another node's timing (and SQLite, behind the lock, is unsafe on NFS)."""
        if self._hold is None:
            self._hold = machine_hold(self.root)
        return self._hold

    def run_folder(self) -> Path:
        """This run's own measurements on this machine (latency), shared by the run's processes: xdist workers
        share the run id. Never part of the store: a measurement holds for one run on one machine."""
        folder = machine_folder(self.root) / "runs" / self.run_id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # keys and paths
    @staticmethod
    def key(kind: str, spec: dict[str, Any], parents: Sequence[Artifact] = ()) -> str:
        payload = {"kind": kind, "spec": spec, "parents": [p.key for p in parents], "schema": SCHEMA_VERSION}
        return hashlib.sha256(canonical_json(payload).encode()).hexdigest()

    def path_of(self, kind: str, key: str) -> Path:
        return self.root / "objects" / kind / key

    # the one entry point
    def get(self, kind: str, spec: dict[str, Any], parents: Sequence[Artifact], build: Builder,
            label: str | None = None) -> Artifact:
        """Return the artifact for (kind, spec, parents), building it once across all processes."""
        key = self.key(kind, spec, parents)
        if key in self._verified:
            return self._verified[key]
        label = label or f"{kind} {key[:12]}"
        art = None if self.rebuild else self._load_or_none(kind, key, label)
        if art is None and self.read_only:
            raise StoreError(f"{label} ({kind} {key[:12]}) is not in the read-only store {self.root}: build the "
                             "profile there first (python -m robustness build --profile NAME, with --executor ray "
                             "on a cluster), or drop read-only to build it here")
        if art is None:
            if self._before_build is not None:
                self._before_build()
                self._before_build = None  # passed: not asked again by this store
            lock = FileLock(str(self.root / "locks" / f"{key}.lock"))
            if lock.is_locked:
                log.info("waiting for another process building %s", label)
            # the shared hold before the artifact's lock: whoever holds an artifact's lock also holds the store
            # shared, so a waiting timing never stalls a process that others wait for (no deadlock)
            with self.computing(), lock:
                if self.rebuild and not self._built_in_this_run(key):
                    self._set_aside(kind, key, "replaced")
                art = self._load_or_none(kind, key, label)  # another process may have built it meanwhile
                if art is None:
                    art = self._build(kind, key, spec, parents, build, label)
                    self._event("built", art)
                    self._verified[key] = art
                    return art
        self._event("cached", art)
        self._verified[key] = art
        return art

    def _load_or_none(self, kind: str, key: str, label: str) -> Artifact | None:
        path = self.path_of(kind, key)
        if not path.exists():
            return None
        try:
            return self.verify(path, key)
        except CorruptArtifactError as exc:
            if self.read_only:
                raise StoreError(f"{label} in the read-only store {self.root} is corrupt ({exc}): rebuild it "
                                 "where the store may be written") from None
            self._quarantine(path, label, str(exc))
            return None

    def verify(self, path: Path, key: str | None = None) -> Artifact:
        """Check the manifest and every file checksum; raise CorruptArtifactError on any mismatch."""
        try:
            manifest = json.loads((path / MANIFEST).read_text())
            kind, files = manifest["kind"], dict(manifest["files"])
            paths = {name: inside(path, name) for name in files}  # never a name leading out of the artifact
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            raise CorruptArtifactError(f"manifest unreadable: {str(exc)[:200]}") from None
        if key is not None and manifest.get("key") != key:
            raise CorruptArtifactError(f"manifest key {manifest.get('key')} does not match folder {key}")
        for name, digest in files.items():
            file = paths[name]
            if file.is_symlink() or not file.is_file():
                raise CorruptArtifactError(f"file {name} is missing")
            if sha256_file(file) != digest:
                raise CorruptArtifactError(f"file {name} fails its checksum")
        return Artifact(manifest["key"], kind, path, manifest)

    def _built_in_this_run(self, key: str) -> bool:
        return any(e["key"] == key and e["event"] == "built" for e in self.events(self.run_id))

    def _set_aside(self, kind: str, key: str, folder: str) -> None:
        """Move an artifact out of objects/ (never deleted: a rebuild that fails leaves the old one there)."""
        path = self.path_of(kind, key)
        if path.exists():
            dest = self.root / folder / f"{key}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)

    def _quarantine(self, path: Path, label: str, reason: str) -> None:
        dest = self.root / "corrupt" / f"{path.name}-{int(time.time())}-{uuid.uuid4().hex[:6]}"
        lock = FileLock(str(self.root / "locks" / f"{path.name}.lock"))
        with lock:
            if path.exists():
                try:
                    os.replace(path, dest)
                except OSError:
                    shutil.rmtree(path, ignore_errors=True)
        log.warning("corrupt artifact %s (%s) moved aside to %s; rebuilding", label, reason, dest)
        self._write_event({"event": "corrupt", "key": path.name, "kind": path.parent.name, "reason": reason})

    def _build(self, kind: str, key: str, spec: dict[str, Any], parents: Sequence[Artifact], build: Builder,
               label: str) -> Artifact:
        level = logging.DEBUG if kind in QUIET_KINDS else logging.INFO  # a cold claims run makes ~1,800 of them
        log.log(level, "building %s", label)
        for stale in (self.root / "tmp").glob(f"{key[:16]}-*"):  # a killed builder's; we hold the key's lock
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"{key[:16]}-", dir=self.root / "tmp"))
        self._write_event({"event": "building", "key": key, "kind": kind, "label": label})
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            info = build(tmp) or {}
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start  # the work itself, however many jobs share the cores
            files = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            manifest = {
                "kind": kind, "key": key, "schema": SCHEMA_VERSION, "spec": spec,
                "parents": [{"kind": p.kind, "key": p.key} for p in parents],
                "files": files, "info": info, "versions": library_versions(),
                "build_seconds": round(seconds, 3), "build_cpu_seconds": round(cpu_seconds, 3),
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False))
            dest = self.path_of(kind, key)
            dest.parent.mkdir(parents=True, exist_ok=True)
            no_symlink(dest.parent, " (the store makes its objects/ folders itself)")
            os.replace(tmp, dest)  # atomic: the artifact appears whole or not at all
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
                raise StoreError(f"cannot write {label} to {self.root} ({exc.strerror}): free space or give "
                                 "another --cache-dir; earlier artifacts are intact") from None
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.log(level, "built %s in %.1fs", label, seconds)
        return Artifact(key, kind, dest, manifest)

    # events: lets a run say what it built and what it reused, across xdist workers
    def _event(self, event: str, art: Artifact) -> None:
        built = event == "built"
        self._write_event({"event": event, "key": art.key, "kind": art.kind,
                           "seconds": art.manifest.get("build_seconds") if built else None,
                           "cpu_seconds": art.manifest.get("build_cpu_seconds") if built else None})

    def note_progress(self, worker: str, message: str) -> None:
        """A progress line of an xdist worker, for the controller to print (xdist discards workers' stderr)."""
        self._write_event({"event": "progress", "worker": worker, "message": message})

    def _write_event(self, record: dict[str, Any]) -> None:
        if self.read_only:
            return
        record = {"run": self.run_id, "pid": os.getpid(), "time": time.time(), **record}
        try:  # never through a link: the store made its event log itself
            fd = os.open(self.root / "events.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            with open(fd, "a") as f:
                f.write(json.dumps(record) + "\n")
        except OSError:
            pass  # the event log is a report, never a reason to fail a build

    def events(self, run_id: str | None = None) -> list[dict[str, Any]]:
        return read_events(self.root, run_id)


def machine_folder(root: Path | str) -> Path:
    """Where this machine keeps what belongs to it and not to the store at `root`: the timing hold and runs'
    measurements (written even beside a read-only store). Made private to this user (mode 0700); one that another
    user made first, or a link, is refused: it sits in the shared temporary folder."""
    folder = machine_folder_path(root)
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(f"cannot make {folder} ({exc.strerror or exc}): set TMPDIR to a writable folder") from None
    check_machine_folder(folder)
    if stat.S_IMODE(folder.lstat().st_mode) & 0o077:
        os.chmod(folder, 0o700)
    return folder


def machine_folder_path(root: Path | str) -> Path:
    digest = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"robustness-{digest}"


def check_machine_folder(folder: Path) -> None:
    """The hold folder is a folder (not a link) of this user: in the shared temporary folder, anyone could have
    made it first."""
    st = folder.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise StoreError(f"{folder} is not a folder of this user (a link, a file, or another user's): the suite "
                         "keeps its timing hold there; remove it, or set TMPDIR to a folder of your own")


def machine_hold(root: Path | str):
    """The timing hold of the store at `root` on this machine (filelock's ReadWriteLock: one per path and process,
    reentrant, a waiting writer goes first)."""
    from filelock import ReadWriteLock

    return ReadWriteLock(str(machine_folder(root) / "machine.db"))


def read_events(root: Path, run_id: str | None = None, since: int = 0) -> list[dict[str, Any]]:
    """The store's event log (of one run), from byte `since` on, read without creating anything. The log only
    grows (about 2 MB per warm default run): a run that knows where the log ended when it began reads its own
    part, whatever the store's history."""
    path = Path(root) / "events.jsonl"
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if run_id is None or rec.get("run") == run_id:
            out.append(rec)
    return out


# loading payloads: nothing in the cache may run code
def load_state_dict(path: Path) -> dict[str, Any]:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises UnpicklingError / RuntimeError for anything but plain tensors
        raise CorruptArtifactError(f"{path} is not a plain state dict ({type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0][:200]})") from None


def load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as exc:
        raise CorruptArtifactError(f"{path} holds object arrays or is not an npz ({exc})") from None
    except (OSError, EOFError) as exc:
        raise CorruptArtifactError(f"{path} cannot be read ({exc})") from None


def save_npz(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)


def write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, allow_nan=False))
