"""Checkpoints that survive crashes: atomic writes, a checksum per file, fallback on corruption.

Each checkpoint is ``ckpt/step_NNNNNNN.pt`` plus ``step_NNNNNNN.pt.sha256``. The checksum is
written first, beside it as ``.sha256.next``, then the checkpoint (to a temporary file renamed
into place), then the checksum is renamed into place: a checkpoint whose checksum, in place or
pending, does not match it is incomplete or damaged and is skipped in favour of the previous one.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import pickle
import warnings
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from resnet_lab.errors import UserError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

CHECKPOINT_GLOB = "step_*.pt"
# a checkpoint file's suffixes: the lab's .pt, the peers' .th, torch's customary .pth and .tar
CHECKPOINT_SUFFIXES = (".pt", ".th", ".pth", ".tar")
TEMPORARY_INFIX = ".tmp-"  # .NAME.tmp-PID: a write in progress, or one a SIGKILL cut short
# a run still training saves and prunes while its folder is read (keep_checkpoints=1: each
# save removes the one listed): listed again, a few times
LISTINGS = 3


class CheckpointError(UserError):
    """No usable checkpoint where one was expected."""


def atomic_write_bytes(path: Path, data: bytes, stem: str | None = None) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``. The
    temporary file is named after ``stem`` if given, else after ``path`` (a reader that takes
    files by their name, as TensorBoard does events files, must not take it for one). A link
    is replaced, its target left as it was (a run folder copied as links, ``cp -as``, never
    writes into the original)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{stem or path.name}{TEMPORARY_INFIX}{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk: leave no half-written file behind
        tmp.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    """fsync a folder: its renames reach the disk."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def atomic_write_text(path: Path, text: str) -> None:
    """``atomic_write_bytes`` for text (UTF-8)."""
    atomic_write_bytes(path, text.encode())


def atomic_save_figure(figure: Any, path: Path, dpi: int) -> None:
    """A matplotlib figure as a PNG file, written as ``atomic_write_bytes`` writes: a kill
    leaves the earlier image or the new one, never part of one."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    atomic_write_bytes(path, buffer.getvalue())


def checkpoint_path(ckpt_dir: Path, step: int) -> Path:
    """Zero-padded, so file names sort by step."""
    return ckpt_dir / f"step_{step:07d}.pt"


def save_checkpoint(
    state: dict[str, Any], ckpt_dir: Path, step: int, keep: int, damaged: Collection[Path] = ()
) -> Path:
    """Save ``state`` for ``step`` and keep it and the ``keep`` - 1 before it.

    ``damaged``: the checkpoints a resume skipped, deleted once this one is written. Those of
    later steps go in any case (pruning by step alone would keep them and delete the checkpoint
    just written); those of earlier steps (one written at a signal, off the ``ckpt_every``
    grid) would otherwise count among the ``keep`` and push out a good one."""
    if keep < 1:
        raise ValueError(f"keep={keep}: the checkpoint just written is kept, at the least")
    import torch  # here: the command line's checks read checkpoint names without torch

    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    path = checkpoint_path(ckpt_dir, step)
    settle_pending_digests(ckpt_dir)
    # The checksum goes first, under a name of its own, then the checkpoint, then the checksum
    # into place: a kill between two renames leaves each file whole and the new checksum
    # beside the new checkpoint (a checkpoint renamed first left one without its checksum, a
    # rewrite of a step's a new file beside its old checksum: either was unusable)
    pending = pending_digest_path(path)
    atomic_write_text(pending, hashlib.sha256(data).hexdigest() + "\n")
    atomic_write_bytes(path, data)
    os.replace(pending, digest_path(path))
    _sync_folder(ckpt_dir)
    skipped = {p for p in damaged if p != path}  # one of this step's was just replaced
    abandoned = [p for p in list_checkpoints(ckpt_dir) if p.name > path.name]
    for old in [*skipped, *abandoned]:
        _delete(old)
    prune_checkpoints(ckpt_dir, path, keep)
    return path


def prune_checkpoints(
    ckpt_dir: Path, newest: Path, keep: int, damaged: Collection[Path] = ()
) -> None:
    """Keep ``newest`` and the ``keep`` - 1 checkpoints before it (``damaged`` ones neither
    count nor go), and no checksum without its checkpoint. After each save, and when a run
    resumes: a kill in a save's pruning left them for good where the run resumed at its end
    (it saves no more)."""
    earlier = [p for p in list_checkpoints(ckpt_dir) if p.name < newest.name and p not in damaged]
    for old in earlier[: max(0, len(earlier) - (keep - 1))]:  # none while fewer ([:-0] is all)
        _delete(old)
    for digest in ckpt_dir.glob(digest_path(Path(CHECKPOINT_GLOB)).name):  # a kill between
        if not digest.with_suffix("").exists():  # a pruning's two unlinks: no checkpoint
            digest.unlink(missing_ok=True)


def _delete(checkpoint: Path) -> None:
    checkpoint.unlink(missing_ok=True)
    digest_path(checkpoint).unlink(missing_ok=True)


def load_weights(net: torch.nn.Module, weights: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's weights strictly: where they do not fit the net its config builds
    (a lab version that built it otherwise), one CheckpointError naming the file and how many
    tensors are missing, unexpected or of another shape, with the first of each (torch's own
    message lists them all: dozens of lines for a net of another depth)."""
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as e:
        raise CheckpointError(
            f"{path}: its weights do not fit its config (the net this resnet-lab builds from it; "
            f"written by another version?): {_misfit(net.state_dict(), weights) or e}"
        ) from None


