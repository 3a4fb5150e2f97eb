"""Adversarial robustness of compressed models: the claims of arXiv 2308.08160 as a pytest benchmark suite."""

from robustness import isa as _isa

_isa.pin()  # before torch computes anything in this process: the same bits on every x86 machine


def __getattr__(name: str):
    if name == "evaluate":  # imported on first use, so `import robustness` stays light
        from robustness.api import evaluate

        return evaluate
    raise AttributeError(f"module 'robustness' has no attribute {name!r}")
