"""Wiring of the data flow: how each box (split, base model, adversarial set, pruned model, IR) is asked of the
store. Stage modules stay pure functions of arrays and models; this module names their specs and parents.

Torch, the model zoo and the training stages are imported where a box is built, not here: a warm claims run only
derives keys and reads what is stored, and each of its processes would otherwise spend seconds importing torch.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from robustness import adversarial_training, isa, stages
from robustness import data as data_mod
from robustness.errors import CorruptArtifactError, UsageError
from robustness.profiles import Profile, is_factory_path
from robustness.store import (
    Artifact,
    Store,
    arrays_sha256,
    load_npz,
    load_state_dict,
    save_npz,
    sha256_file,
    write_json,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger("robustness.pipeline")
Progress = Callable[[str], None]


def build_device(profile: Profile) -> str:
    """The device in a key: 'auto' decided (a GPU build and a CPU build differ in their last bits); only 'auto'
    asks torch."""
    if profile.device in ("cpu", "cuda"):
        return profile.device
    from robustness import training

    return training.device_name(profile.device)


def _say(progress: Progress | None) -> Progress:
    return progress if progress is not None else log.info


def _get(store: Store, kind: str, spec: dict[str, Any], parents: list[Artifact],
         build: Callable[[Path], dict[str, Any]], label: str) -> Artifact:
    """store.get with the version of the code that builds `kind` in the key: changed code rebuilds what it
    affects, and nothing else (robustness.stages)."""
    return store.get(kind, {**spec, "code": stages.code_versions(kind)}, parents, build, label=label)


def _get_torch_built(store: Store, kind: str, spec: dict[str, Any], parents: list[Artifact],
                     build: Callable[[Path], dict[str, Any]], label: str, threads: int) -> Artifact:
    """_get for artifacts computed with torch: CPU kernels sum in a thread-dependent and an instruction-set
    dependent order, so the thread count and the instruction set (robustness.isa) are part of the key and the build
    runs with exactly those."""
    def run(tmp: Path) -> dict[str, Any]:
        from robustness import training

        isa.check()
        with training.torch_threads(threads):
            return build(tmp)
    return _get(store, kind, {**spec, "threads": threads, "cpu_isa": isa.in_force()}, parents, run, label)


@functools.lru_cache(maxsize=None)
def _cached_sha256(path: str, mtime_ns: int, size: int) -> str:
    return sha256_file(Path(path))


def content_sha256(path: Path) -> str:
    """Your checkpoint's or data's hash, once per process and file version: claims ask for it in every cell."""
    st = Path(path).stat()
    return _cached_sha256(str(Path(path).resolve()), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=None)
def _factory_data(path: str, seed: int) -> tuple[data_mod.Split, str]:
    """A dataset factory's whole split and its content hash, read once per process."""
    whole = data_mod.load_split(path, 0, 0, seed)
    return whole, arrays_sha256(whole.x_train, whole.y_train, whole.x_test, whole.y_test)


# split --------------------------------------------------------------------------------------------------------
def dataset(store: Store, profile: Profile, data_dir: Path | None = None,
            progress: Progress | None = None) -> Artifact:
    spec = {"dataset": profile.dataset, "n_train": profile.n_train, "n_test": profile.n_test,
            "seed": profile.seed}
    whole = None
    if profile.dataset == "npz":  # your own data is keyed by its content, not by where it lies
        spec["sha256"] = content_sha256(Path(profile.data_path) / "data.npz")
    elif is_factory_path(profile.dataset):
        from robustness.models import factory_fingerprint

        whole, spec["sha256"] = _factory_data(profile.dataset, profile.seed)
        spec["factory_sha256"] = factory_fingerprint(profile.dataset)

    def build(tmp: Path) -> dict[str, Any]:
        if whole is not None:
            split = data_mod.resample(whole, profile.n_train, profile.n_test, profile.seed)
        else:
            split = data_mod.load_split(profile.dataset, profile.n_train, profile.n_test, profile.seed, data_dir,
                                        profile.data_path)
        save_npz(tmp / "train" / "data.npz", x=split.x_train, y=split.y_train)
        save_npz(tmp / "test" / "data.npz", x=split.x_test, y=split.y_test)
        return {"num_classes": split.num_classes, "mean": split.mean, "std": split.std,
                "n_train": int(len(split.y_train)), "n_test": int(len(split.y_test))}

    return _get(store, "dataset", spec, [], build, f"dataset {profile.dataset}")


