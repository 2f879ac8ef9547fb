"""Small measuring tools the workloads share: process memory, the disk's raw fsync rate,
per-turn overhead, and waiting for many turns under one deadline.

Nothing here starts a runtime; the workloads pass in what they measured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from sessionward import TurnHandle, TurnOutcome


def pss_kib(pid: int) -> int | None:
    """The process's proportional set size in KiB (``/proc/<pid>/smaps_rollup``).

    PSS splits each shared page between the processes that map it, so summing it over the
    actor processes counts pages shared after ``fork`` once, not once per process.
    None when the process is gone or the file cannot be read.
    """
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def total_pss_kib(pids: Iterable[int]) -> int:
    """Sum of ``pss_kib`` over the processes still alive."""
    return sum(p for p in (pss_kib(pid) for pid in pids) if p is not None)


def available_memory_kib() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` (0 when it cannot be read)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def raw_fsync_rate(directory: Path, line_bytes: int, seconds: float) -> tuple[float, int]:
    """Write one line and fsync it, in a loop, for ``seconds``; return (per second, count).

    The file is created in ``directory`` (the same file system the transcripts are on),
    opened ``O_APPEND`` as the transcript is, and removed afterwards.
    """
    path = Path(directory) / f".raw-fsync-{os.getpid()}.jsonl"
    line = b"x" * max(0, line_bytes - 1) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        count = 0
        started = time.perf_counter()
        deadline = started + seconds
        while True:
            os.write(fd, line)
            os.fsync(fd)
            count += 1
            now = time.perf_counter()
            if now >= deadline:
                break
        return count / (now - started), count
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def overhead_ms(handle: TurnHandle, outcome: TurnOutcome) -> float | None:
    """(finished time - submit time) - the provider's own stream time, in ms.

    ``finished_time`` is stamped by the owner when the turn's last entry is written, so the
    owner-to-submitter hop that delivers the outcome is not included.
    """
    if outcome.finished_time is None:
        return None
    return 1000.0 * (outcome.finished_time - handle.submitted_time - outcome.stream_seconds)


def wait_all(handles: Sequence[TurnHandle], timeout: float) -> list[TurnOutcome | None]:
    """Each handle's final outcome, or None for one that had none by the shared deadline
    (or whose request was refused with an error)."""
    deadline = time.monotonic() + timeout
    outcomes: list[TurnOutcome | None] = []
    for handle in handles:
        try:
            outcomes.append(handle.result(timeout=max(0.0, deadline - time.monotonic())))
        except Exception:  # TimeoutError or a refused request: no outcome to count
            outcomes.append(None)
    return outcomes


def read_count_file(path: Path) -> dict[str, int]:
    """Turn id -> how many streams a provider's ``count_file`` says were started for it."""
    counts: dict[str, int] = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return counts
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            counts[parts[1]] = counts.get(parts[1], 0) + 1
    return counts


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU seconds the process has used (0 when it is gone): the larger of two readings
    that each fall short of it, so the larger is the closer (and, both never going down
    while the process's threads live, it never goes down either).

    - ``/proc/<pid>/stat``'s user + system time counts threads that have exited, but the
      kernel derives it from tick samples scaled to the exact runtime and never lets it go
      down, so it lags: the 3.12 headline run read 0.00 ms a turn for workers forked just
      before its saturated phase, which spent 0.21 ms (``docs/performance.md``).
    - The sum of each live thread's exact runtime (``/proc/<pid>/task/*/schedstat``) has
      no lag, but forgets a thread once it exits.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    sampled = (int(fields[11]) + int(fields[12])) / _TICKS
    exact = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return sampled
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat", "rb") as f:
                exact += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # the thread exited meanwhile
    return max(sampled, exact / 1e9)


def parent_pid(pid: int) -> int:
    """The process's parent (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return int(f.read().rsplit(b")", 1)[1].split()[1])
    except OSError:
        return 0
