"""CIFAR-10/100 and synthetic data, held whole on the training device.

A CIFAR training set is 154 MB as uint8 (test set 31 MB), so it lives on the device and batches
are cut, normalized and augmented there: no DataLoader workers, no host round trips, and the batch
stream is a pure function of (seed, position), which is what makes a resumed run continue
bit-exactly.

See docs/data.md for where the files go and what each error means.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import math
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from hydra.utils import to_absolute_path

from resnet_lab.config import DataCfg
from resnet_lab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

DATASETS = ("cifar10", "cifar100", "synthetic")
SPLITS = ("full", "val")
# data.normalization: how images are centred and scaled, from statistics of the training images
NORMALIZATIONS = {
    "pixel_mean": "x - per-pixel mean",  # the ResNet papers'
    "channel_mean_std": "(x - per-channel mean) / per-channel std",  # DenseNet's, WRN's
}
PAD = 4  # pixels of padding before the random 32x32 crop (the papers' recipe)
# data.pad_mode -> torch's F.pad mode: zeros (ResNet, DenseNet papers) | reflect (WRN's code)
PAD_MODES = {"zeros": "constant", "reflect": "reflect"}
CIFAR_PAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"
IMAGE_SHAPE = (3, 32, 32)  # channels, height, width of every CIFAR image
PIXELS = math.prod(IMAGE_SHAPE)

CIFAR10_BIN_FOLDER = "cifar-10-batches-bin"
CIFAR10_BIN_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR10_BIN_TEST = "test_batch.bin"
# Official md5 sums of the binary version's files; tests may pass their own to the loader.
CIFAR10_BIN_MD5 = {
    "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
    "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
    "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
    "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
    "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
    "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
}
# Each official file holds 10,000 records of 1 label byte + 3072 pixel bytes: a file checked
# against an official sum is first checked against this size, which names a truncated download
# (and costs no read) where an md5 mismatch would not say what is wrong.
CIFAR10_BIN_RECORDS_PER_FILE = 10_000
OFFICIAL_SIZES = {
    digest: CIFAR10_BIN_RECORDS_PER_FILE * (1 + PIXELS) for digest in CIFAR10_BIN_MD5.values()
}
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]

CIFAR100_BIN_FOLDER = "cifar-100-binary"
# No official per-file md5 exists for the CIFAR-100 binary files: they are size-checked only.
CIFAR100_BIN_RECORDS = {"train.bin": 50_000, "test.bin": 10_000}
# Datasets whose files data.verify=true checks by size alone, as far as the config tells (the
# binary version may be the one read): files of the same size elsewhere may be other data
SIZE_CHECKED_ONLY = ("cifar100",)
CIFAR100_CLASSES = (  # noqa: SIM905 (100 names read better as one block)
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()

PYTHON_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
# The python version's files as torchvision lists them (a test holds the two equal): where the
# data is missing, the message names them without importing torchvision (2 s).
PYTHON_FILES = {
    "cifar10": (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"),
    "cifar100": ("train", "test", "meta"),
}
ARCHIVES = {
    "cifar10": ("cifar-10-binary.tar.gz", "cifar-10-python.tar.gz"),
    "cifar100": ("cifar-100-binary.tar.gz", "cifar-100-python.tar.gz"),
}
SYNTHETIC_SEED = 20151210  # fixed: the synthetic set is the same in every run and process


@dataclass
class DeviceData:
    """A whole dataset on the training device; images stay uint8 until a batch is cut."""

    train_images: torch.Tensor  # uint8 [N, 3, 32, 32]
    train_labels: torch.Tensor  # int64 [N]
    eval_images: torch.Tensor  # uint8 [M, 3, 32, 32]: the test set, or the validation images
    eval_labels: torch.Tensor  # int64 [M]
    eval_split: str  # "test" or "val"
    # float32 in [0, 1] units, of train_images (see NORMALIZATIONS): the per-pixel mean
    # [3, 32, 32], or the per-channel mean [3, 1, 1] and per-channel standard deviation
    mean: torch.Tensor
    num_classes: int
    classes: list[str]
    source: str = ""  # where the images came from, for logs
    # the test set beside the validation images (split=val with trainer.test_at_best_val)
    test_images: torch.Tensor | None = None  # uint8 [T, 3, 32, 32]
    test_labels: torch.Tensor | None = None  # int64 [T]
    std: torch.Tensor | None = None  # float32 [3, 1, 1] (channel_mean_std), else None


@dataclass
class HostData:
    """A dataset as read from disk (numpy, on the host), before the split is applied."""

    train_images: np.ndarray  # uint8 [N, 3, 32, 32]
    train_labels: np.ndarray  # int64 [N]
    test_images: np.ndarray  # uint8 [M, 3, 32, 32]
    test_labels: np.ndarray  # int64 [M]
    classes: list[str]
    source: str


# ---------------------------------------------------------------------------------------------
# Reading the files


def md5sum(path: Path) -> str:
    """md5 of a file, read in 1 MiB chunks so a large file never sits in memory twice."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


