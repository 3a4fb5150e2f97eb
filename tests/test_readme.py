"""The README's two commands stay true: CI runs exactly the test command the README gives."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INSTALL_DEV = 'pip install -e ".[dev]"'  # the tests need the dev extra: ruff, tox, pytest-profiling (a neighbour)


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.strip().splitlines()]


def test_readme_opens_with_the_main_job_and_the_tests():
    main, tests = _readme_commands()[:2]
    assert main == "pip install -e . && pytest -m claims -n 4"
    assert tests.startswith(f"{INSTALL_DEV} && pytest ")


def test_ci_runs_the_readme_test_command():
    tests = _readme_commands()[1].removeprefix(f"{INSTALL_DEV} && ")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in [line.strip() for line in ci]
