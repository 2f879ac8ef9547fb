"""The demo's status view: a snapshot of the runtime and the bot, drawn as a rich table
(live mode) or as one plain line (``--no-live``).

Everything shown comes from the runtime's public queries: ``rt.sessions()`` (each owner's
state, lane, queue), ``rt.status()`` (running and queued turns by lane) and
``rt.recovery_history()`` (what recovery did), plus the bot's own turn counts. rich is
imported only when a table is drawn.
"""

from __future__ import annotations

import time
from collections import Counter

import attrs

from sessionward import Runtime
from sessionward.errors import SessionwardError
from sessionward.examples.multilane_bot.bot import Bot
from sessionward.examples.multilane_bot.summary import TurnCounts, count_turns


@attrs.frozen
class SessionRow:
    """One live session, as the table shows it."""

    key: str
    keys: int
    """Session keys routed to this file (2+ when a channel is bound to it)."""
    state: str
    lane: str | None
    """The lane of the turn running now."""
    queue_depth: int
    queued_lanes: tuple[str, ...]
    completed: int
    failed: int
    heartbeats_skipped: int


@attrs.frozen
class StatusSnapshot:
    """What the view shows at one moment."""

    elapsed: float
    sessions: tuple[SessionRow, ...] = ()
    running_by_lane: dict[str, int] = attrs.Factory(dict)
    queued_by_lane: dict[str, int] = attrs.Factory(dict)
    recovery_counts: dict[str, int] = attrs.Factory(dict)
    recovery_recent: tuple[str, ...] = ()
    """The last few recovery actions, newest last."""
    turns: TurnCounts = attrs.Factory(TurnCounts)
    error: str = ""
    """Why part of the snapshot is missing (a query timed out), if it is."""

    @property
    def max_queue_depth(self) -> int:
        return max((row.queue_depth for row in self.sessions), default=0)


def take_snapshot(rt: Runtime, bot: Bot, elapsed: float, *, timeout: float = 3.0) -> StatusSnapshot:
    """Query the runtime and the bot. A query that fails leaves its part empty and says why."""
    turns = count_turns(bot.views())
    try:
        states = rt.sessions(timeout=timeout)
        status = rt.status(timeout=timeout)
        history = rt.recovery_history(timeout=timeout) if rt.config.recovery.enabled else None
    except (SessionwardError, TimeoutError) as exc:
        return StatusSnapshot(elapsed, turns=turns, error=f"{type(exc).__name__}: {exc}")
    rows = tuple(
        SessionRow(s.session_key, len(s.keys), s.state, s.lane, s.queue_depth, s.queued_lanes,
                   s.turns_completed, s.turns_failed, s.heartbeats_skipped)
        for s in states
    )
    actions = history.actions if history is not None else ()
    recent = tuple(
        f"{time.strftime('%H:%M:%S', time.localtime(a.action_time))} {a.kind} {a.session_key}"
        f" turn {a.turn_id or '-'}: {a.outcome}"
        for a in actions[-3:]
    )
    return StatusSnapshot(
        elapsed, rows, dict(status.running_by_lane), dict(status.queued_by_lane),
        dict(Counter(str(a.kind) for a in actions)), recent, turns,
    )


def short_lane(lane: str) -> str:
    """A lane name for a narrow table: ``channel:demo:general`` -> ``#general``,
    ``direct:demo:alice`` -> ``@alice``; other lanes as they are."""
    kind, _, rest = lane.partition(":")
    if kind in ("channel", "direct") and rest.count(":") == 1:
        return ("#" if kind == "channel" else "@") + rest.split(":")[1]
    return lane


def _lanes(counts: dict[str, int]) -> str:
    return ", ".join(f"{lane}×{n}" if n > 1 else lane for lane, n in sorted(counts.items())) or "-"


def _turns(t: TurnCounts) -> str:
    return (f"{t.submitted} submitted, {t.completed} completed, {t.failed_total} failed,"
            f" {t.heartbeats_skipped} heartbeats skipped, {t.merged} merged, {t.unfinished} in flight")


def plain_line(s: StatusSnapshot) -> str:
    """The snapshot as one line of text (``--no-live``)."""
    recovery = ", ".join(f"{k} {v}" for k, v in sorted(s.recovery_counts.items())) or "none"
    line = (f"[{s.elapsed:5.1f}s] sessions {len(s.sessions)}, deepest queue {s.max_queue_depth};"
            f" running: {_lanes(s.running_by_lane)}; turns: {_turns(s.turns)}; recovery: {recovery}")
    return f"{line} ({s.error})" if s.error else line


def render(s: StatusSnapshot, title: str = "sessionward demo"):
    """The snapshot as a rich renderable: a table of sessions and lines about lanes,
    turns and recovery."""
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{title}: {s.elapsed:.1f}s", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True, expand=False, caption_justify="left",
                  caption="done/fail/skip: turns completed, failed, heartbeats skipped")
    table.add_column("session", no_wrap=True, overflow="ellipsis")
    table.add_column("running", no_wrap=True)
    table.add_column("queue", overflow="fold", min_width=16)
    table.add_column("done/fail/skip", justify="right", no_wrap=True)
    for row in s.sessions:
        # A file several keys route to (a bound channel) shows how many share it.
        key = f"{row.key} (+{row.keys - 1})" if row.keys > 1 else row.key
        queued = Counter(short_lane(lane) for lane in row.queued_lanes)
        queue = str(row.queue_depth) + (
            " (" + ", ".join(f"{lane}×{n}" if n > 1 else lane for lane, n in sorted(queued.items())) + ")"
            if queued else "")
        # The running lane, or the owner's state when no turn runs (idle, fenced, ...).
        running = short_lane(row.lane) if row.lane else f"[dim]{row.state}[/dim]"
        table.add_row(key, running, queue, f"{row.completed}/{row.failed}/{row.heartbeats_skipped}",
                      style="bold" if row.lane else None)
    recovery = ", ".join(f"{k} {v}" for k, v in sorted(s.recovery_counts.items())) or "none yet"
    lines = [
        Text.assemble(("running ", "dim"), _lanes(s.running_by_lane), ("   queued ", "dim"),
                      _lanes(s.queued_by_lane)),
        Text.assemble(("turns ", "dim"), _turns(s.turns)),
        Text.assemble(("recovery ", "dim"), recovery),
        *(Text("  " + line, style="dim") for line in s.recovery_recent),
    ]
    if s.error:
        lines.append(Text(s.error, style="yellow"))
    return Group(table, *lines)
