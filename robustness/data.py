"""Data: the train/test split every artifact is built from (second box of the data flow).

All datasets come out the same way: float32 N x 3 x 32 x 32 images in [0, 1] and int64 labels, plus the per-channel
mean and std of the training images (the model normalises inside itself).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustness.errors import UsageError
from robustness.validation import MAX_CLASSES

CIFAR_FILES = {
    "cifar10": ("cifar-10-batches-py", ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4",
                                        "data_batch_5", "test_batch", "batches.meta"]),
    "cifar100": ("cifar-100-python", ["train", "test", "meta"]),
}
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "digits": 10}


@dataclass(frozen=True)
class Split:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def mean(self) -> list[float]:
        return [float(v) for v in self.x_train.mean(axis=(0, 2, 3))]

    @property
    def std(self) -> list[float]:
        return [float(v) for v in self.x_train.std(axis=(0, 2, 3))]


def default_data_dir() -> Path:
    """$ROBUSTNESS_DATA_DIR, else ~/.cache/robustness/data; an empty variable is unset, never the working folder."""
    given = os.environ.get("ROBUSTNESS_DATA_DIR", "").strip()
    return Path(given) if given else Path.home() / ".cache" / "robustness" / "data"


def _subsample(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, stratified index set: the same n images whatever the machine."""
    if n == 0 or n >= len(y):
        return x, y
    from sklearn.model_selection import train_test_split

    try:
        idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    except ValueError as exc:  # fewer images than classes on one side of the split
        raise UsageError(f"a stratified subset of {n} of {len(y)} images is impossible ({exc}): give 0 (all "
                         "images) or a size that leaves every class on both sides") from None
    idx = np.sort(idx)
    return x[idx], y[idx]


def load_digits_split(n_train: int, n_test: int, seed: int) -> Split:
    """scikit-learn's shipped 8x8 digits, upsampled to 32x32 and repeated to three channels."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    images = torch.nn.functional.interpolate(images, size=(32, 32), mode="bilinear", align_corners=False)
    x = images.clamp(0, 1).repeat(1, 3, 1, 1).numpy().astype(np.float32)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, stratify=y, random_state=seed)
    x_tr, y_tr = _subsample(x_tr, y_tr, n_train, seed)
    x_te, y_te = _subsample(x_te, y_te, n_test, seed)
    return Split(x_tr, y_tr, x_te, y_te, 10)


def _cifar_missing_message(name: str, root: Path, reason: str) -> str:
    folder, files = CIFAR_FILES[name]
    return (f"{name} is not available ({reason}): put the extracted archive in {root / folder} "
            f"(files {', '.join(files)}), or pass --data-dir / set ROBUSTNESS_DATA_DIR to the folder holding "
            f"{folder}, or run once on a machine with internet access to download it")


def load_cifar_split(name: str, root: Path | None, n_train: int, n_test: int, seed: int,
                     download: bool = True) -> Split:
    """CIFAR with torchvision's archive, file list and checksums: downloaded where the machine is online, else read
    from `root`. Each batch is read once: its MD5 is checked on the very bytes that are then unpickled (torchvision
    checks a file, then opens it again to load it), and only by an unpickler that rebuilds numpy arrays."""
    from torchvision import datasets

    root = Path(root) if root is not None else default_data_dir()
    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    folder, _ = CIFAR_FILES[name]
    try:
        if download and not (root / folder).is_dir():
            from torchvision.datasets import utils

            utils.download_and_extract_archive(cls.url, str(root), filename=cls.filename, md5=cls.tgz_md5)
        x_tr, y_tr = _read_cifar(root / cls.base_folder, cls.train_list)
        x_te, y_te = _read_cifar(root / cls.base_folder, cls.test_list)
    except (OSError, ValueError, EOFError, RuntimeError) as exc:  # no network, a missing, truncated or foreign file
        reason = str(exc).strip().rstrip(".") if isinstance(exc, RuntimeError) else f"{type(exc).__name__}: {exc}"
        raise UsageError(_cifar_missing_message(name, root, reason)) from None
    except pickle.UnpicklingError as exc:
        raise UsageError(_cifar_missing_message(name, root, f"corrupt archive: {exc}")) from None
    x_tr, y_tr = _subsample(x_tr, y_tr, n_train, seed)
    x_te, y_te = _subsample(x_te, y_te, n_test, seed)
    return Split(x_tr, y_tr, x_te, y_te, NUM_CLASSES[name])


class _ArrayUnpickler(pickle.Unpickler):
    """CIFAR's batches are dicts of numpy arrays, lists and strings: nothing else may be built while loading."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR batch may not name {module}.{name}")
        return super().find_class(module, name)