def load_arrays(ds: Artifact, part: str) -> tuple[np.ndarray, np.ndarray]:
    arrays = load_npz(ds.file(f"{part}/data.npz"))
    data_mod.check_images(arrays["x"], arrays["y"], f"{ds.path}/{part}/data.npz")
    return arrays["x"], arrays["y"]


# models -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRef:
    """A trained model inside an artifact: a state dict plus what it takes to rebuild the module."""

    artifact: Artifact
    subdir: str
    meta: dict[str, Any]

    @property
    def weights(self) -> Path:
        return self.artifact.path / self.subdir / "model.pt" if self.subdir else self.artifact.file("model.pt")

    @property
    def training(self) -> str:
        return self.meta.get("training", "standard")

    @property
    def name(self) -> str:
        m = self.meta
        if m.get("variant"):  # a team's shipped artifact goes by the name its profile gives it
            return str(m["variant"])
        adv = "-adv" if self.training == "adversarial" else ""
        if m.get("method"):  # another compression method than NNCF's filter pruning (robustness.compression)
            return f"{m['arch']}-{m['method']}-{m['criterion']}-{m['ratio']}{adv}"
        if m.get("criterion"):
            return f"{m['arch']}-{m['criterion']}-{m['ratio']}{adv}"
        return f"{m['arch']}-{m.get('role', 'victim')}{adv}"

    def load(self) -> nn.Module:
        return load_module(self.meta, self.weights)


def load_module(meta: dict[str, Any], weights: Path) -> nn.Module:
    """A stored model as a module: the base architecture, or (meta 'structure') a physically smaller model that
    Torch-Pruning made, rebuilt from its recorded structure (robustness.compression)."""
    if meta.get("structure"):
        from robustness.compression import artifacts

        return artifacts.load(meta, weights)
    return build_module(meta, load_state_dict(weights), origin=str(weights))


def build_module(meta: dict[str, Any], state: dict[str, torch.Tensor], origin: str) -> nn.Module:
    from robustness.models import create_model

    model = create_model(meta["arch"], meta["num_classes"], meta["width"], meta["mean"], meta["std"],
                         **meta.get("factory_kwargs", {}))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()
        detail = "; ".join(s.strip() for s in first[1:4]) or first[0]
        raise UsageError(f"checkpoint {origin} does not fit {meta['arch']} width {meta['width']} "
                         f"with {meta['num_classes']} classes ({detail[:300]}): give the architecture, width and "
                         "class count it was trained with") from None
    return model.eval()


def model_meta(profile: Profile, ds: Artifact, arch: str) -> dict[str, Any]:
    return {"arch": arch, "width": profile.width, "num_classes": ds.info["num_classes"],
            "mean": ds.info["mean"], "std": ds.info["std"]}


