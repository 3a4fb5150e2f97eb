"""Validation of everything a user hands the suite: profile fields, options, environment variables, profile files
and the files a profile names. The CLI, the pytest plugin and `Profile` itself call it before anything is built or
written, so bad input ends in one line that names the fix (robustness.errors.UsageError).

Reading a profile never imports the code it names (`package.module:function`): only a build, or keying an
artifact, does (`check_inputs`). A profile is code, like a conftest.py (docs/security.md).
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustness.errors import UsageError

if TYPE_CHECKING:
    from robustness.profiles import Profile

# the profile's name becomes a folder (results/<name>-<hash>): a plain name, never a path
PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,99}")
FACTORY_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
MAX_CLASSES = 1000  # 32x32 images: CIFAR-100 has 100, ImageNet 1,000; a larger count is a stray label
MAX_SEED = 2**32 - 1  # numpy's and scikit-learn's seeds are 32-bit
# classes and whole train / test split sizes of the built-in datasets (digits is split 70/30)
BUILTIN_SPLITS = {"digits": (10, 1257, 540), "cifar10": (10, 50000, 10000), "cifar100": (100, 50000, 10000)}
FLAG_VALUES = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


@dataclass(frozen=True)
class Range:
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    why: str = ""

    def holds(self, v: float) -> bool:
        return (self.lo < v if self.lo_open else self.lo <= v) and (v < self.hi if self.hi_open else v <= self.hi)

    def __str__(self) -> str:
        def fmt(v: float) -> str:
            return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else f"{v:g}"
        return f"{'(' if self.lo_open else '['}{fmt(self.lo)}, {fmt(self.hi)}{')' if self.hi_open else ']'}"


EPS = "eps is Linf in [0,1] pixel space, e.g. 8/255"
# every number a profile holds, with the range that makes sense for it
RANGES: dict[str, Range] = {
    "width": Range(0, 4, lo_open=True, why="1.0 is the standard architecture"),
    "eps": Range(0, 1, why=EPS), "attack_step_size": Range(0, 1, why=EPS), "adv_train_eps": Range(0, 1, why=EPS),
    "adv_train_step_size": Range(0, 1, why=EPS),
    "lr": Range(0, 10, lo_open=True, why="a learning rate such as 0.1"),
    "finetune_lr": Range(0, 10, lo_open=True, why="a learning rate such as 0.05"),
    "weight_decay": Range(0, 1, why="an L2 penalty such as 5e-4"),
    "cw_initial_const": Range(0, 1e6, lo_open=True, why="Carlini-Wagner's trade-off constant, such as 10"),
    "threads": Range(1, 1024, why="torch threads while building"),
    "epochs": Range(1, 100_000), "batch_size": Range(1, 2**20), "attack_steps": Range(1, 100_000),
    "attack_restarts": Range(1, 1000), "attack_batch_size": Range(1, 2**20), "cw_max_iter": Range(1, 100_000),
    "cw_binary_search_steps": Range(1, 100), "deepfool_max_iter": Range(1, 100_000),
    "uap_max_iter": Range(1, 100_000), "latency_iterations": Range(1, 1_000_000), "adv_train_steps": Range(1, 1000),
    "n_train": Range(0, 10**8, why="0 is the whole split"), "n_test": Range(0, 10**8, why="0 is the whole split"),
    "n_attack": Range(0, 10**8, why="0 is the whole test split"), "finetune_epochs": Range(0, 100_000),
    "latency_warmup": Range(0, 1_000_000),
    "seed": Range(0, MAX_SEED, why="numpy and scikit-learn take 32-bit seeds"),
    "surrogate_seed": Range(0, MAX_SEED, why="numpy and scikit-learn take 32-bit seeds"),
    "query_max_iter": Range(1, 100_000, why="the query-based attack's iterations per image"),
    "query_p_init": Range(0, 1, lo_open=True, why="the fraction of pixels the first square covers (ART's default "
                                                  "0.8)"),
}


def _number_message(what: str, value: Any, rng: Range) -> str:
    if isinstance(value, int) and rng.lo == 1 and value < 1:
        return f"{what} must be at least 1, got {value}"
    return f"{what} {value} is outside {rng}" + (f": {rng.why}" if rng.why else "")


def check_number(name: str, value: Any, rng: Range | None = None, what: str | None = None) -> None:
    """A finite number inside its range (NaN and infinity are never settings)."""
    rng = rng or RANGES[name]
    what = what or name
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise UsageError(f"{what} is {value}: give a finite number in {rng}" + (f" ({rng.why})" if rng.why else ""))
    if not rng.holds(value):
        raise UsageError(_number_message(what, value, rng))


# profiles ------------------------------------------------------------------------------------------------------
def check_name(name: str) -> None:
    if not isinstance(name, str) or not PLAIN_NAME.fullmatch(name):
        raise UsageError(f"profile name {name!r} is not a plain name: it names the results folder, so use letters, "
                         "digits, '-', '_', '.' and '+' only (at most 100, starting with a letter or digit)")


def plain_name(text: str) -> str:
    """A file's stem as a part of a profile name (`smoke+my profile` becomes `smoke+my-profile`)."""
    return re.sub(r"[^A-Za-z0-9._+-]", "-", text).strip("-.") or "file"


