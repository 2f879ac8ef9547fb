"""The OpenAI chat-completions wire format, as ``OpenAICompatProvider`` speaks it (pure).

What the provider sends (``chat_messages``: a transcript's context as chat messages) and
how it reads what comes back (``iter_sse_data``: the SSE stream's ``data:`` payloads;
``usage_from_openai``; ``kind_for_status`` and the error-type table: which failure kind a
status or an in-stream error object is; the ``finish_reason`` -> ``stopReason`` table).
No I/O, no httpx: tested on literal inputs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from types import MappingProxyType
from typing import Any

from sessionward.providers.base import ProviderErrorKind, ProviderRequest, Usage

K = ProviderErrorKind

_STATUS_KINDS = MappingProxyType(
    {
        429: K.RATE_LIMIT,
        # 529 is Anthropic's "overloaded"; compatible gateways pass it through.
        503: K.OVERLOADED,
        529: K.OVERLOADED,
        401: K.AUTH,
        403: K.AUTH,
        # Payment required: an exhausted balance belongs to this key's profile, like auth.
        402: K.AUTH,
        408: K.TIMEOUT,
        400: K.BAD_REQUEST,
        404: K.BAD_REQUEST,
        413: K.BAD_REQUEST,
        422: K.BAD_REQUEST,
    }
)

# The ``type`` or ``code`` of an error object sent inside an SSE stream.
ERROR_TYPE_KINDS = MappingProxyType(
    {
        "rate_limit_error": K.RATE_LIMIT,
        "rate_limit_exceeded": K.RATE_LIMIT,
        "insufficient_quota": K.RATE_LIMIT,
        "overloaded_error": K.OVERLOADED,
        "overloaded": K.OVERLOADED,
        "server_error": K.SERVER_ERROR,
        "api_error": K.SERVER_ERROR,
        "timeout": K.TIMEOUT,
        "authentication_error": K.AUTH,
        "permission_error": K.AUTH,
        "invalid_api_key": K.AUTH,
        "invalid_request_error": K.BAD_REQUEST,
        "context_length_exceeded": K.BAD_REQUEST,
    }
)

STOP_REASONS = MappingProxyType(
    {"stop": "stop", "length": "length", "tool_calls": "toolUse", "function_call": "toolUse"}
)
"""OpenAI ``finish_reason`` -> pi's ``stopReason``; anything else ends as ``stop``."""


def usage_from_openai(raw: Any) -> Usage | None:
    """pi's ``Usage`` from an OpenAI ``usage`` object, the way pi's ``parseChunkUsage`` reads it.

    ``cacheRead`` is ``prompt_tokens_details.cached_tokens`` (or DeepSeek's
    ``prompt_cache_hit_tokens``) less any ``cache_write_tokens``; ``input`` is the prompt
    tokens that were neither; ``totalTokens`` is their sum with ``completion_tokens``. No
    prices are known here, so the cost is 0. ``None`` when ``raw`` is not an object.
    """
    if not isinstance(raw, dict):
        return None

    def count(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

    found = raw.get("prompt_tokens_details")
    details: dict[str, Any] = found if isinstance(found, dict) else {}
    prompt = count(raw.get("prompt_tokens"))
    reported_cached = count(details.get("cached_tokens", raw.get("prompt_cache_hit_tokens")))
    cache_write = count(details.get("cache_write_tokens"))
    cache_read = max(0, reported_cached - cache_write) if cache_write else reported_cached
    input_tokens = max(0, prompt - cache_read - cache_write)
    output = count(raw.get("completion_tokens"))
    return Usage(input=input_tokens, output=output, cache_read=cache_read, cache_write=cache_write,
                 total_tokens=input_tokens + output + cache_read + cache_write)


def kind_for_status(status: int) -> ProviderErrorKind:
    """The provider error kind of an HTTP error status (429 -> ``rate_limit``, ...)."""
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    if 500 <= status <= 599:
        return K.SERVER_ERROR
    return K.UNKNOWN


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` of each server-sent event, from the stream's lines (no line endings).

    Follows the SSE rules a chat stream needs: an event ends at a blank line, several
    ``data:`` lines of one event join with ``\\n``, one space after the colon is dropped,
    comments (``:``) and other fields (``event:``, ``id:``, ``retry:``) are ignored. An
    event left unterminated at the end of the stream is still yielded.
    """
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:
        yield "\n".join(data)


def chat_messages(request: ProviderRequest, system_prompt: str | None = None) -> list[dict[str, Any]]:
    """The request as OpenAI chat messages: system prompt, the session's context, the turn.

    The context is pi-format messages. Tool calls and results become plain text: this
    provider sends no tools, and an ``assistant.tool_calls`` without its exact ``tool``
    replies (a turn aborted mid-tool leaves one) makes such servers answer 400.
    """
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    for message in request.context:
        converted = _chat_message(message)
        if converted is not None:
            messages.append(converted)
    messages.append({"role": "user", "content": request.text})
    return messages


def _chat_message(message: dict[str, Any]) -> dict[str, Any] | None:
    role = message.get("role")
    if role == "user":
        text = _text_of(message.get("content"))
        return {"role": "user", "content": text} if text else None
    if role == "assistant":
        parts = []
        for block in _blocks(message.get("content")):
            if block.get("type") == "text" and block.get("text"):
                parts.append(block["text"])
            elif block.get("type") == "toolCall":
                arguments = json.dumps(block.get("arguments", {}), ensure_ascii=False)
                parts.append(f"[tool call {block.get('name', '?')}({arguments})]")
        text = "\n".join(parts)
        # An aborted or failed reply with no text says nothing the model needs.
        return {"role": "assistant", "content": text} if text else None
    if role == "toolResult":
        text = _text_of(message.get("content"))
        return {"role": "user", "content": f"[tool result {message.get('toolName', '?')}: {text}]"}
    if role in ("compactionSummary", "branchSummary") and message.get("summary"):
        return {"role": "user", "content": f"[summary of earlier conversation]\n{message['summary']}"}
    if role == "custom":
        text = _text_of(message.get("content"))
        return {"role": "user", "content": text} if text else None
    return None


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _text_of(content: Any) -> str:
    return "\n".join(b["text"] for b in _blocks(content) if b.get("type") == "text" and b.get("text"))
