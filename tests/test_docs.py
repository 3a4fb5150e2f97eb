"""Every command, option, file and link the README and docs/ name exists, and the cheap commands run as written."""

import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from robustness.options import OPTIONS
from robustness.profiles import list_profiles, load_profile

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]
MARKERS = {"robustness_grid"}  # the plugin's marker, spelled like an ini key
FOLDER_OPTIONS = [f"--robustness-{o.flag}" for o in OPTIONS if o.metavar == "DIR"]
PATH_IN_PROSE = re.compile(r"(?<![\w./-])((?:\.ci|bench|docs|examples|robustness|tests)/[\w./-]*\w)")


def _doc_id(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _code(text: str) -> list[str]:
    """Every line of the fenced code blocks, and every inline code span."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    return lines + re.findall(r"`([^`\n]+)`", prose)


def _commands(text: str, program: str) -> list[list[str]]:
    """Command lines that start with `program` (also after `&&`), as words, comments dropped."""
    out = []
    for line in _code(text):
        for part in line.split("&&"):
            part = part.split("  #", 1)[0].strip()
            part = re.sub(r"^[A-Z_]+=\S+ ", "", part)  # VAR=value pytest ...
            if part.startswith(program + " ") or part == program:
                try:
                    out.append(shlex.split(part))
                except ValueError:  # an unbalanced quote: a multi-line snippet, not a command
                    continue
    return out


@cache
def _pytest_help() -> str:
    result = subprocess.run([sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_the_readme_is_read_in_minutes():
    assert len(README.read_bytes()) <= 12 * 1024


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_relative_link_resolves(doc):
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path_part, _, anchor = target.partition("#")
        path = (doc.parent / path_part).resolve() if path_part else doc
        if path.is_relative_to(ROOT / "results"):
            continue  # published results: test_results_links_name_the_presets_current_folders
        assert path.exists(), f"{_doc_id(doc)} links to {target}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), flags=re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}
            assert anchor in slugs, f"{_doc_id(doc)} links to {target}: no such heading in {path.name}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_file_named_in_prose_exists(doc):
    for name in PATH_IN_PROSE.findall(doc.read_text()):
        if "<" in name or "*" in name:
            continue
        assert (ROOT / name).exists(), f"{_doc_id(doc)} names {name}, which does not exist"


def test_results_links_name_the_presets_current_folders():
    """A preset whose settings change gets a new hash and a new folder: the links must follow it. Every linked file
    of a published folder (one holding its report.md) must be there; the README links the main job's report, and
    each other preset's where it is published."""
    folders = {load_profile(name).results_name for name in list_profiles()}
    linked = 0
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)", doc.read_text()):
            path = (doc.parent / target).resolve()
            if not path.is_relative_to(ROOT / "results"):
                continue
            linked += 1
            folder = path.relative_to(ROOT / "results").parts[0]
            assert folder in folders, f"{_doc_id(doc)} links to {target}: not a preset's current results folder " \
                                      f"({', '.join(sorted(folders))})"
            published = (ROOT / "results" / folder / "report.md").exists()
            assert path.exists() or not published, f"{_doc_id(doc)} links to {target}, which is not published"
    assert linked, "the docs link to no published results"
    for name in ("default", "open-questions"):  # the runs the docs report (smoke's results are the tests' scratch)
        folder = load_profile(name).results_name
        if name == "default" or (ROOT / "results" / folder / "report.md").exists():
            assert f"results/{folder}/report.md" in README.read_text(), f"the README does not link {name}'s report"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_robustness_command_and_flag_exists(doc):
    from robustness.cli import make_parser

    parser = make_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for words in _commands(doc.read_text(), "python -m robustness"):
        args = words[3:]
        if not args or args[0] in ("-h", "--help"):
            continue
        assert args[0] in sub.choices, f"{_doc_id(doc)}: no command `{' '.join(words)}`"
        flags = {s for a in sub.choices[args[0]]._actions for s in a.option_strings}
        for word in args[1:]:
            if word.startswith("--"):
                assert word.split("=")[0] in flags, f"{_doc_id(doc)}: `{' '.join(words)}`: no option {word}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_pytest_option_exists_and_folders_are_written_with_equals(doc):
    text = doc.read_text()
    help_text = _pytest_help()
    for words in _commands(text, "pytest"):
        for word in words:
            if word.startswith("--"):
                option = word.split("=")[0]
                assert re.search(rf"(^|[\s,]){re.escape(option)}([\s=,]|$)", help_text, flags=re.M), \
                    f"{_doc_id(doc)}: `{' '.join(words)}`: pytest has no option {option}"
                assert option not in FOLDER_OPTIONS or "=" in word, \
                    f"{_doc_id(doc)}: write {option}=DIR: pytest takes a separate existing folder for a test path"
    assert not re.search(r"(?<![\w-])--profile(?![\w-])\s*(smoke|default|paper|open-questions|cifar10-cpu)",
                         "\n".join(" ".join(w) for w in _commands(text, "pytest"))), \
        f"{_doc_id(doc)}: pytest's --profile is pytest-profiling's flag; write --robustness-profile"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_every_option_ini_key_and_variable_named_exists(doc):
    text = doc.read_text()
    flags = {f"--robustness-{o.flag}" for o in OPTIONS}
    ini = {f"robustness_{o.name}" for o in OPTIONS}
    env = {o.env for o in OPTIONS}
    for flag in re.findall(r"--robustness-[a-z-]*[a-z]", text):
        assert flag in flags, f"{_doc_id(doc)} names {flag}: not an option ({', '.join(sorted(flags))})"
    for key in re.findall(r"(?<![\w.:/-])robustness_[a-z_]*[a-z]", text):
        assert key in ini | MARKERS, f"{_doc_id(doc)} names {key}: not an ini key ({', '.join(sorted(ini))})"
    for var in re.findall(r"ROBUSTNESS_[A-Z_]*[A-Z]", text):
        assert var in env, f"{_doc_id(doc)} names ${var}: not an environment variable ({', '.join(sorted(env))})"


