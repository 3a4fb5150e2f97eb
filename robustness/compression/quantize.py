"""INT8: NNCF's post-training quantization (`nncf.quantize`) of a model's FP32 OpenVINO IR, calibrated on a seeded
subset of the training split.

The IR is quantized rather than the torch model: nncf.quantize of a torch model fails while
NNCF_TORCH_LEGACY_TRACING=1 is set, which NNCF's filter pruning needs in the same process. The INT8 IR is saved
with compress_to_fp16=False, so its size is its 8-bit weights and FP32 rest, not an FP16 conversion.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from robustness.errors import UsageError
from robustness.profiles import INT8_PRESETS as PRESETS

os.environ.setdefault("NNCF_TORCH_LEGACY_TRACING", "1")  # as robustness.pruning: one NNCF import serves both
TARGET_DEVICE = "CPU"  # OpenVINO's CPU plugin runs every IR here


def check_calibration_size(size: int, n_train: int) -> None:
    if size > n_train:
        raise UsageError(f"int8_calibration_size {size} is larger than the training split ({n_train} images): set "
                         f"int8_calibration_size to at most {n_train}")


def calibration_indices(n_train: int, size: int, seed: int) -> np.ndarray:
    """The training images that calibrate: a seeded sample without replacement, in index order."""
    check_calibration_size(size, n_train)
    return np.sort(np.random.default_rng(seed).choice(n_train, size, replace=False))


def _import_nncf():
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import nncf

        nncf.set_log_level(logging.ERROR)
    return nncf


def quantize_ir(fp32_xml: Path, out_xml: Path, x_calibration: np.ndarray, preset: str,
                fast_bias_correction: bool) -> None:
    """nncf.quantize of the IR at `fp32_xml`, one calibration image per inference, saved as `out_xml`."""
    import openvino as ov

    if preset not in PRESETS:
        raise UsageError(f"unknown int8_preset {preset!r}: choose from {', '.join(PRESETS)}")
    nncf = _import_nncf()
    model = ov.Core().read_model(str(fp32_xml))
    data = nncf.Dataset(list(x_calibration), lambda image: image[None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = nncf.quantize(model, data, preset=getattr(nncf.QuantizationPreset, preset.upper()),
                                  target_device=getattr(nncf.TargetDevice, TARGET_DEVICE),
                                  subset_size=len(x_calibration), fast_bias_correction=fast_bias_correction)
    from robustness import deploy

    deploy._stable_names(quantized)  # NNCF's nodes are named from process-wide counters: the same IR, another xml
    ov.save_model(quantized, str(out_xml), compress_to_fp16=False)


def check_device() -> dict[str, Any]:
    """The CPU's int8 features; refuses a CPU on which OpenVINO's CPU plugin offers no INT8 inference (an INT8 IR
    would run, if at all, through its FP32 fallback, and every INT8 figure would be a false one)."""
    from robustness import deploy

    features = deploy.cpu_int8_features()
    if "INT8" not in features["openvino_capabilities"]:
        raise UsageError(f"OpenVINO's CPU plugin offers no INT8 inference on this machine (its "
                         f"OPTIMIZATION_CAPABILITIES: {', '.join(features['openvino_capabilities']) or 'none'}): "
                         "remove int8 from the profile's methods, e.g. --set methods=nncf_filter,torch_pruning")
    return features