DOWNLOAD_HINT = " (data.download=true lets torchvision fetch the python version when online.)"


def _how_to_get(name: str, root: Path, tried_download: bool = False) -> str:
    binary, python = ARCHIVES[name]
    return (
        f"To get it by hand: download {binary} (or {python}) from {CIFAR_PAGE} and unpack it "
        f"into {root}, or point the lab at the folder that holds it with data.root=/path/to/it "
        "or the environment variable RESNET_LAB_DATA=/path/to/it."
        + ("" if tried_download else DOWNLOAD_HINT)  # not the option the user already gave
    )


def _redownload(path: Path) -> str:
    return f"Re-download the dataset from {CIFAR_PAGE} and unpack it again to replace {path.name}."


def _check_md5(path: Path, expected: str) -> None:
    size, official_size = path.stat().st_size, OFFICIAL_SIZES.get(expected)
    if official_size is not None and size != official_size:
        raise DataError(
            f"{path} has the wrong size: {size} bytes, the official file has {official_size} "
            f"({CIFAR10_BIN_RECORDS_PER_FILE} records of {1 + PIXELS} bytes): a truncated "
            f"download or another file. {_redownload(path)}"
        )
    actual = md5sum(path)
    if actual != expected:
        raise DataError(
            f"{path} is corrupted: its md5 is {actual} ({path.stat().st_size} bytes), the "
            f"official one is {expected}. {_redownload(path)}"
        )


def _require_files(folder: Path, names: list[str], what: str) -> None:
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataError(
            f"{what} in {folder} is incomplete: missing {', '.join(missing)} "
            f"(expected {', '.join(names)}). {_redownload(folder / missing[0])}"
        )


