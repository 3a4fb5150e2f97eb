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


def export_ir(model: nn.Module, xml_path: Path) -> dict[str, Any]:
    """Convert, remove zeroed filters, save FP32 model.xml/model.bin; return size and channel facts."""
    import openvino as ov
    import torch
    from openvino._offline_transformations import apply_pruning_transformation

    model = model.cpu().eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        ov_model = ov.convert_model(model, example_input=torch.rand(1, 3, 32, 32), input=[1, 3, 32, 32])
    pools = _downgrade_pools(ov_model)
    apply_pruning_transformation(ov_model)
    channels = conv_channels(ov_model)
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
        model.reshape([self.batch, 3, 32, 32])
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
