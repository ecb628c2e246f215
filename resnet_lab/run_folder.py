"""The run folder: its lock, ``metrics.jsonl``, ``result.json``, the environment record, and
the folder a refused launch leaves.

The layout is the contract in docs/contracts.md; the report reads these files without importing
the trainer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import os
import platform
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from resnet_lab.checkpoint import CHECKPOINT_GLOB, TEMPORARY_INFIX, atomic_write_text
from resnet_lab.errors import UserError
from resnet_lab.pasteable import pasteable_override

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

RESULT_SCHEMA_VERSION = 1
LOCK_NAME = "run.lock"
LOCK_WRITE_GRACE_S = 30.0  # an empty lock younger than this is being written, not stale
# A holder touches its lock every LOCK_HEARTBEAT_S: a lock of another machine's run (whose pid
# cannot be checked from here: a cluster job killed with its node, requeued elsewhere) that has
# not been touched for LOCK_FOREIGN_STALE_S is stale. Ten beats: clocks a few minutes apart, or a
# file system slow to show a touch, never make a live run's lock look stale.
LOCK_HEARTBEAT_S = 60.0
LOCK_FOREIGN_STALE_S = 600.0


class RunFolderBusy(UserError):
    """Another live process is writing into the same run folder."""


HEARTBEAT_MARK = "heartbeat"  # in a lock whose holder touches it; older labs' locks lack it
PID_NAMESPACE_MARK = "pidns:"  # + the holder's pid namespace: whose pids its pid is one of


def _pid_namespace() -> str | None:
    """This process's pid namespace (Linux): containers that share a host's name have their own."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return None


def _this_process() -> str:
    """A lock's content: who holds it (host, pid and the pid's namespace), and that its mtime
    is a heartbeat."""
    namespace = _pid_namespace()
    mark = f" {PID_NAMESPACE_MARK}{namespace}" if namespace else ""
    return f"{socket.gethostname()} {os.getpid()} {HEARTBEAT_MARK}{mark}\n"


def _pid_is_ours(words: list[str]) -> bool | None:
    """Whether a lock's pid names a process this one sees: True on this host in this pid
    namespace, False on another host or in another namespace (a container of the same name),
    None on this host for a lock that does not say its namespace (an older lab's)."""
    if not words or words[0] != socket.gethostname():
        return False
    namespaces = [
        w.removeprefix(PID_NAMESPACE_MARK) for w in words if w.startswith(PID_NAMESPACE_MARK)
    ]
    if not namespaces:
        return None
    return namespaces[0] == _pid_namespace()


RUN_ELSEWHERE = (
    "hydra.run.dir=...; in a sweep, two jobs given one folder: make hydra.sweep.subdir tell them "
    "apart"
)


