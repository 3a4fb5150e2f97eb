"""Gate thresholds a team sets for the models it ships, e.g. "the INT8 IR's PGD accuracy at 8/255 may not drop more
than 2 points below the base". They live in the profile file as `[[threshold]]` tables beside the profile's fields.

A threshold is decided as a claim is, on the paired 95% interval, never on the point value: `pass` when the
interval shows the drop within the allowed bound, `fail` when it shows the drop beyond it, `inconclusive` when it
straddles the bound (the profile's `gate_inconclusive` policy, or the threshold's own, says whether that fails), and
`uninformative` when the base sits at the floor (at or below 2%: no drop can show), which fails with the fix. The
reference is the base model: a gate judges the model shipped against the model it replaces; a team's artifact has
no control arm, and the record says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.errors import UsageError
from robustness.profiles import ATTACKS, GATE_POLICIES, Profile, _number

if TYPE_CHECKING:  # reading thresholds (at collection) must not import torch
    from robustness.pipeline import IRRef, ModelRef
    from robustness.store import Artifact, Store

METRICS = ["adversarial", "clean", "latency", "size"]
# who crafts the examples: the base model (white-box on it, transfer to the variant), the attacker's surrogate, each
# model white-box on itself (torch models only; `pruned` is the older name), each deployed IR through its outputs
SOURCES = ["base", "query", "self", "surrogate"]
FLOOR = 0.02  # a base at or below this leaves no room for a drop to show


@dataclass(frozen=True)
class Threshold:
    max_drop: float | None = None  # accuracy: base minus variant may be at most this (0.02: two points)
    min_gain: float | None = None  # latency, size: 1 - variant / base must be at least this (-0.05: 5% worse at most)
    metric: str = "adversarial"
    attack: str = "pgd"
    source: str = "base"
    eps: float | None = None  # None: the profile's eps
    inconclusive: str | None = None  # None: the profile's gate_inconclusive

    def __post_init__(self) -> None:
        if self.source == "pruned":
            object.__setattr__(self, "source", "self")
        if self.metric not in METRICS:
            raise UsageError(f"unknown threshold metric {self.metric!r}: choose from {', '.join(METRICS)}")
        accuracy = self.metric in ("adversarial", "clean")
        if accuracy and (self.max_drop is None or self.min_gain is not None):
            raise UsageError(f"a {self.metric} threshold takes max_drop (0.02: two points), not min_gain")
        if not accuracy and (self.min_gain is None or self.max_drop is not None):
            raise UsageError(f"a {self.metric} threshold takes min_gain (0.1: 10% smaller or faster; -0.05: at most 5% "
                             "worse), "
                             "not max_drop")
        if self.attack not in ATTACKS and self.source != "query":
            raise UsageError(f"unknown attack {self.attack!r} in a threshold: choose from {', '.join(ATTACKS)}")
        if self.source not in SOURCES:
            raise UsageError(f"unknown source {self.source!r} in a threshold: choose from {', '.join(SOURCES)}")
        if self.eps is not None and not 0 <= self.eps <= 1:
            raise UsageError(f"threshold eps {self.eps} is outside [0, 1]: eps is Linf in [0,1] pixel space")
        bound = self.max_drop if accuracy else self.min_gain
        if not -1 <= bound <= 1:
            raise UsageError(f"threshold bound {bound} is outside [-1, 1]: it is a fraction, 0.02 is two points")
        if self.inconclusive is not None and self.inconclusive not in GATE_POLICIES:
            raise UsageError(f"unknown inconclusive policy {self.inconclusive!r}: choose from "
                             f"{', '.join(GATE_POLICIES)}")

    @property
    def id(self) -> str:
        if self.metric == "clean":
            return f"clean-drop{100 * self.max_drop:g}pp"
        if self.metric in ("latency", "size"):
            return f"{self.metric}-gain{100 * self.min_gain:g}pct"
        eps = "" if self.eps is None else f"-eps{round(255 * self.eps, 2):g}"
        attack = "" if self.source == "query" else f"-{self.attack}"
        return f"{self.source}{attack}{eps}-drop{100 * self.max_drop:g}pp"

    def applies_to(self, torch_model: bool) -> str:
        """Why the threshold cannot be measured on such a model, or '' if it can."""
        if self.metric == "adversarial" and self.source == "self" and not torch_model:
            return ("white-box needs the torch model; this variant is an IR: use source = \"query\" (a query-based "
                    "attack on its outputs) or \"surrogate\"")
        return ""


def load_thresholds(profile_file: str | Path | None) -> list[Threshold]:
    """The `[[threshold]]` tables of a profile file (none without a file)."""
    if profile_file is None:
        return []
    from robustness.validation import read_profile_file

    path = Path(profile_file)
    tables = read_profile_file(path).get("threshold", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise UsageError(f"{path}: write thresholds as [[threshold]] tables")
    valid = sorted(f.name for f in fields(Threshold))
    out = []
    for i, table in enumerate(tables, 1):
        unknown = sorted(set(table) - set(valid))
        if unknown or not ({"max_drop", "min_gain"} & set(table)):
            raise UsageError(f"{path}: threshold {i} has unknown fields {unknown} or lacks max_drop (accuracy) or "
                             f"min_gain (latency, size): valid fields are {', '.join(valid)}")
        try:
            values = {k: (_number(v) if k in ("max_drop", "min_gain", "eps") else str(v)) for k, v in table.items()}
        except (TypeError, ValueError, ZeroDivisionError):
            raise UsageError(f"{path}: threshold {i}: max_drop, min_gain and eps are numbers such as 0.02 or "
                             "8/255") from None
        try:
            out.append(Threshold(**values))
        except UsageError as exc:
            raise UsageError(f"{path}: threshold {i}: {exc}") from None
    ids = [t.id for t in out]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise UsageError(f"{path}: two thresholds measure the same thing ({', '.join(twice)}): keep one")
    return out


def check(threshold: Threshold, store: Store, profile: Profile, ds: Artifact, base: ModelRef,
          model: ModelRef | IRRef) -> dict[str, Any]:
    """Measure one threshold on one shipped model; the record gives the verdict, what was compared and why."""
    if threshold.metric in ("latency", "size"):
        rec = _gain(threshold, store, profile, base, model)
    else:
        rec = _drop(threshold, store, profile, ds, base, model)
    rec.update(profile=profile.name, profile_hash=profile.hash)
    return finish(threshold, rec, policy(threshold, profile), model.name, base.name)


def policy(threshold: Threshold, profile: Profile) -> str:
    """What an inconclusive verdict does: the threshold's own policy, else the profile's gate_inconclusive."""
    return threshold.inconclusive or profile.gate_inconclusive


def finish(threshold: Threshold, rec: dict[str, Any], policy: str, model: str, base: str) -> dict[str, Any]:
    """A measured threshold's record completed: whether it fails the gate under the policy, and its one line."""
    rec.setdefault("metric", threshold.metric)
    rec.update(kind="gate", gate=threshold.id, model=model, base_model=base, threshold=asdict(threshold),
               policy=policy, reference="the base model: a gate judges the shipped model against the one it replaces "
                                        "(no control arm for a team's artifact)")
    rec["fails"] = rec["verdict"] in ("fail", "uninformative") or (
        rec["verdict"] == "inconclusive" and policy == "fail")
    rec["message"] = _message(threshold, rec)
    return rec


