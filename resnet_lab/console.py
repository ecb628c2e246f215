"""The console scripts. Each imports its tool (torch takes a second or two) holding a Ctrl-C or
SIGTERM until the import ends, then told in one line; so is one during the tool's own checks,
until it takes the signals over. ``resnet-lab`` and ``resnet-lab-lesion`` import torch only
once their checks passed (a refusal takes a fraction of a second), holding the signals the
same way."""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import importlib.metadata
import os
import platform
import signal
import sys
from pathlib import Path
from typing import Any, NoReturn

from resnet_lab import stopping

TOOLS = {  # command -> the function it runs
    "resnet-lab": "resnet_lab.cli:command",
    "resnet-lab-report": "resnet_lab.report:main",
    "resnet-lab-gates": "resnet_lab.gates:main",
    "resnet-lab-eval": "resnet_lab.evaluate:main",
    "resnet-lab-lesion": "resnet_lab.lesion_cli:command",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse, with a mistake told in one line and exit 2, as the Hydra tools tell theirs
    (argparse prints its usage block before it), and ``--version`` in every tool's help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--version", action=PrintVersion, nargs=0, help=VERSION_HELP)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


VERSION_HELP = "print the versions of the lab, Python, torch and Hydra, and exit"


class PrintVersion(argparse.Action):
    """``--version`` of a tool run as a module (``python -m resnet_lab.bench``): the console
    scripts' line, unwrapped (argparse's own action wraps it to the terminal's width)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> NoReturn:
        print(version_line(parser.prog))
        parser.exit()


def given_path(text: str) -> Path:
    """A path option's value, refused when empty: an unset shell variable, which would name
    the current folder. A leading '~' is the home folder, as the shell reads it in ``--out ~/x``
    but not in ``--out=~/x`` (which made a folder named '~')."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty: give a path (an unset shell variable?)")
    return Path(text).expanduser()


HYDRA_TOOLS = ("resnet-lab", "resnet-lab-lesion")  # Hydra's own --version names Hydra's


def version_line(prog: str) -> str:
    """What ``--version`` prints: the lab's version and those a bug report needs."""
    from resnet_lab import __version__

    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("torch", "hydra-core")
    )
    return f"{prog} {__version__} (Python {platform.python_version()}, {versions})"


def _asks_for_version(prog: str, args: list[str]) -> bool:
    if prog not in HYDRA_TOOLS:
        return "--version" in args
    from resnet_lab.command_line import a_flags_value, long_flag

    return any(
        long_flag(arg) == "--version" and not a_flags_value(args, i) for i, arg in enumerate(args)
    )


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT's default, for SIGTERM too (which ended the process without a word)."""
    stopping.last_signal = signal.Signals(signum)
    raise KeyboardInterrupt


def _start(prog: str) -> None:
    # Last at exit (handlers run newest first): Python's final collection walks the million
    # objects torch imports, about 1 s on two cores, to free nothing a tool still needs (its
    # files and writers are closed, its logging flushed by then). Once per process.
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
    try:
        os.getcwd()
    except FileNotFoundError:  # removed under the shell: torch's import dies with a "oneMKL
        # FATAL ERROR" that blames the install, Hydra with a trace
        print(f"{prog}: error: the current folder no longer exists: cd to one", file=sys.stderr)
        sys.exit(2)
    module, _, function = TOOLS[prog].partition(":")
    with stopping.signals_held(prog) as received:
        if _asks_for_version(prog, sys.argv[1:]):  # the version of torch: its metadata only
            print(version_line(prog))
            sys.exit(0)
        from resnet_lab.errors import UserError  # Hydra's errors: held too

        try:
            entry = getattr(importlib.import_module(module), function)
        except UserError as e:  # a variant of one's own registered under a taken name
            print(f"{prog}: error: {e}", file=sys.stderr)
            sys.exit(2)
    # until the tool takes them: its checks stop at once, in one line
    for signum in stopping.STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    if received:
        print(f"{prog}: interrupted while starting: nothing was done", file=sys.stderr)
        sys.exit(128 + received[0])
    try:
        sys.exit(entry())
    except KeyboardInterrupt:  # before the tool took the signals (its command-line checks)
        print(f"{prog}: interrupted", file=sys.stderr)
        sys.exit(128 + stopping.last_signal)
    except BrokenPipeError:  # `resnet-lab --help | head`: the reader stopped, not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's advice
        sys.exit(1)
    except OSError as e:
        if e.filename is None:  # no file to name: not the machine's refusal of a path
            raise
        print(f"{prog}: error: {_refused_path(e)}", file=sys.stderr)
        sys.exit(2)
    finally:  # the tool is done, its outputs written: a stop signal during the exit ends the
        # process at once, as by default (it raised in an exit handler, a trace; a parallel
        # sweep's launcher took it for a sweep to stop)
        for signum in stopping.STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)


def _refused_path(error: OSError) -> str:
    """One line for a path the system refused that no check of the tool foresaw (a folder of
    another user's, a read-only or full disk, a file removed meanwhile): it ended in a trace
    that read as a bug."""
    paths = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
    if isinstance(error, PermissionError):
        why = "this user may not read or write it, or a folder above it (permission denied)"
        return f"{paths}: {why}"
    if isinstance(error, FileNotFoundError):
        return f"{paths}: not there (removed meanwhile?)"
    return f"{paths}: the file system refuses it ({error.strerror or error})"


def resnet_lab() -> None:
    _start("resnet-lab")


def report() -> None:
    _start("resnet-lab-report")


def gates() -> None:
    _start("resnet-lab-gates")


def evaluate() -> None:
    _start("resnet-lab-eval")


def lesion() -> None:
    _start("resnet-lab-lesion")
