"""Trained networks, ready to evaluate or lesion: resnet-lab runs and published peer checkpoints.

Two formats are read:

* resnet-lab checkpoints (``<run>/ckpt/step_*.pt``, checksum-verified), or a run folder, whose
  newest good checkpoint is used. The network is rebuilt from the config stored in the file.
* checkpoints of the public ``pytorch_resnet_cifar10`` project (``{'state_dict': {'module.conv1.
  weight': ...}, 'best_prec1': ...}``): original-unit CIFAR ResNets with option-A shortcuts. They
  are imported into resnet-lab's *own* ``ResNet`` (same depth, width 16, zero-padded shortcuts),
  which computes the same function, so every resnet-lab tool (lesions, paths) works on them.

Each checkpoint expects its own input normalisation, so :func:`load_pretrained` returns a
:class:`NormalizedNet` that normalises its input itself: give it uint8 images (0-255) or float
images already scaled to [0, 1], shape [N, 3, 32, 32].
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from resnet_lab.api import build_model
from resnet_lab.checkpoint import (
    CHECKPOINT_GLOB,
    CHECKPOINT_SUFFIXES,
    CheckpointError,
    digest_path,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    load_weights,
    pending_digest_path,
)
from resnet_lab.config import DataCfg, structured_schema, writable_schema
from resnet_lab.data import (
    NORMALIZATIONS,
    input_statistics,
    load_data,
    locate_cifar,
    train_rows,
)
from resnet_lab.device import parse_device
from resnet_lab.errors import ConfigError, DataError, in_one_line
from resnet_lab.models import ResNet, build_network, config_as_trained, describe_network
from resnet_lab.run_folder import holds_a_run

# pytorch_resnet_cifar10 trains on (x / 255 - mean) / std per channel (its ImageNet constants).
PEER_MEAN = (0.485, 0.456, 0.406)
PEER_STD = (0.229, 0.224, 0.225)

_PEER_UNIT_KEY = re.compile(r"layer([1-3])\.(\d+)\.(conv1|bn1|conv2|bn2)\.(\w+)")
# Positions in resnet-lab's post_act branch Sequential: conv, BN, ReLU, conv, BN.
_PEER_BRANCH_INDEX = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4}
_PEER_OUTER = {"conv1": "stem.0", "bn1": "stem.1", "linear": "fc"}


class NormalizedNet(nn.Module):
    """A trained ResNet together with the input normalisation it was trained with.

    ``forward(images)``: uint8 images in 0-255, or float images in [0, 1], [N, 3, 32, 32] ->
    logits. It computes ``net((images / 255 - mean) / std)``; ``std`` is None for resnet-lab nets
    trained with the per-pixel mean subtraction only (``data.normalization=pixel_mean``).
    ``units`` and ``downsampling_units`` are those of the inner resnet-lab ``ResNet`` (``.net``),
    so lesion tools can reach them.
    """

    def __init__(
        self, net: nn.Module, mean: Tensor, std: Tensor | None, info: dict[str, Any]
    ) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("mean", mean.to(torch.float32), persistent=False)
        self.register_buffer(
            "std", None if std is None else std.to(torch.float32), persistent=False
        )
        self.info = info  # kind, path, depth, normalisation, ...: for reports

    @property
    def units(self) -> nn.ModuleList:
        """The residual units, of a ResNet only (lesion studies, gates)."""
        return self._resnet().units

    @property
    def downsampling_units(self) -> list[int]:
        return self._resnet().downsampling_units

    def _resnet(self) -> ResNet:
        # TypeError: an AttributeError raised in a property would reach nn.Module's __getattr__,
        # whose "has no attribute 'units'" hides why
        if not isinstance(self.net, ResNet):
            raise TypeError(f"{self.info['net']} is not a ResNet: it has no residual units")
        return self.net

    def normalize(self, images: Tensor) -> Tensor:
        """The network's input for ``images`` (uint8 0-255 or float in [0, 1]), in float32 as the
        network's weights."""
        x = images.to(torch.float32)
        x = x / 255 if images.dtype == torch.uint8 else x
        x = x - self.mean
        return x if self.std is None else x / self.std

    def forward(self, images: Tensor) -> Tensor:
        # as the run evaluated: a bf16 run's errors were measured under bf16 autocast; the
        # logits come back in float32 all the same (numpy, a caller's arithmetic)
        bf16 = self.info.get("precision") == "bf16"
        with torch.autocast(images.device.type, torch.bfloat16, enabled=bf16):
            return self.net(self.normalize(images)).float()


