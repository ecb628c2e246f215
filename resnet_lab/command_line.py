"""Checks on a Hydra command line before Hydra runs it, for mistakes Hydra answers with a
traceback or with silence: two mode flags together (``-m --cfg job``: a ValueError trace),
``--resolve`` or ``-p`` without ``--cfg``, an output folder that is a file, empty (it would be the
current folder), behind a file or not writable, and a sweep's ``glob`` that matches no config
(``+experiment=glob(table1/*)``: "Launching 0 jobs", exit 0, as if the table had been run),
a --config-dir file that the lab's config of the same name hides (Hydra reads the lab's), and
overrides Hydra misreads: a misspelt setting (Hydra advises a '+' the run then refuses), a row or
option that is not there (Hydra lists its search path, not the choices).
Mistakes every job of a resnet-lab sweep would make alike (a key added with '+' that is not a
setting, ``resume=true`` without the sweep's folder) are said once here, not once per job with a
trace and a folder each (``make reproduce-table`` launches dozens)."""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import glob
import itertools
import os
import re
import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Any, cast

from hydra.conf import HydraConf
from hydra.core.override_parser.types import Glob, Override, ValueType
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from resnet_lab.config import (
    CONF_DIR,
    RESUMABLE_CHANGES,
    Config,
    check_seed,
    declares_global_package,
    in_schema,
    load_row,
    row_problem,
    schema_keys,
    structured_schema,
    unknown_keys_message,
    with_closest_key,
    writable_schema,
)
from resnet_lab.errors import ConfigError
from resnet_lab.pasteable import override_parser, pasteable_override
from resnet_lab.run_folder import enclosing_run, holds_a_run, run_folder_problem

# the tools' settings that name a file or folder (data.root: both tools; checkpoint: lesion)
PATH_SETTINGS = ("data.root", "checkpoint")

# Hydra runs one of these modes; each flag as typed -> the mode's long name.
_MODES = {
    "-r": "--run",
    "--run": "--run",
    "-m": "--multirun",
    "--multirun": "--multirun",
    "-c": "--cfg",
    "--cfg": "--cfg",
    "-i": "--info",
    "--info": "--info",
    "-sc": "--shell-completion",
    "--shell-completion": "--shell-completion",
}
# Hydra's flags that choose configs, short and long (argparse also takes a long one's prefix, down
# to the shortest that is unambiguous, and a short one's value joined to it: -cdDIR, -cd=DIR).
_CONFIG_FLAGS = {"-cd": "--config-dir", "-cp": "--config-path", "-cn": "--config-name"}
_SHORTEST_PREFIX = len("--config-d")
# every long flag of Hydra's command line (argparse takes an unambiguous prefix of each)
_LONG_FLAGS = (
    *("--help", "--hydra-help", "--version", "--cfg", "--resolve", "--package", "--run"),
    *("--multirun", "--shell-completion", "--config-path", "--config-name", "--config-dir"),
    *("--info", "--experimental-rerun"),
)
# resnet-lab-eval's and resnet-lab-gates' flags, typed into a Hydra tool: the settings they set
_THE_ANALYSIS_TOOLS_FLAGS = {  # the first the tool has: resnet-lab trains with batch_size
    "--data-root": ("data.root",),
    "--limit": ("data.limit",),
    "--device": ("trainer.device",),
    "--batch-size": ("trainer.batch_size", "trainer.eval_batch_size"),
}
# Hydra launchers that run the jobs on this machine (the lab's config names and joblib's)
LOCAL_LAUNCHERS = ("basic", "parallel", "joblib")
# the flags that take the next word as their value, by their long names, and what each wants
# (-i/--info: a value if one follows)
_FLAG_VALUES = {
    "--cfg": ("job", "hydra", "all"),
    "--info": ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath"),
    "--config-dir": "a folder of configs",
    "--config-path": "a folder of configs",
    "--config-name": "a config's name",
    "--package": "a config's package (e.g. trainer)",
    "--experimental-rerun": "a run's .hydra/config.pickle",
}
_SHORT_FLAGS = {"-c": "--cfg", "-i": "--info", "-p": "--package", **_CONFIG_FLAGS}
_FLAGS_WITH_VALUE = frozenset({*_FLAG_VALUES, *_SHORT_FLAGS})


def check_command_line(
    args: list[str],
    tool: str,
    outputs_into_the_run: bool = False,
    schema: type = Config,
    config_name: str = "config",
) -> None:
    """Exit 2 with one message for these mistakes; anything else is left to Hydra.
    ``outputs_into_the_run``: the tool's output folder is a run's folder (resnet-lab);
    ``schema``: the tool's settings (the dataclass of its primary config, ``config_name``)."""
    if _shell_completion(args):  # its words (install=bash, query=...) are not overrides
        if not any(arg.startswith(("install=", "uninstall=", "query=")) for arg in args):
            print(  # Hydra: a ValueError trace
                f"{tool}: error: --shell-completion installs, uninstalls or queries: add "
                "install=bash (or zsh, fish), uninstall=bash or query=...",
                file=sys.stderr,
            )
            sys.exit(2)
        return
    problem = (
        _not_a_flag(args, schema)
        or _two_modes(args)
        or _a_flags_value_missing_or_unknown(args)
        or _overrides_around_a_flag(args)
        or _a_flag_without_its_mode(args)
        or _a_file_as_the_output_folder(args, outputs_into_the_run)
        or _the_other_modes_folder(args)
        or _an_output_folder_that_cannot_be_made(args)
        or (outputs_into_the_run and _a_folder_inside_a_run(args))  # a study may lie in a run
        or (outputs_into_the_run and _not_a_run_folder(args))
        or config_folder_problem(args)
        or _another_tools_config(args, tool, config_name)
        or _a_default_output_folder_that_cannot_be_made(args, config_name)
        or (outputs_into_the_run and a_word_that_is_no_override(args))
        or an_override_hydra_cannot_read(args)
        or _a_sweep_of_no_jobs(args)
        or _sweeper_params(args)
        or _a_sweep_of_hydras_settings(args)
        or _a_sweep_without_multirun(args, schema)
        or _a_files_sweep_without_multirun(args)
        or _an_environment_variable_read_as_a_setting(args)
        or hydra_problem(args)
        or _sweep_matching_nothing(args)
        or _jobs_sharing_a_folder(args)
        or _an_interpolation_of_nothing(args, schema)
        or (
            override_problem(args)
            if outputs_into_the_run
            else _a_deleted_setting(args, schema, tool)
            or _a_runs_choice(args, schema, tool)
            or _a_setting_added_again(args, schema)
            or wrong_type(args, schema)
        )
        or (outputs_into_the_run and _a_mistake_every_job_makes(args))
        or (outputs_into_the_run and _a_sweep_resumed_in_another_order(args))
    )
    if problem:
        print(f"{tool}: error: {problem}", file=sys.stderr)
        sys.exit(2)


def a_word_that_is_no_override(args: list[str]) -> str | None:
    """``data.root /data``: a word without '=' that no flag takes, for which Hydra prints a
    parse error ("missing EQUAL") and exits 1. A ``~key`` deletion is an override."""
    for i, arg in enumerate(args):
        if "=" in arg or arg.startswith(("-", "~")) or a_flags_value(args, i):
            continue
        following = args[i + 1] if i + 1 < len(args) else ""
        if following and not following.startswith("-") and "=" not in following:
            return f"{arg} {following}: a setting is key=value, one word: {arg}={following}"
        return f"{arg}: not a key=value setting (see --help)"
    return None


OUTPUT_FOLDER_KEYS = ("hydra.run.dir", "hydra.sweep.dir")
LEXER_ERROR = "LexerNoViableAltException: "  # Hydra's words, a caret under the character


def an_override_hydra_cannot_read(args: list[str]) -> str | None:
    """``data.root=/data/é``, ``experiment.note=it's``, ``model.depth=[20``: Hydra's parse error
    in three lines, exit 1. A character Hydra's grammar has no bare use for (an accent, a
    quote) is fine inside its quotes: said, with the override so written."""
    parser = override_parser()
    for i, arg in enumerate(args):
        if arg.startswith("-") or "=" not in arg or a_flags_value(args, i):
            continue
        if not arg.partition("=")[0].lstrip("+~"):  # "=1": Hydra's ValueError trace
            return f"{arg}: a setting is key=value, and its key is missing"
        try:
            parser.parse_overrides([arg])
        except HydraException as e:
            lines = [line for line in str(e).splitlines() if not line.startswith("See https:")]
            lines = lines or [type(e).__name__]
            if not lines[0].startswith(LEXER_ERROR) or len(lines) < 2 or "^" not in lines[1]:
                return f"{arg}: Hydra cannot read it: {lines[-1]}"
            at = lines[1].index("^") - len(LEXER_ERROR)
            key, _, value = arg.partition("=")
            if at == len(key) + 1 and (home := _not_your_home(arg, key.lstrip("+"), value)):
                return home  # quoted, '~' would be refused next: its folder at once
            hint = ""
            if at > len(key):  # in the value, not the key
                quoted = pasteable_override(key, value)
                hint = f"; in Hydra's quotes it is one value: {quoted}"
            return f"{arg}: Hydra's grammar has no bare {arg[at]!r} (character {at + 1}){hint}"
    return None


def _a_sweep_of_no_jobs(args: list[str]) -> str | None:
    """``interval(...)``, which Hydra's basic sweeper cannot run (its trace), a range of no
    values (``range(5,0)``: a sweep of no jobs, exit 0) or a range Python refuses (``range(1,5,0)``:
    a ValueError trace)."""
    for arg, override in parsed_overrides(args):
        key = arg.partition("=")[0].lstrip("+~")
        if override.value_type == ValueType.INTERVAL_SWEEP and not _another_sweeper(args):
            return (
                f"{arg}: interval() is sampled by an optimising sweeper (Optuna, Nevergrad), not "
                f"by Hydra's basic one: give the values, e.g. -m {key}=0.01,0.05,0.1"
            )
        if override.value_type not in (ValueType.RANGE_SWEEP, ValueType.CHOICE_SWEEP):
            continue
        try:
            values = list(override.sweep_iterator())
        except (ValueError, HydraException) as e:  # range(1,5,0); range(0.1,0.5,0.0): Hydra's
            return f"{arg}: {str(e).splitlines()[0]}"
        if not values:
            return (
                f"{arg} gives no values, a sweep of no jobs (range(start, stop, step) as Python's)"
            )
    return None


def _another_sweeper(args: list[str]) -> bool:
    """An optimising sweeper, which samples interval(), chosen (hydra/sweeper=optuna, ...) or
    possibly chosen: by configs of the user's own (--config-dir, hydra.searchpath), in a row's
    defaults as in Hydra's Optuna example, or in whatever those include. The lab's own configs
    choose none."""
    chosen = [a.partition("=")[2] for a in args if a.lstrip("+").startswith("hydra/sweeper=")]
    if chosen:
        return chosen[-1] != "basic"
    return _config_folders(args) != [CONF_DIR]


