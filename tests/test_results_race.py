"""Claims runs finishing together into one results folder keep every record of every run; a damaged results.json
or a results folder that cannot be written ends a run with one line."""

import json
import multiprocessing as mp
import os
import subprocess
import sys
from pathlib import Path

from robustness import report
from robustness.profiles import load_profile

REPO = Path(__file__).resolve().parents[1]
# a pytest plugin for the runs below: each waits at the end of its session until all three got there, so their
# merges into results.json start together
BARRIER = '''
import os
import time
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session):
    folder = Path(os.environ["BARRIER_DIR"])
    (folder / str(os.getpid())).touch()
    deadline = time.time() + 300
    while len(list(folder.iterdir())) < int(os.environ["BARRIER_N"]) and time.time() < deadline:
        time.sleep(0.005)
'''
SIZE = "ir_size_cut_66 and not compressed"  # the paper's size claim, not the compression methods'
CELLS = ["resnet50-geometric_median", "resnet50-l1", "vgg19"]  # the IR-size claim's four cells, in three runs


def _write_at_once(out: str, cells: list[str], start, rounds: int) -> None:
    smoke = load_profile("smoke")
    for r in range(rounds):
        start.wait(timeout=120)  # a writer that crashed breaks the barrier for the others
        report.write([report.error_record("ir_size_cut_66", f"{c}-round{r}", smoke, "x") for c in cells],
                     Path(out), smoke)


def test_three_writers_at_once_keep_every_record(tmp_path):
    """report.write from three processes released together, ten times over."""
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(3)
    cells = [[f"p{p}-c{c}" for c in range(3)] for p in range(3)]
    procs = [ctx.Process(target=_write_at_once, args=(str(tmp_path), mine, start, 10), daemon=True)
             for mine in cells]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0]  # none crashed (a shared temporary file's rename did)
    records = json.loads((tmp_path / "results.json").read_text())["records"]
    assert sorted(r["cell"] for r in records) == sorted(f"{c}-round{r}" for mine in cells for c in mine
                                                        for r in range(10))
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary file left


def _claims(root: Path, results: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("ROBUSTNESS_", "PYTEST_XDIST"))}
    return subprocess.Popen([sys.executable, "-m", "pytest", "tests/claims", "-m", "claims", "-p", "no:cacheprovider",
                             "--robustness-profile", "smoke", f"--robustness-cache-dir={root}",
                             f"--robustness-results-dir={results}", *args], cwd=REPO, env={**base, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_three_claims_runs_finishing_together_keep_every_record(store, tmp_path):
    warm = _claims(store.root, tmp_path / "warm-up", "-k", SIZE)  # builds what the store lacks
    assert warm.wait(900) == 0, warm.stdout.read()[-3000:]
    (tmp_path / "plugin").mkdir()
    (tmp_path / "plugin" / "barrier_plugin.py").write_text(BARRIER)
    (tmp_path / "barrier").mkdir()
    env = {"BARRIER_DIR": str(tmp_path / "barrier"), "BARRIER_N": "3",
           "PYTHONPATH": os.pathsep.join([str(tmp_path / "plugin"), os.environ.get("PYTHONPATH", "")])}
    results = tmp_path / "results"
    runs = [_claims(store.root, results, "--robustness-read-only", "-p", "barrier_plugin", "-k",
                    f"{SIZE} and {cell}", env=env) for cell in CELLS]
    outs = [(p.wait(600), p.stdout.read()) for p in runs]
    assert all(code == 0 for code, _ in outs), "\n".join(out[-2000:] for _, out in outs)
    records = json.loads((results / "results.json").read_text())["records"]
    expected = json.loads((tmp_path / "warm-up" / "results.json").read_text())["records"]
    assert sorted(r["cell"] for r in records) == sorted(r["cell"] for r in expected) and len(records) == 4
    assert not list((results / "records").iterdir())  # every run's records are in results.json

    # results.json truncated: the next run ends with one line naming it and keeps its own records
    whole = (results / "results.json").read_text()
    (results / "results.json").write_text(whole[: len(whole) // 3])
    out = _claims(store.root, results, "--robustness-read-only", "-k", f"{SIZE} and vgg19")
    text = out.communicate(timeout=600)[0]
    assert out.returncode == 4, text[-3000:]
    errors = [line for line in text.splitlines() if "error:" in line]
    assert len(errors) == 1 and "results.json cannot be read as JSON" in errors[0] and "Traceback" not in text
    assert len(list((results / "records").rglob("*.json"))) == 2  # its records stay for the next run

    # a results folder that cannot be made: refused before collection
    (tmp_path / "a_file").write_text("")
    out = _claims(store.root, tmp_path / "a_file" / "results", "--robustness-read-only", "-k", SIZE)
    text = out.communicate(timeout=600)[0]
    lines = [line for line in text.splitlines() if line.strip()]
    assert out.returncode == 4 and len(lines) == 1 and "cannot be written" in lines[0], text[-3000:]
