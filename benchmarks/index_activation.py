"""New-session activation over a big index: ``python -m benchmarks.index_activation``.

Writes a store whose ``sessions.json`` knows ``--known`` sessions (100,000 by default; the
index only: a new key's activation does not read other sessions' transcripts), starts a
runtime on it, and activates ``--new`` new keys one at a time: submit -> ``TurnAccepted``,
in ms (as the scale workload measures activation). It also times ``SessionStore.save`` of
one new record over that index, alone, and prints p50/p99 of both.

Issue 17's target: new-session activation p99 ≤ 50 ms over 100,000 known sessions.
``--label NAME`` files the run in ``benchmarks/results/index_activation.json`` under that
name, keeping the other labels' runs (a before and an after side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import stats
from benchmarks.workloads.report import add_run_arguments, machine, record_run

TARGET_P99_MS = 50.0


def write_index(root: Path, n: int) -> None:
    """A store whose index names ``n`` sessions (as the scale workload writes it)."""
    from sessionward.storage.store import derived_session_id

    (root / "sessions").mkdir(parents=True, exist_ok=True)
    now = time.time()
    index = {}
    for i in range(n):
        key = f"agent:bench:d{i:06d}"
        session_id = derived_session_id(key)
        index[key] = {"sessionId": session_id, "sessionFile": f"sessions/{session_id}.jsonl",
                      "createdTime": now, "updatedTime": now}
    (root / "sessions.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


def save_times(root: Path, count: int) -> list[float]:
    """ms of ``SessionStore.save`` of one new record, ``count`` times."""
    from sessionward.storage.store import SessionStore

    store = SessionStore(root)
    out = []
    for i in range(count):
        key = f"agent:bench:save{i:05d}"
        record = store.resolve(key, {}, now=time.time())
        began = time.perf_counter()
        store.save({key: record})
        out.append(1000.0 * (time.perf_counter() - began))
    return out


def activations(root: Path, count: int, timeout: float, stream_in: str = "worker") -> tuple[list[float], int, int]:
    """ms from submit to acceptance of ``count`` new keys, one at a time; (ms, completed, known after)."""
    from sessionward import Runtime, RuntimeConfig, ScriptedProvider, TurnStatus
    from sessionward.storage.store import SessionStore

    latencies, completed = [], 0
    with Runtime(root, provider=ScriptedProvider(reply="ok"), recovery=False,
                 config=RuntimeConfig(stream_in=stream_in)) as rt:
        for i in range(count):
            handle = rt.submit(f"agent:bench:new{i:05d}", "activate")
            if handle.wait_accepted(timeout):
                latencies.append(1000.0 * (time.time() - handle.submitted_time))
            try:
                completed += handle.result(timeout=timeout).status is TurnStatus.COMPLETED
            except Exception:  # counted as not completed
                continue
    return latencies, completed, len(SessionStore(root).load_index())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.index_activation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--known", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=100)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=60.0)
    add_run_arguments(parser, "index_activation.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="index-activation-") as tmp:
        root = Path(tmp) / "store"
        write_index(root, args.known)
        saves = save_times(root, args.saves)
        latencies, completed, known_after = activations(root, args.new, args.timeout, args.stream_in)
    run: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load average": os.getloadavg(),
        "known sessions": args.known,
        "stream_in": args.stream_in,
        "save of one new record p50 ms": stats.p50(saves),
        "save of one new record p99 ms": stats.p99(saves),
        "new sessions": args.new,
        "completed": completed,
        "activation p50 ms": stats.p50(latencies),
        "activation p99 ms": stats.p99(latencies),
        "activation max ms": max(latencies, default=float("nan")),
        "index entries after": known_after,
        "expected index entries after": args.known + args.saves + args.new,
        "target activation p99 ms": TARGET_P99_MS,
    }
    for name, value in run.items():
        if name not in ("machine",):
            print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")
    met = run["activation p99 ms"] <= TARGET_P99_MS
    print(f"target p99 ≤ {TARGET_P99_MS:.0f} ms: {'met' if met else 'MISSED'}")
    record_run(args.results, args.label, run)
    print(f"wrote {args.results} (run {args.label!r})")
    return 0 if completed == args.new else 1


if __name__ == "__main__":
    sys.exit(main())