def _sweeper_params(args: list[str]) -> str | None:
    """``+hydra.sweeper.params.seed=0,1``: a sweep in a config's words, which on the command line
    Hydra refuses (a sweep of its own settings) or trips on (quoted: an AssertionError trace,
    the lab's config setting no params)."""
    for arg, override in parsed_overrides(args):
        key = override.key_or_group
        if key == "hydra.sweeper.params" or key.startswith("hydra.sweeper.params."):
            swept = key.removeprefix("hydra.sweeper.params").lstrip(".") or "KEY"
            return (
                f"{arg}: on the command line a sweep is given as its values with -m "
                f"({swept}=a,b); hydra.sweeper.params is for a config of one's own"
            )
    return None


def _a_sweep_of_hydras_settings(args: list[str]) -> str | None:
    """``hydra.run.dir=/runs/a,b``: a comma in a folder's name reads as a sweep, which Hydra
    refuses for its own settings in a line of its own, exit 1 (without -m: "sweeps over values")."""
    for arg, override in parsed_overrides(args):
        key = override.get_key_element().lstrip("+~")
        if key.startswith(("hydra.", "hydra/")) and override.is_sweep_override():
            a_folder = key.rpartition(".")[2] in ("dir", "subdir", "output_subdir")
            hint = _quoted_path_hint(arg, override) if a_folder else ""
            return f"{arg}: Hydra's own settings take one value, not a sweep{hint}"
    return None


def _quoted_path_hint(arg: str, override: Override) -> str:
    """How a path of plain words and commas is given as one value (a folder's name)."""
    if override.value_type != ValueType.SIMPLE_CHOICE_SWEEP:
        return ""  # range(), glob(), a quoted choice: meant as a sweep
    key, _, value = arg.partition("=")
    return f"; a path with a comma in it is quoted: {pasteable_override(key, value)}"


def _a_sweep_without_multirun(args: list[str], schema: type) -> str | None:
    """``seed=0,1`` or a ``glob(...)`` without -m: Hydra's several lines, exit 1 (also with
    --cfg, whose answer advises the -m that is then refused beside it)."""
    if is_sweep(args):
        return None
    for arg, override in parsed_overrides(args):
        if not override.is_sweep_override():
            continue
        if prints_only(args):
            return f"{arg} sweeps over values, and a config shown is one run's: give one value"
        key, _, value = arg.partition("=")
        a_list = override.value_type == ValueType.SIMPLE_CHOICE_SWEEP and isinstance(
            OmegaConf.select(structured_schema(schema), key.lstrip("+")), ListConfig
        )  # trainer.milestones=3,4 (seed=[0,1] would be refused as no integer)
        hint = f"; a list is written {key}=[{value}]" if a_list else ""
        if key.lstrip("+") in PATH_SETTINGS:
            hint = _quoted_path_hint(arg, override)
        return f"{arg} sweeps over values, a job each, which takes -m (--multirun){hint}"
    return None


def _a_files_sweep_without_multirun(args: list[str]) -> str | None:
    """A chosen profile or row of one's own that sweeps (``hydra.sweeper.params``): without
    -m Hydra ran one job of the settings it was given, silently."""
    if _typed_mode(args) or prints_only(args) or is_sweep(args):  # hydra.mode=RUN: one job
        return None
    if (found := _set_by_a_chosen_file(args, "hydra.sweeper.params")) is None:
        return None
    path, params = found
    swept = ", ".join(params) if isinstance(params, DictConfig) else str(params)
    return (
        f"{path} sweeps over {swept} (hydra.sweeper.params), a job each, which takes -m "
        "(--multirun); hydra.mode=RUN runs one job"
    )


def _an_environment_variable_read_as_a_setting(args: list[str]) -> str | None:
    """``'hydra.run.dir=${HOME}/runs'`` (single-quoted in a script): OmegaConf reads ``${HOME}``
    as a setting named HOME, and the run died in a 100-line InterpolationKeyError trace. The
    lab's settings are lower case: a name in capitals is an environment variable's."""
    for arg, override in parsed_overrides(args):
        value = override.value()
        if isinstance(value, str) and (name := re.search(r"\$\{([A-Z_][A-Z0-9_]*)\}", value)):
            variable = name.group(1)
            return (
                f"{arg}: ${{{variable}}} reads a setting named {variable}, and there is none: "
                f"let the shell expand ${variable} (no single quotes around it), or write "
                f"${{oc.env:{variable}}}"
            )
    return None


def hydra_problem(args: list[str]) -> str | None:
    """A choice of Hydra's own groups that is not there (``hydra/launcher=paralel``: Hydra
    lists its search path, exit 1, and make reproduce-table took it for a failed run), or a
    key of Hydra's own config it does not have (``hydra.run.dirr``: Hydra advises the '+',
    with which the setting is silently ignored)."""
    for arg, override in parsed_overrides(args):
        key = override.key_or_group
        if override.is_delete() and _a_field_of_hydras(key):  # Hydra: five lines, exit 1
            return f"{arg}: Hydra's settings cannot be deleted: give {key} a value"
        if override.is_delete() or override.package is not None:
            continue
        if key.startswith("hydra."):
            if problem := (
                _not_a_hydra_setting(key)
                or _not_a_launcher_setting(arg, override, args)
                or _a_variable_without_its_plus(arg, override)
                or _a_job_name_that_leaves_the_folder(arg, override)
                or _a_subfolder_that_leaves_its_folder(arg, override)
                or _a_value_hydra_refuses(arg, override)
            ):
                return problem
        elif key.startswith("hydra/") and isinstance(override.value(), str):  # no sweep, null
            value = str(override.value()).removesuffix(".yaml").lstrip("/")
            options = _hydra_options(key, args)
            if options is not None and value not in options:
                return f"{arg}: there is no {key}/{value}; {key}/ holds {', '.join(options)}"
    return None


# ``${trainer.lr}`` in a value: a plain reference (not a resolver's ``${now:...}``, a relative
# ``${.x}``, nor an escaped ``\${x}``, which is text); ``.0`` indexes a list
_REFERENCE = re.compile(r"(?<!\\)\$\{\s*([A-Za-z_][\w.]*?)(?:\.\d+)*\s*\}")


# ``${oc.env:NAME}``: a variable without a default (``${oc.env:NAME,default}`` has one)
_ENVIRONMENT_VARIABLE = re.compile(r"(?<!\\)\$\{\s*oc\.env\s*:\s*([^,}\s]+)\s*\}")


def _an_interpolation_of_nothing(args: list[str], schema: type) -> str | None:
    """``hydra.run.dir=runs/${experiment.nmae}``: Hydra resolves its own settings itself, and a
    reference to no key (or ``${oc.env:SCRATCH}`` with no such variable, in the folder it
    resolves before any job starts) ended in a hundred lines of its exception formatting's
    trace; in a setting of the lab's, a sweep's every job failed on it, in four lines each.
    Other variables are left to the job (a Slurm job's own, ``$SLURM_JOB_ID``), which tells an
    unset one in one line."""
    if _config_folders(args) is None:  # another primary config: other settings
        return None
    added = {o.key_or_group for _, o in parsed_overrides(args) if o.is_add() or o.is_force_add()}
    for arg, override in parsed_overrides(args):
        if override.is_delete():
            continue
        value = arg.partition("=")[2]
        if override.key_or_group in ("hydra.run.dir", "hydra.sweep.dir"):
            unset = [n for n in _ENVIRONMENT_VARIABLE.findall(value) if n not in os.environ]
            if unset:
                return (
                    f"{arg}: the environment variable {unset[0]} is not set (Hydra makes the "
                    f"folder as it starts; ${{oc.env:{unset[0]},DEFAULT}} gives a default)"
                )
        for ref in _REFERENCE.findall(value):
            if not (in_schema(ref, schema) or ref.startswith("hydra.") or ref in added):
                closest = with_closest_key(ref, schema).removeprefix(ref)  # " (did you mean"
                return f"{arg}: ${{{ref}}} names no setting{closest}"
    return None


def _a_field_of_hydras(key: str) -> bool:
    """``hydra.output_subdir``: a field of Hydra's config (HydraConf), not a key inside one of
    its free dicts (``hydra.job.env_set.VAR``)."""
    parts = key.split(".")
    if parts[0] != "hydra" or len(parts) < 2:
        return False
    fields, not_one = _down_hydras_schema(key)
    return not_one is None and len(fields) == len(parts)


def _not_a_hydra_setting(key: str) -> str | None:
    """Why ``hydra.…`` is no key of Hydra's config (HydraConf), down to a field it leaves free
    (``hydra.launcher.n_jobs``, ``hydra.job.env_set.VAR``: the chosen launcher's, anyone's)."""
    known, not_one = _down_hydras_schema(key)
    if not_one is None:
        return None
    part = key.split(".")[len(known)]
    close = difflib.get_close_matches(part, not_one, n=1, cutoff=0.7)
    hint = f" (did you mean {'.'.join([*known, close[0]])}?)" if close else ""
    return (
        f"unknown key {'.'.join([*known, part])}{hint}: not a setting of Hydra's "
        "(--hydra-help lists them)"
    )


def _down_hydras_schema(key: str) -> tuple[list[str], list[str] | None]:
    """``hydra.…`` followed down HydraConf: the leading parts that are its fields, and the
    fields the next part is none of (None where every part is one, or the next goes into a
    value Hydra leaves free)."""
    schema: Any = HydraConf
    known = ["hydra"]
    for part in key.split(".")[1:]:
        if not dataclasses.is_dataclass(schema):
            return known, None
        fields = {f.name: f.type for f in dataclasses.fields(schema)}
        if part not in fields:
            return known, list(fields)
        schema = fields[part]
        known.append(part)
    return known, None


def _a_variable_without_its_plus(arg: str, override: Override) -> str | None:
    """``hydra.job.env_set.FOO=1`` or ``hydra.job.env_set={FOO:1}``: the lab's config sets no
    variable for the jobs, so each is added (Hydra: "Key 'FOO' is not in struct", five lines,
    exit 1)."""
    key = override.key_or_group
    if override.is_add() or override.is_force_add():
        return None
    if key.startswith("hydra.job.env_set."):
        return f"{arg}: a variable for the jobs is added to Hydra's settings: write +{arg}"
    if key == "hydra.job.env_set" and isinstance(override.value(), dict) and override.value():
        return f"{arg}: the variables for the jobs are added to Hydra's settings: write +{arg}"
    return None


def _a_value_hydra_refuses(arg: str, override: Override) -> str | None:
    """``hydra.run.dir=null``, ``hydra.job.chdir=abc``: a value of the wrong type for a field
    of Hydra's config (Hydra: a ValidationError in five lines, exit 1)."""
    key = override.key_or_group
    if not _a_field_of_hydras(key) or override.is_sweep_override():
        return None
    settings = writable_schema(HydraConf)
    try:
        OmegaConf.update(settings, key.removeprefix("hydra."), override.value(), merge=True)
    except OmegaConfBaseException as e:
        if override.value() is None:
            return f"{arg}: Hydra's {key} takes a value, not null"
        return f"{arg}: {str(e).strip().splitlines()[0]}"
    return None


