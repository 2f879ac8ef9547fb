"""The transcript entries a turn writes, in the pi / openclaw v3 shape. Pure.

Every entry a turn writes carries ``turnId`` (and the user entry its ``lane``): the format
tolerates extra fields, and they let a reader check from the file alone that turns never
interleave and that a reply was written once. A turn ends with a ``custom`` entry of
``customType`` ``sessionward.turn_end``: it holds no model context, and it is the terminal
record that replay looks for after a crash.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from sessionward.providers.base import Usage
from sessionward.storage.transcript_format import iso_timestamp, new_entry_id

TURN_END = "sessionward.turn_end"
"""``customType`` of the entry that closes a turn."""


def _base(kind: str, *, ids: Container[str], parent_id: str | None, now: float) -> dict[str, Any]:
    return {
        "type": kind,
        "id": new_entry_id(ids),
        "parentId": parent_id,
        "timestamp": iso_timestamp(now),
    }


def user_entry(
    text: str, *, turn_id: str, lane: str, ids: Container[str], parent_id: str | None, now: float
) -> dict[str, Any]:
    entry = _base("message", ids=ids, parent_id=parent_id, now=now)
    entry["message"] = {
        "role": "user",
        "content": [{"type": "text", "text": text}],
        "timestamp": int(now * 1000),
    }
    entry["turnId"] = turn_id
    entry["lane"] = lane
    return entry


UNKNOWN = "unknown"
"""Written for an assistant message's ``api`` or ``model`` when the provider did not say.

pi requires both strings; pi uses ``api`` to decide whether a message's thinking blocks can
be replayed to the next model, and a name no real API has keeps them as plain text."""


def provider_identity(provider: object) -> tuple[str, str, str]:
    """``(api, provider name, model)`` to write on a message its ``MessageEnd`` did not name
    (an aborted or failed message): the provider object's attributes, else ``"unknown"``."""

    def attr(name: str) -> str:
        value = getattr(provider, name, "")
        return value if isinstance(value, str) and value else UNKNOWN

    return attr("api"), attr("name"), attr("model")


def usage_fields(usage: Usage | None) -> dict[str, Any]:
    """pi's ``Usage`` object, every field present: zeros when ``usage`` is ``None``.

    Key order is pi's (``packages/ai/src/types.ts``), so a line reads as pi writes it.
    """
    u = usage if usage is not None else Usage()
    return {
        "input": u.input,
        "output": u.output,
        "cacheRead": u.cache_read,
        "cacheWrite": u.cache_write,
        "totalTokens": u.total_tokens,
        "cost": {
            "input": u.cost_input,
            "output": u.cost_output,
            "cacheRead": u.cost_cache_read,
            "cacheWrite": u.cost_cache_write,
            "total": u.cost_total,
        },
    }


def assistant_entry(
    content: list[dict[str, Any]],
    *,
    stop_reason: str,
    provider: str,
    turn_id: str,
    ids: Container[str],
    parent_id: str | None,
    now: float,
    error_message: str | None = None,
    api: str = "",
    model: str = "",
    usage: Usage | None = None,
) -> dict[str, Any]:
    """An assistant message in pi's full ``AssistantMessage`` shape.

    ``stop_reason`` is pi's: stop, toolUse, aborted, error, length. ``api``, ``model`` and
    ``usage`` are always written (``"unknown"`` and zeros when not known): pi's CLI reads
    them from every assistant message of a session it resumes, and fails without them.
    """
    entry = _base("message", ids=ids, parent_id=parent_id, now=now)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "api": api or UNKNOWN,
        "provider": provider or UNKNOWN,
        "model": model or UNKNOWN,
        "usage": usage_fields(usage),
        "stopReason": stop_reason,
        "timestamp": int(now * 1000),
    }
    if error_message:
        message["errorMessage"] = error_message
    entry["message"] = message
    entry["turnId"] = turn_id
    return entry


def tool_result_entry(
    *,
    call_id: str,
    name: str,
    content: str,
    is_error: bool,
    turn_id: str,
    ids: Container[str],
    parent_id: str | None,
    now: float,
) -> dict[str, Any]:
    entry = _base("message", ids=ids, parent_id=parent_id, now=now)
    entry["message"] = {
        "role": "toolResult",
        "toolCallId": call_id,
        "toolName": name,
        "content": [{"type": "text", "text": content}],
        "isError": is_error,
        "timestamp": int(now * 1000),
    }
    entry["turnId"] = turn_id
    return entry


def turn_end_entry(
    *,
    turn_id: str,
    status: str,
    reason: str | None,
    ids: Container[str],
    parent_id: str | None,
    now: float,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    entry = _base("custom", ids=ids, parent_id=parent_id, now=now)
    entry["customType"] = TURN_END
    data: dict[str, Any] = {"turnId": turn_id, "status": status, "reason": reason}
    if idempotency_key is not None:
        data["idempotencyKey"] = idempotency_key
    entry["data"] = data
    entry["turnId"] = turn_id
    return entry


def header(session_id: str, *, cwd: str, now: float) -> dict[str, Any]:
    return {
        "type": "session",
        "version": 3,
        "id": session_id,
        "timestamp": iso_timestamp(now),
        "cwd": cwd,
    }


def assistant_text(entry: dict[str, Any]) -> str:
    """The text blocks of an assistant message entry, joined."""
    content = entry.get("message", {}).get("content", [])
    return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")


def is_turn_end(entry: dict[str, Any]) -> bool:
    return entry.get("type") == "custom" and entry.get("customType") == TURN_END