def check_factory_path(path: str, what: str) -> None:
    """The form `package.module:function`, checked without importing anything."""
    if not FACTORY_PATH.fullmatch(path):
        raise UsageError(f"{what} {path!r} is not of the form package.module:function (dotted Python names)")


def _check_names(field_name: str, values: tuple[str, ...], valid: list[str]) -> None:
    if not values:
        raise UsageError(f"profile field {field_name!r} is empty: give at least one of {', '.join(valid)}")
    for value in values:
        if value not in valid:
            raise UsageError(f"unknown {field_name[:-1] if field_name.endswith('s') else field_name} "
                             f"{value!r} in profile field {field_name!r}: choose from {', '.join(valid)}")
    if len(set(values)) != len(values):
        raise UsageError(f"profile field {field_name!r} repeats a value: {list(values)}")


def check_profile(p: Profile) -> None:
    """Every field of a profile: types, ranges, registry names and the files it names (that they exist; their
    content is read by check_inputs, before a build). Imports nothing the profile names."""
    from robustness import profiles as pr

    check_name(p.name)
    for f in fields(p):
        value = getattr(p, f.name)
        if f.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise UsageError(f"profile field {f.name!r} expects int, got {value!r}")
        if f.name in RANGES:
            check_number(f.name, value)
    if pr.is_factory_path(p.dataset):
        check_factory_path(p.dataset, "dataset factory")
    elif p.dataset not in pr.DATASETS:
        raise UsageError(f"unknown dataset {p.dataset!r}: choose from {', '.join(pr.DATASETS)} "
                         "or give a dataset factory package.module:function")
    if p.dataset == "npz":
        if not Path(p.data_path).is_dir():
            raise UsageError(f"dataset npz needs data_path, the folder holding data.npz; got {p.data_path!r}, "
                             "which is not a folder")
        if not (Path(p.data_path) / "data.npz").is_file():
            raise UsageError(f"{Path(p.data_path) / 'data.npz'} does not exist: set data_path to a folder holding "
                             "data.npz with arrays x_train, y_train, x_test, y_test")
    for arch in p.archs:
        if pr.is_factory_path(arch):
            check_factory_path(arch, "model factory")
    _check_names("archs", p.archs, pr.ZOO + [a for a in p.archs if pr.is_factory_path(a)])
    if p.checkpoint:
        if len(p.archs) != 1:
            raise UsageError(f"checkpoint {p.checkpoint} is for one architecture, but archs has {len(p.archs)}: "
                             "set archs to the checkpoint's architecture only")
        if not Path(p.checkpoint).is_file():
            raise UsageError(f"checkpoint {p.checkpoint} is not a file: give the path of a state dict saved with "
                             "torch.save(model.state_dict(), path)")
        if "adversarial" in p.training:
            raise UsageError("a checkpoint is your standard-trained victim; adversarial training trains its own: "
                             "set training = ['standard'] with a checkpoint")
    _check_names("attacks", p.attacks, pr.ATTACKS)
    for name in p.curve_attacks:
        if name not in pr.LINF_ATTACKS or name == "uap":
            raise UsageError(f"curve attack {name!r} is not an eps-bounded per-image attack: choose from "
                             "apgd, bim, fgsm, pgd")
    _check_names("criteria", p.criteria, pr.CRITERIA)
    _check_names("sources", p.sources, pr.SOURCES)
    _check_names("pruned_source_attacks", p.pruned_source_attacks, pr.ATTACKS)
    _check_names("training", p.training, pr.TRAININGS)
    if "standard" not in p.training:
        raise UsageError(f"profile field 'training' is {list(p.training)}: it must hold 'standard' (the adversarial "
                         "arm is compared with it), e.g. training = ['standard', 'adversarial']")
    for field_name, valid in (("adv_train_method", pr.ADV_TRAIN_METHODS), ("device", pr.DEVICES),
                              ("memory_format", pr.MEMORY_FORMATS), ("query_attack", pr.QUERY_ATTACKS),
                              ("gate_inconclusive", pr.GATE_POLICIES)):
        if getattr(p, field_name) not in valid:
            raise UsageError(f"unknown {field_name} {getattr(p, field_name)!r}: choose from {', '.join(valid)}")
    if p.adv_train_method == "fgsm_rs" and p.adv_train_steps != 1:
        raise UsageError(f"adv_train_method fgsm_rs takes one step, but adv_train_steps is {p.adv_train_steps}: "
                         "set adv_train_steps=1 or adv_train_method=pgd")
    if not p.ratios:
        raise UsageError("profile field 'ratios' is empty: give pruning ratios in [0, 1), e.g. [0, 0.1, 0.5]")
    for r in p.ratios:
        check_number("ratio", r, Range(0, 1, hi_open=True, why="a ratio is the fraction of filters removed, such "
                                       "as 0.5; 0 is the control arm (the same fine-tuning, no pruning)"),
                     what="pruning ratio")
    if list(p.ratios) != sorted(set(p.ratios)):
        raise UsageError(f"pruning ratios must be increasing and distinct (pruning is stepwise): {list(p.ratios)}")
    for e in p.eps_list:
        check_number("eps", e, what="eps in eps_list")
    if p.seed == p.surrogate_seed and "surrogate" in p.sources:
        raise UsageError("surrogate_seed equals seed: the surrogate must be an independently trained model")
    if p.dataset in BUILTIN_SPLITS:
        classes, whole_train, whole_test = BUILTIN_SPLITS[p.dataset]
        check_split_sizes(p, classes, whole_train, whole_test, p.dataset)