def _read_records(
    path: Path, label_bytes: int, label_index: int, num_classes: int, records: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Parse one binary file: per record, label byte(s) then 1024 R, 1024 G, 1024 B bytes."""
    record = label_bytes + PIXELS
    size = path.stat().st_size
    if records is not None and size != records * record:
        raise DataError(
            f"{path} has the wrong size: {size} bytes, expected {records * record} "
            f"({records} records of {record} bytes). {_redownload(path)}"
        )
    if size == 0 or size % record:
        raise DataError(
            f"{path} is not a CIFAR binary file of {record}-byte records ({size} bytes): it is "
            f"truncated or of another dataset. {_redownload(path)}"
        )
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, record)
    labels = raw[:, label_index].astype(np.int64)
    if labels.max() >= num_classes:
        raise DataError(
            f"{path} holds label {labels.max()}, but the dataset has {num_classes} classes: "
            f"it is not a file of this dataset. {_redownload(path)}"
        )
    return raw[:, label_bytes:].reshape(-1, *IMAGE_SHAPE), labels


def _class_names(path: Path, default: list[str]) -> list[str]:
    if path.is_file():
        names = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if len(names) == len(default):
            return names
    return list(default)


def load_cifar10_binary(folder: Path, md5: dict[str, str] | None = CIFAR10_BIN_MD5) -> HostData:
    """Read the binary CIFAR-10 version from ``folder``; ``md5=None`` skips the md5 check."""
    folder = Path(folder).absolute()
    names = [*CIFAR10_BIN_TRAIN, CIFAR10_BIN_TEST]
    _require_files(folder, names, "The CIFAR-10 binary version")
    if md5 is not None:
        for name in names:
            _check_md5(folder / name, md5[name])
    parts = [_read_records(folder / n, 1, 0, 10, None) for n in names]
    return HostData(
        train_images=np.concatenate([images for images, _ in parts[:-1]]),
        train_labels=np.concatenate([labels for _, labels in parts[:-1]]),
        test_images=np.ascontiguousarray(parts[-1][0]),
        test_labels=parts[-1][1],
        classes=_class_names(folder / "batches.meta.txt", CIFAR10_CLASSES),
        source=f"{folder} (binary, {'md5-verified' if md5 is not None else 'not verified'})",
    )


def load_cifar100_binary(
    folder: Path, records: dict[str, int] | None = CIFAR100_BIN_RECORDS
) -> HostData:
    """Read the binary CIFAR-100 version (fine labels) from ``folder``.

    ``records`` are the exact record counts each file must have; ``None`` skips that size check.
    """
    folder = Path(folder).absolute()
    _require_files(folder, ["train.bin", "test.bin"], "The CIFAR-100 binary version")
    count = records or {}
    train_images, train_labels = _read_records(
        folder / "train.bin", 2, 1, 100, count.get("train.bin")
    )
    test_images, test_labels = _read_records(folder / "test.bin", 2, 1, 100, count.get("test.bin"))
    return HostData(
        train_images=np.ascontiguousarray(train_images),
        train_labels=train_labels,
        test_images=np.ascontiguousarray(test_images),
        test_labels=test_labels,
        classes=_class_names(folder / "fine_label_names.txt", CIFAR100_CLASSES),
        source=f"{folder} (binary, {'size-checked' if records is not None else 'not verified'})",
    )


def _torchvision_class(name: str) -> type:
    # Imported here: torchvision is slow to import and only the python version needs it.
    from torchvision.datasets import CIFAR10, CIFAR100

    return CIFAR10 if name == "cifar10" else CIFAR100


def _python_files(cls: type) -> list[tuple[str, str | None]]:
    return [(f, m) for f, m in cls.train_list + cls.test_list] + [
        (cls.meta["filename"], cls.meta["md5"])
    ]


# What a damaged or foreign pickle raises inside torchvision's reader.
_UNREADABLE = (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError)


def load_cifar_python(folder: Path, name: str, verify: bool) -> HostData:
    """Read the python version in ``folder`` (e.g. ``cifar-10-batches-py``) through torchvision.

    torchvision md5-checks every file against its own list of official sums; with
    ``verify=False`` a subclass with no sums only checks that the files exist.
    """
    folder = Path(folder).absolute()
    cls = _torchvision_class(name)
    files = _python_files(cls)
    _require_files(folder, [f for f, _ in files], f"The {name} python version")
    if not verify:
        cls = type(
            f"Unverified{cls.__name__}",
            (cls,),
            {
                "train_list": [[f, None] for f, _ in cls.train_list],
                "test_list": [[f, None] for f, _ in cls.test_list],
                "meta": {**cls.meta, "md5": None},
            },
        )
    try:
        train = cls(str(folder.parent), train=True)
        test = cls(str(folder.parent), train=False)
    except RuntimeError as e:  # torchvision's "not found or corrupted": find the file
        for file, expected in files:
            if expected is not None:
                _check_md5(folder / file, expected)
        raise DataError(f"torchvision could not read {folder}: {e}") from e
    except _UNREADABLE as e:
        raise DataError(
            f"{folder} is not a readable {name} python version ({type(e).__name__}: {e}). "
            f"{_redownload(folder)}"
        ) from e

    def images(dataset: Any) -> np.ndarray:
        return np.ascontiguousarray(dataset.data.transpose(0, 3, 1, 2))  # NHWC -> NCHW

    def labels(dataset: Any, which: str) -> np.ndarray:
        """Range-checked, as the binary version's are (unverified files too)."""
        values = np.asarray(dataset.targets, dtype=np.int64)
        if values.min() < 0 or values.max() >= len(train.classes):
            bad = values.max() if values.max() >= len(train.classes) else values.min()
            raise DataError(
                f"{folder}: its {which} images hold label {bad}, but the dataset has "
                f"{len(train.classes)} classes: a file is damaged or of another dataset. "
                f"{_redownload(folder)}"
            )
        return values

    return HostData(
        train_images=images(train),
        train_labels=labels(train, "training"),
        test_images=images(test),
        test_labels=labels(test, "test"),
        classes=list(train.classes),
        source=f"{folder} (python, {'md5-verified' if verify else 'not verified'})",
    )


def _download_python(root: Path, name: str) -> None:
    """Let torchvision fetch and unpack the python version into ``root`` (skipped if intact);
    the folders it made for a download that failed go with it (an empty data folder stayed)."""
    made = [folder for folder in (root, *root.parents) if not folder.exists()]
    try:
        _torchvision_class(name)(str(root), train=True, download=True)
    except (OSError, RuntimeError) as e:
        for folder in made:  # the deepest first; one holding anything stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise DataError(
            f"Downloading {name} into {root} failed ({type(e).__name__}: {e}). "
            f"{_how_to_get(name, root, tried_download=True)}"
        ) from e


