"""Loggers for code that runs inside actor processes.

Thespian replaces the logging manager in every actor process (``multiprocCommon``: a new
``logging.Manager`` whose root forwards records to its logging process). A logger taken
at import time (``log = logging.getLogger(...)`` at module level) belongs to the old
manager, so its records never reach the log file (we saw them on the daemon's stderr
instead). ``ActorLogger`` looks its logger up at each call, in the manager in force.
"""

from __future__ import annotations

import logging
from typing import Any


class ActorLogger:
    """A logger name that resolves to ``logging.getLogger(name)`` at each use."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(logging.getLogger(self.name), attr)
