"""Background load for reliability runs: CPU burners and an fsync-heavy disk writer.

A reliability claim holds only if it holds under load. On a 2-core machine, two things
make healthy owners look silent: a busy CPU (scheduling delays) and a slow disk (an
``fsync`` that takes seconds while another process floods the page cache). ``load()``
starts both as separate processes beside whatever runs in its ``with`` block and always
ends them, by process id, when the block exits (or when this process dies: each burner
watches its parent).

    with load(cpu=1, fsync=1, directory=tmp):
        run_the_suite()

``python -m benchmarks.load --cpu 1 --fsync 1 --seconds 60`` runs the same load alone.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from sessionward.hosting.lifetime import die_with_parent

FSYNC_CHUNK = 8 << 20
"""Bytes the disk writer writes between two fsyncs (the issue's reproducer used 8 MiB)."""


def _follow_parent(parent: int) -> None:
    """Exit when the process that started us is gone (no burner outlives its runner)."""
    die_with_parent(parent)


def burn_cpu(parent: int) -> None:
    """Spin on one core until killed."""
    _follow_parent(parent)
    x = 0
    while True:
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        if x == 0 and os.getppid() != parent:  # pragma: no cover - rare, portable fallback
            return


def write_and_fsync(parent: int, directory: str) -> None:
    """Write ``FSYNC_CHUNK`` bytes and fsync them, in a loop, until killed."""
    _follow_parent(parent)
    block = os.urandom(1 << 20)
    path = Path(directory) / f"fsync-load-{os.getpid()}.bin"
    try:
        while os.getppid() == parent:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for _ in range(FSYNC_CHUNK // len(block)):
                    os.write(fd, block)
                os.fsync(fd)
            finally:
                os.close(fd)
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


@contextlib.contextmanager
def load(*, cpu: int = 1, fsync: int = 1, directory: str | os.PathLike | None = None) -> Iterator[list[int]]:
    """Run ``cpu`` CPU burners and ``fsync`` disk writers while the block runs.

    Args:
        cpu: How many processes spin on a core.
        fsync: How many processes write 8 MiB and fsync it, in a loop.
        directory: Where the disk writers write (it should be on the disk under test;
            default: a temporary directory under the system's).

    Yields:
        The burners' process ids.
    """
    ctx = mp.get_context("fork")
    parent = os.getpid()
    tmp = None
    if fsync and directory is None:
        tmp = tempfile.TemporaryDirectory(prefix="sessionward-load-", dir=tempfile.gettempdir())
        directory = tmp.name
    procs = [ctx.Process(target=burn_cpu, args=(parent,), daemon=True) for _ in range(cpu)]
    procs += [ctx.Process(target=write_and_fsync, args=(parent, str(directory)), daemon=True)
              for _ in range(fsync)]
    try:
        for p in procs:
            p.start()
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            if p.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.join(5)
        if tmp is not None:
            tmp.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu", type=int, default=1, help="CPU burner processes (default 1)")
    parser.add_argument("--fsync", type=int, default=1, help="fsync-heavy disk writers (default 1)")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to run (default 60)")
    parser.add_argument("--dir", default=None, help="where the disk writers write")
    args = parser.parse_args(argv)
    with load(cpu=args.cpu, fsync=args.fsync, directory=args.dir) as pids:
        print(f"load running: pids {pids} for {args.seconds:.0f} s", flush=True)
        time.sleep(args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
