"""Training: base models, surrogates and fine-tuning after each pruning step (a pure function of its inputs).

Seeded and deterministic on the CPU: the same seed and data give the same weights, byte for byte.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import time
from typing import Callable, Iterator

import numpy as np
import torch
from torch import nn

from robustness.errors import UsageError
from robustness.progress import eta

log = logging.getLogger("robustness.training")
Progress = Callable[[str], None]


def device_name(name: str) -> str:
    """The device a build runs on, as keys record it: 'auto' is decided here, 'cuda' is kept even where no GPU
    is visible (a reader of a store that GPUs built must compute the same keys)."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {name!r}: choose from auto, cpu, cuda")
    return name


def resolve_device(name: str) -> torch.device:
    """The torch device to compute on. On a GPU, fp32 stays fp32 (no TF32) and cuDNN picks deterministic
    kernels: keys promise that the same inputs give the same artifact."""
    name = device_name(name)
    if name == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("device 'cuda' was asked for but no GPU is visible: use device=cpu or device=auto")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
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


@contextlib.contextmanager
def memory_format(model: nn.Module, fmt: str) -> Iterator[nn.Module]:
    """Run `model` with weights and activations in `fmt` ("channels_last" or "contiguous").

    Inputs are converted by a forward pre-hook, so callers (ART included) pass ordinary arrays and get gradients
    in their own layout; on exit the weights are contiguous again, so a saved state dict does not depend on it."""
    if fmt == "contiguous":
        yield model
        return
    if fmt != "channels_last":
        raise UsageError(f"unknown memory_format {fmt!r}: choose from channels_last, contiguous")
    layout = torch.channels_last

    def to_layout(_module: nn.Module, args: tuple) -> tuple:
        return tuple(a.contiguous(memory_format=layout) if torch.is_tensor(a) and a.dim() == 4 else a for a in args)

    model.to(memory_format=layout)
    handle = model.register_forward_pre_hook(to_layout)
    try:
        yield model
    finally:
        handle.remove()
        model.to(memory_format=torch.contiguous_format)


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
          on_step: Callable[[], None] | None = None, layout: str = "contiguous",
          perturb: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
          ) -> list[dict[str, float]]:
    """SGD with Nesterov momentum and a cosine schedule; returns the per-epoch loss and training accuracy.

    `on_step` runs after every optimiser step (NNCF needs it to re-apply its pruning masks). `perturb` replaces
    each augmented batch by the batch the model learns from (adversarial training); accuracy is then on it.
    """
    if epochs == 0:
        return []
    dev = resolve_device(device)
    seed_everything(seed)
    gen = torch.Generator().manual_seed(seed)
    model.to(dev).train()
    with memory_format(model, layout):
        history = _epochs(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                          gen=gen, dev=dev, flip=flip, progress=progress, label=label, on_step=on_step,
                          perturb=perturb)
    model.eval()
    return history


def _epochs(model: nn.Module, x: np.ndarray, y: np.ndarray, *, epochs: int, batch_size: int, lr: float,
            weight_decay: float, gen: torch.Generator, dev: torch.device, flip: bool, progress: Progress | None,
            label: str, on_step: Callable[[], None] | None,
            perturb: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None
            ) -> list[dict[str, float]]:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(y) / batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.15, anneal_strategy="cos")
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    started = time.perf_counter()
    for epoch in range(epochs):
        order = torch.randperm(len(yt), generator=gen)
        total, correct, loss_sum = 0, 0, 0.0
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2:  # BatchNorm cannot train on a single image
                continue
            xb = augment(xt[idx], gen, flip).to(dev)
            yb = yt[idx].to(dev)
            if perturb is not None:
                xb = perturb(model, xb, yb)
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
            progress(f"{label}: epoch {eta(epoch + 1, epochs, started)}, loss {record['loss']:.3f} "
                     f"train acc {record['train_accuracy']:.3f}")
    return history


def predict(model: nn.Module, x: np.ndarray, batch_size: int = 256, device: str = "cpu",
            layout: str = "contiguous") -> np.ndarray:
    """Predicted labels in eval mode, in batches."""
    if not len(x):
        return np.zeros(0, dtype=np.int64)
    return logits(model, x, batch_size, device, layout).argmax(1)


@torch.no_grad()
def logits(model: nn.Module, x: np.ndarray, batch_size: int = 256, device: str = "cpu",
           layout: str = "contiguous") -> np.ndarray:
    """The model's outputs in eval mode, in batches."""
    dev = resolve_device(device)
    was_training = model.training
    model.to(dev).eval()
    out = []
    with memory_format(model, layout):
        for start in range(0, len(x), batch_size):
            out.append(model(torch.from_numpy(x[start:start + batch_size]).to(dev)).float().cpu().numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros((0, 0), dtype=np.float32)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