class RunLock:
    """An exclusive lock file: two runs never write into one folder.

    A lock left by a killed process is taken over: on this host when its pid is gone, from
    another host when its heartbeat (the file's mtime) has stopped for LOCK_FOREIGN_STALE_S.
    """

    def __init__(
        self, run_dir: Path, tool: str | None = None, elsewhere: str = RUN_ELSEWHERE
    ) -> None:
        """A run's lock (``run.lock``), or with ``tool`` that tool's (``<tool>.lock``: a folder
        it writes is not taken for a run's); ``elsewhere``: how to give another folder, as the
        refusal of a second writer says it."""
        self.path = run_dir / (f"{tool}.lock" if tool else LOCK_NAME)
        self.writer, self.elsewhere = tool or "run", elsewhere
        self.held = False
        self._stop_beating = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = _this_process()
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except PermissionError as e:
                raise UserError(
                    f"cannot write in the run folder {self.path.parent} ({e.strerror}): "
                    "give a folder you can write in"
                ) from None
            except FileExistsError:
                if self.owner_alive():
                    raise RunFolderBusy(self._busy_message()) from None
                self._remove_if_stale()
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self.held = True
            self._stop_beating.clear()
            self._heartbeat = threading.Thread(target=self._beat, name="run-lock", daemon=True)
            self._heartbeat.start()
            return
        raise RunFolderBusy(f"could not take the lock {self.path}")

    def _beat(self) -> None:
        """Touch the lock while it is held: its mtime tells other machines the run is alive."""
        while not self._stop_beating.wait(LOCK_HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def _busy_message(self) -> str:
        words = self.path.read_text().split() or ["starting"]
        owner = " ".join(words[:2])
        message = (
            f"another {self.writer} ({owner}) is writing into {self.path.parent}; wait for it, "
            f"or choose another folder ({self.elsewhere})"
        )
        if words[0] == socket.gethostname() and _age_s(self.path) > LOCK_FOREIGN_STALE_S:
            return (  # a live pid, but no touch for long: suspended, or the pid another's now
                f"{message}. Its lock has not been touched for {_age_s(self.path) / 60:.0f} "
                f"minutes (a live run touches it every minute): if that run is gone (after a "
                f"reboot its pid may be another process's), delete {self.path}"
            )
        if words[0] in (socket.gethostname(), "starting"):
            return message
        if HEARTBEAT_MARK not in words[2:]:
            return (
                f"{message}. That run is on another machine and its lock, written by an older "
                f"resnet-lab, gives no sign of life: if that run is gone, delete {self.path}"
            )
        return (
            f"{message}. That run is on another machine, last alive {_age_s(self.path):.0f} s "
            f"ago; if it is gone (killed with its node), its lock counts as stale "
            f"{LOCK_FOREIGN_STALE_S / 60:.0f} minutes after its last sign of life: run again "
            f"then, or delete {self.path} now"
        )

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Delete the lock if it is still this process's (never another run's)."""
        self._stop_beating.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
            self._heartbeat = None
        if self.held:
            try:
                mine = self.path.read_text() == _this_process()
            except OSError:
                mine = False
            if mine:  # a folder made read-only keeps it: stale once this process is gone
                with contextlib.suppress(OSError):
                    self.path.unlink(missing_ok=True)
            self.held = False

    def _remove_if_stale(self) -> None:
        """Delete a lock whose process is gone, re-checked under an exclusive flock of the
        folder: of two processes that found the same stale lock, the second then finds the
        first's new lock, alive, and leaves it (it deleted it before: both held the folder)."""
        import fcntl  # POSIX, as the pid check

        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            with contextlib.suppress(OSError):  # NFS may refuse a folder's flock: re-check only
                fcntl.flock(folder, fcntl.LOCK_EX)
            if not self.owner_alive():
                with contextlib.suppress(OSError):
                    owner, age = self.path.read_text().split(), _age_s(self.path)
                    if owner and owner[0] != socket.gethostname():
                        log.warning(
                            "taking over %s: its run (%s) on another machine showed no sign of "
                            "life for %.0f minutes",
                            self.path,
                            " ".join(owner[:2]),
                            age / 60,
                        )
                self.path.unlink(missing_ok=True)
        finally:
            os.close(folder)  # releases the flock

    def owner_alive(self) -> bool:
        """Whether the process named in the lock lives (this host and pid namespace: its pid;
        another host or container: its heartbeat), as far as this process can tell."""
        try:
            host, pid_text, *marks = self.path.read_text().split()
            pid = int(pid_text)
        except (OSError, ValueError):
            # half-written: its owner may be between creating and writing it; stale if old
            return _age_s(self.path) < LOCK_WRITE_GRACE_S
        if _pid_is_ours([host, pid_text, *marks]) is False:  # another host's or container's
            # pid, not to be checked here: its heartbeat, if it beats (an older lab's lock never
            # does: it stands, as it always did)
            return HEARTBEAT_MARK not in marks or _age_s(self.path) < LOCK_FOREIGN_STALE_S
        if pid == os.getpid():
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        # a process that started well after the lock's last touch took a dead owner's pid
        # (reused, e.g. after a reboot): the owner wrote its lock after it started, and touches
        # it every beat. "Well": by LOCK_FOREIGN_STALE_S, both ways, as for another machine's
        # lock (a file server's clock minutes apart stamps the touches)
        try:
            touched = self.path.stat().st_mtime
        except OSError:  # released meanwhile
            return False
        if time.time() - touched < LOCK_FOREIGN_STALE_S:
            return True
        started = _process_start_time(pid)
        return started is None or started <= touched + LOCK_FOREIGN_STALE_S


