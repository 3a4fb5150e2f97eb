"""`robustness plan`: the graph a build will make, before it runs, with exact keys and a cost per stage."""

from robustness.build import STAGES, build_grid
from robustness.cli import main
from robustness.plan import Rates, critical_path, estimate, graph, table
from robustness.profiles import load_profile
from robustness.store import Store, read_events

SMALL = {"archs": "vgg19", "epochs": "1", "n_train": "96", "n_test": "48", "n_attack": "16", "attacks": "fgsm,pgd",
         "criteria": "l1", "ratios": "0,0.5", "sources": "base,surrogate", "curve_attacks": "fgsm",
         "eps_list": "4/255,8/255", "finetune_epochs": "1", "methods": "nncf_filter"}
GRID = [s for s in STAGES if s != "predictions"]


def test_the_plan_has_the_keys_a_build_then_builds(tmp_path):
    profile = load_profile("smoke", overrides=SMALL)
    before = graph(profile, tmp_path / "store", GRID)
    assert not (tmp_path / "store").exists()  # planning writes nothing
    assert not any(s.held for s in before)
    kinds = [s.kind for s in before]
    # split; victim and surrogate; control and one criterion; IRs of base, control step and 0.5; sets: 2 attacks
    # on base (+ the other curve eps of fgsm) and 2 on the surrogate
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "dataset": 1, "base_model": 2, "control_models": 1, "pruned_models": 1, "ir": 3, "adversarial_set": 5}
    build_grid(Store(tmp_path / "store"), profile, stages=GRID, progress=lambda m: None)
    built = {e["key"] for e in read_events(tmp_path / "store") if e["event"] == "built"}
    assert built == {s.key for s in before}
    assert all(s.held for s in graph(profile, tmp_path / "store", GRID))
    for s in before:  # parents come first, and every dependency is a step of the plan
        assert all(d < before.index(s) for d in s.deps)


def test_costs_follow_the_work_and_the_critical_path_is_the_longest_chain(tmp_path):
    profile = load_profile("smoke", overrides=SMALL)
    steps = graph(profile, tmp_path, GRID)
    one = {"vgg19": 1e-3}
    rates = Rates(fb=one, fb1={"vgg19": 4e-3}, fwd={"vgg19": 3e-4}, ov={"vgg19": 1e-4}, export={"vgg19": 2.0},
                  compile={"vgg19": 0.5}, source="test")
    estimate(steps, profile, rates)
    by = {(s.kind, s.node.attack, s.node.eps, s.node.model): s.seconds for s in steps}
    base = next(s for s in steps if s.kind == "base_model" and s.node.model == ("victim",))
    assert base.seconds == 1 * 96 * 1e-3 + 48 * 3e-4  # one epoch of 96 images, then clean accuracy on 48
    pgd = by[("adversarial_set", "pgd", None, ("victim",))]
    fgsm = by[("adversarial_set", "fgsm", None, ("victim",))]
    assert pgd == 16 * (profile.attack_steps * 1e-3 + 2 * 3e-4) and fgsm == 16 * (1e-3 + 2 * 3e-4)
    assert all(s.seconds == 2.0 for s in steps if s.kind == "ir")
    seconds, chain = critical_path(steps)
    assert [steps[i].kind for i in chain][:2] == ["dataset", "base_model"]
    assert seconds == sum(steps[i].seconds for i in chain) and seconds < sum(s.seconds for s in steps)
    lines = table(steps, profile, rates, workers=2)
    assert any(line.startswith("adversarial_set ") and line.split()[1:4] == ["5", "0", "5"] for line in lines)
    assert "estimated wall time with 2 worker(s)" in lines[-2]


def test_plan_prints_the_paper_grid_without_its_data_or_a_store(tmp_path, capsys):
    """The paper profile planned on a machine with neither CIFAR nor a GPU, from a given GPU throughput."""
    code = main(["plan", "--profile", "paper", "--set", "archs=mobilenet_v1", "--images-per-second", "2000",
                 "--cache-dir", str(tmp_path / "store"), "--workers", "8"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:] if len(line.split()) >= 4}
    assert rows["base_model"][1:4] == ["2", "0", "2"] and rows["ir"][1] == "21" and rows["adversarial_set"][1] == "50"
    assert "given images per second" in out and "8 worker(s)" in out
    assert not (tmp_path / "store").exists()


def test_a_bad_throughput_is_one_line(tmp_path, capsys):
    assert main(["plan", "--profile", "smoke", "--images-per-second", "fast"]) == 2
    assert "give a number" in capsys.readouterr().err
