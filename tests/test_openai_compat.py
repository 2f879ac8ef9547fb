"""The OpenAI-compatible provider against a fake chat-completions server on 127.0.0.1.

The fake server picks its behaviour from the request's model name (``ok``, ``echo``,
``status-429``, ``drop``, ...), so each provider in a test is one scripted server mode.
"""

from __future__ import annotations

import json
import pickle
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sessionward import Runtime, TurnStatus
from sessionward.errors import BadInputError
from sessionward.providers import openai_compat
from sessionward.providers.base import (
    MessageEnd,
    ProviderErrorKind,
    ProviderFailure,
    ProviderRequest,
    StreamControl,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from sessionward.providers.failover import FailoverChain
from sessionward.providers.openai_compat import (
    OpenAICompatProvider,
    chat_messages,
    iter_sse_data,
    kind_for_status,
    usage_from_openai,
)

K = ProviderErrorKind
REQUEST = ProviderRequest(session_key="agent:main:main", turn_id="t1", text="hello there")


def _sse(payload) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _delta(text: str | None = None, finish: str | None = None, **extra) -> dict:
    delta = {"content": text} if text is not None else {}
    delta.update(extra)
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


class FakeChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[tuple[dict, dict]] = []
        self.release = threading.Event()
        """Set at teardown: frees handlers that hold a connection open on purpose."""

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up (the cancel and timeout tests do) is expected

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeChatServer

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((dict(self.headers), body))
        model = body["model"]
        if model.startswith("status-"):
            self._json(int(model.removeprefix("status-")), {"error": {"message": f"scripted {model}"}})
        elif model == "ok":
            self._stream([_sse(_delta(reasoning_content="thinking")), _sse(_delta("Hel")),
                          _sse(_delta("lo")), _sse(_delta(finish="stop")), _sse("[DONE]")])
        elif model == "usage":  # names its model in each chunk; usage comes in a last, choice-less chunk
            usage = {"prompt_tokens": 120, "completion_tokens": 7, "total_tokens": 127,
                     "prompt_tokens_details": {"cached_tokens": 100}}
            self._stream([_sse({**_delta("hi"), "model": "usage-2026"}),
                          _sse({**_delta(finish="stop"), "model": "usage-2026"}),
                          _sse({"choices": [], "model": "usage-2026", "usage": usage}), _sse("[DONE]")])
        elif model == "echo":
            text = body["messages"][-1]["content"]
            self._stream([_sse(_delta(f"echo: {text}")), _sse(_delta(finish="stop")), _sse("[DONE]")])
        elif model == "many":
            self._stream([_sse(_delta(f"{i} ")) for i in range(200)] + [_sse("[DONE]")])
        elif model == "error-event":
            self._stream([_sse(_delta("par")), _sse({"error": {"type": "overloaded_error", "message": "busy"}})])
        elif model == "drop":
            self._stream([_sse(_delta("par")), _sse(_delta("tial"))], drop=True)
        elif model == "no-done":
            self._close_delimited([_sse(_delta("cut")), _sse(_delta(" short"))])
        elif model == "silent":
            self._start_stream()
            self.server.release.wait(30)
        else:
            self._json(404, {"error": {"message": f"model {model} not found"}})

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _stream(self, events: list[bytes], *, drop: bool = False) -> None:
        self._start_stream()
        for event in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
        if drop:  # the connection dies without the terminating chunk
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(b"0\r\n\r\n")

    def _close_delimited(self, events: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(event)
        self.close_connection = True


@pytest.fixture
def server():
    srv = FakeChatServer()
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def provider(server: FakeChatServer, model: str, **kwargs) -> OpenAICompatProvider:
    return OpenAICompatProvider(model, base_url=server.base_url, api_key="sk-test", name=model, **kwargs)


def events_of(p: OpenAICompatProvider, request: ProviderRequest = REQUEST) -> list:
    return list(p.stream(request, StreamControl()))


# -- pure helpers ------------------------------------------------------------------------------


def test_sse_data_joins_multi_line_events_and_skips_comments_and_other_fields():
    lines = [": keep-alive", "event: message", "data: a", "data:b", "", "id: 7", "data: c", "", "data: tail"]
    assert list(iter_sse_data(lines)) == ["a\nb", "c", "tail"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, K.RATE_LIMIT), (503, K.OVERLOADED), (529, K.OVERLOADED), (500, K.SERVER_ERROR),
     (502, K.SERVER_ERROR), (504, K.SERVER_ERROR), (401, K.AUTH), (403, K.AUTH), (400, K.BAD_REQUEST),
     (404, K.BAD_REQUEST), (422, K.BAD_REQUEST), (418, K.UNKNOWN)],
)
def test_each_http_status_maps_to_its_provider_error_kind(status, kind):
    assert kind_for_status(status) is kind


