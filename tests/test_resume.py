"""A run stopped anywhere (a signal mid-evaluation, a crash between checkpoints, a kill before the
first one) resumes to the records an uninterrupted run writes: result.json, metrics.jsonl and
TensorBoard, not only the weights."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import math
import os
import re
import shlex
import shutil
import signal
import socket
import stat
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from conftest import TINY_RUN, InProcess, as_saved_before_the_options
from omegaconf import OmegaConf

import resnet_lab.checkpoint
import resnet_lab.train
from resnet_lab import run_folder
from resnet_lab.api import compose_config
from resnet_lab.checkpoint import (
    CheckpointError,
    atomic_write_text,
    digest_path,
    list_checkpoints,
    load_checkpoint,
    load_latest_checkpoint,
    save_checkpoint,
)
from resnet_lab.errors import ConfigError
from resnet_lab.run_folder import MetricsLog, RunFolderBusy, RunLock
from resnet_lab.train import RunInterrupted, Trainer, train

# shortcut=dropout: the global generator draws every step, so a resume that did not restore it
# is seen (else nothing draws from it: the batches have generators of their own)
ARGS = [
    *TINY_RUN,
    "shortcut=dropout",
    "trainer.max_steps=20",
    "trainer.eval_every=10",
    "trainer.ckpt_every=10",
]
# the records two runs of one config share (throughput is a timing; times and paths differ)
RESULT_KEYS = (
    "status",
    "step",
    "final_test_error",
    "best_test_error",
    "best_step",
    "last_test_error",
    "test_error_at_best_val",
    "final_train_error",
    "final_train_loss",
)


def own_lock(pid: int) -> str:
    """The lock a process of this host and pid namespace writes."""
    return f"{socket.gethostname()} {pid} heartbeat pidns:{os.stat('/proc/self/ns/pid').st_ino}\n"


def taken_over(run_dir: Path) -> bool:
    """Whether a new lock takes the folder (and writes its own), then lets it go."""
    lock = RunLock(run_dir)
    lock.acquire()
    taken = lock.held and lock.path.read_text() == own_lock(os.getpid())
    lock.release()
    return taken


@pytest.fixture(autouse=True)
def event_files_named_in_creation_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """TensorBoard reads a folder's event files in name order: the second, the host, the pid,
    then a per-process counter, where .10 sorts before .9. A user's resume is a later process
    in a later second; one here may come in the same second from the same process: its
    counter keeps one number of digits, so its file sorts after the run's it continues (the
    tests slept into the next second instead, half a second a resume)."""
    from tensorboard.summary.writer import event_file_writer

    monkeypatch.setattr(event_file_writer, "_global_uid", event_file_writer.AtomicCounter(10**6))


def fit(overrides: list[str], run_dir: Path) -> dict[str, Any]:
    return train(compose_config(overrides), run_dir)


def metrics(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(x).items() if k != "throughput"} for x in lines]


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """What TensorBoard shows: every scalar's (step, value) after its purge rules."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = [t for t in events.Tags()["scalars"] if t != "throughput"]
    return {t: [(e.step, e.value) for e in events.Scalars(t)] for t in tags}


def every_point(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar point in the run's events files, purge markers ignored, as TensorBoard's
    default (fast) loader reads them: a point a killed process logged after its checkpoint
    stays on the curves there until the resumed run logs that tag again."""
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader

    points: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in LegacyEventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.HasField("simple_value") and value.tag != "throughput":
                    points.setdefault(value.tag, []).append((event.step, value.simple_value))
    return {tag: sorted(found) for tag, found in points.items()}


def hparams_table(run_dir: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """What TensorBoard's HParams dashboard shows of a run: the hparams of its first record (a
    tag's metadata is read once) and the last value of each hparam/* metric."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(str(run_dir))
    events.Reload()
    records = [
        HParamsPluginData.FromString(c) for c in events.PluginTagToContent("hparams").values()
    ]
    (start,) = [r.session_start_info for r in records if r.HasField("session_start_info")]
    hparams = {key: str(value).strip() for key, value in start.hparams.items()}
    tags = [t for t in events.Tags()["scalars"] if t.startswith("hparam/")]
    return hparams, {t: events.Scalars(t)[-1].value for t in tags}


def assert_same_records(run_dir: Path, reference: Path) -> None:
    ours, theirs = (json.loads((d / "result.json").read_text()) for d in (run_dir, reference))
    assert {k: ours[k] for k in RESULT_KEYS} == {k: theirs[k] for k in RESULT_KEYS}
    assert metrics(run_dir) == metrics(reference)
    assert scalars(run_dir) == scalars(reference)
    assert every_point(run_dir) == every_point(reference)
    weights = [
        load_checkpoint(list_checkpoints(d / "ckpt")[-1])["model"] for d in (run_dir, reference)
    ]
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key


def on_call(
    monkeypatch: pytest.MonkeyPatch, owner: object, name: str, nth: int, act: Callable[[], None]
) -> None:
    """Make ``owner.name`` do ``act`` at its ``nth`` call, then carry on as before."""
    real = getattr(owner, name)
    calls = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == nth:
            act()
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


def stop(
    run_dir: Path,
    owner: object,
    name: str,
    nth: int,
    act: Callable[[], None],
    args: list[str] = ARGS,
    raises: type[BaseException] | tuple[type[BaseException], ...] = RunInterrupted,
    match: str | None = None,
) -> None:
    """Run ``args`` into ``run_dir`` with ``act`` at the ``nth`` call of ``owner.name``: it
    must stop with ``raises``. The patch ends with it, so the resume that follows runs plainly."""
    with pytest.MonkeyPatch.context() as patch:
        on_call(patch, owner, name, nth, act)
        with pytest.raises(raises, match=match):
            fit(args, run_dir)


def sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)


def crash() -> None:
    raise RuntimeError("simulated crash")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("reference")
    fit(ARGS, run_dir)
    return run_dir


