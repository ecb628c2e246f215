"""A new sweep whose every job the lab would refuse is told once, before any job starts.

Each job of a sweep checks its own config, network and data files before it trains; a refused job
leaves a folder and a message, and the sweep exits 1 once all were tried. So a mistake every job
made (no data where the rows look, ``EXTRA=model.depth=21`` for every row) meant a message and a
folder per job. Hydra composes every job before it launches it anyway; so does this check, which
stops at the first job that would train. It exits 1 as the sweep would have: ``make
reproduce-table`` goes on to its other tables, whose rows may read other data.
"""

from __future__ import annotations

import re
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

from resnet_lab import stopping
from resnet_lab.config import CONF_DIR
from resnet_lab.errors import UserError

_HYDRA_INTERPOLATION = re.compile(r"\$\{\s*hydra:")


def every_job_refused(overrides: list[str], sweep_dir: str | None) -> str | None:
    """Why each job of the sweep of ``overrides`` would be refused, told with the first job's
    message; None as soon as one job would train. Only for a new sweep (``sweep_dir`` not given,
    or holding no run yet): a finished table re-run where its data are gone (its report rebuilt
    on another machine) skips its runs, reading nothing."""
    if sweep_dir is not None and ("${" in sweep_dir or _holds_a_run(Path(sweep_dir))):
        return None
    if any(  # a setting resolved in a job only (where Hydra of an earlier run in this process
        # is set, it resolved to that run's); hydra.* overrides are not the jobs' configs
        _HYDRA_INTERPOLATION.search(override)
        for override in overrides
        if not override.lstrip("+~").startswith("hydra")
    ):
        return None
    with stopping.signals_held("resnet-lab") as received:
        from resnet_lab.train import check_before_training  # imports torch: a sweep's cost only
    if received:  # told as one during the other checks is (resnet_lab.console)
        stopping.last_signal = received[0]
        raise KeyboardInterrupt

    first: str | None = None
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        try:
            count, jobs = _jobs(overrides)
        except HydraException:  # an override Hydra cannot read: its own message says so
            return None
        for job in jobs:
            try:
                check_before_training(compose("config", overrides=job))
            except (HydraException, OmegaConfBaseException):  # not composed without Hydra's
                return None  # own run (${hydra:...}), or refused by it: the jobs will say
            except UserError as e:
                first = first or f"({' '.join(job) or 'the defaults'}): {e}"
                continue
            return None
    if first is None:
        return None
    return f"every job of this sweep ({count}) would be refused, none started; the first {first}"


def _jobs(overrides: list[str]) -> tuple[int, list[list[str]]]:
    """How many jobs, and the lab's overrides of each as Hydra's basic sweeper makes them (globs
    expanded), told once: Hydra's own (``hydra/launcher``, ``hydra.sweep.subdir``) and a seed
    change nothing checked before training (the first seed's job stands for the others)."""
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    parsed = parser.parse_overrides(overrides)
    jobs = [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]
    distinct: dict[tuple[str, ...], list[str]] = {}
    for job in jobs:
        own = [o for o in job if not o.lstrip("+~").startswith("hydra")]
        distinct.setdefault(tuple(o for o in own if not o.startswith("seed=")), own)
    return len(jobs), list(distinct.values())


def _holds_a_run(folder: Path) -> bool:
    return folder.is_dir() and next(folder.rglob("result.json"), None) is not None