def test_context_becomes_chat_messages_with_tool_use_as_text():
    context = (
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "thinking", "thinking": "hmm"},
                                          {"type": "text", "text": "let me look"},
                                          {"type": "toolCall", "id": "c1", "name": "ls", "arguments": {"p": "."}}]},
        {"role": "toolResult", "toolCallId": "c1", "toolName": "ls", "content": [{"type": "text", "text": "a.txt"}]},
        {"role": "assistant", "content": [], "stopReason": "aborted"},
        {"role": "compactionSummary", "summary": "earlier we talked"},
    )
    request = ProviderRequest("agent:main:main", "t1", "and now?", context)
    assert chat_messages(request, "be brief") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": 'let me look\n[tool call ls({"p": "."})]'},
        {"role": "user", "content": "[tool result ls: a.txt]"},
        {"role": "user", "content": "[summary of earlier conversation]\nearlier we talked"},
        {"role": "user", "content": "and now?"},
    ]


# -- construction ------------------------------------------------------------------------------


def test_settings_come_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    monkeypatch.setenv("OPENAI_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    p = OpenAICompatProvider()
    assert (p.model, p.base_url, p._api_key) == ("env-model", "http://127.0.0.1:9/v1", "sk-env")
    assert "sk-env" not in repr(p)


def test_a_missing_model_is_a_clear_bad_input_error(monkeypatch):
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(BadInputError, match="OPENAI_MODEL"):
        OpenAICompatProvider()


def test_without_httpx_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(openai_compat, "httpx", None)
    with pytest.raises(ImportError, match=r"sessionward\[http\]"):
        OpenAICompatProvider("m")


# -- streaming ---------------------------------------------------------------------------------


def end(model: str, name: str | None = None, usage: Usage | None = None) -> MessageEnd:
    """The MessageEnd the provider named ``name`` (default: the model) gives for ``model``."""
    return MessageEnd("stop", model=model, usage=usage, api="openai-completions", provider=name or model)


def test_a_stream_yields_thinking_and_text_deltas_then_a_message_end(server):
    assert events_of(provider(server, "ok")) == [
        ThinkingDelta("thinking"), TextDelta("Hel"), TextDelta("lo"), end("ok")]
    headers, body = server.requests[-1]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["stream"] is True and body["messages"][-1] == {"role": "user", "content": "hello there"}


def test_the_message_end_carries_the_streamed_model_and_the_final_chunks_usage(server):
    events = events_of(provider(server, "usage"))
    assert events[-1] == end("usage-2026", "usage", Usage(input=20, output=7, cache_read=100, total_tokens=127))
    assert server.requests[-1][1]["stream_options"] == {"include_usage": True}


def test_stream_options_are_left_out_when_stream_usage_is_off(server):
    events_of(provider(server, "ok", stream_usage=False))
    assert "stream_options" not in server.requests[-1][1]


def test_openai_usage_is_read_as_pi_reads_it():
    raw = {"prompt_tokens": 50, "completion_tokens": 5,
           "prompt_tokens_details": {"cached_tokens": 30, "cache_write_tokens": 10}}
    assert usage_from_openai(raw) == Usage(input=20, output=5, cache_read=20, cache_write=10, total_tokens=55)
    assert usage_from_openai({"prompt_tokens": 3, "prompt_cache_hit_tokens": 1}) == Usage(
        input=2, cache_read=1, total_tokens=3)
    assert usage_from_openai({"prompt_tokens": "many", "completion_tokens": -1}) == Usage()
    assert usage_from_openai(None) is None


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, K.RATE_LIMIT), (503, K.OVERLOADED), (529, K.OVERLOADED), (500, K.SERVER_ERROR),
     (401, K.AUTH), (403, K.AUTH), (400, K.BAD_REQUEST), (404, K.BAD_REQUEST), (422, K.BAD_REQUEST)],
)
def test_an_error_status_ends_the_stream_with_its_failure_kind(server, status, kind):
    (failure,) = events_of(provider(server, f"status-{status}"))
    assert failure == ProviderFailure(kind, f"HTTP {status}: scripted status-{status}", f"status-{status}")