def _process_start_time(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        ticks = int(stat.rpartition(")")[2].split()[19])  # field 22, starttime, after comm
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class MetricsLog:
    """Append-only ``metrics.jsonl``; on resume, lines after the checkpoint's step (and a line a
    kill cut in half) are dropped, and those of its step that ``kept_at_resume_step`` does not
    keep (written after the checkpoint: the resumed process logs them again)."""

    def __init__(
        self,
        path: Path,
        resume_step: int | None,
        kept_at_resume_step: Callable[[dict[str, Any]], bool] = lambda record: True,
        log_every: int = 0,
    ) -> None:
        """``log_every``: the steps between training lines, so that lines missing before the
        checkpoint (a folder copied while its run trained) are said, not silently a gap."""
        self.path = path
        self.kept_at_resume_step: list[dict[str, Any]] = []  # the records of that step kept
        self.dropped_at_resume_step = False  # one of that step's came after the checkpoint
        if resume_step is not None and path.exists():
            lines = path.read_text().splitlines()
            kept, damaged, last_train = [], 0, 0
            for number, line in enumerate(lines, 1):
                record = _line_record(line)
                if record is None:
                    damaged += number < len(lines)  # the last: a kill cut it, as expected
                    continue
                step = record["step"]
                keep = step < resume_step or (step == resume_step and kept_at_resume_step(record))
                if step == resume_step:
                    if keep:
                        self.kept_at_resume_step.append(record)
                    else:
                        self.dropped_at_resume_step = True
                if keep:
                    kept.append(line)
                    last_train = step if "train/loss" in record else last_train
            if damaged:
                log.warning(
                    "%s: %d damaged line(s) dropped; their values are gone from the file",
                    path,
                    damaged,
                )
            _say_a_gap(path, last_train, resume_step, log_every)
            atomic_write_text(path, "".join(line + "\n" for line in kept))
        elif resume_step is None:
            path.unlink(missing_ok=True)
        elif log_every and resume_step >= log_every:
            log.warning(
                "%s is missing: the run's lines before step %d are gone (the folder copied "
                "without it?), its curves start there",
                path,
                resume_step,
            )
        self._file = open(path, "a")  # noqa: SIM115  (kept open for the run's whole length)

    def write(self, record: dict[str, Any]) -> None:
        """One line, flushed: a crash loses at most the line being written."""
        self._file.write(json.dumps(jsonable(record)) + "\n")
        self._file.flush()

    def sync(self) -> None:
        """Every line on the disk, to outlast a power loss: called before a checkpoint, since a
        resume from it never logs the lines before its step again."""
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file (the run is over, or stopped)."""
        self._file.close()


def _say_a_gap(path: Path, last: int, resume_step: int, log_every: int) -> None:
    """``last``: the step of the last training line kept."""
    if log_every and last < resume_step - log_every:
        log.warning(
            "%s ends at step %d, its run's checkpoint is of step %d: the lines between are "
            "missing (the folder copied while its run trained?), a gap in its curves",
            path,
            last,
            resume_step,
        )


def loads_json(text: str) -> Any:
    """``json.loads``, where JSON nested past Python's recursion limit (a file no lab writes:
    one was sent, or hand-edited) is a ValueError, as any JSON it cannot read is."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deep to read") from None


def _line_record(line: str) -> dict[str, Any] | None:
    """A metrics.jsonl line's record, None for a line a kill cut in half (or otherwise not
    a record with an integer step: a step of 1e400 too)."""
    try:
        record = loads_json(line)
        record["step"] = int(record["step"])
    except (ValueError, KeyError, TypeError, OverflowError):
        return None
    return record