def check_split_sizes(p: Profile, classes: int, whole_train: int, whole_test: int, origin: str) -> None:
    """A stratified subset takes at least one image of each class, and leaves at least one of each behind."""
    n_test = p.n_test if p.n_test and p.n_test < whole_test else whole_test
    for name, n, whole in (("n_train", p.n_train, whole_train), ("n_test", p.n_test, whole_test),
                           ("n_attack", p.n_attack, n_test)):
        if n == 0 or n >= whole:
            continue
        if n < classes:
            raise UsageError(f"{name} {n} is less than the {classes} classes of {origin}: a stratified subset "
                             f"takes at least one image per class; give 0 (all) or at least {classes}")
        if whole - n < classes:
            raise UsageError(f"{name} {n} leaves fewer than {classes} of the {whole} images of {origin} out of a "
                             f"stratified subset: give at most {whole - classes}, or 0 for all {whole}")


def read_profile_file(path: str | Path) -> dict[str, Any]:
    """A profile file's tables, or one line naming what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise UsageError(f"profile file {path} does not exist: give the path of a TOML file") from None
    except IsADirectoryError:
        raise UsageError(f"profile file {path} is a folder: give the path of a TOML file") from None
    except OSError as exc:
        raise UsageError(f"profile file {path} cannot be read ({exc.strerror or exc}): give a readable TOML "
                         "file") from None
    except UnicodeDecodeError:
        raise UsageError(f"profile file {path} is not UTF-8 text: save it as UTF-8 (TOML files are UTF-8)") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"profile file {path} is not valid TOML ({exc}): fix the line it names") from None
    except RecursionError:
        raise UsageError(f"profile file {path} nests arrays or tables too deeply to read: a profile's values are "
                         "flat lists of names or numbers") from None
    for table in ("threshold", "variant"):  # arrays of tables read by their own modules
        if table in data and not (isinstance(data[table], list) and all(isinstance(t, dict) for t in data[table])):
            raise UsageError(f"profile file {path}: `{table}` must be [[{table}]] tables, got "
                             f"{str(data[table])[:60]}")
    return data


def number(raw: Any) -> float:
    """A number as a profile writes it, fractions too (`8/255`); ValueError for anything else, 8/0 included."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        try:
            return float(raw)
        except OverflowError:
            raise ValueError(raw) from None
    text = str(raw).strip()
    try:
        if "/" in text:
            num, den = text.split("/", 1)
            return float(num) / float(den)
        return float(text)
    except (ZeroDivisionError, OverflowError):
        raise ValueError(text) from None


