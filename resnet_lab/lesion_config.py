"""Typed configuration of ``resnet-lab-lesion`` (``conf/lesion.yaml``), registered in Hydra's
ConfigStore as ``resnet_lab_lesion_schema`` when this module is imported.

The keys mean what they mean for ``resnet-lab``: ``data.root``, ``data.limit``, ``trainer.device``,
``trainer.eval_batch_size``, ``seed``. Only the settings a lesion study reads are here: the
dataset itself (name, split, classes) comes from the checkpoint, so e.g. ``data.split=val`` is
an error ("Key 'split' not in 'LesionDataCfg'") rather than silently ignored; so is
``+data.split=val``, which Hydra would add (see :func:`resnet_lab.config.keys_not_in_schema`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from resnet_lab.api import compose_config
from resnet_lab.config import schema_keys, with_closest_key

EXPERIMENTS = ("single", "random", "swap", "paths")


@dataclass
class LesionDataCfg:
    """The :class:`resnet_lab.config.DataCfg` keys that apply to a trained net's data."""

    root: str | None = None  # folder holding cifar-10-batches-bin/ (null: the run's data.root
    #  where it holds the dataset, else $RESNET_LAB_DATA; a peer checkpoint's: that, else ./data)
    limit: int | None = None  # use only the first N test images (quick looks); null: all


@dataclass
class LesionTrainerCfg:
    """The :class:`resnet_lab.config.TrainerCfg` keys that apply to evaluation."""

    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N
    eval_batch_size: int = 500  # test images per batch


@dataclass
class LesionCfg:
    """The experiments of Veit et al. (2016) and their sizes."""

    experiments: list[str] = field(default_factory=lambda: list(EXPERIMENTS))  # any of these
    plain: str | None = None  # a plain net's checkpoint: its single deletions too
    max_k: int = 20  # most units deleted at random
    swap_max_k: int | None = None  # most pairs swapped (null: max_k)
    samples: int = 20  # subsets (deletions) / orders (swaps) per k
    include_downsampling: bool = False  # random deletions may delete downsampling units too
    reestimate_bn: bool = False  # recompute BN statistics after each lesion (off in the paper)
    bn_batches: int = 4  # training batches (of trainer.eval_batch_size) for that
    path_samples: int = 5  # sampled paths per length
    path_batch: int = 32  # training images for the path gradients
    path_batches: int = 1  # random batches of them, path i of a length on batch i mod this


@dataclass
class LesionRunCfg:
    # resnet-lab run folder or ckpt/step_*.pt file, or a pytorch_resnet_cifar10 .th file
    checkpoint: str = MISSING
    data: LesionDataCfg = field(default_factory=LesionDataCfg)
    trainer: LesionTrainerCfg = field(default_factory=LesionTrainerCfg)
    lesion: LesionCfg = field(default_factory=LesionCfg)
    seed: int = 0  # one random stream each for deletions, swaps and paths
    # continue the study in hydra.run.dir that a signal or a kill stopped, measuring only what
    # it had not (its settings and checkpoint must be the same)
    resume: bool = False


def register_lesion_configs() -> None:
    ConfigStore.instance().store(name="resnet_lab_lesion_schema", node=LesionRunCfg)


register_lesion_configs()


def compose_lesion_config(overrides: list[str] | None = None) -> DictConfig:
    """The ``resnet-lab-lesion`` config with command-line style overrides (the Python API)."""
    return compose_config(overrides, config_name="lesion")


def unknown_settings_message(unknown: list[str]) -> str:
    """What the study says of settings it lacks, the closest known key of each named."""
    section = unknown[0].rpartition(".")[0]
    if not schema_keys(LesionRunCfg, section):  # model.depth: a section the study lacks
        section = ""
    known = ", ".join(schema_keys(LesionRunCfg, section))
    message = (
        f"unknown setting{'s' if len(unknown) > 1 else ''} "
        f"{', '.join(with_closest_key(name, LesionRunCfg) for name in unknown)}: not an "
        f"option of resnet-lab-lesion ({f'{section}.*' if section else 'top-level keys'}: "
        f"{known})"
    )
    if any(name.startswith("data.") for name in unknown):
        message += "; the dataset, its split and classes come from the checkpoint"
    elif any(name.startswith("model.") for name in unknown):
        message += "; the net comes from the checkpoint"
    return message