def _present(folder: Path, names: list[str]) -> bool:
    return any((folder / n).is_file() for n in names)


def absolute_root(root: str) -> str:
    """A data root as an absolute path: a relative one is relative to where the command was
    started, even if Hydra changed the working directory. An empty one stays empty (Path("")
    is the current folder, not what ``data.root=$DATA`` with DATA unset meant): refused where
    files are read, unused by synthetic data."""
    if not root.strip():
        return root
    return to_absolute_path(str(Path(root).expanduser()))


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reading_data(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """A data file or folder the system will not let the run read (permissions, a disk error)
    is one line naming it, as every other data problem (it was a Python trace)."""

    @functools.wraps(function)
    def reading(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except OSError as e:
            where = e.filename or "the dataset"
            raise DataError(
                f"{where} cannot be read ({e.strerror or e}): check its permissions and the disk"
            ) from e

    return reading


@_reading_data
def _load_cifar(cfg: DataCfg) -> HostData:
    """Read the dataset ``locate_cifar`` finds (fetching it first with data.download=true)."""
    binary, folder = locate_cifar(cfg)
    if binary:
        if cfg.name == "cifar10":
            return load_cifar10_binary(folder, CIFAR10_BIN_MD5 if cfg.verify else None)
        return load_cifar100_binary(folder, CIFAR100_BIN_RECORDS if cfg.verify else None)
    if cfg.download:
        _download_python(folder.parent, cfg.name)
    return load_cifar_python(folder, cfg.name, cfg.verify)


@_reading_data
def locate_cifar(cfg: DataCfg) -> tuple[bool, Path]:
    """Where the dataset's files are under cfg.root, found without reading them: (binary?,
    folder), the binary version first, then the python version (where data.download=true
    would fetch it, if it is not there); a DataError naming where it looked."""
    name = cfg.name
    if not cfg.root.strip():
        raise DataError(
            "data.root is empty (an unset shell variable? RESNET_LAB_DATA set to nothing?): "
            "give the folder holding the dataset, or leave both out to read ./data"
        )
    root = Path(absolute_root(cfg.root))
    if name == "cifar10":
        bin_folder, bin_names = CIFAR10_BIN_FOLDER, [*CIFAR10_BIN_TRAIN, CIFAR10_BIN_TEST]
    else:
        bin_folder, bin_names = CIFAR100_BIN_FOLDER, list(CIFAR100_BIN_RECORDS)
    py_folder = PYTHON_FOLDERS[name]
    if root.is_file():
        archive = root.name.endswith((".tar.gz", ".tgz"))
        raise DataError(
            f"data.root must be a folder, but {root} is a file"
            + (
                f": unpack the archive (tar xzf {root} -C {root.parent}) and use "
                f"data.root={root.parent}"
                if archive
                else f". Point it at the folder that holds {bin_folder}/ or {py_folder}/."
            )
        )
    # The root may hold the unpacked folder, or be that folder itself.
    for folder in (root / bin_folder, root):
        if _present(folder, bin_names):
            return True, folder
    py_names = list(PYTHON_FILES[name])
    py_candidates = [root / py_folder] + ([root] if root.name == py_folder else [])
    for folder in py_candidates:
        if _present(folder, py_names):
            return False, folder
    if cfg.download:
        return False, root / py_folder
    looked = "\n".join(
        [
            f"  {root / bin_folder}  (binary version: {', '.join(bin_names)})",
            f"  {root}  (the binary files directly in the data root)",
            f"  {root / py_folder}  (python version: {', '.join(py_names)})",
        ]
    )
    missing_root = "" if root.is_dir() else f" (the data root {root} does not exist)"
    raise DataError(
        f"{name} not found{missing_root}. Looked in:\n{looked}\n{_how_to_get(name, root)}"
    )


def check_data_options(cfg: DataCfg) -> None:
    """What ``load_data`` refuses before it reads a file: its options, and files not there."""
    _check_options(cfg)
    if cfg.name != "synthetic":
        locate_cifar(cfg)


def make_synthetic(num_classes: int, train_size: int, test_size: int) -> HostData:
    """A learnable stand-in for CIFAR, made without files and identical in every process.

    Each class has its own colour plus a smooth low-frequency pattern; every image adds a
    brightness jitter and pixel noise. Colour survives any crop and flip, so a tiny net learns
    the classes in a few dozen steps, while the noise keeps the task from being a lookup.
    """
    if num_classes < 2 or train_size < 1 or test_size < 1:
        raise ConfigError(
            "synthetic data needs data.num_classes >= 2 and positive "
            f"data.synthetic_train_size/synthetic_test_size (got {num_classes}, "
            f"{train_size}, {test_size})"
        )
    protos_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(SYNTHETIC_SEED).spawn(3)
    )
    yy, xx = np.meshgrid(np.linspace(0, 1, 32), np.linspace(0, 1, 32), indexing="ij")
    colour = protos_rng.uniform(40, 215, size=(num_classes, 3, 1, 1))
    freq = protos_rng.integers(0, 3, size=(num_classes, 3, 2, 1, 1))
    phase = protos_rng.uniform(0, 2 * np.pi, size=(num_classes, 3, 1, 1))
    pattern = np.cos(2 * np.pi * (freq[:, :, 0] * yy + freq[:, :, 1] * xx) + phase)
    protos = (colour + 30 * pattern).astype(np.float32)  # [K, 3, 32, 32]

    def sample(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(n) % num_classes)
        gain = rng.normal(1.0, 0.08, size=(n, 1, 1, 1)).astype(np.float32)
        noise = rng.standard_normal(size=(n, *IMAGE_SHAPE), dtype=np.float32) * 20
        images = np.clip(np.rint(protos[labels] * gain + noise), 0, 255).astype(np.uint8)
        return images, labels.astype(np.int64)

    train_images, train_labels = sample(train_rng, train_size)
    test_images, test_labels = sample(test_rng, test_size)
    return HostData(
        train_images=train_images,
        train_labels=train_labels,
        test_images=test_images,
        test_labels=test_labels,
        classes=[f"class_{i}" for i in range(num_classes)],
        source=f"synthetic (seed {SYNTHETIC_SEED})",
    )


# ---------------------------------------------------------------------------------------------
# Splits and the device copy


def _check_options(cfg: DataCfg) -> None:
    if cfg.name not in DATASETS:
        raise DataError(f"unknown dataset data.name={cfg.name!r}; valid: {', '.join(DATASETS)}")
    if cfg.split not in SPLITS:
        raise ConfigError(f"unknown data.split={cfg.split!r}; valid: {', '.join(SPLITS)}")
    _check_normalization(cfg.normalization)
    _check_pad_mode(cfg.pad_mode)
    limit = cfg.limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"data.limit must be a positive integer or null, got {limit!r}")


