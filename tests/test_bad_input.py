"""Bad input through the Runtime: typed errors, nothing already written lost."""


import pytest

from sessionward import (
    InvalidLaneError,
    InvalidMessageError,
    InvalidSessionKeyError,
    OutcomeReason,
    RuntimeConfig,
    TurnStatus,
)
from sessionward.actors.messages import ErrorReply
from sessionward.client import new_request_id
from sessionward.storage.store import derived_session_id


@pytest.mark.parametrize("key", ["", "agent:main", "agent:main:../x", "agent:main:a/b", "x\x00", "agent:" + "a" * 600])
def test_submit_refuses_malformed_keys_before_sending(make_runtime, key):
    rt = make_runtime()
    with pytest.raises(InvalidSessionKeyError):
        rt.submit(key, "hi")


@pytest.mark.parametrize("text", [b"\xff\xfe", "\udc80 lone surrogate", "nul \x00 inside", 12])
def test_submit_refuses_text_that_is_not_utf8(make_runtime, text):
    rt = make_runtime()
    with pytest.raises(InvalidMessageError):
        rt.submit("agent:main:main", text)


@pytest.mark.parametrize("text", ["", " ", "\n\t  \r\n", b"  "])
def test_submit_refuses_empty_or_whitespace_only_text(make_runtime, text):
    rt = make_runtime()
    with pytest.raises(InvalidMessageError, match="empty"):
        rt.submit("agent:main:main", text)
    assert rt.sessions() == []  # nothing was sent: no owner was started


@pytest.mark.parametrize("lane", ["no such lane!", "", "direct:", "a::b", "x/y", "tab\tlane", "../up", 7])
def test_submit_refuses_malformed_lane_names(make_runtime, lane):
    rt = make_runtime()
    with pytest.raises(InvalidLaneError):
        rt.submit("agent:main:main", "hi", lane=lane)
    assert rt.sessions() == []


def test_submit_accepts_any_well_formed_lane_name_with_an_explicit_key(make_runtime):
    rt = make_runtime()
    for lane in ("direct", "web", "direct:cli:alice", "tool.run@x+1"):
        assert rt.submit("agent:main:main", "hi", lane=lane).result(timeout=30).status is TurnStatus.COMPLETED


def test_submit_refuses_oversized_text(make_runtime):
    rt = make_runtime(config=RuntimeConfig(max_message_bytes=1000))
    with pytest.raises(InvalidMessageError):
        rt.submit("agent:main:main", "é" * 501)  # 1002 bytes
    assert rt.submit("agent:main:main", "é" * 500).result(timeout=30).status is TurnStatus.COMPLETED


def test_a_session_whose_file_has_no_header_fails_with_a_typed_error_and_the_file_is_kept(make_runtime, tmp_path):
    store = tmp_path / "store"
    (store / "sessions").mkdir(parents=True)
    path = store / "sessions" / f"{derived_session_id('agent:main:main')}.jsonl"
    data = b'{"not":"a session"}\n'
    path.write_bytes(data)
    rt = make_runtime(store)
    handle = rt.submit("agent:main:main", "hi")
    outcome = handle.result(timeout=30)
    assert outcome.status is TurnStatus.FAILED and "header" in outcome.detail
    assert outcome.reason is OutcomeReason.BAD_INPUT
    assert path.read_bytes() == data


def test_an_unknown_message_gets_a_typed_reply(make_runtime, base):
    rt = make_runtime(base=base)
    reply = rt._mailbox.ask(rt._directory, _Bogus(new_request_id()), 30)
    assert isinstance(reply, ErrorReply) and reply.kind == "unknown_message"


class _Bogus:
    def __init__(self, request_id):
        self.request_id = request_id


