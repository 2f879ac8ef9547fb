"""OpenAICompatProvider: streams from any OpenAI-compatible ``/chat/completions`` endpoint.

Needs the ``http`` extra (``pip install 'sessionward[http]'``, which brings httpx). The
module imports without httpx, so that listing providers never fails; building a provider
without httpx raises an ``ImportError`` that names the extra.

Settings come from the constructor or, for whatever is not given, from the environment:
``OPENAI_BASE_URL`` (default ``https://api.openai.com/v1``), ``OPENAI_MODEL`` (required)
and ``OPENAI_API_KEY`` (optional: local servers such as llama.cpp or vLLM take none).

How a stream ends, and the event it yields last:

================================================  ===========================================
what happened                                     last event
================================================  ===========================================
``data: [DONE]`` (or a ``finish_reason`` and EOF) ``MessageEnd`` (``stop``, ``length``, ...)
an HTTP error status                              ``ProviderFailure``, kind by ``kind_for_status``
an ``{"error": ...}`` object inside the stream    ``ProviderFailure``, kind by its ``type``/``code``
connect error; connection dropped mid-stream;     ``ProviderFailure(connection)``
  EOF before ``[DONE]`` and ``finish_reason``
connect, read or write timeout                    ``ProviderFailure(timeout)``
the turn was cancelled (``control.cancelled``)    nothing: a cancelled turn is not a failure
================================================  ===========================================

Cancellation is checked before the request and between SSE events. A server that sends
nothing at all is cut off by ``read_timeout`` (httpx cannot interrupt a blocked read from
another thread), so keep it near the longest silence a healthy model has.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from sessionward.errors import BadInputError
from sessionward.providers.base import (
    MessageEnd,
    ProviderErrorKind,
    ProviderEvent,
    ProviderFailure,
    ProviderRequest,
    StreamControl,
    TextDelta,
    ThinkingDelta,
    Usage,
)
from sessionward.providers.openai_wire import (  # re-exported: the provider's public helpers
    ERROR_TYPE_KINDS,
    STOP_REASONS,
    chat_messages,
    iter_sse_data,
    kind_for_status,
    usage_from_openai,
)

try:
    import httpx
except ImportError:  # the optional extra is not installed; see _require_httpx
    httpx = None

DEFAULT_BASE_URL = "https://api.openai.com/v1"

MAX_ERROR_BODY = 2000
"""How much of an error response's body is read for the failure message (characters)."""

K = ProviderErrorKind

def _require_httpx():
    if httpx is None:
        raise ImportError(
            "the OpenAI-compatible provider needs httpx: pip install 'sessionward[http]'"
        )
    return httpx


