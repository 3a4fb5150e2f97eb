"""The gate runs on the profile its snapshots were recorded on: under another, plain `pytest` neither builds that
profile's gate cells nor has syrupy call the committed snapshots unused (and offer `--snapshot-update` to delete
them)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _collect(profile: str, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROBUSTNESS_PROFILE", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "tests/gate", "--co", "-q", "-p", "no:cacheprovider",
                           "--robustness-profile", profile, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("profile", ["default", "open-questions"])
def test_the_gate_is_not_collected_under_a_profile_without_snapshots(profile):
    result = _collect(profile)
    out = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, out[-2000:]
    assert "unused" not in out and "--snapshot-update" not in out, out[-2000:]
    assert f"gate not collected: its snapshots are recorded on the smoke profile, this run's is {profile}" in out


def test_the_gate_is_collected_under_the_profile_of_its_snapshots():
    # syrupy counts every snapshot as unused when nothing runs (--co): a warning here, not an exit status
    result = _collect("smoke", "--snapshot-warn-unused")
    assert result.returncode == 0, result.stdout[-2000:]
    collected = [line for line in result.stdout.splitlines() if line.startswith("tests/gate/")]
    assert collected and all("[smoke-" in line for line in collected), result.stdout[-2000:]
    assert "gate not collected" not in result.stdout
