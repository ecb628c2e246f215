"""User-facing errors: the command line prints their message alone, never a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad option, missing data, busy run folder). Exit code 2."""


class ConfigError(UserError):
    """An option value, or a combination of options, that has no meaning."""


class DataError(UserError):
    """Dataset files missing, corrupted, or in an unknown layout."""
