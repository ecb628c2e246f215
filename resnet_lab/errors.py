"""User-facing errors: the command line prints their message alone, never a traceback."""

from hydra.errors import CompactHydraException


class UserError(Exception):
    """A mistake the user can fix (bad option, missing data, busy run folder). Exit code 2."""


class ConfigError(UserError):
    """An option value, or a combination of options, that has no meaning."""


class DataError(UserError):
    """Dataset files missing, corrupted, or in an unknown layout."""


class JobRefused(CompactHydraException):
    """A sweep job's mistake, for Hydra to print as its message alone once the other jobs ran: a
    plain exception would print a trace (a long one from a joblib worker, which Hydra cannot
    trim)."""
