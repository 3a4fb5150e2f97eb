"""How the compressed models are asked of the store: the Torch-Pruning schedule, its models and their FP32 IRs, and
the INT8 IR of any model; each keyed by its settings and parents, as robustness.pipeline keys its boxes. NNCF's
filter pruning stays in robustness.pipeline with the keys it always had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from robustness import pipeline
from robustness.compression import depgraph
from robustness.errors import UsageError
from robustness.profiles import Profile
from robustness.store import Artifact, Store, load_state_dict, save_npz, write_json

STRUCTURE = "structure.json"  # beside a Torch-Pruning model's model.pt: what rebuilds the smaller module
INT8_AGREEMENT = 0.99  # INT8 labels should match the FP32 IR's on this share of clean test images


# Torch-Pruning ------------------------------------------------------------------------------------------------
def tp_schedule(store: Store, profile: Profile, ds: Artifact, base: pipeline.ModelRef, criterion: str,
                progress: Callable[[str], None] | None = None) -> Artifact:
    """Every nonzero ratio of the profile, pruned in turn from the base model by one Torch-Pruning MetaPruner,
    with the fine-tuning steps NNCF's schedule and the control arm have."""
    say = pipeline._say(progress)
    if criterion not in depgraph.CRITERIA:
        raise UsageError(f"criterion {criterion!r} is not offered by torch_pruning: choose from "
                         f"{', '.join(depgraph.CRITERIA)}")
    spec = {"criterion": criterion, "library": "torch-pruning", "importance": depgraph.IMPORTANCE[criterion],
            **pipeline._schedule_spec(profile, base.training), "prune_first_conv": profile.prune_first_conv,
            "prune_downsample_convs": profile.prune_downsample_convs,
            "schedule": "stepwise: one Torch-Pruning MetaPruner (local pruning) sets each ratio in turn and "
                        "fine-tunes after each step"}
    if not spec["ratios"]:
        raise UsageError("the profile has no nonzero pruning ratio: add one, e.g. ratios = [0, 0.5]")

    def build(tmp: Path) -> dict[str, Any]:
        import torch

        from robustness import training

        x_te, y_te = pipeline.load_arrays(ds, "test")
        label = f"{base.name} torch_pruning {criterion}"
        steps = depgraph.prune_stepwise(base.load(), criterion, spec["ratios"],
                                        pipeline._finetune_fn(profile, ds, say, label, base.training),
                                        prune_first_conv=profile.prune_first_conv,
                                        prune_downsample_convs=profile.prune_downsample_convs, progress=say,
                                        device=profile.device)
        info: dict[str, Any] = {"ratios": {}}
        for step in steps:
            folder = tmp / pipeline._ratio_dir(step.ratio)
            folder.mkdir()
            torch.save(step.state_dict, folder / "model.pt")  # a plain state dict: weights_only loads it
            write_json(folder / STRUCTURE, step.structure)
            write_json(folder / "stats.json", step.stats)
            model = load(tp_meta(base, criterion, step.ratio), folder / "model.pt")
            acc = float((training.predict(model, x_te, device=profile.device, layout=profile.memory_format)
                         == y_te).mean())
            info["ratios"][f"{step.ratio:g}"] = {
                "clean_accuracy": acc, "filters_pruned_ratio": step.stats["filters_pruned_ratio"],
                "params": step.stats["params_current"], "params_full": step.stats["params_full"]}
            say(f"{base.meta['arch']} torch_pruning {criterion} {step.ratio:g}: clean accuracy {acc:.4f}, "
                f"{step.stats['filters_pruned_ratio']:.3f} of filters removed")
        return info

    return pipeline._get_torch_built(store, "tp_pruned_models", spec, [ds, base.artifact], build,
                                     f"torch_pruning {base.name} ({criterion}, ratios {spec['ratios']})",
                                     profile.threads)


def tp_meta(base: pipeline.ModelRef, criterion: str, ratio: float) -> dict[str, Any]:
    return {**base.meta, "role": "pruned", "criterion": criterion, "ratio": ratio, "method": "torch_pruning",
            "structure": STRUCTURE}


def tp_model(store: Store, profile: Profile, ds: Artifact, base: pipeline.ModelRef, criterion: str, ratio: float,
             progress: Callable[[str], None] | None = None) -> pipeline.ModelRef:
    """The base model pruned to `ratio` by Torch-Pruning with `criterion`; ratio 0 is the control arm, the same
    one NNCF's models are judged against."""
    if not 0 <= ratio < 1:
        raise UsageError(f"pruning ratio {ratio} is outside [0, 1): 0 is the control arm, 0.5 removes half the "
                         "channels")
    if ratio == 0:
        return pipeline.control_model(store, profile, ds, base, 0.0, progress)
    if ratio not in profile.ratios:
        raise UsageError(f"ratio {ratio} is not in the profile's ratios {list(profile.ratios)}: add it there "
                         "(pruning is stepwise, so the schedule depends on every ratio)")
    art = tp_schedule(store, profile, ds, base, criterion, progress)
    return pipeline.ModelRef(art, pipeline._ratio_dir(ratio), tp_meta(base, criterion, ratio))


def load(meta: dict[str, Any], weights: Path):
    """A Torch-Pruning model: a fresh base architecture, the recorded pruning replayed, the weights loaded."""
    from robustness.models import create_model

    structure = json.loads((weights.parent / meta["structure"]).read_text())
    fresh = create_model(meta["arch"], meta["num_classes"], meta["width"], meta["mean"], meta["std"],
                         **meta.get("factory_kwargs", {}))
    return depgraph.rebuild(fresh, structure, load_state_dict(weights), origin=str(weights))


