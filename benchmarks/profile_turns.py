"""Where a turn's CPU goes, per actor process: ``python -m benchmarks.profile_turns``.

The throughput workload's shape (``benchmarks.workloads.throughput``: N sessions,
``ScriptedProvider(reply="ok")``, multiprocTCPBase, no recovery), run twice, each in a
fresh interpreter:

1. **cpu**: no profiler. CPU seconds of each process (``/proc/<pid>/stat``) over each
   phase, by role (client, Directory, owners, workers), divided by the phase's turns.
2. **profile**: cProfile in every actor process and in the client's three threads (caller, sender, mailbox)
   (``benchmarks.profiling``). Snapshots between the phases give each phase's calls and
   own time per turn, by role: call counts do not depend on the machine's load, and say
   what a turn costs in messages, socket registrations and fsyncs.

Phases: **activation** (one turn on each of N new sessions at once), **saturated** (``--turns``
turns on every session, all submitted at once), **one at a time** (``--sequential`` turns,
one in flight). The machine is shared, so wall times are noisy; CPU and calls per turn are
what to compare. ``--label NAME`` files the run in ``benchmarks/results/profile_turns.json``
under that name and keeps the other labels' runs (a before and an after side by side).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import profiling, stats
from benchmarks.workloads.measure import cpu_seconds, overhead_ms, pss_kib, wait_all
from benchmarks.workloads.report import add_run_arguments, machine, record_run
from benchmarks.workloads.throughput import session_keys

ROLES = {"Directory": "directory", "OwnerFactory": "factory", "SessionOwner": "owners", "TurnWorker": "workers"}
"""Actor class -> role, as the CPU table names them."""

WATCHED = {
    "messages received": "(receiveMessage)",
    "epoll.register": "register' of 'select.epoll",
    "epoll.poll": "poll' of 'select.epoll",
    "fsync": "posix.fsync",
    "socket send": "'send' of '_socket.socket",
    "socket recv": "recv' of '_socket.socket",
    "pickle.dumps": "_pickle.dumps",
    "json.dumps": "json/__init__.py:183(dumps)",
}
"""Calls counted per turn in each role: label -> a substring of the profiled function."""

TOP = 15


def _roles(rt) -> dict[str, set[int]]:
    from benchmarks.workloads.throughput import _roles as throughput_roles

    return throughput_roles(rt)


def _cpu(roles: dict[str, set[int]]) -> dict[str, float]:
    return {role: sum(cpu_seconds(p) for p in pids) for role, pids in roles.items()}


def _phases(rt, keys: list[str], turns: int, sequential: int, timeout: float, mark) -> dict[str, Any]:
    """Run the three phases; ``mark(name, turns)`` is called before the first and after each."""
    out: dict[str, Any] = {}
    mark(None, 0)
    started = time.monotonic()
    handles = [rt.submit(k, "hi") for k in keys]
    outcomes = wait_all(handles, timeout)
    out["activation"] = {"turns": len(handles), "wall s": time.monotonic() - started,
                         "completed": sum(o is not None for o in outcomes),
                         "overhead p50 ms": stats.p50([overhead_ms(h, o) for h, o in zip(handles, outcomes, strict=True)
                                                       if o is not None])}
    mark("activation", len(handles))
    started = time.monotonic()
    handles = [rt.submit(k, "hi") for _ in range(turns) for k in keys]
    outcomes = wait_all(handles, timeout)
    wall = time.monotonic() - started
    done = [(h, o) for h, o in zip(handles, outcomes, strict=True) if o is not None]
    out["saturated"] = {"turns": len(handles), "wall s": wall, "completed": len(done),
                        "turns/s": len(done) / wall,
                        "overhead p50 ms": stats.p50([overhead_ms(h, o) for h, o in done])}
    mark("saturated", len(handles))
    started = time.monotonic()
    overheads = []
    for i in range(sequential):
        handle = rt.submit(keys[i % len(keys)], "hi")
        overheads.append(overhead_ms(handle, handle.result(timeout=timeout)))
    out["one at a time"] = {"turns": sequential, "wall s": time.monotonic() - started, "completed": sequential,
                            "overhead p50 ms": stats.p50(overheads)}
    mark("one at a time", sequential)
    return out


def _config(args: argparse.Namespace):
    from sessionward import RuntimeConfig

    return RuntimeConfig(stream_in=args.stream_in)


def run_cpu(args: argparse.Namespace, store: Path) -> dict[str, Any]:
    from sessionward import Runtime, ScriptedProvider

    keys = session_keys(args.sessions)
    cpu: dict[str, dict[str, float]] = {}
    with Runtime(store, provider=ScriptedProvider(reply="ok"), recovery=False, config=_config(args)) as rt:
        last: dict[str, float] = {}

        def mark(phase: str | None, n: int) -> None:
            nonlocal last
            now = _cpu(_roles(rt))
            if phase is not None:
                cpu[phase] = {role: 1000.0 * (now.get(role, 0.0) - last.get(role, 0.0)) / max(1, n) for role in now}
                cpu[phase]["total"] = sum(cpu[phase].values())
            last = now

        phases = _phases(rt, keys, args.turns, args.sequential, args.timeout, mark)
        roles = _roles(rt)
        memory = {role: sum(pss_kib(p) or 0 for p in pids) / 1024.0 / max(1, len(pids))
                  for role, pids in roles.items() if pids}
    for phase, figures in phases.items():
        figures["cpu ms per turn"] = cpu[phase]
    return {"phases": phases, "pss MiB per process": memory}


def run_profile(args: argparse.Namespace, store: Path, snapshots: Path) -> dict[str, Any]:
    from sessionward import Runtime, ScriptedProvider
    from sessionward.client import Mailbox

    profiling.install(snapshots)
    mailbox_profiler = profiling.ThreadProfiler()
    Mailbox._run = mailbox_profiler.wrap(Mailbox._run)  # type: ignore[method-assign]
    sender_profiler = profiling.ThreadProfiler()
    Mailbox._send_queued = sender_profiler.wrap(Mailbox._send_queued)  # type: ignore[method-assign]
    main_profiler = profiling.ThreadProfiler()
    keys = session_keys(args.sessions)
    tables: dict[str, dict[str, profiling.Stats]] = {}
    stop = threading.Event()
    with Runtime(store, provider=ScriptedProvider(reply="ok"), recovery=False, config=_config(args)) as rt:
        index = [0]
        previous: dict[int, Path] = {}
        client_before: dict[str, profiling.Stats] = {}

        def mark(phase: str | None, n: int) -> None:
            deadline = time.monotonic() + 30.0
            found = profiling.snapshot(snapshots, index[0],
                                       wait=lambda s: not stop.wait(s) and time.monotonic() < deadline)
            main_profiler.profiler.disable()
            client_now = {"client (mailbox thread)": mailbox_profiler.snapshot(),
                          "client (sender thread)": sender_profiler.snapshot(),
                          "client (caller thread)": main_profiler.snapshot()}
            if phase is not None:
                by_role: dict[str, list[profiling.Stats]] = {}
                for pid, path in found.items():
                    role = ROLES.get(path.name.split("-", 1)[0], "other actors")
                    before = profiling.read_snapshot(previous[pid]) if pid in previous else {}
                    by_role.setdefault(role, []).append(profiling.difference(profiling.read_snapshot(path), before))
                tables[phase] = {role: profiling.merge(t) for role, t in by_role.items()}
                for role, now in client_now.items():
                    tables[phase][role] = profiling.difference(now, client_before.get(role, {}))
                tables[phase]["turns"] = n  # type: ignore[assignment]
            previous.update(found)
            client_before.update(client_now)
            index[0] += 1
            main_profiler.profiler.enable()

        _phases(rt, keys, args.turns, args.sequential, args.timeout, mark)
        main_profiler.profiler.disable()
    out: dict[str, Any] = {}
    for phase, by_role in tables.items():
        n = by_role.pop("turns")  # type: ignore[arg-type]
        out[phase] = {
            role: {
                "profiled ms per turn": 1000.0 * sum(v[2] for v in table.values()) / n,
                "calls per turn": {name: profiling.calls(table, pattern) / n for name, pattern in WATCHED.items()},
                "handlers per turn": profiling.handlers(table, turns=n),
                "top": profiling.top(table, TOP, turns=n),
                "top cumulative": profiling.top(table, 3 * TOP, turns=n, key="cumtime"),
            }
            for role, table in sorted(by_role.items())
        }
    return out


def _child(mode: str, args: argparse.Namespace, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix=f"profile-turns-{mode}-") as tmp:
        store = Path(tmp) / "store"
        if mode == "cpu":
            result = run_cpu(args, store)
        else:
            snapshots = Path(tmp) / "snapshots"
            snapshots.mkdir()
            result = run_profile(args, store, snapshots)
    out.write_text(json.dumps(result, indent=1))


def _print(label: str, cpu: dict[str, Any], profile: dict[str, Any]) -> None:
    print(f"== {label}: CPU ms per turn, by process role (no profiler)")
    for phase, figures in cpu["phases"].items():
        parts = ", ".join(f"{role} {ms:.2f}" for role, ms in figures["cpu ms per turn"].items())
        extra = f", {figures['turns/s']:.0f} turns/s" if "turns/s" in figures else ""
        print(f"  {phase:14s} ({figures['turns']} turns{extra}, overhead p50 {figures['overhead p50 ms']:.2f} ms): "
              f"{parts}")
    print("  PSS MiB per process: " + ", ".join(f"{r} {m:.1f}" for r, m in cpu["pss MiB per process"].items()))
    for phase, roles in profile.items():
        print(f"\n== {label}: {phase}, profiled (cProfile slows each process; compare calls, not ms)")
        for role, figures in roles.items():
            counts = ", ".join(f"{name} {n:.1f}" for name, n in figures["calls per turn"].items() if n)
            print(f"  -- {role}: {figures['profiled ms per turn']:.2f} profiled ms/turn; calls/turn: {counts}")
            handled = ", ".join(f"{name} {n:.2f}" for name, n in figures.get("handlers per turn", {}).items()
                                if n >= 0.01)
            if handled:
                print(f"     handled per turn: {handled}")
            for row in figures["top"][:10]:
                print(f"     {row['own ms/turn']:7.3f} own ms {row['calls/turn']:8.1f} calls  {row['function']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_turns", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=10, help="turns per session in the saturated phase")
    parser.add_argument("--sequential", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=180.0)
    add_run_arguments(parser, "profile_turns.json")
    parser.add_argument("--mode", choices=("cpu", "profile"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mode:
        _child(args.mode, args, args.out)
        return 0
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="profile-turns-") as tmp:
        for mode in ("cpu", "profile"):
            out = Path(tmp) / f"{mode}.json"
            # A fresh interpreter per run: the actor processes fork from it, and the profiled
            # run patches Thespian in the process that starts the system.
            command = [sys.executable, "-m", "benchmarks.profile_turns", "--mode", mode, "--out", str(out),
                       "--sessions", str(args.sessions), "--turns", str(args.turns),
                       "--sequential", str(args.sequential), "--timeout", str(args.timeout),
                       "--stream-in", args.stream_in]
            subprocess.run(command, check=True)
            results[mode] = json.loads(out.read_text())
    _print(args.label, results["cpu"], results["profile"])
    record_run(args.results, args.label, {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "load average": os.getloadavg(),
        "params": {"sessions": args.sessions, "turns per session": args.turns, "sequential": args.sequential,
                   "stream_in": args.stream_in},
        **results,
    })
    print(f"\nwrote {args.results} (run {args.label!r})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
