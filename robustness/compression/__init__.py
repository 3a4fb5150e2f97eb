"""Compression methods: a registry, like attacks and claims, whose names are the profile's `methods` axis.

A pruning method makes a smaller torch model of a base model at a criterion and a ratio, stepwise with fine-tuning,
judged against the control arm (the same fine-tuning without pruning). A quantization method makes an IR at another
precision of any model, judged against the FP32 IR of the same model. A quantization applies to the base model and
to every pruned model: `torch_pruning+int8` is INT8 of the Torch-Pruning model, judged against both references.

Where things are: `depgraph` (Torch-Pruning), `quantize` (nncf.quantize of an IR), `artifacts` (how their boxes
are asked of the store). This module imports none of them, nor torch: a profile is checked against the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from robustness.errors import UsageError

if TYPE_CHECKING:
    from robustness.pipeline import IRRef, ModelRef
    from robustness.profiles import Profile
    from robustness.store import Artifact, Store

PRUNING, QUANTIZATION = "pruning", "quantization"


@dataclass(frozen=True)
class Method:
    name: str
    kind: str  # pruning or quantization
    library: str
    reference: str  # what the method's models are judged against
    criteria: tuple[str, ...] = ()  # pruning: the importance criteria the library offers, by the profile's names
    criteria_field: str = ""  # pruning: the profile field that lists the criteria to run
    build: Callable[..., Any] | None = field(default=None, compare=False, repr=False)


_METHODS: dict[str, Method] = {}


def register_method(**meta: Any) -> Callable:
    """Register a method: the function's name is the method's name, as a claim's is."""
    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        _METHODS[fn.__name__] = Method(name=fn.__name__, build=fn, **meta)
        return fn
    return add


def list_methods() -> list[str]:
    return sorted(_METHODS)


def get_method(name: str) -> Method:
    try:
        return _METHODS[name]
    except KeyError:
        raise UsageError(f"unknown method {name!r}: choose from {', '.join(list_methods())}") from None


# the registry -------------------------------------------------------------------------------------------------
@register_method(kind=PRUNING, library="NNCF 2.19 filter pruning (zeroed filters, removed by OpenVINO at export)",
                 reference="the control arm", criteria=("geometric_median", "l1", "l2"), criteria_field="criteria")
def nncf_filter(store: Store, profile: Profile, ds: Artifact, base: ModelRef, criterion: str, ratio: float,
                progress: Callable[[str], None] | None = None) -> ModelRef:
    from robustness import pipeline

    return pipeline.pruned_model(store, profile, ds, base, criterion, ratio, progress)


@register_method(kind=PRUNING, library="Torch-Pruning 1.6.1 DepGraph (physically smaller layers)",
                 reference="the control arm", criteria=("geometric_median", "l1", "l2"),
                 criteria_field="torch_pruning_criteria")
def torch_pruning(store: Store, profile: Profile, ds: Artifact, base: ModelRef, criterion: str, ratio: float,
                  progress: Callable[[str], None] | None = None) -> ModelRef:
    from robustness.compression import artifacts

    return artifacts.tp_model(store, profile, ds, base, criterion, ratio, progress)


@register_method(kind=QUANTIZATION, library="NNCF 2.19 post-training quantization (nncf.quantize) of the OpenVINO IR",
                 reference="the FP32 IR of the same model")
def int8(store: Store, profile: Profile, ds: Artifact, model: ModelRef,
         progress: Callable[[str], None] | None = None) -> IRRef:
    from robustness.compression import artifacts

    return artifacts.int8_model(store, profile, ds, model, progress)


# a profile's methods ------------------------------------------------------------------------------------------
def criteria_of(profile: Profile, pruning: str) -> list[str]:
    """The criteria a pruning method runs under the profile (its own profile field)."""
    return list(getattr(profile, get_method(pruning).criteria_field))


def prunings(profile: Profile) -> list[str]:
    return [m for m in profile.methods if get_method(m).kind == PRUNING]


def quantizations(profile: Profile) -> list[str]:
    return [m for m in profile.methods if get_method(m).kind == QUANTIZATION]


def model_methods(profile: Profile) -> list[str]:
    """Every kind of compressed model the profile makes: each pruning method, each quantization of the base, and
    each quantization of each pruning method's models (`pruning+quantization`)."""
    out = list(prunings(profile))
    for q in quantizations(profile):
        out += [q, *(f"{p}+{q}" for p in prunings(profile))]
    return out


