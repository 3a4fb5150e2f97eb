"""Profiles: the grid and budgets every artifact is built from (first box of the data flow).

A profile is plain data. Presets are named; any field can be overridden from a TOML file or `key=value` options,
and every value is checked here so a bad setting fails before anything is built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from robustness.errors import UsageError
from robustness.validation import BUILTIN_SPLITS, number, plain_name, read_profile_file

DATASETS = ["cifar10", "cifar100", "digits", "npz"]  # npz: your own data.npz in data_path; or package.module:fn
PATH_FIELDS = ("checkpoint", "data_path")  # relative paths in a profile file are relative to that file
ATTACKS = ["apgd", "bim", "cw", "deepfool", "fgsm", "pgd", "uap"]
LINF_ATTACKS = ["apgd", "bim", "fgsm", "pgd", "uap"]
CRITERIA = ["geometric_median", "l1", "l2"]
SOURCES = ["base", "pruned", "surrogate"]
DEVICES = ["auto", "cpu", "cuda"]
MEMORY_FORMATS = ["channels_last", "contiguous"]
TRAININGS = ["adversarial", "standard"]
ADV_TRAIN_METHODS = ["fgsm_rs", "pgd"]
QUERY_ATTACKS = ["square"]  # query-based attacks on a deployed model's outputs (ART's SquareAttack)
GATE_POLICIES = ["fail", "warn"]  # what an inconclusive gate threshold does
INT8_PRESETS = ["mixed", "performance"]  # nncf.QuantizationPreset
# fields that change nothing while training is ("standard",): left out of the hash then, so profiles from before
# adversarial training keep their results and expected failures
ADV_TRAIN_FIELDS = ("training", "adv_train_method", "adv_train_eps", "adv_train_step_size", "adv_train_steps")
# the model zoo's names (robustness.models.list_models(), checked by a test): a profile is read without torch
ZOO = ["densenet121", "mobilenet_v1", "resnet50", "vgg19"]
# fields that change nothing while methods is ("nncf_filter",), the paper's method alone: left out of the hash then,
# as ADV_TRAIN_FIELDS are
COMPRESSION_FIELDS = ("methods", "torch_pruning_criteria", "int8_calibration_size", "int8_preset",
                      "int8_fast_bias_correction")
# whole-split sizes of the built-in datasets (n_train/n_test 0 means all of it): digits is split 70/30
SPLIT_SIZES = {name: (train, test) for name, (_, train, test) in BUILTIN_SPLITS.items()}


def is_factory_path(name: str) -> bool:
    """Your own architecture or data is named by its factory, `package.module:function`."""
    return ":" in name


@dataclass(frozen=True)
class Profile:
    name: str
    dataset: str = "digits"
    data_path: str = ""  # dataset npz: the folder holding data.npz
    # a zoo name, or your own architecture as its factory `package.module:function(num_classes)`
    archs: tuple[str, ...] = ("densenet121", "mobilenet_v1", "resnet50", "vgg19")
    checkpoint: str = ""  # your trained weights (a state dict) for the one arch: the victim's base model
    width: float = 0.25
    n_train: int = 0  # 0: the whole training split
    n_test: int = 0  # 0: the whole test split
    seed: int = 0
    surrogate_seed: int = 1  # the attacker's own model: same architecture, another seed
    device: str = "cpu"
    # torch threads while building: CPU kernels sum in a thread-dependent order, so the same seed gives other
    # weights with another thread count. Fixed here and part of every key, so a result is reproducible anywhere.
    threads: int = 1
    # layout of activations and weights in training, fine-tuning, attacks and torch predictions: channels_last
    # ran forward and backward 1.3 to 1.5x faster on a CPU; it changes float sums, so it is part of every key
    memory_format: str = "channels_last"
    # training
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    weight_decay: float = 5e-4
    # attacks (Linf eps in [0,1] pixel space)
    attacks: tuple[str, ...] = tuple(ATTACKS)
    # pruned: white-box on the pruned model itself (largest ratio per criterion), with `pruned_source_attacks` only
    sources: tuple[str, ...] = ("base", "pruned", "surrogate")
    pruned_source_attacks: tuple[str, ...] = ("pgd",)
    n_attack: int = 256  # test images attacked (a fixed stratified subset); 0: the whole test split
    eps: float = 8 / 255
    eps_list: tuple[float, ...] = (1 / 255, 2 / 255, 4 / 255, 8 / 255, 16 / 255, 64 / 255)
    curve_attacks: tuple[str, ...] = ("fgsm", "pgd")  # security curves over eps_list (Linf attacks only)
    attack_steps: int = 10
    attack_step_size: float = 2 / 255
    attack_restarts: int = 1
    attack_batch_size: int = 128
    # ART's Carlini-Wagner takes a class gradient per label and iteration: with 3 binary-search steps it crafted 32
    # digits images on DenseNet121 (w0.25, 1 thread) in 168 s. One step from a large constant (10) reaches 0%
    # accuracy in 56 s at a median L2 of 3.0 instead of 2.1: a larger norm, which is stored with every example.
    cw_max_iter: int = 10
    cw_binary_search_steps: int = 1
    cw_initial_const: float = 10.0
    deepfool_max_iter: int = 10
    uap_max_iter: int = 3
    # pruning
    criteria: tuple[str, ...] = tuple(CRITERIA)
    ratios: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)  # 0: the control arm
    finetune_epochs: int = 1
    finetune_lr: float = 0.05
    # adversarial training (the paper's open question 1): "adversarial" adds an arm in which the victim, its
    # surrogate, the control arm and every pruned model are trained and fine-tuned on adversarial batches.
    # fgsm_rs: FGSM from a random start in the eps ball, step 1.25 eps (Wong, Rice and Kolter 2020), about twice
    # the cost of standard training; pgd: Madry et al.'s PGD with adv_train_steps steps, steps + 1 times the cost
    training: tuple[str, ...] = ("standard",)
    adv_train_method: str = "fgsm_rs"
    adv_train_eps: float = 8 / 255
    adv_train_step_size: float = 10 / 255
    adv_train_steps: int = 1
    # NNCF skips every group holding a stride-2 conv unless downsample convs may be pruned: with False, ResNet50
    # and MobileNetV1 lose only about a quarter of the filters asked for at 0.5. The first conv sees raw pixels
    # and is cheap, so it stays whole (NNCF's default).
    prune_first_conv: bool = False
    prune_downsample_convs: bool = True
    # compression methods (robustness.compression; `python -m robustness list`): nncf_filter is the paper's (its
    # `criteria` above); torch_pruning runs the same ratios and schedule for its own criteria; int8 quantizes the
    # base model and every pruned model. Torch-Pruning at one criterion: every ratio, at a fraction of NNCF's cost
    methods: tuple[str, ...] = ("int8", "nncf_filter", "torch_pruning")
    torch_pruning_criteria: tuple[str, ...] = ("l1",)
    # INT8: nncf.quantize of each FP32 IR, calibrated on this many training images (a seeded subset), with NNCF's
    # preset (performance: symmetric activations; mixed: asymmetric) and bias correction. 128, not NNCF's 300: on
    # smoke's ResNet50 and VGG19 IRs both gave the same agreement with FP32 (93.0, 94.0 and 99.0% of 200 clean
    # images at either size, measured 2026-11-29), and calibration is most of a quantization's cost
    int8_calibration_size: int = 128
    int8_preset: str = "performance"
    int8_fast_bias_correction: bool = True
    # the query-based attack on deployed IRs (a team's IR or ONNX variant, INT8 models): ART's SquareAttack with
    # query_max_iter iterations (about three queries per iteration for each image still standing)
    query_attack: str = "square"
    query_max_iter: int = 100
    query_p_init: float = 0.8
    # a gate threshold whose interval straddles its bound: "fail" (the default: a gate must show its margin) or
    # "warn" (the test passes with a warning); a threshold may set its own
    gate_inconclusive: str = "fail"
    # deployment
    latency_iterations: int = 200
    latency_warmup: int = 20
    notes: str = ""

    def __post_init__(self) -> None:
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @property
    def hash(self) -> str:
        """What results and expected failures are keyed by: every setting (not the notes), so `--set eps=4/255`
        never writes into, or inherits the expected failures of, the preset it started from."""
        import hashlib
        import json

        settings = {k: v for k, v in self.to_dict().items() if k != "notes"}
        if self.training == ("standard",):
            settings = {k: v for k, v in settings.items() if k not in ADV_TRAIN_FIELDS}
        if self.methods == ("nncf_filter",):
            settings = {k: v for k, v in settings.items() if k not in COMPRESSION_FIELDS}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def results_name(self) -> str:
        return f"{self.name}-{self.hash[:8]}"

    def source_attacks(self, source: str) -> list[str]:
        """The attacks crafted on a source: white-box on pruned models is the costly one, so it has its own list."""
        if source == "pruned":
            return [a for a in self.attacks if a in self.pruned_source_attacks]
        return list(self.attacks)

    def replace(self, **changes: Any) -> "Profile":
        return dataclasses.replace(self, **changes)


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def validate(p: Profile) -> None:
    """Every field checked (robustness.validation), without importing any factory the profile names."""
    from robustness.validation import check_profile

    check_profile(p)
    _check_compression(p)


def _check_compression(p: Profile) -> None:
    from robustness import compression  # the registry alone: no torch, no NNCF

    compression.check_methods(p)
    if p.int8_preset not in INT8_PRESETS:
        raise UsageError(f"unknown int8_preset {p.int8_preset!r}: choose from {', '.join(INT8_PRESETS)}")
    if p.int8_calibration_size < 1:
        raise UsageError(f"profile field 'int8_calibration_size' must be at least 1, got {p.int8_calibration_size}")
    if p.dataset in SPLIT_SIZES:  # your own data: checked once read (robustness.validation.check_npz)
        check_calibration(p, train_size(p))


def check_calibration(p: Profile, train: int | None) -> None:
    if "int8" in p.methods and train is not None and p.int8_calibration_size > train:
        raise UsageError(f"int8_calibration_size {p.int8_calibration_size} is larger than the training split "
                         f"({train} images): set int8_calibration_size to at most {train}")


def train_size(p: Profile) -> int | None:
    """Training images of the profile's split where known before it is built: a built-in dataset's, or n_train
    (an upper bound for your own data, whose size is checked again when the split is read)."""
    whole = SPLIT_SIZES.get(p.dataset, (0, 0))[0]
    if p.n_train and whole:
        return min(p.n_train, whole)
    return p.n_train or whole or None


SMOKE = dict(
    # lr 0.05: at 0.1 the 0.125-width VGG19 on 600 images trained to 63 to 95% by seed and memory layout alone;
    # at 0.05, 96 to 98% in both layouts for seeds 0 to 2 (measured 2026-11-25)
    name="smoke", archs=("resnet50", "vgg19"), width=0.125, n_train=600, n_test=200, epochs=8, lr=0.05,
    batch_size=32, n_attack=64, curve_attacks=("pgd",), attack_steps=5, attack_step_size=3 / 255, cw_max_iter=5,
    cw_binary_search_steps=1, deepfool_max_iter=5, uap_max_iter=1, criteria=("geometric_median", "l1"),
    ratios=(0.0, 0.25, 0.5),
    # 4 fine-tuning epochs per step: with 1, pruned clean accuracy fell to 10-50% against 79-90% for the base (a
    # gate on near-chance models); with 4 it is 85-96%, within 6 points of the control arm (measured 2026-11-25)
    finetune_epochs=4, finetune_lr=0.05, latency_iterations=30, latency_warmup=5, query_max_iter=50,
    int8_calibration_size=64,
    notes="every code path in minutes (a residual and a plain network); not a measurement",
)
DEFAULT = dict(
    name="default", notes="offline default: scikit-learn digits at 32x32x3, width-reduced models (0.25)",
)
CIFAR10_CPU = dict(
    name="cifar10-cpu", dataset="cifar10", width=0.25, n_train=10000, n_test=1000, epochs=20, n_attack=500,
    notes="CIFAR-10 on a CPU: width 0.25, 10k training images; needs the CIFAR archive (online or --data-dir)",
)
PAPER = dict(
    name="paper", dataset="cifar10", width=1.0, epochs=200, lr=0.1, batch_size=128, finetune_epochs=10, n_attack=0,
    curve_attacks=("apgd", "bim", "fgsm", "pgd"),
    attack_steps=40, attack_step_size=1 / 255, cw_max_iter=100, cw_binary_search_steps=5,
    cw_initial_const=1.0, pruned_source_attacks=("apgd", "cw", "deepfool", "pgd"),
    deepfool_max_iter=50, uap_max_iter=10, device="auto",
    notes="the paper's scale: CIFAR-10 (set dataset=cifar100 for the other half), full width; needs a GPU",
)
OPEN_QUESTIONS = dict(
    # default's size and every standard-arm artifact shared with it (same keys); FGSM and PGD only, since the
    # adversarial arm crafts every attack on twice as many models
    name="open-questions", training=("standard", "adversarial"), attacks=("fgsm", "pgd"), methods=("nncf_filter",),
    notes="the paper's open questions 1 and 3 at default's size: an adversarially trained arm (FGSM-RS), pruned and "
          "fine-tuned adversarially, beside the standard one",
)
PRESETS: dict[str, dict[str, Any]] = {p["name"]: p for p in (SMOKE, DEFAULT, CIFAR10_CPU, PAPER, OPEN_QUESTIONS)}


def list_profiles() -> list[str]:
    return sorted(PRESETS)


def _coerce(name: str, raw: Any) -> Any:
    """Turn TOML or `key=value` text into the field's type, refusing what does not fit."""
    ftype = {f.name: f.type for f in fields(Profile)}[name]
    try:
        if ftype.startswith("tuple[str"):
            return tuple(str(s).strip() for s in _items(raw))
        if ftype.startswith("tuple[float"):
            return tuple(_number(s) for s in _items(raw))
        if ftype == "bool":
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "1", "yes"):
                return True
            if str(raw).lower() in ("false", "0", "no"):
                return False
            raise ValueError(raw)
        if ftype == "int":
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if ftype == "float":
            return _number(raw)
        return str(raw)
    except (TypeError, ValueError, OverflowError):
        example = {"int": " (a whole number)", "float": " (a number such as 0.1 or 8/255)"}.get(ftype, "")
        raise UsageError(f"profile field {name!r} expects {ftype}{example}, got {str(raw)[:80]!r}") from None


