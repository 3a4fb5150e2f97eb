"""Deployment: OpenVINO IR (FP32) of base and pruned models, with zeroed filters physically removed.

Base and pruned models go through the same conversion, so size and latency differences come from pruning alone.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # torch only to export: predictions and latency run the IR alone
    from torch import nn

log = logging.getLogger("robustness.deploy")


def _downgrade_pools(ov_model) -> int:
    """The torch frontend emits opset-14 pools; OpenVINO's pruning masks only pass opset-1 pools, so convs
    feeding a pool would silently keep their channels. Replace them where the two are exactly equivalent."""
    import openvino.opset1 as ops1

    n = 0
    for node in ov_model.get_ordered_ops():
        kind = node.get_type_name()
        if kind not in ("AvgPool", "MaxPool") or node.get_type_info().version_id == "opset1":
            continue
        a = node.get_attributes()
        rounding = a["rounding_type"].lower()
        if rounding == "ceil_torch" or any(d != 1 for d in a.get("dilations", [1])):
            continue
        if kind == "AvgPool":
            new = ops1.avg_pool(node.input_value(0), a["strides"], a["pads_begin"], a["pads_end"], a["kernel"],
                                a["exclude-pad"], rounding, a["auto_pad"].lower())
        else:
            if len(node.output(1).get_target_inputs()):
                continue
            new = ops1.max_pool(node.input_value(0), a["strides"], a["pads_begin"], a["pads_end"], a["kernel"],
                                rounding, a["auto_pad"].lower())
        if new.get_output_partial_shape(0) != node.get_output_partial_shape(0):
            continue
        node.output(0).replace(new.output(0))
        n += 1
    ov_model.validate_nodes_and_infer_types()
    return n


def conv_channels(ov_model) -> list[list]:
    """[name, output channels] of every convolution in topological order (names are not stable across IRs of
    the same architecture, positions are)."""
    return [[op.get_friendly_name(), int(op.get_output_partial_shape(0)[1].get_length())]
            for op in ov_model.get_ordered_ops() if op.get_type_name() in ("Convolution", "GroupConvolution")]


def ir_parameters(ov_model) -> int:
    return int(sum(int(np.prod(op.get_output_shape(0))) for op in ov_model.get_ordered_ops()
                   if op.get_type_name() == "Constant" and op.get_output_element_type(0).is_real()))


def export_ir(model: nn.Module, xml_path: Path, remove_zeroed: bool = True) -> dict[str, Any]:
    """Convert, remove zeroed filters (unless `remove_zeroed` is False), save FP32 model.xml/model.bin; return
    size and channel facts."""
    import openvino as ov
    import torch
    from openvino._offline_transformations import apply_pruning_transformation

    model = model.cpu().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(model, example_input=torch.rand(1, 3, 32, 32), input=[1, 3, 32, 32])
    pools = _downgrade_pools(ov_model)
    if remove_zeroed:
        apply_pruning_transformation(ov_model)
    channels = conv_channels(ov_model)
    if remove_zeroed:
        check_channels(model, [c for _, c in channels])
    _stable_names(ov_model)
    ov.save_model(ov_model, str(xml_path), compress_to_fp16=False)
    bin_path = xml_path.with_suffix(".bin")
    return {"bin_bytes": bin_path.stat().st_size, "xml_bytes": xml_path.stat().st_size,
            "ir_parameters": ir_parameters(ov_model), "conv_channels": channels,
            "torch_nonzero_filters": nonzero_filters(model), "pools_downgraded": pools}


def _stable_names(ov_model) -> None:
    """OpenVINO names a converted model and the nodes it generates from process-wide counters (`Model791`,
    `Constant_116807`), and TorchScript adds tensor names (`input.1`) by the process's history, so the same
    model exported by another process gave another model.xml. Generated node names become the node's type and
    topological index (names from torch's modules stay), and every tensor but the input is named by its node and
    port."""
    import re

    ov_model.set_friendly_name("model")
    for i, op in enumerate(ov_model.get_ordered_ops()):
        if re.search(r"_\d+$", op.get_friendly_name()):
            op.set_friendly_name(f"{op.get_type_name()}_{i}")
        if op.get_type_name() != "Parameter":
            for j, out in enumerate(op.outputs()):
                out.get_tensor().set_names({f"{op.get_type_name()}_{i}:{j}"})


def nonzero_filters(model: nn.Module) -> list[int]:
    """Per convolution, in module order: the filters whose weights are not all zero (what should survive)."""
    from torch import nn

    return [int((m.weight.detach().flatten(1).abs().sum(1) != 0).sum())
            for m in model.modules() if isinstance(m, nn.Conv2d)]


def check_channels(model: nn.Module, ir_channels: list[int]) -> None:
    """Each convolution of the IR keeps exactly the torch model's nonzero filters: a conv that kept pruned
    channels (as behind an opset-14 pool) or lost live ones fails the build. Module order is the IR's
    topological order for the zoo; for a model defined in another order the counts are compared as a multiset."""
    from robustness.errors import SelfCheckError

    expected = nonzero_filters(model)
    if ir_channels == expected or sorted(ir_channels) == sorted(expected):
        return
    if len(ir_channels) != len(expected):
        raise SelfCheckError(f"the IR has {len(ir_channels)} convolutions, the torch model {len(expected)}")
    first = next(i for i, (a, b) in enumerate(zip(ir_channels, expected)) if a != b)
    raise SelfCheckError(f"IR convolution {first} has {ir_channels[first]} output channels, the torch model "
                         f"{expected[first]} nonzero filters: OpenVINO's pruning transformation did not remove "
                         "exactly the pruned filters")


def read_checked(xml_path: Path, num_classes: int | None, origin: str):
    """An IR (or an ONNX file) OpenVINO can read, taking N x 3 x 32 x 32 images and giving `num_classes` scores, as
    the base model does; anything else is one line naming the file and what it holds."""
    import openvino as ov

    from robustness.errors import UsageError

    try:
        model = ov.Core().read_model(str(xml_path))
    except Exception as exc:  # OpenVINO raises RuntimeError for a missing, truncated or foreign file
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{origin}: OpenVINO cannot read it ({first}): give an IR (model.xml with its .bin "
                         "beside it) or an ONNX file exported from the model") from None
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UsageError(f"{origin}: the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
                         "give a classifier with one image input and one output of class scores")
    shape = model.inputs[0].get_partial_shape()
    expected = [None, 3, 32, 32]
    if shape.rank.is_dynamic or shape.rank.get_length() != 4 or any(
            want is not None and dim.is_static and dim.get_length() != want for dim, want in zip(shape, expected)):
        raise UsageError(f"{origin}: its input is {shape}, the base model's N x 3 x 32 x 32 (images in [0, 1], "
                         "normalisation inside): export the variant with the base's input")
    out = model.outputs[0].get_partial_shape()
    if out.rank.is_dynamic or out.rank.get_length() != 2 or (
            num_classes is not None and out[1].is_static and out[1].get_length() != num_classes):
        raise UsageError(f"{origin}: its output is {out}, the base model's N x {num_classes} (one score per "
                         "class): give a variant of the same classifier")
    try:  # weights are read lazily: a damaged .bin shows when the model is compiled and run
        probe = model.clone()
        probe.reshape([1, 3, 32, 32])
        ov.Core().compile_model(probe, "CPU", {"INFERENCE_NUM_THREADS": 1})(np.zeros((1, 3, 32, 32), np.float32))
    except Exception as exc:  # noqa: BLE001  OpenVINO raises RuntimeError for whatever it cannot run
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"{origin}: OpenVINO cannot run it ({first}): give the IR or ONNX file as exported, "
                         "with its weights whole") from None
    return model


def precision(ov_model) -> dict[str, Any]:
    """What the IR holds: FakeQuantize nodes and 8-bit weight constants mark an INT8 model (NNCF's quantize)."""
    from collections import Counter

    ops = ov_model.get_ordered_ops()
    consts = Counter(str(op.get_output_element_type(0).get_type_name()) for op in ops
                     if op.get_type_name() == "Constant" and op.get_output_size() == 1
                     and int(np.prod(op.get_output_shape(0))) > 1)
    fq = sum(op.get_type_name() == "FakeQuantize" for op in ops)
    eight = consts.get("i8", 0) + consts.get("u8", 0)
    kind = "INT8" if fq or eight else "FP16" if consts.get("f16", 0) else "FP32"
    return {"precision": kind, "fake_quantize": int(fq), "weight_constants": dict(sorted(consts.items()))}


def cpu_int8_features() -> dict[str, Any]:
    """The CPU's int8 instructions (INT8 latency depends on them) and what OpenVINO's CPU plugin reports."""
    import openvino as ov

    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    wanted = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16")
    return {"int8_instructions": [f for f in wanted if f in flags],
            "openvino_capabilities": list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))}


