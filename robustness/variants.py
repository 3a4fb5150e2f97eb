"""Variants: the compressed models a team ships (an OpenVINO IR, FP32 or INT8; an ONNX file; a structurally
pruned torch checkpoint), measured as shipped beside the base checkpoint they were made from. The suite compresses
nothing for them. They are `[[variant]]` tables of the profile file; relative paths are relative to that file.

A variant enters the store keyed by its content (sha256), as the base checkpoint does. An IR or ONNX variant is
known only by its outputs (predictions and a query-based attack); a checkpoint variant is a torch model too (white-box
attacks and the torch parity check).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from robustness import pipeline
from robustness.errors import UsageError
from robustness.profiles import Profile, is_factory_path
from robustness.store import Artifact, Store, load_state_dict, save_npz, sha256_file

KINDS = ("ir", "onnx", "checkpoint")  # the one file a variant is given by
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Variant:
    name: str
    ir: str = ""  # model.xml of an OpenVINO IR, its .bin beside it
    onnx: str = ""
    checkpoint: str = ""  # a state dict (torch.save(model.state_dict(), path)) of the smaller model
    factory: str = ""  # package.module:function building that model; default: the base architecture's factory
    factory_kwargs: dict[str, Any] = field(default_factory=dict, hash=False)  # e.g. the pruned layer widths

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k))

    @property
    def path(self) -> Path:
        return Path(getattr(self, self.kind))

    @property
    def torch(self) -> bool:
        """A torch module: white-box attacks and the torch parity check apply to it."""
        return self.kind == "checkpoint"

    @property
    def described(self) -> str:
        return {"ir": "OpenVINO IR", "onnx": "ONNX file", "checkpoint": "torch checkpoint"}[self.kind]


def load_variants(profile_file: str | Path | None, profile: Profile | None = None) -> list[Variant]:
    """The `[[variant]]` tables of a profile file (none without a file), each checked before anything is built:
    its one file exists, names are plain and unique, and no variant is the base checkpoint itself."""
    if profile_file is None:
        return []
    from robustness.validation import read_profile_file

    path = Path(profile_file)
    tables = read_profile_file(path).get("variant", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{path}: write variants as [[variant]] tables")
    valid = [f.name for f in fields(Variant)]
    out: list[Variant] = []
    for i, table in enumerate(tables, 1):
        where = f"{path}: variant {i}" + (f" ({table['name']})" if isinstance(table.get("name"), str) else "")
        unknown = sorted(set(table) - set(valid))
        if unknown:
            raise UsageError(f"{where} has unknown fields {unknown}: valid fields are {', '.join(valid)}")
        name = table.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise UsageError(f"{where}: give it a name of letters, digits, '-', '_' or '.', e.g. name = \"int8\"")
        given = [k for k in KINDS if table.get(k)]
        if len(given) != 1:
            raise UsageError(f"{where}: give exactly one of {', '.join(KINDS)} (the file the team ships), got "
                             f"{given or 'none'}")
        kind = given[0]
        if not isinstance(table[kind], str):
            raise UsageError(f"{where}: {kind} is a path, e.g. {kind} = \"variants/model.xml\"")
        kwargs = table.get("factory_kwargs", {})
        if not isinstance(kwargs, dict) or (kwargs and kind != "checkpoint"):
            raise UsageError(f"{where}: factory_kwargs is a table of the factory's arguments, for a checkpoint")
        if table.get("factory") and (kind != "checkpoint" or not is_factory_path(str(table["factory"]))):
            raise UsageError(f"{where}: factory is package.module:function building the checkpoint's model")
        file = Path(table[kind])
        file = file if file.is_absolute() else (path.parent / file).resolve()
        _check_file(file, kind, where)
        out.append(Variant(name=name, **{kind: str(file)}, factory=str(table.get("factory", "")),
                           factory_kwargs=dict(kwargs)))
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        twice = sorted(n for n in set(names) if names.count(n) > 1)
        raise UsageError(f"{path}: variant names repeat ({', '.join(twice)}): give each its own name")
    if profile is not None and profile.checkpoint:
        base = Path(profile.checkpoint).resolve()
        for v in out:
            if v.path.resolve() == base or sha256_file(v.path) == pipeline.content_sha256(base):
                raise UsageError(f"{path}: variant {v.name} is the base checkpoint {base} itself: give the compressed "
                                 "model the team ships")
    return out


def _check_file(file: Path, kind: str, where: str) -> None:
    if not file.is_file():
        raise UsageError(f"{where}: {kind} file {file} does not exist: give the path of the file the team ships "
                         "(relative paths are relative to the profile file)")
    if kind == "ir" and not file.with_suffix(".bin").is_file():
        raise UsageError(f"{where}: the IR {file} has no weights file {file.with_suffix('.bin').name} beside it: "
                         "copy model.xml and model.bin together")
    if file.stat().st_size == 0:
        raise UsageError(f"{where}: {kind} file {file} is empty: give the file the team ships")


def gated(store: Store, profile: Profile, ds: Artifact, base: pipeline.ModelRef,
          variant: Variant) -> pipeline.ModelRef | pipeline.IRRef:
    """The variant as the store holds it: a torch model (checkpoint) or an IR-only model (IR, ONNX)."""
    if variant.torch:
        return _variant_model(store, profile, ds, base, variant)
    art = _variant_ir(store, ds, variant)
    return pipeline.IRRef(art, {"variant": variant.name, "kind": variant.kind, "arch": base.meta["arch"],
                                "num_classes": ds.info["num_classes"], "role": "variant",
                                "precision": art.info.get("precision")})


def _variant_ir(store: Store, ds: Artifact, variant: Variant) -> Artifact:
    """An IR variant copied byte for byte into the store (or an ONNX variant converted by OpenVINO), keyed by its
    content; checked to take the base's images and give its classes."""
    num_classes = int(ds.info["num_classes"])
    files = [variant.path, variant.path.with_suffix(".bin")] if variant.kind == "ir" else [variant.path]
    spec = {"variant_kind": variant.kind, "sha256": {f.suffix.lstrip("."): pipeline.content_sha256(f) for f in files},
            "num_classes": num_classes}
    origin = f"variant {variant.name} ({variant.path})"
    from robustness import deploy

    def build(tmp: Path) -> dict[str, Any]:
        import openvino as ov

        model = deploy.read_checked(variant.path, num_classes, origin)
        if variant.kind == "ir":  # measured as shipped: the very bytes
            shutil.copyfile(files[0], tmp / "model.xml")
            shutil.copyfile(files[1], tmp / "model.bin")
        else:
            ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
        return {**deploy.precision(model), "bin_bytes": (tmp / "model.bin").stat().st_size,
                "xml_bytes": (tmp / "model.xml").stat().st_size, "ir_parameters": deploy.ir_parameters(model),
                "shipped_as": variant.kind}

    return pipeline._get(store, "variant_ir", spec, [ds], build, f"variant {variant.name} ({variant.described})")


