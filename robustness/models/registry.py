"""Registry of model factories and the shared plumbing (normalisation, width scaling)."""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
from typing import Callable, Sequence

import torch
from torch import nn

from robustness.errors import UsageError

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    _FACTORIES[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    return sorted(_FACTORIES)


def scaled(channels: int, width: float) -> int:
    """Channels at a width multiplier; 1.0 gives the standard architecture exactly."""
    return max(4, int(round(channels * width)))


class Normalized(nn.Module):
    """Puts the dataset normalisation inside the model, so attacks work on [0, 1] images."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean) / self.std)


def is_factory_path(name: str) -> bool:
    """Your own architecture is named by its factory, `package.module:function`, instead of a zoo name."""
    return ":" in name


def import_factory(path: str, what: str = "model factory") -> Callable[..., object]:
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or whatever the module raises while importing
        raise UsageError(f"cannot import {what} {path!r} ({type(exc).__name__}: {exc}): give package.module:function "
                         "importable here (put its folder on PYTHONPATH, or `pythonpath = .` in pytest.ini)") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise UsageError(f"{what} {path!r}: module {module_name!r} has no callable {attr!r}")
    return fn


@functools.lru_cache(maxsize=None)  # a module's source does not change once imported
def factory_fingerprint(path: str) -> str:
    """sha256 of the factory module's source: editing the architecture's code changes every key built from it."""
    fn = import_factory(path)
    try:
        source = inspect.getsource(inspect.getmodule(fn))
    except (OSError, TypeError):
        source = path
    return hashlib.sha256(source.encode()).hexdigest()


def create_model(name: str, num_classes: int = 10, width: float = 1.0,
                 mean: Sequence[float] = (0.5, 0.5, 0.5), std: Sequence[float] = (0.25, 0.25, 0.25),
                 **factory_kwargs: object) -> nn.Module:
    """A zoo model, or your own factory's (called with num_classes and `factory_kwargs`, e.g. the layer widths of
    a structurally pruned variant)."""
    if is_factory_path(name):  # your own model takes [0, 1] images and normalises inside itself
        try:
            model = import_factory(name)(num_classes=num_classes, **factory_kwargs)
        except TypeError as exc:
            if not factory_kwargs:
                raise
            raise UsageError(f"model factory {name!r} does not take {sorted(factory_kwargs)} ({exc}): give "
                             "factory_kwargs its parameters take") from None
        if not isinstance(model, nn.Module):
            raise UsageError(f"model factory {name!r} returned {type(model).__name__}, not a torch.nn.Module")
        return model
    if factory_kwargs:
        raise UsageError(f"factory_kwargs {sorted(factory_kwargs)} are for your own factory, not zoo model {name!r}")
    if name not in _FACTORIES:
        raise UsageError(f"unknown architecture {name!r}: choose from {', '.join(list_models())}")
    if not 0 < width <= 4:
        raise UsageError(f"width {width} is outside (0, 4]: 1.0 is the standard architecture")
    return Normalized(_FACTORIES[name](num_classes=num_classes, width=width), mean, std)