def _a_job_name_that_leaves_the_folder(arg: str, override: Override) -> str | None:
    """``hydra.job.name=../x``: the job's log is ``<name>.log`` in the run folder, so a name
    with a '/' writes it elsewhere (outside the run, or into a folder that is not there), and
    '.' or '..' hides it (``..log``)."""
    if override.key_or_group != "hydra.job.name" or override.is_sweep_override():
        return None
    if "/" in str(override.value()) or str(override.value()) in ("", ".", ".."):
        return (
            f"{arg}: the job's name names its log file in the run folder: give a file's name "
            "(no '/', not '.' or '..')"
        )
    return None


def _a_subfolder_that_leaves_its_folder(arg: str, override: Override) -> str | None:
    """``hydra.output_subdir=/runs/a`` or ``../a``: Hydra writes the run's record there
    (config.yaml, overrides.yaml), over another run's; ``hydra.sweep.subdir=../job${seed}``:
    the jobs' folders outside the sweep's (``${hydra.job.num}/../..`` trained a job into the
    folder the command ran from)."""
    key = override.key_or_group
    if key not in ("hydra.output_subdir", "hydra.sweep.subdir") or override.is_sweep_override():
        return None
    value = override.value()
    if value is None or not (str(value).startswith("/") or ".." in str(value).split("/")):
        return None
    inside = "the run's folder" if key == "hydra.output_subdir" else "the sweep's folder"
    return f"{arg}: {key} is a folder inside {inside}: give a relative path without '..'"


def _not_a_launcher_setting(arg: str, override: Override, args: list[str]) -> str | None:
    """``hydra.launcher.njobs=2`` (Hydra advises the '+', with which joblib is handed a keyword
    it ignores), ``hydra.launcher.n_jobs=2`` without the parallel launcher (the '+' Hydra then
    advises fails), a value of the wrong type (Hydra's six lines) or ``n_jobs=0`` (joblib's
    trace), told from the chosen launcher's config as Hydra composes it."""
    key = override.key_or_group
    if not key.startswith("hydra.launcher.") or override.is_sweep_override():
        return None
    option = key.removeprefix("hydra.launcher.").split(".")[0]
    chosen = [a.partition("=")[2] for a in args if a.lstrip("+").startswith("hydra/launcher=")]
    launcher = chosen[-1].removesuffix(".yaml") if chosen else "basic"
    config = _launcher_config(launcher, args)
    if config is None:  # not a launcher known here: Hydra's to tell
        return None
    if option not in config:
        return _an_option_of_another_launcher(arg, option, launcher, config, args)
    adds = override.is_add() or override.is_force_add()  # into a free dict of it: Hydra's
    try:
        OmegaConf.update(config, key.removeprefix("hydra.launcher."), override.value())
    except (ConfigAttributeError, ConfigKeyError):
        return None if adds else f"{arg}: not in hydra.launcher.{option}: add it, +{arg}"
    except OmegaConfBaseException as e:
        return f"{arg}: {str(e).splitlines()[0]}"
    if option == "n_jobs" and override.value() == 0:
        return f"{arg} runs no job: give how many run at once (-1: one per CPU core)"
    return None


def _an_option_of_another_launcher(
    arg: str, option: str, launcher: str, config: DictConfig, args: list[str]
) -> str:
    others = [
        name
        for name in ("parallel", "slurm")
        if name != launcher and option in (_launcher_config(name, args) or {})
    ]
    if others:
        return f"{arg} is an option of hydra/launcher={others[0]}: add hydra/launcher={others[0]}"
    options = [name for name in config if name != "_target_"]
    close = difflib.get_close_matches(option, options, n=1, cutoff=0.7)
    hint = f" (did you mean hydra.launcher.{close[0]}?)" if close else ""
    return f"{arg}: no option {option}{hint} in hydra/launcher={launcher}"


@functools.cache
def _launcher_configs() -> dict[str, DictConfig]:
    """The launchers' configs as Hydra composes them (those whose plugin is installed)."""
    from hydra import compose, initialize_config_dir

    configs = {}
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for name in ("basic", "parallel", "joblib", "slurm", "submitit_slurm", "submitit_local"):
            try:
                composed = compose("config", [f"hydra/launcher={name}"], return_hydra_config=True)
            except HydraException:
                continue
            configs[name] = composed.hydra.launcher
    return configs


def _launcher_config(name: str, args: list[str]) -> DictConfig | None:
    """A copy of a launcher's config; None where the command adds config folders (a launcher
    of the user's own) or the launcher is not known here."""
    if _config_folders(args) != [CONF_DIR] or name not in _launcher_configs():
        return None
    return copy.deepcopy(_launcher_configs()[name])


def _hydra_options(group: str, args: list[str]) -> list[str] | None:
    """What one of Hydra's own groups offers (its plugins' configs too); None where the command
    adds config folders, which may add options."""
    if _config_folders(args) != [CONF_DIR]:
        return None
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        return sorted(GlobalHydra.instance().config_loader().get_group_options(group))


def _shell_completion(args: list[str]) -> bool:
    return bool({"-sc", "--shell-completion"} & {long_flag(arg.split("=", 1)[0]) for arg in args})


def end_quietly_when_the_reader_stops(args: list[str]) -> None:
    """Hydra prints help, a config or its info inside its own error report, so a reader that
    stops early (``resnet-lab --cfg job | head``) meant a BrokenPipeError trace. For these
    print-only modes the process ends on SIGPIPE, as ``cat`` does; a training run keeps Python's
    default (a vanished reader of its log must not stop it before its checkpoint)."""
    if prints_only(args) and hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def prints_only(args: list[str]) -> bool:
    """Whether Hydra only prints (help, a config, its info, the version) and runs nothing."""
    printing = {"--help", "--hydra-help", "--version", "--cfg", "--info", "-h", "-c", "-i"}
    return bool(printing & {long_flag(arg.split("=", 1)[0]) for arg in args})


def a_flags_value(args: list[str], index: int) -> bool:
    """Whether ``args[index]`` is the value of the flag before it (``-cd DIR``, ``--cfg job``);
    a flag joined to its value (``-cd=DIR``, ``-cdDIR``) or one that takes none has no next."""
    flag = args[index - 1] if index > 0 else ""
    return "=" not in flag and long_flag(flag) in _FLAGS_WITH_VALUE


def long_flag(name: str) -> str:
    """A flag as Hydra's argparse reads it: the unambiguous prefix of a long flag (--cf) is
    that flag (--cfg); anything else stays as typed."""
    if not name.startswith("--") or name in _LONG_FLAGS:
        return name
    matches = [flag for flag in _LONG_FLAGS if flag.startswith(name)]
    return matches[0] if len(matches) == 1 else name


def _not_a_flag(args: list[str], schema: type) -> str | None:
    """``--seed 1`` or another tool's flag (``--data-root``, resnet-lab-eval's): argparse's
    usage and 'unrecognized arguments', or the value told as a word without '='."""
    for index, arg in enumerate(args):
        name, joined, value = arg.partition("=")
        if not name.startswith("--") or long_flag(name) in _LONG_FLAGS or name == "--":
            continue
        following = args[index + 1] if index + 1 < len(args) else ""
        a_value = not _read_as_a_flag(following)
        if not joined and following and a_value and "=" not in following:
            value = following
        names = [*_THE_ANALYSIS_TOOLS_FLAGS.get(name, ()), name[2:].replace("-", "_")]
        if key := next((k for k in names if in_schema(k, schema)), None):
            default = OmegaConf.select(structured_schema(schema), key)
            value = value or ("true" if isinstance(default, bool) else "VALUE")
            told = shlex.quote(f"{key}={value}")
            return f"{name} is no flag of this command: its settings are key=value: {told}"
        return f"{name} is no flag of this command (--help lists them; settings are key=value)"
    return None


def _two_modes(args: list[str]) -> str | None:
    typed = {arg.split("=", 1)[0] for arg in args}
    modes = {name: _MODES[long_flag(name)] for name in typed if long_flag(name) in _MODES}
    if len(set(modes.values())) < 2:
        return None
    order = list(_MODES.values())
    given = sorted(modes, key=lambda name: (order.index(modes[name]), len(name)))
    hint = (
        " (--cfg and --info show one run: drop -m and give one value per key)"
        if "--multirun" in modes.values() and {"--cfg", "--info"} & set(modes.values())
        else ""
    )
    return f"{' and '.join(given)} cannot be given together: Hydra runs one mode{hint}"


def _a_flags_value_missing_or_unknown(args: list[str]) -> str | None:
    """``--cfg`` last, ``-cd`` before another flag, ``--cfg bogus``: argparse's usage (seven
    lines, naming __main__.py under ``python -m``) before its one line."""
    for index, arg in enumerate(args):
        name, joined, value = arg.partition("=")
        flag = _SHORT_FLAGS.get(name, long_flag(name))
        if flag not in _FLAG_VALUES or (index and a_flags_value(args, index)):
            continue  # a joined short one (-cjob, -cdDIR) is argparse's to read
        wanted = _FLAG_VALUES[flag]
        choices = ", ".join(wanted[:-1]) + f" or {wanted[-1]}" if isinstance(wanted, tuple) else ""
        if not joined:
            following = args[index + 1] if index + 1 < len(args) else None
            if following is None or _read_as_a_flag(following):
                if flag == "--info":
                    continue
                return f"{name} needs a value: {choices or wanted}"
            value = following
        if choices and value not in wanted:
            typed = f"{name}{'=' if joined else ' '}{value}"
            if flag == "--info" and "=" in value:  # argparse takes an override as its value
                return (
                    f"{typed}: --info reads {value} as what to show ({choices}): give the "
                    "overrides before --info"
                )
            return f"{typed}: choose {choices}"
    return None


def _read_as_a_flag(word: str) -> bool:
    """As argparse reads a word after a flag: a flag, not its value (-1 and '-a b' are values)."""
    return word.startswith("-") and not re.fullmatch(r"-[\d.]+", word) and " " not in word


def _overrides_around_a_flag(args: list[str]) -> str | None:
    """``data=synthetic -m seed=0,1``: argparse takes the overrides as one run of words, so
    Hydra answers "unrecognized arguments" for those after the flag, without saying why."""
    for index, arg in enumerate(args):
        if long_flag(arg) in ("-m", "--multirun") and 0 < index < len(args) - 1:
            before, after = args[index - 1], args[index + 1]
            an_override = "=" in before or before.startswith("~")  # ~key deletes one
            overrides = not before.startswith("-") and not after.startswith("-") and an_override
            if overrides and not a_flags_value(args, index - 1):  # -cd a=b/ -m: the flag's
                return (
                    f"{arg} goes before the overrides or after them all, not between: "
                    f"{shlex.join([arg, *args[:index], *args[index + 1 :]])}"
                )
    return None


