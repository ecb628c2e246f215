"""The ``resnet-lab-lesion`` command: its command-line checks, which need no torch (a refusal
answers at once), then the study (:mod:`resnet_lab.lesion`), imported under the signal hold."""

from __future__ import annotations

if __name__ == "__main__":  # python -m resnet_lab.lesion_cli: the console script, as the study's
    from resnet_lab.console import lesion  # module's (it did nothing, exit 0)

    lesion()

import contextlib
import signal
import sys
from pathlib import Path

from resnet_lab import stopping
from resnet_lab.checkpoint import CHECKPOINT_SUFFIXES
from resnet_lab.command_line import (
    a_flags_value,
    a_word_that_is_no_override,
    check_command_line,
    end_quietly_when_the_reader_stops,
    existing_run_dir,
    is_sweep,
    output_folders,
    outputs_root,
    prints_only,
    resumes,
    unknown_keys,
)
from resnet_lab.errors import UserError
from resnet_lab.lesion_config import LesionRunCfg, unknown_settings_message
from resnet_lab.run_folder import (
    a_runs_checkpoint_folder,
    outputs_removed_if_left_empty,
    slurm_requeues,
    study_folder_problem,
    study_sweep_folder_problem,
)


def _bare_word_problem(args: list[str]) -> str | None:
    """A word that is no setting (no '='), where a checkpoint's path was meant, as
    ``resnet-lab-eval`` and ``resnet-lab-gates`` take it: the ``checkpoint=PATH`` form, instead of
    Hydra's parse error (exit 1). A flag's value, a ``~key`` deletion and a setting pass."""
    for i, arg in enumerate(args):
        if "=" in arg or arg.startswith(("-", "~")) or a_flags_value(args, i):
            continue
        exists = False
        with contextlib.suppress(OSError):  # e.g. a name too long for the file system
            exists = Path(arg).exists()
        if exists:
            return (
                f"{arg}: give it as checkpoint={arg} (this command takes key=value settings; "
                "see --help)"
            )
        if "/" in arg or arg.endswith(CHECKPOINT_SUFFIXES):
            return (
                f"{arg}: no such file, and no key=value setting (a checkpoint is given as "
                "checkpoint=PATH; see --help)"
            )
    return None


def _a_folder_a_study_may_not_use(args: list[str]) -> str | None:
    """hydra.run.dir naming a training run's folder, or a study's without resume=true; or one
    to be made in a run's ckpt/ (Hydra made it, with its record and log, before the study
    refused it); a sweep's hydra.sweep.dir alike (each job was refused)."""
    if prints_only(args):
        return None
    if is_sweep(args):
        named = output_folders(args).get("hydra.sweep.dir")
        return None if named is None else study_sweep_folder_problem(Path(named[1]))
    folder = existing_run_dir(args)
    if folder is None:
        named = output_folders(args).get("hydra.run.dir")
        return None if named is None else a_runs_checkpoint_folder(Path(named[1]))
    continues = resumes(args) or slurm_requeues() > 0  # a requeued job continues its study
    return study_folder_problem(folder, continues)


def _resume_without_its_folder(args: list[str]) -> str | None:
    """resume=true without the folder of the study (or sweep) it continues: a new dated folder
    holds none."""
    if not resumes(args) or prints_only(args):
        return None
    key, what = ("hydra.sweep.dir", "sweep") if is_sweep(args) else ("hydra.run.dir", "study")
    if any(arg.lstrip("+").startswith(f"{key}=") for arg in args):
        return None
    return (
        f"resume=true continues the {what} in {key}, and none was given: add "
        f"{key}=<the {what}'s folder>, as in its log"
    )


def command() -> None:
    """The ``resnet-lab-lesion`` entry point: the command-line checks (a bare checkpoint path:
    see ``_bare_word_problem``), then the study's Hydra app."""
    args = sys.argv[1:]
    check_command_line(args, "resnet-lab-lesion", schema=LesionRunCfg, config_name="lesion")
    if unknown := unknown_keys(args, LesionRunCfg):
        print(f"resnet-lab-lesion: error: {unknown_settings_message(unknown)}", file=sys.stderr)
        sys.exit(2)
    end_quietly_when_the_reader_stops(args)
    if problem := (
        _bare_word_problem(args)
        or a_word_that_is_no_override(args)
        or _a_folder_a_study_may_not_use(args)
        or _resume_without_its_folder(args)
    ):
        print(f"resnet-lab-lesion: error: {problem}", file=sys.stderr)
        sys.exit(2)
    with stopping.signals_held("resnet-lab-lesion") as received:
        try:
            from resnet_lab import lesion  # torch, seconds: the checks above need none of it
        except UserError as e:  # a variant of one's own registered under a taken name
            print(f"resnet-lab-lesion: error: {e}", file=sys.stderr)
            sys.exit(2)
    if received:
        print("resnet-lab-lesion: interrupted while starting: nothing was done", file=sys.stderr)
        sys.exit(128 + received[0])
    # Hydra starting up, or between the jobs of a sweep: a SIGTERM ended the process without a
    # word; the study and main() take the signals over while they run
    with (
        outputs_removed_if_left_empty(outputs_root("lesion"), args),
        stopping.signals_interrupt() as received,
    ):
        try:
            lesion.main()
        except KeyboardInterrupt:
            signum = received[0] if received else signal.SIGINT
            print(
                f"resnet-lab-lesion: interrupted by {signum.name} outside the study, nothing lost",
                file=sys.stderr,
            )
            sys.exit(128 + signum)
