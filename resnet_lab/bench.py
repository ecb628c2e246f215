"""Benchmark: resnet-lab's training step against a plain PyTorch loop, in one process.

Both train the same network, batch and device from the same initial weights. The plain loop is
what a first PyTorch script does (eager fp32, torchvision transforms in a DataLoader, ``.item()``
every step); the lab step is the trainer's own ``train_step`` fed by ``TrainBatches`` (data on the
device), with the trainer's levers. Contenders run in interleaved rounds so that load from other
jobs hits them alike; the median round counts. See docs/speed.md for what each lever changes.

    python -m resnet_lab.bench                        # CPU: ResNet-20, about 1 min on 2 idle cores
    python -m resnet_lab.bench --device cuda --variants --models 4 --out bench.json
"""

from __future__ import annotations

import argparse
import copy
import datetime
import itertools
import json
import os
import resource
import shlex
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from queue import Empty
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from resnet_lab.api import compose_config
from resnet_lab.checkpoint import atomic_write_text
from resnet_lab.command_line import cannot_make, override_problem
from resnet_lab.console import OneLineParser, given_path
from resnet_lab.data import (
    DeviceData,
    TrainBatches,
    eval_batches,
    input_statistics,
    load_data,
    train_rows,
)
from resnet_lab.device import resolve_device, set_cuda_math
from resnet_lab.errors import ConfigError, UserError
from resnet_lab.models import build_network
from resnet_lab.models.shortcuts import no_weight_decay
from resnet_lab.run_folder import environment
from resnet_lab.step_graph import WARMUP_STEPS as STEP_GRAPH_WARMUP
from resnet_lab.train import (
    GRAPH_MODES,
    Trainer,
    check_trainer_config,
    evaluations_in_run,
    lr_at,
    make_optimizer,
)

SCHEMA = "resnet-lab-bench/2"  # 2: each ratio the median of per-round ratios (1: of medians)
# Lever tokens of --variants, joined with "+" ("none" = the lab pipeline with no lever on).
LEVERS = {
    "cl": "channels_last memory format (trainer.channels_last)",
    "bf16": "bf16 autocast (trainer.precision=bf16): changes rounding",
    "tf32": "TensorFloat-32 convolutions and matmuls (trainer.precision=tf32; CUDA only): "
    "changes rounding",
    "compile": "torch.compile of the step (trainer.compile)",
    "graphs": "torch.compile with CUDA graphs (trainer.compile=true "
    "trainer.compile_mode=reduce-overhead; CUDA only)",
    "cudnn": "cuDNN autotuning (trainer.cudnn_benchmark; CUDA only)",
    "stepgraph": "the whole eager step as one CUDA graph (trainer.step_graph; CUDA only)",
}
COMPILE_TOKENS = {"compile": "default", "graphs": "reduce-overhead"}
CUDA_ONLY = ("graphs", "cudnn", "tf32", "stepgraph")
EVAL_TIMED = 1_000  # eval images timed per contender (at least one whole eval batch)
CIFAR_TRAIN, CIFAR_TEST = 50_000, 10_000  # CIFAR-10 and -100, which the synthetic data stand for
PREFETCH_FACTOR = 2  # batches each plain-loop DataLoader worker keeps ready (torch's default)
DEFAULT_VARIANTS = {
    "cpu": "none,cl,cl+bf16,cl+compile",
    "cuda": "none,cl,cl+cudnn,cl+tf32+cudnn,cl+bf16+cudnn,cl+compile+cudnn,"
    "cl+bf16+compile+cudnn,cl+stepgraph+cudnn,cl+bf16+stepgraph+cudnn",
}  # no `graphs` beside `stepgraph`: see _variant_levers
DEFAULTS = {  # depth, timed steps per round, warm-up steps
    "cpu": {"depth": 20, "steps": 10, "warmup": 3},
    "cuda": {"depth": 110, "steps": 50, "warmup": 10},
}


# ---------------------------------------------------------------------------------------------
# The lab's step


@dataclass(frozen=True)
class Levers:
    """The lab step's speed levers; all but bf16 and tf32 leave results unchanged (rounding).
    ``compile_mode`` None is eager; "reduce-overhead" is the ``graphs`` token."""

    channels_last: bool = True
    precision: str = "fp32"
    compile_mode: str | None = None
    cudnn_benchmark: bool = False
    step_graph: bool = False

    @classmethod
    def of(cls, t: DictConfig, device: torch.device) -> Levers:
        """The levers a trainer config turns on (cuDNN autotuning counts on CUDA only)."""
        return cls(
            channels_last=t.channels_last,
            precision=t.precision,
            compile_mode=t.compile_mode if t.compile else None,
            cudnn_benchmark=t.cudnn_benchmark and device.type == "cuda",
            step_graph=t.step_graph,
        )

    @classmethod
    def parse(cls, spec: str, device: torch.device) -> Levers:
        """``"cl+bf16+compile"`` -> Levers; ``"none"`` is the lab pipeline with every lever off."""
        if "=" in spec:  # `--variants key=value`: nargs="?" took a config override as the list
            raise ConfigError(
                f"--variants {spec!r} is a config override: put overrides before --variants, "
                "or give --variants its list"
            )
        tokens = [] if spec == "none" else spec.split("+")
        unknown = [t for t in tokens if t not in LEVERS]
        if unknown:
            raise ConfigError(
                f"--variants: unknown lever {unknown[0]!r} in {spec!r}; "
                f"use 'none' or levers joined by '+': {', '.join(LEVERS)}"
            )
        compiled = [t for t in tokens if t in COMPILE_TOKENS]
        if len(compiled) > 1:
            raise ConfigError(f"--variants {spec!r}: graphs already compiles; drop 'compile'")
        if compiled and "stepgraph" in tokens:
            raise ConfigError(
                f"--variants {spec!r}: stepgraph records the eager step; drop {compiled[0]!r}"
            )
        if device.type != "cuda" and any(t in CUDA_ONLY for t in tokens):
            raise ConfigError(f"--variants {spec!r}: {', '.join(CUDA_ONLY)} need CUDA")
        precisions = [t for t in tokens if t in ("bf16", "tf32")]
        if len(precisions) > 1:
            raise ConfigError(f"--variants {spec!r}: one precision at a time, bf16 or tf32")
        return cls(
            channels_last="cl" in tokens,
            precision=precisions[0] if precisions else "fp32",
            compile_mode=COMPILE_TOKENS[compiled[0]] if compiled else None,
            cudnn_benchmark="cudnn" in tokens,
            step_graph="stepgraph" in tokens,
        )

    @property
    def name(self) -> str:
        compiled = {v: k for k, v in COMPILE_TOKENS.items()}.get(
            self.compile_mode or "", f"compile={self.compile_mode}"
        )
        tokens = [
            token
            for token, on in (
                ("cl", self.channels_last),
                ("bf16", self.precision == "bf16"),
                ("tf32", self.precision == "tf32"),
                (compiled, self.compile_mode is not None),
                ("stepgraph", self.step_graph),
                ("cudnn", self.cudnn_benchmark),
            )
            if on
        ]
        return "+".join(tokens) or "none"

    def overrides(self) -> list[str]:
        return [
            f"trainer.channels_last={self.channels_last}",
            f"trainer.precision={self.precision}",
            f"trainer.compile={self.compile_mode is not None}",
            f"trainer.compile_mode={self.compile_mode or 'default'}",
            f"trainer.cudnn_benchmark={self.cudnn_benchmark}",
            f"trainer.step_graph={self.step_graph}",
        ]