def test_a_signal_during_the_final_evaluation_is_evaluated_on_resume(
    tmp_path: Path, reference: Path
) -> None:
    stop(tmp_path, resnet_lab.train, "eval_batches", 2, sigterm)  # the eval at step 20
    cut = json.loads((tmp_path / "result.json").read_text())
    assert (cut["status"], cut["step"]) == ("interrupted", 20)
    fit([*ARGS, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)


def test_a_run_stopped_in_its_final_evaluation_and_extended_evaluates_that_step(
    tmp_path: Path,
) -> None:
    """A signal in the final evaluation (step 15, off the every-10 cadence), then a resume to
    20: the evaluation the stopped launch owed was skipped (step 15 is not the new end), and its
    records were neither the completed run's extended nor a 20-step run's."""
    first = [*ARGS, "trainer.max_steps=15"]
    stop(tmp_path / "cut", resnet_lab.train, "eval_batches", 2, sigterm, args=first)
    assert json.loads((tmp_path / "cut" / "result.json").read_text())["step"] == 15
    fit(first, tmp_path / "completed")
    for run in ("cut", "completed"):
        fit([*ARGS, "resume=true"], tmp_path / run)  # to ARGS' 20 steps
    assert metrics(tmp_path / "cut") == metrics(tmp_path / "completed")
    assert [r["step"] for r in metrics(tmp_path / "cut") if "test/error" in r] == [10, 15, 20]
    assert scalars(tmp_path / "cut") == scalars(tmp_path / "completed")


def test_a_kill_in_the_last_saves_pruning_is_pruned_by_the_resume(tmp_path: Path) -> None:
    """The final save stopped between writing step 20's checkpoint and deleting the one past
    the two kept (a kill; here a crash), and a checksum a kill left without its checkpoint: the
    resume, at the run's end, saves no more, and they stayed for good."""
    args = [*ARGS, "trainer.ckpt_every=5", "trainer.keep_checkpoints=2"]
    stop(tmp_path, resnet_lab.checkpoint, "prune_checkpoints", 4, crash, args, RuntimeError)
    ckpt = tmp_path / "ckpt"
    assert [p.name for p in list_checkpoints(ckpt)] == [f"step_00000{s}.pt" for s in (10, 15, 20)]
    (ckpt / "step_0000005.pt.sha256").write_text("0" * 64 + "\n")
    fit([*args, "resume=true"], tmp_path)
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "completed"
    kept = ["step_0000015.pt", "step_0000020.pt"]
    assert sorted(p.name for p in ckpt.iterdir()) == sorted([*kept, *(f"{k}.sha256" for k in kept)])


def test_a_resume_restores_every_field_of_the_train_state(tmp_path: Path) -> None:
    """Field by field, test_at_best_val among them: a best validation before the checkpoint
    that no later evaluation beats is the run's figure (the resumes tested saw a new best
    after the checkpoint, which set it again)."""
    import dataclasses

    args = [*ARGS, "data.split=val", "trainer.test_at_best_val=true", "trainer.eval_every=5"]
    stop(tmp_path, Trainer, "train_step", 13, sigterm, args=args)
    state, path = load_latest_checkpoint(tmp_path / "ckpt")
    assert state["train_state"]["test_at_best_val"] is not None
    trainer = Trainer(compose_config([*args, "resume=true"]), tmp_path)
    trainer.build()
    trainer._restore(state, path)
    assert dataclasses.asdict(trainer.state) == state["train_state"]


def test_a_run_off_the_checkpoint_grid_checkpoints_its_last_step(tmp_path: Path) -> None:
    """max_steps=13 with ckpt_every=10: its end is saved all the same (an extension trains on
    from there, not from step 0), and a line logged after a checkpoint mid log window, by a
    resume killed in its save, is logged once when resumed again."""
    fit([*ARGS, "trainer.max_steps=13"], tmp_path / "ended")
    assert list_checkpoints(tmp_path / "ended" / "ckpt")[-1].name == "step_0000013.pt"
    stop(tmp_path, Trainer, "train_step", 13, sigterm)  # stopped mid log window
    short = [*ARGS, "trainer.max_steps=13", "resume=true"]  # logs the open window, saves
    stop(tmp_path, Trainer, "_save", 1, crash, short, RuntimeError, match="simulated")
    fit(short, tmp_path)
    assert [x["step"] for x in metrics(tmp_path) if "train/loss" in x].count(13) == 1


def test_a_signal_between_log_lines_keeps_the_lines_of_an_uninterrupted_run(
    tmp_path: Path, reference: Path
) -> None:
    stop(tmp_path, Trainer, "train_step", 13, sigterm)  # mid log window, no checkpoint
    assert list_checkpoints(tmp_path / "ckpt")[-1].name == "step_0000013.pt"
    fit([*ARGS, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)


@pytest.mark.parametrize(
    "crash_at",
    [
        17,  # resumes from step 10: its train and test points stay visible in TensorBoard
        7,  # before the first checkpoint: restarts from step 0, the old curves dropped
    ],
)
def test_a_crash_resumes_to_the_records_of_an_uninterrupted_run(
    tmp_path: Path, reference: Path, crash_at: int
) -> None:
    stop(tmp_path, Trainer, "train_step", crash_at, crash, raises=RuntimeError, match="simulated")
    fit([*ARGS, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)


def test_a_run_resumed_in_a_later_epoch_draws_an_uninterrupted_runs_batches(
    tmp_path: Path,
) -> None:
    """The tests above resume within the first epoch (16 batches of 16 of the 256 images),
    whose order a fresh stream draws again: here the checkpoint is in the second, and the run
    goes on into the third, whose order only the saved permutation generator gives."""
    args = [*ARGS, "trainer.max_steps=36", "trainer.eval_every=12"]
    straight = tmp_path / "straight"
    fit(args, straight)
    resumed = tmp_path / "resumed"
    checkpoint_in_epoch_two = [*args, "trainer.ckpt_every=18"]
    stop(resumed, Trainer, "train_step", 22, crash, checkpoint_in_epoch_two, RuntimeError)
    assert [p.name for p in list_checkpoints(resumed / "ckpt")] == ["step_0000018.pt"]
    fit([*args, "resume=true"], resumed)
    assert_same_records(resumed, straight)


def _disk_full_at(patch: pytest.MonkeyPatch, name: str) -> None:
    """Writing the file ``name`` fails as on a full disk (whose error names no file)."""
    real = resnet_lab.checkpoint.atomic_write_bytes

    def write(path: Path, data: bytes) -> None:
        if path.name == name:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(path, data)

    patch.setattr(resnet_lab.checkpoint, "atomic_write_bytes", write)


def test_a_run_folder_copied_as_links_never_writes_into_the_original(tmp_path: Path) -> None:
    """``cp -as`` forks a run: its result.json, config.yaml, metrics.jsonl and checkpoints
    were written through the links into the original run's files (a review)."""
    original = tmp_path / "run" / "result.json"
    original.parent.mkdir()
    original.write_text('{"step": 10}')
    fork = tmp_path / "fork" / "result.json"
    fork.parent.mkdir()
    fork.symlink_to(original)
    atomic_write_text(fork, '{"step": 20}')
    assert original.read_text() == '{"step": 10}' and not fork.is_symlink()
    assert fork.read_text() == '{"step": 20}'
    # metrics.jsonl, kept open for appending: a resume rewrites it first, which replaces a link
    lines = '{"step": 5, "train/loss": 2.0}\n{"step": 10, "train/loss": 1.5}\n'
    (tmp_path / "run" / "metrics.jsonl").write_text(lines)
    (tmp_path / "fork" / "metrics.jsonl").symlink_to(tmp_path / "run" / "metrics.jsonl")
    metrics = MetricsLog(tmp_path / "fork" / "metrics.jsonl", resume_step=10)
    metrics.write({"step": 11, "train/loss": 1.4})
    metrics.close()
    assert (tmp_path / "run" / "metrics.jsonl").read_text() == lines
    assert (tmp_path / "fork" / "metrics.jsonl").read_text().count("\n") == 3


def test_a_run_folder_with_files_no_lab_writes_resumes_without_a_trace(tmp_path: Path) -> None:
    """A folder one was sent, or hand-edited: a metrics.jsonl line nested past Python's limit,
    or of step 1e400, and a result.json so nested or not an object stopped the resume with a
    RecursionError, OverflowError or AttributeError trace; such a line is a damaged one, such
    a result.json none."""
    stop(tmp_path, Trainer, "train_step", 13, sigterm)
    deep = "[" * 100_000 + "]" * 100_000
    with (tmp_path / "metrics.jsonl").open("a") as lines:
        lines.write(deep + "\n" + '{"step": 1e400, "train/loss": 1.0}\n')
    for text in (deep, "[1]"):
        (tmp_path / "result.json").write_text(text)
        assert run_folder.read_result(tmp_path) is None
    assert fit([*ARGS, "resume=true"], tmp_path)["status"] == "completed"


def test_a_full_disk_stops_the_run_with_what_to_do_and_resumes_exactly(
    tmp_path: Path,
    reference: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A checkpoint that cannot be written (disk full, folder made read-only mid-run) gave
    Hydra's trace and no word in the log; now one line naming the file, the last whole
    checkpoint and the way on, and the resume, once there is room, is exact."""
    from resnet_lab import cli
    from resnet_lab.train import CannotWrite

    cut = (
        r"cannot write .*ckpt/step_0000020\.pt \(No space left on device\) at step 20; the last "
        r"whole checkpoint is step_0000010\.pt; make room or make the folder writable"
    )
    with pytest.MonkeyPatch.context() as patch:
        _disk_full_at(patch, "step_0000020.pt")
        with pytest.raises(CannotWrite, match=cut):
            fit(ARGS, tmp_path / "a")
    result = json.loads((tmp_path / "a" / "result.json").read_text())
    assert (result["status"], result["step"]) == ("failed", 20)
    assert "the last whole checkpoint is step_0000010.pt" in result["error"]
    fit([*ARGS, "resume=true"], tmp_path / "a")
    assert_same_records(tmp_path / "a", reference)
    # the command line: the message and how to continue, no trace, the run's folder kept
    _disk_full_at(monkeypatch, "step_0000010.pt.sha256.next")  # its checksum, written first
    monkeypatch.setattr(sys, "argv", ["resnet-lab", *ARGS, f"hydra.run.dir={tmp_path / 'b'}"])
    capsys.readouterr()  # (an earlier in-process Hydra app's handler may have written here)
    with pytest.raises(SystemExit) as stopped:
        cli.command()
    assert stopped.value.code == 1
    told = (tmp_path / "b" / "resnet-lab.log").read_text()
    assert re.search(r"cannot write .*ckpt/step_0000010\.pt \(.* at step 10; no checkpoint; ", told)
    assert "writable; continue with the same command plus resume=true hydra.run.dir=" in told
    assert "Traceback" not in capsys.readouterr().err


def test_a_folder_made_read_only_mid_run_is_told_as_the_write_that_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorBoard's writer, once its thread failed a write, raises that error at each call, at
    its close too, and the lock cannot be deleted: the run's one line came as three chained
    traces (the close's and the lock's OSError over it). The lock stays, stale once the
    process is gone."""
    from torch.utils.tensorboard import SummaryWriter

    from resnet_lab.train import CannotWrite

    def read_only(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", "events.out.tfevents.1")

    monkeypatch.setattr(SummaryWriter, "add_scalar", read_only)
    monkeypatch.setattr(SummaryWriter, "close", read_only)
    unlink = Path.unlink

    def kept(path: Path, missing_ok: bool = False) -> None:
        if path.name != "run.lock":
            unlink(path, missing_ok)
        else:
            read_only()

    monkeypatch.setattr(Path, "unlink", kept)
    with pytest.raises(CannotWrite, match=r"cannot write events\.out\.tfevents\.1 \(Read-only"):
        fit(ARGS, tmp_path)
    assert (tmp_path / "run.lock").exists()


def test_a_completed_run_extends_and_max_steps_never_falls_below_the_step(
    tmp_path: Path, reference: Path
) -> None:
    short = [*ARGS, "trainer.max_steps=10"]
    fit(short, tmp_path)
    fit([*ARGS, "resume=true"], tmp_path)  # max_steps 10 -> 20: trains on from step 10
    assert_same_records(tmp_path, reference)
    hparams, final = hparams_table(tmp_path)  # the dashboard shows the extended run's figures
    assert (hparams, final) == hparams_table(reference) and final["hparam/steps"] == 20
    (tmp_path / "result.json").unlink()  # as if killed after the last checkpoint
    with pytest.raises(ConfigError, match=r"at step 20, past trainer\.max_steps=10"):
        fit([*short, "resume=true"], tmp_path)


def test_the_hparams_table_shows_the_latest_launch_of_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorBoard keeps the first record of a tag in a run: a completed run extended until it
    diverged still showed SUCCESS. A resumed run drops its earlier launches' records (and
    keeps every curve, and an events file's half-written last record, as they were)."""
    from tensorboard.plugins.hparams import api_pb2

    fit([*ARGS, "trainer.max_steps=10"], tmp_path)
    assert _session_end(tmp_path) == api_pb2.Status.STATUS_SUCCESS
    (first,) = tmp_path.glob("events.out.tfevents.*")
    first.write_bytes(first.read_bytes() + b"\x07\x00")  # as a killed writer leaves it
    curves = scalars(tmp_path)
    real_advance = Trainer.advance

    def diverge(self: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
        loss, wrong = real_advance(self)
        return loss * math.nan, wrong

    monkeypatch.setattr(Trainer, "advance", diverge)
    renamed, real_replace = [], os.replace

    def replace(source: str | Path, target: str | Path) -> None:
        renamed.append(Path(source).name)
        real_replace(source, target)

    monkeypatch.setattr(resnet_lab.checkpoint.os, "replace", replace)
    assert fit([*ARGS, "resume=true"], tmp_path)["status"] == "diverged"  # extended: 10 -> 20
    # written beside it under a name TensorBoard does not read (a kill left a second copy)
    assert renamed and not any("tfevents" in name for name in renamed)
    assert _session_end(tmp_path) == api_pb2.Status.STATUS_FAILURE
    extended = scalars(tmp_path)
    # every curve goes on; the final figures are the latest launch's alone
    assert all(
        extended[tag][: len(points)] == points
        for tag, points in curves.items()
        if not tag.startswith("hparam/")
    )
    assert extended["hparam/steps"] == [(15, 15.0)]  # diverged: seen at the first log line
    assert first.read_bytes().endswith(b"\x07\x00")


def test_a_run_cut_before_its_final_record_shows_its_final_figures_once(
    tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut after the hparam/* figures, before result.json's "completed": the resumed run
    writes them again (TensorBoard showed each twice at the last step)."""
    on_call(monkeypatch, Trainer, "_write_result", 4, crash)  # running 0, 10, 20, completed
    with pytest.raises(RuntimeError, match="simulated crash"):
        fit(ARGS, tmp_path)
    monkeypatch.undo()
    fit([*ARGS, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)
    assert [step for step, _ in scalars(tmp_path)["hparam/steps"]] == [20]


def _session_end(run_dir: Path) -> int:
    """The status TensorBoard's HParams dashboard shows for the run."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(str(run_dir))
    events.Reload()
    content = events.PluginTagToContent("hparams")["_hparams_/session_end_info"]
    return HParamsPluginData.FromString(content).session_end_info.status


def test_progress_is_recorded_at_every_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILLed run's result.json says how far it got, not step 0."""
    written = []
    real = Trainer._write_result

    def record(self: Trainer, status: str, error: str | None = None) -> None:
        real(self, status, error)
        written.append((status, self.result["step"], self.result["finished_at"] is None))

    monkeypatch.setattr(Trainer, "_write_result", record)
    fit(ARGS, tmp_path)
    assert written == [  # finished_at: once it has
        ("running", 0, True),
        ("running", 10, True),
        ("running", 20, True),
        ("completed", 20, False),
    ]


def test_a_resumed_run_keeps_the_time_it_started(tmp_path: Path) -> None:
    stop(tmp_path, Trainer, "train_step", 13, sigterm)
    started = json.loads((tmp_path / "result.json").read_text())["started_at"]
    time.sleep(1.1)  # now_iso() is to the second
    assert fit([*ARGS, "resume=true"], tmp_path)["started_at"] == started


def test_a_cpu_run_resumed_on_other_threads_says_it_rounds_differently(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CPU runs are bitwise-equal at one thread count: a resume on another says, once, that
    it rounds differently."""
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        stop(tmp_path, Trainer, "train_step", 13, sigterm)
        torch.set_num_threads(2)
        with caplog.at_level(logging.WARNING, logger="resnet_lab.train"):
            fit([*ARGS, "trainer.max_steps=14", "resume=true"], tmp_path)
        assert caplog.text.count("trained on 1 CPU threads and continues on 2") == 1
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="resnet_lab.train"):
            fit([*ARGS, "trainer.max_steps=15", "resume=true"], tmp_path)  # 2 again: said once
        assert "CPU threads" not in caplog.text
        # a run that trained on another device (a GPU's, its host's threads) rounds otherwise
        # anyway: nothing said of threads
        result = json.loads((tmp_path / "result.json").read_text())
        result["device"] = "NVIDIA H200"
        (tmp_path / "result.json").write_text(json.dumps(result))
        torch.set_num_threads(1)
        with caplog.at_level(logging.WARNING, logger="resnet_lab.train"):
            fit([*ARGS, "trainer.max_steps=16", "resume=true"], tmp_path)
        assert "CPU threads" not in caplog.text
    finally:
        torch.set_num_threads(threads)


def test_a_changed_command_is_refused_before_the_data_is_loaded(tmp_path: Path) -> None:
    fit([*ARGS, "trainer.max_steps=10"], tmp_path)
    (tmp_path / "result.json").unlink()
    # the data are not there: a missing-data error would hide which key differs
    other = [*ARGS, "data=cifar10", f"data.root={tmp_path / 'none'}", "resume=true"]
    with pytest.raises(ConfigError, match=r"data\.name: 'synthetic' -> 'cifar10'"):
        fit(other, tmp_path)


def test_a_signal_while_starting_stops_cleanly(tmp_path: Path) -> None:
    stop(tmp_path, resnet_lab.train, "load_data", 1, sigterm, match="before training started")
    assert not (tmp_path / "result.json").exists() and not list_checkpoints(tmp_path / "ckpt")


def test_half_written_leftovers_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_path = tmp_path / "metrics.jsonl"
    log_path.write_text('{"step": 5, "train/loss": 2.0}\n{"step": 10, "train/loss": 1.9}\n{"st')
    MetricsLog(log_path, resume_step=10).close()
    assert (
        log_path.read_text() == '{"step": 5, "train/loss": 2.0}\n{"step": 10, "train/loss": 1.9}\n'
    )

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    atomic_write_text(tmp_path / "result.json", '{"step": 10}')
    with monkeypatch.context() as m:
        m.setattr(os, "replace", full_disk)
        with pytest.raises(OSError, match="No space"):
            atomic_write_text(tmp_path / "result.json", "{}")
    assert list(tmp_path.glob(".*")) == []  # no temporary file left behind
    assert (tmp_path / "result.json").read_text() == '{"step": 10}'  # the old record stands

    (tmp_path / "ckpt").mkdir()
    stale = [tmp_path / ".result.json.tmp-123", tmp_path / "ckpt" / ".step_0000010.pt.tmp-123"]
    for path in stale:
        path.write_bytes(b"half")
    fit([*ARGS, "trainer.max_steps=2"], tmp_path)
    assert not any(path.exists() for path in stale)


def test_a_lock_being_written_is_not_taken_over(tmp_path: Path) -> None:
    lock = tmp_path / "run.lock"
    lock.touch()  # another process created it and has not written its pid yet
    with pytest.raises(RunFolderBusy) as refused:
        RunLock(tmp_path).acquire()
    message = str(refused.value)  # a run of this machine starting: not one to delete
    assert "another run (starting)" in message
    assert "another machine" not in message and "delete" not in message
    old = time.time() - 3600
    os.utime(lock, (old, old))  # empty for an hour: its writer died
    taken = RunLock(tmp_path)
    taken.acquire()
    assert taken.held
    taken.release()


def test_moved_data_files_may_resume_when_checked(tmp_path: Path) -> None:
    """data.root may change on resume (the files moved) while their md5 sums are checked."""
    fit([*ARGS, "trainer.max_steps=10", "data.root=/old/place"], tmp_path)
    (tmp_path / "result.json").unlink()
    fit([*ARGS, "data.root=/new/place", "resume=true"], tmp_path)
    (tmp_path / "result.json").unlink()
    with pytest.raises(ConfigError, match=r"data\.root"):
        fit([*ARGS, "data.root=/other", "data.verify=false", "resume=true"], tmp_path)
    # CIFAR-100's binary files are only size-checked: another root may hold other images
    c100 = ["data=cifar100", "data.verify=true", "resume=true"]
    trainer = Trainer(compose_config([*c100, "data.root=/new/place"]), tmp_path / "c100")
    trained = OmegaConf.to_container(compose_config([*c100, "data.root=/old/place"]))
    with pytest.raises(ConfigError, match=r"data\.root: '/old/place' -> '/new/place'"):
        trainer._check_same_run(trained)


def test_extending_a_run_whose_checkpoints_are_gone_leaves_it_untouched(tmp_path: Path) -> None:
    fit([*ARGS, "trainer.max_steps=10"], tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    shutil.rmtree(tmp_path / "ckpt")
    with pytest.raises(ConfigError, match="checkpoints are gone"):
        fit([*ARGS, "resume=true"], tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    # the same command again (make reproduce-table's relaunch) has nothing to extend: no error
    assert fit([*ARGS, "trainer.max_steps=10", "resume=true"], tmp_path)["status"] == "completed"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_diverged_run_relaunched_with_resume_is_left_as_it_ended(tmp_path: Path) -> None:
    """make reproduce-table relaunches every row with resume=true: a diverged seed is a result
    (Table 1's "fail"), not a run to continue."""
    args = [*ARGS, "trainer.lr=1e12", "trainer.warmup_steps=0"]
    assert fit(args, tmp_path)["status"] == "diverged"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert fit([*args, "resume=true"], tmp_path)["status"] == "diverged"
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_a_checkpoint_of_an_older_version_is_not_evaluated_twice(
    tmp_path: Path,
    reference: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Older versions evaluated before every checkpoint and did not record it."""
    fit([*ARGS, "trainer.max_steps=10"], tmp_path)
    [path] = list_checkpoints(tmp_path / "ckpt")
    state = load_checkpoint(path)
    del state["train_state"]["last_eval_step"]
    state["train_state"]["from_a_newer_version"] = 1  # ignored, with a warning
    save_checkpoint(state, tmp_path / "ckpt", 10, keep=2)
    (tmp_path / "result.json").unlink()  # as if killed after its last checkpoint
    evaluations = []  # the records alone cannot tell: a redone step-10 evaluation is the same
    batches = resnet_lab.train.eval_batches
    monkeypatch.setattr(
        resnet_lab.train,
        "eval_batches",
        lambda *args, **kwargs: evaluations.append(1) or batches(*args, **kwargs),
    )
    fit([*ARGS, "resume=true"], tmp_path)
    assert len(evaluations) == 1  # step 20's only
    assert_same_records(tmp_path, reference)
    said = "ignoring train-state fields this version does not know: ['from_a_newer_version']"
    assert said in caplog.text


def test_weights_of_another_net_are_refused_on_resume_naming_the_checkpoint(
    tmp_path: Path,
) -> None:
    """A version of the lab that built the run's config into another net (a projection's BN
    added or dropped) wrote weights that do not fit: one clear error, not a torch trace."""
    fit([*ARGS, "trainer.max_steps=10"], tmp_path)
    [path] = list_checkpoints(tmp_path / "ckpt")
    state = load_checkpoint(path)
    state["model"] = {k: v for k, v in state["model"].items() if not k.startswith("fc.")}
    save_checkpoint(state, tmp_path / "ckpt", 10, keep=2)
    with pytest.raises(CheckpointError, match=r"step_0000010.pt: its weights do not fit"):
        fit([*ARGS, "resume=true"], tmp_path)


def test_an_evaluation_redone_on_resume_is_kept_through_a_later_crash(
    tmp_path: Path, reference: Path
) -> None:
    stop(tmp_path, resnet_lab.train, "eval_batches", 1, sigterm)  # the eval at step 10
    resumed = [*ARGS, "resume=true"]  # then a crash at step 13, before the next checkpoint
    stop(tmp_path, Trainer, "train_step", 3, crash, resumed, RuntimeError, match="simulated")
    fit([*ARGS, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)


def test_an_evaluation_redone_on_resume_that_is_not_finite_is_a_divergence(
    tmp_path: Path,
) -> None:
    """The evaluation a signal cut short is redone before the first step: a net whose outputs
    are not finite there ends the run diverged, as during the steps, not with a trace."""
    stop(tmp_path, resnet_lab.train, "eval_batches", 1, sigterm)  # the eval at step 10
    [path] = list_checkpoints(tmp_path / "ckpt")
    state = load_checkpoint(path)
    state["model"]["fc.weight"] = torch.full_like(state["model"]["fc.weight"], math.nan)
    save_checkpoint(state, tmp_path / "ckpt", 10, keep=2)
    result = fit([*ARGS, "resume=true"], tmp_path)
    assert (result["status"], result["diverged_at_step"]) == ("diverged", 10)


def test_resuming_at_max_steps_logs_the_open_window(tmp_path: Path) -> None:
    stop(tmp_path / "cut", Trainer, "train_step", 13, sigterm)  # step 13: not a log step
    fit([*ARGS, "trainer.max_steps=13", "resume=true"], tmp_path / "cut")
    fit([*ARGS, "trainer.max_steps=13"], tmp_path / "straight")
    assert_same_records(tmp_path / "cut", tmp_path / "straight")


def test_a_second_ctrl_c_while_saving_stops_at_once_and_loses_nothing_saved(
    tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def second_ctrl_c() -> None:
        raise KeyboardInterrupt

    on_call(monkeypatch, Trainer, "train_step", 13, sigterm)
    on_call(monkeypatch, Trainer, "_save", 2, second_ctrl_c)  # the save the first signal asked for
    with pytest.raises(RunInterrupted, match="second signal"):
        fit(ARGS, tmp_path)
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "interrupted"
    assert list_checkpoints(tmp_path / "ckpt")[-1].name == "step_0000010.pt"
    monkeypatch.undo()
    fit([*ARGS, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)


@pytest.mark.parametrize("stop_with", [KeyboardInterrupt, RuntimeError])
def test_a_run_stopped_without_a_checkpoint_times_the_steps_it_counts(
    tmp_path: Path, stop_with: type[BaseException]
) -> None:
    """A second Ctrl-C or a crash after step 16, the last checkpoint at step 10: result.json
    counted 16 steps' images over the time to step 10 (images_per_s too high)."""

    def stop_now() -> None:
        raise stop_with

    stop(tmp_path, Trainer, "train_step", 17, stop_now, raises=(RunInterrupted, RuntimeError))
    result = json.loads((tmp_path / "result.json").read_text())
    saved = load_checkpoint(list_checkpoints(tmp_path / "ckpt")[-1])["train_state"]
    assert (result["step"], saved["step"]) == (16, 10)
    assert result["wall_time_s"] > saved["elapsed_s"]
    assert result["images_per_s"] == pytest.approx(16 * 16 / result["wall_time_s"])


def test_a_stopped_run_without_checkpoints_is_still_the_same_command(tmp_path: Path) -> None:
    """Its result.json keeps its config: a different command must not restart over it."""
    stop(tmp_path, Trainer, "train_step", 7, sigterm)
    shutil.rmtree(tmp_path / "ckpt")
    with pytest.raises(ConfigError, match=r"trainer\.lr: 0\.1 -> 0\.05"):
        fit([*ARGS, "trainer.lr=0.05", "resume=true"], tmp_path)
    result = fit([*ARGS, "resume=true"], tmp_path)  # the same command restarts from step 0
    assert (result["status"], result["cpu_threads"]) == ("completed", torch.get_num_threads())


def test_a_run_choosing_on_validation_resumes_to_the_same_choice(tmp_path: Path) -> None:
    """trainer.test_at_best_val: the test error at the best validation error so far is in the
    checkpoint, so a run stopped after that evaluation reports the same figure."""
    args = [*ARGS, "data.split=val", "trainer.test_at_best_val=true", "trainer.eval_every=5"]
    fit(args, tmp_path / "straight")
    stop(tmp_path / "cut", Trainer, "train_step", 13, sigterm, args=args)
    fit([*args, "resume=true"], tmp_path / "cut")
    assert_same_records(tmp_path / "cut", tmp_path / "straight")
    result = json.loads((tmp_path / "cut" / "result.json").read_text())
    assert result["test_error_at_best_val"] is not None


@pytest.mark.parametrize(
    ("shortcut", "continues"),
    [
        ("identity", []),
        ("gate", ["shortcut.gate_norm=false"]),
        ("dropout", ["shortcut.dropout_inverted=true"]),
    ],
)
def test_a_run_from_before_the_options_resumes_as_it_trained(
    tmp_path: Path, shortcut: str, continues: list[str]
) -> None:
    """Its gates had no BN, its dropout was inverted (a config of then: no gate_norm,
    dropout_inverted true in every run): resuming with today's defaults would train another
    net, so the command must say so, and the refusal names the override; an identity run
    resumes as it is."""
    args = [*ARGS, f"shortcut={shortcut}"]
    stop(tmp_path, Trainer, "train_step", 3, sigterm, args=args)
    shutil.rmtree(tmp_path / "ckpt")
    result = json.loads((tmp_path / "result.json").read_text())
    result["config"] = as_saved_before_the_options(result["config"])
    (tmp_path / "result.json").write_text(json.dumps(result))
    if continues:
        key, value = continues[0].split("=")
        with pytest.raises(
            ConfigError,
            match=rf"\); continue it as it trained with {re.escape(key)}={value}, or start",
        ):
            fit([*args, "resume=true"], tmp_path)
    assert fit([*args, *continues, "resume=true"], tmp_path)["status"] == "completed"


def test_a_row_whose_description_the_lab_edited_still_resumes(tmp_path: Path) -> None:
    """A row file's note, statistic or reported figure describe the paper, not the run: the
    lab edits them (stochastic_depth_110's note did, and every Table 6 statistic), and every run
    of the row was then refused its resume, and make reproduce-table its relaunch. The row's
    name is what the run is: another one is still refused."""
    row = ["experiment.name=mine/row", "experiment.note=old", "experiment.statistic=best of 5"]
    stop(tmp_path, Trainer, "train_step", 3, sigterm, args=[*ARGS, *row])
    edited = ["experiment.name=mine/row", "experiment.note=new", "experiment.statistic=median"]
    with pytest.raises(ConfigError, match=re.escape("experiment.name: 'mine/row' -> 'other/row'")):
        fit([*ARGS, *edited, "experiment.name=other/row", "resume=true"], tmp_path)
    result = fit([*ARGS, *edited, "experiment.reported='7.1'", "resume=true"], tmp_path)
    assert result["status"] == "completed" and result["experiment"]["note"] == "new"
    assert fit([*ARGS, *row, "resume=true"], tmp_path)["status"] == "completed"  # and back


def test_a_refused_resume_names_overrides_that_paste_into_a_shell(tmp_path: Path) -> None:
    """A data.root with a space and parentheses was named bare: neither the shell nor Hydra's
    override grammar took it back."""
    odd = tmp_path / "data (old) copy"
    args = [*ARGS, "data.verify=false"]
    stop(tmp_path / "run", Trainer, "train_step", 3, sigterm, args=[*args, f"data.root='{odd}'"])
    with pytest.raises(ConfigError) as refused:
        fit([*args, f"data.root={tmp_path}", "resume=true"], tmp_path / "run")
    suggested = re.search(r"continue it as it trained with (.*), or start", str(refused.value))
    assert suggested, refused.value
    overrides = shlex.split(suggested.group(1))  # as a shell hands them over
    assert overrides == [f"data.root='{odd}'"]  # in Hydra's quotes, within the shell's
    assert fit([*args, *overrides, "resume=true"], tmp_path / "run")["status"] == "completed"


def test_a_second_signal_reaches_the_handler_from_before_the_run() -> None:
    """The first signal is a flag (stop at the next step, with a checkpoint); the second goes
    to the handler the run found (the default: stop at once), not to the flag again."""
    from resnet_lab.train import _StopFlag

    calls: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        with _StopFlag() as flag:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # Python runs a handler between bytecodes
            assert flag.signum == signal.SIGTERM and calls == []
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert calls == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_second_ctrl_c_while_starting_stops_at_once(tmp_path: Path) -> None:
    def second_ctrl_c() -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # the first signal: stop once the data are loaded
        raise KeyboardInterrupt  # the second, while they load

    stop(tmp_path, resnet_lab.train, "load_data", 1, second_ctrl_c, match="second signal at step 0")
    assert not list_checkpoints(tmp_path / "ckpt")


def test_atomic_writes_reach_the_disk_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data are fsynced before os.replace and the folder after it: a power cut leaves the
    old file or the new one, never an empty one under the real name."""
    events: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        status = os.fstat(fd)  # what is synced: the whole data, then the folder
        events.append("fsync folder" if stat.S_ISDIR(status.st_mode) else f"fsync {status.st_size}")
        real_fsync(fd)

    def replace(src: Any, dst: Any) -> None:
        events.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    text = '{"step": 10, "status": "completed"}'
    atomic_write_text(tmp_path / "result.json", text)
    assert events == [f"fsync {len(text)}", "replace", "fsync folder"]
    assert (tmp_path / "result.json").read_text() == text


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="names a descriptor's file")
def test_the_curves_reach_the_disk_at_every_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A resume never logs the points before its checkpoint again: TensorBoard's writer only
    flushes, so a power loss left a gap in the curves that metrics.jsonl had not."""
    from torch.utils.tensorboard import SummaryWriter

    synced: list[str] = []
    real_fsync, real_flush = os.fsync, SummaryWriter.flush

    def fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        real_fsync(fd)

    def flush(writer: SummaryWriter) -> None:  # the writer's queue into the file: then synced
        synced.append("flush")
        real_flush(writer)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(SummaryWriter, "flush", flush)
    fit(ARGS, tmp_path)  # checkpoints at steps 10 and 20
    events = [i for i, name in enumerate(synced) if name.startswith("events.out.tfevents.")]
    assert len(events) == 2 and synced.count("metrics.jsonl") == 2
    assert all(synced[i - 1] == "flush" for i in events)


def test_a_ctrl_c_during_an_atomic_write_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ctrl_c(*args: object) -> None:
        raise KeyboardInterrupt

    atomic_write_text(tmp_path / "result.json", '{"step": 10}')
    with monkeypatch.context() as m:
        m.setattr(os, "replace", ctrl_c)
        with pytest.raises(KeyboardInterrupt):
            atomic_write_text(tmp_path / "result.json", "{}")
    assert list(tmp_path.glob(".*")) == []
    assert (tmp_path / "result.json").read_text() == '{"step": 10}'


def test_old_checkpoints_go_with_their_checksums(tmp_path: Path) -> None:
    for step in (10, 20, 30):
        save_checkpoint({"step": step}, tmp_path, step, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_0000020.pt",
        "step_0000020.pt.sha256",
        "step_0000030.pt",
        "step_0000030.pt.sha256",
    ]


@pytest.mark.parametrize("keep", [1, 2, 3, 4, 5, 20])
def test_the_last_keep_checkpoints_are_kept(keep: int, tmp_path: Path) -> None:
    """Until there were ``keep``, a save pruned from the wrong end (a negative slice): with
    keep=5, twelve saves left two, with keep=20 ten."""
    for saved, step in enumerate(range(1, 13), start=1):
        save_checkpoint({"step": step}, tmp_path, step, keep=keep)
        kept = sorted(int(p.stem.removeprefix("step_")) for p in tmp_path.glob("*.pt"))
        assert kept == list(range(max(1, step - keep + 1), step + 1)), (keep, saved)


def test_a_checksum_whose_checkpoint_a_kill_removed_goes_at_the_next_save(tmp_path: Path) -> None:
    """Pruning deletes a checkpoint, then its checksum: a kill between the two left the
    checksum for good (no later pruning looks for it)."""
    for step in (10, 20):
        save_checkpoint({"step": step}, tmp_path, step, keep=2)
    (tmp_path / "step_0000010.pt").unlink()  # killed before its .sha256 went
    save_checkpoint({"step": 30}, tmp_path, 30, keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step_0000020.pt",
        "step_0000020.pt.sha256",
        "step_0000030.pt",
        "step_0000030.pt.sha256",
    ]


def test_a_checkpoint_without_its_checksum_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A checkpoint whose checksum is gone (a pending one left by a kill is put in place): the
    previous one is used, and the checksum-less file is reported, never accepted (nor a
    checksum made up for it)."""
    for step in (10, 20):
        save_checkpoint({"step": step}, tmp_path, step, keep=2)
    newest = list_checkpoints(tmp_path)[-1]
    digest_path(newest).unlink()
    state, path = load_latest_checkpoint(tmp_path)
    assert (state["step"], path.name) == (10, "step_0000010.pt")
    said = f"skipping damaged checkpoint: {newest}: no checksum file step_0000020.pt.sha256"
    assert said in caplog.text
    with pytest.raises(CheckpointError, match="no checksum file"):
        load_checkpoint(newest)
    assert not digest_path(newest).exists()


def test_a_checkpoint_of_another_kind_is_skipped_as_a_damaged_one(
    tmp_path: Path, reference: Path
) -> None:
    """A file with its checksum beside it but not a training checkpoint's keys (another tool's,
    another version's): a KeyError trace, now the previous checkpoint, or the way on."""
    fit(ARGS, tmp_path)
    (tmp_path / "result.json").unlink()  # as if killed after its last checkpoint
    newest = list_checkpoints(tmp_path / "ckpt")[-1]
    state = load_checkpoint(newest)
    del state["config"]
    save_checkpoint(state, tmp_path / "ckpt", 20, keep=2)  # with a checksum of its own
    fit([*ARGS, "resume=true"], tmp_path)  # from step 10
    assert_same_records(tmp_path, reference)
    for path in list_checkpoints(tmp_path / "ckpt"):
        save_checkpoint({"model": {}}, tmp_path / "ckpt", int(path.stem[5:]), keep=2)
    (tmp_path / "result.json").unlink()
    with pytest.raises(CheckpointError) as refused:
        fit([*ARGS, "resume=true"], tmp_path)
    assert re.search(
        r"step_0000020\.pt: not a whole training checkpoint \(no \['optimizer'", str(refused.value)
    )
    assert "none can be resumed from: move" in str(refused.value)


class _OpensAFile:
    """Unpickled, it creates ``path``: a checkpoint holding it would run code when loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


def test_a_checkpoint_holding_a_pickled_program_is_not_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A run folder one was sent (resumed, evaluated, lesioned) is read as tensors and plain
    values: its checksum file beside it, a checkpoint's pickled object ran as it loaded."""
    from resnet_lab.pretrained import read_checkpoint

    run = tmp_path / "run"
    fit(ARGS, run)
    (run / "result.json").unlink()  # as if killed after its last checkpoint
    marker = tmp_path / "ran"
    state = load_checkpoint(list_checkpoints(run / "ckpt")[-1])
    rigged = save_checkpoint({**state, "extra": _OpensAFile(marker)}, run / "ckpt", 30, keep=3)
    with pytest.raises(CheckpointError) as refused:
        load_checkpoint(rigged)
    assert "holds Python objects besides tensors and plain values" in str(refused.value)
    garbage = tmp_path / "step_0000010.pt"  # pickle's opening, then nothing it reads
    garbage.write_bytes(b"\x80\x04" + b"x" * 100)
    digest_path(garbage).write_text(hashlib.sha256(garbage.read_bytes()).hexdigest())
    with pytest.raises(CheckpointError, match=r"cannot be read \(not a PyTorch checkpoint\)$"):
        load_checkpoint(garbage)
    assert read_checkpoint(run).path.name == "step_0000020.pt"  # as a damaged one: the previous
    fit([*ARGS, "resume=true"], run)  # from step 20: nothing left to train
    assert not marker.exists()
    assert "step_0000030.pt: holds Python objects" in caplog.text


def test_a_save_after_a_fallback_keeps_the_checkpoint_it_wrote(tmp_path: Path) -> None:
    """With keep_checkpoints=1, a checksum-less newer step left by a kill, and a fallback to the
    previous one: the next save removes the damaged later step, never the checkpoint it wrote."""
    save_checkpoint({"step": 10}, tmp_path, 10, keep=1)
    (tmp_path / "step_0000020.pt").write_bytes(b"half")  # killed before its .sha256
    assert load_latest_checkpoint(tmp_path)[1].name == "step_0000010.pt"  # the fallback
    path = save_checkpoint({"step": 13}, tmp_path, 13, keep=1)  # e.g. Ctrl-C at step 13
    state, loaded = load_latest_checkpoint(tmp_path)
    assert (loaded, state["step"]) == (path, 13)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000013.pt"]


def test_a_lock_is_taken_over_only_when_its_owner_is_surely_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    lock = tmp_path / "run.lock"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # a pid that is dead here
    # another machine: its pid cannot be checked from here, so a lock it keeps touching stands
    lock.write_text(f"elsewhere-{socket.gethostname()} {gone.pid} heartbeat\n")
    with pytest.raises(RunFolderBusy, match=r"another run \(elsewhere-\S+ \d+\).*delete .*lock"):
        RunLock(tmp_path).acquire()
    assert lock.read_text().startswith("elsewhere-")
    # an older lab's lock never beats: it stands however old, as it always did
    lock.write_text(f"elsewhere-{socket.gethostname()} {gone.pid}\n")
    hour_ago = time.time() - 3600
    os.utime(lock, (hour_ago, hour_ago))
    with pytest.raises(RunFolderBusy, match=r"written by an older resnet-lab.*delete .*run\.lock"):
        RunLock(tmp_path).acquire()
    # ... a beating one until its heartbeat has stopped for 10 minutes: killed with its node
    lock.write_text(f"elsewhere-{socket.gethostname()} {gone.pid} heartbeat\n")
    almost = time.time() - run_folder.LOCK_FOREIGN_STALE_S + 60
    os.utime(lock, (almost, almost))
    with pytest.raises(RunFolderBusy, match=r"last alive 5\d\d s ago.*stale 10 minutes after"):
        RunLock(tmp_path).acquire()
    stale = time.time() - run_folder.LOCK_FOREIGN_STALE_S - 1
    os.utime(lock, (stale, stale))
    assert taken_over(tmp_path)
    # this host, a live process of another user (signal 0 is not permitted): it stands too
    lock.write_text(f"{socket.gethostname()} {gone.pid}\n")

    def not_permitted(pid: int, sig: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    with monkeypatch.context() as m:
        m.setattr(os, "kill", not_permitted)
        with pytest.raises(RunFolderBusy, match="another run"):
            RunLock(tmp_path).acquire()
    # this host, a pid that is gone (a run killed with -9 a moment ago): taken over at once,
    # and the report reads it as killed
    lock.write_text(own_lock(gone.pid))
    assert not run_folder.holds_a_live_run(tmp_path)
    lock.write_text(f"{socket.gethostname()} {gone.pid} heartbeat\n")
    assert taken_over(tmp_path)
    # this host, a live pid that a process took after the lock's last touch (a reboot reused
    # it): taken over, as a dead one's; touched after that process started, it stands
    reused = subprocess.Popen(["sleep", "60"])
    try:
        lock.write_text(f"{socket.gethostname()} {reused.pid} heartbeat\n")
        os.utime(lock, (hour_ago, hour_ago))
        assert taken_over(tmp_path)
        lock.write_text(f"{socket.gethostname()} {reused.pid} heartbeat\n")
        assert run_folder.holds_a_live_run(tmp_path)
        with pytest.raises(RunFolderBusy, match="another run"):
            RunLock(tmp_path).acquire()
        os.utime(lock, (hour_ago, hour_ago))
        assert not run_folder.holds_a_live_run(tmp_path)
        # a file server's clock minutes behind stamps a live run's touches minutes old: within
        # 10 minutes of its start, the run stands (it was taken over at 2)
        lagging = time.time() - 300
        os.utime(lock, (lagging, lagging))
        assert run_folder.holds_a_live_run(tmp_path)
        # the pid's process started before the lock's last touch, which is an hour old: alive
        # (suspended?) or its pid reused after a reboot, its lock says how to go on
        with monkeypatch.context() as m:
            m.setattr(run_folder, "_process_start_time", lambda pid: hour_ago - 60)
            os.utime(lock, (hour_ago, hour_ago))
            with pytest.raises(RunFolderBusy, match=r"not been touched for 60 minutes .*delete "):
                RunLock(tmp_path).acquire()
            # started 5 minutes after that touch: within the clocks' slack, its run stands
            m.setattr(run_folder, "_process_start_time", lambda pid: hour_ago + 300)
            assert RunLock(tmp_path).owner_alive()
            # its start unknown (no /proc): a live pid is not taken over (two writers in one
            # folder), but the report reads the beat, stopped an hour ago: the run is gone
            m.setattr(run_folder, "_process_start_time", lambda pid: None)
            with pytest.raises(RunFolderBusy, match="another run"):
                RunLock(tmp_path).acquire()
            assert not run_folder.holds_a_live_run(tmp_path)
    finally:
        reused.kill()
        reused.wait()
    # a container of this host's name: its pids are its own, so its beat decides, as another
    # machine's (its pid may be dead here, or another process's)
    lock.write_text(f"{socket.gethostname()} {gone.pid} heartbeat pidns:1\n")
    with pytest.raises(RunFolderBusy, match="another run"):
        RunLock(tmp_path).acquire()
    os.utime(lock, (stale, stale))
    assert taken_over(tmp_path)
    # a lock naming this very process was left by an earlier one with the same pid (containers
    # reuse low pids): no other live process can hold it
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert taken_over(tmp_path)
    assert not lock.exists()
    # a holder whose lock another process took over (a takeover race) leaves that one's lock
    taken = RunLock(tmp_path)
    taken.acquire()
    lock.write_text(f"{socket.gethostname()} {gone.pid + 1}\n")
    taken.release()
    assert lock.exists() and not taken.held


def test_a_stale_lock_is_removed_under_the_folders_flock(tmp_path: Path) -> None:
    """Another process re-checking the same stale lock holds the folder's flock: this one
    waits for it before deleting (else it may delete the lock that one writes next)."""
    import fcntl
    import subprocess
    import threading

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    lock = tmp_path / "run.lock"
    lock.write_text(own_lock(gone.pid))
    folder = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        remover = threading.Thread(target=RunLock(tmp_path)._remove_if_stale)
        remover.start()
        remover.join(0.3)
        assert remover.is_alive() and lock.exists()  # waiting for the flock
    finally:
        os.close(folder)  # lets it go
    remover.join(10)
    assert not remover.is_alive() and not lock.exists()


def test_a_held_lock_beats_until_released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder touches its lock (other machines read its age), and stops when it lets go."""
    monkeypatch.setattr(run_folder, "LOCK_HEARTBEAT_S", 0.05)
    lock = RunLock(tmp_path)
    lock.acquire()
    hour_ago = time.time() - 3600
    os.utime(lock.path, (hour_ago, hour_ago))
    deadline = time.time() + 10
    # compared by age: a file system keeps times to its own resolution, not hour_ago's float
    while time.time() - lock.path.stat().st_mtime > 60 and time.time() < deadline:
        time.sleep(0.05)
    assert time.time() - lock.path.stat().st_mtime < 60
    beating = lock._heartbeat
    lock.release()
    assert beating is not None and not beating.is_alive() and not lock.path.exists()


def test_each_metrics_line_is_on_disk_at_once_and_strict_json(tmp_path: Path) -> None:
    """docs/contracts.md: a NaN or infinite float is written as null (also inside a list), and
    a line is flushed when written: a kill loses at most the line being written."""
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 9, "train/loss": 2.0}\n')  # a run before it, in a reused folder
    log = MetricsLog(path, resume_step=None)  # a run from step 0: its lines alone
    log.write({"step": 5, "train/loss": float("nan"), "lr": 0.1, "gates": [0.5, float("inf")]})
    log.write({"step": 6, "train/loss": float("-inf")})

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    lines = [json.loads(x, parse_constant=no_constants) for x in path.read_text().splitlines()]
    log.close()
    assert lines == [
        {"step": 5, "train/loss": None, "lr": 0.1, "gates": [0.5, None]},
        {"step": 6, "train/loss": None},
    ]


def test_result_json_is_strict_json_and_an_unreadable_one_reads_as_none(tmp_path: Path) -> None:
    from resnet_lab.run_folder import read_result, write_result

    diverged = {"status": "diverged", "final_train_loss": float("inf"), "x": (1.0, math.nan)}
    write_result(tmp_path, diverged)

    def no_constants(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    record = json.loads((tmp_path / "result.json").read_text(), parse_constant=no_constants)
    assert record == {
        "schema_version": 1,
        "status": "diverged",
        "final_train_loss": None,
        "x": [1.0, None],
    }
    assert read_result(tmp_path) == record
    (tmp_path / "result.json").write_text('{"status": "runn')  # e.g. edited by hand, cut short
    assert read_result(tmp_path) is None
    assert read_result(tmp_path / "nowhere") is None
    (tmp_path / "result.json").write_text("[1, 2]\n")  # JSON, but no record
    assert read_result(tmp_path) is None


def test_the_environment_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/contracts.md: device, versions and cpu_threads of result.json."""
    import datetime as dt
    import platform

    import torchvision

    import resnet_lab
    from resnet_lab.device import device_name
    from resnet_lab.run_folder import environment, now_iso

    threads = torch.get_num_threads()
    wanted = (os.cpu_count() or 1) + 1  # differs from the core count
    torch.set_num_threads(wanted)
    try:
        env = environment(torch.device("cpu"))
        assert env["cpu_threads"] == torch.get_num_threads() == wanted
    finally:
        torch.set_num_threads(threads)
    assert env["device"] == device_name(torch.device("cpu"))
    assert env["device"].endswith(f"({os.cpu_count()} cores)")
    assert env["versions"] == {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "resnet_lab": resnet_lab.__version__,
        "numpy": np.__version__,
    }
    # on CUDA, the kernels' versions too (the name of a GPU this machine lacks, and versions a
    # CPU-only build lacks, given)
    monkeypatch.setattr("resnet_lab.device.device_name", lambda device: "a GPU")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91002)
    on_gpu = environment(torch.device("cuda"))["versions"]
    assert on_gpu == {**env["versions"], "cuda": "12.8", "cudnn": 91002}
    stamp = dt.datetime.fromisoformat(now_iso())  # started_at / finished_at: UTC, to the second
    assert stamp.utcoffset() == dt.timedelta(0) and stamp.microsecond == 0
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 60
    asked: list[Path] = []  # the commit of the lab's own source, wherever the run is launched
    monkeypatch.setattr(run_folder, "git_commit", lambda folder: asked.append(folder) or "abc")
    assert environment(torch.device("cpu"))["git_commit"] == "abc"
    assert asked == [Path(resnet_lab.__file__).parent]


def test_git_commit_names_the_commit_and_tracked_changes_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import subprocess

    from resnet_lab.run_folder import git_commit

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # no repository above
    (tmp_path / "plain").mkdir()
    assert git_commit(tmp_path / "plain") is None  # outside git: null
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args: str) -> str:
        config = ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
        done = subprocess.run(
            ["git", *config, *args], cwd=repo, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    git("init", "-q")
    (repo / "lab.py").write_text("x = 1\n")
    git("add", "lab.py")
    git("commit", "-q", "-m", "one")
    head = git("rev-parse", "HEAD")
    assert git_commit(repo) == head
    (repo / "scratch.txt").write_text("untracked files do not make it dirty")
    assert git_commit(repo) == head
    (repo / "lab.py").write_text("x = 2\n")
    assert git_commit(repo) == f"{head}-dirty"
    installed = repo / ".venv/site-packages/resnet_lab"  # a user's repository, the lab installed
    installed.mkdir(parents=True)
    (installed / "__init__.py").write_text("")
    assert git_commit(installed) is None  # not the user's commit
    # a copy without its .git (the GPU runbook's work tree) names the commit it was copied at
    monkeypatch.setenv("RESNET_LAB_GIT_COMMIT", "abc123-dirty")
    assert git_commit(tmp_path / "plain") == "abc123-dirty"
    assert git_commit(repo) == f"{head}-dirty"  # in git, git says


def test_wall_time_sums_the_resumed_processes(tmp_path: Path) -> None:
    """docs/contracts.md: wall_time_s is summed over resumed processes."""
    args = [*ARGS, "trainer.max_steps=2", "trainer.ckpt_every=2", "trainer.eval_every=2"]
    fit(args, tmp_path)
    [path] = list_checkpoints(tmp_path / "ckpt")
    state = load_checkpoint(path)
    state["train_state"]["elapsed_s"] = 1000.0  # as if the first process had trained 1000 s
    save_checkpoint(state, tmp_path / "ckpt", 2, keep=2)
    (tmp_path / "result.json").unlink()  # as if killed after its last checkpoint
    result = fit([*args, "resume=true"], tmp_path)  # nothing left to train: the record only
    assert (result["status"], result["step"]) == ("completed", 2)
    assert 1000.0 <= result["wall_time_s"] < 1100.0
    assert result["images_per_s"] == pytest.approx(2 * 16 / result["wall_time_s"])


def test_an_interrupted_run_has_no_final_error_but_its_last_one(tmp_path: Path) -> None:
    """docs/contracts.md: final_test_error is null in every status but completed."""
    args = [*ARGS, "trainer.eval_every=2", "trainer.ckpt_every=20"]
    stop(tmp_path, Trainer, "train_step", 3, sigterm, args)  # after the evaluation at step 2
    cut = json.loads((tmp_path / "result.json").read_text())
    assert (cut["status"], cut["step"]) == ("interrupted", 3)
    assert cut["final_test_error"] is None and cut["last_test_error"] is not None
    assert cut["finished_at"] is not None and "error" not in cut


def test_two_processes_finding_one_stale_lock_never_both_hold_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A takes over the stale lock between B's check and B's takeover: B must then find A's
    lock alive and refuse, not delete it and take the folder too."""
    import subprocess

    sleeper = subprocess.Popen(["sleep", "60"])  # stands for process A, alive
    gone = subprocess.Popen(["true"])
    gone.wait()
    lock = tmp_path / "run.lock"
    lock.write_text(f"{socket.gethostname()} {gone.pid}\n")  # stale
    a, b = RunLock(tmp_path), RunLock(tmp_path)
    check = RunLock.owner_alive
    raced: list[bool] = []

    def racing(self: RunLock) -> bool:
        alive = check(self)
        if self is b and not raced:  # B has just seen the stale lock: A takes it over now
            raced.append(True)
            with monkeypatch.context() as m:
                m.setattr(os, "getpid", lambda: sleeper.pid)
                a.acquire()
        return alive

    monkeypatch.setattr(RunLock, "owner_alive", racing)
    try:
        with pytest.raises(RunFolderBusy, match="another run"):
            b.acquire()
        assert a.held and not b.held
        assert lock.read_text() == own_lock(sleeper.pid)
    finally:
        sleeper.kill()
        sleeper.wait()


def _cut_rename(
    monkeypatch: pytest.MonkeyPatch, when: Callable[[Path, Path], bool], nth: int = 1
) -> None:
    """The ``nth`` os.replace for which ``when(source, target)`` holds is a kill: it raises."""
    real, seen = os.replace, []

    def replace(source: Any, target: Any) -> None:
        if when(Path(source), Path(target)):
            seen.append(1)
            if len(seen) == nth:
                raise KeyboardInterrupt
        real(source, target)

    monkeypatch.setattr(os, "replace", replace)


def _into_place(source: Path, target: Path) -> bool:
    return source.name.endswith(".sha256.next")


@pytest.mark.parametrize("rewrite", [False, True])
def test_a_save_cut_before_its_checksum_is_in_place_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rewrite: bool
) -> None:
    """A kill between a checkpoint's rename and its checksum's: the checkpoint is whole and the
    lab wrote its checksum first, so it is used (a first checkpoint without its checksum was
    unusable, and a step written again beside its old checksum was "damaged")."""
    from resnet_lab.checkpoint import pending_digest_path

    save_checkpoint({"step": 10, "take": 1}, tmp_path, 10, keep=1)
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        _cut_rename(patch, _into_place)
        step = 10 if rewrite else 20
        save_checkpoint({"step": step, "take": 2}, tmp_path, step, keep=1)
    state, path = load_latest_checkpoint(tmp_path)
    assert (state["step"], state["take"]) == (10 if rewrite else 20, 2)
    save_checkpoint({"step": 30, "take": 3}, tmp_path, 30, keep=2)  # settles the pending one
    assert not list(tmp_path.glob("*.next")) and digest_path(path).exists()
    assert load_checkpoint(path)["take"] == 2 and not pending_digest_path(path).exists()


def test_a_save_cut_before_its_checkpoint_keeps_the_one_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill before the checkpoint's rename: its pending checksum names no file of its own,
    so the old checkpoint of that step stands, and the next save drops the pending checksum."""
    save_checkpoint({"step": 10, "take": 1}, tmp_path, 10, keep=1)
    with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
        _cut_rename(patch, lambda source, target: target.name == "step_0000010.pt")
        save_checkpoint({"step": 10, "take": 2}, tmp_path, 10, keep=1)
    assert load_latest_checkpoint(tmp_path)[0]["take"] == 1
    save_checkpoint({"step": 20}, tmp_path, 20, keep=2)
    assert not list(tmp_path.glob("*.next"))
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_0000010.pt", "step_0000020.pt"]
    assert load_checkpoint(tmp_path / "step_0000010.pt")["take"] == 1  # dropped, not trusted
    # nor does a pending checksum of other bytes make a damaged checkpoint whole
    from resnet_lab.checkpoint import is_whole, pending_digest_path

    damaged = tmp_path / "step_0000030.pt"
    damaged.write_bytes((tmp_path / "step_0000010.pt").read_bytes()[:100])
    pending_digest_path(damaged).write_text("0" * 64 + "\n")
    assert not is_whole(damaged)
    with pytest.raises(CheckpointError):
        load_checkpoint(damaged)


def test_a_save_cut_after_its_checkpoints_rename_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checksum is written, pending, before the checkpoint: a kill right after the
    checkpoint's own rename leaves it usable, a new step's as a step written again."""
    save_checkpoint({"step": 10, "take": 1}, tmp_path, 10, keep=2)
    write = resnet_lab.checkpoint.atomic_write_bytes

    def written_then_killed(path: Path, data: bytes, stem: str | None = None) -> None:
        write(path, data, stem)
        if path.suffix == ".pt":
            raise KeyboardInterrupt

    for take in (2, 3):  # step 20 new, then step 20 written again
        with monkeypatch.context() as patch, pytest.raises(KeyboardInterrupt):
            patch.setattr(resnet_lab.checkpoint, "atomic_write_bytes", written_then_killed)
            save_checkpoint({"step": 20, "take": take}, tmp_path, 20, keep=2)
        state, _ = load_latest_checkpoint(tmp_path)
        assert (state["step"], state["take"]) == (20, take)


def test_a_kill_in_the_second_write_of_a_step_leaves_a_resumable_run(
    tmp_path: Path, reference: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """keep_checkpoints=1, SIGTERM while the step-10 checkpoint is written, then the usual
    SIGKILL (a scheduler's grace period) inside the "interrupted" checkpoint that writes step
    10 again: the run was refused for good (a new file beside the old checksum)."""
    args = [*ARGS, "trainer.keep_checkpoints=1"]
    on_call(monkeypatch, Trainer, "_save", 1, sigterm)
    _cut_rename(monkeypatch, _into_place, nth=2)  # the second save's last rename
    with pytest.raises(RunInterrupted, match="second signal"):
        fit(args, tmp_path)
    monkeypatch.undo()
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == ["step_0000010.pt"]
    fit([*args, "resume=true"], tmp_path)
    assert_same_records(tmp_path, reference)


def test_lines_a_killed_resume_logged_after_its_checkpoint_are_not_kept(
    tmp_path: Path, reference: Path
) -> None:
    """A signal cut the evaluation at step 10; the resume that redid it was killed before its
    checkpoint, leaving the evaluation's line and TensorBoard point: the next resume evaluates
    again, and logged both twice. What the checkpoint's step shows is what the checkpoint had."""
    stop(tmp_path, resnet_lab.train, "eval_batches", 1, sigterm)  # the eval at step 10
    resumed = [*ARGS, "resume=true"]  # redoes it, logs it, dies writing its checkpoint
    stop(tmp_path, Trainer, "_save", 1, crash, resumed, RuntimeError, match="simulated")
    fit(resumed, tmp_path)
    assert_same_records(tmp_path, reference)  # metrics.jsonl and TensorBoard's curves too


def test_metrics_lines_of_the_resumed_step_are_kept_as_the_checkpoint_says(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "metrics.jsonl"
    lines = [{"step": 5, "train/loss": 1.0}, {"step": 10, "train/loss": 0.5}]
    lines += [{"step": 10, "test/error": 40.0}, {"step": 12, "train/loss": 0.4}]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    path.write_text(text[:20] + "\n" + text)  # a line cut short early in the file
    MetricsLog(path, 10, lambda record: "train/loss" in record).close()
    assert [json.loads(x) for x in path.read_text().splitlines()] == lines[:2]
    assert "1 damaged line(s) dropped" in caplog.text
    path.write_text(text + '{"step": 1')  # the last line cut by the kill: no warning
    caplog.clear()
    MetricsLog(path, 12).close()
    assert len(path.read_text().splitlines()) == 4 and "damaged" not in caplog.text
    # lines missing before the checkpoint (a run folder copied while it trained): said
    path.write_text(text)
    MetricsLog(path, 12, log_every=2).close()
    assert "ends at step" not in caplog.text
    MetricsLog(path, 20, log_every=2).close()
    assert f"{path} ends at step 12, its run's checkpoint is of step 20: the lines " in caplog.text
    path.write_text(text + json.dumps({"step": 20, "test/error": 30.0}) + "\n")
    caplog.clear()  # the checkpoint's evaluation kept: the training lines still end at 12
    MetricsLog(path, 20, log_every=2).close()
    assert f"{path} ends at step 12, its run's checkpoint is of step 20" in caplog.text
    path.unlink()
    MetricsLog(path, 20, log_every=2).close()
    assert f"{path} is missing: the run's lines before step 20 are gone" in caplog.text


def test_a_second_signal_of_the_other_kind_stops_at_once_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM, then Ctrl-C a while later: the second signal goes to the handler from before
    the run, as a second SIGTERM does (the Ctrl-C was taken as the first signal again). Sooner,
    it is the same stop: a terminal's Ctrl-C reaches a parallel sweep's workers, then their
    launcher's SIGTERM (taken as a second signal, it killed them mid-save)."""
    from resnet_lab.train import _StopFlag

    # the handler from before the run: Python's default, whatever an earlier test in this
    # worker left (conftest restores handlers after each test; CI's order failed here twice)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    with _StopFlag() as flag:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGTERM)  # at once: no more than a stop
        time.sleep(0.05)
        assert flag.signum == signal.SIGINT
    monkeypatch.setattr(resnet_lab.train, "OTHER_SIGNAL_GRACE_S", 0.0)
    with _StopFlag() as flag:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert flag.signum == signal.SIGTERM
        with pytest.raises(KeyboardInterrupt):  # pytest's handler: Python's default
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)


def test_a_runs_signals_are_told_to_the_sweep_watch_and_their_handlers_given_back() -> None:
    """The first signal sets stopping.training.stopping: a parallel sweep worker's watch then
    sends no SIGTERM of its own (a second signal: the run stopped at once, unsaved); after the
    run, each signal goes to its handler from before (a sweep's next job, the launcher's)."""
    from resnet_lab import stopping
    from resnet_lab.train import _StopFlag

    signums = (*stopping.STOP_SIGNALS, *stopping.SLURM_SIGNALS)
    before = {signum: (lambda s, f: None) for signum in signums}
    for signum, handler in before.items():
        signal.signal(signum, handler)  # conftest gives back the test's own
    with _StopFlag() as flag:
        assert stopping.training.running and not stopping.training.stopping
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
        assert flag.signum == signal.SIGTERM and stopping.training.stopping
    assert not stopping.training.running
    assert {signum: signal.getsignal(signum) for signum in signums} == before


def test_a_second_signal_as_the_run_starts_records_it_interrupted(tmp_path: Path) -> None:
    """Between the data loaded and the loop: result.json said "running" for good."""

    def second_ctrl_c() -> None:
        raise KeyboardInterrupt

    stop(tmp_path, Trainer, "_write_result", 1, second_ctrl_c, match="second signal at step 0")
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "interrupted"


def test_a_folder_with_only_a_lock_holds_a_run(tmp_path: Path) -> None:
    """A run loading its data has only its lock: the folder holds a run (so resume=true there
    is refused by the lock, not told that the folder holds no run)."""
    assert not run_folder.holds_a_run(tmp_path)
    (tmp_path / run_folder.LOCK_NAME).write_text(own_lock(os.getpid()))
    assert run_folder.holds_a_run(tmp_path)


def test_the_checkpoint_cadence_may_change_on_resume(tmp_path: Path, reference: Path) -> None:
    """Fewer checkpoints kept (a disk that filled up), another cadence or device setting: the
    records are an uninterrupted run's all the same (the first two were refused)."""
    stop(tmp_path, Trainer, "train_step", 13, sigterm)
    cadence = ["trainer.keep_checkpoints=1", "trainer.ckpt_every=4", "trainer.device=auto"]
    fit([*ARGS, *cadence, "resume=true"], tmp_path)  # the device too: a GPU run continued here
    assert_same_records(tmp_path, reference)
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == ["step_0000020.pt"]


def test_a_pending_checksum_of_an_ended_run_is_put_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill in the last save of a run (its checksum still pending): the next launch in the
    folder puts it in place, though nothing is saved again (the .next stayed for good); and the
    message of a later stop names that checkpoint as the last whole one (it said "no
    checkpoint")."""
    from resnet_lab.checkpoint import pending_digest_path

    args = [*ARGS, "trainer.max_steps=10"]
    with monkeypatch.context() as patch, pytest.raises(RunInterrupted):
        _cut_rename(patch, _into_place)
        fit(args, tmp_path)
    (last,) = list_checkpoints(tmp_path / "ckpt")
    assert pending_digest_path(last).exists() and not digest_path(last).exists()
    trainer = Trainer(compose_config(args), tmp_path)
    assert trainer._kept() == f"the last whole checkpoint is {last.name}"
    fit([*args, "resume=true"], tmp_path)
    assert digest_path(last).exists() and not pending_digest_path(last).exists()


def test_tensorboard_keeps_the_resumed_steps_points_that_metrics_lost(
    tmp_path: Path, reference: Path
) -> None:
    """TensorBoard hides the resumed step's earlier points only where a killed process logged
    some after the checkpoint: a metrics.jsonl line damaged from outside (or the file gone)
    must not take the step's point from the curves too."""
    stop(tmp_path, Trainer, "train_step", 13, crash, raises=RuntimeError, match="simulated")
    path = tmp_path / "metrics.jsonl"
    lines = path.read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if json.loads(line)["step"] == 10)
    assert "train/loss" in lines[cut]
    lines[cut] = lines[cut][:15]  # the step-10 training line, damaged
    path.write_text("\n".join(lines) + "\n")
    fit([*ARGS, "resume=true"], tmp_path)
    assert scalars(tmp_path) == scalars(reference)


def test_a_record_whose_header_does_not_read_back_is_kept_with_the_rest() -> None:
    """A resume drops the earlier launches' HParams records; from the first record whose
    header's CRC fails (damaged, or a killed writer's last), the bytes are kept as they are: a
    length read from a damaged header would cut the records anywhere."""
    import struct

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    from resnet_lab.hparams import end_record, without_sessions

    def record(event: Event) -> bytes:
        payload = event.SerializeToString()
        header = struct.pack("<Q", len(payload))
        crcs = struct.pack("<I", masked_crc32c(header)), struct.pack("<I", masked_crc32c(payload))
        return header + crcs[0] + payload + crcs[1]

    loss = Summary(value=[Summary.Value(tag="train/loss", simple_value=1.0)])
    scalar = record(Event(step=1, summary=loss))
    session = record(Event(step=2, summary=end_record("completed")))
    assert without_sessions(scalar + session) == scalar
    damaged = session[:8] + bytes([session[8] ^ 1]) + session[9:]  # the header's CRC
    assert without_sessions(scalar + damaged) == scalar + damaged


def test_a_folder_named_by_its_overrides_is_the_one_a_resume_continues(
    tmp_path: Path, in_process: InProcess
) -> None:
    """`hydra.run.dir=runs/${hydra.job.override_dirname}`: `resume=true` (and a longer
    trainer.max_steps) named a new folder, where the run trained anew from step 0; the folder's
    name leaves out what a resume may change, as the lab's config says (one list, checked here)."""
    from resnet_lab.config import CONF_DIR, RESUMABLE_CHANGES

    excluded = OmegaConf.load(CONF_DIR / "config.yaml").hydra.job.config.override_dirname
    assert set(excluded.exclude_keys) == set(RESUMABLE_CHANGES)
    folder = f"hydra.run.dir={tmp_path}/" + "${hydra.job.override_dirname}"
    first = in_process("resnet-lab", [*TINY_RUN, "trainer.max_steps=2", folder])
    assert first.returncode == 0, first.stdout + first.stderr
    again = in_process("resnet-lab", [*TINY_RUN, "trainer.max_steps=4", "resume=true", folder])
    assert again.returncode == 0, again.stdout + again.stderr
    (run,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "completed" and result["step"] == 4
    assert "resumed from step_0000002.pt" in again.stdout + again.stderr
