"""Console entry points: thin Hydra wrappers, no logic. User mistakes exit 2 with one message."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

import resnet_lab  # noqa: F401  (registers the config schemas)
from resnet_lab.errors import UserError
from resnet_lab.train import RunInterrupted, spread_over_gpus, train

log = logging.getLogger("resnet_lab")


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """``resnet-lab [overrides]``: train one network (or a sweep with -m)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        spread_over_gpus(cfg, int(hydra_cfg.job.num))
    try:
        result = train(cfg, run_dir)
    except RunInterrupted as e:
        log.error("%s", e)
        sys.exit(e.exit_code)
    except UserError as e:
        log.error("%s", e)
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # Hydra records the failed job, runs the others, then exits non-zero
        sys.exit(2)
    error = result.get("final_test_error")
    log.info(
        "%s: %s error %s, results in %s",
        result["status"],
        result.get("eval_split", "test"),
        "n/a" if error is None else f"{error:.2f}%",
        run_dir,
    )
