"""The one actor guard (actors/base.py), on a tiny actor in simpleSystemBase."""

from __future__ import annotations

import logging

import attrs
import pytest
from thespian.actors import ActorSystem

from sessionward.actors.base import GuardedActor
from sessionward.actors.messages import ErrorReply

RUNS: list[str] = []
"""Handler runs, in order. simpleSystemBase runs actors in this process, so they are seen here."""


@attrs.frozen
class Explode:
    request_id: str


@attrs.frozen
class Ping:
    request_id: str


@attrs.frozen
class Pong:
    request_id: str


@attrs.frozen
class Unheard:
    request_id: str


@attrs.frozen
class Divertible:
    request_id: str


class Tiny(GuardedActor):
    def _divert(self, message, sender) -> bool:
        if isinstance(message, Divertible):
            RUNS.append("diverted")
            self.send(sender, Pong(message.request_id))
            return True
        return False

    def receiveMsg_Explode(self, msg: Explode, sender) -> None:
        RUNS.append("explode")
        raise RuntimeError("boom")

    def receiveMsg_Ping(self, msg: Ping, sender) -> None:
        RUNS.append("ping")
        self.send(sender, Pong(msg.request_id))

    def receiveMsg_Divertible(self, msg: Divertible, sender) -> None:
        RUNS.append("divertible handled")


@pytest.fixture
def system():
    """An in-process actor system, always shut down."""
    RUNS.clear()
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        yield system
    finally:
        system.shutdown()


@pytest.fixture
def tiny(system):
    return system, system.createActor(Tiny)


def _error_reply(system, actor, message) -> tuple[str, str, str]:
    reply = system.ask(actor, message, 5)
    assert isinstance(reply, ErrorReply), reply
    return reply.request_id, reply.kind, reply.message


def test_a_handler_that_raises_runs_once_and_its_request_gets_one_internal_error(tiny):
    system, actor = tiny
    assert _error_reply(system, actor, Explode("r1")) == ("r1", "internal_error", "RuntimeError: boom")
    # The next answer is the Ping's: no second ErrorReply was queued, and no re-run happened.
    assert system.ask(actor, Ping("r2"), 5) == Pong("r2")
    assert RUNS == ["explode", "ping"]


def test_an_unknown_message_gets_an_unknown_message_reply(tiny):
    system, actor = tiny
    assert _error_reply(system, actor, Unheard("r3")) == ("r3", "unknown_message", "unknown message Unheard")


def test_an_unexpected_error_reply_is_not_answered_with_another(tiny):
    system, actor = tiny
    system.tell(actor, ErrorReply("r4", "internal_error", "elsewhere"))
    assert system.ask(actor, Ping("r5"), 5) == Pong("r5")


def test_a_diverted_message_reaches_no_handler(tiny):
    system, actor = tiny
    assert system.ask(actor, Divertible("r6"), 5) == Pong("r6")
    assert RUNS == ["diverted"]


@attrs.frozen
class ExplodeInTurn:
    request_id: str
    session_key: str
    turn_id: str


class TinyOwner(Tiny):
    def _log_session(self) -> str | None:
        return "agent:main:fallback"

    def _log_turn(self) -> str | None:
        return "turn-running"

    def receiveMsg_ExplodeInTurn(self, msg: ExplodeInTurn, sender) -> None:
        raise RuntimeError("boom")


def test_the_failure_log_line_names_the_session_and_turn(system):
    # A handler of our own: the actor system's logging set-up replaces pytest's caplog handler.
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("sessionward.actors")
    logger.addHandler(handler)
    try:
        actor = system.createActor(TinyOwner)
        system.ask(actor, ExplodeInTurn("r7", "agent:main:main", "t-1"), 5)
        system.ask(actor, Explode("r8"), 5)  # no session or turn on the message: the actor's own
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in records] == [
        "TinyOwner failed handling ExplodeInTurn (session agent:main:main turn t-1)",
        "TinyOwner failed handling Explode (session agent:main:fallback turn turn-running)",
    ]
