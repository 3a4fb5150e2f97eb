"""The instruction set torch computes with on x86 CPUs, pinned so that a build gives the same bits on every
machine: AVX-512 kernels sum in another order than AVX2 ones, and on an AVX-512 machine the same code and seeds
trained other models (the smoke gate's PGD accuracy moved by 26 points, 2026-11-29); capped at AVX2, that machine
passed the smoke gate's snapshots recorded on AVX2 machines again. Torch, oneDNN and MKL read these variables
once, when they first compute, so robustness/__init__.py pins them on import; a variable you set yourself is kept,
and every key of a torch-built artifact records what was in force."""

from __future__ import annotations

import os
import platform

from robustness.errors import UsageError

CAPS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}


def pin() -> None:
    if platform.machine().lower() in ("x86_64", "amd64"):
        for name, value in CAPS.items():
            os.environ.setdefault(name, value)


def in_force() -> dict[str, str]:
    """What a torch-built artifact's key records."""
    return {name: os.environ.get(name, "native") for name in CAPS}


def check() -> None:
    """Before a torch build: torch computes with the instruction set its key records. It fixes that on its first
    computation, so a process that ran torch before importing robustness computes with the machine's own."""
    import torch

    wanted = os.environ.get("ATEN_CPU_CAPABILITY")
    actual = torch.backends.cpu.get_cpu_capability()
    if wanted and actual.lower() != wanted.lower():
        raise UsageError(f"torch computes with {actual} kernels, the key records {wanted}: import robustness before "
                         "torch computes anything, or set ATEN_CPU_CAPABILITY (and ONEDNN_MAX_CPU_ISA, "
                         "MKL_ENABLE_INSTRUCTIONS) before starting Python")