def _check_normalization(normalization: str) -> None:
    if normalization not in NORMALIZATIONS:
        raise ConfigError(
            f"unknown data.normalization={normalization!r}; valid: {', '.join(NORMALIZATIONS)}"
        )


def _check_pad_mode(pad_mode: str) -> None:
    if pad_mode not in PAD_MODES:
        raise ConfigError(f"unknown data.pad_mode={pad_mode!r}; valid: {', '.join(PAD_MODES)}")


def train_rows(total: int, split: str, limit: int | None = None) -> int:
    """How many of the first ``total`` training images a run trains on: split=val keeps the
    first 90% (the last 10% are its validation images), data.limit the first N of those."""
    rows = total - total // 10 if split == "val" else total
    return rows if limit is None else min(rows, limit)


def load_data(cfg: DataCfg, device: torch.device | str, test_too: bool = False) -> DeviceData:
    """Load the dataset named by ``cfg``, apply split and limit, and put it on ``device``.

    split=full trains on all training images and evaluates on the test set; split=val trains on
    the first 90% (45k for CIFAR) and evaluates on the last 10% of the training images, and with
    ``test_too`` keeps the test set beside them (an epoch chosen on validation, tested).
    """
    _check_options(cfg)
    if cfg.name == "synthetic":
        host = make_synthetic(cfg.num_classes, cfg.synthetic_train_size, cfg.synthetic_test_size)
    else:
        host = _load_cifar(cfg)
        if cfg.num_classes != len(host.classes):
            raise ConfigError(
                f"data.num_classes={cfg.num_classes} but {cfg.name} has {len(host.classes)} "
                f"classes: choose the dataset with data={cfg.name}, which sets both"
            )
    train_x, train_y = host.train_images, host.train_labels
    if cfg.split == "full":
        eval_x, eval_y, eval_split = host.test_images, host.test_labels, "test"
    else:
        n_train = train_rows(len(train_y), "val")
        if n_train == len(train_y):
            raise ConfigError(
                f"data.split=val needs at least 10 training images, {cfg.name} has {n_train}"
            )
        eval_x, eval_y, eval_split = train_x[n_train:], train_y[n_train:], "val"
        train_x, train_y = train_x[:n_train], train_y[:n_train]
    test_x, test_y = (host.test_images, host.test_labels) if test_too else (None, None)
    if cfg.limit is not None:  # train_rows(..., cfg.limit) of the training images in all
        train_x, train_y = train_x[: cfg.limit], train_y[: cfg.limit]
        eval_x, eval_y = eval_x[: cfg.limit], eval_y[: cfg.limit]
        if test_x is not None and test_y is not None:
            test_x, test_y = test_x[: cfg.limit], test_y[: cfg.limit]
    mean, std = input_statistics(torch.from_numpy(train_x), cfg.normalization)
    device = torch.device(device)

    def put(array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)

    return DeviceData(
        train_images=put(train_x),
        train_labels=put(train_y),
        eval_images=put(eval_x),
        eval_labels=put(eval_y),
        eval_split=eval_split,
        mean=mean.to(device),
        std=None if std is None else std.to(device),
        num_classes=len(host.classes),
        classes=host.classes,
        source=host.source,
        test_images=None if test_x is None else put(test_x),
        test_labels=None if test_y is None else put(test_y),
    )


