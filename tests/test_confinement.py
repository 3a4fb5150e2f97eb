"""No profile name, environment variable or symbolic link makes the suite write outside its store, its results
folder and its temporary folders; the machine's hold folder is private to its user."""

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from robustness import report
from robustness.cli import main
from robustness.errors import StoreError, UsageError
from robustness.profiles import load_profile
from robustness.store import Store, default_cache_dir, machine_folder, machine_hold

REPO = Path(__file__).resolve().parents[1]


def _tree(folder: Path) -> dict[str, tuple]:
    """Every path under `folder` with its kind, size and modification time: what a write would change."""
    return {str(p.relative_to(folder)): (p.is_dir(), p.lstat().st_size, p.lstat().st_mtime_ns)
            for p in sorted(folder.rglob("*"))}


def _build(tmp: Path) -> None:
    (tmp / "x.txt").write_text("x")


@pytest.fixture
def outside(tmp_path):
    """A folder the suite must never write into, with a file and a folder that links can point at."""
    folder = tmp_path / "outside"
    (folder / "victim-folder").mkdir(parents=True)
    (folder / "victim.txt").write_text("keep me")
    return folder


def _link_in_store(tmp_path, outside, part):
    root = tmp_path / "store"
    Store(root)
    target = outside / ("victim-folder" if part != "events.jsonl" else "victim.txt")
    (root / part).unlink() if (root / part).is_file() else None
    if (root / part).is_dir():
        (root / part).rmdir()
    (root / part).parent.mkdir(parents=True, exist_ok=True)
    (root / part).symlink_to(target)
    return lambda: Store(root).get("thing", {"a": 1}, [], _build)


def _link_in_results(tmp_path, outside, name):
    out = tmp_path / "results"
    out.mkdir()
    (out / name).symlink_to(outside / ("victim.txt" if "." in name else "victim-folder"))
    smoke = load_profile("smoke")
    records = [report.error_record("adv_within_1pp", "cell", smoke, "x")]
    return lambda: report.write(records, out, smoke)


def _link_records(tmp_path, outside):
    from robustness.plugin.claims import write_record

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "records").symlink_to(outside / "victim-folder")
    return lambda: write_record(tmp_path / "results" / "records" / "run", {"claim": "c", "cell": "x"})


def _profile_name(tmp_path, outside, name):
    """A claims run writes results/<name>-<hash>/ under the working folder."""
    def attempt():
        profile = load_profile("smoke", overrides={"name": name})
        report.write([report.error_record("adv_within_1pp", "cell", profile, "x")],
                     tmp_path / "results" / profile.results_name, profile)
    return attempt


def _file_name(tmp_path, outside):
    path = tmp_path / "p.toml"
    path.write_text(f'profile = "smoke"\nname = "{outside}/x"\n')

    def attempt():
        profile = load_profile("smoke", path)
        report.write([], tmp_path / "results" / profile.results_name, profile)
    return attempt


VECTORS = {
    "objects/thing linked out": lambda t, o: _link_in_store(t, o, "objects/thing"),
    "objects/ linked out": lambda t, o: _link_in_store(t, o, "objects"),
    "tmp/ linked out": lambda t, o: _link_in_store(t, o, "tmp"),
    "locks/ linked out": lambda t, o: _link_in_store(t, o, "locks"),
    "replaced/ linked out": lambda t, o: _link_in_store(t, o, "replaced"),
    "events.jsonl linked out": lambda t, o: _link_in_store(t, o, "events.jsonl"),
    "report.md linked out": lambda t, o: _link_in_results(t, o, "report.md"),
    "results.json linked out": lambda t, o: _link_in_results(t, o, "results.json"),
    "records/ linked out": lambda t, o: _link_records(t, o),
    "plot linked out": lambda t, o: _link_in_results(t, o, "size_latency.png"),
    "profile name ../../x": lambda t, o: _profile_name(t, o, "../../outside/x"),
    "profile name absolute": lambda t, o: _profile_name(t, o, str(o / "x")),
    "profile name from a file": lambda t, o: _file_name(t, o),
}