def lab_trainer(cfg: DictConfig, data: DeviceData) -> Trainer:
    """A Trainer built exactly as a run builds it (``Trainer.build``), minus the run folder, so
    the benchmark and the tests time and check the trainer's own ``train_step``."""
    trainer = Trainer(cfg, Path(os.devnull))  # never fitted: the run folder is not used
    trainer.build(data)
    return trainer


def images_per_evaluation(cfg: DictConfig) -> int:
    """Images each evaluation of a CIFAR run covers: the 10,000 test images or the 5,000 held
    out (data.split=val), plus the test set with trainer.test_at_best_val; data.limit keeps
    the first N of each set."""
    sets = [
        CIFAR_TEST if cfg.data.split == "full" else CIFAR_TRAIN - train_rows(CIFAR_TRAIN, "val")
    ]
    if cfg.trainer.test_at_best_val:
        sets.append(CIFAR_TEST)
    limit = cfg.data.limit
    return sum(n if limit is None else min(n, limit) for n in sets)


def timed_eval_images(eval_images: int, batch_size: int) -> tuple[int, int]:
    """The eval batches and images an evaluation timing covers: the first whole batches that
    hold EVAL_TIMED images, or all there are."""
    batches = -(-EVAL_TIMED // batch_size)
    return batches, min(batches * batch_size, eval_images)


def lab_evaluation(trainer: Trainer) -> Callable[[], int]:
    """Part of an evaluation pass as a run makes it (evaluation mode, its eval batch size and
    levers): the first whole eval batches holding EVAL_TIMED images; returns how many images."""
    size = trainer.t.eval_batch_size
    count, images = timed_eval_images(len(trainer.data.eval_labels), size)

    def evaluate() -> int:
        trainer.count_wrong(itertools.islice(eval_batches(trainer.data, size), count))
        return images

    return evaluate


def lab_loop_step(trainer: Trainer) -> Callable[[], None]:
    """One iteration of ``Trainer._loop`` without its logging: ``Trainer.advance`` (lr, batch,
    step) and the on-device sums the loop keeps."""
    loss_sum = torch.zeros((), device=trainer.device)
    wrong_sum = torch.zeros((), device=trainer.device, dtype=torch.long)

    def step() -> None:
        loss, wrong = trainer.advance()
        loss_sum.add_(loss)
        wrong_sum.add_(wrong)

    return step


# ---------------------------------------------------------------------------------------------
# Several seeds of one configuration in one step


class StackedModels:
    """M independent networks of one config trained by one vmapped step (several seeds per GPU).

    Parameters and BatchNorm buffers are stacked along a new first dimension; each model sees its
    own batch. The loss is the SUM over models of each model's mean loss, so every model gets
    exactly the gradients it would get alone, and SGD (elementwise) over the stacked tensors
    updates each model as its own optimizer would. A GPU lever: on CPU it is slower than a loop.
    """

    def __init__(self, models: list[nn.Module], trainer_cfg: DictConfig, precision: str) -> None:
        if len(models) < 2:
            raise ConfigError(f"stacking needs at least 2 models, got {len(models)}")
        self.params, self.buffers = stack_module_state(models)
        self._base = copy.deepcopy(models[0]).to("meta")  # structure only, for functional_call
        self.device = next(iter(self.params.values())).device
        self.precision = precision
        self.trainer_cfg = trainer_cfg
        self.optimizer = make_optimizer(  # with zero grads
            self.params.items(), trainer_cfg, no_weight_decay(models[0])
        )

    def _forward(
        self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], x: torch.Tensor
    ) -> torch.Tensor:
        return functional_call(self._base, (params, buffers), (x,))

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [M, B, 3, 32, 32], y [M, B] -> per-model (mean loss, wrong count), no host sync."""
        with torch.autocast(self.device.type, torch.bfloat16, enabled=self.precision == "bf16"):
            logits = vmap(self._forward)(self.params, self.buffers, x)
            losses = F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="none")
            losses = losses.view_as(y).mean(1)
        self.optimizer.zero_grad(set_to_none=False)
        losses.sum().backward()
        self.optimizer.step()
        return losses.detach(), (logits.argmax(2) != y).sum(1)


def build_stacked(cfg: DictConfig, seeds: list[int], device: torch.device) -> StackedModels:
    """The networks the trainer would build for these seeds, stacked into one."""
    models = []
    for seed in seeds:
        torch.manual_seed(seed)  # as Trainer.build seeds before building
        models.append(build_network(cfg).to(device))
    return StackedModels(models, cfg.trainer, cfg.trainer.precision)


def stacked_loop_step(stacked: StackedModels, batches: list[TrainBatches]) -> Callable[[], None]:
    """One iteration for all stacked models, as ``Trainer.advance`` does it for one: the lr of
    the step, one batch per model's own stream, the step."""
    m = len(batches)
    loss_sum = torch.zeros(m, device=stacked.device)
    wrong_sum = torch.zeros(m, device=stacked.device, dtype=torch.long)
    count = 0

    def step() -> None:
        nonlocal count
        for group in stacked.optimizer.param_groups:
            group["lr"] = lr_at(count, stacked.trainer_cfg)
        count += 1
        xs, ys = zip(*(b.next() for b in batches), strict=True)
        loss, wrong = stacked.step(torch.stack(xs), torch.stack(ys))
        loss_sum.add_(loss)
        wrong_sum.add_(wrong)

    return step


# ---------------------------------------------------------------------------------------------
# Several seeds of one configuration as concurrent processes


