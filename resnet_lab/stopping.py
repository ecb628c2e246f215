"""Stopping a parallel sweep without losing its runs.

Hydra's joblib launcher runs jobs in loky worker processes. Left alone, a signal to the launching
process goes wrong both ways: SIGTERM kills it and leaves the workers training on, orphaned, each
holding its run's lock; Ctrl-C makes joblib abort, and it SIGKILLs the workers, possibly before
they save their checkpoints (an idle worker's KeyboardInterrupt aborts the pool too). So the
launching process passes SIGTERM to its workers and exits at once, without joblib: a training
worker stops at its next step with a checkpoint (the trainer's SIGTERM path), any other exits.
Each worker also watches the launcher (gone after a SIGKILL, or before the worker took its job):
then it stops its run the same way and exits.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

LAUNCHER_ENV = "RESNET_LAB_LAUNCHER_PID"  # set by the launching process, inherited by workers
# How to go on after a stop, when a wrapper knows better than "the same command plus
# resume=true" (make reproduce-table sets "run make reproduce-table again")
CONTINUE_ENV = "RESNET_LAB_CONTINUE"
WATCH_INTERVAL_S = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # what a user sends to stop a tool
# Slurm's warning before a time limit or a pre-emption (sbatch --signal, submitit's
# signal_delay_s): a training run stops with a checkpoint, then the signal goes on to the
# handler it found (submitit's, which requeues the job); none on Windows
SLURM_SIGNALS = (signal.SIGUSR2,) if hasattr(signal, "SIGUSR2") else ()
_job_running = threading.Event()
_watching = False


class _Training:
    """Set by the trainer's signal handling (resnet_lab.train._StopFlag), read by the watch:
    whether a run is training in this process, and whether a stop signal already reached it
    (a second one would stop it at once, without its checkpoint)."""

    running = False
    stopping = False


training = _Training()
last_signal = signal.SIGINT  # the launching process's last stopping signal: its exit code


def install_launcher_handlers() -> None:
    """In the launching process: SIGINT and SIGTERM end a parallel sweep as described above, and
    raise KeyboardInterrupt otherwise (Hydra starting up, or between the runs of the basic
    launcher; the trainer installs its own handlers while it trains)."""
    os.environ[LAUNCHER_ENV] = str(os.getpid())
    # loky's resource tracker, started later with this environment, then frees what the exited
    # launcher held, with warnings of "leaked" semaphores that read like a fault
    quiet = "ignore::UserWarning:joblib.externals.loky.backend.resource_tracker"
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), quiet]))
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_launcher)


def _stop_launcher(signum: int, frame: FrameType | None) -> None:
    global last_signal
    last_signal = signal.Signals(signum)
    workers = [p for p in multiprocessing.active_children() if type(p).__name__ == "LokyProcess"]
    if not workers:
        raise KeyboardInterrupt
    for worker in workers:  # after Ctrl-C too: the idle ones, if not ended by it, end now
        with contextlib.suppress(ProcessLookupError):
            os.kill(worker.pid, signal.SIGTERM)
    print(
        f"resnet-lab: {signal.Signals(signum).name}: the sweep stops; each running job saves a "
        "checkpoint at its next step and stops within seconds; "
        f"{how_to_continue('and its hydra.sweep.dir')}",
        file=sys.stderr,
        flush=True,
    )
    logging.shutdown()
    os._exit(128 + signum)


@contextmanager
def _stop_signals_to(
    handler: Callable[[int, FrameType | None], None], previous: dict[int, Any] | None = None
) -> Iterator[None]:
    """SIGINT and SIGTERM go to ``handler`` inside the block, then back to the handlers they had,
    kept in ``previous`` as each is replaced (a handler that passes a signal on reads it there)."""
    previous = {} if previous is None else previous
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, handler)
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before)


@contextmanager
def signals_interrupt() -> Iterator[list[signal.Signals]]:
    """SIGINT and SIGTERM raise KeyboardInterrupt inside (SIGTERM would otherwise end the
    process without a word, keeping nothing), so a tool can save what it finished; the yielded
    list receives the signal."""
    received: list[signal.Signals] = []

    def interrupt(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))
        raise KeyboardInterrupt

    with _stop_signals_to(interrupt):
        yield received


@contextmanager
def signals_deferred() -> Iterator[list[signal.Signals]]:
    """SIGINT and SIGTERM wait until the block is done (outputs being written), recorded in the
    yielded list; a second one, of either kind, acts at once, as it would without the block."""
    received: list[signal.Signals] = []
    previous: dict[int, Any] = {}

    def defer(signum: int, frame: FrameType | None) -> None:
        received.append(signal.Signals(signum))
        for stop_signal, before in previous.items():  # Ctrl-C, then a kill: the kill acts
            signal.signal(stop_signal, before)

    with _stop_signals_to(defer, previous):
        yield received


@contextmanager
def signals_held(
    prog: str, on_second: Callable[[], object] | None = None
) -> Iterator[list[signal.Signals]]:
    """Around importing torch: SIGINT and SIGTERM wait until the block ends, recorded in the
    yielded list (a KeyboardInterrupt raised inside torch's C++ (pybind11) aborted the process,
    or was swallowed and the run went on). A second one ends the process at once, so an import
    that hangs still stops, after ``on_second`` (removing what the launch made). Outside the
    main thread (a threading launcher's job) no handler can be set: the block runs as is."""
    received: list[signal.Signals] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def hold(signum: int, frame: FrameType | None) -> None:
        if received:
            if on_second is not None:
                on_second()
            print(f"{prog}: interrupted while starting: nothing was done", file=sys.stderr)
            os._exit(128 + signum)
        received.append(signal.Signals(signum))

    with _stop_signals_to(hold):
        yield received


def how_to_continue(folder: str) -> str:
    """The hint after a stop: ``folder`` names the run's or sweep's folder override."""
    default = f"continue with the same command plus resume=true {folder}"
    return os.environ.get(CONTINUE_ENV) or default


@contextmanager
def job_in_worker() -> Iterator[None]:
    """Around a sweep job: in a loky worker, watch the launching process."""
    launcher = os.environ.get(LAUNCHER_ENV, "")
    worker = multiprocessing.current_process().name.startswith("LokyProcess")
    if not (worker and launcher.isdigit()):
        yield
        return
    _start_watch(int(launcher))
    _job_running.set()
    try:
        yield
    finally:
        _job_running.clear()


def _start_watch(launcher: int) -> None:
    global _watching
    if not _watching:
        _watching = True
        thread = threading.Thread(target=_watch, args=(launcher,), daemon=True, name="watch")
        thread.start()


def _watch(launcher: int) -> None:
    """When the launcher is gone (the worker's parent), stop the training run and exit."""
    while os.getppid() == launcher:
        time.sleep(WATCH_INTERVAL_S)
    if _job_running.is_set() and training.running:
        log.warning("the sweep's launching process (pid %d) is gone: stopping this run", launcher)
        if not training.stopping:
            os.kill(os.getpid(), signal.SIGTERM)
        while _job_running.is_set():
            time.sleep(WATCH_INTERVAL_S)
    logging.shutdown()
    os._exit(0)
