"""Stage versions: the code each kind of artifact is built by, as a version in every store key.

Without them a changed attack, pruning or export silently reuses artifacts the old code built. Each kind names its
code units (a module, or one function of the pipeline that builds it); `stages.json` records, per unit, a version
and the fingerprint of its code (the syntax tree, so comments and docstrings do not count). A unit whose code no
longer matches its fingerprint fails `tests/test_stages.py` until `python -m robustness stages --update` bumps its
version, which changes the key of exactly the kinds built by it (and, through parent keys, of their children).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

from robustness.errors import UsageError

LOCK = Path(__file__).with_name("stages.json")
# kind -> the code that builds it: a module (every file of a package) or `module:function` of the pipeline
KIND_CODE: dict[str, tuple[str, ...]] = {
    "adversarial_set": ("robustness.attacks", "robustness.pipeline:adversarial_set",
                        "robustness.pipeline:attack_indices"),
    "base_model": ("robustness.models", "robustness.training", "robustness.pipeline:base_model",
                   "robustness.pipeline:_checkpoint_model", "robustness.pipeline:build_module"),
    "control_models": ("robustness.pruning", "robustness.training", "robustness.pipeline:control_schedule",
                       "robustness.pipeline:_finetune_fn"),
    "dataset": ("robustness.data", "robustness.pipeline:dataset"),
    "int8_ir": ("robustness.deploy", "robustness.compression.quantize",
                "robustness.compression.artifacts:int8_model"),
    "ir": ("robustness.deploy", "robustness.pipeline:ir_model"),
    "predictions": ("robustness.deploy", "robustness.training", "robustness.pipeline:prediction_set",
                    "robustness.pipeline:parity"),
    "pruned_models": ("robustness.pruning", "robustness.training", "robustness.pipeline:prune_schedule",
                      "robustness.pipeline:_finetune_fn"),
    "query_set": ("robustness.attacks", "robustness.deploy", "robustness.variants",
                  "robustness.pipeline:attack_indices"),
    "tp_ir": ("robustness.deploy", "robustness.compression.depgraph", "robustness.compression.artifacts:tp_ir",
              "robustness.compression.artifacts:load"),
    "tp_pruned_models": ("robustness.compression.depgraph", "robustness.training",
                         "robustness.compression.artifacts:tp_schedule", "robustness.compression.artifacts:load",
                         "robustness.pipeline:_finetune_fn"),
    "variant_ir": ("robustness.deploy", "robustness.variants"),
    "variant_model": ("robustness.models", "robustness.training", "robustness.variants",
                      "robustness.pipeline:build_module"),
}


# code that enters keys only where it is used: adversarial training's recipe (robustness.adversarial_training)
OPTIONAL_CODE: tuple[str, ...] = ("robustness.adversarial_training",)


def units() -> list[str]:
    return sorted({u for code in KIND_CODE.values() for u in code} | set(OPTIONAL_CODE))


class _StripDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _strip


def _tree_sha256(source: str) -> str:
    tree = _StripDocstrings().visit(ast.parse(textwrap.dedent(source)))
    return hashlib.sha256(ast.dump(tree, annotate_fields=False).encode()).hexdigest()


def fingerprint(unit: str) -> str:
    """sha256 of the unit's syntax tree without docstrings (a package: of every module in it, by name)."""
    module_name, _, func = unit.partition(":")
    module = importlib.import_module(module_name)
    if func:
        return _tree_sha256(inspect.getsource(getattr(module, func)))
    files = (sorted(Path(module.__file__).parent.glob("*.py")) if Path(module.__file__).name == "__init__.py"
             else [Path(module.__file__)])
    return hashlib.sha256("".join(f"{p.name}:{_tree_sha256(p.read_text())}" for p in files).encode()).hexdigest()


RESTORE = ("restore it from version control (git checkout -- robustness/stages.json), then run `python -m "
           "robustness stages --update`")


@functools.lru_cache(maxsize=1)
def recorded() -> dict[str, dict[str, Any]]:
    from robustness.validation import read_json

    try:
        lock = read_json(LOCK, RESTORE)
    except FileNotFoundError:
        raise UsageError(f"{LOCK} is missing: {RESTORE}") from None
    if not isinstance(lock, dict) or not all(isinstance(v, dict) and "version" in v for v in lock.values()):
        raise UsageError(f"{LOCK} is not a table of stage versions: {RESTORE}")
    return lock


def code_versions(kind: str) -> dict[str, int]:
    """What goes into the key of an artifact of `kind`: the version of each unit that builds it."""
    lock = recorded()
    try:
        return {u: int(lock[u]["version"]) for u in KIND_CODE[kind]}
    except KeyError as exc:
        raise UsageError(f"no stage version for {exc.args[0]!r}: run `python -m robustness stages --update`") \
            from None


def unit_versions(names: tuple[str, ...]) -> dict[str, int]:
    """The recorded versions of some units, for a spec that uses code beyond its kind's (an optional stage)."""
    lock = recorded()
    missing = [u for u in names if u not in lock]
    if missing:
        raise UsageError(f"no stage version for {missing[0]!r}: run `python -m robustness stages --update`")
    return {u: int(lock[u]["version"]) for u in names}


def stale() -> list[str]:
    """Units whose code changed since their version was recorded."""
    lock = recorded()
    return [u for u in units() if u not in lock or lock[u]["fingerprint"] != fingerprint(u)]


def _read_lock(path: Path) -> dict[str, Any]:
    """The recorded versions to bump (none yet without the file): a damaged file must be restored, since the
    versions it held are part of every stored key."""
    from robustness.validation import read_json

    if not path.exists():
        return {}
    lock = read_json(path, RESTORE)
    if not isinstance(lock, dict):
        raise UsageError(f"{path} is not a table of stage versions: {RESTORE}")
    return lock


def update(path: Path = LOCK, same_output: tuple[str, ...] = ()) -> list[str]:
    """Bump the version of every changed unit and record its new fingerprint; returns the bumped units.

    A unit named in `same_output` keeps its version: a change that builds byte-identical artifacts (new code on
    a path that existing keys never take). Claim it only after building into an empty store and comparing
    checksums with the old build; the note of the change says how."""
    lock = _read_lock(path)
    unknown = [u for u in same_output if u not in units()]
    if unknown:
        raise UsageError(f"unknown stage unit {unknown[0]!r}: choose from {', '.join(units())}")
    bumped = []
    for unit in units():
        fp = fingerprint(unit)
        if unit not in lock:
            lock[unit] = {"version": 1, "fingerprint": fp}
            bumped.append(unit)
        elif lock[unit]["fingerprint"] != fp:
            keep = unit in same_output
            lock[unit] = {"version": int(lock[unit]["version"]) + (0 if keep else 1), "fingerprint": fp}
            if not keep:
                bumped.append(unit)
    lock = {u: lock[u] for u in units()}
    path.write_text(json.dumps(lock, indent=1, sort_keys=True) + "\n")
    recorded.cache_clear()
    return bumped