def _process_worker(
    overrides: list[str], warmup: int, steps: int, threads: int | None, barrier: Any, queue: Any
) -> None:
    """One of several concurrent runs: build the lab step as a run does, warm up, wait for the
    others, then time ``steps`` steps on a clock all processes share (CLOCK_MONOTONIC)."""
    try:
        if threads:
            torch.set_num_threads(threads)
        cfg = compose_config(overrides)
        trainer = lab_trainer(cfg, load_data(cfg.data, resolve_device(cfg.trainer.device)))
        step = lab_loop_step(trainer)
        for _ in range(warmup_steps(warmup, trainer.step_graph is not None)):
            step()
        _sync(trainer.device)
        barrier.wait()
        start = time.monotonic()
        for _ in range(steps):
            step()
        _sync(trainer.device)
        queue.put({"start": start, "end": time.monotonic(), "images": steps * trainer.t.batch_size})
    except BaseException as e:  # tell the parent, and free the processes waiting at the barrier
        barrier.abort()
        queue.put({"error": failure(e)})


def concurrent_processes(
    overrides: list[str], processes: int, warmup: int, steps: int, threads: int | None
) -> dict[str, Any]:
    """Aggregate images/s of ``processes`` runs (seeds s, s+1, ...) training at once as separate
    processes, as ``hydra/launcher=parallel`` runs them on one device. Timed from the moment all
    are warm until the last one finishes."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # CUDA cannot be forked
    barrier, queue = ctx.Barrier(processes), ctx.Queue()
    seed = compose_config(overrides).seed
    workers = [
        ctx.Process(
            target=_process_worker,
            args=([*overrides, f"seed={seed + i}"], warmup, steps, threads, barrier, queue),
        )
        for i in range(processes)
    ]
    for w in workers:
        w.start()
    reports: list[dict[str, Any]] = []
    died: set[int] = set()
    try:
        while len(reports) < processes:
            try:
                reports.append(queue.get(timeout=1.0))
            except Empty:  # a process killed outright (e.g. out of memory) never reports
                for i, w in enumerate(workers):
                    if w.exitcode not in (None, 0) and i not in died:
                        died.add(i)
                        barrier.abort()  # the others stop waiting for it
                        reports.append({"error": f"a process died with exit code {w.exitcode}"})
    finally:
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()
    errors = sorted({r["error"] for r in reports if "error" in r})
    if errors:
        return {"processes": processes, "error": "; ".join(errors)}
    wall = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return {
        "processes": processes,
        "images_per_s": sum(r["images"] for r in reports) / wall,
        "per_process_images_per_s": [r["images"] / (r["end"] - r["start"]) for r in reports],
        "wall_s": wall,
    }


# ---------------------------------------------------------------------------------------------
# The plain PyTorch reference loop


class ArrayCIFAR(torch.utils.data.Dataset):
    """torchvision's CIFAR10 ``__getitem__`` on in-memory arrays: HWC uint8 -> PIL -> transform."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable) -> None:
        self.images = np.ascontiguousarray(images.transpose(0, 2, 3, 1))  # NCHW -> NHWC, as CIFAR10
        self.labels = labels.tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), self.labels[index]