def split(method: str) -> tuple[str | None, str | None]:
    """(pruning, quantization) of a model method: `int8` is (None, 'int8'), `torch_pruning+int8` both."""
    pruning, quant = None, None
    for part in method.split("+"):
        if get_method(part).kind == PRUNING:
            pruning = part
        else:
            quant = part
    return pruning, quant


def compressed_model(store: Store, profile: Profile, ds: Artifact, base: ModelRef, method: str,
                     criterion: str | None = None, ratio: float | None = None,
                     progress: Callable[[str], None] | None = None) -> ModelRef | IRRef:
    """The base model compressed by `method` (a model method: `int8`, `torch_pruning`, `nncf_filter+int8`, ...);
    pruning at `criterion` and `ratio`."""
    pruning, quant = split(method)
    model: Any = base
    if pruning is not None:
        if criterion is None or ratio is None:
            raise UsageError(f"method {method} prunes: give a criterion and a ratio")
        model = get_method(pruning).build(store, profile, ds, base, criterion, ratio, progress)
    if quant is not None:
        model = get_method(quant).build(store, profile, ds, model, progress)
    return model


def pruned_reference(store: Store, profile: Profile, ds: Artifact, base: ModelRef, method: str, criterion: str,
                     ratio: float) -> ModelRef:
    """The FP32 torch model a `pruning+quantization` model was quantized from."""
    pruning, _ = split(method)
    return get_method(pruning).build(store, profile, ds, base, criterion, ratio)


def fp32_ir(store: Store, model: ModelRef) -> Artifact:
    """The FP32 IR of a torch model made by a method whose IR is not the pipeline's (robustness.pipeline.ir_model
    exports with OpenVINO's pruning transformation for NNCF's zeroed filters)."""
    from robustness.compression import artifacts

    if model.meta.get("method") == "torch_pruning":
        return artifacts.tp_ir(store, model)
    raise UsageError(f"no FP32 IR for a model of method {model.meta.get('method')!r}")


def check_methods(profile: Profile) -> None:
    """Each method of the profile exists and each pruning method's criteria are ones its library offers; the
    paper's method is always there (the paper's claims are measured on it)."""
    valid = list_methods()
    for name in profile.methods:
        if name not in _METHODS:
            raise UsageError(f"unknown method {name!r} in profile field 'methods': choose from {', '.join(valid)}")
    if len(set(profile.methods)) != len(profile.methods):
        raise UsageError(f"profile field 'methods' repeats a value: {list(profile.methods)}")
    if "nncf_filter" not in profile.methods:
        raise UsageError(f"profile field 'methods' is {list(profile.methods)}: it must hold nncf_filter (the paper's "
                         "method, which the paper's claims measure), e.g. methods = ['nncf_filter', 'int8']")
    for method in _METHODS.values():
        if method.kind != PRUNING:
            continue
        chosen = getattr(profile, method.criteria_field)
        if not chosen:
            raise UsageError(f"profile field {method.criteria_field!r} is empty: give at least one of "
                             f"{', '.join(method.criteria)}")
        for criterion in chosen:
            if criterion not in method.criteria:
                raise UsageError(f"criterion {criterion!r} in profile field {method.criteria_field!r} is not offered "
                                 f"by {method.name} ({method.library}): choose from {', '.join(method.criteria)}")
        if len(set(chosen)) != len(chosen):
            raise UsageError(f"profile field {method.criteria_field!r} repeats a value: {list(chosen)}")


def check_device(profile: Profile) -> None:
    """Before anything is built: a profile with INT8 needs a CPU on which OpenVINO runs INT8."""
    if any(get_method(m).kind == QUANTIZATION for m in profile.methods):
        from robustness.compression import quantize

        quantize.check_device()


def pruning_schedule(store: Store, profile: Profile, ds: Artifact, base: ModelRef, pruning: str, criterion: str,
                     progress: Callable[[str], None] | None = None) -> Artifact:
    """The artifact holding every ratio of a pruning method's stepwise schedule for one criterion."""
    from robustness import pipeline

    if pruning == "nncf_filter":
        return pipeline.prune_schedule(store, profile, ds, base, criterion, progress)
    if pruning == "torch_pruning":
        from robustness.compression import artifacts

        return artifacts.tp_schedule(store, profile, ds, base, criterion, progress)
    names = [m for m in list_methods() if get_method(m).kind == PRUNING]
    raise UsageError(f"{pruning} is not a pruning method: choose from {', '.join(names)}")
