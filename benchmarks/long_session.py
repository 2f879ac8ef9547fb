"""Does a turn cost more as its session grows? ``python -m benchmarks.long_session``.

The throughput workload's shape (``ScriptedProvider(reply="ok")``, multiprocTCPBase, no
recovery, ``--sessions`` sessions with ``--queued`` turns queued on each at a time), run
until every session has ``--turns`` turns. Each block of ``--block`` turns per session
reports its saturated turns/s and the CPU each process role spent per turn
(``/proc/<pid>/stat``), so a cost that grows with the session's length shows as a column
that climbs block by block. A flat table is the expected result: the owner keeps its
context and sends a worker only what is new (``actors/context_feed.py``), and the worker's
provider counts only the context it has not seen (``ScriptedProvider``'s usage).

``--label NAME`` files the run in ``benchmarks/results/long_session.json``, keeping the
other labels' runs (a before and an after side by side).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.workloads.measure import cpu_seconds, wait_all
from benchmarks.workloads.report import add_run_arguments, machine, record_run
from benchmarks.workloads.throughput import _roles, session_keys

ROLES = ("client", "owners", "workers")


def run(store: Path, sessions: int, turns: int, block: int, queued: int, stream_in: str,
        timeout: float) -> list[dict[str, Any]]:
    from sessionward import Runtime, RuntimeConfig, ScriptedProvider

    keys = session_keys(sessions)
    rows = []
    with Runtime(store, provider=ScriptedProvider(reply="ok"), recovery=False,
                 config=RuntimeConfig(stream_in=stream_in)) as rt:
        wait_all([rt.submit(k, "warm-up") for k in keys], timeout)
        done = 1
        while done < turns:
            size = min(block, turns - done)
            roles = _roles(rt)  # workers come and go: read the roles again for each block
            before = {r: sum(cpu_seconds(p) for p in roles[r]) for r in ROLES}
            began = time.monotonic()
            completed = 0
            for start in range(0, size, queued):
                handles = [rt.submit(k, "hi") for _ in range(min(queued, size - start)) for k in keys]
                completed += sum(o is not None for o in wait_all(handles, timeout))
            wall = time.monotonic() - began
            after = {r: sum(cpu_seconds(p) for p in roles[r]) for r in ROLES}
            n = size * sessions
            rows.append({
                "session turns": f"{done + 1}-{done + size}", "turns": n, "completed": completed,
                "turns/s": completed / wall,
                "cpu ms per turn": {r: 1000.0 * (after[r] - before[r]) / n for r in ROLES},
            })
            done += size
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.long_session", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--turns", type=int, default=1000, help="turns per session in all")
    parser.add_argument("--block", type=int, default=200, help="turns per session in each reported block")
    parser.add_argument("--queued", type=int, default=20, help="turns queued on each session at a time")
    parser.add_argument("--timeout", type=float, default=300.0)
    add_run_arguments(parser, "long_session.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="long-session-") as tmp:
        rows = run(Path(tmp) / "store", args.sessions, args.turns, args.block, args.queued, args.stream_in,
                   args.timeout)
    print(f"{args.sessions} sessions, {args.queued} turns queued on each at a time, stream_in {args.stream_in}")
    print(f"{'session turns':>14} {'turns/s':>8} " + " ".join(f"{r + ' ms':>11}" for r in ROLES))
    for row in rows:
        print(f"{row['session turns']:>14} {row['turns/s']:8.0f} "
              + " ".join(f"{row['cpu ms per turn'][r]:11.3f}" for r in ROLES))
    record_run(args.results, args.label, {
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
        "load average": os.getloadavg(),
        "params": {"sessions": args.sessions, "turns": args.turns, "block": args.block, "queued": args.queued,
                   "stream_in": args.stream_in},
        "blocks": rows,
    })
    print(f"wrote {args.results} (run {args.label!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