def output_folders(args: list[str]) -> dict[str, tuple[str, str]]:
    """hydra.run.dir and hydra.sweep.dir, each as typed and as Hydra reads it (its quotes
    removed: ``'hydra.run.dir=/runs/r é'``), the last one given of each, as Hydra takes it; one
    Hydra resolves (``${...}``) left out."""
    return {
        override.key_or_group: (arg, value)
        for arg, override in parsed_overrides(args)
        if override.key_or_group in OUTPUT_FOLDER_KEYS
        and isinstance(value := override.value(), str)
        and "${" not in value
    }


def _a_file_as_the_output_folder(args: list[str], outputs_into_the_run: bool) -> str | None:
    """E.g. a checkpoint given as hydra.run.dir: Hydra's FileExistsError trace making it."""
    for key, (arg, value) in output_folders(args).items():
        if _is_file(Path(value)):
            # resolved: the parents of ../ckpt/x.pt are .. and . as written
            run = next((p for p in Path(value).resolve().parents if (p / "ckpt").is_dir()), None)
            hint = ""
            if run and outputs_into_the_run:
                hint = (
                    f": give the run's folder, {pasteable_override(key, str(run))} (resume=true "
                    "continues from the folder's newest checkpoint)"
                )
            elif run:
                hint = (
                    f" (a checkpoint to read? give it as {pasteable_override('checkpoint', value)})"
                )
            return f"{arg} is a file, not a folder{hint}"
    return None


def _a_folder_inside_a_run(args: list[str]) -> str | None:
    """A sweep into a run's folder, or a run into a folder inside one: its TensorBoard events
    would show as that run's, and the report count both (each job refused after Hydra made
    its folder)."""
    if prints_only(args):
        return None
    for key, (arg, value) in output_folders(args).items():
        if not value.strip():
            continue
        try:
            folder = Path(value).resolve()
            swept_run = key == "hydra.sweep.dir" and holds_a_run(folder)
            run = folder if swept_run else enclosing_run(folder)
        except OSError:  # a name too long, a folder not searchable: told by other checks
            continue
        if run and folder != run / "ckpt":  # a run's checkpoints: run_folder_problem says
            what = "is" if run == folder else "lies inside"
            return f"{arg} {what} the run in {run}: give the {key[6:-4]} a folder of its own"
    return None


def _the_other_modes_folder(args: list[str]) -> str | None:
    """hydra.run.dir with -m, or hydra.sweep.dir without it: Hydra ignores the folder given
    and writes below the default one, without a word."""
    if prints_only(args):
        return None
    folders = output_folders(args)
    if is_sweep(args) and "hydra.run.dir" in folders and "hydra.sweep.dir" not in folders:
        arg, folder = folders["hydra.run.dir"]
        return (
            f"{arg} is one run's folder, and -m runs a sweep, whose jobs go below "
            f"hydra.sweep.dir: write {pasteable_override('hydra.sweep.dir', folder)}"
        )
    if not is_sweep(args) and "hydra.sweep.dir" in folders and "hydra.run.dir" not in folders:
        arg, folder = folders["hydra.sweep.dir"]
        return (
            f"{arg} is a sweep's folder (-m), and this is one run: write "
            f"{pasteable_override('hydra.run.dir', folder)}, or add -m"
        )
    return None


def _a_flag_without_its_mode(args: list[str]) -> str | None:
    """--resolve alone is Hydra's ValueError trace; -p alone is ignored and a whole run starts."""
    flags = {long_flag(arg.split("=", 1)[0]) for arg in args}
    if flags & {"-c", "--cfg", "-h", "--help"}:
        return None
    for flag in ("--resolve", "-p", "--package"):
        if flag in flags:
            return f"{flag} shows a config: give it with --cfg job (e.g. --cfg job {flag} ...)"
    return None


def _a_default_output_folder_that_cannot_be_made(args: list[str], config_name: str) -> str | None:
    """``outputs/`` in a folder the user cannot write in: Hydra's PermissionError trace. Where
    the tool's own config names the folder (no -cd, -cn or hydra.searchpath to move it)."""
    folder_key = "hydra.sweep.dir" if is_sweep(args) else "hydra.run.dir"
    given = {a.partition("=")[0].lstrip("+") for a in args}
    if prints_only(args) or folder_key in given or _config_folders(args) != [CONF_DIR]:
        return None
    variables = re.findall(r"\$\{oc\.env:(\w+)", _folder_template(config_name, is_sweep(args)))
    for variable in variables:
        if os.environ.get(variable) == "":  # Path("") is ".": the runs went to /DATE/TIME
            return (
                f"{variable} is empty (an unset shell variable?): the outputs would go below "
                f"{Path.cwd().anchor}, the file system's root: give it a folder, or unset it"
            )
    root = outputs_root(config_name, is_sweep(args))
    if problem := _a_name_this_locale_cannot_spell(root):
        return problem  # its way out (an ASCII folder) is the other's too
    if problem := cannot_make(root, file_told=False):
        if moved := [v for v in variables if os.environ.get(v)]:  # the user's choice of folder
            return f"{problem}, where {moved[0]} puts the outputs ({root}/): give it a folder"
        return (
            f"{problem}, where the outputs go by default ({root}/): start from a folder you "
            f"can write in, or give {folder_key}=DIR"
        )
    return None


def _not_your_home(arg: str, key: str, value: str) -> str | None:
    """``hydra.run.dir='~/runs/r'``: Hydra makes a folder named '~' (the lab's tools and
    data.root read it as the home folder)."""
    if key not in OUTPUT_FOLDER_KEYS or (home := os.path.expanduser(value)) == value:
        return None
    return (
        f"{arg}: Hydra takes '~' for a folder's name, not for your home folder: write "
        f"{pasteable_override(key, home)}"
    )


def _an_output_folder_that_cannot_be_made(args: list[str]) -> str | None:
    """An empty folder (an unset shell variable: the run would fill the current folder), a file
    on the way to it, or a folder this user cannot write in: Hydra's trace making it. A '~'
    (quoted, as Hydra needs it) is no home folder to Hydra: it made a folder named '~' here."""
    for key, (arg, value) in output_folders(args).items():
        if not value.strip():
            return f"{key} is empty: give a folder (an unset shell variable?)"
        if home := _not_your_home(arg, key, value):
            return home
        try:
            problem = (
                _read_two_ways(key, value)
                or _too_long_for_its_files(Path(value))
                or cannot_make(Path(value))
                # a run's checkpoints (a copy of another user's): refused at its first save
                or (key == "hydra.run.dir" and cannot_make(Path(value) / "ckpt"))
            )
        except OSError as e:  # e.g. a name too long for the file system
            problem = f"the file system refuses it ({e.strerror})"
        if problem:
            return f"{arg}: {problem}"
    return None


# what a run or sweep writes below its folder, at most: a job's subfolder, Hydra's record
# (.hydra/<launch time>/overrides.yaml), a checkpoint's temporary file, TensorBoard's events
ROOM_FOR_FILES = 200  # bytes


def _too_long_for_its_files(folder: Path) -> str | None:
    """A folder whose path leaves no room below the system's limit (4096 bytes on Linux) for
    the files written in it: a trace at the first one (a name too long alone is told below)."""
    if not hasattr(os, "pathconf"):  # Windows: no limit to ask the system for
        return None
    path_max = os.pathconf(folder.absolute().anchor, "PC_PATH_MAX")  # one figure on Linux
    length = len(os.fsencode(folder.absolute()))
    if length + ROOM_FOR_FILES <= path_max:
        return None
    return (
        f"its path is {length} bytes, and the files written in it need up to "
        f"{ROOM_FOR_FILES} more within the system's {path_max}: give a shorter one"
    )


def _read_two_ways(key: str, value: str) -> str | None:
    """'..' after a symbolic link (``$PWD/../runs`` in a linked folder): the system makes the
    folder below the link's target's parent, Hydra (``os.path.abspath``) opens its log below the
    link's own parent: a trace, and an empty folder."""
    if ".." not in Path(value).parts:
        return None
    made, logged = Path(value).resolve(), Path(os.path.abspath(value)).resolve()
    if made == logged:
        return None
    return (
        f"'..' after a symbolic link: the system makes {made}, Hydra writes into {logged}; "
        f"write the folder meant without '..', e.g. {pasteable_override(key, str(made))}"
    )


def outputs_root(config_name: str, sweep: bool = False) -> Path:
    """The folder a tool's runs (or sweeps) go below, as its primary config names it: the part
    of ``hydra.run.dir`` before the date and time (``outputs``, or ``$RESNET_LAB_OUTPUTS``)."""
    parts = itertools.takewhile(
        lambda part: "${now:" not in part, _folder_template(config_name, sweep).split("/")
    )
    return Path(OmegaConf.create({"root": "/".join(parts)}).root)


@functools.cache
def _folder_template(config_name: str, sweep: bool) -> str:
    """``hydra.run.dir`` (or ``hydra.sweep.dir``) of a tool's primary config, unresolved: read
    once per process (a command's checks ask for its folders several times, 6 ms a read)."""
    config = OmegaConf.load(CONF_DIR / f"{config_name}.yaml")
    return OmegaConf.to_container(config, resolve=False)["hydra"]["sweep" if sweep else "run"][
        "dir"
    ]


def _is_file(path: Path) -> bool:
    """Path.is_file, False where the file system refuses the name (too long: told elsewhere)."""
    try:
        return path.is_file()
    except OSError:
        return False


def misnamed_profile(choice: str, made: str) -> str | None:
    """A profile file names itself: the report keeps runs of one profile apart from another's
    by the name a run records (``made``: what ``profile=<choice>`` made it)."""
    if made == choice:
        return None
    return (
        f"profile={choice} makes the run's profile {made}: a profile file names itself "
        f"(profile: {choice} in profile/{choice}.yaml); correct the file"
    )


def misnamed_row(path: str, name: str) -> str | None:
    """A row's ``experiment.name`` is its file's path under experiment/ (``path``): the report
    finds the row's runs by it (a row of one's own named otherwise was reported as another
    row, or none)."""
    if name == path:
        return None
    return (
        f"the row experiment/{path}.yaml names itself experiment.name={name or repr('')}: a "
        f"row's name is its path, {path}; correct the file"
    )


def resumes(args: list[str]) -> bool:
    """``resume=true`` (or what OmegaConf reads as true for a bool) among the overrides."""
    values = [o.value() for _, o in parsed_overrides(args) if o.key_or_group == "resume"]
    return bool(values) and str(values[-1]).lower() in ("true", "yes", "on", "y", "1")


def existing_run_dir(args: list[str]) -> Path | None:
    """The folder hydra.run.dir names, if it exists, for the checks made before Hydra writes
    its record and log there (the tool checks the folder Hydra resolved too). None in a sweep
    or where a config is only shown (no such folder written), or for a value Hydra resolves."""
    if is_sweep(args) or prints_only(args):
        return None
    _, value = output_folders(args).get("hydra.run.dir", ("", ""))
    return Path(value) if value and Path(value).is_dir() else None


