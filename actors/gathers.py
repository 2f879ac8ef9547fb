"""Admin fan-out: one state query to every live owner, the answers collected. Pure.

``QuerySessions`` and ``QuerySystem`` are answered from the owners' own snapshots. The
Directory sends each live owner a ``QueryOwnerState`` under a gather id and answers the
request when every owner has answered or the timeout has passed; owners that stayed
silent are named in the answer, never hidden.

One answer serves every gather waiting on an owner: an owner with a query outstanding is
not asked again (see ``OwnerSlot.query_outstanding``), so a slow owner never collects a
pile of unread queries.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable
from typing import Any

import attrs

from sessionward.actors.messages import OwnerState, QuerySessions, SessionsPage
from sessionward.storage.views import select_sessions


class GatherKind(enum.StrEnum):
    SESSIONS = "sessions"
    """For ``QuerySessions``: answered by a ``SessionsPage``."""
    SYSTEM = "system"
    """For ``QuerySystem``: answered by a ``SystemStatus``."""


@attrs.define
class Gather:
    """One fan-out in progress."""

    kind: GatherKind
    request: Any
    reply_to: Any
    waiting: set[str]
    """Files whose owner has not answered yet."""
    answers: list[OwnerState] = attrs.Factory(list)
    sent_time: float = 0.0
    """When the queries went out: an owner's answer means it handled everything forwarded
    to it before then (see ``OwnerSlot.handled_before``)."""


class Gathers:
    """The fan-outs in progress, by gather id."""

    def __init__(self) -> None:
        self._gathers: dict[str, Gather] = {}

    def start(self, kind: GatherKind, request: Any, reply_to: Any, files: Iterable[str], now: float) -> str:
        """A new gather waiting on the owners of ``files``; returns its id (the request id
        of its queries)."""
        gather_id = uuid.uuid4().hex
        self._gathers[gather_id] = Gather(kind, request, reply_to, set(files), sent_time=now)
        return gather_id

    def get(self, gather_id: str) -> Gather | None:
        return self._gathers.get(gather_id)

    def answer(self, state: OwnerState) -> list[str]:
        """Give ``state`` to every gather waiting on its file. Returns the ids of the gathers
        it completed (the caller finishes them)."""
        done = []
        for gather_id, gather in self._gathers.items():
            if state.file in gather.waiting:
                gather.answers.append(state)
                gather.waiting.discard(state.file)
                if not gather.waiting:
                    done.append(gather_id)
        return done

    def finish(self, gather_id: str) -> Gather | None:
        """Remove and return the gather (None if it was finished already)."""
        return self._gathers.pop(gather_id, None)


def sessions_page(request: QuerySessions, answers: list[OwnerState], silent_keys: Iterable[str]) -> SessionsPage:
    """The answer to ``request`` from the owners' ``answers``; ``silent_keys`` did not answer."""
    if request.unbounded:
        page, total = answers, len(answers)
    else:
        page, total = select_sessions(answers, active_only=request.active_only, lane=request.lane,
                                      limit=request.limit, offset=request.offset)
    return SessionsPage(request.request_id, tuple(page), total, tuple(sorted(silent_keys)))


def package_versions() -> dict[str, str]:
    """Installed versions of sessionward and the libraries it runs on (``SystemStatus.versions``)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("sessionward", "thespian", "attrs", "cattrs"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "unknown"
    return out
