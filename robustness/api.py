"""One call for scripts and notebooks: `robustness.evaluate(model, data, ...)` measures the claims on your model
and returns the same records a claims run writes to results.json."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from robustness import claims as claims_mod
from robustness import pipeline, report
from robustness.errors import UsageError
from robustness.profiles import DATASETS, load_profile
from robustness.store import Store
from robustness.validation import check_inputs


def _factory_path(obj: Any, what: str) -> str:
    """A callable becomes the `package.module:function` path the store keys and the workers import."""
    if isinstance(obj, str):
        return obj
    if callable(obj) and getattr(obj, "__module__", None) and "<locals>" not in obj.__qualname__:
        return f"{obj.__module__}:{obj.__qualname__}"
    raise UsageError(f"{what} {obj!r} is neither a name nor an importable function: give a zoo name, "
                     "'package.module:function' or a module-level function")


def evaluate(model: str | Callable[..., Any], data: str | Path | Callable[..., Any] = "digits", *,
             checkpoint: str | Path | None = None, attacks: Sequence[str] | None = None,
             criteria: Sequence[str] | None = None, ratios: Sequence[float] | None = None,
             claims: Sequence[str] | None = None, profile: str = "default", profile_file: str | Path | None = None,
             cache_dir: str | Path | None = None, results_dir: str | Path | None = None,
             progress: Callable[[str], None] | None = print, **settings: Any) -> list[dict[str, Any]]:
    """Measure `claims` (default: every claim with cells) for one architecture.

    model: a zoo name (`resnet50`), `package.module:function(num_classes)` or such a function itself.
    data: a dataset name (`digits`, `cifar10`, `cifar100`), a folder holding data.npz, or a dataset factory.
    checkpoint: your trained weights for `model` (a state dict); without it the base model is trained.
    settings: any other profile field, e.g. `n_attack=128` or `eps=8/255`.
    """
    overrides: dict[str, Any] = {"archs": [_factory_path(model, "model")], **settings}
    if isinstance(data, Path) or (isinstance(data, str) and data not in DATASETS and ":" not in data):
        overrides.update(dataset="npz", data_path=str(Path(data).resolve()))
    else:
        overrides["dataset"] = _factory_path(data, "data")
    for name, value in (("attacks", attacks), ("criteria", criteria), ("ratios", ratios)):
        if value is not None:
            overrides[name] = list(value)
    if checkpoint is not None:
        overrides["checkpoint"] = str(Path(checkpoint).resolve())
    prof = load_profile(profile, profile_file, overrides)
    check_inputs(prof)  # your factories, checkpoint and data.npz, before anything is stored
    wanted = [c.id for c in claims_mod.CLAIMS] if claims is None else list(claims)
    unknown = [c for c in wanted if c not in {k.id for k in claims_mod.CLAIMS}]
    if unknown:
        raise UsageError(f"unknown claims {unknown}: choose from {', '.join(c.id for c in claims_mod.CLAIMS)}")
    store = Store(cache_dir)
    say = progress or (lambda _msg: None)
    ds = pipeline.dataset(store, prof, None, progress)
    todo = [(claim, cell) for claim in map(claims_mod.get_claim, wanted) for cell in claims_mod.cells(claim, prof)]
    records = []
    for i, (claim, cell) in enumerate(todo, 1):
        say(f"[{i}/{len(todo)}] {claim.id}[{claims_mod.cell_id(claim, cell)}]")
        records.append(claims_mod.measure(claim, cell, store, prof, ds))
    if results_dir is not None:
        report.write(records, Path(results_dir), prof)
    return records