def test_the_markers_named_as_keys_are_the_plugin_s():
    source = (ROOT / "robustness" / "plugin" / "options.py").read_text()
    assert all(f'"markers", "{m}:' in source for m in MARKERS)


def test_the_cheat_sheet_names_every_option_command_and_preset():
    from robustness.cli import make_parser

    text = README.read_text()
    for o in OPTIONS:
        assert f"--robustness-{o.flag}" in text and f"robustness_{o.name}" in text and o.env in text, o.name
    sub = next(a for a in make_parser()._actions if a.dest == "command")
    for command in sub.choices:
        assert f"python -m robustness {command}" in text, command
    for name in list_profiles():
        assert f"| `{name}` |" in text, name


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("command", ["--help", "list", "profile --profile smoke", "plan --profile smoke"])
def test_the_cheap_commands_run_as_written(command, store):
    text = "\n".join(p.read_text() for p in DOCS)
    if command != "--help" and command != "plan --profile smoke":
        assert f"python -m robustness {command}" in text  # as the README writes it
    result = _run("-m", "robustness", *command.split(), env={"ROBUSTNESS_CACHE_DIR": str(store.root)})
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip()


def test_the_evaluate_snippet_runs_from_the_repository_root(store):
    text = (ROOT / "docs" / "gating.md").read_text()
    snippet = next(b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "robustness.evaluate(" in b)
    result = _run("-c", snippet, env={"ROBUSTNESS_CACHE_DIR": str(store.root)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    verdicts = re.findall(r"^\w+ \S+ (reproduced|inconclusive|not reproduced|uninformative) ", result.stdout,
                          flags=re.M)
    assert verdicts, result.stdout[-2000:]


def test_the_claims_page_names_every_plot():
    from robustness import plots

    text = (ROOT / "docs" / "claims.md").read_text()
    assert all(f"`{name}`" in text for _, _, name in plots.PLOTS)
