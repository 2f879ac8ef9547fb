"""The one duration syntax of every configuration file (pure).

A duration is a number of seconds (``90``, ``0.5``) or a string of number-unit pairs with
units ``ms``, ``s``, ``m``, ``h``, ``d`` (``"500ms"``, ``"90s"``, ``"30m"``, ``"1h30m"``).
Every duration key of the daemon's TOML (``[runtime]``, ``[runtime.recovery]``,
``[runtime.queue]``, ``[[agents]]``) takes it; records hold plain float seconds.
"""

from __future__ import annotations

import math
import re

from sessionward.errors import InvalidConfigError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION = re.compile(rf"(?:{_PART.pattern})+")


def parse_duration(value: object) -> float:
    """Return a duration in seconds.

    Raises:
        InvalidConfigError: not a number or a duration string, negative, or not finite.
    """
    if isinstance(value, bool):
        # bool is an int subclass; ``every = true`` is a mistake, not one second.
        raise InvalidConfigError(f"a duration must be a number or a string, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value):
        seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(value))
    else:
        raise InvalidConfigError(f"invalid duration {value!r} (seconds, or a string such as '500ms', '30m', '1h')")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidConfigError(f"invalid duration {value!r}: must be finite and not negative")
    return seconds
