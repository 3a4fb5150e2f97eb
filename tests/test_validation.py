"""Bad input answered in one line that names the fix, before anything is built or written: profile fields and
files, options and environment variables (robustness.validation), through the library, the CLI and pytest."""

import sys

import pytest

from robustness.cli import main
from robustness.errors import UsageError
from robustness.profiles import load_profile


@pytest.mark.parametrize("changes, words", [
    ({"eps": "8/0"}, "'eps' expects float"),
    ({"eps": "1/0"}, "'eps' expects float"),
    ({"lr": "inf"}, "lr is inf: give a finite number"),
    ({"lr": "1e999"}, "lr is inf: give a finite number"),
    ({"weight_decay": "nan"}, "weight_decay is nan: give a finite number"),
    ({"finetune_lr": "-0.1"}, "finetune_lr -0.1 is outside (0, 10]"),
    ({"cw_initial_const": "nan"}, "cw_initial_const is nan"),
    ({"eps_list": "nan"}, "eps in eps_list is nan"),
    ({"ratios": "0,nan"}, "pruning ratio is nan"),
    ({"epochs": 10**30}, "epochs 1000000000000000000000000000000 is outside [1, 100000]"),
    ({"seed": 10**20}, "seed 100000000000000000000 is outside [0, 4294967295]: numpy and scikit-learn"),
    ({"threads": 10**20}, "threads 100000000000000000000 is outside [1, 1024]"),
    ({"batch_size": "0"}, "batch_size must be at least 1"),
    ({"n_train": "5"}, "n_train 5 is less than the 10 classes of digits"),
    ({"n_train": "1250"}, "n_train 1250 leaves fewer than 10 of the 1257 images of digits"),
    ({"n_attack": "3"}, "n_attack 3 is less than the 10 classes"),
    ({"dataset": "cifar100", "n_test": "50"}, "n_test 50 is less than the 100 classes of cifar100"),
    ({"name": "../../x"}, "profile name '../../x' is not a plain name"),
    ({"name": "/etc/cron.d/x"}, "profile name '/etc/cron.d/x' is not a plain name"),
    ({"name": ".."}, "is not a plain name"),
    ({"archs": "my model:fn"}, "is not of the form package.module:function"),
])
def test_bad_numbers_and_names_are_refused_in_one_line(changes, words):
    with pytest.raises(UsageError) as err:
        load_profile("smoke", overrides=changes)
    assert words in str(err.value) and "\n" not in str(err.value), str(err.value)


def test_the_built_in_split_sizes_are_the_loaders():
    from robustness.data import load_digits_split
    from robustness.validation import BUILTIN_SPLITS

    split = load_digits_split(0, 0, seed=0)
    assert BUILTIN_SPLITS["digits"] == (split.num_classes, len(split.y_train), len(split.y_test))


def test_a_file_profile_is_named_by_a_plain_name():
    from robustness.validation import plain_name

    assert plain_name("my profile (v2)") == "my-profile--v2" and plain_name("../..") == "file"


NESTED = "archs = " + "[" * 2000 + "]" * 2000 + "\n"


@pytest.mark.parametrize("write, words", [
    (lambda p: p.write_text('epochs = 2\n', encoding="utf-16"), "is not UTF-8 text: save it as UTF-8"),
    (lambda p: p.write_text(NESTED), "nests arrays or tables too deeply"),
    (lambda p: p.mkdir(), "is a folder: give the path of a TOML file"),
    (lambda p: p.write_text("threshold = [1, 2]\n"), "`threshold` must be [[threshold]] tables"),
    (lambda p: p.write_text('eps = "8/0"\n'), "'eps' expects float"),
    (lambda p: p.write_text('name = "../../x"\n'), "is not a plain name"),
])
def test_bad_profile_files_are_one_line(tmp_path, capsys, write, words):
    path = tmp_path / "mine.toml"
    write(path)
    with pytest.raises(UsageError) as err:
        load_profile("smoke", path)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert main(["profile", "--profile-file", str(path)]) == 2
    err_text = capsys.readouterr().err.strip()
    assert words in err_text and len(err_text.splitlines()) == 1


def test_robustness_set_keeps_a_list_value_whole():
    from robustness.validation import split_overrides

    assert split_overrides("attacks=pgd,fgsm") == ["attacks=pgd,fgsm"]
    assert split_overrides("attacks=pgd,fgsm;epochs=3") == ["attacks=pgd,fgsm", "epochs=3"]
    assert split_overrides("epochs=3,attacks=pgd,fgsm,eps=4/255") == ["epochs=3", "attacks=pgd,fgsm", "eps=4/255"]
    assert split_overrides("epochs=3;") == ["epochs=3"]


@pytest.mark.parametrize("args, words", [
    (["plan", "--profile", "smoke", "--images-per-second", "nan"], "throughputs must be finite and positive"),
    (["plan", "--profile", "smoke", "--images-per-second", "inf"], "throughputs must be finite and positive"),
    (["plan", "--profile", "smoke", "--images-per-second", "resnet18=100"], "'resnet18' is not an architecture"),
    (["plan", "--profile", "smoke", "--workers", "0"], "--workers must be at least 1"),
    (["build", "--profile", "smoke", "--jobs", str(10**6)], "--jobs 1000000 is outside [1, "),
    (["build", "--profile", "smoke", "--cache-dir", ""], "--cache-dir is empty"),
    (["build", "--profile", "smoke", "--set", "eps=8/0"], "'eps' expects float"),
    (["build", "--profile", "smoke", "--set", "seed=100000000000000000000"], "32-bit seeds"),
    (["build", "--profile", "smoke", "--set", "name=../../x"], "is not a plain name"),
], ids=["ips nan", "ips inf", "ips unknown arch", "workers 0", "jobs 10**6", "empty cache dir", "eps 8 over 0",
        "seed 10**20", "name a path"])
