"""Training: base models, surrogates and fine-tuning after each pruning step (a pure function of its inputs).

Seeded and deterministic on the CPU: the same seed and data give the same weights, byte for byte.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from robustness.errors import UsageError

log = logging.getLogger("robustness.training")
Progress = Callable[[str], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("device 'cuda' was asked for but no GPU is visible: use device=cpu or device=auto")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {name!r}: choose from auto, cpu, cuda")
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a build with a fixed number of torch threads (results depend on it), then restore."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def augment(x: torch.Tensor, gen: torch.Generator, flip: bool, pad: int = 2) -> torch.Tensor:
    """Random translation by up to `pad` pixels (and horizontal flip for natural images)."""
    n = x.shape[0]
    padded = nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
    out = torch.stack([padded[i, :, dy[i]:dy[i] + 32, dx[i]:dx[i] + 32] for i in range(n)])
    if flip:
        mask = torch.rand(n, generator=gen) < 0.5
        out[mask] = out[mask].flip(-1)
    return out


def train(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, lr: float,
          weight_decay: float, seed: int, device: str = "cpu", flip: bool = False,
          progress: Progress | None = None, label: str = "model",
          on_step: Callable[[], None] | None = None) -> list[dict[str, float]]:
    """SGD with Nesterov momentum and a cosine schedule; returns the per-epoch loss and training accuracy.

    `on_step` runs after every optimiser step (NNCF needs it to re-apply its pruning masks).
    """
    if epochs == 0:
        return []
    dev = resolve_device(device)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(dev).train()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(y) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.15, anneal_strategy="cos")
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single image
                continue
            xb = augment(xt[idx], gen, flip).to(dev)
            yb = yt[idx].to(dev)
            opt.zero_grad(set_to_none=True)
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            sched.step()
            if on_step is not None:
                on_step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((out.argmax(1) == yb).sum())
            total += len(idx)
        record = {"epoch": epoch + 1, "loss": loss_sum / max(total, 1), "train_accuracy": correct / max(total, 1)}
        history.append(record)
        if progress is not None:
            progress(f"{label}: epoch {epoch + 1}/{epochs} loss {record['loss']:.3f} "
                     f"train acc {record['train_accuracy']:.3f}")
    model.eval()
    return history


@torch.no_grad()
def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256, device: str = "cpu") -> np.ndarray:
    """Predicted labels in eval mode, in batches."""
    dev = resolve_device(device)
    was_training = model.training
    model.to(dev).eval()
    out = []
    for start in range(0, len(x), batch_size):
        out.append(model(torch.from_numpy(x[start:start + batch_size]).to(dev)).argmax(1).cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
