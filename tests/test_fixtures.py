"""The fixtures as another repository would use them: same tests, same ids, same results with and without -n."""

from tests.conftest import smoke_settings

TESTS = '''
from robustness import pipeline

def test_pruned_model(pruned_model, base_model):
    assert pruned_model.meta["arch"] == base_model.meta["arch"]
    assert pruned_model.load().training is False

def test_adversarial_set(adversarial_set, source, attack):
    assert adversarial_set.spec["source"] == source and adversarial_set.spec["attack"] == attack
    assert len(pipeline.load_adversarial(adversarial_set)["y"]) == 64

def test_ir_model(ir_model, base_ir_model):
    assert ir_model.info["bin_bytes"] <= base_ir_model.info["bin_bytes"]
'''
ARGS = ["--robustness-profile", "smoke", *smoke_settings("archs=vgg19", "criteria=l1", "ratios=0,0.5", "attacks=fgsm"),
        "-p", "no:cacheprovider", "-v"]


def _ids(result):
    return sorted(next(t for t in line.split() if "::" in t).split("::")[-1]
                  for line in result.outlines if "PASSED" in line and "::" in line)


def test_fixtures_behave_the_same_with_and_without_xdist(pytester, store):
    # no conftest: the installed plugin (pytest11 entry points) provides every fixture, as in another repository
    pytester.makepyfile(test_user=TESTS)
    env_cache = f"--robustness-cache-dir={store.root}"
    serial = pytester.runpytest_subprocess(*ARGS, env_cache)
    serial.assert_outcomes(passed=6)
    parallel = pytester.runpytest_subprocess(*ARGS, env_cache, "-n", "2")
    parallel.assert_outcomes(passed=6)
    assert "built 0 artifacts" in parallel.stdout.str()  # the serial run built them; workers only reuse
    assert {i.split("[")[0] for i in _ids(serial)} == {"test_pruned_model", "test_adversarial_set", "test_ir_model"}
    assert "test_adversarial_set[base-vgg19-fgsm]" in _ids(serial)
    assert _ids(serial) == _ids(parallel)