def write_result(run_dir: Path, result: dict[str, Any]) -> None:
    """Atomically (re)write ``result.json``."""
    record = {"schema_version": RESULT_SCHEMA_VERSION, **result}
    atomic_write_text(run_dir / "result.json", json.dumps(jsonable(record), indent=2) + "\n")


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's ``result.json``, or None when it has none (or an unreadable one, or one that is
    not a JSON object)."""
    path = run_dir / "result.json"
    try:
        record = loads_json(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def now_iso() -> str:
    """UTC, to the second: result files compare across machines and time zones."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def environment(device: torch.device) -> dict[str, Any]:
    """Versions, device name and the lab's git commit, for result.json."""
    import numpy as np
    import torch  # here: the command line's checks use this module, and a refusal needs no torch
    import torchvision

    import resnet_lab
    from resnet_lab.device import device_name

    versions = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "resnet_lab": resnet_lab.__version__,
        "numpy": np.__version__,  # draws the synthetic images
    }
    if device.type == "cuda":  # the kernels a GPU run computed with
        versions.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return {
        "device": device_name(device),
        "versions": versions,
        "git_commit": git_commit(Path(resnet_lab.__file__).parent),
        # CPU results are bitwise-reproducible only at the same thread count (reductions split)
        "cpu_threads": torch.get_num_threads(),
    }


COMMIT_ENV = "RESNET_LAB_GIT_COMMIT"  # the commit of a copy that travels without its .git


def git_commit(folder: Path) -> str | None:
    """The commit of the lab's source (with ``-dirty`` when it has local changes), if in git;
    else $RESNET_LAB_GIT_COMMIT, set where the source was copied from its repository (the GPU
    runbook's machine gets the work tree only: benchmarks/gpu_session.sh).

    ``folder`` must hold files tracked by the repository: an installed copy in an untracked
    virtual environment inside a user's own repository is not that repository's code."""
    return _commit_in_git(folder) or os.environ.get(COMMIT_ENV) or None


