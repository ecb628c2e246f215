"""The Python API: the same Hydra config, defaults and override syntax as the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from hydra import compose, initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from resnet_lab.command_line import (
    a_word_that_is_no_override,
    an_override_hydra_cannot_read,
    config_folder_problem,
    hydra_problem,
    override_problem,
    parsed_overrides,
    searchpath_override,
    unknown_keys,
    wrong_type,
)
from resnet_lab.errors import ConfigError, in_one_line

if TYPE_CHECKING:
    from torch import nn

CONFIG_MODULE = "resnet_lab.conf"
CONFIG_NAMES = ("config", "lesion")  # resnet-lab's and resnet-lab-lesion's primary configs


def compose_config(
    overrides: list[str] | None = None,
    config_name: str = "config",
    config_dir: str | os.PathLike[str] | None = None,
) -> DictConfig:
    """Compose a config of the package (``config``: resnet-lab's; ``lesion``: resnet-lab-lesion's)
    with command-line style overrides, e.g. ``["shortcut=gate"]``; ``config_dir``: a folder of
    one's own configs, searched after the package's as ``--config-dir`` is."""
    if isinstance(overrides, str):  # list("model.depth=20") would be one override per character
        raise TypeError(f"overrides is a list of strings: [{overrides!r}], not {overrides!r}")
    if isinstance(overrides, dict):  # its keys alone would be read as overrides
        as_list = [f"{key}={value}" for key, value in overrides.items()]
        raise TypeError(f"overrides is a list of strings: {as_list!r}, not a dict")
    config_name = config_name.removesuffix(".yaml")
    if config_name not in CONFIG_NAMES:
        raise ValueError(f"config_name={config_name!r}: choose {' or '.join(CONFIG_NAMES)}")
    overrides = list(overrides or [])
    if config_dir is not None and not os.fspath(config_dir).strip():  # Path("") is "."
        raise ConfigError("config_dir is empty: give a folder of your own configs, or None")
    flags = [] if config_dir is None else [f"--config-dir={os.fspath(config_dir)}"]
    if problem := config_folder_problem(flags):  # told in the command line's words
        raise ConfigError(problem.replace("--config-dir ", "config_dir=", 1))
    if problem := (
        _a_flag(overrides)
        or a_word_that_is_no_override(overrides)
        or an_override_hydra_cannot_read(overrides)
        or _a_sweep(overrides)
        or hydra_problem(overrides)
    ):
        raise ConfigError(problem.removesuffix(" (see --help)"))  # the command's help
    if config_name == "lesion":
        from resnet_lab.lesion_config import LesionRunCfg, unknown_settings_message

        unknown = unknown_keys(overrides, LesionRunCfg)
        problem = (
            unknown_settings_message(unknown) if unknown else wrong_type(overrides, LesionRunCfg)
        )
    else:  # the command line's one-line answers, not Hydra's ("did you mean trainer.lr?")
        problem = override_problem([*flags, *overrides])
    if problem:
        raise ConfigError(problem)
    if config_dir is not None:
        overrides.append(searchpath_override(Path(config_dir)))
    # inside a running Hydra (one's own app, a test's): set aside while the lab's config is
    # composed, for composing in it gave that app's config, not the lab's
    running = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_module(config_module=CONFIG_MODULE, version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
        OmegaConf.to_container(cfg, resolve=True)  # a ${...} that cannot resolve: told here
        return cfg
    except (HydraException, OmegaConfBaseException, ValueError, AssertionError) as e:
        raise ConfigError(in_one_line(e)) from e  # what the checks above do not foresee
    finally:
        if running is not None:
            GlobalHydra.instance().initialize(running)


def _a_flag(overrides: list[str]) -> str | None:
    """``-m`` or ``--config-dir=x`` among the overrides: Hydra's parse error."""
    flags = [o for o in overrides if o.startswith("-")]
    if not flags:
        return None
    return (
        f"{flags[0]}: the API composes one config from key=value overrides; the command line's "
        "flags are not among them (config_dir= gives a folder of one's own configs)"
    )


def _a_sweep(overrides: list[str]) -> str | None:
    """``seed=0,1``: one config is composed (Hydra: "Ambiguous value ... add --multirun")."""
    for override, parsed in parsed_overrides(overrides):
        if parsed.is_sweep_override():
            return f"{override} sweeps over values: the API composes one config, give one value"
    return None


def build_model(
    overrides: list[str] | None = None, config_dir: str | os.PathLike[str] | None = None
) -> nn.Module:
    """Build the network the command line would train with these overrides (``config_dir`` as
    in :func:`compose_config`), with the run's initial weights: drawn from ``seed`` as the
    trainer draws them, leaving the caller's random state as it was.

    >>> net = build_model(["model.depth=20", "shortcut=gate", "shortcut.gate_bias=-6"])
    """
    import torch

    from resnet_lab.config import check_known_keys, check_seed
    from resnet_lab.models import build_network

    cfg = compose_config(overrides, config_dir=config_dir)
    check_known_keys(cfg)
    check_seed(cfg.seed)
    with torch.random.fork_rng(devices=[]):  # the CPU's generator: the net is built there
        torch.default_generator.manual_seed(cfg.seed)  # torch.manual_seed would seed CUDA's too
        return build_network(cfg)
