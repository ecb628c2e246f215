"""resnet-lab-report: compare finished runs with the figures the papers report.

The rows (labels, reported figures, statistics) come from the experiment files in
``resnet_lab/conf/experiment/``, never from the runs, so a row nobody has run yet still shows up
(as ``missing``). The measurements come from every ``result.json`` below the results roots (see
docs/contracts.md). Sweeps are often half done and runs come from older versions of the lab, so
every problem is reported in the output instead of raised. See docs/report.md.
"""

from __future__ import annotations

if __name__ == "__main__":  # python -m resnet_lab.report: its console script, which imports
    # this module afresh under its signal hold (a Ctrl-C in the torch import was swallowed here)
    from resnet_lab.console import report

    report()

import argparse
import csv
import io
import math
import os
import re
import shlex
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from resnet_lab.api import compose_config
from resnet_lab.checkpoint import atomic_save_figure, atomic_write_text
from resnet_lab.command_line import (
    cannot_make,
    choice_not_there,
    config_folder_problem,
    misnamed_profile,
    misnamed_row,
    outputs_root,
)
from resnet_lab.config import (
    CONF_DIR,
    RESULT_NEUTRAL,
    Config,
    DataCfg,
    ExperimentCfg,
    begins_with_a_bom,
    declares_global_package,
    flatten_keys,
    load_row,
    reported_problem,
    row_problem,
    structured_schema,
    with_closest_key,
    with_schema_defaults,
)
from resnet_lab.console import OneLineParser, given_path
from resnet_lab.errors import ConfigError, UserError
from resnet_lab.models import config_as_trained
from resnet_lab.run_folder import (
    LOCK_NAME,
    RESULT_SCHEMA_VERSION,
    holds_a_live_run,
    in_checkpoints,
    loads_json,
)

DEFAULT_RESULTS = "results"  # where make reproduce-table puts its sweeps (RESULTS)
PAPERS_SEEDS = 5  # runs per row the papers report statistics over (--seeds)
FAIL_THRESHOLD = 20.0  # percent test error above which the papers print "fail" (CIFAR-10)
RESULT_FIELDS = (  # result.json keys of schema_version 1 (docs/contracts.md)
    "schema_version",
    "status",
    "experiment",
    "seed",
    "profile",
    "step",
    "max_steps",
    "eval_split",
    "data_source",
    "final_test_error",
    "best_test_error",
    "best_step",
    "last_test_error",
    "test_error_at_best_val",
    "final_train_error",
    "final_train_loss",
    "diverged_at_step",
    "wall_time_s",
    "images_per_s",
    "device",
    "versions",
    "git_commit",
    "cpu_threads",
    "precision",
    "num_params",
    "run_dir",
    "started_at",
    "finished_at",
    "config",
)
# Written since 2026-12-03 (test_error_at_best_val: 2026-12-04, data_source: 2026-12-06),
# within schema 1; a run without them (written earlier) lacks nothing the report needs
LATER_FIELDS = ("cpu_threads", "test_error_at_best_val", "data_source")
DEFINITION_FIELDS = ("table", "row", "order", "reported", "statistic")
_BLANKS = ("row", "statistic")  # fields an experiment file may leave empty: the report fills them
# Settings a run may take from anywhere without measuring another row: besides the result-neutral
# ones, the seed, the profile (compared through the row composed with it), logging and
# checkpoint cadence, where the data lies, and the experiment block (see _definition_notes)
NOT_COMPARED = (
    *RESULT_NEUTRAL,
    "seed",
    "profile",
    "trainer.log_every",
    "trainer.eval_every",
    "trainer.ckpt_every",
    "trainer.keep_checkpoints",
    "trainer.eval_batch_size",
    "data.root",
    "data.verify",
    "data.download",
)
# ... unless the run picks its figure on the validation split (trainer.test_at_best_val): the
# evaluations it can pick from are then its eval_every's
CADENCE_OF_THE_CHOICE = ("trainer.eval_every",)
CSV_COLUMNS = (
    "table",
    "name",
    "row",
    "reported",
    "statistic",
    "measure",
    "median",
    "mean",
    "std",
    "best",
    "diff",
    "n",
    "status",
    "profile",  # smoke: not comparable with the papers (a CSV travels without report.md)
)
MISSING = "missing"  # a row's status when no run of it was found at all
CONFIG_KEYS = set(flatten_keys(OmegaConf.to_container(OmegaConf.structured(Config))))
# Which run to keep when one seed of one row was run more than once.
_STATUS_RANK = {
    "completed": 3,
    "diverged": 3,
    "interrupted": 1,
    "failed": 1,
    "killed": 1,  # says running, but no process holds it: read_run
    "running": 0,
    "unreadable": 0,  # result.json damaged: the row is known from the run's config.yaml
}


@dataclass(frozen=True)
class Experiment:
    """One table row as defined by its experiment file."""

    name: str
    table: str
    row: str
    order: int
    reported: str | None
    statistic: str
    source: str
    note: str
    file: str = ""  # the experiment file, as Hydra names it: table1/gate_b6
    num_classes: int = 10  # of the row's data: whether the papers' 20% "fail" line applies

    @property
    def key(self) -> str:
        """The table's short name, the first part of the experiment name (``table1``)."""
        return self.name.split("/", 1)[0]

    @property
    def reported_value(self) -> float | None:
        return _as_float(self.reported)

    @property
    def measure(self) -> str:
        """The statistic the lab compares with: the paper's, or the median where none is stated."""
        text = self.statistic.lower()
        for measure in ("best", "mean", "median"):
            if text.startswith(measure):
                return measure
        return "median"


@dataclass
class Run:
    """What the report needs from one run folder, with the fallbacks already applied."""

    path: Path
    label: str
    name: str
    status: str
    seed: int | None
    profile: str
    error: float | None  # final error on the eval split; None when the run has none
    eval_split: str
    experiment: dict[str, Any]
    sort_time: str
    notes: list[str] = field(default_factory=list)
    # the compared keys of its config; None: its result.json records none (nothing to check)
    settings: dict[str, Any] | None = field(default_factory=dict)
    departures: list[str] = field(default_factory=list)  # "key row's -> run's": not counted
    unchecked: str = ""  # why its settings cannot be compared with its row's: not counted

    @property
    def finished(self) -> bool:
        return self.status == "diverged" or (self.status == "completed" and self.error is not None)


@dataclass
class RowResult:
    """One row of a report table: the definition, the runs used and what they measure."""

    experiment: Experiment
    runs: list[Run]
    median: float | None
    mean: float | None
    std: float | None
    best: float | None
    measured: float | None  # the value of the paper's statistic
    diff: float | None
    n: int
    status: str
    notes: list[str]


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None  # 1e400 in a file reads as inf


def experiments_dir() -> Path:
    """The folder of the experiment files shipped with the package."""
    return CONF_DIR / "experiment"


def known_profiles(config_dir: Path | None = None) -> list[str]:
    """The profiles a run can have: the files of ``conf/profile/`` and of a --config-dir's
    ``profile/`` (a typo must not report nothing, silently)."""
    folders = [CONF_DIR, *([config_dir] if config_dir else [])]
    return sorted({p.stem for folder in folders for p in (folder / "profile").glob("*.yaml")})