def _variant_model(store: Store, profile: Profile, ds: Artifact, base: pipeline.ModelRef,
                   variant: Variant) -> pipeline.ModelRef:
    """A checkpoint variant: the team's smaller model rebuilt by its factory and loaded strictly, keyed by the
    checkpoint's content and the factory's source."""
    from robustness.models import factory_fingerprint

    factory = variant.factory or base.meta["arch"]
    meta = {**pipeline.model_meta(profile, ds, factory), "role": "variant", "variant": variant.name,
            **({"factory_kwargs": variant.factory_kwargs} if variant.factory_kwargs else {})}
    spec = {"checkpoint_sha256": pipeline.content_sha256(variant.path), "factory": factory,
            "factory_kwargs": variant.factory_kwargs, "num_classes": meta["num_classes"], "width": profile.width}
    if is_factory_path(factory):
        spec["factory_sha256"] = factory_fingerprint(factory)
    origin = f"variant {variant.name} ({variant.path})"

    def build(tmp: Path) -> dict[str, Any]:
        import torch

        from robustness import training

        model = pipeline.build_module(meta, _load_checked(variant.path, meta, origin), origin)
        torch.save(model.state_dict(), tmp / "model.pt")
        x_te, y_te = pipeline.load_arrays(ds, "test")
        acc = float((training.predict(model, x_te, device=profile.device) == y_te).mean())
        return {**meta, "clean_accuracy": acc, "n_test": int(len(y_te)),
                "parameters": training.count_parameters(model), "base_parameters": base.artifact.info.get(
                    "parameters")}

    art = pipeline._get_torch_built(store, "variant_model", spec, [ds], build,
                                    f"variant {variant.name} ({variant.described})", profile.threads)
    return pipeline.ModelRef(art, "", meta)


