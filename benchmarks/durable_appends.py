"""What limits durable appends over 8 sessions: ``python -m benchmarks.durable_appends``.

Issue 17 asks that with ``fsync`` per entry, 8 sessions' appends reach at least 0.5 of the
raw fsync rate. Before fixing anything this measures where the ceiling is:

- **raw, 1 file** and **raw, N files at once** (N processes, each write+fsync of one line
  in a loop on its own file): per-file fsync cannot be shared across files, so N files'
  aggregate rate is what the disk gives N sessions.
- **sessionward** with ``--sessions`` sessions (8), ``--turns`` turns queued on each, for
  durability ``entry``, ``turn`` and ``never``: transcript entries appended per second,
  and the CPU all actor processes and the client spent per turn. ``never`` (no fsync at all)
  is the runtime's own ceiling: if ``entry`` is close to it, the fsyncs are not the limit.
- **CPU ceiling**: CPUs / (CPU seconds per turn) x entries per turn, the appends/s the
  machine could give if CPU were the only limit.

``--label NAME`` files the run in ``benchmarks/results/durable_appends.json``, keeping the
other labels' runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.workloads.measure import cpu_seconds, raw_fsync_rate, wait_all
from benchmarks.workloads.report import add_run_arguments, machine, record_run

TARGET_RATIO = 0.5


def _raw_worker(directory: str, line_bytes: int, seconds: float, start: Any, out: Any) -> None:
    start.wait()
    out.put(raw_fsync_rate(Path(directory), line_bytes, seconds)[1])


def raw_rate_many(directory: Path, files: int, line_bytes: int, seconds: float) -> float:
    """Aggregate write+fsync/s of ``files`` processes, each on its own file, at once."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = []
    for i in range(files):
        sub = directory / f"raw{i}"
        sub.mkdir()
        procs.append(ctx.Process(target=_raw_worker, args=(str(sub), line_bytes, seconds, start, out)))
    for p in procs:
        p.start()
    start.set()
    total = sum(out.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def run_sessionward(store: Path, durability: str, sessions: int, turns: int, timeout: float,
                    stream_in: str = "worker") -> dict[str, Any]:
    from sessionward import Durability, Runtime, RuntimeConfig, ScriptedProvider, TurnStatus

    keys = [f"agent:bench:dur{i:02d}" for i in range(sessions)]
    with Runtime(store, provider=ScriptedProvider(reply="ok"), recovery=False,
                 config=RuntimeConfig(durability=Durability(durability), stream_in=stream_in)) as rt:
        wait_all([rt.submit(k, "warm-up") for k in keys], timeout)
        paths = [Path(rt.session(k).file) for k in keys]
        before = sum(p.read_bytes().count(b"\n") for p in paths)
        pids = rt._processes() | {os.getpid()}
        cpu_before = sum(cpu_seconds(p) for p in pids)
        began = time.monotonic()
        handles = [rt.submit(k, "append") for _ in range(turns) for k in keys]
        outcomes = wait_all(handles, timeout)
        wall = time.monotonic() - began
        cpu = sum(cpu_seconds(p) for p in pids) - cpu_before
    entries = sum(p.read_bytes().count(b"\n") for p in paths) - before
    completed = sum(1 for o in outcomes if o is not None and o.status is TurnStatus.COMPLETED)
    return {"durability": durability, "stream_in": stream_in, "sessions": sessions, "turns": len(handles),
            "completed": completed,
            "entries": entries, "appends/s": entries / wall, "turns/s": completed / wall, "wall s": wall,
            "cpu ms per turn": 1000.0 * cpu / max(1, completed),
            "cpu ceiling appends/s": (os.cpu_count() or 1) / (cpu / max(1, completed)) * entries / max(1, completed)
            if cpu > 0 else float("nan")}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.durable_appends", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--turns", type=int, default=60, help="turns queued on each session")
    parser.add_argument("--raw-seconds", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    add_run_arguments(parser, "durable_appends.json")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="durable-appends-") as tmp:
        for durability in ("entry", "turn", "never"):
            store = Path(tmp) / f"store-{durability}"
            rows.append(run_sessionward(store, durability, args.sessions, args.turns, args.timeout, args.stream_in))
        raw_dir = Path(tmp) / "raw"
        raw_dir.mkdir()
        raw_one = raw_fsync_rate(raw_dir, 280, args.raw_seconds)[0]
        raw_many = raw_rate_many(raw_dir, args.sessions, 280, args.raw_seconds)
    entry = rows[0]
    run = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "load average": os.getloadavg(),
        "raw fsync/s, 1 file": raw_one, f"raw fsync/s, {args.sessions} files at once": raw_many,
        "sessionward": rows,
        "entry appends/s over raw fsync/s (1 file)": entry["appends/s"] / raw_one,
        f"entry appends/s over raw fsync/s ({args.sessions} files)": entry["appends/s"] / raw_many,
        "target ratio": TARGET_RATIO,
    }
    print(f"raw write+fsync/s: 1 file {raw_one:,.0f}; {args.sessions} files at once {raw_many:,.0f}")
    for r in rows:
        print(f"sessionward {r['durability']:5s}: {r['appends/s']:7.1f} appends/s, {r['turns/s']:6.1f} turns/s, "
              f"{r['cpu ms per turn']:.2f} ms CPU per turn (all processes) -> CPU ceiling "
              f"{r['cpu ceiling appends/s']:,.0f} appends/s; {r['completed']}/{r['turns']} completed")
    ratio = entry["appends/s"] / raw_one
    print(f"entry appends/s over raw fsync/s: {ratio:.3f} (1 file), "
          f"{entry['appends/s'] / raw_many:.3f} ({args.sessions} files); target ≥ {TARGET_RATIO}")
    record_run(args.results, args.label, run)
    print(f"wrote {args.results} (run {args.label!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
