"""Failover: the classification table and the FailoverChain provider."""

from __future__ import annotations

import pickle

import pytest

from sessionward.errors import BadInputError
from sessionward.providers.base import (
    MessageEnd,
    Provider,
    ProviderErrorKind,
    ProviderFailure,
    ProviderRequest,
    ProviderSpec,
    StreamControl,
    TextDelta,
    ThinkingDelta,
    ToolCall,
)
from sessionward.providers.failover import FailoverChain
from sessionward.providers.failover_rules import FAILOVER_TABLE, FailoverDecision, classify_failure
from sessionward.providers.scripted import ScriptedProvider

K = ProviderErrorKind
NEXT, STOP = FailoverDecision.NEXT_PROVIDER, FailoverDecision.STOP
REQUEST = ProviderRequest(session_key="agent:main:main", turn_id="turn-1", text="hi")
SCRIPTED = "sessionward.providers.scripted:ScriptedProvider"


class ListProvider:
    """Yields the events it was given, then stops."""

    supports_steering = False

    def __init__(self, events, name="list"):
        self.events = list(events)
        self.name = name
        self.streams_started = 0

    def stream(self, request, control):
        self.streams_started += 1
        yield from self.events


class CancellingProvider(ListProvider):
    """The turn is aborted while it streams; its transport then reports a lost connection."""

    def stream(self, request, control):
        self.streams_started += 1
        control.cancel()
        yield ProviderFailure(K.CONNECTION, "socket closed")


class RaisingProvider(ListProvider):
    """A buggy provider that raises instead of yielding a failure."""

    def stream(self, request, control):
        self.streams_started += 1
        raise RuntimeError("boom")
        yield  # pragma: no cover - makes this a generator


def ok(name, reply="ok", **kwargs):
    return ScriptedProvider(reply=reply, name=name, **kwargs)


def failing(name, kind, **kwargs):
    return ScriptedProvider(reply="partial reply", fail_with=kind, name=name, **kwargs)


def collect(chain, control=None):
    """The chain's events, each ``MessageEnd`` cut to its stop reason (its model, usage and
    provider are checked by ``test_a_message_end_names_the_member_that_answered``)."""
    return [MessageEnd(e.stop_reason) if isinstance(e, MessageEnd) else e
            for e in chain.stream(REQUEST, control or StreamControl())]


def test_a_message_end_names_the_member_that_answered():
    chain = FailoverChain([ScriptedProvider(fail_with="rate_limit", name="a"),
                           ScriptedProvider(reply="from b", name="b", model="m-b")])
    end = list(chain.stream(REQUEST, StreamControl()))[-1]
    assert (end.provider, end.model, end.api) == ("b", "m-b", "sessionward-scripted")
    assert end.usage.output == 2  # "from b": 6 characters, estimated as pi does (ceil(6 / 4))


# The table ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "decision"),
    [
        (K.RATE_LIMIT, NEXT),
        (K.OVERLOADED, NEXT),
        (K.TIMEOUT, NEXT),
        (K.SERVER_ERROR, NEXT),
        (K.CONNECTION, NEXT),
        (K.AUTH, NEXT),
        (K.BAD_REQUEST, STOP),
        (K.UNKNOWN, NEXT),
    ],
)
def test_each_provider_error_kind_has_its_documented_decision(kind, decision):
    assert classify_failure(kind) is decision


def test_the_table_covers_every_provider_error_kind():
    assert set(FAILOVER_TABLE) == set(ProviderErrorKind)


def test_a_kind_may_be_given_as_its_string_value():
    assert classify_failure("rate_limit") is NEXT


def test_a_coordination_outcome_is_not_a_provider_error_kind():
    for outcome in ("busy", "aborted", "cancelled", "fenced", "draining", "shut_down"):
        with pytest.raises(ValueError):
            classify_failure(outcome)


def test_the_table_is_read_only():
    with pytest.raises(TypeError):
        FAILOVER_TABLE[K.BAD_REQUEST] = NEXT  # type: ignore[index]


# The chain ------------------------------------------------------------------------------


