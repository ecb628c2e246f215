"""The trainer: the papers' recipe, iteration-exact, resumable, with no host sync per step.

Statistics accumulate in device tensors and are read (one sync) every ``trainer.log_every`` steps;
checkpoints hold everything needed to continue exactly: weights, optimizer, data-stream and RNG
states, and the best error so far. On a CPU a resumed run is bitwise-equal to an uninterrupted
one (tested); on CUDA, cuDNN's autotuned and atomic-add kernels round differently from run to run.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
import logging
import math
import os
import signal
import sys
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import nn

from resnet_lab import stopping
from resnet_lab.checkpoint import (
    CheckpointError,
    atomic_write_text,
    checkpoint_path,
    is_whole,
    list_checkpoints,
    load_latest_checkpoint,
    load_weights,
    prune_checkpoints,
    save_checkpoint,
    settle_pending_digests,
)
from resnet_lab.config import (
    REPORTED_RULE,
    RESUMABLE_CHANGES,
    TrainerCfg,
    check_known_keys,
    check_seed,
    flatten_keys,
    is_a_reported_figure,
    with_schema_defaults,
)
from resnet_lab.data import (
    SIZE_CHECKED_ONLY,
    DeviceData,
    TrainBatches,
    absolute_root,
    check_data_options,
    derive_seed,
    eval_batches,
    load_data,
)
from resnet_lab.device import resolve_device, set_cuda_math
from resnet_lab.errors import ConfigError, ResumeDiffers, RunInterrupted, RunStopped, UserError
from resnet_lab.evaluate import prediction_counts
from resnet_lab.models import build_network, config_as_trained, describe_network
from resnet_lab.models.grouped_bn import group_batch_norms
from resnet_lab.models.shortcuts import GateActivation, no_weight_decay
from resnet_lab.pasteable import pasteable_override
from resnet_lab.run_folder import (
    MetricsLog,
    RunLock,
    environment,
    now_iso,
    read_result,
    remove_event_files,
    remove_leftovers,
    write_result,
)
from resnet_lab.step_graph import StepGraph

log = logging.getLogger(__name__)

FINAL_STATUSES = ("completed", "diverged")  # resume=true skips these runs
# what Trainer._save writes and a resume reads (num_params and input_statistics, also written, are
# not needed; an earlier lab's checkpoints lack input_statistics)
CHECKPOINT_KEYS = ("model", "optimizer", "batches", "rng", "train_state", "config")
OTHER_SIGNAL_GRACE_S = 2.0  # SIGTERM after a Ctrl-C (or the reverse) sooner: the same stop
# torch.compile modes; the last two capture the step in CUDA graphs (on CUDA)
COMPILE_MODES = ("default", "max-autotune-no-cudagraphs", "reduce-overhead", "max-autotune")
GRAPH_MODES = COMPILE_MODES[2:]
PRECISIONS = ("fp32", "tf32", "bf16")  # tf32: CUDA only (see resnet_lab.device.set_cuda_math)


class CannotWrite(RunStopped):
    """The run folder stopped taking writes mid-run (a full disk, permissions changed)."""


# OSError numbers of a folder that takes no more writes: no space, quota, read-only, refused
_CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def lr_at(step: int, cfg: TrainerCfg | DictConfig) -> float:
    """Learning rate for the optimizer step with 0-based index ``step``."""
    if step < cfg.warmup_steps:
        return float(cfg.warmup_lr)
    return float(cfg.lr * cfg.lr_decay ** sum(step >= m for m in cfg.milestones))


def describe_schedule(cfg: TrainerCfg | DictConfig) -> str:
    """The learning rates of a run, as :func:`lr_at` gives them, said as it starts: a shortened
    run keeping the recipe's milestones (32k, 48k) would never decay, unsaid (short runs are a
    use, not a mistake to refuse)."""
    said = [f"{cfg.lr:g}"]
    if cfg.warmup_steps:
        first = "step" if cfg.warmup_steps == 1 else f"{cfg.warmup_steps} steps"
        said = [f"{cfg.warmup_lr:g} for the first {first}, then {cfg.lr:g}"]
    decays = [str(m) for m in cfg.milestones if m < cfg.max_steps]  # lr_at's step is 0-based
    if decays:
        steps = "steps" if len(decays) > 1 else "step"
        said.append(f"x{cfg.lr_decay:g} after {steps} {' and '.join(decays)}")
    if beyond := [str(m) for m in cfg.milestones if m >= cfg.max_steps]:
        said.append(f"no decay at {' and '.join(beyond)} (past trainer.max_steps={cfg.max_steps})")
    return "learning rate " + ", ".join(said)


def eval_scheduled(step: int, eval_every: int, max_steps: int) -> bool:
    """Whether the recipe evaluates after ``step``: every ``trainer.eval_every`` steps and at
    ``trainer.max_steps``."""
    return step > 0 and (step % eval_every == 0 or step == max_steps)


def evaluations_in_run(t: TrainerCfg | DictConfig) -> int:
    """How many evaluations a run makes from step 0 (for the benchmark's full-run time)."""
    every, last = t.eval_every, t.max_steps  # plain ints: a config read per step is slow
    return sum(eval_scheduled(step, every, last) for step in range(1, last + 1))


def check_before_training(cfg: DictConfig) -> None:
    """Raise the UserError a run of ``cfg`` would stop with before training, without a run: its
    config and device, its network (built on the CPU: on the meta device its initialisation
    imported torch._dynamo, a second each time) and its data files (looked for, not read).
    ``cfg`` is left as it was."""
    cfg = copy.deepcopy(cfg)
    Trainer(cfg, Path())
    build_network(cfg)
    check_data_options(cfg.data)


def spread_over_gpus(cfg: DictConfig, job_index: int) -> None:
    """In a sweep on a machine with several GPUs, ``trainer.device=auto`` gives job N the GPU
    N mod count, so parallel launchers (joblib) use every GPU."""
    count = torch.cuda.device_count()
    if cfg.trainer.device == "auto" and count > 1:
        cfg.trainer.device = f"cuda:{job_index % count}"


def check_trainer_config(cfg: DictConfig) -> None:
    """Reject values that would fail later, or silently do something else."""
    _check_values(cfg)
    _check_numbers(cfg)
    _check_choices(cfg)


def _check_values(cfg: DictConfig) -> None:
    """Values of any section that torch, or the report, would trip over with a trace."""
    for key, value in flatten_keys(OmegaConf.to_container(cfg, resolve=True)).items():
        if isinstance(value, float) and not math.isfinite(value):  # trainer.lr=inf, a typo,
            raise ConfigError(f"{key}={value} must be a finite number")  # would read as "fail"
        if isinstance(value, int) and key != "seed" and not -(2**63) <= value < 2**63:
            raise ConfigError(f"{key}={value} is past a 64-bit integer")  # torch: a trace
    if cfg.data.num_classes < 2:  # a net of no outputs: a trace as the net is built
        raise ConfigError(f"data.num_classes={cfg.data.num_classes} must be at least 2")
    if cfg.model.num_classes != cfg.data.num_classes:  # the loss's trace at the first step
        raise ConfigError(
            f"model.num_classes={cfg.model.num_classes}: the net has one output per class of "
            f"the data (data.num_classes={cfg.data.num_classes}); leave it out, it follows them"
        )
    if not is_a_reported_figure(cfg.experiment.reported):  # a row's file is checked alike
        raise ConfigError(f"experiment.reported={cfg.experiment.reported!r} {REPORTED_RULE}")


def _check_numbers(cfg: DictConfig) -> None:
    t = cfg.trainer
    positive = (
        "max_steps",
        "batch_size",
        "log_every",
        "eval_every",
        "ckpt_every",
        "eval_batch_size",
        "keep_checkpoints",
    )
    for key in positive:
        if t[key] < 1:
            raise ConfigError(f"trainer.{key}={t[key]} must be at least 1")
    # what torch.optim.SGD would refuse with a traceback, or take and train backwards with
    ranges = {
        "lr": (t.lr > 0, "must be positive"),
        "lr_decay": (0 < t.lr_decay <= 1, "must be in (0, 1]: 0.1 divides the lr by 10"),
        "warmup_lr": (
            t.warmup_lr > 0 or (t.warmup_lr == 0 and t.warmup_steps == 0),
            "must be positive (it trains nothing at 0: no warm-up is trainer.warmup_steps=0)",
        ),
        "warmup_steps": (t.warmup_steps >= 0, "must not be negative"),
        "momentum": (0 <= t.momentum < 1, "must be in [0, 1)"),
        "weight_decay": (t.weight_decay >= 0, "must not be negative"),
        "bn_group": (
            t.bn_group >= 0 and (t.bn_group == 0 or t.batch_size % t.bn_group == 0),
            f"must divide trainer.batch_size={t.batch_size} into groups (0: the whole batch)",
        ),
    }
    for key, (ok, rule) in ranges.items():
        if not ok:
            raise ConfigError(f"trainer.{key}={t[key]} {rule}")
    if t.nesterov and t.momentum == 0:
        raise ConfigError("trainer.nesterov=true needs a momentum: set trainer.momentum > 0")
    if list(t.milestones) != sorted(set(t.milestones)):  # a repeated one: two decays at once
        raise ConfigError(f"trainer.milestones={list(t.milestones)} must be increasing")
    if any(step < 1 for step in t.milestones):  # the run would start decayed, silently
        raise ConfigError(f"trainer.milestones={list(t.milestones)} must be steps, from 1 on")
    check_seed(cfg.seed)


def _check_choices(cfg: DictConfig) -> None:
    """Named choices, and options that do not go together."""
    t = cfg.trainer
    if t.precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={t.precision}: choose {', '.join(PRECISIONS)}")
    if t.progress not in ("auto", "bar", "none"):
        raise ConfigError(f"trainer.progress={t.progress}: choose auto, bar or none")
    if t.compile_mode not in COMPILE_MODES:
        raise ConfigError(
            f"trainer.compile_mode={t.compile_mode}: choose one of {', '.join(COMPILE_MODES)}"
        )
    if t.compile_mode != "default" and not t.compile:
        raise ConfigError(
            f"trainer.compile_mode={t.compile_mode} has no effect without trainer.compile=true"
        )
    if t.compile and t.compile_mode in GRAPH_MODES and cfg.model.survival_last < 1.0:
        raise ConfigError(
            f"trainer.compile_mode={t.compile_mode} (CUDA graphs) with stochastic depth "
            f"(model.survival_last={cfg.model.survival_last}): every step's drop pattern is a new "
            "path to record; use compile_mode=default or no compile"
        )
    if t.step_graph and t.compile:
        raise ConfigError(
            "trainer.step_graph=true records the eager step in a CUDA graph; with "
            "trainer.compile=true use trainer.compile_mode=reduce-overhead instead, not both"
        )
    if t.step_graph and cfg.model.survival_last < 1.0:
        raise ConfigError(
            f"trainer.step_graph=true with stochastic depth (model.survival_last="
            f"{cfg.model.survival_last}): each step draws on the host which units to drop, "
            "which a recorded step cannot"
        )
    if t.test_at_best_val and cfg.data.split != "val":
        raise ConfigError(
            "trainer.test_at_best_val=true chooses an evaluation by its validation error: set "
            "data.split=val (the 5k held out)"
        )


def make_optimizer(
    named_params: Iterable[tuple[str, torch.Tensor]],
    t: TrainerCfg | DictConfig,
    no_decay: Collection[str] = (),
) -> torch.optim.SGD:
    """SGD with the recipe's momentum, weight decay and Nesterov flag, at the lr of step 0;
    the parameters named in ``no_decay`` (see ``models.no_weight_decay``) in a group without
    weight decay.

    Momentum buffers exist from the start, at zero: the first step then computes exactly what
    torch's lazily created buffer gives (0 * momentum + g = g), and no buffer is created inside
    a compiled step, where CUDA graphs would own its memory and free it at the next step. So do
    the gradients, zeroed in place each step: a unit that stochastic depth drops still gets
    momentum and weight decay, from the first step on.
    """
    named = list(named_params)
    params = [p for _, p in named]
    if unknown := set(no_decay) - {name for name, _ in named}:
        raise ValueError(f"no_decay names parameters the model lacks: {sorted(unknown)}")
    groups = [{"params": [p for name, p in named if name not in no_decay]}]
    if no_decay:
        groups.append({"params": [p for name, p in named if name in no_decay], "weight_decay": 0})
    optimizer = torch.optim.SGD(
        groups,
        lr=lr_at(0, t),
        momentum=t.momentum,
        weight_decay=t.weight_decay,
        nesterov=t.nesterov,
        # on CUDA, zero_grad too: one launch for the gradients, not one each (torch's default
        # loops there); the update is foreach on CUDA anyway, and elementwise the same on CPU
        foreach=all(p.is_cuda for p in params) or None,
    )
    for p in params:
        p.grad = torch.zeros_like(p)
        if t.momentum:
            optimizer.state[p]["momentum_buffer"] = torch.zeros_like(p)
    return optimizer


@dataclass
class TrainState:
    """What a checkpoint carries besides the weights."""

    step: int = 0
    best_error: float | None = None
    best_step: int | None = None
    last_eval_step: int | None = None  # a signal can cut an evaluation short: redone on resume
    last_eval_error: float | None = None
    test_at_best_val: float | None = None  # trainer.test_at_best_val: the test error then
    last_train_error: float | None = None
    last_train_loss: float | None = None
    elapsed_s: float = 0.0  # training wall time before this process
    images_seen: int = 0
    # the log window open at the checkpoint (see _LogWindow): its sums and number of steps
    window_loss: float = 0.0
    window_wrong: int = 0
    window_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class _Cut(Exception):
    """An evaluation cut short by a signal: redone on resume."""


class _NotFinite(Exception):
    """The training loss, or the net's outputs on the eval split, are NaN or infinite: the run
    diverged (a net of NaN outputs predicts class 0 for every image, an error that reads as a
    figure)."""


class _StopFlag:
    """Turns SIGINT/SIGTERM (and stopping.SLURM_SIGNALS) into a flag the loop checks between
    steps; a second signal kills."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._first_at = 0.0
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopFlag:
        for signum in (*stopping.STOP_SIGNALS, *stopping.SLURM_SIGNALS):
            with contextlib.suppress(ValueError):  # not in the main thread
                self._previous[signum] = signal.signal(signum, self._handle)
        stopping.training.running, stopping.training.stopping = True, False
        return self

    def __exit__(self, *exc: object) -> None:
        stopping.training.running = False
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: object) -> None:
        stopping.training.stopping = True
        if self.signum is None:  # the first signal names the stop; a second of its kind kills
            self.signum, self._first_at = signum, time.monotonic()
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        elif time.monotonic() - self._first_at > OTHER_SIGNAL_GRACE_S:  # the other kind, later:
            signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))  # kills too
            signal.raise_signal(signum)
        # else the other kind at once: the same stop (a terminal's Ctrl-C reaches a parallel
        # sweep's workers, and their launcher passes it on as SIGTERM moments later)


class Trainer:
    """Trains ``cfg`` into ``run_dir``; ``fit()`` returns the result record."""

    def __init__(self, cfg: DictConfig, run_dir: Path) -> None:
        check_known_keys(cfg)
        check_trainer_config(cfg)
        # the run records where its data were: the tools that read it later (eval, lesion,
        # gates) may start elsewhere, where a relative root would name another folder
        cfg.data.root = absolute_root(cfg.data.root)
        self.cfg = cfg
        # a plain dataclass: the step reads it every iteration, and OmegaConf's attribute lookup
        # costs ~12 us a read and stops torch.compile from tracing the step
        self.t: TrainerCfg = OmegaConf.to_object(cfg.trainer)
        self.bf16 = self.t.precision == "bf16"
        self.run_dir = Path(run_dir)
        self.device = resolve_device(self.t.device)
        if self.t.precision == "tf32" and self.device.type != "cuda":
            raise ConfigError(
                f"trainer.precision=tf32 needs CUDA (TensorFloat-32 is a mode of NVIDIA matrix "
                f"units), not {self.device}; use fp32 or bf16"
            )
        if self.t.step_graph and self.device.type != "cuda":
            raise ConfigError(
                f"trainer.step_graph=true needs CUDA (it replays the step as a CUDA graph), not "
                f"{self.device}; drop it"
            )
        if self.t.compile and self.t.compile_mode in GRAPH_MODES and self.device.type != "cuda":
            raise ConfigError(  # torch.compile leaves the graphs out on the CPU, silently
                f"trainer.compile_mode={self.t.compile_mode} records CUDA graphs, which need "
                f"CUDA, not {self.device}; use default or max-autotune-no-cudagraphs"
            )
        self.memory_format = (
            torch.channels_last if self.t.channels_last else torch.contiguous_format
        )
        self.state = TrainState()  # from the start: a second Ctrl-C while loading reads it
        self._last_launch_max_steps = self.t.max_steps  # the resumed checkpoint's, on resume
        self._damaged: list[Path] = []  # checkpoints the resume skipped: gone at the next save

    # -- set-up -------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train (or resume, or skip a finished run) under the folder's lock; the result record.

        SIGINT/SIGTERM from here on stop the run at the next step boundary with a checkpoint
        (``RunInterrupted``); a second signal kills at once.
        """
        with RunLock(self.run_dir):
            remove_leftovers(self.run_dir)
            settle_pending_digests(self.run_dir / "ckpt")  # a save a kill cut before its end
            previous = read_result(self.run_dir)
            if self.cfg.resume and previous and previous.get("status") in FINAL_STATUSES:
                self._check_same_run(previous["config"])  # not someone else's finished run
                if not self._extends(previous):
                    status = previous["status"]
                    log.info("run in %s already %s; nothing to do", self.run_dir, status)
                    return previous
            with _StopFlag() as stop:
                try:
                    return self._fit(previous, stop)
                except KeyboardInterrupt:  # a second signal, from the handler restored
                    raise RunInterrupted(
                        stop.signum or signal.SIGINT, self._stopped_at_once()
                    ) from None

    def _stopped_at_once(self) -> str:
        """What a second Ctrl-C left: the steps after the last whole checkpoint are not saved."""
        return f"stopped at once by a second signal at step {self.state.step}; {self._kept()}"

    def _kept(self) -> str:
        """The last checkpoint a resume would start from (written whole: its checksum too)."""
        saved = [
            p
            for p in list_checkpoints(self.run_dir / "ckpt")
            if p not in self._damaged and is_whole(p)  # not one the resume found damaged
        ]
        return f"the last whole checkpoint is {saved[-1].name}" if saved else "no checkpoint"

    def _cannot_write(self, error: OSError) -> CannotWrite:
        where = error.filename or self.run_dir
        return CannotWrite(
            f"cannot write {where} ({error.strerror}) at step {self.state.step}; {self._kept()}; "
            "make room or make the folder writable"
        )

    def _clock_to_now(self) -> None:
        """The wall time to the step a run stopped at without a checkpoint (a second signal, a
        crash), as its images are counted: result.json's images_per_s divided the steps since
        the checkpoint by the time up to it."""
        if self._clock_start is not None:
            self.state.elapsed_s = time.perf_counter() - self._clock_start

    def _record_failure(self, error: BaseException) -> None:
        """status failed in result.json, unless the folder takes no writes (the error is
        raised all the same, and the log has it)."""
        self._clock_to_now()
        try:
            self._write_result("failed", error=f"{type(error).__name__}: {error}")
        except OSError as e:
            log.warning("result.json not updated (%s): %s", e.strerror, error)

    def _extends(self, previous: dict[str, Any]) -> bool:
        """A completed run resumed with a larger ``trainer.max_steps`` trains on from its end."""
        if self.t.max_steps < previous["step"]:
            log.warning(
                "trainer.max_steps=%d is below the step this run reached (%d): nothing is undone",
                self.t.max_steps,
                previous["step"],
            )
        extends = previous["status"] == "completed" and self.t.max_steps > previous["step"]
        if extends and not list_checkpoints(self.run_dir / "ckpt"):
            raise ConfigError(
                f"the run in {self.run_dir} completed at step {previous['step']} and its "
                f"checkpoints are gone: nothing to extend to trainer.max_steps={self.t.max_steps}"
            )
        if extends:
            log.info("extending the completed run from step %d", previous["step"])
        return extends

    def build(self, data: DeviceData | None = None) -> None:
        """Seed, then build the model, data stream, optimizer and step: everything a run trains
        with, without its run folder (the benchmark times exactly this)."""
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        model = build_network(cfg)  # first: a bad option fails before the data is loaded
        if 0 < self.t.bn_group < self.t.batch_size:
            group_batch_norms(model, self.t.bn_group)
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.data: DeviceData = (
            data
            if data is not None
            else load_data(cfg.data, self.device, test_too=self.t.test_at_best_val)
        )
        self.batches = TrainBatches(
            self.data,
            self.t.batch_size,
            seed=cfg.seed,
            augment=cfg.data.augment,
            pad_mode=cfg.data.pad_mode,
        )
        if self.t.batch_size > (images := self.data.train_labels.shape[0]):
            log.warning(  # a step then costs more than an epoch, in time and memory
                "trainer.batch_size=%d is larger than the %d training images: each batch holds "
                "images more than once",
                self.t.batch_size,
                images,
            )
        self.num_params = sum(p.numel() for p in model.parameters())
        self.optimizer = make_optimizer(model.named_parameters(), self.t, no_weight_decay(model))
        if self.t.compile:  # gradients zeroed in place, never replaced: graphs need not copy
            for p in model.parameters():
                torch._dynamo.mark_static_address(p.grad)
        if self.device.type == "cuda":
            set_cuda_math(tf32=self.t.precision == "tf32", cudnn_benchmark=self.t.cudnn_benchmark)
        self.step_fn = (
            torch.compile(self.train_step, mode=self.t.compile_mode)
            if self.t.compile
            else self.train_step
        )
        # CUDA graphs overwrite a step's outputs when they replay: each step is marked as new
        self.uses_cuda_graphs = (
            self.t.compile and self.device.type == "cuda" and self.t.compile_mode in GRAPH_MODES
        )
        self.step_graph = StepGraph(self.train_step, self.device) if self.t.step_graph else None

    def release_steps(self) -> None:
        """Drop the step functions: each holds this trainer's own bound method (a reference
        cycle), so the trainer, its net and its data outlived the run until a collection."""
        self.step_fn = self.step_graph = None

    def _fit(self, previous: dict[str, Any] | None, stop: _StopFlag) -> dict[str, Any]:
        cfg = self.cfg
        loaded = self._resume_point(previous)
        self.build()
        if stop.signum:
            raise RunInterrupted(stop.signum, "before training started, nothing to save")
        if loaded:
            self._restore(*loaded)
            prune_checkpoints(loaded[1].parent, loaded[1], self.t.keep_checkpoints, self._damaged)
        else:
            remove_event_files(self.run_dir)

        self.env = environment(self.device)
        if loaded and previous:
            self._warn_of_other_threads(previous)
        self.started_at = (previous or {}).get("started_at") if loaded else None
        self.started_at = self.started_at or now_iso()
        self.metrics: MetricsLog | None = None
        self.writer: Any = None  # TensorBoard's SummaryWriter
        self._clock_start: float | None = None  # set as the loop starts
        try:  # from here a second signal, an error, a full disk are recorded in result.json
            self._open_records(self.state.step if loaded else None)
            self._start_hparams()
            # the run's config (Hydra's .hydra/ keeps each launch's); equal to the checkpoint's
            # but for the keys a resume may change
            atomic_write_text(self.run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
            self._write_result("running")
            log.info(
                "training %s (%s parameters) on %s, %s -> %s, in %s",
                f"{describe_network(cfg)}, data={cfg.data.name}",
                f"{self.num_params:,}",
                self.env["device"],
                self.state.step,
                self.t.max_steps,
                self.run_dir,
            )
            log.info("data: %s", self.data.source)  # which files, checked or not
            log.info(describe_schedule(self.t))
            self._warn_of_a_run_all_warm_up()
            self._loop(stop)
            self._close_records()  # a write it fails is told as one, below
        except RunInterrupted:
            raise
        except KeyboardInterrupt:
            self._clock_to_now()
            self._write_result("interrupted", error=self._stopped_at_once())
            raise
        except OSError as e:
            stopped = self._cannot_write(e) if e.errno in _CANNOT_WRITE else e
            self._record_failure(stopped)
            if stopped is e:
                raise
            raise stopped from e
        except BaseException as e:
            self._record_failure(e)
            raise
        finally:
            # after an error, what they fail to write is what it says (a folder made read-only:
            # TensorBoard's writer raises its thread's error again at its close)
            with contextlib.suppress(OSError):
                self._close_records()
        return self.result

    def _close_records(self) -> None:
        if self.metrics is not None:
            self.metrics.close()
        if self.writer is not None:
            self.writer.close()

    def _open_records(self, resume_step: int | None) -> None:
        """metrics.jsonl and TensorBoard's events, continued after the checkpoint's step."""
        from torch.utils.tensorboard import SummaryWriter

        self.metrics = MetricsLog(
            self.run_dir / "metrics.jsonl",
            resume_step,
            self._logged_before_checkpoint,
            self.cfg.trainer.log_every,
        )
        # the events of earlier processes from purge_step on are dropped (and hidden by the
        # marker, for TensorBoard's Python loader): those a killed run wrote after its
        # checkpoint; those of the checkpoint's step too where metrics.jsonl had some from
        # after it, and then the ones it keeps are written again
        redo = resume_step is not None and self.metrics.dropped_at_resume_step
        purge_step = None if resume_step is None else resume_step + (0 if redo else 1)
        if purge_step is not None:
            self._drop_later_events(purge_step)
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge_step)
        for record in self.metrics.kept_at_resume_step if redo else []:
            for tag, value in record.items():
                if tag != "step":  # a NaN was written as null
                    value = math.nan if value is None else value
                    self.writer.add_scalar(tag, value, record["step"])

    def _drop_later_events(self, purge_step: int) -> None:
        """The earlier launches' HParams rows and the points they logged from ``purge_step`` on
        (see :func:`~resnet_lab.hparams.drop_sessions`): a TensorBoard extra, which must not
        stop the run."""
        from resnet_lab.hparams import drop_sessions

        try:
            drop_sessions(self.run_dir, purge_step)
        except Exception as e:
            log.warning("TensorBoard's earlier events not rewritten: %s: %s", type(e).__name__, e)

    def _logged_before_checkpoint(self, record: dict[str, Any]) -> bool:
        """Whether a metrics.jsonl line of the resumed checkpoint's step was written before
        that checkpoint (kept), not after it by a process a kill stopped (written again): the
        training line when the log window had just closed, the evaluation's when it had run."""
        if "train/loss" in record:
            return self.state.window_steps == 0
        return self.state.last_eval_step == self.state.step

    def _resume_point(self, previous: dict[str, Any] | None) -> tuple[dict[str, Any], Path] | None:
        """The checkpoint to continue from, if any, checked against this command before the
        data are loaded: a wrong command fails at once, naming the keys."""
        cfg = self.cfg
        ckpt_dir = self.run_dir / "ckpt"
        existing = list_checkpoints(ckpt_dir)
        if existing and not cfg.resume:  # refuse before reading (or failing to read) any of them
            raise UserError(
                f"{self.run_dir} already holds a run (checkpoint {existing[-1].name}); continue it "
                "with resume=true, or choose a new folder"
            )
        try:
            loaded = (
                load_latest_checkpoint(ckpt_dir, map_location="cpu", required=CHECKPOINT_KEYS)
                if existing
                else None
            )
        except CheckpointError as e:
            way_on = (  # an extension: without checkpoints, a completed run has nothing to extend
                f"its result at step {previous['step']} stands; train longer in a new folder"
                if previous and previous.get("status") == "completed"
                else f"move {ckpt_dir} aside to train this run again from step 0 (resume=true "
                "then starts anew), or choose a new folder"
            )
            raise CheckpointError(f"{e}\nnone can be resumed from: {way_on}") from None
        if loaded:
            self._check_resumable(loaded[0])
            self._damaged = [p for p in existing if p.name > loaded[1].name]  # skipped
        elif cfg.resume:
            if previous:  # a run stopped before (or after losing) its checkpoints: same command?
                self._check_same_run(previous["config"])
            log.info("resume=true but no checkpoint in %s: starting from step 0", ckpt_dir)
        return loaded

    def _warn_of_a_run_all_warm_up(self) -> None:
        """A short run at the recipe's warm-up (400 steps, ResNet-110's) trains at warmup_lr
        throughout: trainer.lr and the milestones never come, unsaid."""
        t = self.t
        if t.warmup_steps >= t.max_steps:
            log.warning(
                "trainer.warmup_steps=%d covers the whole run (trainer.max_steps=%d): every "
                "step trains at trainer.warmup_lr=%g, none at trainer.lr=%g; a short run without "
                "the warm-up: trainer.warmup_steps=0",
                t.warmup_steps,
                t.max_steps,
                t.warmup_lr,
                t.lr,
            )

    def _warn_of_other_threads(self, previous: dict[str, Any]) -> None:
        """A CPU run continued on another number of threads: its sums split otherwise and round
        differently, and result.json records the new count alone."""
        before, now = previous.get("cpu_threads"), self.env["cpu_threads"]
        same_cpu = self.device.type == "cpu" and previous.get("device") == self.env["device"]
        if same_cpu and before is not None and before != now:
            log.warning(
                "the run trained on %d CPU threads and continues on %d: its weights will not "
                "be bitwise those of an uninterrupted run (torch.set_num_threads or "
                "OMP_NUM_THREADS=%d keeps them so)",
                before,
                now,
                before,
            )

    def _check_resumable(self, state: dict[str, Any]) -> None:
        self._check_same_run(state["config"])
        step = state["train_state"]["step"]
        if step > self.t.max_steps:
            raise ConfigError(
                f"the run in {self.run_dir} is at step {step}, past trainer.max_steps="
                f"{self.t.max_steps}: a resumed run's max_steps can grow, not fall below its step"
            )

    def _restore(self, state: dict[str, Any], path: Path) -> None:
        load_weights(self.model, state["model"], path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.batches.load_state_dict(state["batches"])
        torch.set_rng_state(state["rng"]["torch"])
        if self.device.type == "cuda":
            if (cuda := state["rng"].get("cuda")) is not None:
                torch.cuda.set_rng_state(cuda, self.device)
            else:  # saved on a CPU: the GPU's draws (dropout) anew, not the run's first again
                step = state["train_state"]["step"]
                torch.cuda.manual_seed(derive_seed(self.cfg.seed, f"cuda after step {step}"))
        saved = state["train_state"]
        known = {f.name for f in dataclasses.fields(TrainState)}
        if unknown := sorted(set(saved) - known):  # written by a newer version of the lab
            log.warning("ignoring train-state fields this version does not know: %s", unknown)
        self.state = TrainState(**{k: v for k, v in saved.items() if k in known})
        launched = state["config"].get("trainer", {}).get("max_steps")  # the checkpoint's launch
        self._last_launch_max_steps = self.t.max_steps if launched is None else int(launched)
        if "last_eval_step" not in saved:  # older versions evaluated before every checkpoint
            self.state.last_eval_step = self.state.step
        log.info("resumed from %s at step %d", path.name, self.state.step)

    def _check_same_run(self, saved: dict[str, Any]) -> None:
        now = flatten_keys(OmegaConf.to_container(self.cfg, resolve=True))
        before = with_schema_defaults(flatten_keys(config_as_trained(saved)))
        resumable = RESUMABLE_CHANGES
        # moved files, md5-checked: the same data (not where only their sizes are checked)
        if (
            now.get("data.verify")
            and before.get("data.verify")
            and now["data.name"] not in SIZE_CHECKED_ONLY
        ):
            resumable += ("data.root",)
        differences = [  # a key only the run has comes from an older lab: not compared
            key
            for key in sorted(set(now) & set(before))
            if key not in resumable and now[key] != before[key]
        ]
        if differences:
            detail = ", ".join(f"{k}: {before[k]!r} -> {now[k]!r}" for k in differences[:8])
            # the run's values as overrides: also those of a default the lab changed since,
            # which the original command did not give
            run_values = " ".join(pasteable_override(k, before[k]) for k in differences[:8])
            raise ResumeDiffers(
                f"resume=true with a different config than the run in {self.run_dir} ({detail}); "
                f"continue it as it trained with {run_values}, or start a new run",
                {key: value for key, value in now.items() if key not in resumable},
            )

    # -- the loop ----------------------------------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # no autocast cache: a CUDA graph must not keep casts made during its capture
        autocast = torch.autocast(
            self.device.type, torch.bfloat16, enabled=self.bf16, cache_enabled=not self.t.step_graph
        )
        with autocast:
            logits = self.model(x)
            loss = F.cross_entropy(logits, y)
        # zeros, not None (make_optimizer allocates them): a unit dropped by stochastic depth gets
        # momentum and weight decay, from the first step on
        self.optimizer.zero_grad(set_to_none=False)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (logits.argmax(1) != y).sum()

    def advance(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One iteration of the recipe: the lr of this step, the next batch, the step.
        Returns the step's loss and wrong-prediction count as device tensors (no sync); with
        CUDA graphs the next step overwrites them: add them up before it."""
        lr = lr_at(self.state.step, self.t)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.batches.next()
        x = x.contiguous(memory_format=self.memory_format)
        if self.step_graph is not None:
            loss, wrong = self.step_graph(x, y, lr)
        else:
            if self.uses_cuda_graphs:
                torch.compiler.cudagraph_mark_step_begin()
            loss, wrong = self.step_fn(x, y)
        self.state.step += 1
        self.state.images_seen += self.t.batch_size
        return loss, wrong

    def _loop(self, stop: _StopFlag) -> str:
        t, state = self.t, self.state
        self.model.train()
        window = _LogWindow(state, self.device)
        clock_start = self._clock_start = time.perf_counter() - state.elapsed_s
        status = "completed"
        with _progress_bar(t.progress, t.max_steps, state.step) as bar:
            try:
                self._finish_the_last_launch(window, bar, clock_start, stop)
                while state.step < t.max_steps and not stop.signum:
                    loss, wrong = self.advance()
                    window.add(loss, wrong)
                    bar.update(1)
                    last = state.step == t.max_steps
                    if state.step % t.log_every == 0 or last:
                        mean_loss = self._log_train(window, bar)
                        if not math.isfinite(mean_loss):
                            raise _NotFinite(f"loss is {mean_loss}")
                    if stop.signum:
                        break
                    if not self._evaluate_and_save(window, clock_start, stop, last):
                        break
            except _NotFinite as e:  # no checkpoint of it: the last one stands
                status = "diverged"
                state.extra["diverged_at_step"] = state.step
                log.warning("%s at step %d: run diverged", e, state.step)
        state.elapsed_s = time.perf_counter() - clock_start
        if stop.signum:
            self._checkpoint(window, clock_start, "interrupted")
            raise RunInterrupted(stop.signum)
        if status in FINAL_STATUSES:  # diverged too: Table 1's "fail" rows belong in the table
            try:  # before the final record: a kill after it left them out for good (a resume
                self._log_hparams(status)  # of a completed run does nothing)
            except Exception as e:  # the run is over: a TensorBoard extra must not fail it
                log.warning("TensorBoard hparams not written: %s: %s", type(e).__name__, e)
        self._write_result(status)
        return status

    def _finish_the_last_launch(
        self, window: _LogWindow, bar: Any, clock_start: float, stop: _StopFlag
    ) -> None:
        """What a resume owes the records before its first step: the log line of a run
        resumed at max_steps mid-window, and the evaluation a signal cut short at the
        checkpoint's step (redone, and kept): the final one of the last launch too, when this
        one trains further (its records are then a completed run's extended)."""
        if self.state.step == self.t.max_steps and window.steps:
            self._log_train(window, bar)
        if self._eval_due() or self._eval_due(self._last_launch_max_steps):
            with window.paused():
                if self._evaluate(stop):
                    self._checkpoint(window, clock_start, "running")

    def _evaluate_and_save(
        self, window: _LogWindow, clock_start: float, stop: _StopFlag, last: bool
    ) -> bool:
        """The evaluation and the checkpoint due after this step, their time left out of the
        throughput's; False when a signal cut the evaluation short."""
        evaluate = self._eval_due()
        save = self.state.step % self.t.ckpt_every == 0 or last
        if evaluate or save:
            with window.paused():
                if evaluate and not self._evaluate(stop):
                    return False
                if save:
                    self._checkpoint(window, clock_start, "running")
        return True

    def _log_train(self, window: _LogWindow, bar: Any) -> float:
        """One train line (metrics.jsonl, TensorBoard, progress bar); returns the mean loss."""
        mean_loss, train_error, throughput = window.read_and_reset(self.t.batch_size)
        lr = self.optimizer.param_groups[0]["lr"]
        self.state.last_train_loss, self.state.last_train_error = mean_loss, train_error
        self._log(
            {
                "train/loss": mean_loss,
                "train/error": train_error,
                "lr": lr,
                "throughput": throughput,
            }
        )
        bar.set_postfix(
            lr=f"{lr:.3g}",
            loss=f"{mean_loss:.3f}",
            err=f"{train_error:.1f}%",
            img_s=f"{throughput:.0f}",
        )
        return mean_loss

    def _eval_due(self, max_steps: int | None = None) -> bool:
        """Whether the step just taken is evaluated and is not yet (``max_steps``: a launch's
        other than this one's)."""
        s = self.state
        last = self.t.max_steps if max_steps is None else max_steps
        scheduled = eval_scheduled(s.step, self.t.eval_every, last)
        return scheduled and s.last_eval_step != s.step

    def _checkpoint(self, window: _LogWindow, clock_start: float, status: str) -> None:
        """Save everything to continue exactly, and the progress in result.json (a killed run's
        record then says how far it got)."""
        self.state.elapsed_s = time.perf_counter() - clock_start
        window.save_into(self.state)
        # what was logged up to the checkpoint is written first: a resume logs from it on
        self.metrics.sync()
        self.writer.flush()  # TensorBoard's queue, written by a thread of its own
        self._sync_events()
        self._save()
        self._write_result(status)

    def _sync_events(self) -> None:
        """The events file on the disk, as metrics.jsonl: a resume never logs the points before
        its checkpoint again, so after a power loss the curves kept a gap (TensorBoard's writer
        flushes, never syncs). Its name is the writer's own, not public: without it, nothing;
        a TensorBoard extra, which must not stop the run."""
        name = getattr(getattr(self.writer.file_writer, "event_writer", None), "_file_name", None)
        if not isinstance(name, str):
            return
        try:
            with open(name, "ab") as events:  # writable: Windows syncs no read-only handle
                os.fsync(events.fileno())
        except OSError as e:
            log.warning("TensorBoard's events not synced to the disk: %s", e)

    def _evaluate(self, stop: _StopFlag) -> bool:
        """Error on the eval split (and gate means; with trainer.test_at_best_val, the test
        set's error too); False when a signal cut it short."""
        model, data = self.model, self.data
        model.eval()
        gates = [m for m in model.modules() if isinstance(m, GateActivation)]
        gate_sums = torch.zeros(len(gates), device=self.device)
        try:
            with _summing_gates(gates, gate_sums):  # the gate means are the eval split's
                wrong = self._wrong_count(eval_batches(data, self.t.eval_batch_size), stop)
            test_wrong = torch.zeros_like(wrong)
            if data.test_labels is not None:
                batches = eval_batches(data, self.t.eval_batch_size, test_set=True)
                test_wrong = self._wrong_count(batches, stop)
        except _Cut:
            return False
        finally:
            model.train()
        # one host sync for the errors (each with its images of non-finite outputs) and gates
        images = len(data.eval_labels)
        wrong_total, not_finite, test_total, _, *gate_means = torch.cat(
            [wrong, test_wrong, gate_sums / images]
        ).tolist()
        if not_finite:
            raise _NotFinite(f"the net's outputs are not finite on {int(not_finite)} eval images")
        error = 100.0 * wrong_total / images
        state = self.state
        state.last_eval_step, state.last_eval_error = state.step, error
        record: dict[str, float] = {f"{data.eval_split}/error": error}
        if data.test_labels is not None:
            record["test/error"] = 100.0 * test_total / len(data.test_labels)
        if state.best_error is None or error < state.best_error:  # ties: the earlier stays
            state.best_error, state.best_step = error, state.step
            if data.test_labels is not None:  # trainer.test_at_best_val, beside val/error
                state.test_at_best_val = record["test/error"]
        for i, value in enumerate(gate_means):
            record[f"gate/unit_{i:03d}"] = value
        self._log(record)
        log.info("step %d: %s error %.2f%%", state.step, data.eval_split, error)
        return True

    def count_wrong(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Wrong predictions over ``batches`` in evaluation mode, as ``_evaluate`` counts them
        (the benchmark times evaluations with it); the model's mode is restored after."""
        training = self.model.training
        self.model.eval()
        try:
            return self._wrong_count(batches, _StopFlag())[0]
        finally:
            self.model.train(training)

    def _wrong_count(
        self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], stop: _StopFlag
    ) -> torch.Tensor:
        """:func:`~resnet_lab.evaluate.prediction_counts` over ``batches``, on the device (no
        sync); _Cut on a signal."""
        counts = torch.zeros(2, device=self.device, dtype=torch.long)
        with (
            torch.inference_mode(),
            torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16),
        ):
            for x, y in batches:
                if stop.signum:
                    raise _Cut
                counts += prediction_counts(
                    self.model(x.contiguous(memory_format=self.memory_format)), y
                )
        return counts

    # -- outputs -------------------------------------------------------------------------------
    def _log(self, record: dict[str, float]) -> None:
        step = self.state.step
        self.metrics.write({"step": step, **record})
        for tag, value in record.items():
            self.writer.add_scalar(tag, value, step)

    def _save(self) -> None:  # writes CHECKPOINT_KEYS
        rng = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
        }
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "batches": self.batches.state_dict(),
            "rng": rng,
            "train_state": vars(self.state),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "num_params": self.num_params,
            # what the net's input is normalised with: tools check the data they are given
            "input_statistics": {
                "mean": self.data.mean.cpu(),
                "std": None if self.data.std is None else self.data.std.cpu(),
            },
        }
        ckpt_dir, step = self.run_dir / "ckpt", self.state.step
        try:
            save_checkpoint(state, ckpt_dir, step, self.t.keep_checkpoints, self._damaged)
            self._damaged = []
        except OSError as e:  # a full disk's error names no file: name the checkpoint
            path = e.filename or str(checkpoint_path(ckpt_dir, step))
            raise OSError(e.errno, e.strerror, path) from e

    def _write_result(self, status: str, error: str | None = None) -> None:
        s, cfg = self.state, self.cfg
        wall = s.elapsed_s
        self.result = {
            "status": status,
            "experiment": OmegaConf.to_container(cfg.experiment, resolve=True),
            "seed": cfg.seed,
            "profile": cfg.profile,
            "step": s.step,
            "max_steps": self.t.max_steps,
            "eval_split": self.data.eval_split,
            "data_source": self.data.source,
            "final_test_error": s.last_eval_error if status == "completed" else None,
            "best_test_error": s.best_error,
            "best_step": s.best_step,
            "last_test_error": s.last_eval_error,
            "test_error_at_best_val": s.test_at_best_val,
            "final_train_error": s.last_train_error,
            "final_train_loss": s.last_train_loss,
            "diverged_at_step": s.extra.get("diverged_at_step"),
            "wall_time_s": wall,
            "images_per_s": s.images_seen / wall if wall > 0 else None,
            **self.env,
            "precision": self.t.precision,
            "num_params": self.num_params,
            "run_dir": str(self.run_dir),
            "started_at": self.started_at,
            "finished_at": None if status == "running" else now_iso(),
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        if error:
            self.result["error"] = error
        write_result(self.run_dir, self.result)

    def _start_hparams(self) -> None:
        """The run's row in TensorBoard's HParams table, from its start: a run still training
        (or interrupted) shows its latest errors there too; and the Custom Scalars chart. A
        resumed run's row is this launch's (the earlier ones' are dropped as the events open:
        TensorBoard would show the first launch's)."""
        from resnet_lab.hparams import custom_scalars_layout, start_records

        try:
            for record in start_records(self.cfg):
                self.writer.file_writer.add_summary(record, self.state.step)
            self.writer.add_custom_scalars(custom_scalars_layout())
        except Exception as e:  # a TensorBoard extra must not stop the run
            log.warning("TensorBoard hparams not written: %s: %s", type(e).__name__, e)

    def _log_hparams(self, status: str) -> None:
        final = self.state.last_eval_error if status == "completed" else None  # as result.json
        metrics = {
            "hparam/final_error": _nan_if_none(final),
            "hparam/best_error": _nan_if_none(self.state.best_error),
            "hparam/steps": self.state.step,
        }
        if self.t.test_at_best_val:  # the run's figure: final and best are validation errors
            metrics["hparam/test_error_at_best_val"] = _nan_if_none(self.state.test_at_best_val)
        from resnet_lab.hparams import end_record

        self.writer.file_writer.add_summary(end_record(status), self.state.step)
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, self.state.step)
        self.writer.flush()


class _LogWindow:
    """The steps since the last log line: loss and error sums kept on the device (one host sync
    per line), saved in checkpoints so a resumed run logs the lines an uninterrupted one does."""

    def __init__(self, state: TrainState, device: torch.device) -> None:
        self.loss_sum = torch.full((), state.window_loss, device=device)
        self.wrong_sum = torch.full((), state.window_wrong, device=device, dtype=torch.long)
        self.steps = state.window_steps
        self._device = device
        # this process's steps and time, for images/s, less the time evaluations and checkpoints
        # took (the throughput dipped in each window after one)
        self._timed_steps, self._start, self._paused_s = 0, time.perf_counter(), 0.0

    def add(self, loss: torch.Tensor, wrong: torch.Tensor) -> None:
        self.loss_sum += loss
        self.wrong_sum += wrong
        self.steps += 1
        self._timed_steps += 1

    def read_and_reset(self, batch_size: int) -> tuple[float, float, float]:
        """Mean loss, error in percent and images/s of the window (one host sync)."""
        loss_total, wrong_total = self._totals()  # first: the device finishes the window's steps
        now = time.perf_counter()
        mean_loss = loss_total / self.steps
        error = 100.0 * wrong_total / (self.steps * batch_size)
        elapsed = now - self._start - self._paused_s
        throughput = self._timed_steps * batch_size / max(elapsed, 1e-9)
        self.loss_sum.zero_()
        self.wrong_sum.zero_()
        self.steps, self._timed_steps = 0, 0
        self._start, self._paused_s = time.perf_counter(), 0.0
        return mean_loss, error, throughput

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Time spent in the block is not training time. The device first finishes the steps
        queued before it (one sync per evaluation or checkpoint, never in a step): theirs is."""
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        start = time.perf_counter()
        try:
            yield
        finally:
            self._paused_s += time.perf_counter() - start

    def save_into(self, state: TrainState) -> None:
        loss_total, wrong_total = self._totals()
        state.window_loss, state.window_wrong = loss_total, int(wrong_total)
        state.window_steps = self.steps

    def _totals(self) -> tuple[float, float]:
        """The loss and wrong-prediction sums, read in one host sync (float64 holds both
        exactly, the float32 loss sum and any count)."""
        totals = torch.stack([self.loss_sum.double(), self.wrong_sum.double()]).tolist()
        return totals[0], totals[1]


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


@contextlib.contextmanager
def _summing_gates(gates: list[nn.Module], sums: torch.Tensor) -> Iterator[None]:
    """Within the block, add each image's mean value of gate i to ``sums[i]``: divided by the
    image count, a short last batch weighs what its images weigh."""

    def hook_of(index: int) -> Any:
        def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
            sums[index] += output.float().sum() / output[0].numel()

        return hook

    hooks = [gate.register_forward_hook(hook_of(i)) for i, gate in enumerate(gates)]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


class _NoBar:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs: Any) -> None: ...


@contextlib.contextmanager
def _progress_bar(mode: str, total: int, initial: int) -> Iterator[Any]:
    """tqdm on a terminal (or when forced), the console's log lines printed above it (they were
    glued to the end of the bar's line); nothing under launchers, in logs, or on a terminal
    that cannot redraw a line (TERM=dumb: an editor's shell)."""
    dumb = os.environ.get("TERM") == "dumb"
    if mode == "none" or (mode == "auto" and (dumb or not sys.stderr.isatty())):
        yield _NoBar()
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with (
        logging_redirect_tqdm(),
        tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, smoothing=0.05) as bar,
    ):
        yield bar


def train(cfg: DictConfig, run_dir: str | Path) -> dict[str, Any]:
    """Train one run into ``run_dir`` (a path or its string, as the README shows it); returns
    the record written to result.json.

    The trainer is freed when this returns, not at a later garbage collection: a sweep's next
    job in this process must not find this one's net, data and CUDA graphs still on the GPU.
    (A process's first run is the exception: modules it imports first, torch._dynamo with its
    optimizer among them, keep the frames they were imported from in a cycle.)"""
    run_dir = Path(run_dir)
    made = not run_dir.exists()
    trainer = Trainer(cfg, run_dir)
    try:
        return trainer.fit()
    except UserError as e:
        if made and not isinstance(e, RunStopped):  # refused: the folder it made goes, empty
            with contextlib.suppress(OSError):
                run_dir.rmdir()
        raise
    finally:
        trainer.release_steps()
