"""Drive a baseline through the incident mix and read its figures off the disk.

``run_incident_mix`` submits every turn of ``workload.incident_mix`` at its ``submit_at``
(each on its own thread), waits for every run including the ones recovery re-fired, then
counts from the transcripts (``check``) and from what the submitters got back.

Run as ``python -m benchmarks.run_baselines [--turns N] [--seed S] [--scale K]`` to print the
two baselines' table and write ``benchmarks/results/baselines.json``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import check, stats
from benchmarks.baselines.base import ThreadedSystem
from benchmarks.baselines.inprocess_lock import InProcessLockSystem
from benchmarks.baselines.lock_release import LockReleaseConfig, LockReleaseSystem
from benchmarks.baselines.provider import ScriptedStream
from benchmarks.baselines.transcript import create_transcript
from benchmarks.row import Row
from benchmarks.table import print_table, write_results
from benchmarks.workload import (
    RECOVERY_THRESHOLD_SECONDS,
    SESSION_FILES,
    SubmittedTurn,
    incident_mix,
    session_file,
)

SYSTEMS = ("lock-release", "in-process lock")

DEFAULT_TIME_SCALE = 0.1
"""The scale at which 300 turns of both baselines take well under 20 s on 2 cores."""


def build_system(system: str, sessions_dir: Path, stream_scale: float) -> ThreadedSystem:
    """Make a baseline over ``sessions_dir`` with the shared provider and recovery threshold."""
    threshold = RECOVERY_THRESHOLD_SECONDS * stream_scale
    provider = ScriptedStream()
    if system == "lock-release":
        return LockReleaseSystem(
            sessions_dir,
            session_file,
            provider,
            recovery_threshold=threshold,
            config=LockReleaseConfig().scaled(stream_scale),
        )
    if system == "in-process lock":
        return InProcessLockSystem(
            sessions_dir, session_file, provider, recovery_threshold=threshold
        )
    raise ValueError(f"unknown baseline {system!r}; expected one of {SYSTEMS}")


def drive(system: ThreadedSystem, turns: Sequence[SubmittedTurn]) -> float:
    """Submit each turn at its ``submit_at``, wait for every run, return the wall seconds."""
    system.watchdog.start()
    started = time.monotonic()
    try:
        for turn in turns:
            delay = started + turn.submit_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the submissions, not waiting for a result
            system.submit(turn)
        system.join_all()
    finally:
        system.watchdog.stop()
    return time.monotonic() - started


def figures(
    system: ThreadedSystem,
    turns: Sequence[SubmittedTurn],
    transcripts: Sequence[Path],
    wall_seconds: float,
    *,
    seed: int = 0,
    time_scale: float = 1.0,
) -> Row:
    """Turn a finished run's tally and transcripts into a ``Row``."""
    tally = system.tally
    losses = check.account_losses(
        (t.turn_id for t in turns), transcripts, tally.delivered_at.keys()
    )
    overhead_ms = [
        1000.0 * (tally.delivered_at[t.turn_id] - tally.submitted_at[t.turn_id] - t.stream_seconds)
        for t in turns
        if t.turn_id in tally.delivered_at and t.turn_id in tally.submitted_at
    ]
    return Row(
        system=system.name,
        submitted=len(turns),
        completed=losses.delivered,
        lost=len(losses.lost),
        loss_pct=losses.loss_pct,
        fence_errors=tally.counts["fence_errors"],
        interleaved=sum(check.interleaved_turns(p) for p in transcripts),
        second_runs=tally.counts["second_runs"],
        overhead_p50_ms=stats.p50(overhead_ms),
        overhead_p99_ms=stats.p99(overhead_ms),
        turns_per_s=losses.delivered / wall_seconds if wall_seconds > 0 else math.nan,
        contended=len(tally.contended),
        contended_lost=len(tally.contended & losses.lost),
        duplicated=len(losses.duplicated),
        wall_seconds=wall_seconds,
        parse_ok=all(check.parse_ok(p) for p in transcripts),
        seed=seed,
        time_scale=time_scale,
    )


def run_incident_mix(
    system: str, n_turns: int, seed: int, workdir: Path, stream_scale: float
) -> Row:
    """Run ``n_turns`` of the incident mix through one baseline and return its figures.

    Args:
        system: ``"lock-release"`` or ``"in-process lock"``.
        n_turns: How many turns to submit.
        seed: The workload's seed (both baselines get the same turns for the same seed).
        workdir: A directory for the transcripts; a fresh subdirectory is made in it.
        stream_scale: Multiplies every stream time, gap and the recovery threshold.

    Prints one line with the measured loss rate.
    """
    turns = list(incident_mix(n_turns, seed, time_scale=stream_scale))
    slug = system.replace(" ", "-")
    sessions_dir = Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=workdir))
    transcripts = [sessions_dir / name for name in sorted(set(SESSION_FILES.values()))]
    for path in transcripts:
        create_transcript(path)
    baseline = build_system(system, sessions_dir, stream_scale)
    wall = drive(baseline, turns)
    row = figures(baseline, turns, transcripts, wall, seed=seed, time_scale=stream_scale)
    print(
        f"{row.system}: lost {row.lost}/{row.submitted} turns ({row.loss_pct:.1f}%), "
        f"{row.fence_errors} takeover errors, {row.interleaved} interleaved turns, "
        f"{row.second_runs} second runs, {row.duplicated} duplicated replies, "
        f"{row.contended_lost}/{row.contended} contended turns lost, "
        f"{wall:.1f} s"
    )
    return row


def main(argv: Sequence[str] | None = None) -> None:
    """Run both baselines on the same workload, print the table, write the results."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_baselines")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=DEFAULT_TIME_SCALE)
    parser.add_argument("--name", default="baselines")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as tmp:
        rows = [
            run_incident_mix(system, args.turns, args.seed, Path(tmp), args.scale)
            for system in SYSTEMS
        ]
    print_table(rows, title=f"incident mix: {args.turns} turns, seed {args.seed}")
    print(f"wrote {write_results(args.name, rows)}")


if __name__ == "__main__":
    main()