def runtime_precisions(compiled) -> dict[str, dict[str, int]]:
    """Per layer type of the compiled model, how many layers run at each precision (u8/i8 for int8 kernels):
    what OpenVINO actually executed, not what the IR asked for."""
    from collections import Counter, defaultdict

    out: dict[str, Counter] = defaultdict(Counter)
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        layer = rt["layerType"].astype(str) if "layerType" in rt else op.get_type_name()
        if layer in ("Convolution", "FullyConnected", "MatMul", "GroupConvolution", "Deconvolution"):
            out[layer][rt["runtimePrecision"].astype(str) if "runtimePrecision" in rt else "?"] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


class Runner:
    """OpenVINO CPU inference of one IR with a static input shape: batched predictions, or (batch 1) latency
    timed the way benchmark_app times it."""

    def __init__(self, xml_path: Path, latency: bool = False, batch: int = 1, threads: int = 0) -> None:
        import openvino as ov

        core = ov.Core()
        # f32: this CPU would otherwise run bf16 and disagree with torch in the second decimal
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if latency:
            config["PERFORMANCE_HINT"] = "LATENCY"
        if threads:  # fixed: stored predictions are the same on every machine, latency is timed on one core
            config["INFERENCE_NUM_THREADS"] = threads
        model = core.read_model(str(xml_path))
        self.batch = 1 if latency else batch
        try:
            model.reshape([self.batch, 3, 32, 32])
        except RuntimeError:  # an IR with its batch fixed inside (a team's export): predicted one image at a time
            self.batch = int(model.inputs[0].get_partial_shape()[0].get_length())
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.input = self.request.get_input_tensor(0)  # set once; a timed call copies nothing
        self.inferred_seconds = 0.0

    def logits(self, x: np.ndarray) -> np.ndarray:
        """Outputs for any number of images, `batch` at a time (the last batch padded with zeros)."""
        outs = []
        for start in range(0, len(x), self.batch):
            chunk = x[start:start + self.batch]
            self.input.data[:len(chunk)] = chunk
            self.input.data[len(chunk):] = 0
            self.request.infer()
            outs.append(self.request.get_output_tensor(0).data[:len(chunk)].copy())
        return np.concatenate(outs) if outs else np.zeros((0, 0), dtype=np.float32)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.logits(x).argmax(1)

    def set_input(self, x1: np.ndarray) -> None:
        self.input.data[:] = x1

    def infer_one(self) -> float:
        """One synchronous inference on the input already set; its seconds as OpenVINO measures them around the
        inference, the figure benchmark_app reports (the Python call and the timer are not in it)."""
        self.request.infer()
        seconds = self.request.latency / 1000
        self.inferred_seconds += seconds
        return seconds

    def clock(self) -> float:
        """Seconds of inference so far: pytest-benchmark's `timer` for this runner, so a round times the model."""
        return self.inferred_seconds


