import pytest

from robustness.errors import UsageError
from robustness.profiles import PRESETS, Profile, list_profiles, load_profile, parse_overrides


@pytest.mark.parametrize("name", list_profiles())
def test_every_preset_is_valid(name):
    p = load_profile(name)
    assert p.name == name
    assert Profile(**{**p.to_dict(), **{k: tuple(v) for k, v in p.to_dict().items() if isinstance(v, list)}}) == p


def test_presets_are_sorted_and_named():
    assert list_profiles() == sorted(PRESETS) == ["cifar10-cpu", "default", "open-questions", "paper", "smoke"]


def test_default_is_the_offline_grid_of_the_paper():
    p = load_profile("default")
    assert p.dataset == "digits"
    assert p.archs == ("densenet121", "mobilenet_v1", "resnet50", "vgg19")
    assert len(p.attacks) == 7 and len(p.criteria) == 3
    assert p.ratios == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
    assert p.eps == pytest.approx(8 / 255)


def test_toml_file_overrides_a_preset(tmp_path):
    f = tmp_path / "mine.toml"
    f.write_text('profile = "smoke"\nepochs = 2\neps = "4/255"\narchs = ["vgg19"]\n')
    p = load_profile("default", f)
    assert (p.epochs, p.archs, p.n_test) == (2, ("vgg19",), load_profile("smoke").n_test)
    assert p.eps == pytest.approx(4 / 255)
    assert p.name == "smoke+mine"


def test_options_override_the_file(tmp_path):
    f = tmp_path / "p.toml"
    f.write_text("epochs = 2\n")
    assert load_profile("smoke", f, parse_overrides(["epochs=3", "ratios=0,0.5"])).ratios == (0.0, 0.5)
    assert load_profile("smoke", f, {"epochs": "3"}).epochs == 3


@pytest.mark.parametrize("changes, words", [
    ({"foo": 1}, "unknown profile field 'foo'"),
    ({"archs": "resnet18"}, "unknown arch 'resnet18'"),
    ({"attacks": "square"}, "unknown attack 'square'"),
    ({"criteria": "random"}, "unknown criteri"),
    ({"sources": "oracle"}, "unknown source 'oracle'"),
    ({"dataset": "mnist"}, "unknown dataset 'mnist'"),
    ({"ratios": "0.5,1.0"}, "outside [0, 1)"),
    ({"ratios": "-0.1"}, "outside [0, 1)"),
    ({"ratios": "0.5,0.2"}, "increasing"),
    ({"ratios": ""}, "'ratios' is empty"),
    ({"archs": ""}, "'archs' is empty"),
    ({"eps": "-0.1"}, "eps -0.1 is outside [0, 1]"),
    ({"eps": "2"}, "outside [0, 1]"),
    ({"eps_list": "0.1,-1"}, "outside [0, 1]"),
    ({"epochs": "1.5"}, "expects int"),
    ({"epochs": "0"}, "at least 1"),
    ({"width": "0"}, "width 0.0"),
    ({"device": "tpu"}, "unknown device"),
    ({"prune_first_conv": "maybe"}, "expects bool"),
    ({"surrogate_seed": "0"}, "independently trained"),
])
def test_bad_settings_are_refused_with_the_fix(changes, words):
    with pytest.raises(UsageError, match=None) as err:
        load_profile("smoke", overrides=changes)
    assert words in str(err.value)


def test_bad_profile_files(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_profile("smoke", tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_profile("smoke", bad)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("epoch = 3\n")
    with pytest.raises(UsageError, match="unknown profile field 'epoch'.*valid fields are"):
        load_profile("smoke", unknown)
    with pytest.raises(UsageError, match="unknown profile 'nope'"):
        load_profile("nope")
    with pytest.raises(UsageError, match="not key=value"):
        parse_overrides(["epochs"])
