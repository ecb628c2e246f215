"""Overrides written back for the user to paste: in Hydra's grammar, then quoted for the shell.

Hints (how to continue a run, which folder to give) name values Hydra must read back as they
are: a path with a space, an accent, a comma or '~' written bare would split, fail to parse or
start a sweep."""

from __future__ import annotations

import functools
import json
import math
import re
import shlex
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException


def pasteable_override(key: str, value: Any) -> str:
    """``key=value`` to paste into a shell, from which Hydra reads ``value`` back: in Hydra's
    grammar (true, null, [a,b], a string bare where Hydra reads it back so, else in Hydra's
    quotes: a comma would start a sweep, an accent or '~' is no bare value, '${' would be
    resolved), then quoted for the shell (a space splits words, '$' expands, '[' globs)."""
    override = f"{key}={_hydra_value(value)}"
    if override == shlex.quote(override):
        return override
    if any(c in override for c in '"$`\\!\n'):
        return shlex.quote(override)
    return f'"{override}"'  # reads better than shlex's '...'"'"'...' around single quotes


def _hydra_value(value: Any, nested: bool = False) -> str:
    """``value`` as Hydra's override grammar writes it (``nested``: in a list or dict)."""
    if isinstance(value, str):
        return value if _reads_back(value, nested) else _hydra_quoted(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)  # true, false, null
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # inf, -inf, nan
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{k}:{_hydra_value(v, True)}" for k, v in value.items()) + "}"
    return "[" + ",".join(_hydra_value(v, True) for v in value) + "]"


@functools.cache
def override_parser() -> OverridesParser:
    """Hydra's reader of overrides, built once per process: a build inspects each function of
    its grammar (about 2 ms), and the checks read the command line, and the report each row's
    defaults, many times over."""
    return OverridesParser.create()


def _reads_back(value: str, nested: bool) -> bool:
    """Whether Hydra reads ``value``, given bare, as this very string (not resolved later);
    ``nested``: as an element of a list (an empty string is none there, a '\\,' no comma)."""
    if "${" in value:
        return False
    try:
        (override,) = override_parser().parse_overrides(
            [f"k=[{value}]" if nested else f"k={value}"]
        )
    except HydraException:
        return False
    read = override.value()
    return not override.is_sweep_override() and read == ([value] if nested else value)


def _hydra_quoted(value: str) -> str:
    """In Hydra's single quotes: each quote escaped, the backslashes before a quote (or before
    the closing one) doubled, an interpolation's '${' escaped; Hydra keeps any other backslash
    as it stands."""
    escaped = re.sub(r"(\\*)'", lambda m: m.group(1) * 2 + "\\'", value)
    escaped = re.sub(r"(\\+)$", lambda m: m.group(1) * 2, escaped)
    escaped = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", escaped)
    return f"'{escaped}'"
