"""Gate thresholds decided on the paired interval, never on the point: pass, fail, inconclusive by policy, and
uninformative at the floor; and the query-based attack a gate runs on IR-only variants."""

import numpy as np
import pytest

from robustness import metrics, thresholds
from robustness.errors import UsageError
from robustness.thresholds import Threshold


def _pairs(n: int, base_right: int, both: int, variant_only: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-image correctness of base and variant: `both` right on both, `base_right - both` right on the base
    only, `variant_only` right on the variant only."""
    b = np.zeros(n, bool)
    v = np.zeros(n, bool)
    b[:base_right] = True
    v[:both] = True
    v[base_right:base_right + variant_only] = True
    return b, v


def _finish(threshold, rec, policy="fail"):
    return thresholds.finish(threshold, {**rec, "compared": "int8 vs base on 300 images"}, policy, "int8", "base")


def test_a_small_drop_with_a_wide_interval_does_not_pass():
    """A 1.9 point drop whose interval reaches far past a 2 point bound is not a pass."""
    b, v = _pairs(210, 190, 174, 12)  # 16 images lost, 12 gained: drop 1.9 points, interval about [-3.5, +7.4]
    rec = thresholds.decide_drop(b, v, 0.02)
    assert rec["value"] == pytest.approx(0.019, abs=1e-3) and rec["interval"][1] > 0.06
    assert rec["verdict"] == "inconclusive"


def test_pass_and_fail_need_the_interval_on_one_side_of_the_bound():
    b, v = _pairs(300, 270, 270, 0)  # no image changes: [-1.6, +1.6] lies within 2 points
    assert thresholds.decide_drop(b, v, 0.02)["verdict"] == "pass"
    b, v = _pairs(300, 270, 240, 0)  # 30 images lost: the interval lies beyond 2 points
    rec = thresholds.decide_drop(b, v, 0.02)
    assert rec["verdict"] == "fail" and rec["interval"][0] > 0.02


def test_a_threshold_on_a_base_at_zero_is_uninformative_and_fails_with_the_fix():
    b, v = _pairs(300, 0, 0, 27)  # the example's base at 0.0% under PGD at 8/255; the variant at 9%
    rec = _finish(Threshold(max_drop=0.02), thresholds.decide_drop(b, v, 0.02))
    assert rec["verdict"] == "uninformative" and rec["fails"]
    assert "use a smaller eps or another attack" in rec["message"]


@pytest.mark.parametrize("policy, fails", [("fail", True), ("warn", False)])
def test_an_inconclusive_threshold_follows_the_policy(policy, fails):
    b, v = _pairs(300, 270, 253, 12)  # 17 lost, 12 gained: drop 1.7 points [-2.4, +5.8]
    rec = _finish(Threshold(max_drop=0.02), thresholds.decide_drop(b, v, 0.02), policy)
    assert rec["verdict"] == "inconclusive" and rec["fails"] is fails
    assert "images at the measured rates would decide it" in rec["message"]
    need = rec["n_to_decide"]
    lo, hi = metrics.paired_interval(17 * need / 300, 12 * need / 300, need)  # at that n it is decided
    assert hi <= 0.02 or lo > 0.02


def test_a_threshold_s_own_policy_wins_over_the_profile_s():
    from robustness.profiles import load_profile

    b, v = _pairs(300, 270, 253, 12)
    smoke = load_profile("smoke")
    assert smoke.gate_inconclusive == "fail"
    own, default = Threshold(max_drop=0.02, inconclusive="warn"), Threshold(max_drop=0.02)
    assert thresholds.policy(own, smoke) == "warn" and thresholds.policy(default, smoke) == "fail"
    assert thresholds.policy(default, smoke.replace(gate_inconclusive="warn")) == "warn"
    rec = thresholds.decide_drop(b, v, 0.02)
    assert rec["verdict"] == "inconclusive"
    assert not _finish(own, rec, thresholds.policy(own, smoke))["fails"]
    assert _finish(default, rec, thresholds.policy(default, smoke))["fails"]


@pytest.mark.parametrize("table, message", [
    ({"max_drop": 0.02, "metric": "latency"}, "takes min_gain"),
    ({"min_gain": 0.1}, "takes max_drop"),
    ({"max_drop": 0.02, "source": "nowhere"}, "unknown source"),
    ({"max_drop": 0.02, "inconclusive": "maybe"}, "unknown inconclusive policy"),
    ({"max_drop": 2}, r"outside \[-1, 1\]"),
])
def test_bad_thresholds_are_refused_with_the_fix(table, message):
    with pytest.raises(UsageError, match=message):
        Threshold(**table)


def test_thresholds_from_a_profile_file(tmp_path):
    f = tmp_path / "profile.toml"
    f.write_text('[[threshold]]\nmax_drop = "2/100"\nsource = "pruned"\n[[threshold]]\nmetric = "size"\n'
                 'min_gain = 0.5\n[[threshold]]\nsource = "query"\nmax_drop = 0.05\n')
    ts = thresholds.load_thresholds(f)
    assert [t.id for t in ts] == ["self-pgd-drop2pp", "size-gain50pct", "query-drop5pp"]
    assert ts[0].applies_to(torch_model=False) and not ts[0].applies_to(torch_model=True)
    f.write_text("[[threshold]]\nmax_drop = 0.02\ncolour = 'red'\n")
    with pytest.raises(UsageError, match="unknown fields"):
        thresholds.load_thresholds(f)


@pytest.mark.parametrize("precision", ["FP32", "INT8"])
def test_the_query_attack_stays_in_its_eps_ball_and_lowers_the_ir_s_accuracy(store, smoke, smoke_dataset,
                                                                            smoke_base, precision):
    """ART's SquareAttack through the deployed IR's outputs alone, on smoke: inside [0, 1] and its Linf ball,
    queries counted, and the IR's accuracy on the examples below its clean accuracy; for the FP32 IR and for the
    INT8 IR that nncf.quantize made of it."""
    from robustness import compression, pipeline, variants

    ir_only = pipeline.IRRef(pipeline.ir_model(store, smoke_base), {"variant": "base-ir"}) if precision == "FP32" \
        else compression.compressed_model(store, smoke, smoke_dataset, smoke_base, "int8")
    assert ir_only.artifact.info.get("precision", "FP32") == precision
    adv = variants.query_set(store, smoke, smoke_dataset, ir_only)
    arrays = pipeline.load_adversarial(adv)
    x = pipeline.load_arrays(smoke_dataset, "test")[0][arrays["index"]]
    assert arrays["x_adv"].min() >= 0 and arrays["x_adv"].max() <= 1
    assert float(np.abs(arrays["x_adv"] - x).max()) <= smoke.eps + 1e-6
    assert adv.info["queries_per_image"] > smoke.query_max_iter  # several queries per iteration and image
    clean = pipeline.correct(store, ir_only, smoke_dataset, "test")[arrays["index"]].mean()
    attacked = pipeline.correct(store, ir_only, adv, "adv").mean()
    assert attacked < clean
    assert adv.info["source_adv_accuracy"] == pytest.approx(attacked)


def test_query_sets_are_keyed_by_their_budget(store, smoke, smoke_dataset, smoke_base):
    from robustness import pipeline, variants

    ir_only = pipeline.IRRef(pipeline.ir_model(store, smoke_base), {"variant": "base-ir"})
    one = variants.query_set(store, smoke, smoke_dataset, ir_only)
    other = variants.query_set(store, smoke.replace(query_max_iter=smoke.query_max_iter + 1), smoke_dataset, ir_only)
    assert one.key != other.key and other.spec["params"]["max_iter"] == smoke.query_max_iter + 1


@pytest.mark.parametrize("base_correct, allowed", [(5, 0.02), (36, 0.15)], ids=["at the floor", "below the drop"])
def test_a_base_no_failing_drop_could_show_on_is_uninformative(base_correct, allowed):
    """A base at 1.7% (the floor), or at 12% under a 15-point allowance: even a variant that gets nothing right
    could not fail, so the threshold says nothing and fails with what to change."""
    b = np.zeros(300, dtype=bool)
    b[:base_correct] = True
    rec = thresholds.decide_drop(b, np.zeros(300, dtype=bool), allowed)
    assert rec["verdict"] == "uninformative"
    done = _finish(Threshold(max_drop=allowed), rec)
    assert done["fails"] and "no failing drop could show" in done["message"]
    if base_correct > 30:  # the same base under a 5-point allowance: the variant's loss of 12 points shows
        assert thresholds.decide_drop(b, np.zeros(300, dtype=bool), 0.05)["verdict"] == "fail"


def test_a_gate_on_a_profile_without_variants_is_an_error_not_a_pass(pytester):
    """An empty parametrization would skip the gate and leave the job green: it is a collection error instead,
    one line naming the missing tables."""
    pytester.makefile(".toml", profile='profile = "smoke"\n\n[[threshold]]\nmetric = "clean"\nmax_drop = 0.02\n')
    pytester.makepyfile(test_gate="def test_v(threshold, base_model, variant, check_threshold):\n"
                                  "    check_threshold(threshold, base_model, variant)\n")
    result = pytester.runpytest_subprocess("--robustness-profile-file=profile.toml", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-2000:]
    assert "gates on the profile file's [[variant]] tables, but" in result.stdout.str()
    assert "passed" not in result.stdout.str().splitlines()[-1]
