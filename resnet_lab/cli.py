"""Console entry points: thin Hydra wrappers, no logic. Mistakes the lab finds exit 2 with one
message (Hydra's own too, where command_line knows them); what only Hydra finds exits 1."""

from __future__ import annotations

if __name__ == "__main__":  # python -m resnet_lab.cli: the console script (--version, signals)
    from resnet_lab import console

    console.resnet_lab()

import functools
import importlib.resources
import logging
import signal
import sys
from pathlib import Path
from typing import NoReturn, cast

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

import resnet_lab.config  # noqa: F401  (registers the config schemas)
from resnet_lab import stopping
from resnet_lab.command_line import (
    check_command_line,
    end_quietly_when_the_reader_stops,
    is_sweep,
    misnamed_profile,
    misnamed_row,
    no_job_would_train,
    outputs_root,
    variant_file_problem,
)
from resnet_lab.config import flatten_keys
from resnet_lab.errors import (
    JobRefused,
    ResumeDiffers,
    RunInterrupted,
    RunStopped,
    UserError,
    in_one_line,
)
from resnet_lab.pasteable import pasteable_override
from resnet_lab.run_folder import (
    REQUEUED_ENV,
    discard_refused_folder,
    given_on_command_line,
    holds_a_run,
    into_the_log_file,
    outputs_removed_if_left_empty,
    run_folder_problem,
    slurm_requeues,
)

log = logging.getLogger("resnet_lab")
_ended: list[Path] = []  # the runs this process trained to their end (or found ended)
_sweep_folder: list[str] = []  # the sweep's folder, once Hydra has started one of its jobs


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    """``resnet-lab [overrides]``: train one network (or a sweep with -m)."""
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    sweep = hydra_cfg.mode == RunMode.MULTIRUN
    if sweep:  # a signal between two jobs names it (its default is a dated folder)
        _sweep_folder[:] = [str(hydra_cfg.sweep.dir)]
    try:
        folder, what = ("hydra.sweep.dir", "sweep") if sweep else ("hydra.run.dir", "run")
        if problem := run_folder_problem(run_dir, folder, sweep):
            raise UserError(problem)
        _check_resolves(cfg)
        _continue_if_requeued(cfg, run_dir)
        if cfg.resume and not holds_a_run(run_dir):
            _check_nothing_to_resume(run_dir, folder, what, sweep, hydra_cfg)
        _warn_of_settings_unused(cfg, hydra_cfg)
        _check_row_name(cfg, hydra_cfg)
        _check_profile_name(cfg, hydra_cfg)
        with stopping.job_in_worker():  # a parallel sweep's worker: its launcher watched from here
            discard = (
                None if sweep else functools.partial(discard_refused_folder, run_dir, hydra_cfg)
            )
            with stopping.signals_held("resnet-lab", on_second=discard) as received:
                from resnet_lab import train  # torch, seconds: the refusals above need none of it
            if received:
                raise RunInterrupted(received[0], "while starting, nothing was done")
            _check_variant_file(hydra_cfg)
            if sweep:
                train.spread_over_gpus(cfg, int(hydra_cfg.job.num))
            result = train.train(cfg, run_dir)
            _ended.append(run_dir)
    except RunStopped as e:
        _exit_stopped(e, run_dir, hydra_cfg, sweep)
    except UserError as e:
        if sweep and isinstance(e, ResumeDiffers) and (other := _trained_as(e.wanted, run_dir)):
            e = ResumeDiffers(  # values reordered (seed=1,0): job N continues folder N
                f"{e} (the run this job asks for is in {other}: give the sweep's values in the "
                "order they were first given)",
                e.wanted,
            )
        _error(str(e), printed=not sweep)
        if sweep:  # Hydra records the failed job, runs the others, then prints it and exits 1
            raise JobRefused(f"resnet-lab: error: {e}") from None
        discard_refused_folder(run_dir, hydra_cfg)
        sys.exit(2)
    error = result.get("final_test_error")
    selected = result.get("test_error_at_best_val")
    log.info(
        "%s: %s error %s%s, results in %s",
        result["status"],
        result.get("eval_split", "test"),
        "n/a" if error is None else f"{error:.2f}%",
        ""
        if selected is None
        else f"; test error {selected:.2f}% at step "
        f"{result.get('best_step')}, the lowest val error's",
        run_dir,
    )


def _continue_if_requeued(cfg: DictConfig, run_dir: Path) -> None:
    """A job Slurm requeued: its run continues, as resume=true would continue it (without it,
    a folder that holds a run is refused)."""
    restarts = slurm_requeues()
    if cfg.resume or not restarts or not holds_a_run(run_dir):
        return
    log.info(
        "Slurm requeued this job (%s=%d): its run continues, as with resume=true",
        REQUEUED_ENV,
        restarts,
    )
    cfg.resume = True