def check(variant: Variant, arch: str, num_classes: int | None, width: float = 1.0) -> None:
    """Read a variant as its gate will, before anything is built: OpenVINO reads the IR or ONNX file and it takes
    the base's images and gives its classes; a checkpoint loads without running code into its factory's model.
    Each failure is one line naming the file and the fix. `num_classes` None (a dataset factory, whose classes are
    known once its data is read): the class count is checked when the variant is built."""
    origin = f"variant {variant.name} ({variant.path})"
    if not variant.torch:
        from robustness import deploy

        deploy.read_checked(variant.path, num_classes, origin)
    elif num_classes is not None:  # the factory builds the model for a class count
        _load_checked(variant.path, {"arch": variant.factory or arch, "width": width, "num_classes": num_classes,
                                     "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25),
                                     **({"factory_kwargs": variant.factory_kwargs} if variant.factory_kwargs
                                        else {})}, origin)


def _load_checked(path: Path, meta: dict[str, Any], origin: str) -> dict[str, Any]:
    """The checkpoint's state dict, loaded without running code, fitting its factory's model and giving the base's
    class count; each failure is one line naming the file."""
    import torch

    from robustness.errors import CorruptArtifactError

    try:
        state = load_state_dict(path)
    except CorruptArtifactError as exc:
        raise UsageError(f"{origin}: {exc}: save it with torch.save(model.state_dict(), path)") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"{origin} is not a state dict of tensors: save it with torch.save(model.state_dict(), "
                         "path)")
    try:
        model = pipeline.build_module(meta, state, origin)
        with torch.no_grad():
            out = model(torch.zeros(2, 3, 32, 32))
    except UsageError:
        raise
    except Exception as exc:  # your factory's or forward's own error: one line, not a traceback
        kwargs = meta.get("factory_kwargs") or "no keyword arguments"
        raise UsageError(f"{origin}: building {meta['arch']} with {kwargs} and running it on two 3 x 32 x 32 images "
                         f"raised {type(exc).__name__}: {str(exc)[:200]}: give the factory_kwargs the variant was "
                         "made with") from None
    if out.ndim != 2 or out.shape[1] != meta["num_classes"]:
        raise UsageError(f"{origin}: the model gives {tuple(out.shape)} for two images, the base's 2 x "
                         f"{meta['num_classes']} class scores: give a variant of the same classifier")
    return state