# options and environment variables -------------------------------------------------------------------------------
def split_overrides(text: str) -> list[str]:
    """ROBUSTNESS_SET: several `key=value` overrides separated by `;` (or by commas, where the next piece is a new
    `key=`): `attacks=pgd,fgsm;epochs=3` and `epochs=3,attacks=pgd,fgsm` both keep the attack list whole."""
    items: list[str] = []
    for part in re.split(r"[;\n]", text):
        start = len(items)
        for piece in part.split(","):
            if not piece.strip():
                continue
            if "=" in piece or len(items) == start:
                items.append(piece.strip())
            else:
                items[-1] += "," + piece.strip()
    return items


def env_flag(name: str, text: str) -> bool:
    if text.strip().lower() not in FLAG_VALUES:
        raise UsageError(f"${name} is {text!r}: give 1, true or yes to set it, 0, false or no (or nothing) to clear "
                         "it")
    return FLAG_VALUES[text.strip().lower()]


def check_jobs(jobs: int) -> None:
    cores = os.cpu_count() or 1
    check_number("jobs", jobs, Range(1, 4 * cores, why=f"build processes; more than 4 per core ({cores} here) only "
                                     "oversubscribes them"), what="--jobs")


def check_workers(workers: int | None) -> None:
    if workers is not None:
        check_number("workers", workers, Range(1, 100_000, why="parallel builders of the estimate"), what="--workers")


