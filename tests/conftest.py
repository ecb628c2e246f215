"""Shared helpers: tiny runs that still exercise real behaviour."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

import resnet_lab.config  # noqa: F401  (registers the config schema, for Hydra's compose)

# `make test` runs one pytest worker per core (pytest-xdist): each worker, and each process a test
# starts, keeps to one thread, else two workers of two threads each on two cores stall one another
# (measured: the SIGKILL resume test 23 s alone, 139 s beside a two-thread worker).
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first. Under `-n auto` (``--dist worksteal``, pyproject.toml) a worker that
    runs out of tests takes the last ones queued for the other, so both end within a test of
    each other when those are the fast ones. Run in file order, the sweeps and signals of the
    last files kept one worker busy for half a minute after the other's last test."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: file order


REPO = Path(__file__).resolve().parents[1]
# The commands tests start (python -m resnet_lab, make's resnet-lab) import this checkout, not
# whichever one is installed: a second clone's suite tests its own code.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
SHARED = Path(os.environ.get("RESNET_LAB_SHARED", REPO.parent / "shared"))

# A 5k-parameter ResNet-8 on learnable synthetic data: a step takes milliseconds on the CPU.
TINY_RUN = [
    "data=synthetic",
    "data.synthetic_train_size=256",
    "data.synthetic_test_size=128",
    "model.depth=8",
    "model.width=4",
    "trainer.batch_size=16",
    "trainer.warmup_steps=5",
    "trainer.log_every=5",
    "trainer.progress=none",
    "trainer.device=cpu",
]


def run_cli(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run ``python -m resnet_lab`` of this checkout in a process of its own, as a user would
    run ``resnet-lab``."""
    return subprocess.run(
        [sys.executable, "-m", "resnet_lab", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,  # type: ignore[arg-type]
    )


InProcess = Callable[[str, list[str]], subprocess.CompletedProcess[str]]


@pytest.fixture
def own_signal_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    """cli.command() installs the launching process's handlers (conftest gives pytest its own
    back after each test) and names this process the launcher of its jobs: not of any here."""
    from resnet_lab.stopping import LAUNCHER_ENV

    monkeypatch.setenv(LAUNCHER_ENV, "")  # restored after the test


@pytest.fixture
def in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], own_signal_handlers: None
) -> InProcess:
    """A tool's command (``resnet-lab``, ``resnet-lab-lesion``) run in this process, as run_cli
    runs it in one of its own but without the seconds a fresh process spends importing torch
    (monkeypatch sets its folder and environment): its exit status and what it printed."""
    from resnet_lab import cli, lesion_cli

    entries = {"resnet-lab": cli.command, "resnet-lab-lesion": lesion_cli.command}

    def run(tool: str, args: list[str]) -> subprocess.CompletedProcess[str]:
        monkeypatch.setattr(sys, "argv", [tool, *args])
        code: object = 0
        try:
            entries[tool]()
        except SystemExit as stopped:  # as the interpreter ends on it
            code = 0 if stopped.code is None else stopped.code
        printed = capsys.readouterr()
        if not isinstance(code, int):  # sys.exit("...") prints it and exits 1
            return subprocess.CompletedProcess(args, 1, printed.out, f"{printed.err}{code}\n")
        return subprocess.CompletedProcess(args, code, printed.out, printed.err)

    return run


@pytest.fixture(autouse=True)
def _root_logger_as_it_was() -> Iterator[None]:
    """A Hydra app run in-process (``cli.command()``) points the root logger at the test's
    captured stdout: once pytest closed it, a later test's log line printed "--- Logging error
    ---" into that test's stderr. Hydra's handlers go with the test that made them."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers and type(handler).__module__ == "logging":  # not pytest's
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


@pytest.fixture(autouse=True)
def _launcher_state_as_it_was() -> Iterator[None]:
    """``cli.command()`` run in-process makes the test's process a sweep's launcher: its
    SIGINT/SIGTERM handlers, and variables every later subprocess inherits (its pid, a warning
    filter appended each time). They go with the test that set them, whichever test xdist
    runs next in that worker."""
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    variables = {
        name: os.environ.get(name) for name in ("RESNET_LAB_LAUNCHER_PID", "PYTHONWARNINGS")
    }
    yield
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
    for name, value in variables.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def tiny_run() -> list[str]:
    return list(TINY_RUN)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Tiny nets run fastest on one thread, and a busy machine can stall a multi-threaded op for
    a whole time slice per barrier (measured: a stacked tiny step 0.15 s on 1 thread, 9 s on 2
    at load 7 on 2 cores). Opt in per file: ``pytestmark = pytest.mark.usefixtures(...)``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def as_saved_before_the_options(config: dict) -> dict:
    """A config as the lab saved it before shortcut.gate_norm, trainer.bn_group and
    trainer.test_at_best_val existed, when shortcut.dropout_inverted was true by default and,
    like every option, saved by every run, whatever its shortcut."""
    config = {**config, "shortcut": dict(config["shortcut"]), "trainer": dict(config["trainer"])}
    del config["shortcut"]["gate_norm"], config["trainer"]["bn_group"]
    del config["trainer"]["test_at_best_val"]
    config["shortcut"]["dropout_inverted"] = True
    return config


def crop_candidates(image: torch.Tensor, pad_mode: str = "zeros") -> torch.Tensor:
    """All 81 crops x 2 flips of one padded image, by plain slicing: [162, C, 32, 32] (the
    first 81 unflipped, row offset major)."""
    if pad_mode == "zeros":
        padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    else:  # reflect without repeating the edge, by hand: rows/columns 4..1, image, 30..27
        index = torch.tensor([*range(4, 0, -1), *range(32), *range(30, 26, -1)])
        padded = image[:, index][:, :, index]
    crops = [padded[:, i : i + 32, j : j + 32] for i in range(9) for j in range(9)]
    return torch.stack(crops + [c.flip(-1) for c in crops])
