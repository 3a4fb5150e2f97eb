"""Pruning: NNCF filter pruning of a base model, stepwise with fine-tuning after each step, as the paper did.

One NNCF session walks the profile's ratios in turn (0.1, then 0.2, ...): set the pruning level, fine-tune with
the masks on, strip, save. A control arm walks the same fine-tuning schedule without pruning, so that an effect
of pruning can be told apart from an effect of the extra training.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import os
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import torch
from torch import nn

from robustness.errors import UsageError
from robustness.profiles import CRITERIA

os.environ.setdefault("NNCF_TORCH_LEGACY_TRACING", "1")  # nncf 2.19 refuses create_compressed_model without it
log = logging.getLogger("robustness.pruning")
NNCF_IMPORTANCE = {"geometric_median": "geometric_median", "l1": "L1", "l2": "L2"}
Finetune = Callable[[nn.Module, int], None]  # (model with masks on, step index) -> trains in place


@dataclass
class PrunedStep:
    ratio: float
    state_dict: dict[str, torch.Tensor]
    stats: dict[str, Any]


def _import_nncf():
    if os.environ.get("NNCF_TORCH_LEGACY_TRACING") != "1":
        raise UsageError("NNCF_TORCH_LEGACY_TRACING is set to something other than 1: unset it, nncf 2.19's "
                         "filter pruning needs legacy tracing")
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime is found"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import nncf

        nncf.set_log_level(logging.ERROR)  # before nncf.torch, which warns about the torch version
        from nncf.torch import create_compressed_model
    return nncf, create_compressed_model


@contextlib.contextmanager
def channel_multiple(k: int) -> Iterator[None]:
    """NNCF keeps a multiple of 8 filters per layer; for width-reduced models that makes 10% prune nothing.

    With k=1 it prunes floor(C * ratio) filters per group, as the ratio says. Restored on exit.
    """
    import nncf.common.pruning.shape_pruning_processor as spp
    import nncf.common.pruning.utils as pu
    import nncf.torch.pruning.filter_pruning.algo as algo

    original = pu.get_rounded_pruned_element_number
    patched = functools.partial(original, multiple_of=k)
    algo.get_rounded_pruned_element_number = patched
    spp.get_rounded_pruned_element_number = patched
    try:
        yield
    finally:
        algo.get_rounded_pruned_element_number = original
        spp.get_rounded_pruned_element_number = original


def nncf_config(criterion: str, prune_first_conv: bool, prune_downsample_convs: bool) -> dict[str, Any]:
    return {
        "input_info": {"sample_size": [1, 3, 32, 32]},
        "compression": {
            "algorithm": "filter_pruning",
            "pruning_init": 0.0,
            "params": {
                "schedule": "baseline",  # the level is set by hand at each step
                "pruning_target": 0.5,
                "pruning_steps": 1,
                "filter_importance": NNCF_IMPORTANCE[criterion],
                "prune_first_conv": prune_first_conv,
                "prune_downsample_convs": prune_downsample_convs,
                "prune_batch_norms": True,
            },
        },
    }


def _stats(ctrl) -> dict[str, Any]:
    s = ctrl.statistics().filter_pruning.model_statistics
    layers = {}
    for node in ctrl.pruned_module_groups_info.get_all_nodes():
        mask = ctrl.get_mask(node)
        pruned = (mask == 0).nonzero().flatten().tolist()  # which filters, so nesting is checked filter by filter
        layers[str(node.module_scope)] = {"filters": int(mask.numel()), "pruned": len(pruned),
                                          "pruned_filters": [int(i) for i in pruned]}
    return {
        "pruning_level": float(ctrl.pruning_level),
        "flops_full": int(s.full_flops), "flops_current": int(s.current_flops),
        "params_full": int(s.full_params_num), "params_current": int(s.current_params_num),
        "filters_full": int(s.full_filters_num), "filters_current": int(s.current_filters_num),
        "filters_pruned_ratio": 1 - s.current_filters_num / max(s.full_filters_num, 1),
        "layers": layers,
    }


def prune_stepwise(model: nn.Module, criterion: str, ratios: list[float], finetune: Finetune, *,
                   prune_first_conv: bool = False, prune_downsample_convs: bool = False,
                   progress: Callable[[str], None] | None = None, device: str = "cpu") -> list[PrunedStep]:
    """Prune `model` (left untouched) to each ratio in turn, fine-tuning after each step."""
    if criterion not in CRITERIA:
        raise UsageError(f"unknown criterion {criterion!r}: choose from {', '.join(CRITERIA)}")
    for r in ratios:
        if not 0 < r < 1:
            raise UsageError(f"pruning ratio {r} is outside (0, 1) for NNCF: ratio 0 is the control arm")
    nncf, create_compressed_model = _import_nncf()
    keys = list(model.state_dict().keys())
    from robustness.training import resolve_device

    work = copy.deepcopy(model).to(resolve_device(device)).eval()  # NNCF wraps and changes the model in place
    out = []
    with channel_multiple(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config = nncf.NNCFConfig.from_dict(nncf_config(criterion, prune_first_conv, prune_downsample_convs))
        rng = torch.get_rng_state()
        ctrl, wrapped = create_compressed_model(work, config, dump_graphs=False)
        torch.set_rng_state(rng)  # NNCF draws from the global generator while wrapping
        for step, ratio in enumerate(ratios):
            ctrl.set_pruning_level(ratio)
            # zero the pruned filters' raw weights: the next step then keeps them pruned (nested masks)
            with torch.no_grad():
                for node in ctrl.pruned_module_groups_info.get_all_nodes():
                    keep = ctrl.get_mask(node).bool()
                    node.module.weight[~keep] = 0
                    if node.module.bias is not None:
                        node.module.bias[~keep] = 0
            if progress is not None:
                progress(f"  {criterion} step {step + 1}/{len(ratios)}: ratio {ratio}, fine-tuning")
            finetune(wrapped, step)
            wrapped.eval()
            stripped = ctrl.strip(do_copy=True)
            state = stripped.state_dict()
            out.append(PrunedStep(ratio, {k: state[k].detach().cpu().clone() for k in keys}, _stats(ctrl)))
    return out


def control_stepwise(model: nn.Module, steps: int, finetune: Finetune,
                     device: str = "cpu") -> list[dict[str, torch.Tensor]]:
    """The control arm: the same fine-tuning steps, no pruning. One state dict per step."""
    from robustness.training import resolve_device

    work = copy.deepcopy(model).to(resolve_device(device))
    out = []
    for step in range(steps):
        finetune(work, step)
        work.eval()
        out.append({k: v.detach().cpu().clone() for k, v in work.state_dict().items()})
    return out


def zero_filter_fraction(model: nn.Module) -> float:
    """Fraction of conv filters that are all zero (what OpenVINO's pruning transformation can remove)."""
    total = zero = 0
    for m in model.modules():
        if isinstance(m, nn.Conv2d) and m.groups == 1:
            w = m.weight.detach().flatten(1)
            total += w.shape[0]
            zero += int((w.abs().sum(1) == 0).sum())
    return zero / max(total, 1)
