import hashlib
import pickle

import numpy as np
import pytest
from torchvision import datasets

from robustness import data
from robustness.errors import UsageError


def test_digits_split_is_32x32x3_in_unit_range_and_stratified():
    split = data.load_digits_split(0, 0, seed=0)
    assert split.x_train.shape[1:] == (3, 32, 32) and split.x_train.dtype == np.float32
    assert split.y_train.dtype == np.int64
    assert 0.0 <= split.x_train.min() and split.x_train.max() <= 1.0
    assert len(split.y_train) + len(split.y_test) == 1797
    counts = np.bincount(split.y_test, minlength=10)
    assert counts.min() >= 50 and counts.max() <= 56  # stratified: about 54 per class
    data.check_images(split.x_test, split.y_test, "digits")


def test_digits_split_is_fixed_by_its_seed():
    a, b = data.load_digits_split(200, 100, seed=0), data.load_digits_split(200, 100, seed=0)
    assert np.array_equal(a.x_test, b.x_test) and np.array_equal(a.y_train, b.y_train)
    assert len(a.y_train) == 200 and len(a.y_test) == 100
    assert not np.array_equal(a.y_train, data.load_digits_split(200, 100, seed=1).y_train)


def _write_fake_cifar10(root, monkeypatch, n_per_batch=20, corrupt=False):
    """A tiny archive in CIFAR-10's own format (pickled batches of uint8 rows), with its checksums declared."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {"data": rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8),
                 "labels": list(rng.integers(0, 10, n_per_batch).tolist())}
        payload = pickle.dumps(batch)
        if corrupt and name == "data_batch_1":
            payload = payload[: len(payload) // 2]
        (folder / name).write_bytes(payload)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))

    def md5(name):
        return hashlib.md5((folder / name).read_bytes()).hexdigest()

    monkeypatch.setattr(datasets.CIFAR10, "train_list", [[n, md5(n)] for n in names[:5]])
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch", md5("test_batch")]])
    monkeypatch.setitem(datasets.CIFAR10.meta, "md5", md5("batches.meta"))
    return folder


def test_cifar_loader_reads_an_archive_in_cifar_format(tmp_path, monkeypatch):
    _write_fake_cifar10(tmp_path, monkeypatch)
    split = data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)
    assert split.x_train.shape == (100, 3, 32, 32) and split.x_test.shape == (20, 3, 32, 32)
    assert split.num_classes == 10
    data.check_images(split.x_train, split.y_train, "cifar10")


def test_cifar_missing_offline_names_the_folder_and_files(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.CIFAR10, "download", offline)
    with pytest.raises(UsageError) as err:
        data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)
    msg = str(err.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and "data_batch_1" in msg and "--data-dir" in msg


def test_corrupt_cifar_archive_is_one_clear_error(tmp_path, monkeypatch):
    _write_fake_cifar10(tmp_path, monkeypatch, corrupt=True)
    with pytest.raises(UsageError, match="cifar10 is not available.*--data-dir"):
        data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)


def test_cifar_with_wrong_checksums_is_refused(tmp_path, monkeypatch):
    folder = _write_fake_cifar10(tmp_path, monkeypatch)
    (folder / "test_batch").write_bytes(b"not a batch")
    with pytest.raises(UsageError, match="cifar10 is not available"):
        data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)


@pytest.mark.parametrize("x, y, words", [
    (np.zeros((2, 3, 32, 32), np.float64), np.zeros(2, np.int64), "float32"),
    (np.zeros((2, 1, 28, 28), np.float32), np.zeros(2, np.int64), "N x 3 x 32 x 32"),
    (np.zeros((2, 3, 32, 32), np.float32), np.zeros(3, np.int64), "length 2"),
    (np.full((2, 3, 32, 32), 255, np.float32), np.zeros(2, np.int64), "[0, 1]"),
])
def test_layout_check_names_what_is_wrong(x, y, words):
    with pytest.raises(UsageError, match=None) as err:
        data.check_images(x, y, "mine")
    assert words in str(err.value)


def test_cifar_arrays_equal_torchvisions_own_loader(tmp_path, monkeypatch):
    """The suite reads the batches itself (below); on the same archive it gives torchvision's arrays, bit for bit."""
    _write_fake_cifar10(tmp_path, monkeypatch)
    ours = data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)
    for train, x, y in ((True, ours.x_train, ours.y_train), (False, ours.x_test, ours.y_test)):
        ds = datasets.CIFAR10(str(tmp_path), train=train)
        theirs = np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0
        assert x.tobytes() == theirs.tobytes() and y.tolist() == list(ds.targets)


class _Planted:
    """What an attacker would swap in after the checksum was taken: unpickling it makes a folder."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (str(self.marker),))


def test_cifar_is_checked_and_loaded_from_the_same_bytes(tmp_path, monkeypatch):
    """A batch replaced between its MD5 check and its load (a race on a shared data folder) is never unpickled:
    the bytes checked are the bytes loaded."""
    folder = _write_fake_cifar10(tmp_path, monkeypatch)
    marker = tmp_path / "code-ran"
    planted = pickle.dumps({"data": _Planted(marker), "labels": []})
    real_md5 = hashlib.md5

    def md5_then_swap(*args, **kwargs):  # the file is swapped right after its checksum was read
        h = real_md5(*args, **kwargs)
        (folder / "data_batch_1").write_bytes(planted)
        return h

    monkeypatch.setattr(hashlib, "md5", md5_then_swap)
    original = data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)
    assert not marker.exists() and original.x_train.shape == (100, 3, 32, 32)


def test_a_cifar_batch_may_only_hold_arrays(tmp_path, monkeypatch):
    folder = _write_fake_cifar10(tmp_path, monkeypatch)
    (folder / "test_batch").write_bytes(pickle.dumps({"data": _Planted(tmp_path / "code-ran"), "labels": []}))
    monkeypatch.setattr(datasets.CIFAR10, "test_list", [["test_batch",
                                                          hashlib.md5((folder / "test_batch").read_bytes())
                                                          .hexdigest()]])
    with pytest.raises(UsageError, match="cifar10 is not available.*may not name posix.mkdir"):
        data.load_split("cifar10", 0, 0, seed=0, data_dir=tmp_path)
    assert not (tmp_path / "code-ran").exists()


@pytest.mark.parametrize("labels, words", [
    ([0, 1, 10**9], "K at most 1000"),
    ([0, 2, 2], "each class in the training split"),
])
def test_the_class_count_is_sane(labels, words):
    x = np.zeros((3, 3, 32, 32), np.float32)
    with pytest.raises(UsageError, match=words):
        data._finish(x, np.array(labels), x, np.array([0, 1, 0]), 0, 0, 0, "mine")


def test_a_nan_pixel_is_refused():
    x = np.zeros((2, 3, 32, 32), np.float32)
    x[1, 2, 3, 4] = np.nan
    with pytest.raises(UsageError, match="finite"):
        data.check_images(x, np.zeros(2, np.int64), "mine")