def query_set(store: Store, profile: Profile, ds: Artifact, model: pipeline.ModelRef | pipeline.IRRef,
              eps: float | None = None) -> Artifact:
    """The profile's attacked test images, crafted by the query-based attack on the deployed IR of `model` alone:
    the attacker sees its outputs, never its weights or gradients. Stored like any adversarial set."""
    from robustness import attacks

    spec_obj = attacks.query_spec(profile, eps)
    ir = pipeline.deployed_ir(store, model)
    spec = {**spec_obj.to_dict(), "source": "query", "n_attack": profile.n_attack, "engine": "openvino-ir",
            "threads": 1}

    def build(tmp: Path) -> dict[str, Any]:
        import time

        from robustness import deploy

        x_te, y_te = pipeline.load_arrays(ds, "test")
        index = pipeline.attack_indices(y_te, profile.n_attack, profile.seed)
        x, y = x_te[index], y_te[index]
        runner = deploy.Runner(ir.file("model.xml"), batch=min(len(x), profile.attack_batch_size) or 1, threads=1)
        start = time.perf_counter()
        x_adv, spent = attacks.craft_query(spec_obj, runner.logits, x, y, int(ds.info["num_classes"]),
                                           pipeline._say(None))
        seconds = time.perf_counter() - start
        n = attacks.norms(x, x_adv)
        save_npz(tmp / "adv.npz", x_adv=x_adv, y=y, index=index.astype(np.int64), linf=n["linf"], l2=n["l2"])
        adv_acc = float((runner.predict(x_adv) == y).mean()) if len(y) else 0.0
        return {"source": "query", "source_model": model.meta, "n": int(len(y)), **spent,
                "source_clean_accuracy": float((runner.predict(x) == y).mean()) if len(y) else 0.0,
                "source_adv_accuracy": adv_acc, "craft_seconds": round(seconds, 3),
                "linf_max": float(n["linf"].max(initial=0)), "l2_mean": float(n["l2"].mean()) if len(y) else 0.0}

    return pipeline._get(store, "query_set", spec, [ds, ir], build,
                         f"{spec_obj.name} query attack on {model.name}")


LATENCY_THREADS = 1  # as the claims time IRs: one inference thread (robustness.claims)


def latency(store: Store, profile: Profile, irs: dict[str, Artifact]) -> dict[str, Any]:
    """The `variant` IR's latency gain over the `base` IR, both timed alternately in one process under the store's
    exclusive hold (batch 1, one thread, OpenVINO's own per-inference time), with what the CPU offers for int8 and
    the precision OpenVINO actually ran each IR at: INT8 latency depends on both."""
    from robustness import deploy, metrics

    with store.computing():  # compiling is computing: no timing of another process runs beside it
        runners = {k: deploy.Runner(ir.file("model.xml"), latency=True, threads=LATENCY_THREADS)
                   for k, ir in irs.items()}
    x1 = np.zeros((1, 3, 32, 32), np.float32)
    with store.timing():
        times = deploy.alternating_latency(runners, x1, profile.latency_iterations, profile.latency_warmup,
                                           precise=tuple(runners), precision=0.01)
    gain = metrics.latency_gain(np.array(times["base"]), np.array(times["variant"]))
    return {"metric": "latency", "n": gain.n, "value": gain.value, "interval": [gain.lo, gain.hi],
            "method": "95% paired bootstrap over alternating rounds",
            "median_ms": {k: 1000 * float(np.median(v)) for k, v in times.items()},
            "cpu": deploy.cpu_name(), "threads": LATENCY_THREADS, **deploy.cpu_int8_features(),
            "runtime_precision": {k: deploy.runtime_precisions(r.compiled) for k, r in runners.items()},
            "execution_devices": {k: list(r.compiled.get_property("EXECUTION_DEVICES")) for k, r in runners.items()},
            "compared": f"batch 1, {LATENCY_THREADS} inference thread, {profile.latency_warmup} warm-up rounds "
                        f"excluded, {gain.n} alternating rounds timed under the store's exclusive hold"}


def class_count(profile: Profile) -> int | None:
    """The base's class count before anything is built (to check variants against it), where it is cheap to know:
    a named dataset's, or the labels of your data.npz; None for a dataset factory."""
    fixed = {"digits": 10, "cifar10": 10, "cifar100": 100}
    if profile.dataset in fixed:
        return fixed[profile.dataset]
    if profile.dataset == "npz":
        try:
            with np.load(Path(profile.data_path) / "data.npz", allow_pickle=False) as f:
                return int(max(f["y_train"].max(), f["y_test"].max())) + 1
        except Exception:  # noqa: BLE001  a broken data.npz is reported by the dataset stage, with its fix
            return None
    return None
