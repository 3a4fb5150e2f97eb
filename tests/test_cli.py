import json
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.cli import main

TINY = ["--profile", "smoke", "--stages", "base", "--set", "archs=vgg19", "--set", "epochs=1",
        "--set", "n_train=64", "--set", "n_test=32"]


def test_list_names_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "architectures: densenet121 mobilenet_v1 resnet50 vgg19" in out
    assert "attacks: apgd bim cw deepfool fgsm pgd uap" in out
    assert "criteria: geometric_median l1 l2" in out
    assert "profiles: cifar10-cpu default open-questions paper smoke" in out


@pytest.mark.parametrize("args, words", [
    (["build", "--profile", "nope"], "unknown profile 'nope'"),
    (["build", "--set", "archs=resnet18"], "unknown arch 'resnet18'"),
    (["build", "--set", "ratios=0.5,1"], "outside [0, 1)"),
    (["build", "--set", "eps=-1"], "eps -1.0 is outside [0, 1]"),
    (["build", "--set", "epochs"], "not key=value"),
    (["build", "--stages", "train"], "unknown stage 'train'"),
    (["build", "--profile-file", "/nonexistent.toml"], "does not exist"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(args, words, capsys, tmp_path):
    with pytest.raises(SystemExit) if args == ["frobnicate"] else _no_raise():
        code = main(args + (["--cache-dir", str(tmp_path)] if args[0] == "build" else []))
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err


class _no_raise:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_cache_path_that_is_a_file_exits_2(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("")
    assert main(["build", *TINY, "--cache-dir", str(f)]) == 2
    assert "is a file" in capsys.readouterr().err


def test_two_builds_started_together_build_each_artifact_once(tmp_path):
    cmd = [sys.executable, "-m", "robustness", "build", *TINY, "--cache-dir", str(tmp_path)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    built = [e["key"] for e in events if e["event"] == "built"]
    assert len(built) == len(set(built)) == 3  # dataset, victim and surrogate
    assert len(list(Path(tmp_path, "objects").rglob("manifest.json"))) == 3
    assert any("reused" in out and "built 0" not in out for out in outs)
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert "built 0 artifacts, reused 3 from the cache" in again.stdout


def test_jobs_share_the_grid_and_report_once(tmp_path):
    """Two jobs start at different architectures; together they build each artifact once."""
    args = [a.replace("archs=vgg19", "archs=vgg19,resnet50") for a in TINY]
    cmd = [sys.executable, "-m", "robustness", "build", *args, f"--cache-dir={tmp_path}", "--jobs", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[job 1] [1/2] resnet50: base model" in out.stdout and "\n[1/2] vgg19: base model" in out.stdout
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    built = [e["key"] for e in events if e["event"] == "built"]
    assert len(built) == len(set(built)) == 5  # dataset, victim and surrogate of two architectures
    assert out.stdout.count("built 5 artifacts") == 1  # one summary, for both jobs
    table = out.stdout.split("cost per stage and kind (this run's builds):\n")[1].splitlines()
    rows = {line.split()[0]: line.split() for line in table[1:-1]}
    assert set(rows) == {"base_model", "dataset"} and rows["base_model"][1] == "4"  # both jobs' builds
    assert float(rows["base_model"][-2]) > 0  # its cpu seconds, the work however many jobs shared the cores
    assert table[-1].startswith("all (process seconds") and table[-1].split("jobs)")[1].split()[0] == "5"
    assert "; cpu " in table[-1]
    assert main(["build", *TINY, "--jobs", "0", f"--cache-dir={tmp_path}"]) == 2


def test_progress_says_the_time_left_from_the_pace_so_far():
    from robustness.progress import duration, eta

    assert eta(1, 4, started=0.0, now=30.0) == "1/4, 1 min 30 s left"
    assert eta(0, 4, started=0.0, now=30.0) == "0/4"
    assert eta(4, 4, started=0.0, now=7200.0) == "4/4, took 2 h 0 min"
    assert duration(59.4) == "59 s"


@pytest.mark.parametrize("command", ["build", "plan", "profile", "expected"])
def test_profile_help_names_every_preset_of_the_registry(command, capsys):
    from robustness.profiles import list_profiles

    with pytest.raises(SystemExit):
        main([command, "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert all(name in help_text for name in list_profiles()), help_text


def test_stages_help_names_every_stage_of_the_registry(capsys):
    from robustness.build import STAGES

    with pytest.raises(SystemExit):
        main(["build", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"stages to build: {', '.join(STAGES)} (default all)" in help_text