def _items(raw: Any) -> list[Any]:
    if isinstance(raw, (list, tuple)):
        return list(raw)
    return [s for s in str(raw).split(",") if s.strip()]


def _number(raw: Any) -> float:
    """Numbers may be written as fractions, as eps usually is: `8/255` (`8/0` is a ValueError)."""
    return number(raw)


def _apply(base: dict[str, Any], changes: dict[str, Any], origin: str) -> dict[str, Any]:
    valid = sorted(f.name for f in fields(Profile))
    out = dict(base)
    for key, raw in changes.items():
        if key not in valid:
            raise UsageError(f"unknown profile field {key!r} in {origin}: valid fields are {', '.join(valid)}")
        out[key] = _coerce(key, raw)
    return out


def load_profile(name: str = "default", profile_file: str | Path | None = None,
                 overrides: dict[str, Any] | None = None) -> Profile:
    """Preset, then the TOML file (which may name its own preset with `profile = ...`), then overrides."""
    settings: dict[str, Any] = {}
    file_changes: dict[str, Any] = {}
    if profile_file is not None:
        path = Path(profile_file)
        data = read_profile_file(path)
        name = str(data.pop("profile", name))
        data.pop("threshold", None)  # a team's gate thresholds: robustness.thresholds reads them
        data.pop("variant", None)  # the compressed artifacts a team ships: robustness.variants reads them
        for key in PATH_FIELDS:
            if isinstance(data.get(key), str) and data[key] and not Path(data[key]).is_absolute():
                data[key] = str((path.parent / data[key]).resolve())
        file_changes = data
    if name not in PRESETS:
        raise UsageError(f"unknown profile {name!r}: choose from {', '.join(list_profiles())} "
                         "or give --profile-file")
    settings = _apply({}, {k: v for k, v in PRESETS[name].items() if k != "name"}, f"preset {name}")
    settings["name"] = name
    if file_changes:
        settings = _apply(settings, file_changes, f"profile file {profile_file}")
        settings["name"] = str(file_changes.get("name", f"{name}+{plain_name(Path(profile_file).stem)}"))
    if overrides:
        settings = _apply(settings, overrides, "the overrides")
    return Profile(**settings)


def parse_overrides(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise UsageError(f"override {item!r} is not key=value, e.g. --set epochs=3")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


__all__ = ["Profile", "load_profile", "list_profiles", "parse_overrides", "PRESETS"]
