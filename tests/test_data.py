"""Tests of resnet_lab.data: file formats, checks, splits, augmentation and the batch stream.

Tiny dataset files in the official layouts are written into tmp_path; the real CIFAR-10 files are
only read by the last test, which is skipped when they are absent.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import crop_candidates

from resnet_lab import data as D
from resnet_lab.config import DataCfg
from resnet_lab.errors import ConfigError, DataError

N = 20  # records per tiny file

# ---------------------------------------------------------------------------------------------
# Writers of tiny files in the official layouts


def _images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8)


def write_cifar10_bin(folder: Path, n: int = N, seed: int = 0) -> dict[str, np.ndarray]:
    """The six files of cifar-10-batches-bin (label byte + R, G, B planes) plus batches.meta.txt."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [*D.CIFAR10_BIN_TRAIN, D.CIFAR10_BIN_TEST]:
        images, labels = _images(rng, n), rng.integers(0, 10, size=n).astype(np.uint8)
        records = np.concatenate([labels[:, None], images.reshape(n, -1)], axis=1)
        (folder / name).write_bytes(records.tobytes())
        out[name] = (images, labels.astype(np.int64))
    (folder / "batches.meta.txt").write_text("\n".join(f"name{i}" for i in range(10)) + "\n\n")
    return {
        "train_images": np.concatenate([out[f][0] for f in D.CIFAR10_BIN_TRAIN]),
        "train_labels": np.concatenate([out[f][1] for f in D.CIFAR10_BIN_TRAIN]),
        "test_images": out[D.CIFAR10_BIN_TEST][0],
        "test_labels": out[D.CIFAR10_BIN_TEST][1],
    }


def own_md5(folder: Path) -> dict[str, str]:
    return {name: D.md5sum(folder / name) for name in D.CIFAR10_BIN_MD5}


class _Py2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 byte strings, as in the official CIFAR python files
    (``pickle.load(encoding="bytes")`` then gives b'data' keys, ``encoding="latin1"`` 'data')."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_str(self, obj: str | bytes) -> None:
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def py2_pickle(obj: object, path: Path) -> None:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue())


def write_cifar10_py(folder: Path, n: int = N) -> dict[str, np.ndarray]:
    """A tiny cifar-10-batches-py: pickled dicts with data [n, 3072] uint8 and labels lists."""
    rng = np.random.default_rng(1)
    folder.mkdir(parents=True)
    train_images, train_labels = [], []
    for i in range(1, 7):
        images, labels = _images(rng, n), rng.integers(0, 10, size=n)
        name = f"data_batch_{i}" if i < 6 else "test_batch"
        batch = {
            "batch_label": f"batch {i}",
            "labels": labels.tolist(),
            "data": images.reshape(n, -1),
            "filenames": [f"img_{i}_{j}.png" for j in range(n)],
        }
        py2_pickle(batch, folder / name)
        train_images.append(images)
        train_labels.append(labels)
    meta = {"label_names": [f"py{i}" for i in range(10)], "num_cases_per_batch": n, "num_vis": 3072}
    py2_pickle(meta, folder / "batches.meta")
    with open(folder / "data_batch_1", "rb") as f:
        assert b"data" in pickle.load(f, encoding="bytes")  # the official key layout
    return {
        "train_images": np.concatenate(train_images[:5]),
        "train_labels": np.concatenate(train_labels[:5]),
        "test_images": train_images[5],
        "test_labels": train_labels[5],
    }


def patch_torchvision_md5(monkeypatch: pytest.MonkeyPatch, cls: type, folder: Path) -> None:
    """Point torchvision's official md5 list at the tiny files' own sums (its check still runs)."""
    for attr in ("train_list", "test_list"):
        sums = [[f, D.md5sum(folder / f)] for f, _ in getattr(cls, attr)]
        monkeypatch.setattr(cls, attr, sums)
    meta = {**cls.meta, "md5": D.md5sum(folder / cls.meta["filename"])}
    monkeypatch.setattr(cls, "meta", meta)


def cfg(root: Path | str, **kw: object) -> DataCfg:
    return DataCfg(root=str(root), **{"verify": False, **kw})


# ---------------------------------------------------------------------------------------------
# Binary version


def test_cifar10_binary_loads_all_files(tmp_path: Path) -> None:
    written = write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    d = D.load_data(cfg(tmp_path), "cpu")
    assert d.train_images.dtype == torch.uint8 and d.train_labels.dtype == torch.int64
    assert torch.equal(d.train_images, torch.from_numpy(written["train_images"]))
    assert torch.equal(d.train_labels, torch.from_numpy(written["train_labels"]))
    assert torch.equal(d.eval_images, torch.from_numpy(written["test_images"]))
    assert torch.equal(d.eval_labels, torch.from_numpy(written["test_labels"]))
    assert d.eval_split == "test" and d.num_classes == 10
    assert d.classes == [f"name{i}" for i in range(10)]  # from batches.meta.txt
    meta = tmp_path / "cifar-10-batches-bin" / "batches.meta.txt"
    meta.write_text("".join(f"n{i}\n" for i in range(11)))  # 11 names: another file's
    assert D.load_cifar10_binary(meta.parent, md5=None).classes == D.CIFAR10_CLASSES


