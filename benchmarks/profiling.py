"""cProfile inside every actor process, and in the client's threads, for ``profile_turns``.

``install(directory)`` must run before the runtime starts its actor system. Thespian forks
each actor process (the admin from this process, the Directory from the admin, owners from
the Directory, workers from their owner) and starts it in
``thespian.system.multiprocCommon.startChild``, looked up in that module at each start, so
replacing it here reaches every actor process: each one profiles its main thread (where
Thespian runs the actor and its transport) from its first instruction.

A snapshot is asked for with ``SIGUSR2`` (``snapshot(directory, n)``, after writing ``n`` to
``<directory>/request``, so processes started meanwhile name theirs alike): each process
writes its cumulative ``pstats`` table to ``<directory>/<Class>-<pid>-<n>.pstats``. A
window's profile is the difference of two snapshots (``difference``); the profiler stops
only while it writes one, so that writing is not counted. ``startChild`` gives every signal
a handler of its own (an actor process exits on most of them), so its
``set_signal_handler`` is made to leave ``SIGUSR2`` alone; and only processes started
through it get the signal (Thespian's admin and logger would exit on it).

Every profiler counts the CPU time of its own thread (``time.thread_time``), not wall time:
a thread blocked in ``epoll.poll`` costs nothing, so own times add up to the CPU a role
spends. cProfile slows the profiled code down (by about 2x for this code), so CPU per turn
is measured on a run without it; the profile gives call counts and where the CPU goes.
"""

from __future__ import annotations

import cProfile
import marshal
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Stats = dict[tuple[str, int, str], tuple[int, int, float, float, dict]]
"""A ``pstats`` table: (file, line, function) -> (primitive calls, calls, own s, cumulative s, callers)."""


def install(directory: Path) -> None:
    """Profile every actor process started from now on; snapshots go to ``directory``."""
    from thespian.system import multiprocCommon

    original_start = multiprocCommon.startChild
    original_set = multiprocCommon.set_signal_handler

    def set_signal_handler(signum: int, handler: Any) -> Any:
        if signum == signal.SIGUSR2:
            return None  # ours: the snapshot request
        return original_set(signum, handler)

    def start_child(childClass: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N803 (Thespian's name)
        name = getattr(childClass, "__name__", str(childClass)).rpartition(".")[-1]
        profiler = cProfile.Profile(time.thread_time)

        def dump(_signum: int, _frame: Any) -> None:
            # Stopped while it writes, so the snapshot's own calls are not in the next one.
            profiler.disable()
            try:
                index = (directory / "request").read_text().strip()  # the same for every process
                profiler.snapshot_stats()
                write_snapshot(directory / f"{name}-{os.getpid()}-{index}.pstats", profiler.stats)
            finally:
                profiler.enable()

        signal.signal(signal.SIGUSR2, dump)
        (directory / f"{name}-{os.getpid()}.started").touch()  # only these get SIGUSR2
        profiler.enable()
        return original_start(childClass, *args, **kwargs)

    multiprocCommon.startChild = start_child
    multiprocCommon.set_signal_handler = set_signal_handler


def write_snapshot(path: Path, stats: Stats) -> None:
    """Write a ``pstats`` table so that a reader never sees half of it (temp file, rename)."""
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        marshal.dump(stats, f)
    os.replace(tmp, path)


def read_snapshot(path: Path) -> Stats:
    with open(path, "rb") as f:
        return marshal.load(f)


def profiled_pids(directory: Path) -> set[int]:
    """The actor processes that run under ``install``'s profiler (alive or not).

    Only these may get ``SIGUSR2``: Thespian's admin and logger keep the default action
    for it, which ends the process."""
    return {int(p.stem.rsplit("-", 1)[1]) for p in directory.glob("*.started")}


def snapshot(directory: Path, index: int, *, wait: Callable[[float], bool]) -> dict[int, Path]:
    """Ask each profiled process for its ``index``-th snapshot; return pid -> file for those
    that wrote one (a process that exited meanwhile writes none).

    ``wait(seconds)`` pauses between looks at the directory and returns False to give up.
    """
    (directory / "request.tmp").write_text(str(index))
    os.replace(directory / "request.tmp", directory / "request")
    pending = set()
    for pid in profiled_pids(directory):
        try:
            os.kill(pid, signal.SIGUSR2)
            pending.add(pid)
        except ProcessLookupError:
            pass
    found: dict[int, Path] = {}
    while pending:
        for path in directory.glob(f"*-{index}.pstats"):
            pid = int(path.name.rsplit("-", 2)[1])
            if pid in pending:
                found[pid] = path
                pending.discard(pid)
        if pending and not wait(0.05):
            break  # e.g. a process that died between the signal and its dump
    return found


def difference(after: Stats, before: Stats) -> Stats:
    """What happened between two snapshots of one profiler (callers left out)."""
    out: Stats = {}
    for func, (cc, nc, tt, ct, _callers) in after.items():
        b = before.get(func, (0, 0, 0.0, 0.0, {}))
        if nc - b[1] > 0:
            out[func] = (cc - b[0], nc - b[1], tt - b[2], ct - b[3], {})
    return out


def merge(tables: Iterable[Stats]) -> Stats:
    """Sum tables of several processes of one role."""
    out: Stats = {}
    for table in tables:
        for func, (cc, nc, tt, ct, _callers) in table.items():
            o = out.get(func)
            out[func] = (cc, nc, tt, ct, {}) if o is None else (o[0] + cc, o[1] + nc, o[2] + tt, o[3] + ct, {})
    return out


class ThreadProfiler:
    """A profiler for one thread of this process, read from another (the client's mailbox).

    ``wrap(fn)`` returns a function that runs ``fn`` under the profiler in the thread that
    calls it. ``snapshot()`` copies the table so far without stopping it.
    """

    def __init__(self) -> None:
        self.profiler = cProfile.Profile(time.thread_time)
        self._lock = threading.Lock()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            self.profiler.enable()
            try:
                return fn(*args, **kwargs)
            finally:
                self.profiler.disable()
        return run

    def snapshot(self) -> Stats:
        with self._lock:
            self.profiler.snapshot_stats()
            return dict(self.profiler.stats)


def top(stats: Stats, n: int, *, turns: int, key: str = "tottime") -> list[dict[str, Any]]:
    """The ``n`` functions with the most own (``tottime``) or cumulative time, per turn."""
    index = 2 if key == "tottime" else 3
    rows = sorted(stats.items(), key=lambda kv: kv[1][index], reverse=True)[:n]
    return [
        {
            "function": label(func),
            "calls/turn": nc / turns,
            "own ms/turn": 1000.0 * tt / turns,
            "cum ms/turn": 1000.0 * ct / turns,
        }
        for func, (_cc, nc, tt, ct, _callers) in rows
    ]


def handlers(stats: Stats, *, turns: int) -> dict[str, float]:
    """Calls per turn of each ``receiveMsg_*`` handler: which messages a role handles per turn."""
    out: dict[str, float] = {}
    for (_file, _line, name), v in stats.items():
        if name.startswith("receiveMsg_"):
            out[name[len("receiveMsg_"):]] = out.get(name[len("receiveMsg_"):], 0.0) + v[1] / turns
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def calls(stats: Stats, pattern: str) -> int:
    """Calls of every function whose label contains ``pattern``."""
    return sum(v[1] for func, v in stats.items() if pattern in label(func))


def label(func: tuple[str, int, str]) -> str:
    file, line, name = func
    if file == "~":
        return name  # a builtin, e.g. "<method 'poll' of 'select.epoll' objects>"
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if len(parts) > 1 else file
    return f"{short}:{line}({name})"
