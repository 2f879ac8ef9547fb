"""The model context of a transcript (pure): pi's ``buildSessionContext``, entry by entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessionward.storage.transcript_format.format import epoch_ms
from sessionward.storage.transcript_format.records import MISSING

# --------------------------------------------------------------------------- model context


def _js_truthy(value: Any) -> bool:
    if value is MISSING or value is None or value is False or value == "":
        return False
    return not (isinstance(value, int | float) and value == 0)


def _same_id(a: Any, b: Any) -> bool:
    # JavaScript ``===`` on ids: equal strings, or both undefined, or both null.
    return a is b or (isinstance(a, str) and isinstance(b, str) and a == b)


def _defined(**fields: Any) -> dict[str, Any]:
    # An object literal whose undefined fields JSON.stringify would leave out.
    return {key: value for key, value in fields.items() if value is not MISSING}


def _as_message(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The message an entry puts into the context, if any (``appendMessage`` in pi's
    ``buildSessionContext``, with ``createCustomMessage`` and ``createBranchSummaryMessage``).
    """
    kind = entry.get("type")
    if kind == "message":
        message = entry.get("message")
        # pi pushes whatever is there; a message entry with no object would crash pi.
        return message if isinstance(message, dict) else None
    if kind == "custom_message":
        return _defined(
            role="custom",
            customType=entry.get("customType", MISSING),
            content=entry.get("content", MISSING),
            display=entry.get("display", MISSING),
            details=entry.get("details", MISSING),
            timestamp=epoch_ms(entry.get("timestamp")),
        )
    if kind == "branch_summary" and _js_truthy(entry.get("summary", MISSING)):
        return _defined(
            role="branchSummary",
            summary=entry["summary"],
            fromId=entry.get("fromId", MISSING),
            timestamp=epoch_ms(entry.get("timestamp")),
        )
    return None


def _path_to_leaf(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Root-first path from the last entry up its ``parentId`` links (pi's tree walk).

    The leaf is the last entry in file order, as pi's ``_buildIndex`` leaves it. Ids map to
    the last entry holding them, as pi's ``byId`` map does. Unlike pi, which loops forever
    on a parent cycle, the walk stops at an entry it has already visited.
    """
    body = [entry for entry in entries if entry.get("type") != "session"]  # pi's getEntries
    if not body:
        return []
    by_id = {entry["id"]: entry for entry in body if isinstance(entry.get("id"), str)}
    path: list[dict[str, Any]] = []
    visited: set[int] = set()
    current: dict[str, Any] | None = body[-1]
    while current is not None and id(current) not in visited:
        visited.add(id(current))
        path.append(current)
        parent_id = current.get("parentId")
        current = by_id.get(parent_id) if isinstance(parent_id, str) and parent_id else None
    path.reverse()
    return path


def build_context(entries: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
    """The messages a model sees, built as pi's ``buildSessionContext`` builds them.

    Walk from the leaf (the last entry) to the root. If a compaction lies on that path,
    only the last one counts: its summary comes first, as a ``compactionSummary`` message
    (``createCompactionSummaryMessage``); then the entries before it from the one whose id
    is ``firstKeptEntryId`` on; then every entry after it. Without a compaction, every
    entry on the path. Entries that become messages: ``message`` (its ``message`` as is),
    ``custom_message`` (role ``custom``) and ``branch_summary`` with a non-empty summary
    (role ``branchSummary``). Timestamps of built messages are epoch milliseconds.

    ``entries`` are format-3 entries in file order (a header among them is ignored).
    Returned ``message`` dicts are the entries' own objects: do not mutate them.
    """
    path = _path_to_leaf(entries)
    compaction = None
    for entry in path:
        if entry.get("type") == "compaction":
            compaction = entry
    if compaction is None:
        return tuple(m for m in map(_as_message, path) if m is not None)
    messages = [
        _defined(
            role="compactionSummary",
            summary=compaction.get("summary", MISSING),
            tokensBefore=compaction.get("tokensBefore", MISSING),
            timestamp=epoch_ms(compaction.get("timestamp")),
        )
    ]
    compaction_id = compaction.get("id", MISSING)
    compaction_idx = next(
        i
        for i, e in enumerate(path)
        if e.get("type") == "compaction" and _same_id(e.get("id", MISSING), compaction_id)
    )
    first_kept = compaction.get("firstKeptEntryId", MISSING)
    kept = False
    for entry in path[:compaction_idx]:
        kept = kept or _same_id(entry.get("id", MISSING), first_kept)
        if kept and (message := _as_message(entry)) is not None:
            messages.append(message)
    messages.extend(m for m in map(_as_message, path[compaction_idx + 1 :]) if m is not None)
    return tuple(messages)