def _commit_in_git(folder: Path) -> str | None:

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=folder, capture_output=True, text=True, timeout=5)

    try:
        if git("ls-files", "--error-unmatch", "--", ".").returncode != 0:
            return None
        commit = git("rev-parse", "HEAD")
        if commit.returncode != 0:
            return None
        dirty = git("status", "--porcelain", "--untracked-files=no").stdout.strip()
        return commit.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def jsonable(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null so every reader can parse the file."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def remove_leftovers(run_dir: Path) -> None:
    """Delete temporary files a killed run left half-written (call while holding the lock: no
    other process writes here then)."""
    for folder in (run_dir, run_dir / "ckpt"):
        for tmp in folder.glob(f".*{TEMPORARY_INFIX}*"):
            tmp.unlink(missing_ok=True)


def remove_event_files(run_dir: Path) -> None:
    """A run starting from step 0 in a used folder (no checkpoint survived) drops the old
    TensorBoard curves, as it drops the old ``metrics.jsonl``: they would overlap the new ones."""
    for events in run_dir.glob("events.out.tfevents.*"):
        events.unlink()


def holds_a_live_run(run_dir: Path) -> bool:
    """Whether a live process holds the run's lock: a run whose result.json says running
    without one was killed (out of memory, kill -9, a lost node) and never said so. A lock of
    this host and pid namespace: its pid decides at once. Another lock that beats says so
    itself: touched within two beats, alive (a container's pid is not this host's); untouched
    for LOCK_FOREIGN_STALE_S, gone (whatever now has its pid). In between, and for an older
    lab's lock, the pid or the host decides."""
    lock = RunLock(run_dir)
    try:
        words = lock.path.read_text().split()
    except OSError:
        return False
    if _pid_is_ours(words):
        return lock.owner_alive()
    beats, age = HEARTBEAT_MARK in words[2:], _age_s(lock.path)
    if beats and age < 2 * LOCK_HEARTBEAT_S:
        return True
    if beats and age > LOCK_FOREIGN_STALE_S:
        return False
    return lock.owner_alive()


def _age_s(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return math.inf


def given_on_command_line(key: str, hydra_cfg: DictConfig) -> bool:
    """Whether the command line set ``key`` (else the folder is a fresh, timestamped one)."""
    return any(o.split("=", 1)[0].lstrip("+~") == key for o in hydra_cfg.overrides.hydra)


def holds_a_run(run_dir: Path) -> bool:
    """Whether a run was (or is being) started in ``run_dir``: its record, its checkpoints, or
    its lock (a run still loading its data has only that)."""
    return any((run_dir / name).exists() for name in ("result.json", "ckpt", LOCK_NAME))


def enclosing_run(folder: Path) -> Path | None:
    """The run folder ``folder`` lies inside, found as the system finds it ('..' after a link
    is the link's target's parent)."""
    return next((p for p in folder.resolve().parents if holds_a_run(p)), None)


def in_checkpoints(folder: Path, named: str) -> str | None:
    """Where ``folder`` (a tool's output folder, given as ``named``) is or lies in a run's
    checkpoint folder: its files would lie among the checkpoints a live run prunes and a
    folder's reading lists."""
    folder = Path(os.path.abspath(folder))  # 'run/ckpt/../gates' lies in run/, not in ckpt/
    ckpt = next(
        (p for p in (folder, *folder.parents) if p.name == "ckpt" and any(p.glob(CHECKPOINT_GLOB))),
        None,
    )
    if ckpt is None:
        return None
    return f"{named} {'is' if ckpt == folder else 'lies in'} a run's checkpoint folder ({ckpt})"


REQUEUED_ENV = "SLURM_RESTART_COUNT"  # set by Slurm in the jobs it requeued


def slurm_requeues() -> int:
    """How often Slurm has requeued this job (pre-empted, or by submitit at its time limit): a
    requeued job runs its command again, into its folder, without the resume=true it needs."""
    restarts = os.environ.get(REQUEUED_ENV, "")
    return int(restarts) if restarts.isdigit() else 0


STUDY_PROGRESS = "lesion.progress.json"  # what a study measured so far, while it runs
STUDY_RECORDS = ("lesion.json", STUDY_PROGRESS)


def held_record(folder: Path) -> str | None:
    """What a study's or a run's folder holds that a new output must not be written beside:
    ``lesion.json``, ``lesion.progress.json`` (a study a kill stopped), ``result.json`` or
    ``ckpt`` (the first found)."""
    names = (*STUDY_RECORDS, "result.json", "ckpt")
    return next((name for name in names if (folder / name).exists()), None)


def study_folder_problem(out: Path, resume: bool = False) -> str | None:
    """Why a lesion study may not write into ``out``, if it may not: a file, a training run's
    folder, or a study's (the old plots would stay beside the new lesion.json, and TensorBoard
    would show both as one), unless ``resume`` continues that study."""
    if out.exists() and not out.is_dir():
        return f"{out} is a file, not a folder: give the study a folder"
    held = held_record(out)
    own = "give the study a folder of its own (hydra.run.dir=..., or none for a new dated one)"
    if held == "lesion.json" and not resume:
        return (
            f"{out} already holds a lesion study (lesion.json): {own}; resume=true continues it "
            "if it was interrupted"
        )
    if held == STUDY_PROGRESS and not resume:
        return (
            f"{out} holds a lesion study that stopped before its end (lesion.progress.json, "
            f"what it measured): resume=true continues it; or {own}"
        )
    if held in ("result.json", "ckpt"):
        return f"{out} already holds a training run ({held}): {own}"
    return a_runs_checkpoint_folder(out)


def a_runs_checkpoint_folder(out: Path, sweep: bool = False) -> str | None:
    """A study (or a ``sweep`` of studies) in or below a run's ckpt/: its files beside the
    checkpoints, which the run prunes and resumes from."""
    folder = out.resolve()
    run = enclosing_run(folder)
    if run is None or not (folder == run / "ckpt" or run / "ckpt" in folder.parents):
        return None
    key, what = ("hydra.sweep.dir", "sweep") if sweep else ("hydra.run.dir", "study")
    beside = pasteable_override(key, str(run / "lesion"))
    return (
        f"{out} {'is' if folder == run / 'ckpt' else 'lies inside'} the checkpoint folder of the "
        f"run in {run}: give the {what} a folder of its own, e.g. {beside}"
    )


def study_sweep_folder_problem(out: Path) -> str | None:
    """Why a sweep of lesion studies (its jobs in 0/, 1/, ...) may not use ``out``: a run's
    ckpt/, or a study's or a run's folder, where Hydra wrote its multirun.yaml before each job
    was refused."""
    if held := held_record(out):
        what = "a lesion study" if held in STUDY_RECORDS else "a training run"
        return (
            f"{out} already holds {what} ({held}): give the sweep a folder of its own "
            "(hydra.sweep.dir=..., or none for a new dated one)"
        )
    return a_runs_checkpoint_folder(out, sweep=True)


def run_folder_problem(run_dir: Path, key: str, sweep: bool) -> str | None:
    """Why ``run_dir`` cannot be a run's folder, if it cannot: a run's checkpoint folder (given
    for the run's own), a lesion study's folder (TensorBoard would show the study and the run
    as one), a folder inside a run's, or a folder above runs (``outputs/DATE``, a sweep's
    folder), where the run would train among them, or resume=true start afresh instead of
    continuing one of them.
    ``key``: the option that named it; ``sweep``: a sweep job's folder (the first three checks)."""
    if any(run_dir.glob(CHECKPOINT_GLOB)):  # with or without resume=true
        return (
            f"{key}={run_dir} is a run's checkpoint folder: give the run folder, "
            f"{pasteable_override(key, str(run_dir.parent))}"
        )
    if study := next((n for n in STUDY_RECORDS if (run_dir / n).exists()), None):
        return (  # resnet-lab-lesion refuses a run's folder alike
            f"{key}={run_dir} holds a lesion study ({study}): give the run a folder of its "
            "own (or none for a new dated one)"
        )
    if outer := enclosing_run(run_dir):
        return (  # its TensorBoard events would show as that run's, the report count both
            f"{key}={run_dir} lies inside the run in {outer}: give the run a folder of its own"
        )
    if sweep or holds_a_run(run_dir):
        return None
    inner = next(run_dir.rglob("result.json"), None)
    if inner is None:
        return None
    return (
        f"{key}={run_dir} holds other runs (e.g. {inner.parent}): give a run's own folder to "
        "continue it (resume=true), or a new folder"
    )


@contextlib.contextmanager
def outputs_removed_if_left_empty(outputs: Path, args: list[str]) -> Iterator[None]:
    """A refused launch leaves no trace: the folder that holds the runs (``outputs/``,
    ``lesions/``) is removed afterwards if this launch made it and left it empty, with the
    folders above it that it made (``RESNET_LAB_OUTPUTS=results/runs``); never one the user had
    made, nor when ``hydra.run.dir`` names the run's folder elsewhere."""
    named = any(arg.lstrip("+").startswith("hydra.run.dir=") for arg in args)
    made: list[Path] = []  # deepest first
    folder = outputs
    while not named and not folder.exists() and folder != folder.parent:
        made.append(folder)
        folder = folder.parent
    try:
        yield
    finally:
        for folder in made:
            try:
                folder.rmdir()
            except OSError:  # not empty (it holds a run), or never made
                break


def into_the_log_file(logger: logging.Logger, message: str) -> None:
    """``message`` as an error record of ``logger`` into the run's log file alone: the command
    prints it once, as one line on stderr, and a folder that stays keeps why."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def discard_refused_folder(run_dir: Path, hydra_cfg: DictConfig) -> None:
    """A refused launch leaves no empty run folder behind: the message went to the terminal, and
    ``outputs/`` holds runs. Only a folder Hydra made for this launch is removed: one named with
    ``hydra.run.dir``, or holding anything but this launch's record and log, stays; so does the
    date folder above it unless it is left empty."""
    if given_on_command_line("hydra.run.dir", hydra_cfg) or not run_dir.is_dir():
        return
    record = run_dir / hydra_cfg.output_subdir if hydra_cfg.output_subdir else None
    log_file = run_dir / f"{hydra_cfg.job.name}.log"
    files = [p for p in run_dir.rglob("*") if not p.is_dir()]
    if all(p == log_file or (record is not None and record in p.parents) for p in files):
        shutil.rmtree(run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: other runs of that day
            run_dir.parent.rmdir()