def _exit_stopped(e: RunStopped, run_dir: Path, hydra_cfg: DictConfig, sweep: bool) -> NoReturn:
    """Says how the stopped run continues, and exits as the shell expects of the signal."""
    interrupted = isinstance(e, RunInterrupted)  # told as the other tools tell a signal
    label = "" if interrupted else "error: "
    if not sweep and interrupted:  # before anything was saved: no folder
        discard_refused_folder(run_dir, hydra_cfg)  # holding a log only
    if not sweep and not holds_a_run(run_dir):  # gone, or a named folder with its log
        _error(f"{e}; run the command again", label=label)
        sys.exit(e.exit_code)
    folder = (
        pasteable_override("hydra.sweep.dir", hydra_cfg.sweep.dir)
        if sweep
        else pasteable_override("hydra.run.dir", str(run_dir))
    )
    _error(f"{e}; {stopping.how_to_continue(folder)}", label=label)
    if isinstance(e, RunInterrupted) and e.signum in stopping.SLURM_SIGNALS:
        signal.raise_signal(e.signum)  # to submitit's handler (a requeue), or the default's
    sys.exit(e.exit_code)


def _error(message: str, printed: bool = True, label: str = "error: ") -> None:
    """Onto stderr as the checks before Hydra print theirs, and into the run's log file
    (``printed=False``: the log alone, a sweep's refused job, whose message Hydra prints)."""
    line = f"resnet-lab: {label}{message}"
    if printed:
        print(line, file=sys.stderr)
    into_the_log_file(log, line)


def command() -> None:
    """The ``resnet-lab`` entry point: Hydra's app after the command-line checks."""
    _ended.clear()  # this command's runs (a second in-process call: a test's)
    _sweep_folder.clear()
    check_command_line(sys.argv[1:], "resnet-lab", outputs_into_the_run=True)
    if refused := no_job_would_train(sys.argv[1:]):  # exit 1, as the sweep's failed jobs would
        print(f"resnet-lab: error: {refused}", file=sys.stderr)
        sys.exit(1)
    end_quietly_when_the_reader_stops(sys.argv[1:])
    stopping.install_launcher_handlers()
    # a refused launch's run folder is discarded (discard_refused_folder); so is the outputs
    # folder above it if this launch made it and left it empty
    with outputs_removed_if_left_empty(outputs_root("config"), sys.argv[1:]):
        try:
            main()
        except KeyboardInterrupt:  # a run catches its own signals: this came before or between
            if _ended and not is_sweep(sys.argv[1:]):  # the run is over and recorded
                print(
                    f"resnet-lab: interrupted by {stopping.last_signal.name} after the run ended; "
                    f"its results are in {_ended[-1]}",
                    file=sys.stderr,
                )
                sys.exit(0)
            if is_sweep(sys.argv[1:]):
                folder = "and its hydra.sweep.dir"  # before Hydra started a job
                if _sweep_folder:
                    folder = pasteable_override("hydra.sweep.dir", _sweep_folder[0])
                hint = stopping.how_to_continue(folder)
                print(
                    f"resnet-lab: interrupted between runs, nothing lost: {hint}", file=sys.stderr
                )
            else:
                print(
                    "resnet-lab: interrupted before the run began: run the command again",
                    file=sys.stderr,
                )
            sys.exit(128 + stopping.last_signal)


def _check_nothing_to_resume(
    run_dir: Path, folder: str, what: str, sweep: bool, hydra_cfg: DictConfig
) -> None:
    """resume=true in a folder without a run: refused where it surely misses the run, else a new
    run starts (the first launch of a re-submitted job, or of a sweep), said loudly for a single
    run: a mistyped hydra.run.dir would otherwise quietly train from step 0."""
    if not given_on_command_line(folder, hydra_cfg):
        raise UserError(
            f"resume=true continues the run in {folder}, and none was given: add "
            f"{folder}=<the {what}'s folder>, as in the run's log"
        )
    if sweep:
        return
    log.warning(
        "resume=true, but %s holds no run (a mistyped hydra.run.dir?): starting a new run", run_dir
    )


def _trained_as(wanted: dict[str, object], run_dir: Path) -> Path | None:
    """Another job's folder of the sweep whose run has these values (a key it lacks comes from
    an older lab: not compared, as a resume compares them)."""
    for config in sorted(run_dir.parent.glob("*/config.yaml")):
        if config.parent == run_dir:
            continue
        try:
            trained = flatten_keys(OmegaConf.to_container(OmegaConf.load(config)))
        except (OSError, OmegaConfBaseException):
            continue
        if all(trained.get(key, value) == value for key, value in wanted.items()):
            return config.parent
    return None