@dataclass
class LoadedCheckpoint:
    kind: str  # "resnet-lab" or "peer"
    state: dict[str, Any]
    path: Path  # the file actually read
    damaged_newer: int = 0  # newer checkpoints of its folder that could not be read


def _no_checkpoint_in(folder: Path, ckpt_dir: Path) -> str:
    """Why a folder gave no checkpoint, and which of its files to give instead."""
    if ckpt_dir != folder:
        return f"{folder}: no checkpoint (expected {ckpt_dir}/{CHECKPOINT_GLOB})"
    files = sorted(p.name for p in folder.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
    hint = f"; give one of its files: {', '.join(files[:3])}{', ...' * (len(files) > 3)}"
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and holds_a_run(p))  # a sweep's
    if runs and not files:
        hint = f"; it holds runs ({len(runs)}): give one of them, e.g. {runs[0]}"
    return (
        f"{folder}: no checkpoint (a run folder holds ckpt/{CHECKPOINT_GLOB}; this folder has "
        f"no ckpt/ and no {CHECKPOINT_GLOB} file){hint if files or runs else ''}"
    )


def _device(map_location: str | torch.device) -> str | torch.device:
    """map_location checked (and "auto" resolved) first: where CUDA is absent, torch's refusal
    to load onto it would read as a damaged checkpoint."""
    if str(map_location) == "cpu":
        return map_location
    return parse_device(str(map_location), option="map_location")


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> LoadedCheckpoint:
    """Read a checkpoint file or a run folder's newest good checkpoint and tell its format
    (``~`` is the home folder: Hydra leaves resnet-lab-lesion's ``checkpoint='~/r.pt'`` as is)."""
    path = Path(path).expanduser()
    try:
        return _read_checkpoint(path, _device(map_location))
    except PermissionError as e:  # another user's run on a shared machine: a trace
        raise CheckpointError(
            f"{e.filename or path}: this user may not read it (permission denied)"
        ) from None
    except FileNotFoundError:  # pruned as it was read by its run, still training: a trace
        raise CheckpointError(f"{path}: removed as it was read{_pruned_hint(path)}") from None


def _later_steps(path: Path) -> int | None:
    """The checkpoints of later steps beside ``path``, a step_*.pt of a run's ckpt/; None for
    any other file (a copy, best.pt, or one outside a run), which has no place among them."""
    if path.parent.name != "ckpt" or not path.match(CHECKPOINT_GLOB):
        return None
    return sum(p.name > path.name for p in list_checkpoints(path.parent))


def _pruned_hint(path: Path) -> str:
    """Where a checkpoint file of a run's ckpt/ is gone and later ones are there: the run
    keeps its newest ones only (trainer.keep_checkpoints), which its folder gives."""
    if not _later_steps(path):  # none (a typo, say), or not a run's step
        return ""
    return (
        f" (its run keeps only its newest checkpoints, trainer.keep_checkpoints): give the run "
        f"folder, {shlex.quote(str(path.parent.parent))}, whose newest checkpoint is read"
    )


