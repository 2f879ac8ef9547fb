"""Several members of one Thespian convention on this machine: turns/s with 1, 2 and 3
members, and the time to re-home a lost member's sessions.

Each member is a ``sessionward start`` daemon (``--member``/``--join``) on its own loopback
port, all on one store, as ``tests/test_cluster.py`` runs them. Clients submit through an
``AdminClient`` on the leader. This machine has 2 cores: more members add processes, not
CPU, so the figures say what a convention costs here, not how it scales on several hosts.

Re-homing: with 3 members and every session live, one member's processes are SIGKILLed;
the figure is the Directory's own measure (``status().last_rehome_seconds``: from the
member declared gone to its last session re-activated elsewhere) and, beside it, the time
from the kill to the re-homing being visible, which adds the detection (MemberWatch
checks every second and needs two refused connections).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs

from benchmarks import stats
from benchmarks.workloads.measure import overhead_ms, wait_all
from benchmarks.workloads.report import Figure, WorkloadResult
from sessionward.hosting.system import free_port, process_group_members
from sessionward.operations.admin import AdminClient, read_daemon_info
from sessionward.outcomes import TurnStatus


@attrs.frozen
class Params:
    sessions: int = 60
    turns_per_session: int = 10
    members: tuple[int, ...] = (1, 2, 3)
    timeout: float = 180.0


QUICK = Params(sessions=15, turns_per_session=4, members=(1, 3))

COLUMNS = ("members", "sessions", "turns", "completed", "turns/s", "overhead p50 ms", "overhead p99 ms",
           "owners per member")


def _cli(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "sessionward", *args], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    if result.returncode != 0 and args[0] == "start":
        raise RuntimeError(f"sessionward {' '.join(args)} failed: {result.stderr}")


def _start(store: Path, n: int) -> list:
    """Start the leader and n - 1 members; if one fails to start, stop those that did."""
    leader_port = free_port()
    infos: list = []
    try:
        _cli("start", "--store", str(store), "--port", str(leader_port), "--member", "m1")
        infos.append(read_daemon_info(store))
        for i in range(2, n + 1):
            _cli("start", "--store", str(store), "--port", str(free_port()), "--member", f"m{i}",
                 "--join", f"127.0.0.1:{leader_port}")
            infos.append(read_daemon_info(store, f"daemon.m{i}.json"))
    except BaseException:
        _stop(store, infos)
        raise
    return infos


def _stop(store: Path, infos: list) -> None:
    for info in reversed([i for i in infos[1:] if i is not None]):
        _cli("stop", "--store", str(store), "--member", info.member)
    _cli("stop", "--store", str(store))
    groups = {g for info in infos if info for g in (*info.process_groups, info.pid)}
    for pid in process_group_members(groups):
        os.kill(pid, signal.SIGKILL)


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)  # polling another process's state
    return False


def run_members(n: int, params: Params, store: Path, rehome: bool) -> tuple[dict, dict | None]:
    infos = _start(store, n)
    try:
        with AdminClient(store) as client:
            _wait(lambda: len(client.status().members) == n, 30)
            keys = [f"agent:bench:c{i:03d}" for i in range(params.sessions)]
            for h in [client.submit(k, "warm") for k in keys]:  # every owner live
                h.result(timeout=params.timeout)
            handles = []
            started = time.monotonic()
            for _ in range(params.turns_per_session):
                handles += [client.submit(k, "hi") for k in keys]
            outcomes = wait_all(handles, params.timeout)
            wall = time.monotonic() - started
            done = [(h, o) for h, o in zip(handles, outcomes, strict=True)
                    if o is not None and o.status is TurnStatus.COMPLETED]
            overheads = [overhead_ms(h, o) for h, o in done]
            status = client.status()
            row = {"members": n, "sessions": params.sessions, "turns": len(handles), "completed": len(done),
                   "turns/s": len(done) / wall, "overhead p50 ms": stats.p50(overheads),
                   "overhead p99 ms": stats.p99(overheads),
                   "owners per member": ", ".join(f"{k} {v}" for k, v in sorted(status.members.items()))}
            lost = None
            if rehome and n > 1:
                victim = infos[-1]
                moved = status.members.get(victim.member, 0)
                killed = time.monotonic()
                for pid in process_group_members({victim.pid, *victim.process_groups}):
                    os.kill(pid, signal.SIGKILL)
                seen = _wait(lambda: (s := client.status()).rehomed_sessions >= moved
                             and s.last_rehome_seconds is not None
                             and all(x.state != "activating" for x in client.sessions(limit=1000)), 60)
                visible = time.monotonic() - killed
                after = client.status()
                again = [client.submit(k, "after") for k in keys]
                ok = sum(1 for o in wait_all(again, params.timeout) if o and o.status is TurnStatus.COMPLETED)
                lost = {"sessions moved": moved, "re-homing s (Directory)": after.last_rehome_seconds,
                        "kill to re-homed s": visible if seen else None,
                        "turns after, completed": f"{ok} of {len(again)}"}
            return row, lost
    finally:
        _stop(store, infos)


def run(params: Params, workdir: Path) -> WorkloadResult:
    started = time.monotonic()
    rows, rehome = [], None
    for n in params.members:
        row, lost = run_members(n, params, workdir / f"store-{n}", rehome=(n == max(params.members)))
        rows.append(row)
        rehome = lost or rehome
    figures = tuple(Figure(f"turns/s with {r['members']} member(s)", r["turns/s"], "turns/s") for r in rows)
    if rehome:
        figures += (
            Figure("re-homing after a member loss (Directory)", rehome["re-homing s (Directory)"] or float("nan"), "s"),
            Figure("SIGKILL to sessions re-homed (with detection)", rehome["kill to re-homed s"] or float("nan"), "s"),
        )
    notes = (
        "members are daemons on loopback ports of this 2-core machine, one shared store; "
        "provider ScriptedProvider(reply='ok').",
        f"re-homing: {rehome}" if rehome else "re-homing not measured (one member only).",
    )
    return WorkloadResult(name="cluster", title="several members of one convention (this machine)",
                          columns=COLUMNS, rows=tuple(rows), figures=figures, notes=notes,
                          params=attrs.asdict(params), wall_seconds=time.monotonic() - started)
