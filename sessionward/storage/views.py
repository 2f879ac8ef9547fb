"""Admin views over owner snapshots: filtering, paging, per-lane figures. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol


class _StateLike(Protocol):
    session_key: str
    state: str
    lane: str | None
    queued_lanes: tuple[str, ...]
    turn_id: str | None


def select_sessions(
    states: Iterable[_StateLike], *, active_only: bool, lane: str | None, limit: int, offset: int
) -> tuple[list[_StateLike], int]:
    """Filter, sort by session key, and page. Returns (page, total before paging).

    ``active_only`` keeps sessions with a running or queued turn; ``lane`` keeps sessions
    whose running or queued turns include that lane.
    """
    chosen = [
        s
        for s in states
        if (not active_only or s.turn_id is not None or s.queued_lanes)
        and (lane is None or s.lane == lane or lane in s.queued_lanes)
    ]
    chosen.sort(key=lambda s: s.session_key)
    limit = max(0, min(limit, 1000))
    offset = max(0, offset)
    return chosen[offset : offset + limit], len(chosen)


def lane_figures(states: Sequence[_StateLike]) -> tuple[dict[str, int], dict[str, int]]:
    """(running turns by lane, queued turns by lane)."""
    running = Counter(s.lane for s in states if s.lane)
    queued: Counter[str] = Counter()
    for s in states:
        queued.update(s.queued_lanes)
    return dict(running), dict(queued)