def _read_checkpoint(path: Path, map_location: str | torch.device) -> LoadedCheckpoint:
    damaged_newer = 0
    try:
        is_dir = path.is_dir()
    except OSError as e:  # a name longer than the file system takes: a trace
        raise CheckpointError(f"{path}: the file system refuses it ({e.strerror})") from None
    if is_dir:
        ckpt_dir = path / "ckpt" if (path / "ckpt").is_dir() else path
        if not os.access(ckpt_dir, os.R_OK | os.X_OK):  # glob would find nothing, silently
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(ckpt_dir))
        # listed first: one a run still training saves meanwhile is newer, not damaged
        listed = list_checkpoints(ckpt_dir)
        loaded = load_latest_checkpoint(ckpt_dir, map_location)
        if loaded is None:
            raise CheckpointError(_no_checkpoint_in(path, ckpt_dir))
        state, path = loaded
        damaged_newer = sum(p > path for p in listed)
    elif not path.is_file():
        bare = str(path).removeprefix("checkpoint=")  # resnet-lab-lesion's spelling
        given_as = bare != str(path) and Path(bare).exists()
        hint = f": give the path alone, {shlex.quote(bare)}" if given_as else _pruned_hint(path)
        raise CheckpointError(
            f"{path}: no checkpoint (no such checkpoint file or run folder){hint}"
        )
    elif digest_path(path).exists() or pending_digest_path(path).exists():
        state = load_checkpoint(path, map_location)
    elif not _is_torch_file(path):
        empty = path.stat().st_size == 0  # a copy that failed, say
        raise not_a_checkpoint(path, "an empty file" if empty else "not a PyTorch file")
    else:
        try:
            state = torch.load(path, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as e:  # torch's text asks users to file an issue: not ours
            raise not_a_checkpoint(
                path, "a PyTorch file holding Python objects besides tensors, which are not loaded"
            ) from e
        except Exception as e:  # a damaged torch file fails in many ways inside torch.load
            raise CheckpointError(
                f"{path}: a PyTorch file that cannot be read, damaged or cut short"
                f"{_torchs_first_sentence(e)}: copy it again, or give a run folder, whose newest "
                "whole checkpoint is read"
            ) from e
    if isinstance(state, dict) and "model" in state and "config" in state:
        return LoadedCheckpoint("resnet-lab", state, path, damaged_newer)
    peer_keys = {"conv1.weight", "linear.weight"}  # a torchvision net has conv1 and fc
    if isinstance(state, dict) and peer_keys <= set(_strip_module(state.get("state_dict", {}))):
        return LoadedCheckpoint("peer", state, path)
    keys = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
    raise CheckpointError(
        f"{path}: neither a resnet-lab checkpoint (keys 'model', 'config') nor a "
        f"pytorch_resnet_cifar10 one ('state_dict' with 'module.conv1.weight'); found {keys}"
    )


def _is_torch_file(path: Path) -> bool:
    """Whether ``path`` starts as torch.save writes: a zip archive, or (legacy) a pickle."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def _torchs_first_sentence(e: Exception) -> str:
    """`` (torch: ...)``, the first sentence of torch's message: the rest of it is advice for
    torch's own bug reports ("This is an internal miniz error. If you are seeing...")."""
    text = " ".join(str(e).split())
    first = text.split(". ", 1)[0].rstrip(".")
    return f" (torch: {first})" if first else ""


def not_a_checkpoint(path: Path, why: str) -> CheckpointError:
    """A user passed some other file (e.g. a run's result.json): say what is expected instead."""
    hint = ""
    if (path.parent / "ckpt").is_dir():
        hint = f"; did you mean its run folder {path.parent}?"
    return CheckpointError(
        f"{path}: not a resnet-lab checkpoint ({why}). Expected a resnet-lab run folder or its "
        f"ckpt/{CHECKPOINT_GLOB} file, or a pytorch_resnet_cifar10 .th file{hint}"
    )


def _strip_module(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop the ``module.`` prefix that DataParallel adds to every key."""
    return {k.removeprefix("module."): v for k, v in state_dict.items()}


# ---------------------------------------------------------------------------------------------
# pytorch_resnet_cifar10 checkpoints


def peer_units_per_stage(state_dict: Mapping[str, Tensor]) -> int:
    """n of a peer ResNet-(6n+2), from its ``layer{1,2,3}.{i}`` keys; all stages must agree."""
    counts = {stage: set() for stage in "123"}
    for key in _strip_module(state_dict):
        if m := _PEER_UNIT_KEY.fullmatch(key):
            counts[m[1]].add(int(m[2]))
    sizes = {stage: len(units) for stage, units in counts.items()}
    n = sizes["1"]
    if n == 0 or set(sizes.values()) != {n} or any(u != set(range(n)) for u in counts.values()):
        raise CheckpointError(f"peer checkpoint: unexpected units per stage {sizes}")
    return n


def peer_to_lab_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename a peer state_dict to resnet-lab keys; every peer tensor must find a place.

    conv1/bn1 -> stem.0/stem.1; layerS.i.{conv1,bn1,conv2,bn2} -> units[(S-1)n+i].branch.{0,1,3,4};
    linear -> fc. Option-A shortcuts have no tensors. A key outside this scheme (e.g. an
    option-B ``shortcut.0.weight``) is an error rather than silently dropped.
    """
    peer = _strip_module(state_dict)
    n = peer_units_per_stage(peer)
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in peer.items():
        module, _, param = key.rpartition(".")
        if m := _PEER_UNIT_KEY.fullmatch(key):
            unit = (int(m[1]) - 1) * n + int(m[2])
            out[f"units.{unit}.branch.{_PEER_BRANCH_INDEX[m[3]]}.{m[4]}"] = value
        elif module in _PEER_OUTER:
            out[f"{_PEER_OUTER[module]}.{param}"] = value
        else:
            unknown.append(key)
    if unknown:
        raise CheckpointError(
            f"peer checkpoint holds tensors resnet-lab's original-unit option-A ResNet has no "
            f"place for: {', '.join(unknown[:6])}"
        )
    return out


def import_peer(state_dict: Mapping[str, Tensor]) -> ResNet:
    """resnet-lab's own original-unit ResNet-(6n+2) holding the peer's weights, loaded strictly."""
    peer = _strip_module(state_dict)
    depth = 6 * peer_units_per_stage(peer) + 2
    width = peer["conv1.weight"].shape[0]
    num_classes = peer["linear.weight"].shape[0]
    net = build_model(
        [
            "model.arch=resnet",
            "model.block=basic",
            "model.downsample=zero_pad",  # option A
            "shortcut=identity",
            "after_add=relu",  # the original unit: conv-BN-ReLU-conv-BN, add, ReLU
            f"model.depth={depth}",
            f"model.width={width}",
            f"data.num_classes={num_classes}",
        ]
    )
    mapped = peer_to_lab_state_dict(peer)
    own = net.state_dict()
    unexpected = sorted(set(mapped) - set(own))
    missing = sorted(set(own) - set(mapped))
    if unexpected or any(not k.endswith(".num_batches_tracked") for k in missing):
        raise CheckpointError(
            f"peer checkpoint does not fit resnet-lab's ResNet-{depth}: unexpected "
            f"{unexpected[:4]}, missing {[k for k in missing if 'num_batches' not in k][:4]}"
        )
    # The peer file has no num_batches_tracked (saved by an older PyTorch). It only matters for
    # BN with momentum=None in train mode; 0 says "unknown" and keeps the load strict.
    for key in missing:
        mapped[key] = torch.zeros_like(own[key])
    net.load_state_dict(mapped, strict=True)
    return net


# ---------------------------------------------------------------------------------------------
# resnet-lab checkpoints


def build_from_config(config: Mapping[str, Any], path: Path) -> nn.Module:
    """The network a run's saved (resolved) config describes (``path``: the checkpoint's)."""
    config = config_as_trained(config)
    sections = {k: config[k] for k in ("model", "shortcut", "after_add") if k in config}
    try:
        cfg = OmegaConf.merge(structured_schema(), sections)
    except Exception as e:  # a config key this version does not know (a newer lab's)
        raise CheckpointError(
            f"{path}: its config does not fit this resnet-lab (a newer version's?): "
            f"{in_one_line(e)}"
        ) from e
    return build_network(cfg)


def lab_network(loaded: LoadedCheckpoint) -> nn.Module:
    """The network of a resnet-lab checkpoint, built from its saved config and loaded strictly."""
    if loaded.kind != "resnet-lab":
        raise CheckpointError(f"{loaded.path}: not a resnet-lab checkpoint (a {loaded.kind} one)")
    net = build_from_config(loaded.state["config"], loaded.path)
    load_weights(net, loaded.state["model"], loaded.path)
    return net


def data_config(
    saved: Mapping[str, Any] | None, root: str | None = None, **changes: Any
) -> DictConfig:
    """A DataCfg for evaluation: the run's saved data settings (CIFAR-10 defaults for a peer
    checkpoint), with the data root replaced when given, else by $RESNET_LAB_DATA where the
    run's holds no dataset here (results copied to another machine: the message of data not
    found advises the variable), and ``changes`` applied."""
    fields = DataCfg.__dataclass_fields__
    known = {k: v for k, v in (saved or {}).items() if k in fields}
    if root is not None:
        changes["root"] = root
    cfg = OmegaConf.merge(writable_schema(DataCfg), known, changes)
    elsewhere = os.environ.get("RESNET_LAB_DATA")
    if root is None and "root" in known and elsewhere and not _holds_the_data(cfg):
        cfg.root = elsewhere
    return cfg


def _holds_the_data(cfg: DictConfig) -> bool:
    """Whether the data root holds the dataset's files (synthetic data: no files to hold)."""
    if cfg.name == "synthetic":
        return True
    try:
        locate_cifar(cfg)
    except DataError:
        return False
    return True


def training_statistics(
    train_images: Tensor, saved_data: Mapping[str, Any]
) -> tuple[Tensor, Tensor | None]:
    """The (mean, std or None) a run normalised its input with (its ``data.normalization``), of
    the training images it actually used: the rows load_data trains on
    (:func:`~resnet_lab.data.train_rows`), computed as load_data computes them."""
    limit = saved_data.get("limit")
    n = train_rows(
        train_images.shape[0],
        saved_data.get("split", "full"),
        None if limit is None else int(limit),
    )
    return input_statistics(train_images[:n], saved_data.get("normalization", "pixel_mean"))


def saved_statistics(loaded: LoadedCheckpoint) -> tuple[Tensor, Tensor | None] | None:
    """The (mean, std or None) a resnet-lab run normalised its input with, as its checkpoint
    saved them; None for a checkpoint of an earlier lab (or a damaged record)."""
    record = loaded.state.get("input_statistics") if loaded.kind == "resnet-lab" else None
    if not isinstance(record, dict):
        return None
    mean, std = record.get("mean"), record.get("std")
    if not isinstance(mean, Tensor) or not (std is None or isinstance(std, Tensor)):
        return None
    return mean.float().cpu(), None if std is None else std.float().cpu()


class OtherTrainingImages(ConfigError):
    """Training images whose statistics are not those a checkpoint saved: another run's data."""

    def __init__(self, message: str, differs: str) -> None:
        super().__init__(message)
        self.differs = differs  # "their mean differs from the one its checkpoint saved", ...


def check_statistics(
    loaded: LoadedCheckpoint, mean: Tensor, std: Tensor | None, source: str
) -> None:
    """Refuse training images other than the run's (read from ``source``): their statistics,
    exact whatever the device, differ from those its checkpoint saved. A data root given to a
    tool may hold other files than the run's, and the CIFAR-100 files are only size-checked."""
    saved = saved_statistics(loaded)
    if saved is None:
        return
    same_std = (saved[1] is None) == (std is None) and (
        std is None or torch.equal(saved[1], std.float().cpu())
    )
    same_mean = torch.equal(saved[0], mean.float().cpu())
    if same_mean and same_std:
        return
    differs = {
        (False, True): "their mean differs from the one",
        (True, False): "their std differs from the one",
        (False, False): "their mean and std differ from those",
    }[same_mean, same_std] + " its checkpoint saved"
    raise OtherTrainingImages(
        f"{loaded.path}: the training images in {source} are not those its run trained on "
        f"({differs}): give the run's data with data.root=DIR",
        differs,
    )


def _lab_statistics(
    loaded: LoadedCheckpoint, data_root: str | None
) -> tuple[Tensor, Tensor | None]:
    if (saved_stats := saved_statistics(loaded)) is not None:
        return saved_stats
    saved = loaded.state["config"].get("data", {})
    data = load_data(data_config(saved, data_root, split="full", limit=None), "cpu")
    return training_statistics(data.train_images, saved)


# ---------------------------------------------------------------------------------------------


IMAGE_SHAPE = (3, 32, 32)  # a CIFAR image, channels first


def _run_statistics(
    loaded: LoadedCheckpoint, mean: Tensor | None, std: Tensor | None, data_root: str | None
) -> tuple[Tensor, Tensor | None]:
    """The (mean, std) a resnet-lab run's net is fed: those given, which must be what its
    data.normalization uses, else those its checkpoint saved, else (an older lab's checkpoint)
    those of its training set."""
    config = loaded.state["config"]
    normalization = config.get("data", {}).get("normalization", "pixel_mean")
    if normalization not in NORMALIZATIONS:
        raise CheckpointError(
            f"{loaded.path}: data.normalization={normalization!r} is not one this resnet-lab "
            f"knows ({', '.join(NORMALIZATIONS)}): a newer lab's run"
        )
    if mean is None and std is not None:
        raise ValueError("std without mean: give the run's mean too, or neither")
    if mean is None:
        return _lab_statistics(loaded, data_root)
    if (std is None) != (normalization == "pixel_mean"):
        raise ValueError(
            f"{loaded.path}: the run normalised its input with data.normalization="
            f"{normalization}: give "
            + ("its mean alone" if std is not None else "its mean and its std")
        )
    return _image_statistic("mean", mean), None if std is None else _image_statistic("std", std)


def _image_statistic(name: str, value: Any) -> Tensor:
    """A given mean or std as a tensor an image batch takes: per pixel (3, 32, 32) or per
    channel (3, 1, 1). A (3,) one failed at the first forward pass, on a size mismatch."""
    wanted = "give a tensor of shape (3, 32, 32) (per pixel) or (3, 1, 1) (per channel)"
    try:
        statistic = torch.as_tensor(value, dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as e:
        problem = in_one_line(e)
        raise ValueError(f"{name} is not a tensor of numbers ({problem}): {wanted}") from None
    shape = tuple(statistic.shape)  # each dimension the image's or 1: (32,) broadcast, per column
    if len(shape) != len(IMAGE_SHAPE) or any(
        n not in (1, m) for n, m in zip(shape, IMAGE_SHAPE, strict=True)
    ):
        raise ValueError(
            f"{name} of shape {shape} does not fit a CIFAR image's {IMAGE_SHAPE}: {wanted}"
        )
    return statistic


def wrap(
    loaded: LoadedCheckpoint,
    mean: Tensor | None = None,
    std: Tensor | None = None,
    data_root: str | None = None,
) -> NormalizedNet:
    """A NormalizedNet (eval mode) from a checkpoint read by :func:`read_checkpoint`.

    ``mean`` (and ``std``): the statistics a resnet-lab run normalised its input with
    (:func:`training_statistics`); when None, those its checkpoint saved, or for an earlier
    lab's checkpoint those of the training set named in the run's config (``data_root``
    replaces the saved data.root).
    """
    state = loaded.state
    if loaded.kind == "peer":
        net = import_peer(state["state_dict"])
        info = {
            "kind": "peer",
            "net": f"pytorch_resnet_cifar10 ResNet-{6 * len(net.units) // 3 + 2}",
            "best_prec1": state.get("best_prec1"),
            "normalization": f"per-channel (x - {PEER_MEAN}) / {PEER_STD}, x in [0, 1]",
        }
        mean_t = torch.tensor(PEER_MEAN).view(3, 1, 1)
        std_t: Tensor | None = torch.tensor(PEER_STD).view(3, 1, 1)
    else:
        config = state["config"]
        net = lab_network(loaded)
        data = config.get("data", {})
        normalization = data.get("normalization", "pixel_mean")
        mean_t, std_t = _run_statistics(loaded, mean, std, data_root)
        info = {
            "kind": "resnet-lab",
            "net": f"resnet-lab {describe_network(config)}",
            **progress(loaded),
            "normalization": f"{NORMALIZATIONS[normalization]} of the "
            f"{data.get('name', '?')} training images the run trained on, x in [0, 1]",
            "data_limit": data.get("limit"),  # the run's: its own test error is on that many
            "eval_split": "val" if data.get("split") == "val" else "test",  # the run's figure's
            "precision": config.get("trainer", {}).get("precision", "fp32"),
            # trainer.test_at_best_val: the run's figure is the test error of this step's net
            "chosen_step": state.get("train_state", {}).get("best_step")
            if config.get("trainer", {}).get("test_at_best_val")
            else None,
        }
    # absolute: a record of it (lesion.json) read later, from elsewhere, still finds it
    path = os.path.abspath(loaded.path)
    info.update(path=path, units=len(net.units) if isinstance(net, ResNet) else None)
    return NormalizedNet(net, mean_t, std_t, info).eval()


def progress(loaded: LoadedCheckpoint) -> dict[str, Any]:
    """Where a lab checkpoint stands in its run, as ``evaluate.unfinished`` reads it: its step,
    the run's last, and the run's newer checkpoints beside it (damaged ones skipped too)."""
    return {
        "step": loaded.state.get("train_state", {}).get("step"),
        "max_steps": loaded.state["config"].get("trainer", {}).get("max_steps"),
        "damaged_newer": loaded.damaged_newer,
        "newer": _later_in_its_run(loaded),
    }


def _later_in_its_run(loaded: LoadedCheckpoint) -> int | None:
    """Checkpoints of later steps in the run's ckpt/ beside the one read, besides damaged ones
    a run folder's reading skipped: then it is not the run's last net. None for a file outside
    a run's ckpt/ folder, whatever lies beside it: its run is not known."""
    if (later := _later_steps(loaded.path)) is None:
        return None
    return max(0, later - loaded.damaged_newer)  # pruned since read: its run went on


def load_pretrained(
    path: str | Path,
    *,
    mean: Tensor | None = None,
    std: Tensor | None = None,
    data_root: str | None = None,
    map_location: str | torch.device = "cpu",
) -> NormalizedNet:
    """A trained net in eval mode that takes uint8 (0-255) or [0, 1] float images.

    ``path``: a resnet-lab checkpoint file, a run folder (its newest good checkpoint), or a
    pytorch_resnet_cifar10 checkpoint (imported into resnet-lab's ResNet, loaded strictly). For
    resnet-lab runs the normalisation the run trained with (its ``data.normalization``) is the
    one its checkpoint saved, unless ``mean`` (and, for ``channel_mean_std``, ``std``) is given
    (in [0, 1] units, of shape (3, 32, 32) per pixel or (3, 1, 1) per channel);
    an earlier lab's checkpoint, which saved none, has it computed from its training set, and
    ``data_root`` then overrides the data root saved in the run's config.
    """
    device = _device(map_location)
    return wrap(read_checkpoint(path, device), mean, std, data_root).to(device)
