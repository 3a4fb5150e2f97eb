"""Torch-Pruning (DepGraph) structured pruning of a base model, stepwise with fine-tuning after each step, as
robustness.pruning does with NNCF: the same criteria names, ratios, schedule and control arm, but the layers
physically shrink.

A pruned model is stored as a plain state dict plus its structure: the pruning history (which channels of which
layer went, as JSON) and the output channels of every convolution. `rebuild` replays the history on a fresh model
of the base architecture with Torch-Pruning's own DependencyGraph.load_pruning_history and loads the state dict
strictly: nothing stored is a pickle.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from robustness.errors import SelfCheckError, UsageError

# the profile's criterion names as Torch-Pruning's importances (the library's defaults otherwise: a filter's
# importance is its group's, averaged over the coupled layers DepGraph finds)
IMPORTANCE = {"geometric_median": "FPGMImportance(p=2)", "l1": "MagnitudeImportance(p=1)",
              "l2": "MagnitudeImportance(p=2)"}
CRITERIA = tuple(sorted(IMPORTANCE))
Finetune = Callable[[Any, int], None]  # (model, step index) -> trains in place


@dataclass
class PrunedStep:
    ratio: float
    state_dict: dict[str, Any]
    structure: dict[str, Any]  # {"history": [[layer, out_channels?, [indices]], ...], "conv_out_channels": [...]}
    stats: dict[str, Any]


def importance(criterion: str):
    import torch_pruning as tp

    if criterion not in IMPORTANCE:
        raise UsageError(f"criterion {criterion!r} is not offered by torch_pruning: choose from {', '.join(CRITERIA)}")
    if criterion == "geometric_median":
        return tp.importance.FPGMImportance(p=2)
    return tp.importance.MagnitudeImportance(p=1 if criterion == "l1" else 2)


def _example(model):
    """The input DepGraph traces with: zeros, so tracing draws nothing from the generators fine-tuning uses."""
    import torch

    return torch.zeros(1, 3, 32, 32, device=next(model.parameters()).device)


def ignored_layers(model, prune_first_conv: bool, prune_downsample_convs: bool) -> list:
    """What NNCF keeps whole too: every Linear layer (the classifier keeps its classes; NNCF prunes convolutions
    only), the first convolution unless asked, and the stride-2 convolutions unless asked."""
    from torch import nn

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    ignored = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not prune_first_conv and convs:
        ignored.append(convs[0])
    if not prune_downsample_convs:
        ignored += [m for m in convs if max(m.stride) > 1]
    return ignored


def conv_out_channels(model) -> list[int]:
    """Per convolution, in module order: its output channels (what the IR must hold)."""
    from torch import nn

    return [int(m.out_channels) for m in model.modules() if isinstance(m, nn.Conv2d)]


def _history(pruner) -> list[list[Any]]:
    return [[str(name), bool(out), [int(i) for i in idx]] for name, out, idx in pruner.pruning_history()]


def prune_stepwise(model, criterion: str, ratios: list[float], finetune: Finetune, *,
                   prune_first_conv: bool = False, prune_downsample_convs: bool = True,
                   progress: Callable[[str], None] | None = None, device: str = "cpu") -> list[PrunedStep]:
    """Prune a copy of `model` to each ratio in turn with one Torch-Pruning MetaPruner (local pruning: each group
    loses floor-complement channels, int(C * (1 - ratio)) kept), fine-tuning after each step."""
    import torch_pruning as tp

    from robustness.training import count_parameters, resolve_device

    imp = importance(criterion)
    for r in ratios:
        if not 0 < r < 1:
            raise UsageError(f"pruning ratio {r} is outside (0, 1) for Torch-Pruning: ratio 0 is the control arm")
    work = copy.deepcopy(model).to(resolve_device(device)).eval()
    full_params = count_parameters(work)
    full_channels = conv_out_channels(work)
    schedule = [0.0, *ratios]  # the profile's ratios as the pruner's per-step targets, not its linear scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pruner = tp.pruner.MetaPruner(work, _example(work), importance=imp, pruning_ratio=ratios[-1],
                                      iterative_steps=len(ratios),
                                      iterative_pruning_ratio_scheduler=lambda ratio, steps: schedule,
                                      ignored_layers=ignored_layers(work, prune_first_conv, prune_downsample_convs))
        out = []
        for step, ratio in enumerate(ratios):
            work.eval()
            pruner.step()
            if progress is not None:
                progress(f"  torch_pruning {criterion} step {step + 1}/{len(ratios)}: ratio {ratio}, fine-tuning")
            finetune(work, step)
            work.eval()
            widths = conv_out_channels(work)
            state = {k: v.detach().cpu().clone() for k, v in work.state_dict().items()}
            stats = {"params_full": full_params, "params_current": count_parameters(work),
                     "filters_full": sum(full_channels), "filters_current": sum(widths),
                     "filters_pruned_ratio": 1 - sum(widths) / max(sum(full_channels), 1),
                     "conv_out_channels_full": full_channels}
            out.append(PrunedStep(ratio, state, {"history": _history(pruner), "conv_out_channels": widths}, stats))
    return out


def rebuild(base, structure: dict[str, Any], state: dict[str, Any], origin: str):
    """The smaller model: `base` (a fresh model of the base architecture, left pruned in place) with the recorded
    pruning replayed, then the state dict loaded strictly."""
    import torch_pruning as tp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        graph = tp.DependencyGraph().build_dependency(base.eval(), example_inputs=_example(base))
        graph.load_pruning_history([(name, out, idx) for name, out, idx in structure["history"]])
    try:
        base.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise SelfCheckError(f"{origin}: the replayed pruning history does not give the stored weights' shapes "
                             f"({str(exc).splitlines()[0][:200]})") from None
    return base.eval()


def check_kept(kept: list[int], ir_channels: list[int]) -> None:
    """Each convolution of the IR has exactly the output channels the pruner kept (compared in order, or as a
    multiset for a model whose module order is not the IR's topological order), as deploy.check_channels checks
    NNCF's models: an export that lost or kept channels fails the build."""
    if ir_channels == kept or sorted(ir_channels) == sorted(kept):
        return
    if len(ir_channels) != len(kept):
        raise SelfCheckError(f"the IR has {len(ir_channels)} convolutions, the Torch-Pruning model {len(kept)}")
    first = next(i for i, (a, b) in enumerate(zip(ir_channels, kept)) if a != b)
    raise SelfCheckError(f"IR convolution {first} has {ir_channels[first]} output channels, the Torch-Pruning model "
                         f"kept {kept[first]}: the IR is not the model the pruner built")