def plain_loader(
    data: DeviceData, batch_size: int, workers: int, pin_memory: bool, seed: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The usual CIFAR DataLoader (crop with padding 4, flip, ToTensor, Normalize), never ending.

    One sampler spans every step of the benchmark, so no epoch restart (worker start-up) is timed:
    this favours the plain loop.
    """
    from torchvision import transforms

    images = data.train_images.cpu().numpy()
    mean, std = input_statistics(data.train_images.cpu(), "channel_mean_std")
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(mean.flatten().tolist(), std.flatten().tolist()),
        ]
    )
    dataset = ArrayCIFAR(images, data.train_labels.cpu().numpy(), transform)
    sampler = torch.utils.data.RandomSampler(
        dataset, num_samples=len(dataset) * 10_000, generator=torch.Generator().manual_seed(seed)
    )
    return iter(
        torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=pin_memory,
            drop_last=True,
            persistent_workers=workers > 0,
            prefetch_factor=PREFETCH_FACTOR if workers > 0 else None,
        )
    )


def batches_ready(workers: int) -> int:
    """The batches the plain loop's workers may hold made, ahead of its step: a round that
    drew on them would time loading that happened before it."""
    return workers * PREFETCH_FACTOR


def plain_loop_step(
    cfg: DictConfig, loader: Iterator[tuple[torch.Tensor, torch.Tensor]], device: torch.device
) -> Callable[[], None]:
    """A textbook step: eager fp32, contiguous, batch copied from the host, ``.item()`` per step."""
    torch.manual_seed(cfg.seed)
    model = build_network(cfg).to(device)
    model.train()
    optimizer = make_optimizer(model.named_parameters(), cfg.trainer, no_weight_decay(model))
    losses: list[float] = []

    def step() -> None:
        x, y = next(loader)
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())

    return step


def plain_contender(
    cfg: DictConfig,
    loader: Iterator[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    workers: int,
) -> Contender:
    """The plain loop, which before each round runs, untimed, as many steps as its loader's
    workers may hold batches made (see ``Contender.before_round``)."""
    step = plain_loop_step(cfg, loader, device)
    ready = batches_ready(workers)
    return Contender(
        "plain PyTorch loop",
        step,
        cfg.trainer.batch_size,
        f"eager fp32, {workers} workers",
        before_round=lambda: _untimed(step, ready),
    )


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class Contender:
    name: str
    step: Callable[[], None] | None  # None when building it failed (see error)
    images_per_step: int
    levers: str = ""
    lab_levers: Levers | None = None  # the lab's levers it runs with (sets cuDNN autotuning)
    runs: int = 1  # models trained at once
    error: str | None = None
    warmup_steps: int = 0  # untimed steps it ran (a step graph: at least its capture's)
    warmup_s: float = 0.0
    round_s: list[float] = field(default_factory=list)
    peak_memory: int | None = None  # CUDA: peak bytes allocated while it ran
    step_memory: int | None = None  # CUDA: that peak minus what was allocated before its steps
    evaluate: Callable[[], int] | None = None  # a lab contender's evaluation pass
    eval_s: float | None = None  # seconds for one evaluation of a run (images_per_evaluation)
    # untimed, before each round: the plain loop runs as many steps as its loader's workers
    # hold batches, so that its round starts with the queue its own steps leave (batches made
    # while the others ran would be free; dropping them made each round wait for a batch
    # where the loader outpaces the step, as on the H200)
    before_round: Callable[[], None] | None = None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _run_steps(c: Contender, steps: int, device: torch.device) -> float:
    """Seconds for ``steps`` steps, synchronized before each clock read."""
    assert c.step is not None
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        c.step()
    _sync(device)
    return time.perf_counter() - start


def _use_math_of(c: Contender, device: torch.device) -> None:
    """On CUDA, the contender's own float32 math and cuDNN autotuning (none for the plain loop)."""
    if device.type == "cuda":
        lv = c.lab_levers
        set_cuda_math(
            tf32=lv is not None and lv.precision == "tf32",
            cudnn_benchmark=lv is not None and lv.cudnn_benchmark,
        )


def time_evaluations(contenders: list[Contender], device: torch.device, images: int) -> None:
    """Each lab contender's evaluation of ``images`` images (``eval_s``), scaled from its timed
    part: once untimed, once timed; one that fails is reported, and the others still timed."""
    for c in contenders:
        if c.evaluate is None or c.step is None:
            continue
        try:
            _use_math_of(c, device)
            c.evaluate()
            _sync(device)
            start = time.perf_counter()
            timed = c.evaluate()
            _sync(device)
        except Exception as e:
            reason = failure(e, smaller="trainer.eval_batch_size")
            print(f"  {c.name}: evaluation failed: {reason}", file=sys.stderr)
            continue
        c.eval_s = (time.perf_counter() - start) * images / timed


def warmup_steps(warmup: int, step_graph: bool) -> int:
    """Untimed steps before a contender's rounds: a step graph's eager warm-up steps and its
    capture among them, however few ``--warmup`` asks for (else round 1 would time a capture)."""
    return max(warmup, STEP_GRAPH_WARMUP + 1) if step_graph else warmup


def failure(e: BaseException, smaller: str = "--batch-size") -> str:
    """A contender's failure in a line; running out of memory is the batch's fault, which the
    allocator's own words (a C++ source line, a byte count) leave the user to work out."""
    text = str(e)
    if isinstance(e, torch.OutOfMemoryError) or "can't allocate memory" in text:
        return f"out of memory: give a smaller {smaller} ({type(e).__name__}: {text})"
    return f"{type(e).__name__}: {text}"


def measure(
    contenders: list[Contender], steps: int, warmup: int, rounds: int, device: torch.device
) -> None:
    """Warm every contender up, then time them in interleaved rounds (load hits all alike).

    On CUDA each contender runs with its own float32 math and cuDNN autotuning (the plain loop:
    IEEE float32, no autotuning), and its peak memory counts the warm-up too, where CUDA graphs
    take theirs. Progress goes to stderr as it comes, so a benchmark stopped by a time limit
    still says how far it got."""
    cuda = device.type == "cuda"

    def timed(c: Contender, count: int, phase: str, round_: bool = False) -> float | None:
        """Seconds for ``count`` steps (a round's after its untimed ``before_round``); None,
        with the contender marked failed, when they raise (a lever that fails, e.g. compile,
        or a loader whose worker died, must not stop the others)."""
        try:
            _use_math_of(c, device)  # the untimed steps before a round run as the timed ones
            if round_ and c.before_round is not None:
                c.before_round()
            if cuda:
                _sync(device)
                before = torch.cuda.memory_allocated(device)
                torch.cuda.reset_peak_memory_stats(device)
            seconds = _run_steps(c, count, device)
        except Exception as e:
            c.step, c.error, c.round_s = None, failure(e), []
            print(f"  {c.name}: failed in {phase}: {c.error}", file=sys.stderr)
            return None
        if cuda:
            peak = torch.cuda.max_memory_allocated(device)
            c.peak_memory = max(c.peak_memory or 0, peak)
            c.step_memory = max(c.step_memory or 0, peak - before)
        return seconds

    def step_graph(c: Contender) -> bool:
        return c.lab_levers is not None and c.lab_levers.step_graph

    for c in [c for c in contenders if c.step is not None]:
        c.warmup_steps = warmup_steps(warmup, step_graph(c))
        seconds = timed(c, c.warmup_steps, "warm-up")
        if seconds is not None:
            c.warmup_s = seconds
            print(
                f"  {c.name}: warm-up {c.warmup_steps} steps, {seconds:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    for r in range(rounds):
        rates = []
        for c in [c for c in contenders if c.step is not None]:
            seconds = timed(c, steps, f"round {r + 1}", round_=True)
            if seconds is not None:
                c.round_s.append(seconds)
                rates.append(f"{c.name} {c.images_per_step * steps / seconds:.0f}")
        print(f"  round {r + 1}/{rounds} (img/s): {', '.join(rates)}", file=sys.stderr, flush=True)


def _untimed(call: Callable[[], Any], count: int) -> None:
    for _ in range(count):
        call()


def time_data_pipeline(
    batches: TrainBatches,
    loader: Iterator[Any],
    steps: int,
    device: torch.device,
    loader_ready: int = 0,
) -> dict[str, float]:
    """Milliseconds per batch of TrainBatches.next() alone, and of the plain DataLoader alone.

    ``loader_ready``: batches the loader's workers may hold ready (:func:`batches_ready`),
    taken before the clock starts: they were made while the timed rounds ran, and would make the
    loader look up to that many batches faster."""
    out = {}
    for name, get, untimed in (
        ("lab_batch_ms", batches.next, 1),
        ("plain_loader_batch_ms", loader.__next__, 1 + loader_ready),
    ):
        _untimed(get, untimed)
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            get()
        _sync(device)
        out[name] = 1000 * (time.perf_counter() - start) / steps
    return out


# ---------------------------------------------------------------------------------------------
# Command line


def _at_least_two(text: str) -> int | None:
    """--models and --processes compare several seeds at once with one: 1 would time nothing
    (0 turns the comparison off, e.g. after benchmarks/gpu_session.sh's own value)."""
    try:
        value = int(text)
    except ValueError:  # argparse would name this function in its message
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value == 0:
        return None
    if value < 2:
        raise argparse.ArgumentTypeError(
            f"must be at least 2 (seeds trained at once), or 0 for none; got {text}"
        )
    return value


def _parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="python -m resnet_lab.bench",
        description="Time resnet-lab's training step against a plain PyTorch loop (same net, "
        "batch and device) and print images/s, their ratio, peak memory and the time of a full "
        "run. Defaults: ResNet-20 on CPU, ResNet-110 on CUDA.",
    )
    p.add_argument(
        "overrides",
        nargs="*",
        help="more config overrides as on the resnet-lab command line, e.g. shortcut=gate "
        "data=cifar10 (default data: synthetic)",
    )
    p.add_argument("--depth", type=int, help="network depth (default 20 on CPU, 110 on CUDA)")
    p.add_argument("--width", type=int, default=16, help="channels of the first conv (16)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, help="timed steps per round (10 on CPU, 50 on CUDA)")
    p.add_argument(
        "--warmup",
        type=int,
        help="untimed steps first (3 on CPU, 10 on CUDA; a step graph at least "
        f"{STEP_GRAPH_WARMUP + 1}: its eager warm-up and its capture)",
    )
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median counts")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=("fp32", "tf32", "bf16"), default="fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the lab's step")
    p.add_argument("--no-channels-last", action="store_true", help="lab step in NCHW layout")
    p.add_argument(
        "--variants",
        nargs="?",
        const="default",
        metavar="LIST",
        help="also time these lever combinations of the lab step, comma-separated, each 'none' "
        "or levers joined by '+' ("
        + "; ".join(f"{k}: {v}" for k, v in LEVERS.items())
        + f"); alone: {DEFAULT_VARIANTS['cpu']} on CPU, {DEFAULT_VARIANTS['cuda']} on CUDA",
    )
    p.add_argument(
        "--models",
        type=_at_least_two,
        metavar="M",
        help="also time M >= 2 seeds trained at once by one vmapped step (aggregate images/s); "
        "0: none",
    )
    p.add_argument(
        "--processes",
        type=_at_least_two,
        metavar="P",
        help="also time P >= 2 seeds trained at once as separate processes (as "
        "hydra/launcher=parallel runs them), against one such process (aggregate images/s); "
        "0: none",
    )
    p.add_argument(
        "--workers",
        type=int,
        help="DataLoader workers of the plain loop (0 on CPU: the step uses every core; "
        "min(4, cores) on CUDA)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice); on a busy CPU, fewer threads than "
        "cores avoids stalls at every parallel op",
    )
    p.add_argument("--out", type=given_path, metavar="FILE.json", help="save the numbers as JSON")
    return p


MOST_AT_ONCE = 64  # seeds, processes or loader workers: far past any comparison (a GPU machine's
# processes mostly wait on the GPU, so not bound by its cores), short of flooding the machine


def _check_counts(args: argparse.Namespace) -> None:
    """Counts within reach: 100000 threads, workers or processes crashed, hung or flooded the
    machine before any timing (a fuzz)."""
    keys = ("depth", "width", "batch_size", "steps", "warmup", "rounds", "workers", "threads")
    for key in keys:  # --models and --processes: their floor is checked as they are parsed
        value = getattr(args, key)
        floor = 0 if key in ("warmup", "workers") else 1
        if value is not None and value < floor:
            raise ConfigError(f"--{key.replace('_', '-')}={value} must be at least {floor}")
    cores = os.cpu_count() or 1
    for key, most, why in (
        ("threads", cores, f"more than this machine's {cores} cores"),
        ("workers", MOST_AT_ONCE, f"more than {MOST_AT_ONCE} loader processes"),
        ("processes", MOST_AT_ONCE, f"more than {MOST_AT_ONCE} runs at once"),
        ("models", MOST_AT_ONCE, f"more than {MOST_AT_ONCE} seeds in one stacked step"),
    ):
        value = getattr(args, key)
        if value is not None and value > most:
            raise ConfigError(f"--{key}={value} is {why}")


def _fmt_ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _fmt_duration(hours: float) -> str:
    """Minutes below two hours (a GPU run's 15.2 min printed as 0.3 h hid the issue's target)."""
    return f"{60 * hours:.1f} min" if hours < 2 else f"{hours:.1f} h"


def _fmt_bytes(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:,.0f} MiB"


def _lab_contender(
    name: str, cfg: DictConfig, data: DeviceData, levers: Levers
) -> tuple[Contender, Trainer | None]:
    try:
        trainer = lab_trainer(cfg, data)
        step = lab_loop_step(trainer)
    except UserError:  # a config that cannot exist (e.g. tf32 on a CPU) is the user's to fix
        raise
    except Exception as e:  # report the lever that cannot be built, time the others
        error = failure(e)
        c = Contender(name, None, cfg.trainer.batch_size, levers.name, levers, error=error)
        return c, None
    c = Contender(name, step, cfg.trainer.batch_size, levers.name, levers)
    c.evaluate = lab_evaluation(trainer)
    return c, trainer


def round_ratios(a: dict[str, Any], b: dict[str, Any]) -> list[float] | None:
    """a's images/s over b's in each round; None where either failed."""
    if "round_images_per_s" not in a or "round_images_per_s" not in b:
        return None
    pairs = zip(a["round_images_per_s"], b["round_images_per_s"], strict=True)
    return [x / y for x, y in pairs]


def paired_ratio(a: dict[str, Any], b: dict[str, Any]) -> float | None:
    """a's speed over b's: the median of their per-round ratios. Rounds are interleaved so
    that a load hits both alike within a round; a ratio of the two medians could pair one's
    quiet round with the other's busy one. None where either failed."""
    ratios = round_ratios(a, b)
    return None if ratios is None else statistics.median(ratios)


def _result(c: Contender, steps: int, max_steps: int, plain: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "levers": c.levers, "models": c.runs}
    if not c.round_s:
        return {**out, "error": c.error}
    step_s = statistics.median(c.round_s) / steps
    rounds = [c.images_per_step * steps / s for s in c.round_s]
    return {
        **out,
        "images_per_s": c.images_per_step / step_s,
        "ms_per_step": 1000 * step_s,
        "round_images_per_s": rounds,
        "vs_plain": paired_ratio({"round_images_per_s": rounds}, plain),  # None: plain failed
        "warmup_steps": c.warmup_steps,
        "warmup_s": c.warmup_s,
        "peak_memory_bytes": c.peak_memory,
        "step_memory_bytes": c.step_memory,
        "full_run_hours": max_steps * step_s / 3600,  # all `models` runs together
    }


def _add_evaluations(
    results: list[dict[str, Any]], contenders: list[Contender], evaluations: int
) -> None:
    """A run's time with its ``evaluations`` (every trainer.eval_every steps and at the end) for
    each timed contender whose evaluation was timed."""
    for r, c in zip(results, contenders, strict=True):
        if c.eval_s is not None and "full_run_hours" in r:
            r["eval_s"] = c.eval_s
            r["evaluations"] = evaluations
            r["full_run_with_eval_hours"] = r["full_run_hours"] + evaluations * c.eval_s / 3600


def lever_effects(results: list[dict[str, Any]], levers: dict[str, Levers]) -> list[dict[str, Any]]:
    """Each lever's speed-up: a measured lab variant against the same variant without it."""
    by_levers = {
        levers[r["name"]]: r for r in results if r["name"] in levers and "images_per_s" in r
    }
    effects = []
    for lv, r in by_levers.items():
        pairs = [
            ("cl", replace(lv, channels_last=False)),
            (lv.precision, replace(lv, precision="fp32")),
            ("cudnn", replace(lv, cudnn_benchmark=False)),
            ("stepgraph", replace(lv, step_graph=False)),
        ]
        if lv.compile_mode is not None:  # compiled (with or without graphs) vs eager
            pairs.append(
                (
                    "compile" if lv.compile_mode == "default" else "graphs",
                    replace(lv, compile_mode=None),
                )
            )
        if lv.compile_mode == "reduce-overhead":  # what CUDA graphs add to compile alone
            pairs.append(("graphs over compile", replace(lv, compile_mode="default")))
        for token, off in pairs:
            if off != lv and off in by_levers:
                effects.append(
                    {
                        "lever": token,
                        "from": off.name,
                        "to": lv.name,
                        "speedup": paired_ratio(r, by_levers[off]),
                    }
                )
    return effects


def _print_evaluations(report: dict[str, Any], runs: str) -> None:
    """Each lab contender's time per evaluation and a run's training and evaluating minutes."""
    s = report["settings"]
    evaluated = [r for r in report["results"] if "eval_s" in r]
    if evaluated:
        print(
            f"\nwith evaluations ({evaluated[0]['evaluations']} per run, each of "
            f"{s['images_per_evaluation']:,} images at batch {s['eval_batch_size']:,}; timed on "
            f"{s['eval_images_timed']:,}):"
        )
        for r in evaluated:
            train_min, all_min = 60 * r["full_run_hours"], 60 * r["full_run_with_eval_hours"]
            print(
                f"  {r['name']:<32} {r['eval_s']:.2f} s per evaluation; a {runs}-step run "
                f"{train_min:.1f} min training + {all_min - train_min:.1f} min evaluating"
            )


def _print_report(report: dict[str, Any]) -> None:
    s = report["settings"]
    longest = max((r.get("warmup_steps", 0) for r in report["results"]), default=0)
    more = f" ({longest} for a step graph: its capture too)" if longest > s["warmup"] else ""
    print(
        f"\nResNet-{s['depth']} (width {s['width']}), batch {s['batch_size']}, {s['steps']} timed "
        f"steps x {s['rounds']} rounds after {s['warmup']} warm-up{more}, on {report['device']}"
    )
    load = report["load_average"]
    print(
        f"torch {report['versions']['torch']}, {report['cpu_threads']} CPU threads, "
        f"load average {load['before'][0]:.2f} before / {load['after'][0]:.2f} after"
    )
    steps = s["max_steps"]
    runs = f"{steps // 1000}k" if steps % 1000 == 0 else f"{steps:,}"  # 64k; 195,500
    header = f"{'contender':<34}{'levers':<24}{'img/s':>9}{'ms/step':>9}{'vs plain':>9}"
    cuda = report["device_type"] == "cuda"
    if cuda:
        header += f"{'peak mem':>11}{'step mem':>11}"
    print(header + f"{f'{runs} steps':>14}")
    for r in report["results"]:
        if "images_per_s" not in r:
            print(f"{r['name']:<34}{r['levers']:<24}failed: {r['error']}")
            continue
        line = (
            f"{r['name']:<34}{r['levers'][:23]:<24}{r['images_per_s']:>9.1f}"
            f"{r['ms_per_step']:>9.1f}{_fmt_ratio(r['vs_plain']):>9}"
        )
        if cuda:
            line += (
                f"{_fmt_bytes(r['peak_memory_bytes']):>11}{_fmt_bytes(r['step_memory_bytes']):>11}"
            )
        runs_of = f"/{r['models']}" if r["models"] > 1 else ""
        print(line + f"{_fmt_duration(r['full_run_hours']) + runs_of:>14}")
    _print_evaluations(report, runs)
    if report["ratio"] is not None:
        spread = ", ".join(f"{r:.2f}" for r in report["round_ratios"])
        print(f"\nlab step / plain loop: {report['ratio']:.2f}x images/s (per round: {spread})")
    for e in report["lever_effects"]:
        print(f"  lever {e['lever']:<8} {e['speedup']:.2f}x  ({e['from']} -> {e['to']})")
    d = report["data_pipeline"]
    if d:
        print(
            f"data: TrainBatches.next() {d['lab_batch_ms']:.2f} ms/batch = "
            f"{100 * d['lab_fraction_of_step']:.1f}% of a lab step; plain DataLoader alone "
            f"{d['plain_loader_batch_ms']:.1f} ms/batch ({s['workers']} workers)"
        )
    if report["stacked"]:
        st = report["stacked"]
        print(
            f"{st['models']} seeds stacked: {st['images_per_s']:.1f} img/s aggregate = "
            f"{st['vs_one_lab_run']:.2f}x one lab run ({st['note']})"
        )
    if report["processes"]:
        pr = report["processes"]
        together, alone = pr["together"], pr["alone"]
        if "vs_one_process" in pr:
            print(
                f"{together['processes']} seeds as concurrent processes: "
                f"{together['images_per_s']:.1f} img/s aggregate = {pr['vs_one_process']:.2f}x "
                f"one process alone ({alone['images_per_s']:.1f} img/s)"
            )
        else:
            print(f"concurrent processes failed: {together.get('error') or alone.get('error')}")
    if not cuda:
        print(f"peak memory: {_fmt_bytes(report['max_rss_bytes'])} ({report['memory_note']})")


# Settings the benchmark takes from its own options: an override of one would silently win over
# the option (or, for the device, contradict the timing set-up)
SET_BY_OPTIONS = {
    "model.depth": "--depth",
    "model.width": "--width",
    "trainer.batch_size": "--batch-size",
    "trainer.device": "--device",
    "trainer.channels_last": "--no-channels-last",
    "trainer.precision": "--precision",
    "trainer.compile": "--compile",
}
# Settings that would make the lab's step compute another thing than the plain loop's
NOT_BENCHMARKED = {"trainer.bn_group": "the plain loop it is timed against has whole-batch BN"}


def _check_overrides(overrides: list[str]) -> None:
    if problem := override_problem(overrides):
        raise UserError(problem)
    for override in overrides:
        key = override.split("=", 1)[0].lstrip("+~")
        if key in SET_BY_OPTIONS:
            option = SET_BY_OPTIONS[key]
            raise UserError(f"{override}: give it as {option}, the option that sets it")
        if key in NOT_BENCHMARKED:
            raise UserError(f"{override}: not benchmarked ({NOT_BENCHMARKED[key]})")


def _enough_eval_images(cfg: DictConfig) -> None:
    """Synthetic data get at least the whole eval batches the evaluation timing takes (the
    default synthetic test set, 512 images, is smaller than one eval batch)."""
    if cfg.data.name == "synthetic":
        t = cfg.trainer
        size = max(cfg.data.synthetic_test_size, EVAL_TIMED, t.eval_batch_size)
        cfg.data.synthetic_test_size = size


def _bench(args: argparse.Namespace, command: str) -> int:
    _check_counts(args)
    _check_overrides(args.overrides)
    device = resolve_device(args.device, "--device")
    _check_out(args.out)  # after the other options: a refusal leaves no folder behind
    kind = "cuda" if device.type == "cuda" else "cpu"
    defaults = DEFAULTS[kind]
    depth = args.depth or defaults["depth"]
    steps = args.steps or defaults["steps"]
    warmup = defaults["warmup"] if args.warmup is None else args.warmup
    workers = args.workers
    if workers is None:
        workers = 0 if kind == "cpu" else min(4, os.cpu_count() or 1)
    base = [
        "data=synthetic",
        f"model.depth={depth}",
        f"model.width={args.width}",
        f"trainer.batch_size={args.batch_size}",
        f"trainer.device={device}",
        # one lr throughout: a compiled step recompiles when the lr changes (the warm-up's end),
        # which must not land in a timed round; the lr does not change a step's speed
        "trainer.warmup_steps=0",
    ]
    requested = [
        f"trainer.channels_last={not args.no_channels_last}",
        f"trainer.precision={args.precision}",
        f"trainer.compile={args.compile}",
    ]
    lab_overrides = [*base, *requested, *args.overrides]
    cfg = compose_config(lab_overrides)
    check_trainer_config(cfg)  # before the plain loop, which torch.optim refuses with a trace
    if not cfg.data.augment:
        raise UserError(
            "data.augment=false: not benchmarked (the plain loop it is timed against crops and "
            "flips every batch)"
        )
    t = cfg.trainer
    main_levers = Levers.of(t, device)
    _enough_eval_images(cfg)
    variants = _variant_levers(args.variants, device, main_levers)

    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    if load_before[0] > (os.cpu_count() or 1) / 2:
        print(
            f"warning: load average {load_before[0]:.1f} on {os.cpu_count()} cores: other jobs "
            "slow every contender; the interleaved rounds keep their ratios comparable, not the "
            "absolute figures",
            file=sys.stderr,
        )
    env = environment(device)
    print(f"{command}\nbuilding on {env['device']} ...", file=sys.stderr)
    data = load_data(cfg.data, device)
    if t.batch_size > (images := len(data.train_labels)):  # the plain loop's sampler ran dry
        raise UserError(
            f"--batch-size={t.batch_size} is larger than the {images} training images: not "
            "benchmarked (a batch would hold images more than once)"
        )
    loader = plain_loader(data, t.batch_size, workers, kind == "cuda", cfg.seed)
    contenders = [plain_contender(cfg, loader, device, workers)]
    lab, trainer = _lab_contender("lab step (trainer config)", cfg, data, main_levers)
    contenders.append(lab)
    levers = {lab.name: main_levers}
    for lv in variants:
        name = f"lab variant {lv.name}"
        c, _ = _lab_contender(
            name, compose_config([*base, *args.overrides, *lv.overrides()]), data, lv
        )
        contenders.append(c)
        levers[name] = lv
    if args.models:
        contenders.append(_stacked_contender(cfg, args.models, data, device, main_levers))
    measure(contenders, steps, warmup, args.rounds, device)
    eval_images = images_per_evaluation(cfg)
    time_evaluations(contenders, device, eval_images)

    plain = _result(contenders[0], steps, t.max_steps, {})
    results = [_result(c, steps, t.max_steps, plain) for c in contenders]
    _add_evaluations(results, contenders, evaluations_in_run(t))
    lab_result = results[1]
    data_pipeline = None
    if trainer is not None and "images_per_s" in lab_result:
        data_pipeline = time_data_pipeline(
            trainer.batches, loader, steps, device, loader_ready=batches_ready(workers)
        )
        data_pipeline["lab_fraction_of_step"] = (
            data_pipeline["lab_batch_ms"] / lab_result["ms_per_step"]
        )
    stacked_result = None
    if args.models:
        stacked_result = _stacked_summary(args.models, results[-1], lab_result, kind)
    processes_result = None
    if args.processes:
        processes_result = _processes_summary(args, lab_overrides, steps, warmup)
    report = {
        "schema": SCHEMA,
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": env["device"],
        "device_type": kind,
        "versions": env["versions"],
        "git_commit": env["git_commit"],
        "cpu_threads": torch.get_num_threads(),
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "settings": {
            "depth": cfg.model.depth,
            "width": cfg.model.width,
            "batch_size": t.batch_size,
            "steps": steps,
            "warmup": warmup,
            "rounds": args.rounds,
            "workers": workers,
            "data": cfg.data.name,
            "max_steps": t.max_steps,
            "images_per_evaluation": eval_images,
            "eval_batch_size": t.eval_batch_size,
            "eval_images_timed": timed_eval_images(len(data.eval_labels), t.eval_batch_size)[1],
            "overrides": list(args.overrides),
        },
        "results": results,
        # the median of the per-round ratios (their spread: how much the load moved them)
        "ratio": lab_result.get("vs_plain"),
        "round_ratios": round_ratios(lab_result, plain) or [],
        "lever_effects": lever_effects(results, levers),
        "data_pipeline": data_pipeline,
        "stacked": stacked_result,
        "processes": processes_result,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "memory_note": "getrusage max RSS of the whole benchmark process, all contenders"
        if kind == "cpu"
        else "CUDA peak_memory_bytes per contender: torch.cuda.max_memory_allocated while it ran "
        "(includes every contender's resident weights and the data); step_memory_bytes: that "
        "peak minus what was allocated before its steps",
    }
    _print_report(report)
    if args.out:
        _save(report, args.out)
        print(f"saved {args.out}", file=sys.stderr)
    return 0 if report["ratio"] is not None else 1


def _variant_levers(spec_list: str | None, device: torch.device, main: Levers) -> list[Levers]:
    """--variants as distinct lever sets, the lab step's own left out (it is timed already)."""
    kind = "cuda" if device.type == "cuda" else "cpu"
    if spec_list is None:
        return []
    specs = DEFAULT_VARIANTS[kind] if spec_list == "default" else spec_list
    variants: list[Levers] = []
    for spec in specs.split(","):
        lv = Levers.parse(spec.strip(), device)
        if lv != main and lv not in variants:
            variants.append(lv)
    # torch.compile's CUDA graphs free every cuBLAS workspace when they warm up or record, and a
    # step graph replays into the workspace it recorded: after a recompile mid-round it would
    # compute into freed memory, wrong figures at normal speed. One process times one kind.
    graphs = [lv for lv in (main, *variants) if lv.compile_mode in GRAPH_MODES]
    if graphs and any(lv.step_graph for lv in (main, *variants)):
        raise ConfigError(
            f"--variants: {graphs[0].name} (torch.compile's CUDA graphs) and stepgraph cannot be "
            "timed in one process (the first frees the cuBLAS workspace the second replays "
            "into): time them in two runs"
        )
    return variants


def _stacked_contender(
    cfg: DictConfig, models: int, data: DeviceData, device: torch.device, main: Levers
) -> Contender:
    """``models`` seeds of the lab's net trained as one vmapped model, each on its own batches."""
    t = cfg.trainer
    seeds = [cfg.seed + i for i in range(models)]
    stacked = build_stacked(cfg, seeds, device)
    batches = [
        TrainBatches(data, t.batch_size, s, cfg.data.augment, cfg.data.pad_mode) for s in seeds
    ]
    return Contender(
        f"{models} seeds stacked (vmap)",
        stacked_loop_step(stacked, batches),
        models * t.batch_size,
        f"vmap x{models} NCHW {t.precision}" + ("+cudnn" if main.cudnn_benchmark else ""),
        # cuDNN autotuning as the lab run it is compared with; eager and NCHW only
        lab_levers=replace(main, channels_last=False, compile_mode=None, step_graph=False),
        runs=models,
    )


def _stacked_summary(
    models: int, stacked: dict[str, Any], lab: dict[str, Any], kind: str
) -> dict[str, Any] | None:
    """The stacked seeds' throughput against one lab run's (None if either failed)."""
    if "images_per_s" not in stacked or "images_per_s" not in lab:
        return None
    return {
        "models": models,
        "images_per_s": stacked["images_per_s"],
        "vs_one_lab_run": paired_ratio(stacked, lab),
        "note": "measured on CUDA"
        if kind == "cuda"
        else "CPU: a GPU lever (on CPU a tiny net may gain, a real one loses); its GPU "
        "figure is not measured",
    }


def _processes_summary(
    args: argparse.Namespace, lab_overrides: list[str], steps: int, warmup: int
) -> dict[str, Any]:
    """--processes lab runs at once against one alone, each its own process."""
    print(f"  {args.processes} concurrent processes, then one alone ...", file=sys.stderr)
    timed = steps * args.rounds
    together = concurrent_processes(lab_overrides, args.processes, warmup, timed, args.threads)
    alone = concurrent_processes(lab_overrides, 1, warmup, timed, args.threads)
    summary: dict[str, Any] = {"together": together, "alone": alone}
    if "images_per_s" in together and "images_per_s" in alone:
        summary["vs_one_process"] = together["images_per_s"] / alone["images_per_s"]
    return summary


def main(argv: list[str] | None = None) -> int:
    """``python -m resnet_lab.bench``: print the comparison (and save it with --out)."""
    parser = _parser()
    args = parser.parse_intermixed_args(argv)  # overrides before, between or after options
    argv = sys.argv[1:] if argv is None else argv
    try:
        # Every compiled contender adds entries to Dynamo's cache of the shared SGD.step; past the
        # recompile limit Dynamo would quietly run a "compiled" variant's optimizer eagerly. Fail
        # instead, so that the variant is reported as failed rather than mislabelled.
        with torch._dynamo.config.patch(fail_on_recompile_limit_hit=True):
            return _bench(args, "python -m resnet_lab.bench " + shlex.join(argv))
    except UserError as e:  # told as argparse tells its own: the command's name first
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except (HydraException, OmegaConfBaseException) as e:  # a mistyped override or option
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: no figures printed or saved", file=sys.stderr)
        return 128 + signal.SIGINT


def _check_out(out: Path | None) -> None:
    """--out must be a file that can be written, and no other tool's (a run's result.json, say):
    checked before minutes of measurement. An earlier benchmark's file is written over."""
    if out is None:
        return
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: give a file, e.g. --out {out / 'bench.json'}")
    if problem := cannot_make(out.parent, file_told=False):
        raise UserError(f"--out {out}: {problem}")
    if out.is_symlink() and not out.exists():
        raise UserError(f"--out {out} is a link to {os.readlink(out)}, which does not exist")
    if out.is_file() and not _an_earlier_benchmark(out):  # not /dev/stdout, a pipe: not read
        raise UserError(
            f"--out {out} is a file of another kind, not a benchmark's JSON: give a new file "
            "(a benchmark's own is written over)"
        )


def _an_earlier_benchmark(path: Path) -> bool:
    """A benchmark's JSON, or an empty file (``mktemp``'s): nothing to lose."""
    try:
        text = path.read_text()
        saved = json.loads(text) if text.strip() else {"schema": SCHEMA}
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(saved, dict) and str(saved.get("schema", "")).startswith(
        SCHEMA.partition("/")[0] + "/"
    )


def _save(report: dict[str, Any], out: Path) -> None:
    """Whole or not at all: an earlier benchmark's file stays until the new one replaces it."""
    text = json.dumps(report, indent=2) + "\n"
    try:
        if out.exists() and not out.is_file():  # /dev/stdout, a pipe: a stream to write into
            with out.open("w") as stream:
                stream.write(text)
            return
        if out.is_symlink():  # to an earlier benchmark's file: that file gets the new figures
            out = Path(os.path.realpath(out))
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
    except OSError as e:  # the figures are printed above
        raise UserError(
            f"--out {out}: cannot write it ({e.strerror or e}): the figures are above"
        ) from None


if __name__ == "__main__":
    sys.exit(main())
