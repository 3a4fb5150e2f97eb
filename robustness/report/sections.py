"""The report's sections beyond the verdict table, each a function of the records it shows: mean differences,
latency, transfer, the open questions, the compression methods, IR parity, gates and records of other code."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from robustness.claims import allowed, fmt, get_claim, stamps


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:+.2f}"
def _measured(r: dict[str, Any]) -> str:
    """A record's value and interval in its claim's unit."""
    return fmt(get_claim(r["claim"]), r["value"], *r["interval"])
def _acc(v: float) -> str:
    return f"{100 * v:.1f}%"
def means_lines(records: list[dict[str, Any]]) -> list[str]:
    """Mean accuracy differences of each accuracy claim, by ratio and by attack: pruned minus control arm (what
    the verdicts decide on) beside pruned minus base (the paper's comparison), in points."""
    lines = ["## Mean differences (points)", "",
             "| claim | group | cells | pruned minus control | pruned minus base |", "|---|---|---|---|---|"]
    measured = [r for r in records if r["verdict"] != "error" and "pruned_minus_control" in r
                and "pruned" in r and not get_claim(r["claim"]).pools]
    for claim_id in sorted({r["claim"] for r in measured}):
        mine = [r for r in measured if r["claim"] == claim_id]
        groups = [("all", mine)]
        for axis in ("ratio", "attack", "arch"):
            keys = sorted({r[axis] for r in mine if r.get(axis) is not None}, key=str)
            if len(keys) > 1:
                groups += [(f"{axis} {k:g}" if isinstance(k, float) else f"{axis} {k}",
                            [r for r in mine if r.get(axis) == k]) for k in keys]
        for name, rows in groups:
            control = np.mean([r["pruned_minus_control"]["value"] for r in rows])
            base = np.mean([r["difference"]["value"] for r in rows])
            lines.append(f"| {claim_id} | {name} | {len(rows)} | {100 * control:+.2f} | {100 * base:+.2f} |")
    return [*lines, ""] if measured else []
def latency_lines(records: list[dict[str, Any]]) -> list[str]:
    """The latency cells as a table: medians, the gain, the control arm's own gap, the gain net of it and both
    latency claims' verdicts (direction: >= 8%; magnitude: near the paper's 8-10%)."""
    timed = [r for r in records if r["claim"] in ("latency_gain_8pct", "latency_gain_8_10pct")
             and r["verdict"] != "error" and r.get("gain")]
    verdicts = {(r["claim"], r["arch"], r["criterion"]): r["verdict"] for r in timed}
    rows = sorted({(r["arch"], r["criterion"]): r for r in timed}.values(), key=lambda r: (r["arch"], r["criterion"]))
    if not rows:
        return []
    cpus = sorted({r.get("cpu", "?") for r in rows})
    threads = sorted({str(r.get("threads", "the latency hint's")) for r in rows})
    lo_w, hi_w = allowed(get_claim("latency_gain_8_10pct"))
    lines = ["## Latency at ratio 0.5", "", f"OpenVINO CPU, batch 1, {' or '.join(threads)} inference thread(s), "
             f"each inference as OpenVINO times it, on {', '.join(cpus)}; gain = 1 - median pruned / median base; "
             "the verdicts are on the gain net of the control arm's (the same architecture timed alongside), with a "
             "95% paired bootstrap interval over alternating rounds; where no control arm was timed (the profile's "
             f"ratios lack 0), on the gain over the base alone. Direction: at least 8%; magnitude: within "
             f"{100 * lo_w:g}-{100 * hi_w:g}%, the paper's 8-10% and the timing's tolerance.", "",
             "| architecture | criterion | base ms | 50% pruned ms | gain | control arm | decided on [95%] | "
             "direction | magnitude |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        g, c, (lo, hi) = r["gain"], r.get("control_gain"), r["interval"]
        control = f"{100 * c['value']:+.1f}%" if c else "not timed (ratios lack 0)"
        decided = "net" if c else "gain over the base"
        lines.append(f"| {r['arch']} | {r['criterion']} | {r['base_median_ms']:.3f} | {r['pruned_median_ms']:.3f} | "
                     f"{100 * g['value']:.1f}% | {control} | {decided} {100 * r['value']:.1f}% "
                     f"[{100 * lo:.1f}, {100 * hi:.1f}] | "
                     f"{verdicts.get(('latency_gain_8pct', r['arch'], r['criterion']), '-')} | "
                     f"{verdicts.get(('latency_gain_8_10pct', r['arch'], r['criterion']), '-')} |")
    return [*lines, ""]
def transfer_lines(records: list[dict[str, Any]]) -> list[str]:
    """transfer_consistent per criterion and attack: how far pruning moves the transfer pattern."""
    rows = sorted((r for r in records if r["claim"] == "transfer_consistent" and r["verdict"] != "error"),
                  key=lambda r: (r["criterion"], r["attack"]))
    if not rows:
        return []
    lines = ["## Transfer between architectures", "",
             "Per ordered architecture pair (examples crafted white-box on the source's base model), the pruned "
             "target's transfer accuracy minus the control arm's (decided) and minus the base model's (the paper's "
             "comparison); the largest |difference| over pairs, with a 95% interval from every pair's paired score "
             "interval at Bonferroni level. A pattern whose pairs are not shown to differ by more than the bound is "
             "too flat to rank: uninformative.", "",
             "| criterion | attack | pairs | n | largest pruned minus control [95%] | verdict | largest pruned minus "
             "base [95%] | verdict vs base | control pattern's range |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        b, spread = r["difference"], r.get("pattern_range", {}).get("control")
        flat = "-" if not spread else \
            f"{100 * spread['value']:.1f} [{100 * spread['lo']:.1f}, {100 * spread['hi']:.1f}]"
        lines.append(f"| {r['criterion']} | {r['attack']} | {r.get('comparisons', '-')} | {r['n']} | {_measured(r)} | "
                     f"{r['verdict']} | {_pct(b['value'])} [{_pct(b['lo'])}, {_pct(b['hi'])}] | "
                     f"{r.get('verdict_vs_base', '-')} | {flat} |")
    return [*lines, ""]
def open_question_lines(records: list[dict[str, Any]]) -> list[str]:
    """Beyond the paper: adversarial training with pruning (open question 1), the criteria's transfer (3), and
    the self-checks that make robust accuracies worth comparing."""
    by = defaultdict(list)
    for r in records:
        if r["verdict"] != "error" or (r["claim"] == "robust_accuracy_honest" and "training" in r):
            by[r["claim"]].append(r)
    lines: list[str] = []
    if by["robust_accuracy_honest"]:
        lines += ["## Self-checks of robust accuracy (gradient masking)", "",
                  "White-box on each base model: PGD must be at least as strong as FGSM, fall with eps, and leave "
                  "little at the largest eps; a failed check makes the cell an error.", "",
                  "| arm | architecture | FGSM | PGD | PGD at each eps (x/255: %) | failed checks | verdict |",
                  "|---|---|---|---|---|---|---|"]
        for r in sorted(by["robust_accuracy_honest"], key=lambda r: (r.get("training", ""), r["arch"])):
            if "pgd_by_eps" not in r:
                lines.append(f"| {r['training']} | {r['arch']} | - | - | - | {r['message'][-100:]} | error |")
                continue
            by_eps = sorted(r["pgd_by_eps"].items(), key=lambda kv: float(kv[0].split("/")[0]))
            curve = ", ".join(f"{e.split('/')[0]}: {100 * a['value']:.0f}" for e, a in by_eps)
            pgd = r["pgd_by_eps"][f"{255 * r['eps']:g}/255"]
            lines.append(f"| {r['training']} | {r['arch']} | {_acc(r['fgsm']['value'])} | {_acc(pgd['value'])} | "
                         f"{curve} | {'; '.join(r['self_checks_failed']) or 'none'} | {r['verdict']} |")
        lines.append("")
    if by["adv_training_helps"]:
        lines += ["## Open question 1: adversarial training with pruning", "",
                  "Sanity first: white-box accuracy of the adversarially trained base minus the standard base's "
                  "(each attacked on itself). Where its interval is not wholly above the margin, every question-1 "
                  "cell of the architecture is `uninformative`.", "",
                  "| architecture | attack | standard | adversarial | gain [95%] | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(by["adv_training_helps"], key=lambda r: (r["arch"], r["attack"])):
            lines.append(f"| {r['arch']} | {r['attack']} | {_acc(r['standard'])} | {_acc(r['adversarial'])} | "
                         f"{_measured(r)} | {r['verdict']} |")
        lines.append("")
    if by["retained_robustness_std_vs_adv"]:
        lines += ["Robustness retained under pruning (pruned minus control arm, each model attacked white-box on "
                  "itself), standard against adversarially trained arm, the same images:", "",
                  "| architecture | criterion | ratio | standard arm | adversarial arm | adversarial minus standard "
                  "[95%] | verdict |", "|---|---|---|---|---|---|---|"]
        for r in sorted(by["retained_robustness_std_vs_adv"], key=lambda r: (r["arch"], r["criterion"])):
            s, a = r["standard_pruned_minus_control"], r["adversarial_pruned_minus_control"]
            lines.append(f"| {r['arch']} | {r['criterion']} | {r['ratio']:g} | {100 * s['value']:+.1f} pp | "
                         f"{100 * a['value']:+.1f} pp | {_measured(r)} | {r['verdict']} |")
        lines.append("")
    if by["criteria_transfer_agree"]:
        lines += ["## Open question 3: do the criteria differ in transferability?", "",
                  "Per criterion, the transfer matrix among the architectures' pruned models (sources and targets); "
                  "the claim is the largest difference in transfer accuracy between two criteria over all pairs, "
                  "with a 95% interval from every (pair, criterion pair) paired score interval at Bonferroni level.",
                  "", "| arm | attack | ratio | largest difference per criterion pair (pp) | largest [95%] | verdict |",
                  "|---|---|---|---|---|---|"]
        for r in sorted(by["criteria_transfer_agree"], key=lambda r: (r["training"], r["attack"])):
            pairs = ", ".join(f"{k}: {100 * v:.1f}" for k, v in r.get("largest_by_criteria", {}).items())
            lines.append(f"| {r['training']} | {r['attack']} | {r['ratio']:g} | {pairs or '-'} | {_measured(r)} | "
                         f"{r['verdict']} |")
        lines.append("")
    return lines
def parity_lines(records: list[dict[str, Any]]) -> list[str]:
    """How far the deployed IRs' predictions agree with torch over every prediction set the claims scored."""
    par = [r["parity"] for r in records if r.get("parity") and r["parity"]["checked"]]
    if not par:
        return []
    checked, agree = sum(p["checked"] for p in par), sum(p["agree"] for p in par)
    return ["## Predictions: the IR against torch", "",
            f"Every accuracy comes from the OpenVINO IR. Over the {len(par)} cells that scored predictions, "
            f"torch re-predicted {checked} images (a fixed sample of each set and every image near the IR's decision "
            f"boundary; sets shared by cells are counted in each): {agree} agreed "
            f"({100 * agree / checked:.2f}%), lowest agreement in one cell "
            f"{100 * min(p['lowest_agreement'] for p in par):.2f}%, largest logit difference "
            f"{max((p['max_logit_diff'] for p in par if p['max_logit_diff'] is not None), default=0.0):.2e}. A cell "
            "below 99.5% is an error.", ""]
def gate_lines(gates: list[dict[str, Any]]) -> list[str]:
    """One row per gate test: what it compared, the measured value with its interval and n, the verdict."""
    lines = ["| gate | model | measured [95%] | bound | n | verdict |", "|---|---|---|---|---|---|"]
    for g in gates:
        if "value" not in g:
            lines.append(f"| {g['gate']} | {g.get('model', '-')} | {g['message'][:160]} | - | - | {g['verdict']} |")
            continue
        lo, hi = g["interval"]
        pct = g.get("metric") in ("latency", "size", "snapshot")
        unit = "%" if pct and g.get("metric") != "snapshot" else " pp"
        sign = "+" if not pct or g.get("metric") == "snapshot" else ""
        measured = f"{100 * g['value']:{sign}.2f}{unit} [{100 * lo:{sign}.2f}, {100 * hi:{sign}.2f}]"
        bound = "-" if g.get("bound") is None else (f"drop <= {100 * g['bound']:g} pp" if g.get("metric") in (
            "adversarial", "clean") else f"gain >= {100 * g['bound']:g}%" if g.get("metric") in ("latency", "size")
            else f"+-{100 * g['bound']:g} pp")
        verdict = g["verdict"] + (" (fails)" if g.get("fails") and g["verdict"] not in ("fail", "error") else "")
        lines.append(f"| {g['gate']} | {g['model']} | {measured} | {bound} | {g['n']} | {verdict} |")
    return lines
def other_lines(other: list[dict[str, Any]]) -> list[str]:
    """Records of another code version (or unstamped), kept in results.json but counted nowhere above."""
    if not other:
        return []
    by = Counter((stamps.of(r) or "none (unstamped)", (r.get("stamp") or {}).get("commit") or "-") for r in other)
    lines = ["## Records of other code versions (not counted)", "",
             f"{len(other)} records in results.json were measured by code other than this report's "
             f"({stamps.code_version()}): their cells were not run again since the code changed. Run them again "
             "(`pytest -m claims`, or `-k` with their claims) to count them.", "",
             "| code version | commit | records | claims |", "|---|---|---|---|"]
    for (code, commit), count in sorted(by.items()):
        claims = sorted({r["claim"] for r in other if (stamps.of(r) or "none (unstamped)", (r.get("stamp") or {})
                                                       .get("commit") or "-") == (code, commit)})
        lines.append(f"| {code} | {commit} | {count} | {', '.join(claims)} |")
    return [*lines, ""]


def compression_lines(records: list[dict[str, Any]]) -> list[str]:
    """The compression methods' claims per method: each decided against its own reference (the control arm for a
    pruned model, the FP32 IR of the same model for INT8), with the verdict counts and the mean measured value."""
    from robustness.claims.compression import REFERENCES

    rows = [r for r in records if r.get("compression") and r["verdict"] != "error"]
    if not rows:
        return []
    lines = ["## Compression methods beyond the paper", "",
             "Each compressed model against its own reference: a pruned model (Torch-Pruning, or either library's "
             "model quantized to INT8) against its control arm, INT8 of the base against the FP32 IR of the same "
             "model; every other reference is in each record (`minus`). Values: accuracy differences in points, "
             "size and latency gains in %.", "",
             "| claim | method | decided against | cells | reproduced | inconclusive | not reproduced | "
             "uninformative | mean value |", "|---|---|---|---|---|---|---|---|---|"]
    for (claim_id, method), mine in sorted(_grouped(rows).items()):
        count = Counter(r["verdict"] for r in mine)
        decided = sorted({r.get("decided_on", "-") for r in mine})
        mean = 100 * float(np.mean([r["value"] for r in mine]))
        unit = "%" if get_claim(claim_id).unit == "%" else " pp"
        lines.append(f"| {claim_id} | {method} | {', '.join(REFERENCES.get(d, d) for d in decided)} | {len(mine)} | "
                     f"{count['reproduced']} | {count['inconclusive']} | {count['not reproduced']} | "
                     f"{count['uninformative']} | {mean:+.2f}{unit} |")
    return [*lines, ""]


def _grouped(rows: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    out: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["claim"], r["compression"]].append(r)
    return out