def _read_cifar(folder: Path, files: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """Batches as N x 3 x 32 x 32 float32 in [0, 1] and int64 labels, each checked against torchvision's MD5."""
    import hashlib
    import io

    xs, ys = [], []
    for name, md5 in files:
        payload = (folder / name).read_bytes()  # once: the bytes checked are the bytes loaded
        if hashlib.md5(payload, usedforsecurity=False).hexdigest() != md5:
            raise RuntimeError(f"Dataset not found or corrupted: {name} fails its MD5 checksum")
        entry = _ArrayUnpickler(io.BytesIO(payload), encoding="latin1").load()
        xs.append(np.asarray(entry["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
        ys.extend(entry["labels"] if "labels" in entry else entry["fine_labels"])
    return np.concatenate(xs).astype(np.float32) / 255.0, np.asarray(ys, dtype=np.int64)


def _as_images(x: np.ndarray) -> np.ndarray:
    """float32 N x 3 x 32 x 32 in [0, 1] as is; uint8 N x 32 x 32 x 3 (as images are usually saved) converted."""
    if x.dtype == np.uint8 and x.ndim == 4 and x.shape[-1] == 3:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
    return x


def _finish(x_tr, y_tr, x_te, y_te, n_train: int, n_test: int, seed: int, origin: str) -> Split:
    x_tr, x_te = _as_images(np.asarray(x_tr)), _as_images(np.asarray(x_te))
    y_tr, y_te = np.asarray(y_tr).astype(np.int64), np.asarray(y_te).astype(np.int64)
    check_images(x_tr, y_tr, f"{origin} (train)")
    check_images(x_te, y_te, f"{origin} (test)")
    if min(len(y_tr), len(y_te)) == 0 or min(y_tr.min(), y_te.min()) < 0:
        raise UsageError(f"{origin}: train and test need images, and labels must be 0, 1, ... (class indices)")
    classes = int(max(y_tr.max(), y_te.max())) + 1
    if classes > MAX_CLASSES or len(np.unique(y_tr)) != classes:  # the class count is the largest label's
        raise UsageError(f"{origin}: labels must be the class indices 0 to K-1, K at most {MAX_CLASSES}, each class "
                         f"in the training split; got {len(np.unique(y_tr))} classes in training, labels up to "
                         f"{classes - 1}")
    return resample(Split(x_tr, y_tr, x_te, y_te, classes), n_train, n_test, seed)


def resample(split: Split, n_train: int, n_test: int, seed: int) -> Split:
    """The profile's fixed stratified subsets of a whole split (0: all of it)."""
    return Split(*_subsample(split.x_train, split.y_train, n_train, seed),
                 *_subsample(split.x_test, split.y_test, n_test, seed), split.num_classes)


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def load_npz_split(folder: Path, n_train: int, n_test: int, seed: int) -> Split:
    """Your own data: `folder/data.npz` with x_train, y_train, x_test, y_test (see the README's Data section)."""
    path = Path(folder) / "data.npz"
    if not path.is_file():
        raise UsageError(f"{path} does not exist: set data_path to a folder holding data.npz with arrays "
                         f"{', '.join(NPZ_KEYS)}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as exc:  # zip, header or pickle errors: all mean the file is not a plain npz
        raise UsageError(f"{path} is not a readable npz without object arrays ({type(exc).__name__}: {exc}): "
                         "save it with numpy.savez") from None
    missing = [k for k in NPZ_KEYS if k not in arrays]
    if missing:
        raise UsageError(f"{path} lacks {', '.join(missing)}: it needs arrays {', '.join(NPZ_KEYS)}")
    return _finish(*(arrays[k] for k in NPZ_KEYS), n_train, n_test, seed, str(path))


def load_factory_split(path: str, n_train: int, n_test: int, seed: int) -> Split:
    """A torchvision-style dataset factory `package.module:function(train: bool)` giving (image, label) items."""
    import torch
    from torchvision.transforms.functional import pil_to_tensor

    from robustness.models import import_factory

    fn = import_factory(path, "dataset factory")
    parts = []
    for train in (True, False):
        ds = fn(train=train)
        xs, ys = [], []
        for i in range(len(ds)):
            img, label = ds[i]
            if not isinstance(img, torch.Tensor):  # a PIL image, as torchvision datasets give without transform
                img = pil_to_tensor(img).float() / 255.0
            xs.append(img.float().numpy())
            ys.append(int(label))
        parts += [np.stack(xs).astype(np.float32) if xs else np.zeros((0, 3, 32, 32), np.float32),
                  np.array(ys, dtype=np.int64)]
    return _finish(*parts, n_train, n_test, seed, f"dataset factory {path}")


def load_split(dataset: str, n_train: int, n_test: int, seed: int, data_dir: Path | None = None,
               data_path: str = "") -> Split:
    if dataset == "npz":
        return load_npz_split(Path(data_path), n_train, n_test, seed)
    if ":" in dataset:
        return load_factory_split(dataset, n_train, n_test, seed)
    if dataset == "digits":
        return load_digits_split(n_train, n_test, seed)
    if dataset in CIFAR_FILES:
        return load_cifar_split(dataset, data_dir, n_train, n_test, seed)
    raise UsageError(f"unknown dataset {dataset!r}: choose from {', '.join(sorted(NUM_CLASSES))}")


def check_images(x: np.ndarray, y: np.ndarray, origin: str) -> None:
    """The documented layout: float32 N x 3 x 32 x 32 in [0, 1], int64 labels."""
    if x.dtype != np.float32 or x.ndim != 4 or x.shape[1:] != (3, 32, 32):
        raise UsageError(f"{origin}: x must be float32 N x 3 x 32 x 32, got {x.dtype} {x.shape}")
    if y.dtype != np.int64 or y.shape != (x.shape[0],):
        raise UsageError(f"{origin}: y must be int64 of length {x.shape[0]}, got {y.dtype} {y.shape}")
    if x.size and not (x.min() >= 0 and x.max() <= 1):  # NaN fails both comparisons
        raise UsageError(f"{origin}: pixel values must be finite and lie in [0, 1], got [{x.min():.3f}, "
                         f"{x.max():.3f}]")