def cpu_name() -> str:
    """The CPU model, as OpenVINO names it: latency figures hold for this CPU only."""
    import openvino as ov

    return str(ov.Core().get_property("CPU", "FULL_DEVICE_NAME"))


def alternating_latency(runners: dict[str, Runner], x1: np.ndarray, iterations: int, warmup: int, seed: int = 0,
                        precise: tuple[str, ...] = (), precision: float = 0.0, min_rounds: int = 30
                        ) -> dict[str, list[float]]:
    """Time several IRs alternately in one process (batch 1), so a noisy machine slows them all alike.

    The order is shuffled every round, so no IR always runs first or always after the same one. Rounds stop at
    `iterations`, or earlier, after `min_rounds`, once the median of every IR in `precise` is known to within
    `precision` (half its distribution-free 95% interval, relative to it): a quiet machine needs few rounds."""
    from robustness.metrics import median_precision

    for r in runners.values():
        r.set_input(x1)
    for _ in range(warmup):
        for r in runners.values():
            r.infer_one()
    rng = np.random.default_rng(seed)
    names = list(runners)
    times: dict[str, list[float]] = {name: [] for name in runners}
    for done in range(1, iterations + 1):
        for i in rng.permutation(len(names)):
            times[names[i]].append(runners[names[i]].infer_one())
        if precise and done >= min_rounds and done % 10 == 0 and \
                all(median_precision(times[name]) <= precision for name in precise):
            break
    return times
