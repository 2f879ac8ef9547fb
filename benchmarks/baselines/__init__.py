"""Runnable models of the designs sessionward replaces.

``lock_release`` models openclaw's session write lock, released around every provider
stream and fenced by a file fingerprint, with its model-fallback chain and its
stuck-session recovery that re-fires a second run. ``inprocess_lock`` holds one
``threading.Lock`` per session for a whole turn: correct, but only inside one process.

Both run each turn on its own thread, stream from the same sleep-based ``ScriptedStream``,
write pi-style JSONL transcripts through ``transcript``, and use the same
``StuckRunWatchdog`` with the same threshold.
"""

from benchmarks.baselines.inprocess_lock import InProcessLockSystem
from benchmarks.baselines.lock_release import (
    AllModelsFailedError,
    LockReleaseConfig,
    LockReleaseSystem,
    SessionWriteLockError,
    TakeoverError,
)
from benchmarks.baselines.provider import ScriptedStream

__all__ = [
    "AllModelsFailedError",
    "InProcessLockSystem",
    "LockReleaseConfig",
    "LockReleaseSystem",
    "ScriptedStream",
    "SessionWriteLockError",
    "TakeoverError",
]
