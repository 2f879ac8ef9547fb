"""The reported incident's lane mix, through both baselines and sessionward.

The same seeded turns (``workload.incident_mix``) go through the lock-release model, the
in-process lock and sessionward (multiprocTCPBase), one after the other, each on a fresh
directory. The figures are read from the transcripts each system wrote and from what the
submitters got back (``run_baselines``, ``run_sessionward``).
"""

from __future__ import annotations

import time
from pathlib import Path

import attrs

from benchmarks import run_baselines, run_sessionward
from benchmarks.row import Row
from benchmarks.workloads.report import Figure, Target, WorkloadResult


@attrs.frozen
class Params:
    turns: int = 300
    seed: int = 1
    scale: float = 0.1
    """Time scale of the mix (``workload.incident_mix``): 0.1 = streams of 0.5 ms to
    100 ms, long runs of 150 to 300 ms, a submission every 20 ms on average."""
    base: str = "tcp"


QUICK = Params(turns=100)

COLUMNS = (
    "system", "submitted", "completed", "lost", "loss %", "takeover/fence errors",
    "interleaved turns", "second runs", "duplicated replies", "refused (typed)",
    "failed (typed)", "overhead p50 ms", "overhead p99 ms", "turns/s",
)


def _cells(row: Row) -> dict:
    return {
        "system": row.system,
        "submitted": row.submitted,
        "completed": row.completed,
        "lost": row.lost,
        "loss %": row.loss_pct,
        "takeover/fence errors": row.fence_errors,
        "interleaved turns": row.interleaved,
        "second runs": row.second_runs,
        "duplicated replies": row.duplicated,
        "refused (typed)": getattr(row, "refused", 0),
        "failed (typed)": getattr(row, "failed", 0),
        "overhead p50 ms": row.overhead_p50_ms,
        "overhead p99 ms": row.overhead_p99_ms,
        "turns/s": row.turns_per_s,
        "contended": row.contended,
        "contended lost": row.contended_lost,
        "no outcome": getattr(row, "no_outcome", 0),
        "parse ok": row.parse_ok,
        "typed reasons": getattr(row, "failed_reasons", ""),
        "stalled streams": getattr(row, "stalled_streams", ""),
        "wall s": row.wall_seconds,
    }


def run(params: Params, workdir: Path) -> WorkloadResult:
    """Run the mix through the three systems; return their table and sessionward's targets."""
    started = time.monotonic()
    rows: list[Row] = [
        run_baselines.run_incident_mix(system, params.turns, params.seed, workdir, params.scale)
        for system in run_baselines.SYSTEMS
    ]
    sw = run_sessionward.run_incident_mix(
        params.turns, params.seed, workdir, params.scale, base=params.base
    )
    rows.append(sw)
    figures = [
        Figure("lost replies", sw.lost, "turns", Target("<=", 0)),
        Figure("takeover/fence errors", sw.fence_errors, "", Target("<=", 0)),
        Figure("interleaved turns", sw.interleaved, "turns", Target("<=", 0)),
        Figure("second runs started by recovery", sw.second_runs, "", Target("<=", 0)),
        Figure("turns with no outcome", sw.no_outcome, "turns", Target("<=", 0)),
    ]
    figures += [
        Figure("lost replies (measured, no target)", r.lost, f"turns ({r.loss_pct:.1f}%)",
               system=r.system)
        for r in rows[:-1]
    ]
    notes = (
        f"{params.turns} turns, seed {params.seed}, time scale {params.scale}; "
        "the same turns for every system.",
        f"sessionward's typed non-replies by reason: {sw.failed_reasons or 'none'}"
        + (f"; the turns aborted as stalled had scripted streams of {sw.stalled_streams} "
           "(they were streaming when aborted)." if sw.stalled_streams else "."),
        "lost = no reply delivered and none persisted, and (sessionward) no typed outcome "
        "either; refused = heartbeats skipped while their session was busy (typed outcome "
        "heartbeat_skipped, by design); failed = other typed failures (e.g. stalled).",
        "overhead = reply time - submit time - the stream's own time: queueing behind other "
        "turns of the same file, locking, retries and re-runs. For sessionward the reply "
        "time is the owner's finished_time (the owner-to-submitter hop is not in it).",
        "sessionward: each file's owner is activated by one warm-up turn before the mix "
        "(not counted); recovery aborts a turn silent for the baselines' threshold.",
    )
    return WorkloadResult(
        name="incident",
        title=f"incident lane mix ({params.turns} turns, scale {params.scale})",
        columns=COLUMNS,
        rows=tuple(_cells(r) for r in rows),
        figures=tuple(figures),
        notes=notes,
        params=attrs.asdict(params),
        wall_seconds=time.monotonic() - started,
    )