def test_bad_options_exit_2_with_one_line_and_write_nothing(args, words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", str(tmp_path / "store"))
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1, err
    assert not list(tmp_path.iterdir())


FACTORY = """
from pathlib import Path

Path(__file__).with_name("imported.txt").write_text("imported")


def small(num_classes):
    raise RuntimeError("never called here")
"""


def test_reading_a_profile_imports_nothing_it_names(tmp_path, monkeypatch, capsys):
    """`profile`, `expected` and loading a profile leave the code a profile names alone; a build imports it (a
    stage needs it) and, when it cannot be imported, stores nothing."""
    (tmp_path / "their_factory.py").write_text(FACTORY)
    path = tmp_path / "theirs.toml"
    path.write_text('profile = "smoke"\narchs = ["their_factory:small"]\ndataset = "their_factory:data"\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    load_profile("smoke", path)
    assert main(["profile", "--profile-file", str(path)]) == 0
    assert main(["expected", "--profile-file", str(path)]) == 0
    assert "their_factory" not in sys.modules and not (tmp_path / "imported.txt").exists()
    capsys.readouterr()
    assert main(["build", "--profile-file", str(path), "--cache-dir", str(tmp_path / "store")]) == 2
    err = capsys.readouterr().err.strip()
    assert "dataset factory 'their_factory:data': module 'their_factory' has no callable 'data'" in err, err
    assert (tmp_path / "imported.txt").exists() and not (tmp_path / "store").exists()
    sys.modules.pop("their_factory", None)


def _run(pytester, monkeypatch, *args, env=None):
    pytester.makepyfile(test_uses_suite="def test_build(store, profile):\n    store.get('x', {}, [], "
                                        "lambda tmp: (tmp / 'x').write_text('x'))\n")
    for key, val in (env or {}).items():
        monkeypatch.setenv(key, val)
    return pytester.runpytest_subprocess(*args, "-p", "no:cacheprovider")


def _cases(tmp):
    utf16 = tmp / "utf16.toml"
    utf16.write_text("epochs = 2\n", encoding="utf-16")
    thresholds = tmp / "thresholds.toml"
    thresholds.write_text("threshold = [1, 2]\n")
    a_file = tmp / "a_file"
    a_file.write_text("")
    import torch

    truncated = tmp / "model.pt"
    torch.save(torch.nn.Linear(64, 10).state_dict(), truncated)
    truncated.write_bytes(truncated.read_bytes()[:-200])
    store = f"--robustness-cache-dir={tmp / 'store'}"
    return {
        "cuda on a CPU machine": ([store, "--robustness-set", "device=cuda"], {}, "no GPU is visible"),
        "unknown profile, -q": ([store, "--robustness-profile", "nosuch", "-q"], {}, "unknown profile 'nosuch'"),
        "eps=1/0": ([store, "--robustness-set", "eps=1/0"], {}, "'eps' expects float"),
        "lr=inf": ([store, "--robustness-set", "lr=inf"], {}, "lr is inf"),
        "read-only and rebuild": ([store, "--robustness-read-only", "--robustness-rebuild"], {},
                                  "a read-only store cannot rebuild"),
        "cache dir that is a file": ([f"--robustness-cache-dir={a_file}"], {}, "is a file, not a folder"),
        "empty cache dir option": ([store, "--robustness-cache-dir="], {}, "--robustness-cache-dir is empty"),
        "threshold = [1, 2]": ([store, f"--robustness-profile-file={thresholds}"], {}, "[[threshold]] tables"),
        "UTF-16 profile file": ([store, f"--robustness-profile-file={utf16}"], {}, "is not UTF-8 text"),
        "a flag variable that is no flag": ([store], {"ROBUSTNESS_READ_ONLY": "maybe"}, "$ROBUSTNESS_READ_ONLY is"),
        "a name that is a path": ([store, "--robustness-set", "name=../../x"], {}, "is not a plain name"),
        "a truncated checkpoint": ([store, "--robustness-set", "archs=vgg19", "--robustness-set",
                                    f"checkpoint={truncated}"], {}, "(truncated, or not a checkpoint)"),
    }


@pytest.mark.parametrize("case", [
    "cuda on a CPU machine", "unknown profile, -q", "eps=1/0", "lr=inf", "read-only and rebuild",
    "cache dir that is a file", "empty cache dir option", "threshold = [1, 2]", "UTF-16 profile file",
    "a flag variable that is no flag", "a name that is a path", "a truncated checkpoint"])
def test_pytest_refuses_bad_input_once_before_collection_with_exit_4(pytester, monkeypatch, tmp_path, case):
    args, env, words = _cases(tmp_path)[case]
    if case.startswith("cuda"):
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    result = _run(pytester, monkeypatch, *args, env=env)
    out = [line for line in (result.stdout.lines + result.stderr.lines) if line.strip()]
    assert result.ret == 4, "\n".join(out[-30:])
    assert len(out) == 1 and words in out[0], "\n".join(out[-30:])  # no traceback, no "collected"
    assert not (tmp_path / "store").exists()


@pytest.mark.parametrize("value", ["attacks=pgd,fgsm", "attacks=pgd,fgsm;epochs=3", "epochs=3,attacks=pgd,fgsm"])
def test_robustness_set_in_the_environment_takes_a_list(pytester, monkeypatch, tmp_path, value):
    pytester.makepyfile(test_env="def test_profile(profile):\n    assert profile.attacks == ('pgd', 'fgsm')\n")
    monkeypatch.setenv("ROBUSTNESS_SET", value)
    result = pytester.runpytest_subprocess("--robustness-profile=smoke", f"--robustness-cache-dir={tmp_path}",
                                           "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