def test_root_may_be_the_binary_folder_itself(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    written = write_cifar10_bin(folder)
    d = D.load_data(cfg(folder), "cpu")
    assert torch.equal(d.eval_images, torch.from_numpy(written["test_images"]))


def test_a_data_root_under_the_home_folder_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data.root=~/cifar is the home folder's cifar, not a folder named ~ in the current one."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "home" / "cifar" / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    assert D.locate_cifar(cfg("~/cifar")) == (True, folder)


def test_binary_pixel_placement(tmp_path: Path) -> None:
    """Byte 1 + c*1024 + r*32 + k of a record is channel c (R, G, B), row r, column k."""
    value = [[[(c * 85 + r * 7 + k) % 256 for k in range(32)] for r in range(32)] for c in range(3)]
    record = bytes([3]) + bytes(
        value[c][r][k] for c in range(3) for r in range(32) for k in range(32)
    )
    folder = tmp_path / "bin"
    write_cifar10_bin(folder, n=1)
    (folder / "test_batch.bin").write_bytes(record)
    host = D.load_cifar10_binary(folder, md5=None)
    assert host.test_labels.tolist() == [3]
    assert host.test_images.shape == (1, 3, 32, 32)
    for c, r, k in [(0, 0, 0), (0, 0, 31), (1, 5, 2), (2, 31, 0), (2, 17, 29)]:
        assert host.test_images[0, c, r, k] == value[c][r][k]
    assert (host.test_images[0] == np.array(value, dtype=np.uint8)).all()


def test_md5_check_with_own_and_wrong_sums(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    sums = own_md5(folder)
    assert D.load_cifar10_binary(folder, md5=sums).train_images.shape == (5 * N, 3, 32, 32)

    wrong = {**sums, "data_batch_3.bin": "0" * 32}
    with pytest.raises(DataError, match=r"data_batch_3\.bin.*0{32}") as err:
        D.load_cifar10_binary(folder, md5=wrong)
    assert sums["data_batch_3.bin"] in str(err.value) and "Re-download" in str(err.value)

    # load_data with verify=true checks the module's official sums: the tiny files fail them,
    # by their size before any md5 is computed ...
    with pytest.raises(DataError, match=r"data_batch_1\.bin has the wrong size: \d+ bytes, the "):
        D.load_data(cfg(tmp_path, verify=True), "cpu")
    # ... and pass once the module-level dict holds their own sums.
    for name, digest in sums.items():
        monkeypatch.setitem(D.CIFAR10_BIN_MD5, name, digest)
    assert "md5-verified" in D.load_data(cfg(tmp_path, verify=True), "cpu").source


def test_corrupted_and_truncated_files_are_named(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    sums = own_md5(folder)
    raw = bytearray((folder / "test_batch.bin").read_bytes())
    raw[100] ^= 0xFF
    (folder / "test_batch.bin").write_bytes(bytes(raw))
    with pytest.raises(DataError, match=r"test_batch\.bin is corrupted"):
        D.load_cifar10_binary(folder, md5=sums)

    (folder / "data_batch_2.bin").write_bytes(raw[:-5])  # not whole records, even unverified
    with pytest.raises(DataError, match=r"data_batch_2\.bin is not a CIFAR binary file"):
        D.load_data(cfg(tmp_path), "cpu")


def test_a_data_file_the_system_will_not_read_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file without read permission (or a disk error) was a PermissionError trace; so was a
    data root in a folder the user may not enter (where the files are looked for)."""
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    locked = folder / "data_batch_5.bin"
    real_fromfile = np.fromfile

    def fromfile(file: object, *args: object, **kwargs: object) -> np.ndarray:
        if Path(str(file)) == locked:
            raise PermissionError(13, "Permission denied", str(locked))
        return real_fromfile(file, *args, **kwargs)

    monkeypatch.setattr(np, "fromfile", fromfile)
    with pytest.raises(DataError) as refused:
        D.load_data(cfg(tmp_path), "cpu")
    assert str(refused.value) == (
        f"{locked} cannot be read (Permission denied): check its permissions and the disk"
    )

    def is_file(path: Path) -> bool:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(Path, "is_file", is_file)
    with pytest.raises(DataError, match=r"cannot be read \(Permission denied\)"):
        D.check_data_options(cfg(tmp_path))


def test_a_truncated_official_file_is_named_by_its_size(tmp_path: Path) -> None:
    """A download cut short is told as such, with the official size; a file of the official size
    whose bytes differ is told by its md5."""
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    official = 10_000 * 3073
    with open(folder / "data_batch_1.bin", "wb") as f:
        f.truncate(official - 3073)  # one record short
    with pytest.raises(DataError) as err:
        D.load_data(cfg(tmp_path, verify=True), "cpu")
    assert f"has the wrong size: {official - 3073} bytes, the official file has {official}" in (
        str(err.value)
    )
    with open(folder / "data_batch_1.bin", "wb") as f:
        f.truncate(official)
    with pytest.raises(DataError, match=r"data_batch_1\.bin is corrupted: its md5 is "):
        D.load_data(cfg(tmp_path, verify=True), "cpu")


def test_a_data_root_that_is_a_file_is_refused_as_such(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"not unpacked")
    with pytest.raises(DataError) as err:
        D.load_data(cfg(archive), "cpu")
    assert str(err.value) == (
        f"data.root must be a folder, but {archive} is a file: unpack the archive "
        f"(tar xzf {archive} -C {tmp_path}) and use data.root={tmp_path}"
    )
    other = tmp_path / "notes.txt"
    other.write_text("")
    with pytest.raises(DataError, match=r"is a file\. Point it at the folder that holds "):
        D.load_data(cfg(other, download=True), "cpu")  # nothing downloaded into a file


@pytest.mark.parametrize("root", ["", "  "])
def test_an_empty_data_root_is_refused_not_read_as_the_current_folder(
    root: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``data.root=$DATA`` with DATA unset: the current folder, which may even hold the data,
    is not what the user named."""
    write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError, match=r"^data\.root is empty \(an unset shell variable\? "):
        D.load_data(cfg(root), "cpu")
    assert D.absolute_root(root) == root  # a run records it as set (synthetic data need none)


def test_incomplete_binary_folder_names_missing_files(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    (folder / "data_batch_4.bin").unlink()
    with pytest.raises(DataError, match=r"missing data_batch_4\.bin") as err:
        D.load_data(cfg(tmp_path), "cpu")
    assert str(folder.absolute()) in str(err.value)


def test_missing_data_lists_every_folder_and_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The message names every folder looked in, and how to get the files; it comes without
    importing torchvision (the python version's file names are the lab's own list)."""
    for module in ("torchvision", "torchvision.datasets"):  # an import of either fails, even
        monkeypatch.setitem(sys.modules, module, None)  # after another test imported them
    root = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        D.load_data(cfg(root), "cpu")
    message = str(err.value)
    for text in [
        str(root / "cifar-10-batches-bin"),
        str(root / "cifar-10-batches-py"),
        "data_batch_1.bin",
        "cifar-10-binary.tar.gz",
        "cifar-10-python.tar.gz",
        "data.root=",
        "RESNET_LAB_DATA",
        "does not exist",
    ]:
        assert text in message
    with pytest.raises(DataError, match=r"cifar-100-binary.*cifar-100-python\.tar\.gz"):
        D.load_data(cfg(root, name="cifar100", num_classes=100), "cpu")
    write_cifar10_py(root / "cifar-10-batches-py")  # found by its file names alone
    assert D.locate_cifar(cfg(root)) == (False, root / "cifar-10-batches-py")


def test_cifar100_binary_uses_fine_labels_and_checks_sizes(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    rng = np.random.default_rng(2)
    written = {}
    for name in ("train.bin", "test.bin"):
        images = _images(rng, N)
        fine = rng.integers(0, 100, size=N).astype(np.uint8)
        coarse = (fine // 5).astype(np.uint8) + 100  # would fail the label check if used
        records = np.concatenate([coarse[:, None], fine[:, None], images.reshape(N, -1)], axis=1)
        (folder / name).write_bytes(records.tobytes())
        written[name] = (images, fine.astype(np.int64))
    d = D.load_data(cfg(tmp_path, name="cifar100", num_classes=100), "cpu")
    assert torch.equal(d.train_labels, torch.from_numpy(written["train.bin"][1]))
    assert torch.equal(d.eval_images, torch.from_numpy(written["test.bin"][0]))
    assert d.num_classes == 100 and d.classes[:2] == ["apple", "aquarium_fish"]

    host = D.load_cifar100_binary(folder, records={"train.bin": N, "test.bin": N})
    assert host.train_images.shape == (N, 3, 32, 32)
    fine = [f"fine{i}" for i in range(100)]  # the names of the fine labels, not the coarse
    (folder / "fine_label_names.txt").write_text("".join(f"{n}\n" for n in fine))
    (folder / "coarse_label_names.txt").write_text("".join(f"c{i}\n" for i in range(20)))
    assert D.load_cifar100_binary(folder, records=None).classes == fine
    with pytest.raises(DataError, match=r"train\.bin has the wrong size.*153700000"):
        D.load_data(cfg(tmp_path, name="cifar100", num_classes=100, verify=True), "cpu")


# ---------------------------------------------------------------------------------------------
# Python version (through torchvision)


def test_cifar10_python_version_through_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision.datasets import CIFAR10  # here: 1.3 s of each worker's collection

    folder = tmp_path / "cifar-10-batches-py"
    written = write_cifar10_py(folder)

    d = D.load_data(cfg(tmp_path), "cpu")  # verify=false: existence only
    assert torch.equal(d.train_images, torch.from_numpy(written["train_images"]))
    assert torch.equal(d.train_labels, torch.from_numpy(written["train_labels"]))
    assert torch.equal(d.eval_images, torch.from_numpy(written["test_images"]))
    assert d.classes == [f"py{i}" for i in range(10)] and "python" in d.source
    assert D.PYTHON_FILES["cifar10"] == tuple(f for f, _ in D._python_files(CIFAR10))

    with pytest.raises(DataError, match=r"data_batch_1 is corrupted"):  # torchvision's own sums
        D.load_data(cfg(tmp_path, verify=True), "cpu")

    patch_torchvision_md5(monkeypatch, CIFAR10, folder)
    d = D.load_data(cfg(folder, verify=True), "cpu")  # root may be the folder itself
    assert torch.equal(d.eval_labels, torch.from_numpy(written["test_labels"]))

    monkeypatch.setattr(
        CIFAR10, "train_list", [*CIFAR10.train_list[:4], ["data_batch_5", "1" * 32]]
    )
    with pytest.raises(DataError, match=r"data_batch_5 is corrupted.*1{32}"):
        D.load_data(cfg(tmp_path, verify=True), "cpu")


def test_python_version_missing_or_truncated_file(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10_py(folder)
    (folder / "batches.meta").unlink()
    with pytest.raises(DataError, match=r"missing batches\.meta"):
        D.load_data(cfg(tmp_path), "cpu")
    write_cifar10_py(tmp_path / "again" / "cifar-10-batches-py")
    truncated = tmp_path / "again" / "cifar-10-batches-py" / "data_batch_2"
    truncated.write_bytes(truncated.read_bytes()[:1000])
    with pytest.raises(DataError, match="not a readable cifar10 python version"):
        D.load_data(cfg(tmp_path / "again"), "cpu")


def test_download_failure_is_a_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: str, download_root: str, *args: object, **kwargs: object) -> None:
        Path(download_root).mkdir(parents=True, exist_ok=True)  # as torchvision does, first
        raise OSError("no network")

    monkeypatch.setattr("torchvision.datasets.cifar.download_and_extract_archive", offline)
    with pytest.raises(DataError, match=r"Downloading cifar10 .*no network.*cifar-10-python") as e:
        D.load_data(cfg(tmp_path, download=True), "cpu")
    assert "data.download=true" not in str(e.value)  # it was given: no advice to give it
    assert tmp_path.is_dir()  # the user's folder stays
    # the folders the failed download made are not left behind, empty
    with pytest.raises(DataError, match="Downloading cifar10"):
        D.load_data(cfg(tmp_path / "new" / "data", download=True), "cpu")
    assert list(tmp_path.iterdir()) == []


def test_cifar100_python_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(3)
    images = {name: _images(rng, N) for name in ("train", "test")}
    fine = {name: rng.integers(0, 100, size=N) for name in ("train", "test")}
    for name in ("train", "test"):
        batch = {
            "data": images[name].reshape(N, -1),
            "fine_labels": fine[name].tolist(),
            "coarse_labels": (fine[name] // 5).tolist(),
        }
        py2_pickle(batch, folder / name)
    names = [f"c{i}" for i in range(100)]
    py2_pickle({"fine_label_names": names, "coarse_label_names": names[:20]}, folder / "meta")
    from torchvision.datasets import CIFAR100

    patch_torchvision_md5(monkeypatch, CIFAR100, folder)
    d = D.load_data(cfg(tmp_path, name="cifar100", num_classes=100, verify=True), "cpu")
    assert torch.equal(d.train_images, torch.from_numpy(images["train"]))
    assert torch.equal(d.eval_labels, torch.from_numpy(fine["test"]))
    assert d.classes == names
    assert D.PYTHON_FILES["cifar100"] == tuple(f for f, _ in D._python_files(CIFAR100))


# ---------------------------------------------------------------------------------------------
# Options, splits, limit, mean


def test_splits_limit_and_mean(tmp_path: Path) -> None:
    written = write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    train = torch.from_numpy(written["train_images"])
    full = D.load_data(cfg(tmp_path), "cpu")
    assert (len(full.train_labels), len(full.eval_labels), full.eval_split) == (100, 20, "test")
    val = D.load_data(cfg(tmp_path, split="val"), "cpu")
    assert (len(val.train_labels), len(val.eval_labels), val.eval_split) == (90, 10, "val")
    assert torch.equal(val.train_images, train[:90])  # the first 90%
    assert torch.equal(val.eval_images, train[90:])  # the last 10%, disjoint from training
    assert torch.equal(val.eval_labels, full.train_labels[90:])

    for d, used in [(full, train), (val, train[:90])]:
        assert d.mean.shape == (3, 32, 32) and d.mean.dtype == torch.float32
        expected = (used.double().mean(0) / 255).float()
        assert torch.equal(d.mean, expected)

    small = D.load_data(cfg(tmp_path, split="val", limit=7), "cpu")
    assert len(small.train_labels) == 7 and len(small.eval_labels) == 7
    assert torch.equal(small.eval_images, train[90:97])
    assert torch.allclose(small.mean, train[:7].double().mean(0).float() / 255)

    # the test set beside the validation images (trainer.test_at_best_val), limited alike
    both = D.load_data(cfg(tmp_path, split="val", limit=7), "cpu", test_too=True)
    assert both.test_images is not None and both.test_labels is not None
    assert torch.equal(both.test_images, full.eval_images[:7])
    assert torch.equal(both.test_labels, full.eval_labels[:7])
    (x, y), *rest = list(D.eval_batches(both, 5, test_set=True))
    assert len(rest) == 1 and torch.equal(y, full.eval_labels[:5]) and x.dtype == torch.float32
    assert val.test_images is None  # kept only when asked
    with pytest.raises(ValueError, match="no test set beside the validation images"):
        next(D.eval_batches(val, 5, test_set=True))


@pytest.mark.parametrize(
    ("options", "error", "text"),
    [
        ({"split": "test"}, ConfigError, "valid: full, val"),
        ({"name": "mnist"}, DataError, "valid: cifar10, cifar100, synthetic"),
        ({"limit": 0}, ConfigError, "data.limit"),
        ({"limit": True}, ConfigError, "data.limit"),  # not the limit 1
        ({"num_classes": 100}, ConfigError, "data.num_classes=100"),
        ({"normalization": "std"}, ConfigError, "valid: pixel_mean, channel_mean_std"),
        ({"pad_mode": "mirror"}, ConfigError, "valid: zeros, reflect"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict, error: type, text: str) -> None:
    write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    with pytest.raises(error, match=text):
        D.load_data(cfg(tmp_path, **options), "cpu")


# ---------------------------------------------------------------------------------------------
# normalize, augment


def test_channel_mean_std_normalisation(tmp_path: Path) -> None:
    """data.normalization=channel_mean_std: (x - per-channel mean) / per-channel std of the
    training images used (population std over every pixel), as DenseNet's and WRN's code."""
    written = write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    train = torch.from_numpy(written["train_images"])
    for split, used in [("full", train), ("val", train[:90])]:
        d = D.load_data(cfg(tmp_path, split=split, normalization="channel_mean_std"), "cpu")
        pixels = used.double().div(255).transpose(0, 1).reshape(3, -1)
        assert d.std is not None and d.mean.shape == d.std.shape == (3, 1, 1)
        assert d.mean.dtype == d.std.dtype == torch.float32
        torch.testing.assert_close(d.mean.flatten(), pixels.mean(1).float(), rtol=0, atol=1e-7)
        torch.testing.assert_close(
            d.std.flatten(), pixels.std(1, correction=0).float(), rtol=1e-6, atol=0
        )
        x, _ = D.TrainBatches(d, len(used), seed=0, augment=False).next()  # every image once
        seen = x.transpose(0, 1).reshape(3, -1).double()
        torch.testing.assert_close(
            seen.mean(1), torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(seen.std(1, correction=0), torch.ones(3, dtype=torch.float64))
    assert D.load_data(cfg(tmp_path), "cpu").std is None  # the ResNet papers': the mean only


def test_input_statistics_are_exact_across_chunks() -> None:
    """More images than one chunk of squares: the integer sums stay exact."""
    images = torch.randint(0, 256, (4100, 3, 4, 4), dtype=torch.uint8)
    mean, std = D.input_statistics(images, "channel_mean_std")
    pixels = images.double().div(255).transpose(0, 1).reshape(3, -1)
    assert std is not None
    torch.testing.assert_close(mean.flatten(), pixels.mean(1).float(), rtol=0, atol=1e-7)
    torch.testing.assert_close(
        std.flatten(), pixels.std(1, correction=0).float(), rtol=1e-6, atol=0
    )
    with pytest.raises(ConfigError, match="valid: pixel_mean, channel_mean_std"):
        D.input_statistics(images, "zca")
    flat = torch.full((1, 3, 4, 4), 7, dtype=torch.uint8)  # e.g. data.limit=1: std 0
    with pytest.raises(ConfigError, match="a channel of the training images is constant"):
        D.input_statistics(flat, "channel_mean_std")
    assert D.input_statistics(flat, "pixel_mean")[1] is None  # the mean alone is fine


def test_normalize() -> None:
    """The training mean is subtracted pixel by pixel, the papers' per-pixel mean (a mutant
    subtracting each channel's average passed with a mean the same at every pixel)."""
    images = torch.tensor([0, 51, 255], dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 3, 32, 32)
    mean = torch.full((3, 32, 32), 0.25)
    mean[1, 5, 7] = 0.5
    out = D.normalize(images, mean)
    assert out.dtype == torch.float32 and out.shape == (3, 3, 32, 32)
    assert torch.allclose(out[:, 0, 0, 0], torch.tensor([-0.25, -0.05, 0.75]))
    assert torch.allclose(out[:, 1, 5, 7], torch.tensor([-0.5, -0.3, 0.5]))


@pytest.mark.parametrize("pad_mode", ["zeros", "reflect"])
def test_augment_is_a_padded_crop_or_its_mirror(pad_mode: str) -> None:
    x = torch.randn(48, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = D.augment(x, torch.Generator().manual_seed(1), pad_mode)
    assert out.shape == x.shape and out.dtype == x.dtype
    for image, result in zip(x, out, strict=True):
        assert (crop_candidates(image, pad_mode) == result).flatten(1).all(1).sum() == 1


def test_reflect_padding_shows_only_the_images_own_pixels() -> None:
    """data.pad_mode=reflect (Wide ResNet): no zeros come in, and the crops are spread as with
    zero padding (the same draws, only the filling differs)."""
    x = torch.rand(400, 3, 32, 32, generator=torch.Generator().manual_seed(0)) + 1
    out = D.augment(x, torch.Generator().manual_seed(3), "reflect")
    assert out.min() >= 1
    zeros = D.augment(x, torch.Generator().manual_seed(3), "zeros")
    inside = zeros != 0  # where the zero-padded crop shows the image, both show the same pixel
    assert torch.equal(out[inside], zeros[inside]) and (~inside).any()


def test_augment_offsets_and_flips_are_uniform() -> None:
    """Two markers in the middle of an empty image: their place gives the offset and the flip."""
    generator = torch.Generator().manual_seed(0)
    offsets, flips, batches, batch = [], [], 5, 2000
    x = torch.zeros(batch, 3, 32, 32)
    x[:, :, 16, 16] = 1.0
    x[:, :, 16, 18] = 2.0
    for _ in range(batches):
        out = D.augment(x, generator)[:, 0].reshape(batch, -1)
        one, two = out.eq(1).float().argmax(1), out.eq(2).float().argmax(1)
        row, col1, col2 = one // 32, one % 32, two % 32
        flipped = col2 < col1
        # unflipped: marker at (20 - oy, 20 - ox); flipped: column 31 - (20 - ox)
        offsets.append((20 - row) * 9 + torch.where(flipped, col1 - 11, 20 - col1))
        flips.append(flipped)
    counts = torch.bincount(torch.cat(offsets), minlength=81)
    total = batches * batch
    assert len(counts) == 81 and counts.min() > 0
    expected = total / 81  # ~123; binomial sd ~11
    assert counts.min() > 0.6 * expected and counts.max() < 1.4 * expected
    assert abs(torch.cat(flips).float().mean().item() - 0.5) < 0.03


def test_augment_pads_with_zeros() -> None:
    x = torch.ones(400, 3, 32, 32)
    out = D.augment(x, torch.Generator().manual_seed(0))
    assert set(out.unique().tolist()) == {0.0, 1.0}
    visible = out[:, 0].sum((1, 2))  # a (32 - |dy|) x (32 - |dx|) block of ones remains
    sizes = {(32 - abs(dy)) * (32 - abs(dx)) for dy in range(-4, 5) for dx in range(-4, 5)}
    assert set(visible.long().tolist()) <= sizes
    assert (out[:, :, 0, :] == 0).all(1).all(1).any()  # some images have a zero top row
    assert (visible < 1024).float().mean() > 0.7  # only 1 of 81 offsets keeps the whole image


def test_augment_refuses_an_unknown_pad_mode() -> None:
    with pytest.raises(ConfigError, match=r"unknown data\.pad_mode='replicate'"):
        D.augment(torch.zeros(2, 3, 32, 32), torch.Generator(), "replicate")


def test_augment_is_deterministic_per_generator() -> None:
    x = torch.randn(16, 3, 32, 32)
    a = D.augment(x, torch.Generator().manual_seed(5))
    b = D.augment(x, torch.Generator().manual_seed(5))
    c = D.augment(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


# ---------------------------------------------------------------------------------------------
# TrainBatches, eval_batches


def index_data(n: int, m: int = 10) -> D.DeviceData:
    """Images whose every pixel is the image's index, labels = arange: batches give indices."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 3, 32, 32).clone()
    return D.DeviceData(
        train_images=images,
        train_labels=torch.arange(n),
        eval_images=images[:m].clone(),
        eval_labels=torch.arange(m),
        eval_split="test",
        mean=torch.zeros(3, 32, 32),
        num_classes=n,
        classes=[str(i) for i in range(n)],
    )


def test_train_batches_visit_every_image_once_per_epoch() -> None:
    n, batch = 10, 4
    batches = D.TrainBatches(index_data(n), batch, seed=0, augment=False)
    xs, ys = zip(*(batches.next() for _ in range(10)), strict=True)
    assert {x.shape for x in xs} == {(batch, 3, 32, 32)} and {y.shape for y in ys} == {(batch,)}
    stream = torch.cat(ys)
    assert torch.equal(torch.cat(xs)[:, 0, 0, 0].mul(255).round().long(), stream)
    for epoch in range(4):
        assert sorted(stream[epoch * n : (epoch + 1) * n].tolist()) == list(range(n))
    assert not torch.equal(stream[:n], stream[n : 2 * n])  # a new permutation each epoch


def test_train_batches_larger_than_the_dataset() -> None:
    batches = D.TrainBatches(index_data(3), 7, seed=1, augment=False)
    stream = torch.cat([batches.next()[1] for _ in range(3)])
    for epoch in range(7):
        assert sorted(stream[epoch * 3 : epoch * 3 + 3].tolist()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("images", "batch", "saved_after"),
    [
        (13, 5, 4),
        # saved where its epoch is exactly used up (every 3125 steps of CIFAR-10 at batch 128):
        # it resumes into the next epoch's order (a mutant saving the position modulo the
        # epoch replayed the last epoch's order)
        (12, 4, 3),
    ],
)
def test_train_batches_resume_bit_exactly(images: int, batch: int, saved_after: int) -> None:
    data = index_data(images)
    data.train_images = torch.randint(0, 256, (images, 3, 32, 32), dtype=torch.uint8)
    data.mean = data.train_images.double().mean(0).float() / 255
    global_rng = torch.get_rng_state()
    reference = D.TrainBatches(data, batch, seed=7)
    expected = [reference.next() for _ in range(9)]
    assert torch.equal(torch.get_rng_state(), global_rng)  # never the global RNG

    first = D.TrainBatches(data, batch, seed=7)
    for x, y in expected[:saved_after]:
        got = first.next()
        assert torch.equal(got[0], x) and torch.equal(got[1], y)
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    buffer.seek(0)
    resumed = D.TrainBatches(data, batch, seed=123)  # the state, not the seed, decides
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for x, y in expected[saved_after:]:
        got = resumed.next()
        assert torch.equal(got[0], x) and torch.equal(got[1], y)

    assert not torch.equal(D.TrainBatches(data, batch, seed=8).next()[1], expected[0][1])
    with pytest.raises(ConfigError, match="batch_size"):
        D.TrainBatches(data, batch - 1, seed=7).load_state_dict(first.state_dict())


def test_train_batches_saved_on_another_device_go_on_with_new_draws(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """trainer.device may change on resume (a GPU run continued on a CPU, a requeued Slurm job):
    a CUDA generator's state means nothing to a CPU's (it was refused, after the data loaded).
    The epoch under way keeps its order; the later draws are new, the same on each resume."""
    data = index_data(13)
    data.train_images = torch.randint(0, 256, (13, 3, 32, 32), dtype=torch.uint8)
    first = D.TrainBatches(data, 5, seed=7)
    for _ in range(3):  # 15 images: the second epoch under way, at its third
        first.next()
    state = first.state_dict()
    philox = torch.arange(16, dtype=torch.uint8)  # what a CUDA generator's state looks like
    state.update(device_type="cuda", perm_rng=philox, aug_rng=philox.flip(0))
    streams = []
    for _ in range(2):
        resumed = D.TrainBatches(data, 5, seed=7)
        with caplog.at_level(logging.WARNING, logger="resnet_lab.data"):
            resumed.load_state_dict(state)
        streams.append([resumed.next() for _ in range(6)])
    labels = torch.cat([y for _, y in streams[0]])
    assert torch.equal(labels[:11], state["perm"][2:])  # the epoch under way, in its order
    assert sorted(labels[11:24].tolist()) == list(range(13))  # then whole epochs
    # new draws, not the run's first replayed (the generators seeded as a fresh run's are)
    fresh_run = D.TrainBatches(data, 5, seed=7)
    fresh = torch.cat([fresh_run.next()[1] for _ in range(3)])
    assert not torch.equal(labels[11:24], fresh[:13])
    for (x, y), (x_again, y_again) in zip(*streams, strict=True):
        assert torch.equal(x, x_again) and torch.equal(y, y_again)  # drawn alike each time
    assert "drew its batches on cuda and continues on cpu" in caplog.text


def test_a_seeds_streams_are_what_they_were() -> None:
    """The batches' order and augmentation follow from the seed through derive_seed: a change
    to it (the bytes read another way) would draw every run's batches anew, silently, and a seed
    would no longer reproduce the runs and figures made with it."""
    assert D.derive_seed(0, "permutation") == 4827842604870002959
    assert D.derive_seed(0, "augment") == 1060257447386115851
    assert D.derive_seed(7, "cuda after step 10") == 1120406965868720527
    # ... and each seed feeds its own stream: seed 0's first batch, its order and where each
    # crop shows the zero padding (as drawn on 2026-12-06, torch 2.14.1, CPU)
    data = index_data(16)
    data.train_images += 1  # no image all zeros: the padding alone is zero
    x, y = D.TrainBatches(data, 4, seed=0).next()
    shown = (x != 0)[:, 0].flatten(1)
    assert y.tolist() == [1, 8, 14, 5]
    assert shown.sum(1).tolist() == [928, 870, 930, 930]
    assert shown.float().argmax(1).tolist() == [0, 67, 0, 32]


def test_train_batches_normalize_as_the_eval_does_then_pad_with_zeros() -> None:
    """Training and evaluation must see an image the same way (the mean is subtracted once,
    from both), and augmentation pads the mean-subtracted image with zeros (fb.resnet.torch)."""
    data = index_data(12, m=12)
    data.train_images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    data.mean = torch.rand(3, 32, 32)  # non-zero: a second or a missing subtraction shows
    x, y = D.TrainBatches(data, 6, seed=0, augment=False).next()
    torch.testing.assert_close(x, D.normalize(data.train_images[y], data.mean), rtol=0, atol=0)
    data.eval_images = data.train_images.clone()
    (eval_x, _), *_ = D.eval_batches(data, 12)
    torch.testing.assert_close(x, eval_x[y], rtol=0, atol=0)

    data.train_images.fill_(255)
    data.mean = torch.full((3, 32, 32), 0.5)
    x, _ = D.TrainBatches(data, 12, seed=0, augment=True).next()
    assert set(x.unique().tolist()) == {0.0, 0.5}  # padding before the subtraction gives -0.5


def test_each_seed_augments_an_image_its_own_way() -> None:
    """Seeds differ in crops and flips, not only in order (the spread behind "median of 5")."""
    data = index_data(12)
    data.train_images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    by_seed = []
    for seed in (0, 1):
        x, y = D.TrainBatches(data, 12, seed=seed, augment=True).next()
        by_seed.append(x[y.argsort()])  # one epoch: every image once, put in index order
    differs = (by_seed[0] != by_seed[1]).flatten(1).any(1)
    assert differs.sum() >= 9  # the same crop and flip: 1 in 162 per image


def test_eval_batches_in_order() -> None:
    data = index_data(30, m=10)
    batches = list(D.eval_batches(data, 4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.arange(10))
    x = torch.cat([x for x, _ in batches])
    assert torch.equal(x, D.normalize(data.eval_images, data.mean))


# ---------------------------------------------------------------------------------------------
# Synthetic data


def synthetic(**kw: object) -> DataCfg:
    return DataCfg(name="synthetic", root="unused", **kw)


def test_synthetic_is_deterministic_balanced_and_split() -> None:
    torch.manual_seed(123)
    a = D.load_data(synthetic(synthetic_train_size=500, synthetic_test_size=100), "cpu")
    torch.manual_seed(456)
    b = D.load_data(synthetic(synthetic_train_size=500, synthetic_test_size=100), "cpu")
    assert torch.equal(a.train_images, b.train_images) and torch.equal(a.eval_labels, b.eval_labels)
    assert a.train_images.shape == (500, 3, 32, 32) and a.eval_images.shape == (100, 3, 32, 32)
    assert torch.bincount(a.train_labels, minlength=10).tolist() == [50] * 10
    assert a.num_classes == 10 and len(a.classes) == 10 and a.eval_split == "test"

    val = D.load_data(synthetic(synthetic_train_size=500, split="val", limit=30), "cpu")
    assert val.eval_split == "val" and len(val.train_labels) == len(val.eval_labels) == 30
    assert torch.equal(val.eval_images, a.train_images[450:480])


def test_synthetic_is_learnable() -> None:
    data = D.load_data(synthetic(synthetic_train_size=1024, synthetic_test_size=256), "cpu")
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = torch.nn.Sequential(
            torch.nn.AvgPool2d(2),  # cheap: 16x16 inputs are enough for colour and pattern
            torch.nn.Conv2d(3, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(16, 10),
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_fn = torch.nn.functional.cross_entropy

    def eval_loss() -> float:
        with torch.no_grad():
            return (
                sum(
                    loss_fn(model(x), y, reduction="sum").item()
                    for x, y in D.eval_batches(data, 256)
                )
                / 256
            )

    before = eval_loss()
    batches = D.TrainBatches(data, 64, seed=0)
    for _ in range(50):
        x, y = batches.next()
        optimizer.zero_grad()
        loss_fn(model(x), y).backward()
        optimizer.step()
    after = eval_loss()
    print(f"synthetic eval loss {before:.3f} -> {after:.3f}")
    assert after < 0.7 * before, (before, after)


# ---------------------------------------------------------------------------------------------
# The real CIFAR-10 files


def shared_data() -> Path:
    default = Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(os.environ.get("RESNET_LAB_SHARED_DATA", default))


@pytest.mark.slow
def test_real_cifar10_binary() -> None:
    root = shared_data()
    if not (root / "cifar-10-batches-bin" / "test_batch.bin").is_file():
        pytest.skip(f"real CIFAR-10 binary files not found under {root}")
    d = D.load_data(DataCfg(root=str(root), verify=True), "cpu")
    assert "md5-verified" in d.source
    assert len(d.train_labels) == 50_000 and len(d.eval_labels) == 10_000
    assert torch.bincount(d.train_labels).tolist() == [5000] * 10
    assert torch.bincount(d.eval_labels).tolist() == [1000] * 10
    assert d.classes == D.CIFAR10_CLASSES
    channel_means = d.mean.double().mean((1, 2)) * 255
    assert torch.allclose(
        channel_means, torch.tensor([125.3, 123.0, 113.9], dtype=torch.float64), atol=0.2
    )
    # data.normalization=channel_mean_std: rounded, the constants of fb.resnet.torch (whose
    # code DenseNet's and WRN's build on), as docs/data.md says
    mean, std = D.input_statistics(d.train_images, "channel_mean_std")
    assert std is not None
    assert [round(255 * v, 1) for v in mean.flatten().tolist()] == [125.3, 123.0, 113.9]
    assert [round(255 * v, 1) for v in std.flatten().tolist()] == [63.0, 62.1, 66.7]


def test_labels_out_of_range_are_refused_even_unverified(tmp_path: Path) -> None:
    """docs/data.md: with data.verify=false labels are still range-checked (a label equal to
    the class count is already out of range)."""
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    raw = bytearray((folder / "data_batch_2.bin").read_bytes())
    raw[0] = 10  # the first record's label byte: CIFAR-10 labels are 0..9
    (folder / "data_batch_2.bin").write_bytes(bytes(raw))
    with pytest.raises(
        DataError, match=r"data_batch_2\.bin holds label 10, but the dataset has 10"
    ):
        D.load_data(cfg(tmp_path), "cpu")

    c100 = tmp_path / "c100" / "cifar-100-binary"
    c100.mkdir(parents=True)
    rng = np.random.default_rng(4)
    for name in ("train.bin", "test.bin"):
        fine = rng.integers(0, 100, size=N).astype(np.uint8)
        fine[3] = 100 if name == "test.bin" else fine[3]
        coarse = (fine // 5).astype(np.uint8) % 20
        records = np.concatenate(
            [coarse[:, None], fine[:, None], _images(rng, N).reshape(N, -1)], 1
        )
        (c100 / name).write_bytes(records.tobytes())
    with pytest.raises(DataError, match=r"test\.bin holds label 100, but the dataset has 100"):
        D.load_data(cfg(tmp_path / "c100", name="cifar100", num_classes=100), "cpu")

    for label in (-1, 10):  # the python version too (a trace in training), just out of range
        py = tmp_path / f"py{label}" / "cifar-10-batches-py"
        write_cifar10_py(py)
        with open(py / "data_batch_3", "rb") as f:
            batch = pickle.load(f, encoding="latin1")
        batch["labels"][5] = label
        py2_pickle(batch, py / "data_batch_3")
        with pytest.raises(
            DataError, match=rf"cifar-10-batches-py: its training images hold label {label}, but "
        ):
            D.load_data(cfg(py.parent), "cpu")


def test_an_empty_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10_bin(folder)
    (folder / "data_batch_5.bin").write_bytes(b"")  # e.g. a full disk while unpacking
    with pytest.raises(
        DataError, match=r"data_batch_5\.bin is not a CIFAR binary file.*\(0 bytes\)"
    ):
        D.load_data(cfg(tmp_path), "cpu")


def test_the_binary_version_is_used_when_both_are_present(tmp_path: Path) -> None:
    """docs/data.md: "If both versions are there, the binary version is used"."""
    written = write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    write_cifar10_py(tmp_path / "cifar-10-batches-py")  # other images
    d = D.load_data(cfg(tmp_path), "cpu")
    assert "binary" in d.source
    assert torch.equal(d.eval_images, torch.from_numpy(written["test_images"]))
    assert torch.equal(d.train_labels, torch.from_numpy(written["train_labels"]))


def test_a_val_split_of_fewer_than_ten_images_is_refused() -> None:
    """Nine training images leave no validation image: an empty eval set would report 0% or NaN."""
    with pytest.raises(ConfigError, match=r"data\.split=val needs at least 10 training images"):
        D.load_data(synthetic(synthetic_train_size=9, split="val"), "cpu")
    d = D.load_data(synthetic(synthetic_train_size=10, split="val"), "cpu")
    assert (len(d.train_labels), len(d.eval_labels)) == (9, 1)


def test_synthetic_test_images_are_not_training_images() -> None:
    """The synthetic test set is drawn apart from the training set (no leaked images)."""
    d = D.load_data(synthetic(synthetic_train_size=64, synthetic_test_size=64), "cpu")
    same = (d.eval_images[:, None] == d.train_images[None]).flatten(2).all(2)
    assert not same.any()


def test_a_run_records_its_data_root_as_the_folder_it_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """data.root=data (the default is relative too) names a folder of the launch directory; the
    tools that read the run later from elsewhere (eval, lesion, gates) must find that folder."""
    from omegaconf import OmegaConf

    from resnet_lab import load_pretrained
    from resnet_lab.api import compose_config
    from resnet_lab.train import Trainer

    written = write_cifar10_bin(tmp_path / "project" / "data" / "cifar-10-batches-bin")
    monkeypatch.chdir(tmp_path / "project")
    overrides = ["model.depth=8", "model.width=4", "trainer.batch_size=10", "trainer.max_steps=1"]
    overrides += ["trainer.progress=none", "trainer.device=cpu", "data.root=data"]
    Trainer(compose_config([*overrides, "data.verify=false"]), tmp_path / "run").fit()
    saved = OmegaConf.load(tmp_path / "run" / "config.yaml")
    assert saved.data.root == str(tmp_path / "project" / "data")
    monkeypatch.chdir(tmp_path)  # where ./data does not exist
    net = load_pretrained(tmp_path / "run")
    train = torch.from_numpy(written["train_images"])
    assert torch.equal(net.mean, (train.double().mean(0) / 255).float())


def test_labels_stay_with_their_images_through_the_split_and_limit(tmp_path: Path) -> None:
    """Every test compared the images a split or limit keeps, and the labels' count: labels
    taken from other rows (training at chance) passed."""
    written = write_cifar10_bin(tmp_path / "cifar-10-batches-bin")
    train = torch.from_numpy(written["train_images"]), torch.from_numpy(written["train_labels"])
    test = torch.from_numpy(written["test_images"]), torch.from_numpy(written["test_labels"])
    for options, trained, evaluated, tested in [
        ({}, slice(0, 100), None, slice(0, 100)),
        ({"split": "val"}, slice(0, 90), slice(90, 100), slice(0, 100)),
        ({"limit": 7}, slice(0, 7), None, slice(0, 7)),
        ({"split": "val", "limit": 7}, slice(0, 7), slice(90, 97), slice(0, 7)),
    ]:
        data = D.load_data(cfg(tmp_path, **options), "cpu", test_too=True)
        pairs = [(data.train_images, data.train_labels, train, trained)]
        pairs.append((data.test_images, data.test_labels, test, tested))
        if evaluated is not None:
            pairs.append((data.eval_images, data.eval_labels, train, evaluated))
        for images, labels, (all_images, all_labels), rows in pairs:
            assert torch.equal(images, all_images[rows]), options
            assert torch.equal(labels, all_labels[rows]), options
            assert images.dtype == torch.uint8, options  # a quarter of float32's memory


def test_eval_batches_divide_by_the_std_as_training_does() -> None:
    data = index_data(12, m=12)
    data.train_images = torch.randint(0, 256, (12, 3, 32, 32), dtype=torch.uint8)
    data.eval_images = data.train_images.clone()
    data.mean, data.std = torch.rand(3, 1, 1), torch.rand(3, 1, 1) + 0.5
    x, y = D.TrainBatches(data, 12, seed=0, augment=False).next()
    ((evaluated, _),) = D.eval_batches(data, 12)
    torch.testing.assert_close(x, evaluated[y], rtol=0, atol=0)


def test_the_epoch_order_and_the_augmentation_draw_from_streams_of_their_own() -> None:
    """One generator for both tied each image's flip to the order's draws: another order (the
    order's generator moved on) leaves each position's crop and flip as they were."""
    batches = D.TrainBatches(index_data(16), 4, seed=0)
    assert batches._perm_gen.initial_seed() != batches._aug_gen.initial_seed()
    data = index_data(16)
    data.train_images += 1  # no image all zeros: the padding alone is zero
    same, moved = D.TrainBatches(data, 4, seed=0), D.TrainBatches(data, 4, seed=0)
    torch.randperm(16, generator=moved._perm_gen)  # the order's stream alone moves on
    for _ in range(4):  # the first epoch's order was drawn when they were made
        same.next(), moved.next()
    (x, y), (x_moved, y_moved) = same.next(), moved.next()
    assert not torch.equal(y, y_moved)
    assert torch.equal(x != 0, x_moved != 0)  # where each crop shows the padding: same draws


def test_a_constant_channel_is_refused_for_per_channel_normalisation() -> None:
    images = torch.randint(0, 256, (4, 3, 4, 4), dtype=torch.uint8)
    images[:, 1] = 9  # its std is 0: every input of that channel inf or nan
    with pytest.raises(ConfigError, match="constant"):
        D.input_statistics(images, "channel_mean_std")