def _task_overrides(hydra_cfg: DictConfig) -> list[str]:
    """The command's overrides as typed: read from Hydra's config item by item, a ``${...}``
    in one would be resolved (a trace where it names no setting)."""
    return cast(list[str], OmegaConf.to_container(hydra_cfg.overrides.task))


def _check_resolves(cfg: DictConfig) -> None:
    """A ``${...}`` that names no setting (``trainer.lr=${trainer.lrr}``), an environment
    variable not set (``${oc.env:X}``) or a value of the wrong type (``model.depth=${trainer.lr}``):
    one line, not the trace of whichever part of the run reads it first."""
    try:
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        raise UserError(in_one_line(e)) from None


def _check_row_name(cfg: DictConfig, hydra_cfg: DictConfig) -> None:
    """A row's ``experiment.name`` is its file's path under experiment/: the report finds the
    row's runs by it (a row of one's own named otherwise was reported as another row, or none).
    The row chosen on the command line, as it names itself (a row it builds on is renamed by
    it; a name typed on the command line is the user's to give)."""
    overrides = [o.lstrip("+") for o in _task_overrides(hydra_cfg)]
    if any(o.startswith("experiment.name=") for o in overrides):
        return
    rows = [o for o in overrides if o.partition("=")[0].partition("/")[0] == "experiment"]
    if not rows:
        return
    group = rows[-1].partition("=")[0]
    choice = hydra_cfg.runtime.choices.get(group)
    if not isinstance(choice, str):
        return
    path = f"{group}/{choice}".removeprefix("experiment").removesuffix(".yaml").strip("/")
    if problem := misnamed_row(path, cfg.experiment.name):
        raise UserError(problem)


def _check_profile_name(cfg: DictConfig, hydra_cfg: DictConfig) -> None:
    """A profile file sets ``profile:`` to its own name: the report keeps runs of one profile
    apart from another's by it (one of one's own that said ``paper`` was reported as the
    papers' recipe, every run of it "other settings")."""
    choice = hydra_cfg.runtime.choices.get("profile")
    if isinstance(choice, str) and (problem := misnamed_profile(choice, cfg.profile)):
        raise UserError(problem)


def _check_variant_file(hydra_cfg: DictConfig) -> None:
    """The shortcut's option file, as the command line's checks read a typed one
    (:func:`variant_file_problem`), here also one a row or profile chooses."""
    choice = hydra_cfg.runtime.choices.get("shortcut")
    path = _option_file(hydra_cfg, f"shortcut/{choice}.yaml") if isinstance(choice, str) else None
    if path is not None and (problem := variant_file_problem(path)):
        raise UserError(problem)


def _option_file(hydra_cfg: DictConfig, name: str) -> Path | None:
    """The file Hydra read for config ``name`` (``group/option.yaml``): in the first of its
    config sources (the lab's package, --config-dir, hydra.searchpath) that holds one."""
    for source in hydra_cfg.runtime.config_sources:
        if source.schema == "file":
            folder = Path(source.path)
        elif source.schema == "pkg":
            folder = Path(str(importlib.resources.files(source.path)))
        else:
            continue
        if (folder / name).is_file():
            return folder / name
    return None


def _warn_of_settings_unused(cfg: DictConfig, hydra_cfg: DictConfig) -> None:
    """Settings the command gives that the run's other choices leave unused, said rather than
    silently ignored: the smoke profile sets ``data.name=synthetic`` after the data group is
    chosen, so a ``data=cifar10`` beside it; what only dataset files read, with synthetic
    data; and so on (``_unused_settings``)."""
    overrides = _task_overrides(hydra_cfg)
    chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("data=")]
    smoke_data = cfg.profile == "smoke" and cfg.data.name == "synthetic"
    if smoke_data and chosen and chosen[-1] != "synthetic":
        log.warning(
            "profile=smoke trains on synthetic data, not data=%s; add data.name=%s to run the "
            "smoke profile on it",
            chosen[-1],
            chosen[-1],
        )
    given = {o.split("=", 1)[0].lstrip("+") for o in overrides}
    for key, why in _unused_settings(cfg):
        if key in given:
            log.warning("%s: %s is not used", why, key)


def _unused_settings(cfg: DictConfig) -> list[tuple[str, str]]:
    """The settings (and why) that this run's other settings leave unused."""
    data, trainer = cfg.data, cfg.trainer
    if data.name == "synthetic":
        files = ("data.root", "data.verify", "data.download")
        unused = [(key, "synthetic data are generated, not read") for key in files]
    else:
        sizes = ("data.synthetic_train_size", "data.synthetic_test_size")
        unused = [(key, f"data.name={data.name} is read from its files") for key in sizes]
    if not data.augment:
        unused.append(("data.pad_mode", "data.augment=false pads no image"))
    if trainer.warmup_steps == 0:
        unused.append(("trainer.warmup_lr", "trainer.warmup_steps=0 warms up for no step"))
    return unused
