"""GuardedActor: the one dispatch guard every sessionward actor runs under.

Thespian re-delivers a message whose handler raised (and then returns it to its sender as
a ``PoisonMessage``). A re-run ``RunTurn`` would start a second
provider stream and a re-run tick a second turn, so nothing may escape a handler: this
class catches it, logs it with the session and turn it concerns, and answers a request
with a typed ``ErrorReply(request_id, "internal_error", ...)``. A message no handler takes
gets ``ErrorReply(request_id, "unknown_message", ...)``.

Subclasses write ``receiveMsg_<Type>`` handlers as usual and may override three hooks:
``_divert`` (send a message elsewhere instead of handling it), ``_log_session`` and
``_log_turn`` (what the actor itself is serving, for log lines).
"""

from __future__ import annotations

from thespian.actors import ActorSystemMessage, ActorTypeDispatcher

from sessionward.actors.messages import (
    ClientRegistered,
    CommandResult,
    DirectoryReady,
    ErrorReply,
    OwnerState,
    SessionsPage,
    StreamDelta,
    SystemStatus,
    TurnAccepted,
)
from sessionward.hosting.processes import on_fresh_stack
from sessionward.logs import ActorLogger

REPLIES: tuple[type, ...] = (
    ErrorReply, TurnAccepted, StreamDelta, CommandResult, OwnerState, SessionsPage,
    SystemStatus, ClientRegistered, DirectoryReady,
)
"""Messages that answer a request. They carry the request's ``request_id`` but are not
requests: answering one with an ``ErrorReply`` would send an error to whoever answered,
and two actors that each fail on the other's error would bounce errors forever."""


class GuardedActor(ActorTypeDispatcher):
    """An ``ActorTypeDispatcher`` from whose handlers nothing escapes.

    ``receiveMessage`` runs the ``receiveMsg_<Type>`` handler for a message. If it raises,
    the exception is logged (with session and turn) and, when the message is a request
    (it has a ``request_id`` and is not one of ``REPLIES``), ``ErrorReply`` kind
    ``internal_error`` goes to its ``reply_to``, or to the sender when it has none.
    """

    guard_log = ActorLogger("sessionward.actors")
    """Where the guard logs. Subclasses set their module's logger (resolved per call)."""

    no_error_reply_for: tuple[type, ...] = REPLIES
    """Messages never answered with an ``internal_error``, though they have a ``request_id``."""

    def receiveMessage(self, message, sender):
        try:
            if not self._divert(message, sender):
                super().receiveMessage(message, sender)
        except Exception as exc:
            self.guard_log.exception("%s failed handling %s (%s)", type(self).__name__,
                               type(message).__name__, self._where(message))
            request_id = getattr(message, "request_id", "")
            reply_to = getattr(message, "reply_to", None) or sender
            if request_id and reply_to is not None and not isinstance(message, self.no_error_reply_for):
                self.send(reply_to, ErrorReply(request_id, "internal_error", f"{type(exc).__name__}: {exc}"))

    # Thespian's names: callers pass them by keyword.
    def createActor(self, actorClass, targetActorRequirements=None, globalName=None, sourceHash=None):  # noqa: N803
        """Thespian's ``createActor``, from a fresh frame stack: on a multiproc base it forks,
        and the child runs on top of this process's frames (``hosting.processes.on_fresh_stack``
        says why that needs room)."""
        return on_fresh_stack(super().createActor, actorClass, targetActorRequirements=targetActorRequirements,
                              globalName=globalName, sourceHash=sourceHash)

    def receiveUnrecognizedMessage(self, message, sender) -> None:
        if isinstance(message, ActorSystemMessage | ErrorReply):
            # Thespian's own notices (an exit request, a child's exit) are not requests,
            # and an unexpected error is not answered with another (see ``REPLIES``).
            self.guard_log.debug("%s ignored %s (%s)", type(self).__name__, type(message).__name__,
                           self._where(message))
            return
        self.guard_log.warning("%s got an unknown message %s (%s)", type(self).__name__,
                         type(message).__name__, self._where(message))
        self.send(sender, ErrorReply(getattr(message, "request_id", ""), "unknown_message",
                                     f"unknown message {type(message).__name__}"))

    # -- hooks ---------------------------------------------------------------------------

    def _divert(self, message, sender) -> bool:
        """Called before dispatch, inside the guard. Return True when the message was dealt
        with (for example sent on to another actor) and must not reach a handler."""
        return False

    def _log_session(self) -> str | None:
        """The session this actor serves, for log lines; None when it serves many."""
        return None

    def _log_turn(self) -> str | None:
        """The turn this actor is running, for log lines; None when there is none."""
        return None

    def _where(self, message) -> str:
        # The message's own session and turn win: a Directory serves many sessions.
        session = getattr(message, "session_key", None) or self._log_session() or "-"
        turn = getattr(message, "turn_id", None) or self._log_turn() or "-"
        return f"session {session} turn {turn}"