def tp_ir(store: Store, model: pipeline.ModelRef, progress: Callable[[str], None] | None = None) -> Artifact:
    """FP32 OpenVINO IR of a Torch-Pruning model, exported as it is (its layers are already smaller), checked at
    build time to hold exactly the output channels the pruner kept in every convolution."""
    spec = {"format": "openvino-ir", "precision": "FP32", "pruning_transformation": False, "model": model.subdir,
            "channels": "as the pruner kept them (checked)"}

    def build(tmp: Path) -> dict[str, Any]:
        from robustness import deploy

        kept = json.loads((model.weights.parent / STRUCTURE).read_text())["conv_out_channels"]
        info = deploy.export_ir(model.load(), tmp / "model.xml", remove_zeroed=False)
        depgraph.check_kept(kept, [c for _, c in info["conv_channels"]])
        pipeline._say(progress)(f"IR {model.name}: {info['bin_bytes']} bytes, {info['ir_parameters']} parameters")
        return {**info, "kept_conv_out_channels": kept, "model": model.meta}

    return pipeline._get(store, "tp_ir", spec, [model.artifact], build, f"IR {model.name}")


# INT8 ---------------------------------------------------------------------------------------------------------
def int8_spec(profile: Profile) -> dict[str, Any]:
    from robustness.compression import quantize

    return {"format": "openvino-ir", "precision": "INT8", "quantizer": "nncf.quantize",
            "target_device": quantize.TARGET_DEVICE, "preset": profile.int8_preset,
            "fast_bias_correction": profile.int8_fast_bias_correction, "compress_to_fp16": False,
            "calibration": {"split": "train", "size": profile.int8_calibration_size, "seed": profile.seed,
                            "batch": 1}}


def int8_method(model: pipeline.ModelRef) -> str:
    """The model method of the INT8 of `model`: int8 of the base, `pruning+int8` of a pruned model."""
    pruning = model.meta.get("method") or ("nncf_filter" if model.meta.get("role") == "pruned" else "")
    return f"{pruning}+int8" if pruning else "int8"


def int8_model(store: Store, profile: Profile, ds: Artifact, model: pipeline.ModelRef,
               progress: Callable[[str], None] | None = None) -> pipeline.IRRef:
    """INT8 of a model: NNCF's post-training quantization of its FP32 IR, calibrated on a seeded subset of the
    training split; measured through the IR alone, against that FP32 IR."""
    from robustness.compression import quantize

    fp32 = pipeline.deployed_ir(store, model)
    spec = {**int8_spec(profile), "model": model.subdir}
    if "n_train" in ds.info:  # known once the split is built (before, the profile checked what it knows)
        quantize.check_calibration_size(profile.int8_calibration_size, int(ds.info["n_train"]))
    name = f"{model.name}-int8"

    def build(tmp: Path) -> dict[str, Any]:
        import openvino as ov

        from robustness import deploy

        features = quantize.check_device()
        x_tr, _ = pipeline.load_arrays(ds, "train")
        index = quantize.calibration_indices(len(x_tr), profile.int8_calibration_size, profile.seed)
        quantize.quantize_ir(fp32.file("model.xml"), tmp / "model.xml", x_tr[index], profile.int8_preset,
                             profile.int8_fast_bias_correction)
        save_npz(tmp / "calibration.npz", index=index.astype(np.int64))
        ov_model = ov.Core().read_model(str(tmp / "model.xml"))
        x_te, y_te = pipeline.load_arrays(ds, "test")
        batch = min(len(x_te), 256) or 1
        int8_runner = deploy.Runner(tmp / "model.xml", batch=batch, threads=1)
        ref = deploy.Runner(fp32.file("model.xml"), batch=batch, threads=1).predict(x_te)
        got = int8_runner.predict(x_te)
        agree = int((ref == got).sum())
        agreement = {"n": int(len(x_te)), "agree": agree, "agreement": agree / max(len(x_te), 1),
                     "int8_accuracy": float((got == y_te).mean()), "fp32_accuracy": float((ref == y_te).mean()),
                     "bound": INT8_AGREEMENT}
        if agreement["agreement"] < INT8_AGREEMENT:
            agreement["below_bound"] = (f"INT8 labels agree with the FP32 IR's on {agree} of {len(x_te)} clean test "
                                        f"images ({100 * agreement['agreement']:.1f}% < {100 * INT8_AGREEMENT:g}%)")
        bin_bytes = (tmp / "model.bin").stat().st_size
        fp32_bytes = fp32.info["bin_bytes"]
        info = {**deploy.precision(ov_model), "bin_bytes": bin_bytes, "xml_bytes": (tmp / "model.xml").stat().st_size,
                "fp32_bin_bytes": fp32_bytes, "fp32_xml_bytes": fp32.info["xml_bytes"],
                "bin_ratio": bin_bytes / fp32_bytes, "ir_parameters": deploy.ir_parameters(ov_model),
                "conv_channels": deploy.conv_channels(ov_model), "clean_agreement": agreement,
                "runtime_precision": deploy.runtime_precisions(int8_runner.compiled), **features,
                "calibration_images": int(len(index)), "model": model.meta}
        pipeline._say(progress)(f"INT8 IR {name}: {bin_bytes} bytes ({100 * info['bin_ratio']:.0f}% of FP32), "
                                f"{100 * agreement['agreement']:.1f}% of {len(x_te)} clean labels as FP32")
        return info

    art = pipeline._get(store, "int8_ir", spec, [ds, fp32], build, f"INT8 IR of {model.name}")
    return pipeline.IRRef(art, {**model.meta, "method": int8_method(model), "name": name, "precision": "INT8"},
                          reference=fp32)
