"""User-facing errors: the command line prints their message alone, never a traceback."""

import re
import signal

from hydra.errors import CompactHydraException


class UserError(Exception):
    """A mistake the user can fix (bad option, missing data, busy run folder). Exit code 2."""


class ConfigError(UserError):
    """An option value, or a combination of options, that has no meaning."""


class ResumeDiffers(ConfigError):
    """resume=true with a command that differs from the run's in a setting that changes it;
    ``wanted``: the command's values of every setting a resume compares (flattened keys), by
    which a sweep's job finds the folder of the run it asks for."""

    def __init__(self, message: str, wanted: dict[str, object]) -> None:
        super().__init__(message)
        self.wanted = wanted


class DataError(UserError):
    """Dataset files missing, corrupted, or in an unknown layout."""


class RunStopped(UserError):
    """A run stopped before its end that a resume continues from its last whole checkpoint;
    the command line adds how to continue. ``exit_code``: the process's."""

    exit_code = 1


class RunInterrupted(RunStopped):
    """SIGINT/SIGTERM (or Slurm's SIGUSR2): the run saved a checkpoint (when it had started
    training) and stopped; ``exit_code`` follows the shell."""

    def __init__(self, signum: int, what: str = "checkpoint saved") -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name} ({what})")
        self.signum = signum
        self.exit_code = 128 + signum


class JobRefused(CompactHydraException):
    """A sweep job's mistake, for Hydra to print as its message alone once the other jobs ran: a
    plain exception would print a trace (a long one from a joblib worker, which Hydra cannot
    trim)."""


_RESOLVER_RAISED = re.compile(r"^\w+ raised while resolving interpolation: ")


def in_one_line(e: Exception) -> str:
    """Hydra's or OmegaConf's message on one line, without the lines naming keys and types, led
    by the setting it concerns (``full_key``) where it names one."""
    noise = ("full_key:", "object_type=", "reference_type=", "See https:")
    lines = [line.strip() for line in str(e).splitlines()]
    text = " ".join(line for line in lines if line and not line.startswith(noise))
    # a resolver's own exception ("KeyError raised while resolving interpolation: "), by name
    text = _RESOLVER_RAISED.sub("its ${...} cannot be resolved: ", text)
    where = getattr(e, "full_key", None)
    return f"{where}: {text or type(e).__name__}" if where else text or type(e).__name__