class OpenAICompatProvider:
    """A streaming chat-completions provider over httpx (see the module docstring).

    Args:
        model: The model name; default ``$OPENAI_MODEL``.
        base_url: The API root, up to ``/v1``; default ``$OPENAI_BASE_URL`` or OpenAI's.
        api_key: Sent as ``Authorization: Bearer``; default ``$OPENAI_API_KEY`` (none if unset).
        name: The provider's name in outcomes and failover records.
        system_prompt: A system message put before the session's context.
        connect_timeout: Seconds to connect.
        read_timeout: Longest silence between two reads of the stream (seconds).
        max_tokens, temperature: Passed through when set.
        extra_body: More request fields, merged into the JSON body.
        stream_usage: Ask for the usage in the stream's last chunk
            (``stream_options: {"include_usage": true}``). Turn off for a server that
            rejects ``stream_options``; its messages then record a zero usage.

    Each assistant message it ends reports ``api`` ``openai-completions`` (pi's name for
    this API), the model the stream names (else ``model``) and the stream's usage
    (``usage_from_openai``; zeros when the server sends none).

    Picklable: the httpx client is built on first use, in the process that streams, and
    a copy (or a forked child) builds its own.

    Raises:
        ImportError: httpx is not installed.
        BadInputError: no model given and ``OPENAI_MODEL`` is unset.

    Example:
        OpenAICompatProvider(model="llama3", base_url="http://127.0.0.1:8080/v1")
    """

    supports_steering = False
    api = "openai-completions"
    """pi's ``api`` for a chat-completions endpoint."""

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str = "openai",
        system_prompt: str | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_tokens: int | None = None,
        temperature: float | None = None,
        extra_body: dict[str, Any] | None = None,
        stream_usage: bool = True,
    ) -> None:
        _require_httpx()
        model = model or os.environ.get("OPENAI_MODEL")
        if not model:
            raise BadInputError("no model: pass model= or set OPENAI_MODEL")
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.name = name
        self.system_prompt = system_prompt
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.extra_body = dict(extra_body or {})
        self.stream_usage = stream_usage
        self._lock = threading.Lock()
        self._client = None
        self._client_pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_lock=None, _client=None, _client_pid=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # the key stays out of logs
        return f"OpenAICompatProvider(model={self.model!r}, base_url={self.base_url!r}, name={self.name!r})"

    def close(self) -> None:
        """Close the httpx client, if one was built in this process."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._client_pid == os.getpid():
            client.close()

    def _http(self):
        with self._lock:
            # A client built before a fork shares its sockets with the parent: build anew.
            if self._client is None or self._client_pid != os.getpid():
                timeout = httpx.Timeout(self.read_timeout, connect=self.connect_timeout)
                self._client = httpx.Client(timeout=timeout)
                self._client_pid = os.getpid()
            return self._client

    def request_body(self, request: ProviderRequest) -> dict[str, Any]:
        """The JSON body of the chat-completions request for ``request``."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": chat_messages(request, self.system_prompt),
            "stream": True,
        }
        if self.stream_usage:
            # Without it, OpenAI-compatible servers send no usage at all in a stream.
            body["stream_options"] = {"include_usage": True}
        if self.max_tokens is not None:
            body["max_tokens"] = self.max_tokens
        if self.temperature is not None:
            body["temperature"] = self.temperature
        body.update(self.extra_body)
        return body

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[ProviderEvent]:
        """Yield the turn's events; every transport problem ends as one ``ProviderFailure``."""
        _require_httpx()
        if control.cancelled:
            return
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        url = f"{self.base_url}/chat/completions"
        try:
            with self._http().stream("POST", url, json=self.request_body(request), headers=headers) as response:
                if response.status_code != 200:
                    yield self._status_failure(response)
                    return
                yield from self._events(response.iter_lines(), control)
        except httpx.TimeoutException as exc:
            yield self._failure(K.TIMEOUT, f"{type(exc).__name__}: {str(exc) or 'timed out'}")
        except httpx.ConnectError as exc:
            yield self._failure(K.CONNECTION, f"cannot connect to {self.base_url}: {exc}")
        except httpx.TransportError as exc:
            # RemoteProtocolError / ReadError: the server closed the connection mid-body.
            if not control.cancelled:
                yield self._failure(K.CONNECTION, f"connection dropped mid-stream: {exc}")

    def _events(self, lines: Iterable[str], control: StreamControl) -> Iterator[ProviderEvent]:
        stop_reason: str | None = None
        done = False
        model = ""
        usage: Usage | None = None
        for data in iter_sse_data(lines):
            if control.cancelled:
                return
            if data.strip() == "[DONE]":
                done = True
                break
            try:
                chunk = json.loads(data)
            except ValueError:
                yield self._failure(K.UNKNOWN, f"malformed stream chunk: {data[:200]!r}")
                return
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                yield self._error_object_failure(chunk["error"])
                return
            if isinstance(chunk.get("model"), str) and chunk["model"] and not model:
                model = chunk["model"]
            if chunk.get("usage"):
                usage = usage_from_openai(chunk["usage"]) or usage
            choices = chunk.get("choices") or []
            # One completion is asked for (no ``n``): only choice 0 is the reply.
            choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0), None)
            if choice is None:
                continue  # a usage-only or keep-alive chunk
            if not chunk.get("usage") and choice.get("usage"):
                usage = usage_from_openai(choice["usage"]) or usage  # Moonshot puts it here
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str) and reasoning:
                yield ThinkingDelta(reasoning)
            content = delta.get("content")
            if isinstance(content, str) and content:
                yield TextDelta(content)
            if choice.get("finish_reason"):
                stop_reason = STOP_REASONS.get(choice["finish_reason"], "stop")
        if control.cancelled:
            return
        if not done and stop_reason is None:
            # A close-delimited body that just ends looks like success to httpx; without
            # [DONE] or a finish_reason, the reply is cut short.
            yield self._failure(K.CONNECTION, "the stream ended before [DONE]")
            return
        yield MessageEnd(stop_reason or "stop", model=model or self.model, usage=usage,
                         api=self.api, provider=self.name)

    def _status_failure(self, response) -> ProviderFailure:
        kind = kind_for_status(response.status_code)
        try:
            body = response.read().decode("utf-8", "replace")[:MAX_ERROR_BODY]
        except httpx.HTTPError:
            body = ""
        detail = body
        try:
            error = json.loads(body).get("error")
            if isinstance(error, dict) and error.get("message"):
                detail = str(error["message"])
            elif isinstance(error, str):
                detail = error
        except (ValueError, AttributeError):
            pass
        return self._failure(kind, f"HTTP {response.status_code}: {detail}".rstrip(": "))

    def _error_object_failure(self, error: Any) -> ProviderFailure:
        if not isinstance(error, dict):
            return self._failure(K.UNKNOWN, f"stream error: {error}")
        kind = K.UNKNOWN
        for key in ("code", "type"):
            value = error.get(key)
            if isinstance(value, str) and value in ERROR_TYPE_KINDS:
                kind = ERROR_TYPE_KINDS[value]
                break
            if isinstance(value, int):
                kind = kind_for_status(value)
                break
        return self._failure(kind, f"stream error: {error.get('message', error)}")

    def _failure(self, kind: ProviderErrorKind, message: str) -> ProviderFailure:
        return ProviderFailure(kind, message, self.name)
