"""What a client's queued submits become on the wire (issue 17). Pure: no Thespian, no
clock reads.

``Runtime.submit`` returns once its turn is queued in the client; one sender thread
(``sessionward.client.Mailbox``) takes everything queued at once and sends it as this plan
says. Under load many submits wait while one send is under way, so the next send carries
them together: the submits to one owner, known by its route, go as one ``SubmitTurns``
(one transport pass here, one message and one inbox fsync at the owner, one ``Answers``
back) instead of one message each. Alone, a submit goes as it did: one ``SubmitTurn``.

Order is what it was with one send per submit. Steps are in submit order, except that
direct submits to one file join that file's batch, and a batch is closed by any submit
that goes through the Directory (which may name a file already batched, under another
key): nothing a client submitted is overtaken by what it submitted later
(``sessionward.routes`` says why that matters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from sessionward.routes import DirectRoute, Routes

MOST_PER_BATCH = 64
"""Submits in one ``SubmitTurns`` at most: an owner takes a batch in one handler call, so a
bound keeps that call (and the other sessions' wait for this client's sends) short."""

MOST_BATCH_BYTES = 4 << 20
"""Characters of text in one ``SubmitTurns`` at most (a submit's text may be up to 1 MiB)."""


@attrs.frozen
class DirectBatch:
    """Submits sent to one owner as one message, each already carrying its route."""

    route: DirectRoute
    submits: tuple[Any, ...]


@attrs.frozen
class ThroughDirectory:
    """One submit sent through the Directory."""

    submit: Any


Step = DirectBatch | ThroughDirectory


def plan(routes: Routes, submits: Iterable[Any], now: float,
         direct_copy: Callable[[Any, DirectRoute], Any], *, again: Iterable[Any] = ()) -> list[Step]:
    """The sends for ``submits`` (in the order they were made), noting each in ``routes``
    as ``Mailbox.submit`` did one by one: a direct one as sent (``Routes.sent``), one
    through the Directory as held there (``Routes.via_directory``). ``direct_copy`` makes
    the submit that names its route.

    ``again``: direct submits to send again through the Directory (refused ``not_owner``,
    unanswered, or their owner moved). They were submitted before anything still queued,
    so they go first. The mailbox thread that learns of them hands them here rather than
    sending them itself: sent from two threads, a copy could reach the Directory after a
    later submit to its file planned once its route was forgotten (seen under load)."""
    steps: list[ThroughDirectory | tuple[DirectRoute, list[Any]]] = []
    for submit in again:
        routes.via_directory(submit.request_id, now, _route_path(submit))
        steps.append(ThroughDirectory(submit))
    open_batches: dict[str, tuple[DirectRoute, list[Any]]] = {}  # file -> its batch still open
    for submit in submits:
        route = routes.get(submit.session_key)
        if route is None or not routes.direct_allowed(route.path, now):
            # Its file is known from its route, if it has one: later submits to other files
            # need not wait for it (only a first contact's file is unknown, and holds all).
            routes.via_directory(submit.request_id, now, route.path if route is not None else _route_path(submit))
            steps.append(ThroughDirectory(submit))
            open_batches.clear()  # nothing after this joins a batch before it
            continue
        direct = direct_copy(submit, route)
        routes.sent(submit.request_id, direct, route.path, now)
        batch = open_batches.get(route.path)
        if batch is not None and batch[0] == route and _fits(batch[1], direct):
            batch[1].append(direct)
        else:
            batch = open_batches[route.path] = (route, [direct])
            steps.append(batch)
    return [s if isinstance(s, ThroughDirectory) else DirectBatch(s[0], tuple(s[1])) for s in steps]


def _route_path(submit: Any) -> str | None:
    # A copy of a direct submit still names the route (and so the file) it was sent on.
    route = getattr(submit, "route", None)
    return route.path if route is not None else None


def _fits(batch: list[Any], submit: Any) -> bool:
    size = sum(len(s.text) for s in batch) + len(submit.text)
    return len(batch) < MOST_PER_BATCH and size <= MOST_BATCH_BYTES