def _misfit(built: dict[str, Any], saved: dict[str, Any]) -> str:
    """E.g. ``1 missing (fc.bias), 2 of another shape (fc.weight: saved (10, 8), built ...)``."""
    shape = {key: tuple(getattr(value, "shape", ())) for key, value in saved.items()}
    reshaped = [k for k in built if k in saved and shape[k] != tuple(built[k].shape)]
    parts = []
    for what, keys in (
        ("missing", [k for k in built if k not in saved]),
        ("unexpected", [k for k in saved if k not in built]),
        ("of another shape", reshaped),
    ):
        if keys:
            first = keys[0]
            if what == "of another shape":
                first += f": saved {shape[first]}, built {tuple(built[first].shape)}"
            parts.append(f"{len(keys)} {what} ({first}{', ...' if len(keys) > 1 else ''})")
    return ", ".join(parts)


def list_checkpoints(ckpt_dir: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    return sorted(ckpt_dir.glob(CHECKPOINT_GLOB)) if ckpt_dir.is_dir() else []


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint after checking its checksum; CheckpointError says what is wrong."""
    digest_file = digest_path(path)
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if _pending_is_its_own(path, actual):  # a save cut before its last rename
        expected = actual
    elif (expected := _read_digest(digest_file)) is None:
        if not path.exists():  # pruned with its checksum since read, by its run still training
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        raise CheckpointError(f"{path}: no checksum file {digest_file.name} (incomplete write?)")
    if actual != expected:
        raise CheckpointError(
            f"{path}: checksum mismatch (truncated or corrupted file): "
            f"expected sha256 {expected[:12]}..., got {actual[:12]}..."
        )
    import torch

    try:  # tensors and plain values only: a run folder one was sent may hold a pickled program
        with warnings.catch_warnings():  # bytes of no checkpoint: "please file an issue"
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):  # not an object: bytes torch cannot read
            raise CheckpointError(f"{path}: cannot be read (not a PyTorch checkpoint)") from e
        raise CheckpointError(  # torch's text advises weights_only=False: not ours to give
            f"{path}: holds Python objects besides tensors and plain values, which the lab never "
            "writes: not loaded (unpickling them could run any code they hold)"
        ) from e
    except Exception as e:  # a damaged file can fail in many ways inside torch.load
        raise CheckpointError(f"{path}: cannot be read ({type(e).__name__}: {e})") from e


def load_latest_checkpoint(
    ckpt_dir: Path, map_location: str | torch.device = "cpu", required: Collection[str] = ()
) -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint that passes its checks, falling back to older ones.

    ``required``: the keys a usable one holds (a file of another tool or version, its checksum
    written beside it, is skipped as a damaged one is). Returns None when there is no checkpoint
    at all; raises CheckpointError when there are some but none is usable.
    """
    problems: list[str] = []  # told once: as warnings, or in the error when none is usable
    pruned = False
    try:
        for _ in range(LISTINGS):
            listed = list_checkpoints(ckpt_dir)
            if (found := _newest_usable(listed, map_location, required, problems)) is not None:
                _skipped(problems)
                if problems:
                    log.warning("using the previous good checkpoint %s", found[1].name)
                return found
            pruned = not all(os.path.lexists(path) for path in listed)
            if not pruned:  # none usable
                break
    except BaseException:  # another error, Ctrl-C: the damaged ones found are still told
        _skipped(problems)
        raise
    if pruned:  # "no checkpoint" of a folder that has one
        _skipped(problems)
        raise CheckpointError(
            f"{ckpt_dir}: its run, still training, pruned each checkpoint as it was read "
            f"({LISTINGS} times): run the command again, or give a copy of one"
        )
    if problems:
        raise CheckpointError(f"no usable checkpoint in {ckpt_dir}:\n  " + "\n  ".join(problems))
    return None


def _newest_usable(
    listed: list[Path],
    map_location: str | torch.device,
    required: Collection[str],
    problems: list[str],
) -> tuple[dict[str, Any], Path] | None:
    """The newest of ``listed`` that passes its checks; each damaged one a line of
    ``problems`` (once, over listings); one pruned since listed is passed over."""
    for path in reversed(listed):
        try:
            state = load_checkpoint(path, map_location)
            holds = state if isinstance(state, dict) else {}
            if missing := [key for key in required if key not in holds]:
                raise CheckpointError(f"{path}: not a whole training checkpoint (no {missing})")
        except CheckpointError as e:
            problem = str(e)
        except FileNotFoundError as e:
            if not os.path.lexists(path):  # pruned by its run, still training, since listed
                continue
            problem = f"{path}: cannot be read ({e.strerror})"  # a link to nothing: damaged
        else:
            return state, path
        if problem not in problems:
            problems.append(problem)
    return None


def _skipped(problems: list[str]) -> None:
    for problem in problems:
        log.warning("skipping damaged checkpoint: %s", problem)


def is_whole(path: Path) -> bool:
    """Whether a checkpoint was written whole: its checksum in place, or pending and its own
    (a save cut before its last rename). Neither read nor hashed where the checksum is in
    place."""
    return digest_path(path).exists() or _pending_is_its_own(path)


def digest_path(path: Path) -> Path:
    """The sha256 sidecar of a checkpoint file."""
    return path.with_name(path.name + ".sha256")


def pending_digest_path(path: Path) -> Path:
    """Where save_checkpoint writes a checkpoint's checksum before the checkpoint itself."""
    return path.with_name(path.name + ".sha256.next")


def _pending_is_its_own(path: Path, actual: str | None = None) -> bool:
    """Whether the pending checksum of checkpoint ``path`` is that file's (``actual``: its
    sha256, when already computed)."""
    pending = _read_digest(pending_digest_path(path))
    if pending is None:
        return False
    if actual is None:
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return False
    return pending == actual


def _read_digest(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def settle_pending_digests(ckpt_dir: Path) -> None:
    """A save a kill cut short left its checksum pending: into place where it is the
    checkpoint's (written whole, its rename done), else dropped (the checkpoint never came)."""
    for pending in ckpt_dir.glob(pending_digest_path(Path(CHECKPOINT_GLOB)).name):
        checkpoint = pending.with_name(pending.name.removesuffix(".sha256.next"))
        if _pending_is_its_own(checkpoint):
            os.replace(pending, digest_path(checkpoint))
        else:
            pending.unlink(missing_ok=True)