def test_a_chain_is_a_provider():
    assert isinstance(FailoverChain([ok("a")]), Provider)


def test_an_empty_chain_is_refused():
    with pytest.raises(BadInputError):
        FailoverChain([])


def test_the_first_provider_that_answers_is_streamed_and_the_rest_are_untouched():
    a, b = ok("a", reply="from_a", chunks=2), ok("b")
    chain = FailoverChain([a, b])
    assert collect(chain) == [TextDelta("fro"), TextDelta("m_a"), MessageEnd("stop")]
    assert (b.streams_started, chain.attempts) == (0, ())


def test_a_failure_before_any_output_moves_to_the_next_provider():
    a, b = failing("a", K.RATE_LIMIT), ok("b", reply="from b")
    chain = FailoverChain([a, b])
    assert collect(chain) == [TextDelta("from b"), MessageEnd("stop")]
    assert chain.attempts == (("a", K.RATE_LIMIT),)


def test_every_provider_sees_the_same_request():
    chain = FailoverChain([failing("a", K.TIMEOUT), ok("b", reply="{turn_id}")])
    assert collect(chain)[0] == TextDelta("turn-1")


def test_an_auth_failure_moves_to_the_next_provider():
    b = ok("b")
    assert collect(FailoverChain([failing("a", K.AUTH), b]))[0] == TextDelta("ok")


def test_when_every_provider_fails_one_failure_names_them_all():
    chain = FailoverChain([failing("a", K.RATE_LIMIT), failing("b", K.TIMEOUT)])
    assert collect(chain) == [
        ProviderFailure(K.TIMEOUT, "all providers failed: a: rate_limit; b: timeout", "failover")
    ]
    assert chain.attempts == (("a", K.RATE_LIMIT), ("b", K.TIMEOUT))


def test_the_all_failed_failure_carries_the_chains_name():
    events = collect(FailoverChain([failing("a", K.OVERLOADED)], name="models"))
    assert events == [
        ProviderFailure(K.OVERLOADED, "all providers failed: a: overloaded", "models")
    ]


def test_a_bad_request_stops_the_chain_and_is_reported_as_is():
    b = ok("b")
    chain = FailoverChain([failing("a", K.RATE_LIMIT), failing("bad", K.BAD_REQUEST), b])
    assert collect(chain) == [ProviderFailure(K.BAD_REQUEST, "scripted bad_request", "bad")]
    assert b.streams_started == 0
    assert chain.attempts == (("a", K.RATE_LIMIT), ("bad", K.BAD_REQUEST))


def test_a_failure_after_text_was_streamed_is_reported_and_never_retried():
    a = failing("a", K.OVERLOADED, chunks=3, fail_after=1)
    b = ok("b")
    chain = FailoverChain([a, b])
    assert collect(chain) == [
        TextDelta("parti"),
        ProviderFailure(K.OVERLOADED, "scripted overloaded", "a"),
    ]
    assert b.streams_started == 0
    assert chain.attempts == (("a", K.OVERLOADED),)


def test_a_failure_after_a_tool_call_is_never_retried():
    a = ListProvider([ToolCall("c1", "search"), ProviderFailure(K.TIMEOUT, "late")], name="a")
    b = ok("b")
    events = collect(FailoverChain([a, b]))
    assert events == [ToolCall("c1", "search"), ProviderFailure(K.TIMEOUT, "late", "a")]
    assert b.streams_started == 0


def test_thinking_from_a_failed_provider_is_closed_before_the_next_provider_answers():
    a = ListProvider([ThinkingDelta("hmm"), ProviderFailure(K.OVERLOADED)], name="a")
    events = collect(FailoverChain([a, ok("b")]))
    assert events == [
        ThinkingDelta("hmm"),
        MessageEnd("error"),
        TextDelta("ok"),
        MessageEnd("stop"),
    ]


def test_a_failed_provider_whose_message_was_already_closed_gets_no_extra_message_end():
    a = ListProvider([ThinkingDelta("hmm"), MessageEnd("stop"), ProviderFailure(K.TIMEOUT)], "a")
    events = collect(FailoverChain([a, ok("b")]))
    assert events == [ThinkingDelta("hmm"), MessageEnd("stop"), TextDelta("ok"), MessageEnd("stop")]