def test_an_error_object_inside_the_stream_is_a_typed_failure(server):
    events = events_of(provider(server, "error-event"))
    assert events == [TextDelta("par"), ProviderFailure(K.OVERLOADED, "stream error: busy", "error-event")]


def test_a_connection_dropped_mid_stream_is_a_connection_failure(server):
    *deltas, failure = events_of(provider(server, "drop"))
    assert deltas == [TextDelta("par"), TextDelta("tial")]
    assert failure.kind is K.CONNECTION and "dropped mid-stream" in failure.message


def test_a_close_delimited_stream_that_ends_before_done_is_a_connection_failure(server):
    *deltas, failure = events_of(provider(server, "no-done"))
    assert deltas == [TextDelta("cut"), TextDelta(" short")]
    assert failure == ProviderFailure(K.CONNECTION, "the stream ended before [DONE]", "no-done")


def test_a_silent_server_is_a_timeout(server):
    (failure,) = events_of(provider(server, "silent", read_timeout=0.3))
    assert failure.kind is K.TIMEOUT


def _unused_url() -> str:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/v1"


def test_a_refused_connection_is_a_connection_failure():
    p = OpenAICompatProvider("m", base_url=_unused_url(), name="nowhere")
    (failure,) = events_of(p)
    assert failure.kind is K.CONNECTION and "cannot connect" in failure.message


def test_a_cancelled_turn_stops_between_chunks_without_a_failure(server):
    control = StreamControl()
    seen = []
    for event in provider(server, "many").stream(REQUEST, control):
        seen.append(event)
        control.cancel()
    assert seen == [TextDelta("0 ")]


def test_a_provider_pickles_after_streaming_and_the_copy_streams_with_its_own_client(server):
    p = provider(server, "ok")
    assert events_of(p)[-1] == end("ok")
    copy = pickle.loads(pickle.dumps(p))
    assert copy._client is None
    assert events_of(copy)[-1] == end("ok")
    p.close()
    copy.close()


# -- failover ----------------------------------------------------------------------------------


@pytest.mark.parametrize("first", ["status-429", "status-503", "status-500", "status-401", "refused"])
def test_a_failover_chain_moves_past_a_failing_endpoint_to_the_next(server, first):
    failing = (OpenAICompatProvider("m", base_url=_unused_url(), name="refused")
               if first == "refused" else provider(server, first))
    chain = FailoverChain([failing, provider(server, "echo")])
    events = list(chain.stream(REQUEST, StreamControl()))
    assert events == [TextDelta("echo: hello there"), end("echo")]
    assert [name for name, _ in chain.attempts] == [first]


def test_a_bad_request_stops_the_chain_instead_of_trying_the_next_model(server):
    chain = FailoverChain([provider(server, "status-400"), provider(server, "echo")])
    (failure,) = list(chain.stream(REQUEST, StreamControl()))
    assert failure.kind is K.BAD_REQUEST


@pytest.mark.parametrize("base", ["simple", "tcp"])
def test_a_runtime_turn_fails_over_from_a_rate_limited_endpoint_and_completes(server, tmp_path, base):
    chain = FailoverChain([provider(server, "status-429"), provider(server, "echo")])
    with Runtime(tmp_path / "store", provider=chain, base=base, recovery=False) as rt:
        outcome = rt.submit("agent:main:main", "ping").result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED
    assert outcome.reply == "echo: ping"