def _not_a_run_folder(args: list[str]) -> str | None:
    """A run's ckpt/ or a folder above runs as hydra.run.dir."""
    folder = existing_run_dir(args)
    return run_folder_problem(folder, "hydra.run.dir", sweep=False) if folder else None


def cannot_make(folder: Path, file_told: bool = True) -> str | None:
    """Why ``folder`` cannot be made (or written in, if it exists), if it cannot;
    ``file_told``: ``folder`` being a file is told by the caller, in its own words."""
    if problem := _a_name_this_locale_cannot_spell(folder):
        return problem
    existing = None
    for path in [folder, *folder.absolute().parents]:
        if path.exists():
            existing = path
            break
        if path.is_symlink():  # to a disk not mounted, say: Hydra's trace making the folder
            target = os.readlink(path)
            if os.path.lexists(path.parent / target):  # a link in turn: in a loop, or to nothing
                return f"{path} is a link that leads nowhere (through {target}: a loop of links?)"
            return f"{path} is a link to {target}, which does not exist"
    if existing is None or (file_told and existing == folder and folder.is_file()):
        return None  # nothing there at all, or the file case told above
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        read_only = os.statvfs(existing).f_flag & os.ST_RDONLY
        return f"cannot write in {existing} ({'read-only' if read_only else 'permission denied'})"
    return None


def _a_name_this_locale_cannot_spell(folder: Path) -> str | None:
    """A non-ASCII name in the C locale without UTF-8 mode (``LC_ALL=C PYTHONUTF8=0``): Python
    holds its bytes as surrogates, which TensorBoard's writer and torch.save cannot encode (a
    trace once the run's folder is made)."""
    path = str(folder.absolute())
    try:
        path.encode()
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode(errors="replace")
        return (
            f"{shown}: this locale ({sys.getfilesystemencoding()}) cannot spell its name, and "
            "TensorBoard cannot write there: run in a UTF-8 locale (e.g. LC_ALL=C.UTF-8), or "
            "give a folder named in ASCII"
        )
    return None


def is_sweep(args: list[str]) -> bool:
    """-m, --multirun (or its abbreviation) or hydra.mode=MULTIRUN, on the command line or in
    a chosen profile or row of one's own: Hydra runs every job of the sweep."""
    if (typed := _typed_mode(args)) is not None:  # the command line's over a config's
        return typed == "MULTIRUN"
    mode = _set_by_a_chosen_file(args, "hydra.mode")
    return mode is not None and str(mode[1]) == "MULTIRUN"


def _typed_mode(args: list[str]) -> str | None:
    """The mode the command line asks for (-m, --multirun or hydra.mode=...), if it does."""
    typed = {long_flag(a.lstrip("+")) for a in args}
    if {"-m", "--multirun", "hydra.mode=MULTIRUN"} & typed:
        return "MULTIRUN"
    return "RUN" if "hydra.mode=RUN" in typed else None


def _set_by_a_chosen_file(args: list[str], key: str) -> tuple[Path, Any] | None:
    """The file and value of the last chosen profile or row (as Hydra composes them: the
    profile, then the row) that sets ``key`` (``hydra.mode``, ``hydra.sweeper.params``),
    itself or through a config its defaults list includes."""
    chosen = [
        (override.key_or_group.partition("/")[0] == "experiment", path)
        for _, override in parsed_overrides(args)
        if not override.is_sweep_override() and not override.is_delete()
        for path in _row_files(override.key_or_group, override, args)
    ]
    found = None
    for _, path in sorted(chosen, key=lambda row: row[0]):  # stable: rows in typed order
        found = _set_in_file(path, key, args, declares_global_package(path)) or found
    return found


def _set_in_file(
    path: Path, key: str, args: list[str], run_keys: bool, seen: frozenset[Path] = frozenset()
) -> tuple[Path, Any] | None:
    """``key`` as a config file sets it (``run_keys``: its keys are the run's, _global_), or
    the configs its defaults list includes do: those before ``_self_`` (where it is not
    listed, the file's own keys come last), those after it over the file's; the last wins."""
    try:
        loaded = load_row(path)
        value = OmegaConf.select(loaded, key, default=None) if run_keys else None
        raw = OmegaConf.to_container(loaded, resolve=False)
    except (ConfigError, OmegaConfBaseException):
        return None  # the row's own check says what is wrong with it
    if not isinstance(raw, dict) or path in seen:
        return None
    before, after, own = None, None, (path, value) if value is not None else None
    defaults = raw.get("defaults")
    past_self = False
    for entry in defaults if isinstance(defaults, list) else []:
        past_self = past_self or entry == "_self_"
        if not isinstance(entry, str) or "${" in entry or entry == "_self_":
            continue  # a group's choice (``override /shortcut: gate``), or Hydra's to read
        name, _, package = entry.partition("@")
        if (included := _included_config(path, name, args)) is None:
            continue
        global_keys = package == "_global_" or (not package and declares_global_package(included))
        if hit := _set_in_file(included, key, args, global_keys, seen | {path}):
            before, after = (before, hit) if past_self else (hit, after)
    return after or own or before


def _included_config(path: Path, name: str, args: list[str]) -> Path | None:
    """The file a defaults list's ``name`` includes, as Hydra finds it: in the first config
    folder that has it, by its path (``/profile/x``) or by the including file's group."""
    folders = _config_folders(args) or []
    if not name.startswith("/"):
        group = next((path.parent.relative_to(f) for f in folders if path.is_relative_to(f)), None)
        if group is None:
            return None
        name = f"{group.as_posix()}/{name}"
    files = (folder / f"{name.strip('/')}.yaml" for folder in folders)
    return next((file for file in files if file.is_file()), None)


def _config_flags(args: list[str]) -> list[tuple[str, str | None]]:
    """Hydra's config flags in ``args`` as (long name, value), in any spelling argparse takes."""
    found = []
    for index, arg in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else None
        short = arg[:3]
        if short in _CONFIG_FLAGS:  # -cd DIR, -cd=DIR, -cdDIR
            joined = arg[3:].removeprefix("=")
            found.append((_CONFIG_FLAGS[short], joined or following))
            continue
        name, equals, value = arg.partition("=")
        for flag in _CONFIG_FLAGS.values():
            if len(name) >= _SHORTEST_PREFIX and flag.startswith(name):
                found.append((flag, value if equals else following))
    return found


def _added_config_folder(args: list[str]) -> Path | None:
    """The folder given with --config-dir (-cd), which Hydra searches after the lab's."""
    folders = [value for flag, value in _config_flags(args) if flag == "--config-dir" and value]
    return Path(folders[-1]) if folders else None


def _config_folders(args: list[str]) -> list[Path] | None:
    """The folders Hydra reads the lab's groups from: the lab's own and the --config-dir
    one; None where that is not a folder, or where another primary config or config path, or
    hydra.searchpath, may change what the groups and settings are (this check does not follow)."""
    if any(flag != "--config-dir" for flag, _ in _config_flags(args)) or any(
        arg.lstrip("+~").startswith("hydra.searchpath") for arg in args
    ):
        return None
    added = _added_config_folder(args)
    if added is not None and not added.is_dir():
        return None  # refused by config_folder_problem
    return [CONF_DIR] if added is None else [CONF_DIR, added]


def searchpath_override(folder: Path) -> str:
    """The override that adds ``folder`` to Hydra's search path as --config-dir does, for
    composing without the command line; quoted: a comma in the path would split Hydra's list."""
    path = str(folder.resolve()).replace("\\", "\\\\").replace("'", "\\'")
    return f"hydra.searchpath=['file://{path}']"


def config_folder_problem(args: list[str]) -> str | None:
    """A --config-dir that is no folder (Hydra's message and exit 1, once per tool), or a file
    there with the path of one of the lab's: Hydra reads the lab's first, so the user's edited
    row would run as the lab's, silently."""
    if any(flag == "--config-dir" and value == "" for flag, value in _config_flags(args)):
        return "--config-dir is empty: give the folder of your own configs (an unset variable?)"
    added = _added_config_folder(args)
    if problem := _a_primary_config_not_there(args, added):
        return problem
    if added is None:
        return None
    try:
        if not added.is_dir():
            what = "is a file" if added.exists() else "does not exist"
            return f"--config-dir {added} {what}: give the folder of your own configs"
    except OSError as e:  # e.g. a name too long for the file system
        return f"--config-dir {added}: the file system refuses it ({e.strerror})"
    for config in sorted(CONF_DIR.rglob("*.yaml")):
        name = config.relative_to(CONF_DIR)
        if (added / name).is_file():
            return (
                f"{added / name} has the name of the lab's config {name.as_posix()}, which Hydra "
                "reads instead: give yours a path the lab's configs do not have"
            )
    return None


# each tool's primary config in the lab's config folder
_TOOLS_CONFIGS = {"config": "resnet-lab", "lesion": "resnet-lab-lesion"}


def _another_tools_config(args: list[str], tool: str, config_name: str) -> str | None:
    """``resnet-lab -cn lesion``: the lesion study's config, whose schema that tool registers
    (Hydra's lines: "Could not load 'resnet_lab_lesion_schema'"); ``resnet-lab-lesion -cn
    config``: a training run's settings for a study."""
    flags = dict(_config_flags(args))
    name = (flags.get("--config-name") or "").removesuffix(".yaml")
    if "--config-path" in flags or name == config_name or name not in _TOOLS_CONFIGS:
        return None
    return (
        f"--config-name {name}: that is {_TOOLS_CONFIGS[name]}'s config; {tool} reads "
        f"{config_name} (leave --config-name out)"
    )


def _a_primary_config_not_there(args: list[str], added: Path | None) -> str | None:
    """``--config-name nope``: Hydra's lines (its search path) and exit 1. Where no
    --config-path moves the lab's config folder, the name is looked for where Hydra would."""
    flags = dict(_config_flags(args))
    name = flags.get("--config-name")
    if not name or "--config-path" in flags:
        return None
    folders = [CONF_DIR, *([added] if added is not None and added.is_dir() else [])]
    if any((folder / f"{name.removesuffix('.yaml')}.yaml").is_file() for folder in folders):
        return None
    return f"--config-name {name}: there is no such config in {' or '.join(map(str, folders))}"


def _sweep_overrides(args: list[str]) -> list[tuple[str, Override]]:
    """The parsed overrides of a sweep (``-m``) whose config folders this check can see; []
    otherwise (folders added with -cp or hydra.searchpath may hold groups it cannot see)."""
    if not is_sweep(args) or _config_folders(args) is None:
        return []
    return parsed_overrides(args)


def parsed_overrides(args: list[str]) -> list[tuple[str, Override]]:
    """Each override as typed, with Hydra's reading of it (those Hydra cannot read left out:
    its own message says what is wrong)."""
    parsed = []
    for arg in args:
        if arg.startswith("-") or ("=" not in arg and not arg.startswith("~")):  # ~key deletes
            continue
        if (override := _read_by_hydra(arg)) is not None:  # else Hydra says what is wrong
            parsed.append((arg, override))
    return parsed


