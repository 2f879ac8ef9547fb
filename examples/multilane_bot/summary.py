"""Counting turns: the live view's counters and the demo's closing summary.

Pure functions over ``TurnView`` snapshots, so they are tested on literal records.

How the counts add up: every submitted turn ends in exactly one of *completed*, *failed*
(any reason but a skipped heartbeat; refusals included), *heartbeat skipped*, or is still
*unfinished*. *Merged* turns are a subset of the others: the collect mode coalesced them
into another turn, and they end with that turn's outcome.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import attrs

from sessionward.examples.multilane_bot.delivery import USER_KINDS, TurnKind, TurnView

SKIPPED = "heartbeat_skipped"


@attrs.frozen
class TurnCounts:
    """How the bot's turns stand."""

    submitted: int = 0
    completed: int = 0
    failed: dict[str, int] = attrs.Factory(dict)
    """By reason (``stalled``, ``busy``, ``refused``, ...); skipped heartbeats are apart."""
    merged: int = 0
    heartbeats_skipped: int = 0
    unfinished: int = 0

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())


def count_turns(views: Iterable[TurnView]) -> TurnCounts:
    """Count ``views`` by how they ended (see the module docstring)."""
    submitted = completed = merged = skipped = unfinished = 0
    failed: Counter[str] = Counter()
    for view in views:
        submitted += 1
        merged += view.merged_into is not None
        if view.status == "pending":
            unfinished += 1
        elif view.status == "completed":
            completed += 1
        elif view.reason == SKIPPED:
            skipped += 1
        else:
            failed[view.reason or view.status] += 1
    return TurnCounts(submitted, completed, dict(sorted(failed.items())), merged, skipped, unfinished)


def reply_lost(view: TurnView) -> bool:
    """An accepted user turn whose completed reply never reached its HTTP client."""
    return (view.kind in USER_KINDS and view.accepted
            and not (view.status == "completed" and view.delivered > 0))


@attrs.frozen
class DemoSummary:
    """What one demo run did. ``replies_lost`` must be 0."""

    duration_seconds: float
    """How long traffic ran (seconds)."""
    turns_submitted: int
    turns_completed: int
    turns_failed: dict[str, int]
    """Failed, cancelled and refused turns by reason; skipped heartbeats are apart."""
    turns_merged: int
    """Turns the collect mode merged into another (counted again by how that one ended)."""
    heartbeats_skipped: int
    """Heartbeats that arrived while their session was busy: skipped, never queued."""
    turns_unfinished: int
    """Turns without a final outcome when the summary was taken (0 after a clean drain)."""
    replies_lost: int
    """Accepted user turns whose completed reply never reached their HTTP client."""
    user_turns: int
    """Direct and channel turns accepted."""
    replies_delivered: int
    """User turns whose completed reply was handed to their client."""
    by_kind: dict[str, int]
    """Turns submitted per kind: direct, channel, heartbeat, cron."""
    main_session_lanes: tuple[str, ...]
    """Lanes whose turns ran in the main session's file."""
    long_replies: int
    """Long replies that completed in the main session."""
    arrived_during_long: int
    """Turns that arrived in the main session while one of its long replies streamed."""
    user_during_long: int
    """... of those, user turns."""
    answered_during_long: int
    """... of those, user turns that got their reply."""
    skipped_during_long: int
    """... of those, heartbeats skipped."""
    recovery_actions: dict[str, int]
    """What recovery did, by action (``warn``, ``nudge``, ``abort``, ``replace``)."""
    sessions: int
    """Live sessions (owners) at the end."""
    max_queue_depth: int
    """The deepest session queue the status view saw."""
    client_problems: int
    """Client-side checks that failed: a reply missing, read twice, or not answering the
    client's own message."""

    @property
    def turns_failed_total(self) -> int:
        return sum(self.turns_failed.values())

    @property
    def counts_add_up(self) -> bool:
        """submitted == completed + failed + heartbeats skipped + unfinished."""
        return self.turns_submitted == (self.turns_completed + self.turns_failed_total
                                        + self.heartbeats_skipped + self.turns_unfinished)


def summarize(
    views: Sequence[TurnView],
    *,
    duration_seconds: float,
    recovery_actions: dict[str, int],
    sessions: int,
    max_queue_depth: int,
    client_problems: int,
) -> DemoSummary:
    """Build the demo's summary from the bot's turns and what the status view saw."""
    counts = count_turns(views)
    user = [v for v in views if v.kind in USER_KINDS and v.accepted]
    main = [v for v in views if v.shares_main]
    longs = [v for v in main if v.long and v.status == "completed" and v.started_time and v.finished_time]
    during = [v for v in main if not v.long and any(
        long.started_time <= v.submitted_time <= long.finished_time for long in longs)]
    return DemoSummary(
        duration_seconds=round(duration_seconds, 1),
        turns_submitted=counts.submitted,
        turns_completed=counts.completed,
        turns_failed=counts.failed,
        turns_merged=counts.merged,
        heartbeats_skipped=counts.heartbeats_skipped,
        turns_unfinished=counts.unfinished,
        replies_lost=sum(reply_lost(v) for v in views),
        user_turns=len(user),
        replies_delivered=sum(v.status == "completed" and v.delivered > 0 for v in user),
        by_kind={kind.value: n for kind in TurnKind if (n := sum(v.kind is kind for v in views))},
        main_session_lanes=tuple(sorted({v.lane for v in main})),
        long_replies=len(longs),
        arrived_during_long=len(during),
        user_during_long=sum(v.kind in USER_KINDS for v in during),
        answered_during_long=sum(v.kind in USER_KINDS and v.status == "completed" and v.delivered > 0
                                 for v in during),
        skipped_during_long=sum(v.reason == SKIPPED for v in during),
        recovery_actions=dict(sorted(recovery_actions.items())),
        sessions=sessions,
        max_queue_depth=max_queue_depth,
        client_problems=client_problems,
    )


def _breakdown(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def format_summary(s: DemoSummary, main_key: str) -> str:
    """The summary as the lines the demo prints."""
    lines = [
        f"sessionward demo: {s.duration_seconds:g} s of traffic",
        f"  turns submitted      {s.turns_submitted:5}  ({_breakdown(s.by_kind)})",
        f"    completed          {s.turns_completed:5}",
        f"    failed             {s.turns_failed_total:5}  ({_breakdown(s.turns_failed)})",
        f"    heartbeats skipped {s.heartbeats_skipped:5}  (their session was busy: skipped, never queued)",
        f"    unfinished         {s.turns_unfinished:5}",
        f"    merged             {s.turns_merged:5}  (collect mode: answered by the turn that carried them)",
        f"  replies delivered    {s.replies_delivered:5}  of {s.user_turns} accepted user turns",
        f"  replies lost         {s.replies_lost:5}",
        (f"  {main_key}: {len(s.main_session_lanes)} lanes, one file, one owner:"
         f" {', '.join(s.main_session_lanes)}"),
        (f"  long replies there   {s.long_replies:5}  (meanwhile {s.arrived_during_long} turns arrived:"
         f" {s.answered_during_long} of {s.user_during_long} user turns answered,"
         f" {s.skipped_during_long} heartbeats skipped)"),
        f"  recovery actions     {_breakdown(s.recovery_actions)}",
        (f"  sessions {s.sessions}, deepest queue {s.max_queue_depth},"
         f" client-side problems {s.client_problems}"),
        f"  counts add up: {'yes' if s.counts_add_up else 'NO'}",
    ]
    return "\n".join(lines)