def images_per_second(text: str | None, archs: tuple[str, ...]) -> dict[str, float] | None:
    """`2000` for every architecture, or `resnet50=1500,vgg19=4000` (names of the profile's architectures)."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        arch, _, num = item.rpartition("=")
        arch = arch.strip() or "*"
        if arch != "*" and arch not in archs:
            raise UsageError(f"--images-per-second {text!r}: {arch!r} is not an architecture of the profile: choose "
                             f"from {', '.join(archs)}")
        try:
            out[arch] = float(num)
        except ValueError:
            raise UsageError(f"--images-per-second {text!r}: give a number, or arch=number pairs "
                             "separated by commas") from None
        if not (math.isfinite(out[arch]) and 0 < out[arch] <= 1e9):
            raise UsageError(f"--images-per-second {text!r}: throughputs must be finite and positive (at most "
                             "1e9), e.g. 2000")
    return out


def check_folder_option(text: str | None, option: str) -> None:
    """An empty folder option is a mistake, never the working folder."""
    if text is not None and not str(text).strip():
        raise UsageError(f"{option} is empty: give a folder (leave the option out for the default)")


# folders ---------------------------------------------------------------------------------------------------------
STORE_PARTS = ("objects", "locks", "tmp", "corrupt", "replaced", "events.jsonl")


def _nearest_existing(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable_folder(folder: Path, what: str, fix: str) -> None:
    """A folder that exists, or can be made, and can be written; nothing is created to find out (StoreError when
    it cannot be written)."""
    from robustness.errors import StoreError

    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{what} {folder} is a file, not a folder: {fix}")
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise StoreError(f"{what} {folder} cannot be written ({base} is a file, not a folder): {fix}")
    if not os.access(base, os.W_OK | os.X_OK):
        raise StoreError(f"{what} {folder} cannot be written ({base}: permission denied): {fix}")


def check_store_root(root: Path, read_only: bool = False, rebuild: bool = False) -> None:
    """The store's folder before anything is written: a folder (or one that can be made), and none of the store's
    own parts a symbolic link, through which the store would write somewhere else."""
    fix = "give a folder with --cache-dir (pytest: --robustness-cache-dir) or ROBUSTNESS_CACHE_DIR"
    if read_only and rebuild:
        raise UsageError("a read-only store cannot rebuild: drop one of read-only and rebuild")
    if root.exists() and not root.is_dir():
        raise UsageError(f"cache path {root} is a file, not a folder: {fix}")
    if read_only:
        if not (root / "objects").is_dir():
            raise UsageError(f"read-only store {root} has no objects/ folder: give the folder a build wrote "
                             "(--cache-dir), or drop read-only to build here")
        return
    for part in STORE_PARTS:
        if (root / part).is_symlink():
            raise UsageError(f"{root / part} is a symbolic link: the store writes only into its own folders; "
                             "remove the link (or give another cache folder)")
    check_writable_folder(root, "cache folder", fix)


def check_results_folder(folder: Path) -> None:
    check_writable_folder(folder, "results folder", "give a writable folder with --robustness-results-dir")


def no_symlink(path: Path, what: str = "") -> None:
    """Refuse to write through a link the suite did not make (a check made right before the write)."""
    if path.is_symlink():
        raise UsageError(f"{path} is a symbolic link: the suite does not write through links it did not make; "
                         f"remove it{what}")


def inside(folder: Path, name: str) -> Path:
    """`folder / name` for a name read from a file (a manifest's): relative and never leading out of the folder."""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts:
        raise ValueError(f"file name {name!r} leads out of its folder")
    return folder / name


# JSON the suite reads ------------------------------------------------------------------------------------------------
def read_json(path: Path, fix: str) -> Any:
    """A JSON file, or one line naming the file and the fix (a missing file is the caller's to handle)."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: JSONDecodeError and UnicodeDecodeError
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc).splitlines()[0][:120]
        raise UsageError(f"{path} cannot be read as JSON ({reason}): {fix}") from None


def check_package_data() -> None:
    """The suite's own JSON (stage versions, expected failures) loads, or one line says how to restore it."""
    from robustness import expected, stages

    stages.recorded()
    expected.load()


# the files and code a profile names: read before the first artifact is stored ----------------------------------------
def check_inputs(profile: Profile, deep: bool = True, import_code: bool = True) -> None:
    """Your factories import, your checkpoint is a whole state dict and your data.npz holds the documented arrays,
    checked before anything is stored. `import_code` imports the factories (a build does; reading a profile never
    does); `deep` loads the checkpoint with torch as a build will."""
    from robustness import profiles as pr

    factories = [(a, "model factory") for a in profile.archs if pr.is_factory_path(a)]
    if pr.is_factory_path(profile.dataset):
        factories.append((profile.dataset, "dataset factory"))
    if factories and import_code:
        from robustness.models import import_factory  # imports torch: only for your own factories

        for path, what in factories:
            import_factory(path, what)
    if profile.checkpoint:
        check_checkpoint(Path(profile.checkpoint), deep)
    if profile.dataset == "npz":
        check_npz(profile)


def check_checkpoint(path: Path, deep: bool = True) -> None:
    """torch.save writes a zip archive: its members' checksums find a truncated or damaged file without torch;
    `deep` also loads it as torch will (weights only)."""
    import zipfile

    fix = "save it with torch.save(model.state_dict(), path)"
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as z:
                bad = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise UsageError(f"checkpoint {path} is damaged ({exc}): {fix}") from None
        if bad is not None:
            raise UsageError(f"checkpoint {path} is damaged (member {bad} fails its checksum): {fix}")
    elif not deep:
        raise UsageError(f"checkpoint {path} is not a torch.save archive (truncated, or not a checkpoint): {fix}")
    if deep:
        from robustness.errors import CorruptArtifactError
        from robustness.store import load_state_dict

        try:
            load_state_dict(path)
        except CorruptArtifactError as exc:
            raise UsageError(f"checkpoint {exc}: {fix}") from None


def check_npz(profile: Profile) -> None:
    """data.npz read and checked as a build reads it (layout, finite pixels in [0, 1], class labels), and the
    profile's subset sizes against its classes and splits."""
    path = Path(profile.data_path) / "data.npz"
    st = path.stat()
    classes, n_train, n_test = _npz_summary(str(path.resolve()), st.st_mtime_ns, st.st_size)
    check_split_sizes(profile, classes, n_train, n_test, str(path))
    from robustness.profiles import check_calibration

    check_calibration(profile, min(profile.n_train, n_train) if profile.n_train else n_train)


@functools.lru_cache(maxsize=4)  # once per process and file version
def _npz_summary(path: str, mtime_ns: int, size: int) -> tuple[int, int, int]:
    from robustness.data import load_npz_split

    split = load_npz_split(Path(path).parent, 0, 0, 0)
    return split.num_classes, len(split.y_train), len(split.y_test)