def base_model(store: Store, profile: Profile, ds: Artifact, arch: str, role: str = "victim",
               progress: Progress | None = None, arm: str = "standard") -> ModelRef:
    """The victim's base model, or (role='surrogate') the attacker's own model of the same architecture; in the
    arm 'adversarial', both trained on adversarial batches (the attacker knows the recipe, not the weights)."""
    if role not in ("surrogate", "victim"):
        raise UsageError(f"unknown model role {role!r}: choose from surrogate, victim")
    say = _say(progress)
    if role == "victim" and profile.checkpoint and arm == "standard":
        return _checkpoint_model(store, profile, ds, arch, say)
    seed = profile.seed if role == "victim" else profile.surrogate_seed
    meta = model_meta(profile, ds, arch)
    spec = {**{k: meta[k] for k in ("arch", "width", "num_classes")}, "epochs": profile.epochs,
            "batch_size": profile.batch_size, "lr": profile.lr, "weight_decay": profile.weight_decay,
            "seed": seed, "flip": profile.dataset in data_mod.CIFAR_FILES, "device": build_device(profile),
            "memory_format": profile.memory_format, **adversarial_training.recipe(profile, arm)}
    if is_factory_path(arch):
        from robustness.models import factory_fingerprint

        spec["factory_sha256"] = factory_fingerprint(arch)
    adv = {"training": arm} if arm != "standard" else {}
    label = f"{arch} ({role}{', adversarial' if adv else ''})"

    def build(tmp: Path) -> dict[str, Any]:
        import torch

        from robustness import training
        from robustness.models import create_model

        x, y = load_arrays(ds, "train")
        x_te, y_te = load_arrays(ds, "test")
        training.seed_everything(seed)
        model = create_model(arch, meta["num_classes"], profile.width, meta["mean"], meta["std"])
        history = training.train(model, x, y, epochs=profile.epochs, batch_size=profile.batch_size,
                                  lr=profile.lr, weight_decay=profile.weight_decay, seed=seed,
                                  device=profile.device, flip=spec["flip"], progress=say,
                                  label=f"train {label}", layout=profile.memory_format,
                                  perturb=adversarial_training.perturber(adversarial_training.recipe(
                                      profile, arm), meta["num_classes"], profile.device))
        model.cpu()
        torch.save(model.state_dict(), tmp / "model.pt")
        acc = float((training.predict(model, x_te, device=profile.device, layout=profile.memory_format)
                     == y_te).mean())
        say(f"{label}: clean test accuracy {acc:.4f} on {len(y_te)} images")
        write_json(tmp / "history.json", history)
        return {**meta, "role": role, **adv, "seed": seed, "clean_accuracy": acc, "n_test": int(len(y_te)),
                "parameters": training.count_parameters(model)}

    art = _get_torch_built(store, "base_model", spec, [ds], build, f"base model {label}", profile.threads)
    return ModelRef(art, "", {**meta, "role": role, **adv})


def _checkpoint_model(store: Store, profile: Profile, ds: Artifact, arch: str, say: Progress) -> ModelRef:
    """Your trained weights as the victim's base model, keyed by the checkpoint's content (nothing is trained)."""
    meta = model_meta(profile, ds, arch)
    path = Path(profile.checkpoint)
    spec = {"arch": arch, "width": profile.width, "num_classes": meta["num_classes"],
            "device": build_device(profile), "checkpoint_sha256": content_sha256(path)}
    if is_factory_path(arch):
        from robustness.models import factory_fingerprint

        spec["factory_sha256"] = factory_fingerprint(arch)

    def build(tmp: Path) -> dict[str, Any]:
        import torch

        from robustness import training

        try:
            state = load_state_dict(path)
        except CorruptArtifactError as exc:
            raise UsageError(f"checkpoint {exc}: save it with torch.save(model.state_dict(), path)") from None
        model = build_module(meta, state, origin=str(path))
        torch.save(model.state_dict(), tmp / "model.pt")
        x_te, y_te = load_arrays(ds, "test")
        acc = float((training.predict(model, x_te, device=profile.device) == y_te).mean())
        say(f"{arch} (checkpoint {path.name}): clean test accuracy {acc:.4f} on {len(y_te)} images")
        return {**meta, "role": "victim", "checkpoint": str(path), "clean_accuracy": acc,
                "n_test": int(len(y_te)), "parameters": training.count_parameters(model)}

    art = _get_torch_built(store, "base_model", spec, [ds], build, f"base model {arch} (checkpoint)",
                           profile.threads)
    return ModelRef(art, "", {**meta, "role": "victim"})