def _drop(threshold: Threshold, store: Store, profile: Profile, ds: Artifact, base: ModelRef,
          model: ModelRef | IRRef) -> dict[str, Any]:
    from robustness import pipeline

    if threshold.metric == "clean":
        on_base = on_model = ds
        part, what = "test", "clean test images"
    else:
        part = "adv"
        on_base, on_model, what = _faced(threshold, store, profile, ds, base, model)
    b = pipeline.correct(store, base, on_base, part)
    v = pipeline.correct(store, model, on_model, part)
    return {"metric": threshold.metric, **decide_drop(b, v, float(threshold.max_drop)),
            "compared": f"{model.name} vs base {base.name} on {b.size} {what}"}


def decide_drop(base_ok: np.ndarray, variant_ok: np.ndarray, allowed: float) -> dict[str, Any]:
    """The verdict on the drop (base minus variant accuracy) of paired per-image correctness: decided by the paired
    95% interval against `allowed`, uninformative where the base sits at the floor or at or below the drop allowed
    (a model that lost everything would still pass)."""
    from robustness import metrics

    b, v = np.asarray(base_ok, dtype=bool), np.asarray(variant_ok, dtype=bool)
    diff = metrics.paired_difference(v, b)  # base minus variant: the drop
    acc_b, acc_v = metrics.accuracy(b), metrics.accuracy(v)
    if acc_b.value <= max(FLOOR, allowed):  # the variant cannot drop further than the base has: no fail could show
        verdict = "uninformative"
    elif diff.hi <= allowed:
        verdict = "pass"
    elif diff.lo > allowed:
        verdict = "fail"
    else:
        verdict = "inconclusive"
    b_only, v_only = int((b & ~v).sum()), int((v & ~b).sum())
    return {"n": diff.n, "value": diff.value, "interval": [diff.lo, diff.hi], "bound": allowed,
            "base": acc_b.to_dict(), "variant": acc_v.to_dict(), "discordant": [b_only, v_only],
            "method": "95% paired score interval (Tango, continuity-corrected) of base minus variant",
            "n_to_decide": metrics.n_to_decide(b_only, v_only, diff.n, allowed) if verdict == "inconclusive"
            else None, "verdict": verdict}