@pytest.mark.parametrize("vector", list(VECTORS))
def test_nothing_the_user_controls_makes_the_suite_write_outside_its_folders(tmp_path, outside, vector,
                                                                             monkeypatch):
    monkeypatch.chdir(tmp_path)
    attempt = VECTORS[vector](tmp_path, outside)
    before = _tree(outside)
    with pytest.raises((UsageError, StoreError)) as err:
        attempt()
    assert "\n" not in str(err.value) and ("symbolic link" in str(err.value) or "plain name" in str(err.value))
    assert _tree(outside) == before
    assert (outside / "victim.txt").read_text() == "keep me"


def test_an_empty_cache_dir_variable_never_puts_the_store_in_the_working_folder(tmp_path, monkeypatch, capsys):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", "")
    assert default_cache_dir() == home / ".cache" / "robustness" / "store"
    monkeypatch.setenv("ROBUSTNESS_DATA_DIR", " ")
    from robustness.data import default_data_dir

    assert default_data_dir() == home / ".cache" / "robustness" / "data"
    store = Store(run_id="empty-variable")
    assert store.root == home / ".cache" / "robustness" / "store" and (store.root / "objects").is_dir()
    assert not list(work.iterdir())
    with pytest.raises(UsageError, match="--cache-dir is empty"):
        Store("")
    assert main(["build", "--profile", "smoke", "--cache-dir", ""]) == 2
    assert not list(work.iterdir())


def test_the_pytest_plugin_with_an_empty_cache_dir_variable_writes_nothing_in_the_working_folder(pytester,
                                                                                               monkeypatch, tmp_path):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", "")
    pytester.makepyfile(test_x="def test_x(store):\n    store.get('x', {}, [], lambda t: (t / 'x').write_text('x'))\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--robustness-profile=smoke")
    result.assert_outcomes(passed=1)
    assert not [p for p in ("objects", "locks", "tmp", "corrupt", "events.jsonl") if (pytester.path / p).exists()]
    assert (home / ".cache" / "robustness" / "store" / "objects" / "x").is_dir()


def test_the_hold_folder_is_private_and_its_owner_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    root = tmp_path / "store"
    folder = machine_folder(root)
    assert folder.parent == tmp_path and stat.S_IMODE(folder.lstat().st_mode) == 0o700
    folder.chmod(0o777)  # one of ours left open: made private again
    machine_hold(root)
    assert stat.S_IMODE(folder.lstat().st_mode) == 0o700
    uid = os.getuid()
    monkeypatch.setattr(os, "getuid", lambda: uid + 1)  # another user, who finds this user's folder there first
    with pytest.raises(StoreError) as err:
        machine_hold(root)
    assert "is not a folder of this user" in str(err.value) and "\n" not in str(err.value)
    monkeypatch.setattr(os, "getuid", lambda: uid)
    other = tmp_path / "other-store"
    planted = machine_folder(other)
    planted.rmdir()
    (tmp_path / "elsewhere").mkdir()
    planted.symlink_to(tmp_path / "elsewhere")  # a link planted where the hold folder goes
    with pytest.raises(StoreError, match="is not a folder of this user"):
        machine_hold(other)
    assert not list((tmp_path / "elsewhere").iterdir())


def test_python_m_robustness_from_another_folder_writes_only_its_store(tmp_path):
    """The CLI run from a scratch folder with every folder variable empty: its store goes to HOME, nothing else."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ROBUSTNESS_")}, "HOME": str(home),
           "ROBUSTNESS_CACHE_DIR": "", "ROBUSTNESS_DATA_DIR": "", "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-m", "robustness", "build", "--profile", "smoke", "--stages", "base",
                          "--set", "archs=vgg19", "--set", "epochs=1", "--set", "n_train=64", "--set", "n_test=32",
                          "--set", "sources=base"], cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert not list(work.iterdir())
    assert {p.name for p in home.iterdir()} == {".cache"}
