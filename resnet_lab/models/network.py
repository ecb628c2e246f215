"""The architecture registry: ``model.arch`` chooses what ``build_network`` builds.

Each architecture names the ModelCfg fields it reads beyond the common ones, so an option the
chosen architecture would silently ignore (``model.growth_rate`` on a ResNet) is an error, as
unused shortcut options are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from omegaconf import OmegaConf
from torch import nn

from resnet_lab.config import AfterAddCfg, ModelCfg, ShortcutCfg
from resnet_lab.errors import ConfigError
from resnet_lab.models.densenet import DenseNet
from resnet_lab.models.resnet import ResNet
from resnet_lab.registry import Registry

COMMON_FIELDS = ("arch", "depth", "block", "width", "num_classes")


@dataclass(frozen=True)
class Arch:
    build: Callable[[Any], nn.Module]  # (composed config) -> network
    uses: tuple[str, ...]  # ModelCfg fields read beyond COMMON_FIELDS
    residual: bool  # reads the shortcut and after_add groups


ARCHS: Registry[Arch] = Registry("architecture")
ARCHS.add(
    "resnet",
    Arch(
        lambda cfg: ResNet(cfg.model, cfg.shortcut, cfg.after_add),
        uses=("downsample", "widen_factor", "dropout", "survival_last"),
        residual=True,
    ),
)
ARCHS.add(
    "densenet",
    Arch(
        lambda cfg: DenseNet(cfg.model),
        uses=("growth_rate", "compression", "dropout"),
        residual=False,
    ),
)


def check_model_options(cfg: Any) -> None:
    """Reject model, shortcut and after-add options that the chosen architecture ignores."""
    name = cfg.model.arch
    arch = ARCHS.get(name)
    defaults = ModelCfg()
    options = {f.name: getattr(defaults, f.name) for f in fields(ModelCfg)}
    for common in COMMON_FIELDS:
        del options[common]
    ARCHS.reject_ignored("model.arch", name, "model", cfg.model, options, lambda a: a.uses)
    if arch.residual:
        return
    for group, schema in (("shortcut", ShortcutCfg), ("after_add", AfterAddCfg)):
        if OmegaConf.to_container(OmegaConf.structured(schema())) != dict(cfg[group]):
            raise ConfigError(
                f"{group} options have no meaning for model.arch={name} (no residual units); "
                f"leave {group} at its default"
            )


def describe_network(cfg: Any) -> str:
    """``basic ResNet-110 (width 16), shortcut=gate, unit=post_act+relu``: the net a config (a
    DictConfig, or the dict a checkpoint holds) builds, for logs and for what a tool loaded."""
    m = cfg["model"]
    if m.get("arch", "resnet") != "resnet":
        return f"{m['arch']}-{m['depth']} ({m['block']}, width {m['width']})"
    return (
        f"{m['block']} ResNet-{m['depth']} (width {m['width']}), "
        f"shortcut={cfg['shortcut']['name']}, "
        f"unit={cfg['after_add']['branch']}+{cfg['after_add']['fn']}"
    )


def build_network(cfg: Any) -> nn.Module:
    """Build the network described by a composed config (``cfg.model``, ``.shortcut``, ...)."""
    try:
        check_model_options(cfg)
        return ARCHS.get(cfg.model.arch).build(cfg)
    except ConfigError as e:
        experiment = cfg.get("experiment") or {}
        if (row := experiment.get("name")) and experiment.get("table"):  # a row chose options
            raise ConfigError(
                f"{e} (+experiment={row} sets its row's options, which another choice on the "
                "command line may contradict)"
            ) from None
        raise
