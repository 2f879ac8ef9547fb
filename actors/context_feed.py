"""What provider context a turn gets, and how little of it the worker must be sent. Pure.

Two costs this keeps flat as a session grows (both measured on a 1,000-turn session):
rebuilding the context from the whole file per turn made its turns 3x slower, and
pickling the whole context into every ``RunTurn`` cost ~15 ms. So the context is built
once per activation and then grown by the messages the owner appends, and the worker,
which keeps the context between turns, is sent only the messages it has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sessionward.providers.base import known_prefix
from sessionward.storage.transcript_format import build_context


class ContextFeed:
    """One owner's running context and what its current worker holds. Mutable."""

    def __init__(self) -> None:
        self._context: list[dict[str, Any]] | None = None
        self._upto = 0
        self._sent = 0
        """How many context messages the current worker holds (0 for a new worker)."""
        self._sent_tail: dict[str, Any] | None = None

    def for_turn(self, entries: Sequence[dict[str, Any]], turn_id: str, replayed: bool
                 ) -> tuple[tuple[dict[str, Any], ...], bool]:
        """``(context, user entry already written)`` for a turn about to start.

        The context is what came before the turn. A replayed turn's user entry may already
        be in the file: it is not written again, and not part of its own context.
        """
        first = None
        if replayed:
            first = next((i for i, e in enumerate(entries) if e.get("turnId") == turn_id), None)
        if first is not None:
            return tuple(build_context(entries[:first])), True
        return self.of_file(entries), False

    def of_file(self, entries: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], ...]:
        """``build_context(entries)``, kept up to date as the owner appends.

        Built once; after that every entry is appended by this owner as the child of the
        previous leaf and is a plain message or a ``turn_end`` (no compaction, no branch),
        so the context only ever grows by the appended messages.
        """
        if self._context is None:
            self._context = list(build_context(entries))
        else:
            for entry in entries[self._upto:]:
                message = entry.get("message") if entry.get("type") == "message" else None
                if isinstance(message, dict):
                    self._context.append(message)
        self._upto = len(entries)
        return tuple(self._context)

    def new_worker(self) -> None:
        """A fresh worker holds no context."""
        self._sent, self._sent_tail = 0, None

    def to_send(self, context: Sequence[dict[str, Any]]) -> tuple[int, tuple[dict[str, Any], ...]]:
        """``(context_from, context_delta)`` for a ``RunTurn`` carrying ``context``; from
        then on the worker is taken to hold all of ``context``.

        A context that is not an extension of what was sent (a replayed turn's) goes whole.
        The check is by identity of the last message sent: contexts share their message
        objects, so the same object at the same place means the same prefix.
        """
        sent = known_prefix(context, self._sent, self._sent_tail)
        self._sent, self._sent_tail = len(context), context[-1] if context else None
        return sent, tuple(context[sent:])
