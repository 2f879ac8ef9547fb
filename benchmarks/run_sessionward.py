"""Drive sessionward through the incident mix and read its figures off the disk.

The same turns as the baselines (``workload.incident_mix``, same seed and scale), submitted
through ``Runtime.submit`` at their ``submit_at``. The session keys share files as the
workload says (``SESSION_FILES``): every key is bound to its file's first key with
``Runtime.bind``, so one owner serves each file. ``MixProvider`` streams each turn for the
time and in the chunks its text names, as the baselines' ``ScriptedStream`` does.

Recovery runs with the baselines' threshold at the same scale: it aborts a turn whose
stream has made no progress for that long (``abort_after``; ``stall_after`` is half of it,
the tick a fifth, as the baselines' watchdog polls). The baselines abort by age instead;
long runs keep streaming, so sessionward's recovery must leave them alone, and it never
starts a run. ``MixProvider(count_file=...)`` counts the streams started per turn
across the actor processes: any turn streamed twice is a second run.

What "lost" means here is what it means for the baselines (no reply delivered and none
persisted), except that a turn the runtime answered with a typed outcome is not lost: its
submitter was told. Those are counted apart (``refused``: a heartbeat that arrives while
its session is busy is skipped by design; ``failed``: any other typed failure).

Run as ``python -m benchmarks.run_sessionward [--turns N] [--seed S] [--scale K]``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import attrs

from benchmarks import check, stats
from benchmarks.row import Row
from benchmarks.workload import (
    RECOVERY_THRESHOLD_SECONDS,
    SESSION_FILES,
    SubmittedTurn,
    incident_mix,
)
from benchmarks.workloads.measure import overhead_ms, read_count_file, wait_all
from benchmarks.workloads.provider import MixProvider, mix_text
from sessionward import OutcomeReason, Runtime, RuntimeConfig, TurnStatus

LANE_NAMES: dict[str, str] = {
    "main": "main",
    "heartbeat": "heartbeat",
    "channel": "channel:discord:general",
    "direct": "direct:discord:user",
    "cron": "cron:nightly",
    "other": "channel:discord:ops-agent",
}
"""Workload lane -> the lane name sessionward is given (its kind sets the priority)."""

WARM_UP_TEXT = "warm-up"


@attrs.frozen
class MixRow(Row):
    """A ``Row`` with what only sessionward reports: typed outcomes other than a reply."""

    refused: int = 0
    """Turns refused with a typed outcome (a heartbeat skipped while its session was busy)."""
    failed: int = 0
    """Accepted turns that ended failed or cancelled with a typed reason."""
    no_outcome: int = 0
    """Turns with no final outcome by the deadline (must be 0)."""
    stalled_streams: str = ""
    """The scripted stream lengths of the turns recovery aborted as ``stalled`` (seconds,
    min to max): a healthy stream that recovery aborted is a bug, not a result."""
    failed_reasons: str = ""
    """The typed reasons of the ``refused`` and ``failed`` turns, e.g.
    ``"heartbeat_skipped 23, stalled 2"``."""


def file_keys() -> dict[str, list[str]]:
    """Transcript name -> the workload's keys on it, the first one owning the file."""
    out: dict[str, list[str]] = {}
    for key, name in SESSION_FILES.items():
        out.setdefault(name, []).append(key)
    return out


def drive(rt: Runtime, turns: Sequence[SubmittedTurn], timeout: float):
    """Submit each turn at its ``submit_at``; return (handles, outcomes, wall seconds).

    The wall time runs from the first submit to the last outcome.
    """
    handles = []
    started = time.monotonic()
    for turn in turns:
        delay = started + turn.submit_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # pacing the submissions, not waiting for a result
        handles.append(rt.submit(
            turn.session_key,
            mix_text(turn.stream_seconds, turn.chunks, f"{turn.turn_id} {turn.text}"),
            lane=LANE_NAMES[turn.lane],
        ))
    outcomes = wait_all(handles, timeout)
    return handles, outcomes, time.monotonic() - started


