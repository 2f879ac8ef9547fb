"""ScriptedProvider's usage: pi's estimate over the context, counted once per message."""

from __future__ import annotations

import pickle

from sessionward.providers.base import MessageEnd, ProviderRequest, StreamControl, known_prefix
from sessionward.providers.scripted import ContextChars, ScriptedProvider, message_chars


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def _assistant(text: str, thinking: str = "") -> dict:
    content = [{"type": "thinking", "thinking": thinking}] if thinking else []
    return {"role": "assistant", "content": [*content, {"type": "text", "text": text}]}


def _input_tokens(provider: ScriptedProvider, text: str, context: tuple[dict, ...]) -> int:
    request = ProviderRequest("agent:main:main", "t1", text, context)
    end = [e for e in provider.stream(request, StreamControl()) if isinstance(e, MessageEnd)]
    return end[0].usage.input


def _whole(text: str, context: tuple[dict, ...]) -> int:
    return -(-(len(text) + sum(message_chars(m) for m in context)) // 4)


def test_a_message_counts_its_text_thinking_and_summary_and_nothing_else() -> None:
    assert message_chars(_user("abcd")) == 4
    assert message_chars(_assistant("ab", thinking="xyz")) == 5  # each block its text, else its thinking
    assert message_chars(_assistant("", thinking="xyz")) == 3
    assert message_chars({"role": "compactionSummary", "summary": "12345"}) == 5
    assert message_chars({"role": "toolResult", "content": [{"type": "image", "data": "AAAA"}]}) == 0
    assert message_chars({"role": "user", "content": [{"type": "text", "text": None}, "stray"]}) == 0


def test_a_growing_context_counts_only_its_new_messages() -> None:
    counter = ContextChars()
    context: list[dict] = [_user("a" * 10), _assistant("b" * 20)]
    assert counter.of(tuple(context)) == 30
    seen = []

    class Counted(dict):
        def get(self, key, default=None):
            seen.append(key)
            return super().get(key, default)

    context += [Counted(_user("c" * 5)), Counted(_assistant("d" * 7))]
    assert counter.of(tuple(context)) == 42
    assert seen.count("content") == 2  # the first two were not looked at again


def test_a_context_that_does_not_extend_the_last_one_is_counted_whole() -> None:
    counter = ContextChars()
    first = (_user("a" * 10), _assistant("b" * 20))
    assert counter.of(first) == 30
    rebuilt = (_user("a" * 10), _assistant("b" * 2), _user("c"))  # equal length prefix, other objects
    assert counter.of(rebuilt) == 13
    assert counter.of(rebuilt[:1]) == 10  # shorter than what was counted
    assert counter.of(()) == 0


def test_the_provider_reports_the_same_input_tokens_as_counting_the_whole_context_every_turn() -> None:
    provider = ScriptedProvider(reply="ok")
    context: tuple[dict, ...] = ()
    for turn in range(30):
        text = f"turn {turn} " + "x" * turn
        assert _input_tokens(provider, text, context) == _whole(text, context)
        context = (*context, _user(text), _assistant("ok" * turn, thinking="t" * (turn % 3)))
    replayed = tuple(dict(m) for m in context[:10])  # a replayed turn's context is built anew
    assert _input_tokens(provider, "again", replayed) == _whole("again", replayed)


def test_a_pickled_provider_carries_no_session_text_and_counts_afresh() -> None:
    provider = ScriptedProvider(reply="ok")
    context = (_user("secret" * 7),)
    assert _input_tokens(provider, "", context) == 11
    pickled = pickle.dumps(provider)  # how a provider travels to its workers
    assert b"secret" not in pickled
    copy = pickle.loads(pickled)
    other = (_user("b" * 8),)
    assert _input_tokens(copy, "", other) == 2
    assert _input_tokens(copy, "", (*other, _user("c" * 4))) == 3


def test_a_known_prefix_is_the_same_objects_at_the_same_places_or_nothing() -> None:
    a, b, c = _user("a"), _user("b"), _user("c")
    assert known_prefix((a, b, c), 2, b) == 2
    assert known_prefix((a, b), 2, b) == 2
    assert known_prefix((a, dict(b), c), 2, b) == 0, "an equal message is not the one seen"
    assert known_prefix((a,), 2, b) == 0, "shorter than what was seen"
    assert known_prefix((a, b), 0, None) == 0
    assert known_prefix((), 0, None) == 0
