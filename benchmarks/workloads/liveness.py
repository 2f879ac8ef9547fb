"""Liveness under load: 40 sessions streaming back to back beside two CPU burners.

While every session streams turn after turn, a prober asks one session's state after
another (``Runtime.session``) and times each answer. Recovery runs with thresholds scaled
down (a 0.4 s tick), so an owner that looked silent would be replaced within the run.

What it must show (issue of record): state queries never time out, their p99 stays under
1 s, every submit gets exactly one final outcome, and recovery replaces no owner.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import attrs

from benchmarks import stats
from benchmarks.load import load
from benchmarks.workloads.measure import wait_all
from benchmarks.workloads.report import Figure, Target, WorkloadResult
from sessionward import Runtime, ScriptedProvider, TurnStatus


@attrs.frozen
class Params:
    sessions: int = 40
    turns_per_session: int = 10
    chunks: int = 20
    chunk_delay: float = 0.01
    """Each turn streams ``chunks`` deltas this far apart (0.2 s per turn)."""
    cpu_burners: int = 2
    query_timeout: float = 10.0
    base: str = "tcp"


QUICK = Params(turns_per_session=4)

COLUMNS = ("sessions", "submits", "final outcomes", "completed", "queries", "query timeouts",
           "query p50 ms", "query p99 ms", "owners replaced", "wall s")


def run(params: Params, workdir: Path) -> WorkloadResult:
    started = time.monotonic()
    store = Path(tempfile.mkdtemp(prefix="sessionward-", dir=workdir))
    keys = [f"agent:main:load{i:02d}" for i in range(params.sessions)]
    provider = ScriptedProvider(reply="x" * params.chunks, chunks=params.chunks, chunk_delay=params.chunk_delay)
    latencies: list[float] = []
    timeouts = 0
    stop = threading.Event()
    with load(cpu=params.cpu_burners, fsync=0), Runtime(
            store, provider=provider, base=params.base, recovery=True,
            recovery_tick=0.4, stall_after=1.0, abort_after=2.0) as rt:

        def probe() -> None:
            nonlocal timeouts
            i = 0
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    rt.session(keys[i % len(keys)], history=False, timeout=params.query_timeout)
                    latencies.append(time.monotonic() - t0)
                except TimeoutError:
                    timeouts += 1
                i += 1

        handles = [rt.submit(k, f"turn {n}", lane="direct") for n in range(params.turns_per_session) for k in keys]
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        outcomes = wait_all(handles, 300.0)
        stop.set()
        prober.join(params.query_timeout + 5)
        replaced = rt.status().owners_replaced
    final = [o for o in outcomes if o is not None and o.final]
    completed = sum(o.status is TurnStatus.COMPLETED for o in final)
    p50 = stats.p50([x * 1000 for x in latencies])
    p99 = stats.p99([x * 1000 for x in latencies])
    row = {
        "sessions": params.sessions, "submits": len(handles), "final outcomes": len(final),
        "completed": completed, "queries": len(latencies) + timeouts, "query timeouts": timeouts,
        "query p50 ms": p50, "query p99 ms": p99, "owners replaced": replaced,
        "wall s": time.monotonic() - started,
    }
    figures = (
        Figure("state query timeouts", timeouts, "", Target("<=", 0)),
        Figure("state query p99", p99, "ms", Target("<=", 1000.0)),
        Figure("submits without exactly one final outcome", len(handles) - len(final), "", Target("<=", 0)),
        Figure("owners replaced (in the table)", replaced, "", Target("<=", 0)),
    )
    notes = (f"{params.sessions} sessions x {params.turns_per_session} turns of {params.chunks} chunks "
             f"{params.chunk_delay * 1000:.0f} ms apart, all submitted at once, {params.cpu_burners} CPU "
             "burners beside the run; a prober asks one session's state after another throughout.",)
    return WorkloadResult(name="liveness", title="liveness under load", columns=COLUMNS, rows=(row,),
                          figures=figures, notes=notes, params=attrs.asdict(params),
                          wall_seconds=time.monotonic() - started)