# adversarial sets ---------------------------------------------------------------------------------------------
def attack_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The fixed test images every attack uses: a stratified subset, so all sets share their images."""
    if n == 0 or n >= len(y):
        return np.arange(len(y))
    from sklearn.model_selection import train_test_split

    idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return np.sort(idx)


def adversarial_set(store: Store, profile: Profile, ds: Artifact, source_model: ModelRef, source: str,
                    attack: str, eps: float | None = None, progress: Progress | None = None) -> Artifact:
    """Adversarial examples of the fixed test images, crafted white-box on `source_model`.

    `source` names the threat model: surrogate (the attacker's own model), base (the victim's base model) or
    pruned (the victim's pruned model itself).
    """
    from robustness import attacks

    say = _say(progress)
    spec_obj = attacks.attack_spec(profile, attack, eps)
    spec = {**spec_obj.to_dict(), "source": source, "model": source_model.subdir, "n_attack": profile.n_attack,
            "memory_format": profile.memory_format, "device": build_device(profile)}

    def build(tmp: Path) -> dict[str, Any]:
        import time

        from robustness import training

        x_te, y_te = load_arrays(ds, "test")
        index = attack_indices(y_te, profile.n_attack, profile.seed)
        x, y = x_te[index], y_te[index]
        model = source_model.load()
        clean = training.predict(model, x, device=profile.device, layout=profile.memory_format)
        start = time.perf_counter()
        x_adv = attacks.craft(spec_obj, model, x, y, ds.info["num_classes"], say, layout=profile.memory_format,
                              device=profile.device)
        seconds = time.perf_counter() - start
        n = attacks.norms(x, x_adv)
        save_npz(tmp / "adv.npz", x_adv=x_adv, y=y, index=index.astype(np.int64), linf=n["linf"], l2=n["l2"])
        adv_acc = float((training.predict(model, x_adv, device=profile.device, layout=profile.memory_format)
                         == y).mean())
        say(f"{attack} on {source_model.name} ({source}): accuracy {adv_acc:.3f} on {len(y)} images, "
            f"{seconds:.1f}s")
        return {"source": source, "source_model": source_model.meta, "n": int(len(y)),
                "source_clean_accuracy": float((clean == y).mean()), "source_adv_accuracy": adv_acc,
                "craft_seconds": round(seconds, 3), "linf_max": float(n["linf"].max(initial=0)),
                "l2_mean": float(n["l2"].mean()) if len(y) else 0.0}

    label = f"{attack} set on {source_model.name} ({source})"
    return _get_torch_built(store, "adversarial_set", spec, [ds, source_model.artifact], build, label,
                            profile.threads)


def load_adversarial(art: Artifact) -> dict[str, np.ndarray]:
    arrays = load_npz(art.file("adv.npz"))
    data_mod.check_images(arrays["x_adv"], arrays["y"], str(art.file("adv.npz")))
    return arrays


def attack_source_model(store: Store, profile: Profile, ds: Artifact, arch: str, source: str,
                        criterion: str | None = None, ratio: float | None = None,
                        progress: Progress | None = None, arm: str = "standard") -> ModelRef:
    if source == "surrogate":
        return base_model(store, profile, ds, arch, "surrogate", progress, arm)
    base = base_model(store, profile, ds, arch, "victim", progress, arm)
    if source == "base":
        return base
    if source == "pruned":
        if criterion is None or ratio is None:
            raise UsageError("source 'pruned' needs a criterion and a ratio")
        return pruned_model(store, profile, ds, base, criterion, ratio, progress)
    raise UsageError(f"unknown source {source!r}: choose from base, pruned, surrogate")


def faced_sets(store: Store, profile: Profile, ds: Artifact, base: ModelRef, pruned: ModelRef, source: str,
               attack: str, eps: float | None = None) -> tuple[Artifact, Artifact]:
    """The adversarial sets the base and the pruned model face under a threat model: one set crafted on the
    surrogate or the base, or (source pruned) each model's own white-box set, checked to hold the same images."""
    if source != "pruned":
        src = attack_source_model(store, profile, ds, base.meta["arch"], source, arm=base.training)
        adv = adversarial_set(store, profile, ds, src, source, attack, eps)
        return adv, adv
    on_base = adversarial_set(store, profile, ds, base, "base", attack, eps)
    on_pruned = adversarial_set(store, profile, ds, pruned, "pruned", attack, eps)
    if not np.array_equal(*(load_adversarial(a)["index"] for a in (on_base, on_pruned))):
        raise ValueError(f"{on_base.key} and {on_pruned.key} attack different test images")
    return on_base, on_pruned


# pruning ------------------------------------------------------------------------------------------------------
def _finetune_fn(profile: Profile, ds: Artifact, say: Progress, label: str, arm: str = "standard"):
    """Fine-tuning after each step, with the base model's recipe (adversarial batches for the adversarial arm)."""
    from robustness import training

    x, y = load_arrays(ds, "train")
    perturb = adversarial_training.perturber(adversarial_training.recipe(profile, arm),
                                             int(ds.info["num_classes"]), profile.device)

    def finetune(model: nn.Module, step: int) -> None:
        training.train(model, x, y, epochs=profile.finetune_epochs, batch_size=profile.batch_size,
                       lr=profile.finetune_lr, weight_decay=profile.weight_decay, seed=profile.seed + 1000 + step,
                       device=profile.device, flip=profile.dataset in data_mod.CIFAR_FILES, progress=say,
                       label=f"fine-tune {label} step {step + 1}", layout=profile.memory_format,
                       perturb=perturb)
    return finetune


def _schedule_spec(profile: Profile, arm: str = "standard") -> dict[str, Any]:
    return {"ratios": [r for r in profile.ratios if r > 0], "finetune_epochs": profile.finetune_epochs,
            "finetune_lr": profile.finetune_lr, "batch_size": profile.batch_size, "seed": profile.seed,
            "weight_decay": profile.weight_decay, "device": build_device(profile),
            "memory_format": profile.memory_format, **adversarial_training.recipe(profile, arm)}


def _ratio_dir(ratio: float) -> str:
    return f"ratio-{ratio:g}"


def prune_schedule(store: Store, profile: Profile, ds: Artifact, base: ModelRef, criterion: str,
                   progress: Progress | None = None) -> Artifact:
    """Every nonzero ratio of the profile, pruned in turn from the base model by one NNCF session."""
    say = _say(progress)
    spec = {"criterion": criterion, **_schedule_spec(profile, base.training),
            "prune_first_conv": profile.prune_first_conv, "prune_downsample_convs": profile.prune_downsample_convs,
            "channel_multiple": 1,
            "schedule": "stepwise: one NNCF session sets each ratio in turn and fine-tunes after each step"}
    if not spec["ratios"]:
        raise UsageError("the profile has no nonzero pruning ratio: add one, e.g. ratios = [0, 0.5]")

    def build(tmp: Path) -> dict[str, Any]:
        import torch

        from robustness import pruning, training

        x_te, y_te = load_arrays(ds, "test")
        steps = pruning.prune_stepwise(base.load(), criterion, spec["ratios"],
                                       _finetune_fn(profile, ds, say, f"{base.name} {criterion}", base.training),
                                       prune_first_conv=profile.prune_first_conv,
                                       prune_downsample_convs=profile.prune_downsample_convs, progress=say,
                                       device=profile.device)
        info: dict[str, Any] = {"ratios": {}}
        for step in steps:
            folder = tmp / _ratio_dir(step.ratio)
            folder.mkdir()
            torch.save(step.state_dict, folder / "model.pt")
            write_json(folder / "stats.json", step.stats)
            model = build_module(base.meta, step.state_dict, str(folder))
            acc = float((training.predict(model, x_te, device=profile.device, layout=profile.memory_format)
                         == y_te).mean())
            info["ratios"][f"{step.ratio:g}"] = {
                "clean_accuracy": acc, "filters_pruned_ratio": step.stats["filters_pruned_ratio"],
                "params": step.stats["params_current"], "params_full": step.stats["params_full"],
                "zero_filter_fraction": pruning.zero_filter_fraction(model)}
            say(f"{base.meta['arch']} {criterion} {step.ratio:g}: clean accuracy {acc:.4f}, "
                f"{step.stats['filters_pruned_ratio']:.3f} of filters pruned")
        return info

    return _get_torch_built(store, "pruned_models", spec, [ds, base.artifact], build,
                            f"pruned {base.name} ({criterion}, ratios {spec['ratios']})", profile.threads)


def control_schedule(store: Store, profile: Profile, ds: Artifact, base: ModelRef,
                     progress: Progress | None = None) -> Artifact:
    """The control arm: the pruning schedule's fine-tuning steps without pruning."""
    say = _say(progress)
    spec = {**_schedule_spec(profile, base.training), "control": True}

    def build(tmp: Path) -> dict[str, Any]:
        import torch

        from robustness import pruning, training

        x_te, y_te = load_arrays(ds, "test")
        states = pruning.control_stepwise(base.load(), len(spec["ratios"]),
                                          _finetune_fn(profile, ds, say, f"{base.name} control", base.training),
                                          device=profile.device)
        info: dict[str, Any] = {"steps": {}}
        for k, state in enumerate(states, 1):
            (tmp / f"step-{k}").mkdir()
            torch.save(state, tmp / f"step-{k}" / "model.pt")
            acc = float((training.predict(build_module(base.meta, state, "control"), x_te, device=profile.device,
                                          layout=profile.memory_format) == y_te).mean())
            info["steps"][str(k)] = {"clean_accuracy": acc}
        return info

    return _get_torch_built(store, "control_models", spec, [ds, base.artifact], build,
                            f"control {base.name} ({len(spec['ratios'])} fine-tuning steps)", profile.threads)


def control_model(store: Store, profile: Profile, ds: Artifact, base: ModelRef, ratio: float,
                  progress: Progress | None = None) -> ModelRef:
    """The control with as many fine-tuning steps as the pruned model at `ratio` had (all of them for 0)."""
    nonzero = [r for r in profile.ratios if r > 0]
    step = len(nonzero) if ratio == 0 else nonzero.index(ratio) + 1
    art = control_schedule(store, profile, ds, base, progress)
    return ModelRef(art, f"step-{step}", {**base.meta, "role": "control", "criterion": "control",
                                          "ratio": 0.0, "steps": step})


def pruned_model(store: Store, profile: Profile, ds: Artifact, base: ModelRef, criterion: str, ratio: float,
                 progress: Progress | None = None) -> ModelRef:
    """The base model pruned to `ratio` by `criterion`; ratio 0 is the control arm."""
    if not 0 <= ratio < 1:
        raise UsageError(f"pruning ratio {ratio} is outside [0, 1): 0 is the control arm, 0.5 removes half the "
                         "filters")
    if ratio == 0:
        return control_model(store, profile, ds, base, 0.0, progress)
    if ratio not in profile.ratios:
        raise UsageError(f"ratio {ratio} is not in the profile's ratios {list(profile.ratios)}: add it there "
                         "(pruning is stepwise, so the schedule depends on every ratio)")
    art = prune_schedule(store, profile, ds, base, criterion, progress)
    return ModelRef(art, _ratio_dir(ratio), {**base.meta, "role": "pruned", "criterion": criterion,
                                             "ratio": ratio})


# deployment ---------------------------------------------------------------------------------------------------
def ir_model(store: Store, model: ModelRef, progress: Progress | None = None) -> Artifact:
    """FP32 OpenVINO IR of a model, zeroed filters removed by OpenVINO's pruning transformation; a team's variant
    is exported as it is (its layers are already the size it ships)."""
    shipped = model.meta.get("role") == "variant"
    spec = {"format": "openvino-ir", "precision": "FP32", "pruning_transformation": not shipped,
            "model": model.subdir}

    def build(tmp: Path) -> dict[str, Any]:
        from robustness import deploy

        info = deploy.export_ir(model.load(), tmp / "model.xml", remove_zeroed=not shipped)
        _say(progress)(f"IR {model.name}: {info['bin_bytes']} bytes, {info['ir_parameters']} parameters")
        return {**info, "model": model.meta}

    return _get(store, "ir", spec, [model.artifact], build, f"IR {model.name}")


# predictions --------------------------------------------------------------------------------------------------
PARITY_SAMPLE = 64  # images of every prediction set also predicted in torch
PARITY_MARGIN = 0.05  # and every image whose top-two logit margin in the IR is below this (where a flip could be)
PARITY_MIN = 0.995  # agreement below this makes every cell scored on the set an error


@dataclass(frozen=True)
class IRRef:
    """A deployed model known only by its OpenVINO IR (a team's INT8 IR or ONNX file): it is predicted and attacked
    through its outputs alone. `reference`: an IR whose labels the parity check compares with, if there is one."""

    artifact: Artifact
    meta: dict[str, Any]
    reference: Artifact | None = None

    subdir = ""
    training = "standard"

    @property
    def name(self) -> str:
        return str(self.meta.get("variant") or self.meta.get("name") or self.artifact.key[:12])


def deployed_ir(store: Store, model: ModelRef | IRRef) -> Artifact:
    """The IR a model is deployed as: its own artifact, or the export of a torch model (by its compression
    method's export where it has one)."""
    if isinstance(model, IRRef):
        return model.artifact
    if model.meta.get("method"):
        from robustness import compression

        return compression.fp32_ir(store, model)
    return ir_model(store, model)


def predictions(store: Store, model: ModelRef | IRRef, target: Artifact, part: str
                ) -> tuple[np.ndarray, np.ndarray]:
    """A model's predicted labels on the clean test split (part 'test') or an adversarial set (part 'adv'),
    cached so that every claim cell and xdist worker scores a model on a set once."""
    arrays = load_npz(prediction_set(store, model, target, part).file("predictions.npz"))
    return arrays["pred"], arrays["y"]


def prediction_set(store: Store, model: ModelRef | IRRef, target: Artifact, part: str) -> Artifact:
    """Predictions by the deployed model, the OpenVINO IR (batched, static shape, one thread), with a parity
    check against torch: on a fixed sample of the set and on every image the IR puts near a decision boundary.
    The artifact's info.parity says how many images were checked and how many agreed. An IR-only model is checked
    against its reference IR where it has one, else not at all (and its parity says so)."""
    if part not in ("adv", "test"):
        raise UsageError(f"unknown prediction target {part!r}: choose from adv, test")
    ir = deployed_ir(store, model)
    spec = {"model": model.subdir, "part": part, "engine": "openvino-ir", "batch": 256, "threads": 1,
            "parity": {"sample": PARITY_SAMPLE, "margin": PARITY_MARGIN, "reference": "torch, contiguous"}}
    parents = [model.artifact, ir, target]
    if isinstance(model, IRRef):
        spec["parity"]["reference"] = "reference IR" if model.reference is not None else "none"
        parents = [ir, target, *([model.reference] if model.reference is not None else [])]

    def build(tmp: Path) -> dict[str, Any]:
        if part == "adv":
            arrays = load_adversarial(target)
            x, y = arrays["x_adv"], arrays["y"]
        else:
            x, y = load_arrays(target, "test")
        logits = _prediction_runner(str(ir.file("model.xml")), min(len(x), 256) or 1).logits(x)
        pred = logits.argmax(1).astype(np.int64) if len(x) else np.zeros(0, np.int64)
        save_npz(tmp / "predictions.npz", pred=pred, y=y)
        if isinstance(model, IRRef):
            return {"parity": ir_parity(model.reference, x, logits)}
        return {"parity": parity(model, x, logits)}

    return _get(store, "predictions", spec, parents, build, f"predictions of {model.name}")


@functools.lru_cache(maxsize=8)
def _prediction_runner(xml: str, batch: int):
    """An IR compiled once per process and batch size (compiling cost more than predicting a set): a claim cell
    scores the same two models on every attack's set, and an IR never changes under its key."""
    from robustness import deploy

    return deploy.Runner(Path(xml), batch=batch, threads=1)


@functools.lru_cache(maxsize=8)
def _reference_model(weights: str, meta: str) -> nn.Module:
    """The torch model behind the parity check, loaded once per process (its weights never change under a key)."""
    return load_module(json.loads(meta), Path(weights))


def parity(model: ModelRef, x: np.ndarray, ir_logits: np.ndarray) -> dict[str, Any]:
    """Torch's labels against the IR's on a seeded sample plus every low-margin image."""
    if not len(x):
        return {"checked": 0, "agree": 0, "agreement": 1.0, "max_logit_diff": 0.0}
    top2 = np.sort(ir_logits, axis=1)[:, -2:]
    near = np.flatnonzero(top2[:, 1] - top2[:, 0] < PARITY_MARGIN)
    sample = np.random.default_rng(0).choice(len(x), min(len(x), PARITY_SAMPLE), replace=False)
    checked = np.union1d(sample, near)
    from robustness import training

    with training.torch_threads(1):  # the reference is the CPU in fp32 on every profile, GPU or not
        ref = training.logits(_reference_model(str(model.weights), json.dumps(model.meta, sort_keys=True)),
                              x[checked], device="cpu")
    agree = int((ref.argmax(1) == ir_logits[checked].argmax(1)).sum())
    out = {"checked": int(len(checked)), "near_boundary": int(len(near)), "agree": agree,
           "agreement": agree / len(checked), "max_logit_diff": _finite_max(np.abs(ref - ir_logits[checked])),
           "of": int(len(x))}
    broken = int((~np.isfinite(ir_logits)).any(axis=1).sum())
    return {**out, "non_finite_logits": broken} if broken else out


def _finite_max(values: np.ndarray) -> float | None:
    """The largest value, or None where a model gave non-finite outputs (a broken model's record still writes)."""
    return float(values.max()) if np.isfinite(values).all() else None


def ir_parity(reference: Artifact | None, x: np.ndarray, ir_logits: np.ndarray) -> dict[str, Any]:
    """An IR-only model's labels against its reference IR's on every image (both are cheap to run); without a
    reference, nothing is checked and the record says so: a team's IR is measured as shipped."""
    if reference is None or not len(x):
        return {"checked": 0, "agree": 0, "agreement": 1.0, "max_logit_diff": 0.0, "of": int(len(x)),
                "reference": "none" if reference is None else "reference IR"}
    ref = _prediction_runner(str(reference.file("model.xml")), min(len(x), 256) or 1).logits(x)
    agree = int((ref.argmax(1) == ir_logits.argmax(1)).sum())
    return {"checked": int(len(x)), "agree": agree, "agreement": agree / len(x),
            "max_logit_diff": _finite_max(np.abs(ref - ir_logits)), "of": int(len(x)), "reference": "reference IR",
            "informational": True}


def correct(store: Store, model: ModelRef | IRRef, target: Artifact, part: str) -> np.ndarray:
    """Per image, whether `model` classifies it right: what every accuracy and paired difference is made of."""
    preds, y = predictions(store, model, target, part)
    return preds == y