def run_incident_mix(
    n_turns: int,
    seed: int,
    workdir: Path,
    stream_scale: float,
    *,
    base: str = "tcp",
    timeout: float = 120.0,
) -> MixRow:
    """Run ``n_turns`` of the incident mix through sessionward and return its figures.

    Args:
        n_turns: How many turns to submit.
        seed: The workload's seed (the baselines get the same turns for the same seed).
        workdir: A fresh store directory is made in it.
        stream_scale: Multiplies every stream time, gap and the recovery threshold.
        base: The Thespian base (``tcp`` = one process per actor).
        timeout: Seconds to wait for the last outcome.
    """
    turns = list(incident_mix(n_turns, seed, time_scale=stream_scale))
    store = Path(tempfile.mkdtemp(prefix="sessionward-", dir=workdir))
    count_file = store / "streams.txt"
    threshold = RECOVERY_THRESHOLD_SECONDS * stream_scale
    config = RuntimeConfig()
    with Runtime(
        store,
        provider=MixProvider(count_file=str(count_file)),
        base=base,
        config=config,
        recovery=True,
        recovery_tick=threshold / 5,
        stall_after=threshold / 2,
        abort_after=threshold,
    ) as rt:
        owners = file_keys()
        for keys in owners.values():
            for key in keys[1:]:
                rt.bind(key, keys[0])
        # A gateway's sessions are live before the incident: activate each file's owner
        # (and its worker) with one turn, outside the figures.
        warm = [rt.submit(keys[0], WARM_UP_TEXT, lane="main") for keys in owners.values()]
        wait_all(warm, timeout)
        handles, outcomes, wall = drive(rt, turns, timeout)
        transcripts = [Path(rt.session(keys[0]).file) for keys in owners.values()]
    warm_ids = {h.turn_id for h in warm}
    streams = {t: n for t, n in read_count_file(count_file).items() if t not in warm_ids}
    replies: dict[str, int] = {}
    for path in transcripts:
        for turn_id, n in check.replies_per_turn(path).items():
            replies[turn_id] = replies.get(turn_id, 0) + n
    completed = refused = failed = no_outcome = lost = fenced = 0
    reasons: Counter[str] = Counter()
    overheads: list[float] = []
    stalled: list[float] = []
    for turn, handle, outcome in zip(turns, handles, outcomes, strict=True):
        turn_id = (outcome.turn_id if outcome is not None else None) or handle.turn_id
        persisted = bool(turn_id) and replies.get(turn_id, 0) > 0
        if outcome is None:
            no_outcome += 1
            lost += not persisted
            continue
        if outcome.reason is OutcomeReason.FENCED:
            fenced += 1
        if outcome.status is TurnStatus.COMPLETED:
            completed += 1
            value = overhead_ms(handle, outcome)
            if value is not None:
                overheads.append(value)
        else:
            reasons[str(outcome.reason)] += 1
            if outcome.reason is OutcomeReason.STALLED:
                stalled.append(turn.stream_seconds)
            if not turn_id:
                refused += 1  # refused before acceptance: no turn id, a typed outcome
            else:
                failed += 1
    return MixRow(
        system="sessionward",
        submitted=len(turns),
        completed=completed,
        lost=lost,
        loss_pct=100.0 * lost / len(turns) if turns else 0.0,
        fence_errors=fenced,
        interleaved=sum(check.interleaved_turns(p) for p in transcripts),
        second_runs=sum(max(0, n - 1) for n in streams.values()),
        overhead_p50_ms=stats.p50(overheads),
        overhead_p99_ms=stats.p99(overheads),
        turns_per_s=completed / wall if wall > 0 else math.nan,
        duplicated=sum(1 for t, n in replies.items() if n > 1 and t not in warm_ids),
        wall_seconds=wall,
        parse_ok=all(check.parse_ok(p) for p in transcripts),
        seed=seed,
        time_scale=stream_scale,
        refused=refused,
        failed=failed,
        no_outcome=no_outcome,
        failed_reasons=", ".join(f"{r} {n}" for r, n in reasons.most_common()),
        stalled_streams=f"{min(stalled):.3f} to {max(stalled):.3f} s" if stalled else "",
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Run sessionward on the incident mix and print its row."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_sessionward")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scale", type=float, default=0.1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sessionward-bench-") as tmp:
        row = run_incident_mix(args.turns, args.seed, Path(tmp), args.scale)
    for field in attrs.fields(MixRow):
        print(f"{field.name}: {getattr(row, field.name)}")


if __name__ == "__main__":
    main()