@functools.lru_cache(maxsize=1024)
def _read_by_hydra(arg: str) -> Override | None:
    """Hydra's reading of one override, once per process (the checks read each about twenty
    times, 0.2 ms a reading): shared, so read it, never change it."""
    try:
        (override,) = override_parser().parse_overrides([arg])
    except HydraException:
        return None
    return override


def _a_mistake_every_job_makes(args: list[str]) -> str | None:
    overrides = _sweep_overrides(args)
    added = [
        override.key_or_group
        for _, override in overrides
        if (override.is_add() or override.is_force_add())
        and not override.key_or_group.startswith("hydra.")
        and not _is_group(override.key_or_group, args)
        and not in_schema(override.key_or_group, Config)
    ]
    if added:
        return unknown_keys_message(added)
    keys = {override.key_or_group: override for _, override in overrides}
    if resumes([arg for arg, _ in overrides]) and "hydra.sweep.dir" not in keys:
        return (
            "resume=true continues the sweep in hydra.sweep.dir, and none was given: add "
            "hydra.sweep.dir=<the sweep's folder>, as in its log"
        )
    launcher = keys.get("hydra/launcher")  # submitit would stop with a traceback per sweep
    if launcher is not None and launcher.value() == "slurm" and shutil.which("srun") is None:
        return (
            "hydra/launcher=slurm submits each run to Slurm, and this machine has no srun: "
            "launch from a Slurm login node, or choose hydra/launcher=basic or parallel"
        )
    return None


def no_job_would_train(args: list[str]) -> str | None:
    """A new sweep none of whose jobs would train (resnet_lab.preflight), told once before any
    starts. Only where this machine and this command show what the jobs would see: the lab's
    own config folder (another's rows, or hydra.searchpath's, are Hydra's to find), no flag
    but -m, a launcher that runs the jobs here (slurm's run on nodes with their own GPUs and
    files) and no environment set for the jobs (hydra.job.env_set)."""
    flags = {long_flag(arg) for arg in args if arg.startswith("-")}
    if not is_sweep(args) or flags - {"-m", "--multirun"} or _config_folders(args) != [CONF_DIR]:
        return None
    parsed = {override.key_or_group: override for _, override in parsed_overrides(args)}
    launcher = parsed.get("hydra/launcher")
    if launcher is not None and launcher.value() not in LOCAL_LAUNCHERS:
        return None
    if any(key.startswith("hydra.job.env_set") for key in parsed):
        return None
    from resnet_lab.preflight import every_job_refused

    sweep_dir = parsed.get("hydra.sweep.dir")
    overrides = [arg for arg in args if not arg.startswith("-")]
    return every_job_refused(overrides, None if sweep_dir is None else str(sweep_dir.value()))


def override_problem(args: list[str]) -> str | None:
    """What is wrong with resnet-lab's overrides in ``args``, told better than Hydra would: a
    misspelt setting (``model.detph=20``: Hydra advises the '+' that the run then refuses),
    a row that is not there (Hydra lists its search path, not the rows), an experiment
    chosen without its '+' and a value of the wrong type."""
    if _config_folders(args) is None:
        return None
    added: set[str] = set()
    rows: dict[str, str] = {}  # an added experiment's group: the override that chose it
    for arg, override in parsed_overrides(args):
        key = override.key_or_group
        if key.startswith("hydra"):
            continue
        if override.package is not None:
            if problem := _a_choice_moved(arg, override):
                return problem
            continue
        if problem := _nothing_chosen(arg, key, override, args):
            return problem
        if override.is_delete():
            continue
        if _is_group(key, args):
            if problem := _a_choice_problem(arg, override, args, added, rows):
                return problem
        elif problem := _a_setting_problem(arg, override, args):
            return problem
    return wrong_type(args, Config)


def _a_setting_problem(arg: str, override: Override, args: list[str]) -> str | None:
    """A setting (not a group's choice) misspelt, in a group that is not there, or added with a
    '+' where the config holds it."""
    key = override.key_or_group
    if "/" in key and _is_group(key.partition("/")[0], args):  # +experiment/tabel1=x
        return _no_group(arg, key, args)
    if not (override.is_add() or override.is_force_add()) and not in_schema(key, Config):
        return unknown_keys_message([key])  # trainr.lr too: Hydra advises a '+'
    if override.is_add() and _set_already(key, override):
        return _added_again(arg, key)
    return None


def _added_again(arg: str, key: str) -> str:
    return f"{arg}: {key} is a setting already, a '+' adds one: write {arg[1:]}"


def _set_already(key: str, override: Override, schema: type = Config) -> bool:
    """``+trainer.lr=0.05``: Hydra refuses to add a setting the config holds a value of (not a
    list or dict), in six lines and exit 1; a setting whose default is null it adds."""
    if not in_schema(key, schema) or isinstance(override.value(), list | dict):
        return False
    return OmegaConf.select(structured_schema(schema), key) is not None


def _a_choice_problem(
    arg: str, override: Override, args: list[str], added: set[str], rows: dict[str, str]
) -> str | None:
    """What is wrong with a group's choice: not there, a row without its '+', a second row, a
    mistake in the row's file. ``added``: the groups added so far (updated), ``rows``: see
    ``_a_second_row``."""
    key, value = override.key_or_group, override.value()
    adds = override.is_add() or override.is_force_add()
    # each of a sweep's choices too (shortcut=gate,gat: Hydra's search path, exit 1, an empty
    # sweep folder); a glob's matches are there, a list is refused below
    sweep = override.value_type in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP)
    for choice in _chosen_names(key, override, args) if isinstance(value, str) or sweep else []:
        if problem := _missing_choice(arg, key, choice, args):
            return problem
    if isinstance(value, list) and key in _chosen_by_the_lab():  # merged into one, silently
        options = ",".join(map(str, value))
        return f"{arg}: a run has one {key}; to train each, a sweep: --multirun {key}={options}"
    if adds and key in _chosen_by_the_lab():  # Hydra: "Multiple values for shortcut", or
        # "force-add of config groups is not supported" (++), in three lines
        return f"{arg}: the lab's config chooses a {key} already: write {arg.lstrip('+')}"
    # no defaults list chooses an experiment (nor a subgroup of it): Hydra refuses it without
    # its '+', in four lines that advise the '+' (sweeps too)
    if key.partition("/")[0] == "experiment" and not adds and key not in added:
        return f"{arg}: an experiment is added to the run's settings: write +{arg}"
    if adds and (problem := _a_second_row(arg, key, rows)):
        return problem
    if problem := _a_mistake_in_a_row(key, override, args):
        return problem
    added |= {key} if adds else set()
    return None


def _a_choice_moved(arg: str, override: Override) -> str | None:
    """``shortcut@model=gate``: the lab's defaults list places each group it chooses once, so
    Hydra cannot move a choice elsewhere ("Could not override 'shortcut@model'", four lines),
    nor add a second one there (its keys are no settings: a ConfigKeyError)."""
    key = override.key_or_group
    if key not in _chosen_by_the_lab():
        return None
    return (
        f"{arg}: the lab's config chooses the {key} and where it goes (no @{override.package}): "
        f"write {key}={arg.partition('=')[2]}"
    )


def _nothing_chosen(arg: str, key: str, override: Override, args: list[str]) -> str | None:
    """``~trainer.lr`` (Hydra: "TrainerCfg does not support deletion", five lines; ``~seed``: a
    trace once the run reads it) or ``shortcut=null`` (a ValueError trace): a setting every run
    has, a group that needs its choice (``~shortcut`` drops a choice: Hydra's to do); or
    ``~trainer.lrr`` ("Could not delete from config", three lines, exit 1): none a run has (a
    key added with '+' is refused by the run)."""
    if _is_group(key, args):
        if override.value() is None and not override.is_delete():
            return _missing_choice(arg, key, "", args)
        return None
    if override.is_delete() and in_schema(key, Config):
        return f"{arg}: every run has this setting, it cannot be deleted: give {key} a value"
    if override.is_delete():
        return f"{arg}: a run has no setting {with_closest_key(key, Config)} to delete"
    return None


@functools.cache
def _chosen_by_the_lab() -> frozenset[str]:
    """The groups the lab's defaults list chooses (model, shortcut, ..., profile)."""
    defaults = OmegaConf.load(CONF_DIR / "config.yaml").defaults
    return frozenset(key for entry in defaults if isinstance(entry, DictConfig) for key in entry)


def _a_second_row(arg: str, key: str, rows: dict[str, str]) -> str | None:
    """``+experiment=table1/gate_b6 +experiment/table2=original_110``: Hydra composes both, one
    row's settings under the other's name."""
    if key.partition("/")[0] != "experiment":
        return None
    if key in rows:  # Hydra: "Multiple values for experiment", in three lines
        return f"{arg}: {rows[key]} chose a row already: give one, or choose again without the '+'"
    if others := list(rows.values()):
        return (
            f"{arg}: a run is one row, and {others[0]} chose one already: give one +experiment "
            "(the rows of several tables: make reproduce-table TABLES=...)"
        )
    rows[key] = arg
    return None


def _a_mistake_in_a_row(group: str, override: Override, args: list[str]) -> str | None:
    """A row (or profile) of one's own with a mistake (its keys where Hydra would not read
    them as the run's, a misspelt key, a value of the wrong type, an option its defaults
    choose that is not there): Hydra answered in five lines (ConfigKeyError, its search path,
    a ValidationError), a YAML mistake with a trace. Each row a sweep chooses too."""
    for row in _row_files(group, override, args):
        if problem := row_problem(row, group):
            return problem
        # a row's or profile's defaults list (an option file's entries read otherwise)
        if (kind := group.partition("/")[0]) in ("experiment", "profile") and (
            problem := _a_choice_not_there(row, args, kind)
        ):
            return problem
        if group == "shortcut" and (problem := variant_file_problem(row)):
            return problem  # before Hydra: a sweep's first jobs would train before it
    return None


def variant_file_problem(path: Path, chosen_as: str | None = None) -> str | None:
    """A shortcut's option file names its variant (``name: gate``): one made by copying another
    and left unedited, or without a name, trained that other variant (identity), silently. A
    file of another name may be a variant's preset (``gate_b2.yaml``: ``name: gate``), so the
    registry (torch's import) is read only where the names differ. ``chosen_as``: the choice
    as the user wrote it (``shortcut=NAME`` if not given)."""
    choice = path.stem
    try:
        named = load_row(path, "shortcut").get("name")
    except (ConfigError, AttributeError):  # told by row_problem
        return None
    if named == choice:
        return None
    from resnet_lab.models import SHORTCUTS

    if named is None:  # a preset without its variant's name, empty say: identity, silently
        example = choice if choice in SHORTCUTS.names() else "gate"
        return (
            f"{chosen_as or f'shortcut={choice}'}: its file {path} names no variant: an option "
            f"file names its variant (name: {example}), or the run trains identity"
        )
    if choice not in SHORTCUTS.names():
        return None
    return (
        f"{chosen_as or f'shortcut={choice}'}: its file {path} names the variant {named}: a "
        f"variant's option file names it (name: {choice}), or the run trains another"
    )


