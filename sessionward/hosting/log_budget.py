"""A log budget: at most ``per_window`` lines per ``window`` seconds, the rest counted.

Used for lines a peer can provoke (a rejected frame): a flood of bad frames costs a few
lines a minute, not the disk. Pure: the caller passes ``now``.
"""

from __future__ import annotations


class LogBudget:
    """Decides whether a provoked line is written.

    ``take(now)`` returns None when the line is suppressed, else the number of lines
    suppressed since the last written one (to append to it, so nothing goes uncounted).
    """

    def __init__(self, per_window: int = 10, window: float = 60.0) -> None:
        self.per_window = per_window
        self.window = window
        self._window_start: float | None = None
        self._written = 0
        self._suppressed = 0

    def take(self, now: float) -> int | None:
        if self._window_start is None or now - self._window_start >= self.window:
            self._window_start = now
            self._written = 0
        if self._written >= self.per_window:
            self._suppressed += 1
            return None
        self._written += 1
        suppressed, self._suppressed = self._suppressed, 0
        return suppressed
