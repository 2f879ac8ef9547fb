"""The calls ``Runtime`` and ``AdminClient`` share: submit turns, command and query sessions.

Both own a ``SessionClient`` (composition: neither is the other) and offer its calls as
their own through ``forward``. The client needs an open ``Mailbox``, the Directory's (and
Recovery's) address, the runtime's config (message size limit, owner wait) and a check that
raises once its holder is closed.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

import attrs

from sessionward.actors.messages import (
    AbortTurn,
    BindSession,
    CancelTurn,
    CommandResult,
    ErrorReply,
    OwnerState,
    QueryOwnerState,
    QuerySessions,
    QuerySystem,
    Route,
    SessionsPage,
    StartNewTranscript,
    SubmitTurn,
    SystemStatus,
    UnparkSession,
)
from sessionward.client import Mailbox, TurnHandle, error_from_reply, new_request_id
from sessionward.config import RuntimeConfig
from sessionward.error_kinds import ErrorKind
from sessionward.errors import CoordinationError, SessionwardTimeoutError
from sessionward.lanes.queue_policy import QueueMode
from sessionward.lanes.routing import validate_lane_name
from sessionward.recovery.history import QueryRecoveryHistory, RecoveryHistoryReply
from sessionward.routes import DIRECT_QUERY_WAIT
from sessionward.storage.keys import validate_session_key
from sessionward.storage.validation import validate_text

CALLS = ("submit", "asubmit", "abort", "cancel", "unpark", "new_transcript", "bind", "session", "sessions",
         "sessions_page", "status", "recovery_history")
"""The public calls of ``SessionClient``, offered by ``Runtime`` and ``AdminClient``."""


def _owner_wait(timeout: float, config: RuntimeConfig) -> float:
    return max(0.05, min(config.recovery.status_timeout, timeout / 2))


def forward(name: str) -> Any:
    """A method that calls ``self._client.<name>``, with that call's name, docstring and signature."""
    method = getattr(SessionClient, name)
    if inspect.iscoroutinefunction(method):

        async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
            return await getattr(self._client, name)(*args, **kwargs)

        return functools.wraps(method)(acall)

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        return getattr(self._client, name)(*args, **kwargs)

    return functools.wraps(method)(call)