# ---------------------------------------------------------------------------------------------
# Batches


def input_statistics(
    train_images: torch.Tensor, normalization: str
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(mean, std or None) in [0, 1] units that ``normalization`` uses, of uint8 training
    images [N, 3, H, W] (see :data:`NORMALIZATIONS`).

    Exact integer sums, then float64: the figures depend neither on summation order nor on the
    device. The standard deviation is the population one, over every pixel of a channel.
    """
    _check_normalization(normalization)  # a checkpoint's, from a newer lab
    n, channels, height, width = train_images.shape
    device = train_images.device
    pixel_sums = torch.zeros(channels, height, width, dtype=torch.int64, device=device)
    squares = torch.zeros(channels, dtype=torch.int64, device=device)
    for chunk in train_images.split(4096):  # int64 copies of 4096 images: 100 MB at a time
        wide = chunk.to(torch.int64)
        pixel_sums += wide.sum(dim=0)
        if normalization == "channel_mean_std":
            squares += (wide * wide).sum(dim=(0, 2, 3))
    if normalization == "pixel_mean":
        return (pixel_sums.to(torch.float64) / (255.0 * n)).to(torch.float32), None
    values = n * height * width
    mean = pixel_sums.sum(dim=(1, 2)).to(torch.float64) / values
    std = (squares.to(torch.float64) / values - mean * mean).clamp(min=0).sqrt()
    if (std == 0).any():  # e.g. data.limit=1 on a flat image: the division would give inf
        raise ConfigError(
            "data.normalization=channel_mean_std: a channel of the training images is constant "
            "(standard deviation 0); use data.normalization=pixel_mean or more images"
        )
    return (
        (mean / 255).to(torch.float32).view(channels, 1, 1),
        (std / 255).to(torch.float32).view(channels, 1, 1),
    )


def normalize(
    images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor | None = None
) -> torch.Tensor:
    """uint8 images -> float32 in [0, 1], minus the training mean (per pixel: the ResNet papers'),
    divided by the per-channel standard deviation where one is given."""
    x = images.to(torch.float32) / 255 - mean
    return x if std is None else x / std


def augment(x: torch.Tensor, generator: torch.Generator, pad_mode: str = "zeros") -> torch.Tensor:
    """Pad 4 pixels, take a random crop of the original size, flip half the images.

    Zero padding of the normalized image, as fb.resnet.torch does; ``pad_mode="reflect"``
    mirrors the image instead, without repeating its edge (Wide ResNet's Torch code,
    nn.SpatialReflectionPadding). One gather over per-image index grids does every crop and
    flip at once, on x's device, without a host sync.
    """
    _check_pad_mode(pad_mode)
    b, c, h, w = x.shape
    padded = F.pad(x, (PAD, PAD, PAD, PAD), mode=PAD_MODES[pad_mode]).reshape(b, c, -1)
    width = w + 2 * PAD
    offsets = torch.randint(0, 2 * PAD + 1, (2, b), generator=generator, device=x.device)
    flip = torch.randint(0, 2, (b, 1), generator=generator, device=x.device).bool()
    cols = torch.arange(w, device=x.device)
    cols = offsets[1, :, None] + torch.where(flip, w - 1 - cols, cols)  # [b, w]
    rows = offsets[0, :, None] + torch.arange(h, device=x.device)  # [b, h]
    index = (rows[:, :, None] * width + cols[:, None, :]).reshape(b, 1, h * w)
    return padded.gather(2, index.expand(b, c, h * w)).reshape(b, c, h, w)


def derive_seed(seed: int, stream: str) -> int:
    """Independent 63-bit seeds, one per named stream of a run's seed: the batches' permutation
    and augmentation, and the draws a resume on another kind of device starts anew."""
    digest = hashlib.sha256(f"resnet_lab.data:{stream}:{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class TrainBatches:
    """Endless stream of training batches of constant shape for an iteration-exact trainer.

    The stream is a concatenation of per-epoch random permutations of the training set, cut into
    consecutive chunks of ``batch_size``; a batch may straddle two epochs, so every batch has the
    same shape and every N consecutive samples from an epoch start visit each image once.
    """

    def __init__(
        self,
        data: DeviceData,
        batch_size: int,
        seed: int,
        augment: bool = True,
        pad_mode: str = "zeros",
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch size must be positive, got {batch_size}")
        self._data = data
        self._n = data.train_labels.shape[0]
        if self._n == 0:
            raise DataError("the training set is empty")
        self._batch_size = batch_size
        self._augment = augment
        self._pad_mode = pad_mode
        self._device = data.train_images.device
        self._seed = seed
        self._perm_gen = torch.Generator(device=self._device)
        self._perm_gen.manual_seed(derive_seed(seed, "permutation"))
        self._aug_gen = torch.Generator(device=self._device)
        self._aug_gen.manual_seed(derive_seed(seed, "augment"))
        self._perm = self._new_permutation()
        self._pos = 0

    def _new_permutation(self) -> torch.Tensor:
        return torch.randperm(self._n, generator=self._perm_gen, device=self._device)

    def _indices(self) -> torch.Tensor:
        pieces = []
        needed = self._batch_size
        while needed:
            if self._pos == self._n:
                self._perm, self._pos = self._new_permutation(), 0
            take = min(needed, self._n - self._pos)
            pieces.append(self._perm[self._pos : self._pos + take])
            self._pos += take
            needed -= take
        return pieces[0] if len(pieces) == 1 else torch.cat(pieces)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The next (normalized, augmented float32 images, int64 labels) batch."""
        index = self._indices()
        data = self._data
        x = normalize(data.train_images.index_select(0, index), data.mean, data.std)
        if self._augment:
            x = augment(x, self._aug_gen, self._pad_mode)
        return x, self._data.train_labels.index_select(0, index)

    def state_dict(self) -> dict:
        """Generator states, current permutation and position: enough to resume bit-exactly."""
        return {
            "n": self._n,
            "batch_size": self._batch_size,
            "augment": self._augment,
            "device_type": self._device.type,
            "perm": self._perm.cpu(),
            "pos": self._pos,
            "perm_rng": self._perm_gen.get_state(),
            "aug_rng": self._aug_gen.get_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue the stream saved by :meth:`state_dict` (same data and batch size). Saved on
        another kind of device: a CPU's generator state means nothing to CUDA's, and back, so
        the epoch under way keeps its order and the later draws come from generators seeded
        anew, from this seed and the saved states (each resume so draws its own)."""
        mine = {"n": self._n, "batch_size": self._batch_size, "augment": self._augment}
        saved = {k: state[k] for k in mine}
        if saved != mine:
            raise ConfigError(
                f"cannot resume the batch stream: it was saved with {saved}, this run has {mine}"
            )
        self._perm = state["perm"].to(self._device)
        self._pos = int(state["pos"])
        perm_rng, aug_rng = state["perm_rng"].cpu(), state["aug_rng"].cpu()
        if state["device_type"] == self._device.type:
            self._perm_gen.set_state(perm_rng)  # states are CPU bytes on any device
            self._aug_gen.set_state(aug_rng)
            return
        mark = hashlib.sha256(perm_rng.numpy().tobytes() + aug_rng.numpy().tobytes()).hexdigest()
        self._perm_gen.manual_seed(derive_seed(self._seed, f"permutation:{mark}"))
        self._aug_gen.manual_seed(derive_seed(self._seed, f"augment:{mark}"))
        log.warning(
            "the run drew its batches on %s and continues on %s: the epoch under way keeps its "
            "order, and the later epochs' order and the augmentation come from new draws (one "
            "device's generators cannot continue another's): the same recipe, not the batches "
            "an uninterrupted run would have drawn",
            state["device_type"],
            self._device.type,
        )


def eval_batches(
    data: DeviceData, batch_size: int, test_set: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The eval set in order, normalized and not augmented; the last batch may be smaller.
    ``test_set``: the test set kept beside the validation images instead."""
    if batch_size < 1:
        raise ConfigError(f"eval batch size must be positive, got {batch_size}")
    images, labels = data.eval_images, data.eval_labels
    if test_set:
        if data.test_images is None or data.test_labels is None:
            raise ValueError("no test set beside the validation images (load_data: test_too)")
        images, labels = data.test_images, data.test_labels
    for start in range(0, labels.shape[0], batch_size):
        batch = images[start : start + batch_size]
        yield normalize(batch, data.mean, data.std), labels[start : start + batch_size]
