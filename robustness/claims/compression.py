"""Beyond the paper: its claims asked of the other compression methods (robustness.compression), each against its
own reference. A pruned model (torch_pruning) is judged against the control arm, as the paper's claims judge NNCF's;
an INT8 model of the base (int8) against the FP32 IR of the same model; a pruned INT8 model (nncf_filter+int8,
torch_pruning+int8) against the control arm, with the FP32 IR of the same pruned model reported beside it.

The `method` axis holds model methods; each pruning method has its own criteria (the profile's per-method field) and
INT8 of the base has no criterion or ratio, so these claims' cells are made here (`method_cells`)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np

from robustness import compression, metrics, pipeline
from robustness.claims.context import Context, _versus_method
from robustness.claims.latency import CONTROL_LATENCY_TOLERANCE, LATENCY_PRECISION, LATENCY_THREADS, NO_CONTROL
from robustness.claims.registry import Claim, get_claim, register
from robustness.claims.verdicts import _informative, verdict
from robustness.profiles import Profile
from robustness.store import Artifact

MODELS = ("int8", "torch_pruning", "nncf_filter+int8", "torch_pruning+int8")
PRUNED_AXES = ("method", "dataset", "arch", "criterion", "ratio")
REFERENCES = {"control": "its control arm (FP32, the same fine-tuning without pruning)",
              "fp32": "the FP32 IR of the same model", "base": "the FP32 base model"}
INT8_SIZE_CUT = 0.6  # an INT8 IR at most 0.4 times the bytes of its FP32 IR


def method_cells(claim: Claim, profile: Profile, values: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """A method claim's cells: each model method of the profile the claim names, with that method's criteria and
    the claim's ratios (none for INT8 of the base). A claim comparing methods (no `method` axis) gets the criteria
    every one of them runs, and no cells unless the profile has them all."""
    if "method" not in claim.axes:
        if not set(claim.methods) <= set(profile.methods):
            return []
        shared = [c for c in values["criterion"]
                  if all(c in compression.criteria_of(profile, m) for m in claim.methods)]
        models: list[dict[str, Any]] = [{}]
        values = {**values, "criterion": shared}
    else:
        models = []
        for method in compression.model_methods(profile):
            if method not in claim.methods:
                continue
            pruning, _ = compression.split(method)
            if pruning is None:
                models.append({"method": method})
                continue
            models += [{"method": method, "criterion": c, "ratio": r}
                       for c in compression.criteria_of(profile, pruning) for r in values["ratio"] if r is not None]
    out: list[dict[str, Any]] = [{}]
    for axis in claim.axes:
        if axis == "method":
            out = [{**c, **m} for c in out for m in models]
        elif "method" not in claim.axes or axis not in ("criterion", "ratio"):
            out = [{**c, axis: v} for c in out for v in values[axis]]
    return out


# the models of a cell -----------------------------------------------------------------------------------------
def _cell_models(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    """The cell's compressed model and its references: `control` for a pruned one, `fp32` (the same model's FP32
    IR) for an INT8 one, and `base`."""
    base = ctx.base(cell["arch"])
    pruning, quant = compression.split(cell["method"])
    models: dict[str, Any] = {"compressed": compression.compressed_model(
        ctx.store, ctx.profile, ctx.ds, base, cell["method"], cell.get("criterion"), cell.get("ratio"))}
    if pruning is not None:
        models["control"] = pipeline.control_model(ctx.store, ctx.profile, ctx.ds, base, cell["ratio"])
        if quant is not None:
            models["fp32"] = compression.pruned_reference(ctx.store, ctx.profile, ctx.ds, base, cell["method"],
                                                          cell["criterion"], cell["ratio"])
    elif quant is not None:
        models["fp32"] = base
    if quant is None or pruning is not None:
        models["base"] = base
    return models


def _decided_on(cell: dict[str, Any]) -> str:
    return "control" if compression.split(cell["method"])[0] is not None else "fp32"


def _named(models: dict[str, Any]) -> str:
    return ", ".join(f"{k} {m.name}" for k, m in models.items() if k != "compressed")


def _compare(claim_id: str, cell: dict[str, Any], ok: dict[str, np.ndarray]) -> dict[str, Any]:
    """The compressed model's accuracy minus each reference's on the same images; the verdict is taken on the
    method's reference (`decided_on`), every other one is reported with its own verdict."""
    claim = get_claim(claim_id)
    decided = _decided_on(cell)
    accs = {k: metrics.accuracy(v) for k, v in ok.items()}
    minus: dict[str, Any] = {}
    for ref in (r for r in ok if r != "compressed"):
        d = metrics.paired_difference(ok[ref], ok["compressed"])
        informative = _informative(accs["compressed"].value, accs[ref].value)
        minus[ref] = {**d.to_dict(), "verdict": verdict(claim, d.value, d.lo, d.hi) if informative
                      else "uninformative"}
    d = minus[decided]
    return {"compression": cell["method"], "n": int(ok["compressed"].size), "value": d["value"],
            "interval": [d["lo"], d["hi"]], "mcnemar_p": d["mcnemar_p"], "method": _versus_method(),
            "p_tables": [[d["b_only"], d["a_only"], d["n"], 1]],  # p_bound and the false-discovery count
            "reference": REFERENCES[decided], "decided_on": decided, "minus": minus,
            "accuracies": {k: a.to_dict() for k, a in accs.items()},
            "informative": _informative(accs["compressed"].value, accs[decided].value)}