def choice_not_there(row: Path, config_dir: Path | None, kind: str = "experiment") -> str | None:
    """For the report's check of the rows (and profiles: ``kind``): an option the file's
    defaults choose that neither the lab's groups nor ``config_dir``'s hold, or that has a
    mistake (``make reproduce-table`` then trained the tables before it and stopped there)."""
    args = [] if config_dir is None else ["--config-dir", str(config_dir)]
    return _a_choice_not_there(row, args, kind)


def _a_choice_not_there(row: Path, args: list[str], kind: str = "experiment") -> str | None:
    """``- override /shortcut: gat`` in a row's (``kind``: or a profile's) defaults list. Only
    entries naming a group of the lab's absolutely, with a plain choice: not ``optional`` ones
    (Hydra skips those when missing), interpolated (``${data}_recipe``) or mandatory (``???``)
    choices, Hydra's own groups or relative ones."""
    try:
        raw = OmegaConf.to_container(load_row(row), resolve=False)
    except Exception:  # the row's own check says what is wrong with it
        return None
    defaults = raw.get("defaults") if isinstance(raw, dict) else None
    if defaults is not None and not isinstance(defaults, list):  # Hydra: a ValueError trace
        return f"{kind} file {row}: defaults: is a list of entries, e.g. - override /data: cifar100"
    overridden = {  # a choice changed, not added (the row itself: +experiment=...)
        override.key_or_group for _, override in parsed_overrides(args) if not override.is_add()
    }
    for entry in defaults or []:
        for key, value in entry.items() if isinstance(entry, dict) else ():
            if problem := _an_entry_problem(row, key, value, args, overridden):
                return f"{kind} file {row}, defaults: {problem}"
    return None


def _an_entry_problem(
    row: Path, key: Any, value: Any, args: list[str], overridden: set[str]
) -> str | None:
    """What is wrong with one ``key: value`` entry of ``row``'s defaults list, told as Hydra
    would not (a trace, or lines without the file); ``overridden``: the groups the command
    line chooses (the row's choice of them is never read)."""
    if not isinstance(key, str):  # Hydra: a bare AssertionError
        return f"{key}: {value}: an entry names a group, e.g. override /data: cifar100"
    words = key.split()
    group = words[-1].partition("@")[0]
    if "optional" in words or not group.startswith("/") or group.startswith("/hydra"):
        return None
    group = group.strip("/")
    if _config_folders(args) is None:  # folders this check does not see (-cp, searchpath)
        return None
    if not _is_group(group, args):  # Hydra: "Could not override 'shortcu'", in four lines
        groups = sorted(
            {p.name for folder in _config_folders(args) or [] for p in folder.glob("[!_]*/")}
        )
        return f"{key}: {value}: there is no group {group}; the groups are {', '.join(groups)}"
    chosen = group in _chosen_by_the_lab()
    if "override" not in words and "@" not in words[-1] and chosen and declares_global_package(row):
        return (  # Hydra: "Multiple values for shortcut", in three lines, no file named
            f"{key}: {value}: the lab's config chooses {group} already; a row changes its "
            f"choice with `override /{group}: {value}`"
        )
    if group in overridden:  # the command line's choice: the row's file is never read
        return None
    if value is None and chosen:  # the schema's, silently
        held = ", ".join(_options(group, args))
        return (
            f"{key}: null: a run has a {group}, and null trained the default one; choose one by "
            f"name: {held}"
        )
    if isinstance(value, int | float):  # Hydra: a ValueError trace
        example = next(iter(_options(group, args)), "gate")
        return f"{key}: {value}: an option is named by its file's name (e.g. {example})"
    if not isinstance(value, str) or "${" in value or value == "???":
        return None
    return _a_chosen_option_problem(f"{key}: {value}", group, value.removesuffix(".yaml"), args)


def _a_chosen_option_problem(entry: str, group: str, choice: str, args: list[str]) -> str | None:
    """What a defaults ``entry`` choosing ``choice`` of one of the lab's groups meets: no such
    option, a group of options, or a variant's file naming another variant (the run refused
    it only once its job started: a sweep's other rows trained first, the report's check
    passed it)."""
    if not _is_group(group, args):
        return None
    if option := _first_option_file(group, choice, args):  # Hydra's file before a folder so named
        if problem := row_problem(option, group):  # Hydra's lines, or a YAML trace
            return f"{entry}: {problem}"
        return variant_file_problem(option, chosen_as=entry) if group == "shortcut" else None
    if _is_group(f"{group}/{choice}", args):
        return f"{entry} names a group of configs: choose one of {group}/{choice}/"
    return _missing_choice(entry, group, choice, args)


def _first_option_file(group: str, name: str, args: list[str]) -> Path | None:
    """The file Hydra reads for option ``name`` of ``group``: the first config folder's."""
    found = (folder / group / f"{name}.yaml" for folder in _config_folders(args) or [])
    return next((option for option in found if option.is_file()), None)


def _row_files(group: str, override: Override, args: list[str]) -> list[Path]:
    """The files of the rows (or profiles, or options of the lab's groups: ``after_add=elu``)
    an override chooses (a sweep's too), as Hydra finds them: in the first config folder that
    has one."""
    if group.partition("/")[0] not in ("experiment", *_chosen_by_the_lab()):
        return []
    files = (_first_option_file(group, name, args) for name in _chosen_names(group, override, args))
    return [row for row in files if row is not None]


def _chosen_names(group: str, override: Override, args: list[str]) -> list[str]:
    """The options of ``group`` an override chooses, each of a sweep's, a glob's matches (none
    of a range() or interval(): Hydra's to refuse), by name (``gate``, ``table1/gate_b6``)."""
    value = override.value()
    if isinstance(value, Glob):
        names = value.filter(_options(group, args))
    elif override.value_type in (ValueType.CHOICE_SWEEP, ValueType.SIMPLE_CHOICE_SWEEP):
        names = [str(name) for name in override.sweep_string_iterator()]
    elif override.is_sweep_override():
        return []
    else:
        names = [str(value)]
    return [name.removesuffix(".yaml").lstrip("/") for name in names]


def unknown_keys(args: list[str], schema: type) -> list[str]:
    """Settings set without a '+' that ``schema`` lacks (``lesion.samplez=3``): Hydra's answer
    advises the '+' that the tool then refuses. For a tool without resnet-lab's own check whose
    config chooses none of resnet-lab's groups (``profile=smoke`` is no setting of it either)."""
    if _config_folders(args) is None or _shell_completion(args):
        return []
    unknown = []
    for _, override in parsed_overrides(args):
        key = override.key_or_group
        if key.startswith("hydra") or override.package is not None:
            continue
        if override.is_add() or override.is_force_add() or override.is_delete():
            continue  # the tool's own check names added keys after composing
        section = key.rpartition(".")[0]
        a_section_it_lacks = section.split(".")[0] not in schema_keys(schema)  # model.depth
        if not in_schema(key, schema) and (schema_keys(schema, section) or a_section_it_lacks):
            unknown.append(key)
    return unknown


def _a_deleted_setting(args: list[str], schema: type, tool: str) -> str | None:
    """``~checkpoint`` or ``~lesion`` of a study (Hydra: "Could not delete from config", or a
    trace of its schema's merge; exit 1): a setting the tool reads, or none it has (a study
    chooses no group, and takes no added keys). resnet-lab's own: ``_nothing_chosen``."""
    if _config_folders(args) is None:  # another primary config: other settings
        return None
    for arg, override in parsed_overrides(args):
        key = override.key_or_group
        if not override.is_delete() or key.startswith("hydra"):  # Hydra's: hydra_problem
            continue
        if in_schema(key, schema):
            return f"{arg}: {tool} reads {key}, it cannot be deleted: give it a value"
        return f"{arg}: {tool} has no setting {with_closest_key(key, schema)} to delete"
    return None


def _a_runs_choice(args: list[str], schema: type, tool: str) -> str | None:
    """``data=cifar10`` or ``+profile=smoke`` given to a study: a choice in a group of the runs'
    configs, of which the study's config has none (Hydra: "Could not override 'data'" or a
    merge error, in four lines or more, exit 1)."""
    if _config_folders(args) is None:  # another primary config: other settings
        return None
    for arg, override in parsed_overrides(args):
        group = override.key_or_group
        if override.is_delete() or group.startswith("hydra") or not _is_group(group, args):
            continue
        own = [f"{group}.{key}" for key in schema_keys(schema, group)]
        settings = f"; its {group} settings are {', '.join(own)}" if own else ""
        return (
            f"{arg}: {tool} chooses no {group}: the net, its data and its training come from "
            f"the checkpoint{settings}"
        )
    return None


def _a_setting_added_again(args: list[str], schema: type) -> str | None:
    """``+lesion.max_k=2`` of a study (Hydra: "Could not append to config", in four lines, exit
    1), told as resnet-lab's own (``_a_setting_problem``); a group's choice (``+data=cifar10``)
    was told before, by ``_a_runs_choice``."""
    if _config_folders(args) is None:  # another primary config: other settings
        return None
    for arg, override in parsed_overrides(args):
        key = override.key_or_group
        if (
            override.is_add()
            and not key.startswith("hydra")
            and _set_already(key, override, schema)
        ):
            return _added_again(arg, key)
    return None


def wrong_type(args: list[str], schema: type) -> str | None:
    """A value the setting's type refuses (``trainer.lr=abc``, ``seed=1.5``, each value of a
    sweep): Hydra's answer is a five-line merge error and exit 1, once per job in a sweep. A
    seed past torch's range too: a sweep's first job stood for the others in its check of
    them all (resnet_lab.preflight), and one such seed was told as every job's."""
    if _config_folders(args) is None:  # another primary config: other settings
        return None
    typed = writable_schema(schema)  # each value is merged into it
    for arg, override in parsed_overrides(args):
        key = override.key_or_group
        if override.is_add() or override.is_delete() or override.package is not None:
            continue
        if _is_group(key, args) or not in_schema(key, schema):  # Hydra's, or unknown
            continue
        try:
            values = list(override.sweep_iterator()) if override.is_sweep_override() else None
        except (HydraException, ValueError):  # interval(...), glob(...), range(1,5,0): Hydra's
            continue
        arg_value = arg.partition("=")[2]
        for value in [override.value()] if values is None else values:
            boolean = isinstance(OmegaConf.select(typed, key), bool)
            if boolean and type(value) in (int, float) and value not in (0, 1):
                return f"{arg}: {key} is true or false"  # OmegaConf took 2 as true, silently
            try:
                OmegaConf.update(typed, key, value, merge=True)
            except OmegaConfBaseException as e:
                told = str(e).splitlines()[0]
                if isinstance(OmegaConf.select(typed, key), ListConfig) and not isinstance(
                    value, list | None
                ):  # "int is not a ListConfig": how to write a list (a shell leaves [] alone)
                    told = f"{told.rstrip('.')}: {key} takes a list, e.g. {key}=[{arg_value}]"
                return f"{arg}: {told}"
            if key == "seed" and (problem := _seed_problem(value)):
                return problem if values is None else f"{arg}: {problem}"  # which of a sweep's
    return None


