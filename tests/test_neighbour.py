"""The plugin as a neighbour: in a repository that never uses it, it costs nothing and clashes with nothing."""

import os
import subprocess
import sys

import pytest

CONFTEST = '''
import sys

HEAVY = ("torch", "torchvision", "nncf", "openvino", "art")


def pytest_sessionfinish(session):
    with open("heavy-imports.txt", "w") as f:
        f.write(",".join(sorted(m for m in HEAVY if m in sys.modules)))
'''
UNRELATED = '''
import pytest


@pytest.fixture
def arch():
    return "mine"


def test_unrelated(arch):
    assert arch == "mine"
'''


def test_a_repository_that_does_not_use_the_suite_sees_no_cost_and_no_clash(tmp_path):
    """pytest-profiling (its own --profile option) installed beside the plugin; a test whose argument is named
    like a grid axis; a home folder that must stay empty; no heavy import."""
    repo, home = tmp_path / "repo", tmp_path / "home"
    repo.mkdir()
    home.mkdir()
    (repo / "conftest.py").write_text(CONFTEST)
    (repo / "test_unrelated.py").write_text(UNRELATED)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBUSTNESS_", "PYTEST_"))}
    env["HOME"] = str(home)
    result = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"], cwd=repo, env=env,
                            capture_output=True, text=True, timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "profiling" in out and "robustness" in out  # both plugins were loaded
    assert "collected 1 item" in out and "1 passed" in out, out[-3000:]
    assert (repo / "heavy-imports.txt").read_text() == ""
    assert not list(home.rglob("*")), f"written under the home folder: {list(home.rglob('*'))}"


PROGRESS_TEST = """
import logging

def test_build(store):
    def build(tmp):
        logging.getLogger("robustness.pipeline").info("train thing: epoch 1/2, 3 s left")
        (tmp / "x.txt").write_text("x")
        return {}
    store.get("thing", {"a": 1}, [], build)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_build_progress_reaches_the_terminal(pytester, tmp_path, workers):
    """xdist discards a worker's stderr: the workers' lines go through the store's event log to the controller."""
    pytester.makepyfile(test_progress=PROGRESS_TEST)
    result = pytester.runpytest_subprocess(*workers, f"--robustness-cache-dir={tmp_path}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    err = result.stderr.str()
    assert "train thing: epoch 1/2, 3 s left" in err and "building thing" in err
    assert ("[gw" in err) == bool(workers)
    quiet = pytester.runpytest_subprocess(*workers, "-q", f"--robustness-cache-dir={tmp_path / 'q'}")
    assert "epoch 1/2" not in quiet.stderr.str()