def _experiment_block(path: Path, loaded: DictConfig | ListConfig) -> DictConfig:
    """A row file's ``experiment:`` block, typed by the schema the trainer uses; a user's
    mistake in it (a wrong type, no mapping) is one line that names the place."""
    raw = loaded.get("experiment") if isinstance(loaded, DictConfig) else None
    if (raw is not None and not isinstance(raw, DictConfig)) or isinstance(loaded, ListConfig):
        raise ConfigError(
            f"experiment file {path}: `experiment:` must be a mapping of the row's fields "
            f"({', '.join(f.name for f in fields(ExperimentCfg))})"
        )
    try:  # its ${...} resolved in the row's file (a trace where the report read the field)
        fields_ = {} if raw is None else OmegaConf.to_container(raw, resolve=True)
        return OmegaConf.merge(structured_schema(ExperimentCfg), fields_)
    except Exception as exc:  # a wrong type: OmegaConf's first line, and the key
        first = str(exc).strip().splitlines()[0]
        key = str(getattr(exc, "full_key", None) or "")  # the row's key, or the block's
        where = f" ({key})" if key.startswith("experiment.") else f" (experiment.{key})"
        raise ConfigError(f"experiment file {path}: {first}" + (where if key else "")) from None


def _row_classes(
    path: Path, row: DictConfig | ListConfig, is_global: bool, config_dirs: Sequence[Path]
) -> int:
    """The classes of a row's data: a ``data.num_classes`` it sets (``is_global``: in the run's
    package, where the key is the run's data's), else those of the data group
    its defaults choose (``override /data: cifar100``), looked for in ``config_dirs`` (the lab's
    configs, then the user's --config-dir), else the lab's default data's."""
    try:
        if not isinstance(row, DictConfig):
            return DataCfg.num_classes
        explicit = OmegaConf.select(row, "data.num_classes") if is_global else None
        if explicit is not None:
            return int(explicit)
        for choice in row.get("defaults") or []:
            for key, name in choice.items() if isinstance(choice, DictConfig) else ():
                if str(key).removeprefix("override").strip().strip("/") == "data":
                    return _group_classes(path, str(name), config_dirs)
    except (ValueError, OmegaConfBaseException) as exc:  # e.g. num_classes: abc, or ${...}
        first = str(exc).strip().splitlines()[0]
        raise ConfigError(f"experiment file {path}: its data's num_classes: {first}") from None
    return DataCfg.num_classes


def _group_classes(path: Path, name: str, config_dirs: Sequence[Path]) -> int:
    for folder in config_dirs:
        if (group := folder / "data" / f"{name}.yaml").is_file():
            return int(OmegaConf.load(group).get("num_classes", DataCfg.num_classes))
    where = " or ".join(str(folder / "data") for folder in config_dirs)
    raise ConfigError(f"experiment file {path}: its data group {name} is in neither {where}")


def load_experiments(
    directory: Path | None = None, config_dirs: Sequence[Path] = (CONF_DIR,)
) -> list[Experiment]:
    """Read every experiment file (plain OmegaConf: the report needs no Hydra composition)."""
    directory = directory or experiments_dir()
    own = next((d for d in config_dirs if d != CONF_DIR), None)  # a --config-dir's groups
    experiments = []
    for path in sorted(directory.rglob("*.yaml")):
        loaded = load_row(path)
        is_global = declares_global_package(path)  # its header, read once
        if isinstance(loaded, DictConfig) and not ("experiment" in loaded or is_global):
            continue  # not a row: a config rows include (``- /experiment/common/base@_global_``)
        block = _experiment_block(path, loaded)
        if problem := reported_problem(path, block.reported):
            raise ConfigError(problem)
        # the run's own keys (a file in another package may be a config rows include, read
        # where they put it, or a row the run refuses when chosen: the report cannot tell;
        # a header a byte-order mark hides is the run's refusal)
        if (is_global or begins_with_a_bom(path)) and (
            problem := row_problem(path) or choice_not_there(path, own)
        ):
            raise ConfigError(problem)
        default_name = path.relative_to(directory).with_suffix("").as_posix()
        if block.name and (problem := misnamed_row(default_name, block.name)):
            raise ConfigError(problem)  # its runs would be another row's (as the run refuses)
        experiments.append(
            Experiment(
                name=default_name,  # what it calls itself, checked above
                table=block.table,
                row=block.row or default_name,
                order=block.order,
                reported=block.reported,
                statistic=block.statistic or "not stated",
                source=block.source,
                note=block.note,
                file=default_name,
                num_classes=_row_classes(path, loaded, is_global, config_dirs),
            )
        )
    return experiments