def _seed_problem(seed: object) -> str | None:
    """Why a seed is none torch takes (a ``${...}`` is the run's to resolve)."""
    if not isinstance(seed, int):
        return None
    try:
        check_seed(seed)
    except ConfigError as e:
        return str(e)
    return None


def _missing_choice(arg: str, group: str, value: str, args: list[str]) -> str | None:
    """``+experiment=table1/gate_b5``: what the nearest group holds where the choice is not."""
    if any((folder / group / f"{value}.yaml").is_file() for folder in _config_folders(args) or []):
        return None
    if value and (problem := _an_unread_file(arg, group, value, args)):
        return problem
    if not value:  # experiment/ holds tables, each a group of rows
        held = _options(group, args) or [f"{table}/..." for table in _subgroups(group, args)]
        return f"{arg} chooses nothing: {group}/ holds {', '.join(held)}"
    if _is_group(f"{group}/{value}", args):
        first = _options(f"{group}/{value}", args)[:1]
        one = f"one ({arg}/{first[0]}) or " if first else ""
        return f"{arg} names a group of configs: choose {one}all (-m '+{group}/{value}=glob(*)')"
    folder = f"{group}/{value}".rpartition("/")[0]
    while not _is_group(folder, args):  # ends at the group itself
        folder = folder.rpartition("/")[0]
    held = _options(folder, args) + [f"{name}/" for name in _subgroups(folder, args)]
    return f"{arg}: there is no {group}/{value}; {folder}/ holds {', '.join(held)}"


def _an_unread_file(arg: str, group: str, value: str, args: list[str]) -> str | None:
    """The choice's file is there but no file Hydra reads: a folder or a link to nothing named
    so ("there is no r; ... holds r" said before), or one ending .yml or .YAML."""
    for folder in _config_folders(args) or []:
        path = folder / group / f"{value}.yaml"
        if os.path.lexists(path):
            what = "a folder" if path.is_dir() else "a link that leads to no file"
            return f"{arg}: {path} is {what}, not a config file"
        stem = path.with_suffix("")
        if others := [p.name for p in stem.parent.glob(f"{glob.escape(stem.name)}.*")]:
            return f"{arg}: {stem.parent / others[0]} is not read: Hydra reads files ending .yaml"
    return None


def _is_group(group: str, args: list[str]) -> bool:
    return any((folder / group).is_dir() for folder in _config_folders(args) or [])


def _in_group(group: str, args: list[str], pattern: str) -> list[str]:
    """Names of what matches ``pattern`` in ``group``, across the config folders."""
    folders = [folder / group for folder in _config_folders(args) or []]
    return sorted(
        {path.name for folder in folders if folder.is_dir() for path in folder.glob(pattern)}
    )


def _options(group: str, args: list[str]) -> list[str]:
    """The configs a group offers (``shortcut``: gate, identity, ...)."""
    return [Path(name).stem for name in _in_group(group, args, "*.yaml")]


def _subgroups(group: str, args: list[str]) -> list[str]:
    """The groups inside a group (``experiment``: table1, table2, ...)."""
    return [name for name in _in_group(group, args, "*") if _is_group(f"{group}/{name}", args)]


def _jobs_sharing_a_folder(args: list[str]) -> str | None:
    """A swept setting the jobs' folder names leave out (make reproduce-table's subdir,
    ``${experiment.name}/seed${seed}``, with ``EXTRA=trainer.lr=0.1,0.05``): its jobs would
    share a folder, the second refused as a changed resume of the first. Told only where the
    subdir plainly names settings: a resolver (``${now:...}``, ``${hydra:...}``) is left be."""
    if not is_sweep(args):
        return None
    given = [a.partition("=")[2] for a in args if a.lstrip("+").startswith("hydra.sweep.subdir=")]
    if not given or "hydra" in given[-1] or ":" in given[-1]:  # the default: ${hydra.job.num}
        return None
    subdir = given[-1]
    named = set(_REFERENCE.findall(subdir))
    keys = [a.lstrip("+").partition("=")[0] for a in args]
    chosen = [k for k in keys if k.partition("/")[0] == "experiment" or k == "experiment.name"]
    if subdir.startswith("${experiment.name}") and not chosen:  # "": /seed0, at the root
        return (
            f"hydra.sweep.subdir={subdir} names the jobs' folders by experiment.name, which "
            "only a row sets (+experiment=...): without one they would be made at the file "
            "system's root"
        )
    for arg, override in parsed_overrides(args):
        if override.is_sweep_override() and not _named_in(override.key_or_group, named):
            return (
                f"{arg} sweeps over values that hydra.sweep.subdir={subdir} leaves out of the "
                "jobs' folder names: its jobs would share folders; give one value per "
                "hydra.sweep.dir"
            )
    return None


def _a_sweep_resumed_in_another_order(args: list[str]) -> str | None:
    """``-m seed=1,0,2 resume=true`` where the sweep first ran ``seed=0,1,2``: job N continues
    the run in folder N (``hydra.sweep.subdir=${hydra.job.num}``), which another job trained.
    Each such job was refused as a changed resume, and one whose folder held no run yet trained
    another job's values again; ``trainer.max_steps=80,40`` after ``40,80`` (what a resume may
    change) extended the shorter run over its result, though ``80,160`` after ``40,80`` extends
    each. A folder's first values are read from Hydra's record of its first launch."""
    parsed = parsed_overrides(args)
    keys = {override.key_or_group: override for _, override in parsed}
    sweep_dir = keys.get("hydra.sweep.dir")
    if (
        not (is_sweep(args) and resumes(args))
        or sweep_dir is None
        or "${" in str(sweep_dir.value())
    ):
        return None
    if "hydra.sweep.subdir" in keys or _config_folders(args) is None:
        return None  # folders named otherwise, or by another primary config
    swept = [(arg, o) for arg, o in parsed if o.is_sweep_override()]
    if not swept or any(isinstance(o.value(), Glob) for _, o in swept):
        return None  # a glob's options are Hydra's to list
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper  # Hydra's job order

    try:
        batches = BasicSweeper.split_arguments([o for _, o in parsed], None)
    except HydraException:  # Hydra's to tell
        return None
    swept_keys = {o.key_or_group for _, o in swept}
    asked = [_values_of(job, swept_keys) for batch in batches for job in batch]
    folders = [Path(str(sweep_dir.value())).expanduser() / str(n) for n in range(len(asked))]
    ran = {n: _values_of(_first_launch(f), swept_keys) for n, f in enumerate(folders)}
    ran = {n: values for n, values in ran.items() if values and holds_a_run(folders[n])}
    for n, values in ran.items():
        if values == asked[n] or values not in asked:
            continue
        changed = {key for key in values if values[key] != asked[n].get(key)}
        resumable = changed <= {*RESUMABLE_CHANGES, "data.root"}  # a longer run, extended
        permuted = sorted(sorted(v.items()) for v in ran.values()) == sorted(
            sorted(asked[k].items()) for k in ran
        )  # the runs there asked for in other folders, not runs extended
        if resumable and not permuted:
            continue
        return (
            f"{' '.join(arg for arg, _ in swept)}: the sweep in {sweep_dir.value()} first ran "
            f"its jobs in another order, and job N continues the run in folder N: {folders[n]} "
            f"holds the run of {' '.join(f'{k}={v}' for k, v in values.items())}, this "
            f"command's job {asked.index(values)}; give the values in the order they were first "
            "given (new ones after them)"
        )
    return None


def _values_of(job: list[str] | None, keys: set[str]) -> dict[str, str]:
    """A job's values (``seed=1`` -> seed: 1) of the settings ``keys``, as Hydra wrote them."""
    pairs = (o.partition("=") for o in job or [])
    return {key.lstrip("+"): value for key, _, value in pairs if key.lstrip("+") in keys}


def _first_launch(folder: Path) -> list[str] | None:
    """The overrides Hydra first launched a sweep's job folder with, from its record (each
    launch's in .hydra/ under a name of its time); None without one (hydra.output_subdir)."""
    records = sorted(folder.glob(".hydra/*/overrides.yaml"))
    try:
        first = OmegaConf.load(records[0]) if records else None
    except (OSError, OmegaConfBaseException):
        return None
    return [str(o) for o in first] if isinstance(first, ListConfig) else None


def _named_in(key: str, named: set[str]) -> bool:
    """Whether a folder name made of the settings ``named`` may tell the values of ``key`` apart:
    a setting by itself or a section above it (``trainer``), a group (``shortcut=gate,scale``)
    by any of its settings, a row (``+experiment/table6=...``) by any setting but the seed."""
    if key.startswith("hydra") or any(key == n or key.startswith(f"{n}.") for n in named):
        return True
    group = key.partition("/")[0]
    if group == "experiment":
        return bool(named - {"seed"})
    return any(n.startswith(f"{group}.") for n in named)


def _no_group(arg: str, group: str, args: list[str]) -> str:
    """A misspelt table (``+experiment/tabel1=...``): Hydra read it as a key, and the lab then
    named an unknown key ``experiment/tabel1`` (did you mean experiment?)."""
    parent = Path(group).parent.as_posix()
    siblings = _subgroups(parent, args)
    listed = f"; the groups in {parent}/ are {', '.join(siblings)}" if siblings else ""
    return f"{arg}: there is no config group {group}{listed}"


def _sweep_matching_nothing(args: list[str]) -> str | None:
    for arg, override in _sweep_overrides(args):
        group = override.key_or_group
        if override.value_type != ValueType.GLOB_CHOICE_SWEEP or group.startswith("hydra"):
            continue
        if not _is_group(group, args):
            return _no_group(arg, group, args)
        options = _options(group, args)
        glob = cast(Glob, override.value())
        if not glob.filter(options):
            holds = _what_it_holds(arg, args, group, glob, options)
            return f"{arg} matches no config of {group}{holds}"
    return None


def _what_it_holds(arg: str, args: list[str], group: str, glob: Glob, options: list[str]) -> str:
    """Hydra's glob lists the files directly in the group's folder; its subfolders are groups
    of their own, which a pattern with a '/' never reaches."""
    if options:
        return f" (its configs: {', '.join(options)})"
    subgroups = _subgroups(group, args)
    folder_patterns = [pattern for pattern in glob.include if "/" in pattern]
    if folder_patterns and subgroups:
        subgroup, _, pattern = folder_patterns[0].partition("/")
        key = arg.split("=", 1)[0]
        # a subgroup is in no defaults list: Hydra adds it only with its '+'
        plus = key[: len(key) - len(key.lstrip("+"))] or "+"
        return (
            f": its configs lie in its subgroups, one glob each: write "
            f"'{plus}{key.lstrip('+')}/{subgroup}=glob({pattern or '*'})'"
        )
    return f": it holds only the subgroups {', '.join(subgroups)}" if subgroups else ""