class SessionClient:
    """Turns, commands and queries, sent to the Directory through one mailbox."""

    def __init__(self, mailbox: Mailbox, directory: Any, recovery: Any, config: RuntimeConfig,
                 check_open: Callable[[], None]) -> None:
        self._mailbox = mailbox
        self._directory = directory
        self._recovery = recovery
        self.config = config
        self._check_open = check_open

    # -- turns ---------------------------------------------------------------------------------

    def submit(
        self,
        session_key: str,
        text: str,
        *,
        lane: str = "direct",
        mode: QueueMode | str | None = None,
        idempotency_key: str | None = None,
        on_delta: Callable[[str], None] | None = None,
    ) -> TurnHandle:
        """Submit a turn; returns at once with a handle.

        Raises:
            InvalidSessionKeyError, InvalidLaneError, InvalidMessageError: bad input (a
                malformed key or lane name, or empty, oversized or non-UTF-8 text);
                nothing is sent.
            RuntimeClosedError: the runtime is closed.
        """
        self._check_open()
        validate_session_key(session_key)
        validate_lane_name(lane)
        text = validate_text(text, self.config.max_message_bytes)
        mode_value = QueueMode(mode).value if mode is not None else None
        handle = TurnHandle(new_request_id(), session_key, on_delta, idempotency_key)
        self._mailbox.track(handle)
        self._mailbox.submit(SubmitTurn(
            handle.request_id, session_key, lane, text, mode_value, idempotency_key,
            reply_to=self._mailbox.address, want_deltas=on_delta is not None,
        ))
        return handle

    async def asubmit(self, session_key: str, text: str, **kwargs: Any) -> TurnHandle:
        """``submit`` for asyncio: ``outcome = await (await rt.asubmit(...))``."""
        return self.submit(session_key, text, **kwargs)

    def abort(self, session_key: str, turn_id: str | None = None, *, timeout: float = 10.0) -> CommandResult:
        """Abort the session's running turn (only ``turn_id`` if given). Its outcome: cancelled/aborted."""
        validate_session_key(session_key)
        return self._command(AbortTurn(new_request_id(), session_key, turn_id), timeout)

    def cancel(self, session_key: str, turn_id: str, *, timeout: float = 10.0) -> CommandResult:
        """Cancel a queued turn. Its outcome: cancelled/cancelled."""
        validate_session_key(session_key)
        return self._command(CancelTurn(new_request_id(), session_key, turn_id), timeout)

    def unpark(self, session_key: str, *, timeout: float = 10.0) -> CommandResult:
        """Start a parked session again (see ``SystemStatus.parked``).

        The turns its lost owners left unfinished are failed with reason ``parked`` (their
        submitters were told so when it was parked); none of them runs.
        """
        validate_session_key(session_key)
        return self._command(UnparkSession(new_request_id(), session_key), timeout)


    def new_transcript(self, session_key: str, *, timeout: float = 10.0) -> CommandResult:
        """Let ``session_key``'s next turn start a new, empty transcript where its missing one was.

        A transcript the index names is never replaced silently: while it is missing, its
        turns fail with ``transcript_missing``. This is the explicit step that starts anew
        (refused, ``ok=False``, when the key is unknown or its file exists).
        """
        validate_session_key(session_key)
        return self._command(StartNewTranscript(new_request_id(), session_key), timeout)

    def bind(self, session_key: str, target_key: str, *, timeout: float = 10.0) -> CommandResult:
        """Make ``session_key`` share ``target_key``'s transcript (one file, one owner)."""
        validate_session_key(session_key)
        validate_session_key(target_key)
        return self._command(BindSession(new_request_id(), session_key, target_key), timeout)

    # -- queries -------------------------------------------------------------------------------

    def session(self, session_key: str, *, history: bool = True, timeout: float = 10.0) -> OwnerState:
        """A snapshot of the session's owner (state ``passive`` when no owner is live)."""
        validate_session_key(session_key)
        query = QueryOwnerState(new_request_id(), session_key, include_history=history)
        reply = self._ask_owner(query, timeout)
        if not isinstance(reply, OwnerState):
            raise CoordinationError(f"unexpected reply {reply!r}")
        return reply

    def sessions(self, *, active_only: bool = False, lane: str | None = None, limit: int = 100,
                 offset: int = 0, timeout: float = 10.0) -> list[OwnerState]:
        """Snapshots of live sessions, sorted by key, paged."""
        return list(self.sessions_page(active_only=active_only, lane=lane, limit=limit, offset=offset,
                                       timeout=timeout).sessions)

    def sessions_page(self, *, active_only: bool = False, lane: str | None = None, limit: int = 100,
                      offset: int = 0, timeout: float = 10.0) -> SessionsPage:
        # The Directory waits for slow owners at most half the caller's time, so a silent
        # owner is listed as such instead of making the whole query time out.
        reply = self._ask(QuerySessions(new_request_id(), active_only, lane, limit, offset,
                                        timeout=_owner_wait(timeout, self.config)), timeout)
        if not isinstance(reply, SessionsPage):
            raise CoordinationError(f"unexpected reply {reply!r}")
        return reply

    def status(self, *, timeout: float = 10.0) -> SystemStatus:
        reply = self._ask(QuerySystem(new_request_id(), timeout=_owner_wait(timeout, self.config)), timeout)
        if not isinstance(reply, SystemStatus):
            raise CoordinationError(f"unexpected reply {reply!r}")
        return reply

    def recovery_history(self, *, timeout: float = 10.0) -> RecoveryHistoryReply:
        """Recovery's recorded actions."""
        if self._recovery is None:
            raise CoordinationError("recovery is disabled")
        self._check_open()
        reply = self._mailbox.ask(self._recovery, QueryRecoveryHistory(new_request_id()), timeout)
        if reply is None:
            raise SessionwardTimeoutError("recovery did not answer")
        return reply

    def _command(self, msg, timeout: float) -> CommandResult:
        reply = self._ask(msg, timeout)
        if not isinstance(reply, CommandResult):
            raise CoordinationError(f"unexpected reply {reply!r}")
        return reply

    def _ask_owner(self, msg: QueryOwnerState, timeout: float):
        """Ask the session's owner directly when its route is known; through the Directory
        when it is not, or the owner refused (``not_owner``), or its process did not take
        the query within ``DIRECT_SEND_LIMIT`` (``Mailbox.ask_owner``)."""
        self._check_open()
        route = self._mailbox.route(msg.session_key)
        if route is not None:
            deadline = time.monotonic() + timeout
            reply = self._mailbox.ask_owner(route.address, attrs.evolve(msg, route=Route(route.path, route.epoch)),
                                            min(timeout, DIRECT_QUERY_WAIT))
            if reply is not None and not (isinstance(reply, ErrorReply) and reply.kind == ErrorKind.NOT_OWNER):
                if isinstance(reply, ErrorReply):
                    raise error_from_reply(reply)
                return reply
            self._mailbox.forget_route(msg.session_key)
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise SessionwardTimeoutError(f"no answer to {type(msg).__name__} in time")
        return self._ask(msg, timeout)

    def _ask(self, msg, timeout: float):
        self._check_open()
        reply = self._mailbox.ask(self._directory, msg, timeout)
        if reply is None:
            raise SessionwardTimeoutError(f"no answer to {type(msg).__name__} within {timeout}s")
        if isinstance(reply, ErrorReply):
            raise error_from_reply(reply)
        return reply


class SessionCalls:
    """The turn, command and query calls that ``Runtime`` and ``AdminClient`` share: each
    forwards to the ``SessionClient`` the object holds as ``_client`` (composition; this
    class only names the calls once)."""

    _client: SessionClient

    submit = forward("submit")
    asubmit = forward("asubmit")
    abort = forward("abort")
    cancel = forward("cancel")
    unpark = forward("unpark")
    new_transcript = forward("new_transcript")
    bind = forward("bind")
    session = forward("session")
    sessions = forward("sessions")
    sessions_page = forward("sessions_page")
    status = forward("status")
    recovery_history = forward("recovery_history")