def _faced(threshold: Threshold, store: Store, profile: Profile, ds: Artifact, base: ModelRef,
           model: ModelRef | IRRef) -> tuple[Artifact, Artifact, str]:
    """The adversarial sets base and variant face under the threshold's threat model, and their description."""
    from robustness import pipeline, variants

    eps_text = f" at eps {255 * (profile.eps if threshold.eps is None else threshold.eps):g}/255"
    if threshold.source == "query":
        on_base = variants.query_set(store, profile, ds, base, threshold.eps)
        on_model = variants.query_set(store, profile, ds, model, threshold.eps)
        if not np.array_equal(*(pipeline.load_adversarial(a)["index"] for a in (on_base, on_model))):
            raise ValueError(f"{on_base.key} and {on_model.key} attack different test images: they cannot be paired")
        spent = on_model.info.get("queries_per_image", 0)
        return on_base, on_model, (f"{profile.query_attack} examples{eps_text}, each model attacked through its "
                                   f"deployed IR's outputs alone ({profile.query_max_iter} iterations, "
                                   f"{spent:.0f} queries per image on the variant)")
    if threshold.source == "self":
        why = threshold.applies_to(isinstance(model, pipeline.ModelRef))
        if why:
            raise UsageError(f"gate {threshold.id} on {model.name}: {why}")
        on_base, on_model = pipeline.faced_sets(store, profile, ds, base, model, "pruned", threshold.attack,
                                                threshold.eps)
        return on_base, on_model, f"{threshold.attack} examples{eps_text} crafted white-box on each model itself"
    on_base, on_model = pipeline.faced_sets(store, profile, ds, base, model, threshold.source, threshold.attack,
                                            threshold.eps)
    whose = "the base model (white-box on it, a transfer attack on the variant)" if threshold.source == "base" \
        else "the attacker's surrogate (transfer to both, the paper's threat model)"
    return on_base, on_model, f"{threshold.attack} examples{eps_text} crafted on {whose}"


def _gain(threshold: Threshold, store: Store, profile: Profile, base: ModelRef,
          model: ModelRef | IRRef) -> dict[str, Any]:
    from robustness import pipeline, variants

    base_ir, model_ir = pipeline.ir_model(store, base), pipeline.deployed_ir(store, model)
    bound = float(threshold.min_gain)
    if threshold.metric == "size":
        b, v = base_ir.info["bin_bytes"], model_ir.info["bin_bytes"]
        gain = 1 - v / b
        return {"metric": "size", "n": 1, "value": gain, "interval": [gain, gain], "bound": bound,
                "base_bytes": b, "variant_bytes": v, "method": "exact byte counts of the IRs' weights (.bin)",
                "verdict": "pass" if gain >= bound else "fail", "n_to_decide": None,
                "compared": f"OpenVINO IR weights of {model.name} ({v} bytes) vs base {base.name} ({b} bytes)"}
    rec = variants.latency(store, profile, {"base": base_ir, "variant": model_ir})
    lo, hi = rec["interval"]
    rec.update(bound=bound, n_to_decide=None,
               verdict="pass" if lo >= bound else "fail" if hi < bound else "inconclusive",
               compared=f"OpenVINO CPU latency of {model.name} vs base {base.name}: {rec['compared']}")
    return rec


def _message(threshold: Threshold, rec: dict[str, Any]) -> str:
    verdict, (lo, hi) = rec["verdict"], rec["interval"]
    head = f"gate {threshold.id} on {rec['model']}: {verdict}"
    if rec["metric"] in ("latency", "size"):
        measured = (f"{rec['metric']} gain {100 * rec['value']:+.1f}% [{100 * lo:+.1f}, {100 * hi:+.1f}]"
                    f"{'' if rec['metric'] == 'size' else ' (95%)'}, required at least {100 * rec['bound']:g}%")
    else:
        measured = (f"drop {100 * rec['value']:+.2f} pp [{100 * lo:+.2f}, {100 * hi:+.2f}] (paired 95%), allowed "
                    f"{100 * rec['bound']:.2f} pp; accuracy {_acc(rec['variant'])} vs base {_acc(rec['base'])}")
    note = ""
    if verdict == "uninformative":
        fix = "lower max_drop below the base's accuracy" if rec["metric"] == "clean" else \
            "use a smaller eps or another attack (or a max_drop below the base's accuracy)"
        note = (f"; the base is at {100 * rec['base']['value']:.1f}%, at or below {100 * FLOOR:g}% or the drop "
                f"allowed: no failing drop could show: {fix}")
    elif verdict == "inconclusive":
        need = rec.get("n_to_decide")
        decide = ("more timing rounds (profile field latency_iterations) would narrow it" if rec["metric"] == "latency"
                  else f"about {need} images at the measured rates would decide it" if need
                  else "no n decides it at the measured rates (the drop sits on the bound)")
        action = "fails (gate_inconclusive = \"fail\")" if rec["policy"] == "fail" else "warns only"
        note = f"; the interval straddles the bound: {decide}; this {action}"
    return f"{head}: {measured}; n={rec['n']}, compared {rec['compared']}{note}"


def _acc(a: dict[str, Any]) -> str:
    return f"{100 * a['value']:.1f}% [{100 * a['lo']:.1f}, {100 * a['hi']:.1f}]"