def read_curve(run_dir: Path, train: bool = False) -> list[tuple[int, float]]:
    """(step, eval error) pairs from metrics.jsonl (``train``: training error), skipping lines a
    crash left half written."""
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        return []
    curve = []
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = loads_json(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            step = _as_float(record.get("step"))
            if train:
                error = _as_float(record.get("train/error"))
            else:
                error = _as_float(record.get("test/error", record.get("val/error")))
            if step is not None and error is not None:
                curve.append((int(step), error))
    return curve


def read_run(path: Path, label: str) -> Run:
    """Parse one result.json; older schemas get fallbacks and a note naming the absent fields.

    Raises ValueError when the file is not a readable JSON object.
    """
    try:
        data = loads_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError too
        raise ValueError(str(exc)) from exc
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    notes = []
    absent = [key for key in RESULT_FIELDS if key not in data and key not in LATER_FIELDS]
    if absent:
        notes.append(f"run `{label}` lacks fields: {', '.join(absent)}")
    version = _as_float(data.get("schema_version"))
    if version is not None and version > RESULT_SCHEMA_VERSION:
        notes.append(
            f"run `{label}` has schema_version {version:g}, newer than this report "
            f"({RESULT_SCHEMA_VERSION}): read what is known"
        )
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    experiment = data.get("experiment")
    if not isinstance(experiment, dict):
        experiment = config.get("experiment") if isinstance(config.get("experiment"), dict) else {}
    error, eval_split = _final_error(data, path.parent, label, notes)
    status = data.get("status")
    if not isinstance(status, str) or status not in _STATUS_RANK:
        status = "completed" if error is not None else "running"
        notes.append(f"run `{label}` has no known status: read as {status}")
    if status == "running" and not holds_a_live_run(path.parent):
        status = "killed"
    elif status in ("interrupted", "failed") and holds_a_live_run(path.parent):
        status = "running"  # resumed: its new process has not written result.json yet
    seed = config.get("seed") if data.get("seed") is None else data["seed"]
    trained = flatten_keys(config_as_trained(config))
    trained = with_schema_defaults(trained, sections=config)  # an older lab's key: its default
    compared = CADENCE_OF_THE_CHOICE if trained.get("trainer.test_at_best_val") is True else ()
    return Run(
        path=path.parent,
        label=label,
        name=str(experiment.get("name") or ""),
        status=status,
        seed=int(seed) if _as_float(seed) is not None else None,
        profile=str(data.get("profile") or config.get("profile") or "paper"),
        error=error,
        eval_split=eval_split,
        experiment=experiment,
        sort_time=str(data.get("finished_at") or data.get("started_at") or ""),
        notes=notes,
        settings={
            key: value
            for key, value in trained.items()
            if (key not in NOT_COMPARED or key in compared) and not key.startswith("experiment.")
        }
        if config  # a dict with something in it
        else None,
    )


def _final_error(
    data: dict[str, Any], run_dir: Path, label: str, notes: list[str]
) -> tuple[float | None, str]:
    """A run's final error and the split it was measured on, with a note where it was not
    read as recorded (``notes``, updated)."""
    error = _as_float(data.get("final_test_error"))
    if error is None and data.get("status") in (None, "completed"):
        curve = read_curve(run_dir)
        if curve:
            error = curve[-1][1]
            notes.append(f"run `{label}`: final error taken from the last line of metrics.jsonl")
    eval_split = str(data.get("eval_split") or "test")
    selected = _as_float(data.get("test_error_at_best_val"))
    if selected is not None and data.get("status") == "completed" and eval_split == "val":
        error, eval_split = selected, "test"  # trainer.test_at_best_val: where val chose
    if error is not None and not 0 <= error <= 100:  # hand-edited, or a fraction
        notes.append(f"run `{label}` records a test error of {error:g}, not a percentage: left out")
        error = None
    return error, eval_split


def find_runs(roots: Sequence[Path]) -> tuple[list[Run], list[str]]:
    """Every readable run below the roots, each once (roots may overlap: a sweep's folder and
    the folder holding it), and one problem line per unreadable result.json."""
    runs, problems = [], []
    seen: set[str] = set()  # the real folders read, over every root
    for root in roots:
        for path in _result_files(root, seen, problems):
            rel = path.parent.relative_to(root).as_posix()
            if rel == ".":  # --results is the run's own folder
                label = root.as_posix() if len(roots) > 1 else root.resolve().name
            else:
                label = rel if len(roots) == 1 else f"{root.as_posix()}/{rel}"
            if path.name == LOCK_NAME:  # a run starting, or killed before its first record
                status = "running" if holds_a_live_run(path.parent) else "killed"
                if (stand_in := _stand_in(path.parent, label, status)) is not None:
                    runs.append(stand_in)
                continue
            try:
                runs.append(read_run(path, label))
            except ValueError as exc:
                problems.append(f"could not read `{label}/result.json`: {exc}")
                if (stand_in := _stand_in(path.parent, label, "unreadable")) is not None:
                    runs.append(stand_in)
    return runs, problems


def _result_files(root: Path, seen: set[str], problems: list[str]) -> list[Path]:
    """Every result.json below ``root``, through linked folders too (a table assembled from
    links to runs was reported empty), each folder read once (``seen``: the real paths read,
    updated); a link to the root or a folder above it is not followed (it would read runs
    outside the root, or the whole disk). A folder with a run's lock and no result.json
    yet gives its lock (a run loading its data, or killed then, was reported missing). A
    folder the system will not list (another user's) is a problem line: its runs were
    reported missing without a word."""
    found = []
    top = os.path.realpath(root)

    def unlisted(error: OSError) -> None:
        if isinstance(error, (FileNotFoundError, NotADirectoryError)):  # removed meanwhile
            return
        problems.append(
            f"could not list `{error.filename}` ({error.strerror or error}): runs in it are "
            "not counted"
        )

    for folder, subfolders, files in os.walk(root, onerror=unlisted, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        subfolders[:] = sorted(  # the order runs are read in, whatever the file system's
            name
            for name in subfolders
            if not _above(os.path.realpath(os.path.join(folder, name)), top)
        )
        if "result.json" in files:
            found.append(Path(folder) / "result.json")
        elif LOCK_NAME in files:
            found.append(Path(folder) / LOCK_NAME)
    return sorted(found)


def _above(folder: str, top: str) -> bool:
    """``folder`` is ``top`` or a folder that holds it."""
    return top == folder or top.startswith(folder.rstrip(os.sep) + os.sep)


def _stand_in(run_dir: Path, label: str, status: str) -> Run | None:
    """A run whose result.json cannot be read (``unreadable``) or is not written yet
    (``running``, ``killed``), placed in its row by its config (the trainer's config.yaml, or
    Hydra's record of the latest launch), so the row does not say ``missing``."""
    launches = sorted(run_dir.glob(".hydra/*/config.yaml"))  # named by their time
    try:
        config = OmegaConf.to_container(
            OmegaConf.load(run_dir / "config.yaml" if status == "unreadable" else launches[-1])
        )
    except Exception:  # absent or damaged too: the problem line is all there is
        return None
    if not isinstance(config, dict) or not isinstance(config.get("experiment"), dict):
        return None
    seed = config.get("seed")
    return Run(
        path=run_dir,
        label=label,
        name=str(config["experiment"].get("name") or ""),
        status=status,
        seed=int(seed) if _as_float(seed) is not None else None,
        profile=str(config.get("profile") or "paper"),
        error=None,
        eval_split="test",
        experiment=config["experiment"],
        sort_time="",
    )


def mark_departures(
    experiments: list[Experiment],
    runs: list[Run],
    accepted: Iterable[str] = (),
    config_dir: Path | None = None,
) -> list[str]:
    """Set ``departures`` of each run whose settings differ from its row's: the experiment file
    composed with the run's profile, as ``resnet-lab +experiment=<file> profile=<profile>`` would
    (e.g. ``EXTRA="model.width=4"`` under make reproduce-table). Such a run measures another
    net or recipe, so the row does not count it. Differences in ``accepted`` keys (the user's
    ``--accept trainer.precision``) are noted and counted. A key a run lacks (an older lab)
    had its default (:func:`~resnet_lab.config.with_schema_defaults`); keys the row lacks (a
    newer lab's run) are not compared. Returns a problem line per row that cannot be composed.
    ``config_dir``: the user's --config-dir, searched after the lab's configs."""
    by_name = {e.name: e for e in experiments}
    rows: dict[tuple[str, str], dict[str, Any] | None] = {}
    problems = []
    for run in runs:
        experiment = by_name.get(run.name)
        if experiment is not None and run.settings is None:  # a damaged or hand-made record
            run.unchecked = "its result.json records no config, so its settings cannot be checked"
        if experiment is None or not run.settings:
            continue
        key = (experiment.file, run.profile)
        if key not in rows:
            try:
                row_overrides = [f"+experiment={experiment.file}", f"profile={run.profile}"]
                cfg = compose_config(row_overrides, config_dir=config_dir)
                rows[key] = flatten_keys(OmegaConf.to_container(cfg, resolve=True))
            except Exception as exc:  # a broken file or profile must not stop the report
                rows[key] = None
                problems.append(
                    f"row `{experiment.name}` (profile {run.profile}) cannot be composed, so its "
                    f"runs' settings are not checked: {exc}"
                )
        row = rows[key]
        if row is None:  # it may measure another recipe: the row does not count it
            run.unchecked = (
                f"its row cannot be composed with its profile, {run.profile}, so its settings "
                "cannot be checked (a profile of one's own: give its --config-dir)"
            )
            continue
        differences = {
            name: f"{name} {row[name]!r} -> {value!r}"
            for name, value in sorted(run.settings.items())
            if name in row and row[name] != value
        }
        run.departures = [text for name, text in differences.items() if name not in accepted]
        if kept := [text for name, text in differences.items() if name in accepted]:
            run.notes.append(f"run `{run.label}` is counted with --accept: {'; '.join(kept)}")
    return problems


def _pick_one_per_seed(runs: list[Run]) -> tuple[list[Run], int]:
    """Keep one run per seed, ranked by status (finished; completed without an error;
    interrupted, failed or killed; running), then the latest; count the rest."""
    by_seed: dict[Any, list[Run]] = defaultdict(list)
    for run in runs:
        by_seed[run.seed if run.seed is not None else run.label].append(run)
    # a completed run with an error beats one without (rank + 1)
    kept = [
        max(group, key=lambda r: (_STATUS_RANK[r.status] + r.finished, r.sort_time))
        for group in by_seed.values()
    ]
    kept.sort(key=lambda r: (r.seed is None, r.seed or 0, r.label))
    return kept, len(runs) - len(kept)


def fails(measured: float, num_classes: int) -> bool:
    """The papers' "fail" is above 20% error on CIFAR-10; their CIFAR-100 figures all lie above
    it, so a row of other data fails when no better than chance (99% on 100 classes)."""
    measured = round(measured, 2)  # as printed: 20.004 showed as 20.00 beside "fail"
    if num_classes == 10:
        return measured > FAIL_THRESHOLD
    return measured >= round(100 - 100 / num_classes, 2)


def _definition_notes(experiment: Experiment, runs: Iterable[Run]) -> list[str]:
    notes = []
    for run in runs:
        recorded = {  # filled in as load_experiments fills in a file's blanks
            **run.experiment,
            **{key: getattr(experiment, key) for key in _BLANKS if not run.experiment.get(key)},
        }
        changed = [
            f"{key}: {recorded[key]!r} -> {getattr(experiment, key)!r}"
            for key in DEFINITION_FIELDS
            if key in run.experiment and str(recorded[key]) != str(getattr(experiment, key))
        ]
        if changed:
            notes.append(
                f"run `{run.label}` was launched with another definition of this row "
                f"({'; '.join(changed)}): the experiment file's is used"
            )
    return notes


def _row_notes(
    experiment: Experiment,
    kept: list[Run],
    departed: list[Run],
    duplicates: int,
    extra: list[Run],
    hint: str,
) -> list[str]:
    """What a reader of the row must know about its runs: theirs, the definitions they used,
    and which runs are left out and why."""
    notes = [note for run in kept for note in run.notes]
    notes += _definition_notes(experiment, kept)
    notes += [
        f"run `{run.label}` is not counted: {run.unchecked}"
        if run.unchecked
        else f"run `{run.label}` is not counted: its settings are not this row's "
        f"({'; '.join(run.departures[:6])}{'; ...' if len(run.departures) > 6 else ''})"
        for run in departed
    ]
    if duplicates:
        notes.append(f"{duplicates} more run(s) of an already counted seed left out")
    if extra:
        labels = ", ".join(f"`{run.label}`" for run in extra)
        notes.append(f"{len(extra)} run(s) of other seeds not counted ({labels}): {hint}")
    if any(run.eval_split != "test" for run in kept):
        notes.append("measured on the validation split, not the test set")
    return notes


Seeds = int | tuple[int, ...]  # --seeds: how many (the lowest of each row), or which


def _seeds_counted(kept: list[Run], seeds: Seeds) -> tuple[list[Run], list[Run], str]:
    """The runs of the seeds a row counts, the others ("best of 5" over ten seeds is the best of
    ten, biased low), and how to count them: --seeds N counts each row's N lowest seeds,
    --seed-list those seeds, where runs of an unknown seed (an older lab's) fill the seeds not
    found, as --seeds counts them after the others (they made a sixth run of five)."""
    if isinstance(seeds, int):
        return kept[:seeds], kept[seeds:], f"--seeds {len(kept)} counts them"
    listed = [r for r in kept if r.seed in seeds]
    counted = listed + [r for r in kept if r.seed is None][: len(seeds) - len(listed)]
    other = [r for r in kept if r not in counted]
    every = ",".join(map(str, sorted({*seeds, *(r.seed for r in other if r.seed is not None)})))
    hint = f"--seed-list {every} (make: SEEDS={every}) counts them"
    if any(r.seed is None for r in other):
        hint += f"; runs that record no seed count only for seeds not found, up to {len(seeds)}"
    return counted, other, hint


_UNFINISHED = ("running", "killed", "interrupted", "failed", "unreadable")


def _left_out(departed: list[Run], extra: list[Run]) -> list[str]:
    """The status's words for the runs a row does not count, and why."""
    parts = []
    if other := sum(not run.unchecked for run in departed):
        parts.append(f"other settings, not counted ({other})")
    if unchecked := len(departed) - other:
        parts.append(f"settings not checked, not counted ({unchecked})")
    if extra:
        parts.append(f"other seeds, not counted ({len(extra)})")
    return parts


def summarize(
    experiment: Experiment, runs: list[Run], seeds: Seeds, comparable: bool = True
) -> RowResult:
    """Statistics and status of one row. Diverged runs rank worse than any error (infinity);
    runs with other settings than the row's (see mark_departures) are named, not counted.
    ``comparable``: the runs follow the paper's recipe (profile ``paper``), so a "fail" row can
    be said to be reproduced or not; a smoke run's failing says nothing of the paper's."""
    departed = [run for run in runs if run.departures or run.unchecked]
    kept, duplicates = _pick_one_per_seed([r for r in runs if not (r.departures or r.unchecked)])
    kept, extra, hint = _seeds_counted(kept, seeds)
    expected = seeds if isinstance(seeds, int) else len(seeds)
    notes = _row_notes(experiment, kept, departed, duplicates, extra, hint)
    finished = [run for run in kept if run.finished]
    errors = [run.error for run in finished if run.status == "completed"]
    ranked = [math.inf if run.status == "diverged" else run.error for run in finished]
    count = {s: sum(run.status == s for run in kept) for s in ("diverged", *_UNFINISHED)}
    median = statistics.median(ranked) if ranked else None
    best = min(ranked) if ranked else None
    mean = statistics.fmean(errors) if errors else None
    std = statistics.stdev(errors) if len(errors) > 1 else None
    if experiment.measure == "mean":  # a diverged seed makes the mean infinite: fail
        measured = statistics.fmean(ranked) if ranked else None
    else:
        measured = median if experiment.measure == "median" else best
    reported = experiment.reported_value
    diff = None
    if measured is not None and math.isfinite(measured) and reported is not None:
        diff = round(measured, 2) - reported  # as printed: 6.375 shows 6.38, 0.01 above 6.37

    parts = []
    if measured is not None:
        failed = fails(measured, experiment.num_classes)
        verdict = "fail" if failed else "ok"
        if experiment.reported == "fail" and comparable:
            verdict += " (reproduced)" if failed else " (paper: fail, not reproduced)"
        parts.append(verdict)
        if count["diverged"]:
            parts.append(f"diverged ({count['diverged']} of {len(finished)})")
        if len(finished) < expected:
            parts.append(f"partial ({len(finished)} of {expected} seeds)")
    parts += [f"{status} ({count[status]})" for status in _UNFINISHED if count[status]]
    parts += _left_out(departed, extra)
    unusable = [run for run in kept if run.status == "completed" and run.error is None]
    if unusable:  # read, so not "missing"; not counted either
        parts.append(f"no test error ({len(unusable)})")
        notes.append(f"{len(unusable)} completed run(s) record no test error and are left out")
    return RowResult(
        experiment=experiment,
        runs=kept,
        median=median,
        mean=mean,
        std=std,
        best=best,
        measured=measured,
        diff=diff,
        n=len(finished),
        status=", ".join(parts) or MISSING,
        notes=notes,
    )


@dataclass
class TableResult:
    """One paper table: its rows in order and the file stem of its figures."""

    title: str
    key: str
    rows: list[RowResult]
    profile: str | None = None  # the runs'; None: none found, none asked for

    @property
    def fail_line(self) -> float | None:
        """The papers' 20% line its figures draw: none for a table of CIFAR-100 rows."""
        return FAIL_THRESHOLD if any(r.experiment.num_classes == 10 for r in self.rows) else None

    @property
    def figure_title(self) -> str:
        """The title, and on figures of another profile's runs that they are not the paper's
        recipe (a figure travels without report.md's banner)."""
        if self.profile in (None, "paper"):
            return self.title
        if self.profile == "smoke":
            return f"{self.title}\nsmoke-test runs: NOT comparable with the paper's figures"
        return f"{self.title}\nprofile {self.profile}: not the paper's recipe"


PAPER_TABLES = ("table1", "table2", "table3", "table6")  # reported first, then the neighbour groups


def _table_rank(key: str) -> tuple[int, str]:
    return (PAPER_TABLES.index(key) if key in PAPER_TABLES else len(PAPER_TABLES), key)


def build_tables(
    experiments: list[Experiment], runs: list[Run], seeds: Seeds, profile: str | None = None
) -> list[TableResult]:
    """Group rows by their table string, in the order of the experiment files' ``order``;
    ``profile``: the runs' (the paper's recipe or not, as in :func:`summarize`)."""
    comparable = profile in (None, "paper")
    by_name: dict[str, list[Run]] = defaultdict(list)
    for run in runs:
        by_name[run.name].append(run)
    groups: dict[str, list[Experiment]] = defaultdict(list)
    for experiment in sorted(experiments, key=lambda e: (_table_rank(e.key), e.order, e.name)):
        groups[experiment.table or experiment.key].append(experiment)
    tables, used_keys = [], set()
    for title, members in groups.items():
        key = members[0].key
        while key in used_keys:
            key += "_"
        used_keys.add(key)
        rows = [summarize(e, by_name.get(e.name, []), seeds, comparable) for e in members]
        tables.append(TableResult(title=title, key=key, rows=rows, profile=profile))
    return tables


def _fmt(value: float | None, signed: bool = False) -> str:
    if value is None:
        return ""
    if math.isinf(value):
        return "diverged"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _reported_cell(experiment: Experiment) -> str:
    statistic = experiment.statistic
    if statistic == "not stated":
        statistic = "statistic not stated"
    if experiment.reported is None:
        return "—"
    if experiment.reported == "fail":
        return f"fail (>{FAIL_THRESHOLD:g}%, {statistic})"
    return f"{experiment.reported} ({statistic})"


def _mean_diverged(row: RowResult) -> bool:
    """A row compared by its mean, where a diverged seed made that mean infinite."""
    measured = row.measured
    return row.experiment.measure == "mean" and measured is not None and math.isinf(measured)


def _markdown_table(table: TableResult) -> list[str]:
    lines = [
        "| # | row | experiment | reported | median | mean ± std | best | diff | n | status |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.rows:
        e = row.experiment
        cells = {"median": _fmt(row.median), "best": _fmt(row.best), "mean": _fmt(row.mean)}
        if row.std is not None:
            cells["mean"] += f" ± {row.std:.2f}"
        if _mean_diverged(row):
            cells["mean"] = "diverged"  # the finished seeds' mean is not the one judged
        if row.measured is not None:  # bold the statistic the paper used
            cells[e.measure] = f"**{cells[e.measure]}**"
        lines.append(
            f"| {e.order} | {_cell(e.row)} | {_cell(_code(e.name))} | {_reported_cell(e)} | "
            f"{cells['median']} | "
            f"{cells['mean']} | {cells['best']} | {_fmt(row.diff, signed=True)} | {row.n} | "
            f"{row.status} |"
        )
    return lines


def _cell(text: str) -> str:
    """Text in a table cell: a '|' ends the cell wherever it stands, in code too (GitHub), and a
    line break the table's row."""
    return _one_line(text).replace("|", "\\|")


def _one_line(text: str) -> str:
    """A name or note with line breaks (a folder so named) on one line: a break ended its table
    row or list item, and the next line could read as a heading."""
    return " ".join(text.splitlines())


def _code(text: str) -> str:
    """``text`` as inline code, whatever backticks it holds: fenced by one more than its
    longest run of them (a folder named with one ended the code there)."""
    text = _one_line(text)
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _seeds_text(seeds: Seeds) -> str:
    if isinstance(seeds, int):
        return f"{seeds} (the lowest of each row)"
    return f"{len(seeds)} ({', '.join(map(str, seeds))})"


def render_markdown(
    tables: list[TableResult],
    *,
    roots: Sequence[Path],
    profile: str | None,
    seeds: Seeds,
    run_count: int,
    figures: dict[str, list[str]],
    extra_sections: list[str],
    off_rows: int,
) -> str:
    """The whole report as Markdown; the same text goes to stdout and report.md. ``profile``
    is None when no run was found and none was asked for; ``off_rows`` runs belong to no row
    (listed in ``extra_sections``: a reader of "measured: 0" took them for lost)."""
    lines = ["# resnet-lab report", ""]
    if profile == "smoke":
        lines += [
            f"**Profile {_code(profile)}: these numbers come from tiny nets trained a few steps "
            "and are NOT comparable with the papers' figures.**",
            "",
        ]
    elif profile not in (None, "paper"):
        lines += [
            f"**Profile {_code(profile)} is not the papers' recipe (profile `paper`): its numbers "
            "compare with the papers' figures only as far as what it changes allows.**",
            "",
        ]
    rows = [row for table in tables for row in table.rows]
    missing = [row.experiment.name for row in rows if row.status == MISSING]
    measured = sum(row.n > 0 for row in rows)
    uncounted = len(rows) - measured - len(missing)
    found = f"{run_count} run(s)" if run_count else "no runs"
    if profile:
        found += f" of profile {_code(profile)}"
    lines += [
        f"Results: {', '.join(_code(str(root)) for root in roots)}: {found}. "
        f"Seeds expected per row: {_seeds_text(seeds)}. Errors are percent on the eval split; "
        f"`fail` means above {FAIL_THRESHOLD:g}% on CIFAR-10 (the papers' CIFAR-100 figures lie "
        "above it: rows of other data fail at chance, 100 - 100/classes %, 99% on CIFAR-100). "
        "The paper's statistic is in bold; diff is that statistic minus the reported figure.",
        "",
        f"Rows: {len(rows)}, measured: {measured}"
        + (f", with runs unfinished or not counted: {uncounted}" if uncounted else "")
        + f", missing: {len(missing)}"
        + (f"; {off_rows} run(s) of no row, listed at the end" if off_rows else "")
        + ".",
        "",
    ]
    for table in tables:
        lines += [f"## {table.title}", ""]
        sources = sorted({row.experiment.source for row in table.rows if row.experiment.source})
        if sources:
            lines += [f"Source: {'; '.join(sources)}.", ""]
        lines += [*_markdown_table(table), ""]
        by_note: dict[str, list[str]] = defaultdict(list)  # a note rows share is said once
        for row in table.rows:
            for note in ([row.experiment.note] if row.experiment.note else []) + row.notes:
                by_note[note].append(f"`{row.experiment.name}`")
        notes = [
            f"{'every row' if 1 < len(names) == len(table.rows) else ', '.join(names)}: {note}"
            for note, names in by_note.items()
        ]
        absent = [row.experiment.name for row in table.rows if row.status == MISSING]
        if absent:
            notes.append(f"no runs yet: {', '.join(f'`{name}`' for name in absent)}")
        if notes:
            lines += ["Notes:", "", *[f"- {_one_line(note)}" for note in notes], ""]
        lines += [f"![{name[:-4]}]({name})" for name in figures.get(table.key, [])]
        if figures.get(table.key):
            lines.append("")
    lines += extra_sections
    return "\n".join(lines).rstrip() + "\n"


def _other_sections(
    runs: list[Run], known: set[str], problems: list[str], config_dir: str | None
) -> list[str]:
    """Ad-hoc runs, runs of experiments without a file, and unreadable files."""
    lines = []
    adhoc = [run for run in runs if not run.name]
    if adhoc:
        lines += ["## Ad-hoc runs (no experiment name)", "", "| run | status | seed | error |"]
        lines.append("|---|---|---|---|")
        lines += [
            f"| {_cell(_code(run.label))} | {run.status} | "
            f"{'' if run.seed is None else run.seed} | {_fmt(run.error)} |"
            for run in adhoc
        ]
        lines.append("")
    unknown = defaultdict(int)
    for run in runs:
        if run.name and run.name not in known:
            unknown[run.name] += 1
    if unknown:
        lines += ["## Runs of experiments not in the report", ""]
        if config_dir:
            where = (
                f"These rows are in neither the lab's experiments nor `--config-dir {config_dir}` "
                "(a row is found by its `experiment.name`, which its runs carry)."
            )
        else:
            where = (
                "Rows of your own kept in a folder outside the package are reported with "
                "`--config-dir <folder> --tables <table>` (`make report CONFIG_DIR=<folder> "
                "TABLES=<table>`)."
            )
        lines += [where, ""]
        lines += [f"- {_code(name)}: {n} run(s)" for name, n in sorted(unknown.items())]
        lines.append("")
    if problems:
        lines += ["## Problems", "", *[f"- {_one_line(problem)}" for problem in problems], ""]
    return lines


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def write_csv(tables: list[TableResult], path: Path) -> None:
    """One line per row, numbers to two decimals, blanks where there is nothing to show, the
    runs' profile on each; written whole or not at all (a cut file would still parse, its last
    rows missing)."""
    handle = io.StringIO(newline="")
    writer = csv.writer(handle)
    writer.writerow(CSV_COLUMNS)
    for table in tables:
        for row in table.rows:
            e, diverged = row.experiment, _mean_diverged(row)
            writer.writerow(
                [
                    table.title,
                    e.name,
                    e.row,
                    e.reported or "",
                    e.statistic,
                    e.measure,
                    _number(row.median),
                    _number(row.measured if diverged else row.mean),
                    _number(None if diverged else row.std),  # not the inf mean's
                    _number(row.best),
                    _number(row.diff),
                    row.n,
                    row.status,
                    "" if row.status == MISSING else table.profile or "",  # runs' profile
                ]
            )
    atomic_write_text(path, handle.getvalue())


def _median_curve(runs: list[Run], train: bool = False) -> tuple[list[int], list[float]]:
    """The median over the runs at each step one logged, a run read between its own points
    (seeds evaluated at other cadences made the median zig-zag between theirs). A diverged
    run counts as worse than any error from its last point on, as the table ranks it: the
    curve ends where the median diverged (it went on as the median of the seeds left)."""
    curves = [(run, read_curve(run.path, train)) for run in runs]
    steps = sorted({step for _, curve in curves for step, _ in curve})
    by_step: dict[int, list[float]] = defaultdict(list)
    for run, curve in curves:
        if curve:
            xs, ys = zip(*curve, strict=True)
            for step, value in zip(steps, np.interp(steps, xs, ys), strict=True):
                if xs[0] <= step <= xs[-1]:
                    by_step[step].append(float(value))
        if run.status == "diverged":
            last = curve[-1][0] if curve else -1
            for step in (step for step in steps if step > last):
                by_step[step].append(math.inf)
    medians = {step: statistics.median(errors) for step, errors in by_step.items()}
    kept = [step for step in steps if step in medians and math.isfinite(medians[step])]
    return kept, [medians[step] for step in kept]


def plot_curves(table: TableResult, path: Path) -> bool:
    """Median eval error (solid) and training error (dashed) over the seeds vs step, one colour
    per row, as the papers' Fig. 4 and 6.

    Returns False (and writes nothing) when no run the table counts, nor one still running,
    killed or interrupted, has logged an eval error (failed runs' curves are left out).
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(11, 5), layout="constrained")
    axes = figure.add_subplot()
    palette = colormaps["tab20"]  # the 10 dark hues (tab10's), then their light twins: Table 1
    drawn = False  # has 11 rows, and the default cycle of 10 gave two rows one colour
    for index, row in enumerate(table.rows):
        # the runs the row counts, and those running, killed or interrupted: their curves so far
        runs = [
            r for r in row.runs if r.finished or r.status in ("running", "killed", "interrupted")
        ]
        steps, errors = _median_curve(runs)
        if steps:
            colour = palette(2 * index % 20 + index // 10 % 2)
            unfinished = len(runs) - row.n
            label = f"{row.experiment.row} (n={row.n}"
            label += f", +{unfinished} unfinished)" if unfinished else ")"
            axes.plot(steps, errors, color=colour, label=label, marker="o", markersize=3)
            train_steps, train_errors = _median_curve(runs, train=True)
            few = len(train_steps) < 3  # a line of one point draws nothing
            axes.plot(
                train_steps,
                train_errors,
                color=colour,
                linestyle="--",
                alpha=0.7,
                marker="." if few else None,
            )
            drawn = True
    if not drawn:
        return False
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    if table.fail_line is not None:
        axes.axhline(table.fail_line, color="grey", linestyle=":", linewidth=1)
    axes.set_ylim(bottom=0)
    axes.set(
        xlabel="step",
        ylabel="error (%), median over seeds: eval solid, training dashed",
        title=table.figure_title,
    )
    # beside the axes: inside, Table 1's eleven rows hid the ends of the failing rows' curves
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    atomic_save_figure(figure, path, dpi=100)
    return True


def plot_measured(table: TableResult, path: Path) -> bool:
    """Per row: each seed's final error (dots; diverged seeds as orange triangles at the right
    edge), the paper's statistic (bar), the reported figure.

    Returns False (and writes nothing) when no row has a finished run.
    """
    from matplotlib.figure import Figure

    rows = table.rows
    if not any(r.finished for row in rows for r in row.runs):
        return False
    figure = Figure(figsize=(8, 1.2 + 0.45 * len(rows)), layout="constrained")
    axes = figure.add_subplot()
    finite = [r.error for row in rows for r in row.runs if r.finished and r.error is not None]
    finite += [row.experiment.reported_value or 0.0 for row in rows]
    right = max([FAIL_THRESHOLD, *finite]) * 1.1
    for y, row in enumerate(rows):
        seeds = [r.error for r in row.runs if r.finished and r.status != "diverged"]
        axes.scatter(seeds, [y] * len(seeds), color="tab:blue", s=14, alpha=0.6)
        diverged = sum(r.status == "diverged" for r in row.runs)
        if diverged:
            axes.scatter([right], [y], marker="^", color="tab:orange", s=40)
            axes.annotate(
                f"diverged ({diverged})",
                (right, y),
                xytext=(0, 7),  # above its triangle, clear of the seeds' dots and the bar
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize="x-small",
                color="tab:orange",
            )
        if row.measured is not None:  # a statistic that diverged: at the edge, orange
            colour = "tab:blue" if math.isfinite(row.measured) else "tab:orange"
            axes.scatter([min(row.measured, right)], [y], marker="|", s=300, color=colour)
        if row.experiment.reported == "fail":
            axes.scatter([FAIL_THRESHOLD], [y], marker=">", color="tab:red", s=40)
        elif row.experiment.reported_value is not None:
            axes.scatter([row.experiment.reported_value], [y], marker="x", color="tab:red", s=40)
    if table.fail_line is not None:
        axes.axvline(table.fail_line, color="grey", linestyle=":", linewidth=1)
    axes.set_yticks(range(len(rows)), [row.experiment.row for row in rows], fontsize="small")
    axes.invert_yaxis()
    axes.set_xlim(0, right * 1.02)
    # the figure's, not the axes': centred over long row labels (the neighbours' ones), the
    # axes' title and label ran off both edges
    figure.supxlabel(
        "error (%): dots = seeds, orange triangle = diverged seeds, bar = paper's "
        "statistic (orange: diverged),\nred = reported (> = fail)",
        fontsize="medium",
    )
    figure.suptitle(table.figure_title)
    atomic_save_figure(figure, path, dpi=100)
    return True


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="resnet-lab-report",
        description="Compare finished runs with the papers' tables: writes report.md, "
        "report.csv and PNG figures.",
    )
    parser.add_argument(
        "--results",
        nargs="+",
        default=[DEFAULT_RESULTS],
        type=given_path,
        metavar="DIR",
        help=f"results roots, searched for result.json (default: {DEFAULT_RESULTS})",
    )
    parser.add_argument(
        "--out", type=given_path, help="output folder (default: the first results root)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument(  # no argparse default: an explicit --seeds 5 beside --seed-list is seen
        "--seeds",
        type=int,
        help=f"seeds expected per row (default: {PAPERS_SEEDS}, as the papers): each row counts "
        "its runs of "
        "this many lowest seeds; the others are named, not counted",
    )
    which.add_argument(
        "--seed-list",
        type=_seed_list,
        metavar="LIST",
        help="the seeds each row counts, comma-separated (0,1,2,3,4; make reproduce-table gives "
        "its SEEDS): the others are named, not counted",
    )
    parser.add_argument("--tables", help="comma-separated table names, e.g. table1,table6")
    parser.add_argument(
        "--config-dir",
        type=given_path,
        metavar="DIR",
        help="a folder of your own configs, as given to resnet-lab --config-dir: the rows in its "
        "experiment/ are reported too",
    )
    parser.add_argument(
        "--accept",
        action="extend",
        nargs="+",
        default=[],
        metavar="KEY",
        help="settings in which a run may differ from its row and still count, e.g. "
        "trainer.precision (noted in the row); several: space- or comma-separated, or repeated",
    )
    parser.add_argument(
        "--profile",
        help=f"report runs of this profile ({', '.join(known_profiles())}, or one in "
        "--config-dir's profile/); needed when mixed",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the options and exit (make reproduce-table does so before it trains)",
    )
    return parser.parse_args(argv)


def _seed_list(text: str) -> tuple[int, ...]:
    """``0,1,2,3,4``: the seeds, in order; one named twice (0,0 for 0,1?) is refused, as the
    row would then expect fewer seeds than were written."""
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give the seeds as comma-separated integers, e.g. 0,1,2,3,4"
        ) from None
    if twice := sorted({seed for seed in seeds if seeds.count(seed) > 1}):
        raise argparse.ArgumentTypeError(
            f"{text!r} names seed(s) {', '.join(map(str, twice))} more than once: give each once"
        )
    return tuple(sorted(seeds))


def _profile_problem(config_dir: Path | None, name: str | None) -> str | None:
    """A profile of one's own with a mistake resnet-lab refuses (its keys, its defaults list,
    a name of its own that is another's): told by --check, before make reproduce-table trains
    (each job was refused, table after table)."""
    path = config_dir / "profile" / f"{name}.yaml" if config_dir and name else None
    if path is None or not path.is_file():
        return None
    if problem := row_problem(path, "profile") or choice_not_there(path, config_dir, "profile"):
        return problem
    said = load_row(path, "profile").get("profile")
    return misnamed_profile(name, str(said or "paper"))


def _check_options(args: argparse.Namespace) -> set[str]:
    """The --accept keys, once --seeds, --profile and --accept are known to make sense."""
    if args.seeds is not None and args.seeds < 1:
        raise UserError("--seeds must be at least 1")
    profiles = known_profiles(args.config_dir)
    if args.profile is not None and args.profile not in profiles:
        raise UserError(f"unknown --profile '{args.profile}'; choose from {', '.join(profiles)}")
    if problem := _profile_problem(args.config_dir, args.profile):
        raise ConfigError(problem)
    accepted = {key.strip() for arg in args.accept for key in arg.split(",") if key.strip()}
    if args.accept and not accepted:  # '' or ',' (an unset shell variable): nothing accepted
        given = " ".join(repr(arg) for arg in args.accept)
        raise UserError(f"--accept {given} names no setting: give them, e.g. trainer.precision")
    unknown = sorted(accepted - CONFIG_KEYS)
    if not unknown:
        return accepted
    inside = sorted(name for name in CONFIG_KEYS if name.startswith(f"{unknown[0]}."))
    if inside:
        raise UserError(f"--accept {unknown[0]} is a section: name its settings, e.g. {inside[0]}")
    raise UserError(
        f"--accept {with_closest_key(unknown[0], Config)}: not a setting (dotted keys, as in "
        "config.yaml, e.g. trainer.precision)"
    )


def _own_experiments(config_dir: Path | None) -> list[Experiment]:
    """The rows of the user's --config-dir (none in a folder of profiles alone). A row's name
    is its path, so a name of the lab's rows is refused with the file Hydra would not read."""
    if config_dir is None:
        return []
    if problem := config_folder_problem(["--config-dir", str(config_dir)]):  # as resnet-lab's
        raise ConfigError(problem)
    if not (config_dir / "experiment").is_dir():
        if (config_dir / "profile").is_dir():
            return []
        raise ConfigError(
            f"--config-dir {config_dir} holds no experiment/ folder of rows nor profile/ folder"
        )
    return load_experiments(config_dir / "experiment", config_dirs=(CONF_DIR, config_dir))


def _experiments_asked(args: argparse.Namespace) -> list[Experiment]:
    """The lab's rows and the user's (--config-dir), of the tables --tables names, if it does."""
    experiments = load_experiments()
    experiments += _own_experiments(args.config_dir)
    if args.tables is None:
        return experiments
    named = [name.strip() for name in args.tables.split(",") if name.strip()]
    wanted = set(named)
    if not wanted:  # '' or ',' (an unset shell variable): no table named
        raise UserError(f"--tables {args.tables!r} names no table: give them, e.g. table1,table6")
    if twice := sorted({name for name in named if named.count(name) > 1}):  # table1 for table2?
        raise UserError(f"--tables {args.tables} names {', '.join(twice)} twice: give each once")
    known = {e.key for e in experiments}
    if wanted - known:
        raise UserError(
            f"unknown table(s) {', '.join(sorted(wanted - known))}; "
            f"known: {', '.join(sorted(known))}"
        )
    return [e for e in experiments if e.key in wanted]


def _result_roots(args: argparse.Namespace) -> tuple[list[Path], Path]:
    """The folders to read runs from, and the folder to write the report into."""
    roots = [Path(root) for root in args.results]
    try:
        for root in roots:
            if root.is_file():
                raise UserError(f"--results {root} is a file: give the folder holding the runs")
            if not root.is_dir():
                raise UserError(f"results directory '{root}' does not exist{_runs_elsewhere(args)}")
            if problem := in_checkpoints(root, f"--results {root}"):  # "no result.json under"
                raise UserError(f"{problem}: give the run's folder, or a folder holding runs")
    except OSError as e:  # a name longer than the file system takes: a trace
        raise UserError(f"{e.filename}: the file system refuses it ({e.strerror})") from None
    return roots, _report_folder(Path(args.out) if args.out else roots[0], given=bool(args.out))


def _report_folder(out: Path, given: bool) -> Path:
    """``out``, the folder to write the report into (``given`` as --out, else the first
    --results), where a report may be written: one that can be made, not a run's checkpoints."""
    try:
        if problem := cannot_make(out, file_told=False):
            if given:
                raise UserError(f"--out {out}: {problem}: give a folder for the report")
            raise UserError(  # a read-only copy of the runs, say
                f"{out}, the first --results, where the report goes without --out: {problem}: "
                "give --out a folder for the report"
            )
        if problem := in_checkpoints(out, f"--out {out}"):  # the default: told of --results
            raise UserError(f"{problem}: give the report a folder of its own")
    except OSError as e:  # a name longer than the file system takes: a trace
        raise UserError(f"{e.filename}: the file system refuses it ({e.strerror})") from None
    return out


def _runs_elsewhere(args: argparse.Namespace) -> str:
    """Where a user's runs are when the default results folder is missing: ``resnet-lab``
    writes single runs and sweeps elsewhere (outputs/, multirun/); only make reproduce-table
    writes into results/."""
    if [str(root) for root in args.results] != [DEFAULT_RESULTS]:
        return ""
    found = [str(r) for r in (outputs_root("config"), outputs_root("config", True)) if r.is_dir()]
    here = f" (here: --results {' '.join(map(shlex.quote, found))})" if found else ""
    return (
        f": make reproduce-table writes its runs there; resnet-lab writes a single run below "
        f"{outputs_root('config')}/ and a sweep below {outputs_root('config', True)}/{here}"
    )


def _runs_of_one_profile(
    runs: list[Run], asked: str | None, problems: list[str]
) -> tuple[list[Run], str | None]:
    """The runs of the profile asked for (or the only one there is): numbers of two profiles
    must not share a table. The others are counted under the report's problems. The profile
    found is the rows' runs' (an ad-hoc run of another, a smoke check, refused the report)."""
    profile = asked
    if profile is None:
        profiles = sorted({run.profile for run in runs if run.name}) or sorted(
            {run.profile for run in runs}
        )
        if len(profiles) > 1:
            raise UserError(
                f"the results mix profiles {', '.join(profiles)}; their numbers must not be "
                "compared: choose one with --profile"
            )
        profile = profiles[0] if profiles else None
    others = [run for run in runs if run.profile != profile]
    if others:
        names = ", ".join(sorted({run.profile for run in others}))
        problems.append(f"{len(others)} run(s) of other profiles ({names}) left out: see --profile")
    return [run for run in runs if run.profile == profile], profile


def _runs_of_tables(
    runs: list[Run], experiments: list[Experiment], problems: list[str]
) -> list[Run]:
    """The runs of the tables asked for (and unnamed ones); the others are counted, not dropped
    without a word."""
    keys = {e.key for e in experiments}

    def table_of(run: Run) -> str | None:
        return run.name.split("/", 1)[0] if run.name else None

    left_out = Counter(table for run in runs if (table := table_of(run)) and table not in keys)
    if left_out:
        tables = ", ".join(f"{key}: {n}" for key, n in sorted(left_out.items()))
        problems.append(
            f"{left_out.total()} run(s) of tables not asked for ({tables}) left out: see "
            "--tables (`make report TABLES=...`)"
        )
    return [run for run in runs if table_of(run) in keys or not run.name]


def _draw_figures(tables: list[TableResult], out: Path) -> dict[str, list[str]]:
    """Each table's figures in ``out``, by file name; those an earlier report left there (a
    figure with nothing to draw now, a table this report leaves out) are removed: they would
    show other runs than report.md counts."""
    figures: dict[str, list[str]] = {}
    for table in tables:
        figures[table.key] = []
        for name, plot in [("curves", plot_curves), ("measured", plot_measured)]:
            path = out / f"{name}_{table.key}.png"
            if plot(table, path):
                figures[table.key].append(path.name)
    drawn = {name for names in figures.values() for name in names}
    for kind in ("curves", "measured"):
        for path in out.glob(f"{kind}_*.png"):
            if path.name not in drawn:
                path.unlink(missing_ok=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``resnet-lab-report``; exit 0 even when rows are missing, 2 on bad input."""
    args = _parse_args(argv)
    try:
        return _report(args)
    except UserError as exc:
        print(f"resnet-lab-report: error: {exc}", file=sys.stderr)
        return 2


def _report(args: argparse.Namespace) -> int:
    accepted = _check_options(args)
    experiments = _experiments_asked(args)
    if args.check:  # before training: the results are to come, the report's folder is known
        if args.out:
            _report_folder(Path(args.out), given=True)
        return 0
    roots, out = _result_roots(args)
    runs, problems = find_runs(roots)
    if not runs and not problems:
        print(
            "resnet-lab-report: no result.json under "
            f"{', '.join(root.as_posix() for root in roots)}: every row is reported missing "
            "(train rows with `make reproduce-table`, or point --results at the runs)",
            file=sys.stderr,
        )
    if args.tables:  # first: runs of other tables must not make the profiles mixed
        runs = _runs_of_tables(runs, experiments, problems)
    runs, profile = _runs_of_one_profile(runs, args.profile, problems)
    problems += mark_departures(experiments, runs, accepted, args.config_dir)

    seeds = args.seed_list or args.seeds or PAPERS_SEEDS
    tables = build_tables(experiments, runs, seeds, profile)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # what cannot_make does not foresee (/proc, a full or read-only disk)
        raise UserError(f"--out {out}: cannot make this folder ({e.strerror})") from None
    known = {e.name for e in experiments}
    extra = _other_sections(runs, known, problems, args.config_dir)
    try:  # each file whole: a kill or a full disk leaves the earlier one or the new one
        markdown = render_markdown(
            tables,
            roots=roots,
            profile=profile,
            seeds=seeds,
            run_count=len(runs),
            figures=_draw_figures(tables, out),
            extra_sections=extra,
            off_rows=sum(run.name not in known for run in runs),
        )
        atomic_write_text(out / "report.md", markdown)
        write_csv(tables, out / "report.csv")
    except OSError as e:
        raise UserError(
            f"cannot write the report into {out} ({e.strerror or e}): make room or give "
            "another --out"
        ) from None
    print(markdown, end="")
    return 0