def _agreement(rec: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    """An INT8 model's labels against its FP32 IR's on the clean test split (checked when it was built), in the
    record, and in what it compared where fewer than 99% agree: a poor quantization is named, not hidden."""
    agreement = models["compressed"].artifact.info.get("clean_agreement")
    if agreement:
        rec["int8_clean_agreement"] = agreement
        if agreement.get("below_bound"):
            rec["compared"] = _joined(rec.get("compared", ""), agreement["below_bound"])
    return rec


def _others(rec: dict[str, Any]) -> str:
    return "; ".join(f"minus {k}: {100 * m['value']:+.2f} pp [{100 * m['lo']:+.2f}, {100 * m['hi']:+.2f}] "
                     f"{m['verdict']}" for k, m in rec["minus"].items() if k != rec["decided_on"])


def _joined(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _adversarial(ctx: Context, claim_id: str, cell: dict[str, Any]) -> dict[str, Any]:
    models = _cell_models(ctx, cell)
    src = pipeline.attack_source_model(ctx.store, ctx.profile, ctx.ds, cell["arch"], cell["source"])
    adv = pipeline.adversarial_set(ctx.store, ctx.profile, ctx.ds, src, cell["source"], cell["attack"])
    rec = _compare(claim_id, cell, {k: ctx.correct(m, adv) for k, m in models.items()})
    rec.update(eps=adv.spec["eps"], compared=_joined(
        f"{models['compressed'].name} minus {rec['decided_on']} on {rec['n']} {cell['attack']} examples crafted on "
        f"{src.name} ({cell['source']})", _named(models), _others(rec)))
    return _agreement(rec, models)


METHOD_CLAIM = dict(methods=MODELS, question="beyond the paper: do other compression methods keep robustness?",
                    why_bound="the paper's bound, asked of each compression method against its own reference")


@register(metric="adversarial accuracy of the compressed model minus its reference's (control arm for pruned models, "
                 "the FP32 IR of the same model for INT8), on the same surrogate-crafted images",
          comparison="abs_le", bound=0.01, axes=("method", "source", "dataset", "arch", "criterion", "ratio", "attack"),
          scope="every compression method but the paper's (INT8 of the base, Torch-Pruning and INT8 of every pruned "
                "model), architecture, criterion of the method, ratio up to 0.5 and attack",
          threat_model="surrogate: crafted on an independently trained model of the same architecture; compressed "
                       "models and their references face them as transfer (the paper's threat model)",
          sentence="compression keeps adversarial accuracy within +-1 percentage point of the uncompressed model",
          source="surrogate", **METHOD_CLAIM)
def compressed_adv_within_1pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _adversarial(ctx, "compressed_adv_within_1pp", cell)


@register(metric="adversarial accuracy of the compressed model minus its reference's, on examples crafted white-box "
                 "on the FP32 base model",
          comparison="abs_le", bound=0.01, axes=("method", "source", "dataset", "arch", "criterion", "ratio", "attack"),
          scope="every compression method but the paper's, architecture, criterion, ratio up to 0.5 and attack",
          threat_model="base: white-box on the victim's FP32 base model, transferred to its compressed models; not "
                       "asked of INT8 of the base, whose reference (the base's own IR) would face its white-box set "
                       "while the INT8 IR faces a transfer",
          sentence="compression keeps adversarial accuracy within +-1 percentage point of the uncompressed model",
          source="base", **{**METHOD_CLAIM, "methods": tuple(m for m in MODELS if m != "int8")})
def compressed_adv_within_1pp_whitebox_base(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    return _adversarial(ctx, "compressed_adv_within_1pp_whitebox_base", cell)


@register(metric="clean accuracy of the compressed model minus its reference's (control arm for pruned models, the "
                 "FP32 IR of the same model for INT8)",
          comparison="abs_le", bound=0.02, axes=PRUNED_AXES,
          scope="every compression method but the paper's, architecture, criterion of the method and ratio up to 0.5",
          threat_model="none (clean test set)",
          sentence="compressed models stay within 1-2 points of the uncompressed model's clean accuracy",
          methods=MODELS, question=METHOD_CLAIM["question"], why_bound="the paper's upper figure, 2 points")
def compressed_clean_within_2pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    models = _cell_models(ctx, cell)
    rec = _compare("compressed_clean_within_2pp", cell, {k: ctx.correct(m, ctx.ds, "test") for k, m in models.items()})
    rec["compared"] = _joined(f"{models['compressed'].name} minus {rec['decided_on']} on {rec['n']} clean test "
                              "images", _named(models), _others(rec))
    return _agreement(rec, models)


@register(metric="adversarial accuracy of the INT8 IR minus the FP32 IR's, each attacked by the query-based attack on "
                 "its own outputs, the same clean images",
          comparison="abs_le", bound=0.01, axes=("method", "dataset", "arch"), ratios="none", methods=("int8",),
          scope="INT8 of every architecture's base model",
          threat_model="query: ART's SquareAttack on the deployed IR's outputs alone (no weights, no gradients), on "
                       "each IR itself; the record also gives the INT8 IR on the FP32 IR's examples",
          sentence="(beyond the paper) INT8 keeps the robustness of the FP32 IR against an attacker who can only "
                   "query it", question=METHOD_CLAIM["question"],
          why_bound="the paper's bound, asked of INT8 under the black-box threat model of a deployed IR")
def int8_query_within_1pp(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    from robustness import variants

    models = _cell_models(ctx, cell)
    int8, fp32 = models["compressed"], models["fp32"]
    on_int8, on_fp32 = (variants.query_set(ctx.store, ctx.profile, ctx.ds, m) for m in (int8, fp32))
    if not np.array_equal(*(pipeline.load_adversarial(a)["index"] for a in (on_int8, on_fp32))):
        raise ValueError(f"{on_int8.key} and {on_fp32.key} attack different test images")
    rec = _compare("int8_query_within_1pp", cell, {"compressed": ctx.correct(int8, on_int8),
                                                   "fp32": ctx.correct(fp32, on_fp32)})
    transferred = ctx.correct(int8, on_fp32)
    rec.update(eps=on_int8.spec["eps"], transferred=metrics.accuracy(transferred).to_dict(),
               queries_per_image={"int8": on_int8.info.get("queries_per_image"),
                                  "fp32": on_fp32.info.get("queries_per_image")},
               compared=f"{int8.name} and {fp32.name}, each attacked by {on_int8.spec['attack']} on its own IR "
                        f"({on_int8.spec['params'].get('max_iter')} iterations), the same {rec['n']} clean images")
    return rec


@register(metric="1 - IR bytes of the Torch-Pruning model / base IR bytes at ratio 0.5", comparison="within",
          bound=(0.56, 0.76), axes=("method", "dataset", "arch", "criterion"), ratios="half",
          methods=("torch_pruning",), scope="every architecture and Torch-Pruning criterion at ratio 0.5",
          interval="exact",
          threat_model="none", sentence="model size drops by about 66% at 50% pruning", unit="%",
          question=METHOD_CLAIM["question"], why_bound="the paper's claim and bound (ir_size_cut_66), asked of "
                                                       "Torch-Pruning's physically smaller layers")
def compressed_ir_size_cut_66(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    models = _cell_models(ctx, cell)
    pruned, base = (pipeline.deployed_ir(ctx.store, models[k]).info["bin_bytes"] for k in ("compressed", "base"))
    cut = 1 - pruned / base
    return {"compression": cell["method"], "n": 1, "value": cut, "interval": [cut, cut], "base_bytes": base,
            "pruned_bytes": pruned, "method": "exact byte counts", "reference": REFERENCES["base"],
            "compared": f"OpenVINO FP32 IR of {models['compressed'].name} vs {models['base'].name}"}


@register(metric="1 - INT8 IR bytes / FP32 IR bytes of the same model (weights file)", comparison="ge",
          bound=INT8_SIZE_CUT, axes=("method", "dataset", "arch", "criterion", "ratio"), ratios="half",
          methods=("int8", "nncf_filter+int8", "torch_pruning+int8"), interval="exact",
          scope="INT8 of every architecture's base model and of its pruned models at ratio 0.5",
          threat_model="none", sentence="(beyond the paper) INT8 weights take at most 0.4 times the FP32 bytes",
          unit="%", question=METHOD_CLAIM["question"],
          why_bound="8-bit weights are a quarter of 32-bit ones; scales, biases and the layers NNCF keeps in FP32 "
                    "take some of the rest")
def int8_ir_size_cut(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    models = _cell_models(ctx, cell)
    info = models["compressed"].artifact.info
    cut = 1 - info["bin_bytes"] / info["fp32_bin_bytes"]
    out = {"compression": cell["method"], "n": 1, "value": cut, "interval": [cut, cut], "int8_bytes": info["bin_bytes"],
           "fp32_bytes": info["fp32_bin_bytes"], "weight_constants": info["weight_constants"],
           "method": "exact byte counts", "reference": REFERENCES["fp32"],
           "compared": f"weights of the INT8 IR {models['compressed'].name} vs the FP32 IR {models['fp32'].name}"}
    if "base" in models:  # pruned and INT8: both references
        base = pipeline.ir_model(ctx.store, models["base"]).info["bin_bytes"]
        out.update(base_bytes=base, cut_vs_base=1 - info["bin_bytes"] / base)
        out["compared"] += f"; {100 * out['cut_vs_base']:.1f}% smaller than the base's FP32 IR"
    return out


@register(metric="latency gain of the compressed IR (1 - median / median of its reference): against the base IR net "
                 "of the control arm's gain for pruned models, against the FP32 IR of the same model for INT8 of "
                 "the base; OpenVINO CPU, batch 1", comparison="ge", bound=0.08,
          axes=("method", "dataset", "arch", "criterion", "ratio"), ratios="half", methods=MODELS,
          scope="every compression method but the paper's, architecture and criterion at ratio 0.5",
          threat_model="none", sentence="inference latency improves by 8-10% at 50% pruning", unit="%",
          question=METHOD_CLAIM["question"],
          why_bound="the paper's lower figure for pruning, asked of every compression; INT8 gains depend on the "
                    "CPU's int8 instructions, which the record names", marks=(("xdist_group", "latency"),),
          timed=True, interval="bootstrap")
def compressed_latency_gain_8pct(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    models = _cell_models(ctx, cell)
    base = models["base"] if "base" in models else models["fp32"]
    ratio = cell.get("ratio") or 0.5  # INT8 of the base is timed with the IRs at 0.5, its claim's ratio
    timed = _latency(ctx, base, ratio)
    timed_control = 0 in ctx.profile.ratios  # _latency times a control arm only where the profile builds one
    times, irs = timed["times"], _irs(ctx, {k: m for k, m in models.items() if k != "control" or timed_control})
    mine = times[irs["compressed"].key]
    decided = _decided_on(cell)
    gains = {ref: metrics.latency_gain(times[irs[ref].key], mine) for ref in irs if ref != "compressed"}
    control = irs.get("control") or (pipeline.ir_model(ctx.store, pipeline.control_model(
        ctx.store, ctx.profile, ctx.ds, base, ratio)) if timed_control else None)
    # the control arm's IR is the base architecture: its gain is the timing's own error, checked for every method
    control_gain = metrics.latency_gain(times[pipeline.ir_model(ctx.store, base).key], times[control.key]) \
        if control else None
    if decided == "control" and control_gain:  # net of the control arm's gain, as the paper's latency claim
        value = metrics.latency_gain_net(times[irs["base"].key], mine, times[irs["control"].key])
    elif decided == "control":
        value, decided = gains["base"], "base"
    else:
        value = gains["fp32"]
    out = {"compression": cell["method"], "n": value.n, "value": value.value, "interval": [value.lo, value.hi],
           "method": "95% paired bootstrap over alternating rounds",
           "reference": REFERENCES["base"] + (", net of the control arm" if decided == "control" else
                                              f" ({NO_CONTROL})") if decided != "fp32" else REFERENCES["fp32"],
           "decided_on": decided,
           "gain": {ref: g.to_dict() for ref, g in gains.items() if ref != "control"},
           "control_gain": control_gain.to_dict() if control_gain else None,
           "median_ms": {ref: 1000 * float(np.median(times[ir.key])) for ref, ir in irs.items()},
           "runtime_precision": {ref: timed["runtime_precision"][ir.key] for ref, ir in irs.items()},
           "execution_devices": timed["execution_devices"], "cpu": timed["cpu"], **timed["int8_features"],
           "threads": LATENCY_THREADS,
           "compared": f"OpenVINO CPU latency (batch 1, {LATENCY_THREADS} inference thread, OpenVINO's own "
                       f"per-inference time, {ctx.profile.latency_warmup} warm-up rounds excluded, timed under the "
                       f"store's exclusive hold, alternating with the architecture's other compressed IRs) of "
                       f"{models['compressed'].name} vs {_named(models)}, {value.n} rounds"}
    if control_gain and abs(control_gain.value) > CONTROL_LATENCY_TOLERANCE:
        out["inconclusive_because"] = (
            f"the control arm's IR (the base architecture) timed {100 * control_gain.value:+.1f}% apart from the "
            f"base, more than {100 * CONTROL_LATENCY_TOLERANCE:g}%: something outside this store disturbed the timing")
    return out


def _irs(ctx: Context, models: dict[str, Any]) -> dict[str, Artifact]:
    return {k: pipeline.deployed_ir(ctx.store, m) for k, m in models.items()}


def _latency(ctx: Context, base: pipeline.ModelRef, ratio: float) -> dict[str, Any]:
    """Seconds per inference of every IR of the architecture at `ratio` (base, control arm, each method's pruned
    FP32 and INT8 IRs, INT8 of the base), timed in one alternation under the store's exclusive hold once per run,
    as the paper's latency claim times its IRs; with the precision OpenVINO ran each at."""
    from filelock import FileLock

    from robustness import deploy

    p, store = ctx.profile, ctx.store
    irs = {"base": pipeline.ir_model(store, base)}
    if 0 in p.ratios:
        irs["control"] = pipeline.ir_model(store, pipeline.control_model(store, p, ctx.ds, base, ratio))
    for method in compression.model_methods(p):
        pruning, _ = compression.split(method)
        for criterion in compression.criteria_of(p, pruning) if pruning else [None]:
            model = compression.compressed_model(store, p, ctx.ds, base, method, criterion, ratio)
            irs[f"{method}-{criterion}"] = pipeline.deployed_ir(store, model)
    for criterion in p.criteria:  # the FP32 references of NNCF's INT8 models
        irs[f"nncf_filter-{criterion}"] = pipeline.ir_model(store, pipeline.pruned_model(store, p, ctx.ds, base,
                                                                                         criterion, ratio))
    keyed = {ir.key: ir for ir in irs.values()}
    what = sorted(keyed) + [p.latency_iterations, p.latency_warmup, LATENCY_PRECISION]
    path = store.run_folder() / f"latency-compression-{hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]}.json"
    with FileLock(f"{path}.lock"):
        if not path.exists():
            with store.computing():
                runners = {k: deploy.Runner(ir.file("model.xml"), latency=True, threads=LATENCY_THREADS)
                           for k, ir in keyed.items()}
            x1 = pipeline.load_arrays(ctx.ds, "test")[0][:1]
            with store.timing():
                raw = deploy.alternating_latency(runners, x1, p.latency_iterations, p.latency_warmup,
                                                 precise=tuple(runners), precision=LATENCY_PRECISION)
            out = {"times": raw, "cpu": deploy.cpu_name(), "int8_features": deploy.cpu_int8_features(),
                   "runtime_precision": {k: deploy.runtime_precisions(r.compiled) for k, r in runners.items()},
                   "execution_devices": sorted({d for r in runners.values()
                                                for d in r.compiled.get_property("EXECUTION_DEVICES")})}
            part = path.with_suffix(f".{os.getpid()}.part")
            part.write_text(json.dumps(out))
            os.replace(part, path)
        got = json.loads(path.read_text())
    got["times"] = {k: np.array(v) for k, v in got["times"].items()}
    return got


@register(metric="adversarial accuracy of the Torch-Pruning model minus NNCF's at the same architecture, criterion "
                 "and ratio, on the same surrogate-crafted images",
          comparison="abs_le", bound=0.02, axes=("source", "dataset", "arch", "criterion", "ratio", "attack"),
          methods=("nncf_filter", "torch_pruning"),
          scope="every architecture, criterion both libraries run, ratio up to 0.5 and attack",
          threat_model="surrogate: crafted on an independently trained model of the same architecture",
          sentence="(beyond the paper) the pruning library does not matter: NNCF and Torch-Pruning give comparable "
                   "robustness", question=METHOD_CLAIM["question"], source="surrogate",
          why_bound="2 points: each library's model may lie 1 point (the paper's tolerance) from the control arm, "
                    "on either side")
def libraries_comparable(ctx: Context, cell: dict[str, Any]) -> dict[str, Any]:
    p = ctx.profile
    base = ctx.base(cell["arch"])
    models = {m: compression.get_method(m).build(ctx.store, p, ctx.ds, base, cell["criterion"], cell["ratio"])
              for m in ("nncf_filter", "torch_pruning")}
    src = pipeline.attack_source_model(ctx.store, p, ctx.ds, cell["arch"], cell["source"])
    adv = pipeline.adversarial_set(ctx.store, p, ctx.ds, src, cell["source"], cell["attack"])
    ok = {m: ctx.correct(model, adv) for m, model in models.items()}
    clean = {m: ctx.correct(model, ctx.ds, "test") for m, model in models.items()}
    d = metrics.paired_difference(ok["nncf_filter"], ok["torch_pruning"])
    accs = {m: metrics.accuracy(v) for m, v in ok.items()}
    return {"eps": adv.spec["eps"], "n": d.n, "value": d.value, "interval": [d.lo, d.hi], "mcnemar_p": d.mcnemar_p,
            "p_tables": [[d.b_only, d.a_only, d.n, 1]], "difference": d.to_dict(),
            "accuracies": {m: a.to_dict() for m, a in accs.items()},
            "clean": {"accuracies": {m: metrics.accuracy(v).to_dict() for m, v in clean.items()},
                      "difference": metrics.paired_difference(clean["nncf_filter"], clean["torch_pruning"]).to_dict()},
            "informative": _informative(*(a.value for a in accs.values())), "method": _versus_method(),
            "reference": "NNCF's model (the paper's library)",
            "compared": f"{models['torch_pruning'].name} minus {models['nncf_filter'].name} on {d.n} {cell['attack']} "
                        f"examples crafted on {src.name}"}