def test_a_failure_without_a_provider_name_gets_the_failed_providers_name():
    a = ListProvider([TextDelta("x"), ProviderFailure(K.SERVER_ERROR, "502")], name="a")
    assert collect(FailoverChain([a]))[-1] == ProviderFailure(K.SERVER_ERROR, "502", "a")


def test_a_provider_that_raises_counts_as_an_unknown_failure_and_fails_over():
    chain = FailoverChain([RaisingProvider([], name="buggy"), ok("b")])
    assert collect(chain)[0] == TextDelta("ok")
    assert chain.attempts == (("buggy", K.UNKNOWN),)


def test_a_provider_that_raises_alone_is_reported_with_its_error():
    events = collect(FailoverChain([RaisingProvider([], name="buggy")]))
    assert events == [
        ProviderFailure(K.UNKNOWN, "all providers failed: buggy: unknown", "failover")
    ]


def test_a_spec_that_cannot_be_built_counts_as_an_unknown_failure():
    chain = FailoverChain([ProviderSpec("no_such_module_xyz:Provider"), ok("b")])
    assert collect(chain)[0] == TextDelta("ok")
    assert chain.attempts == (("no_such_module_xyz:Provider", K.UNKNOWN),)


def test_attempts_describe_only_the_latest_stream():
    a = failing("a", K.RATE_LIMIT)
    chain = FailoverChain([a, ok("b")])
    collect(chain)
    a.fail_with = None
    collect(chain)
    assert chain.attempts == ()


# Cancellation ---------------------------------------------------------------------------


def test_a_chain_cancelled_before_it_starts_tries_no_provider():
    a, b = ok("a"), ok("b")
    control = StreamControl()
    control.cancel()
    assert collect(FailoverChain([a, b]), control) == []
    assert (a.streams_started, b.streams_started) == (0, 0)


def test_a_chain_stops_at_once_when_its_turn_is_cancelled_mid_attempt():
    b = ok("b")
    chain = FailoverChain([CancellingProvider([], name="a"), b])
    events = collect(chain)
    # The abort is a coordination outcome: no other model, no failure, no "all failed".
    assert events == []
    assert b.streams_started == 0
    assert chain.attempts == ()


def test_a_hung_stream_that_is_cancelled_ends_the_chain_without_a_failure():
    a = ScriptedProvider(reply="ab", chunks=2, hang_after=1, name="a")
    b = ok("b")
    control = StreamControl()
    stream = FailoverChain([a, b]).stream(REQUEST, control)
    assert next(stream) == TextDelta("a")
    control.cancel()  # the owner aborts the turn while the provider hangs
    assert list(stream) == []
    assert b.streams_started == 0


# Steering and pickling ------------------------------------------------------------------


def test_steering_support_is_the_current_providers():
    a = failing("a", K.RATE_LIMIT)
    b = ok("b", supports_steering=True)
    chain = FailoverChain([a, b])
    assert chain.supports_steering is False
    stream = chain.stream(REQUEST, StreamControl())
    next(stream)  # b is streaming now
    assert chain.supports_steering is True


def test_a_chain_of_specs_builds_nothing_until_it_streams_and_pickles():
    chain = FailoverChain(
        [
            ProviderSpec(SCRIPTED, {"name": "a", "fail_with": "timeout"}),
            ProviderSpec(SCRIPTED, {"name": "b", "reply": "from b"}),
        ]
    )
    copy = pickle.loads(pickle.dumps(chain))
    assert collect(copy) == [TextDelta("from b"), MessageEnd("stop")]
    assert copy.attempts == (("a", K.TIMEOUT),)


def test_a_chain_that_has_streamed_still_pickles_and_streams_again():
    chain = FailoverChain([ProviderSpec(SCRIPTED, {"name": "a"}), ok("b")], name="models")
    collect(chain)
    copy = pickle.loads(pickle.dumps(chain))
    assert copy.name == "models"
    assert collect(copy) == [TextDelta("ok"), MessageEnd("stop")]
