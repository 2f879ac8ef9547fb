"""What the transcripts on disk say: parse errors, interleaved turns, replies, lost turns.

Checks read pi-style JSONL (one JSON object a line). Entries that belong to a turn carry a
``turnId`` field; lines without one (the session header) are ignored by the turn checks.
A reply is an entry ``{"type": "message", "message": {"role": "assistant", ...}}`` whose
``message.stopReason`` is not ``aborted``, ``error`` or ``toolUse``: pi persists an aborted
stream's partial message and a failed one, which are not replies the user got, and a
``toolUse`` message is a step inside a turn, not its answer (counting it would make every
turn with a tool call look answered twice).

Every check takes paths and returns plain values; none needs the system that wrote the files.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs

NOT_A_REPLY = frozenset({"aborted", "error", "toolUse"})
"""``message.stopReason`` values of assistant entries that do not count as a reply."""


def parse_ok(path: Path) -> bool:
    """True when every line of the file is a JSON object and the file ends with a newline.

    An empty file is fine. A torn last line (no newline, or half a JSON object) is not.
    """
    data = Path(path).read_bytes()
    if not data:
        return True
    if not data.endswith(b"\n"):
        return False
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            return False
        if not isinstance(value, dict):
            return False
    return True


def iter_entries(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the file's JSON objects in order, skipping blank and unparseable lines."""
    with Path(path).open("rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value


def turn_sequence(path: Path) -> list[str]:
    """The ``turnId`` of each turn entry, in file order (entries without one are skipped)."""
    return [e["turnId"] for e in iter_entries(path) if isinstance(e.get("turnId"), str)]


def interleaved_turns(path: Path) -> int:
    """Count the turns whose entries are not contiguous.

    A turn is interleaved when an entry of another turn appears between its first and its
    last entry. Entries without a ``turnId`` do not count either way.
    """
    sequence = turn_sequence(path)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for index, turn_id in enumerate(sequence):
        first.setdefault(turn_id, index)
        last[turn_id] = index
    own = Counter(sequence)
    return sum(1 for t in own if last[t] - first[t] + 1 != own[t])


def is_reply(entry: dict[str, Any]) -> bool:
    """True for an assistant message entry that is a reply (not aborted, failed or a tool step)."""
    message = entry.get("message")
    return (
        entry.get("type") == "message"
        and isinstance(message, dict)
        and message.get("role") == "assistant"
        and message.get("stopReason") not in NOT_A_REPLY
    )


def replies_per_turn(path: Path) -> dict[str, int]:
    """Turn id -> how many replies (assistant message entries) the file holds for it.

    Every turn with any entry in the file is a key, so a turn whose user entry was written
    but whose reply was not maps to 0.
    """
    counts: dict[str, int] = {}
    for entry in iter_entries(path):
        turn_id = entry.get("turnId")
        if not isinstance(turn_id, str):
            continue
        counts[turn_id] = counts.get(turn_id, 0) + (1 if is_reply(entry) else 0)
    return counts


@attrs.frozen
class LossReport:
    """Which submitted turns ended with no reply anywhere."""

    submitted: int
    """How many turns were submitted."""
    delivered: int
    """Submitted turns whose submitter got a reply."""
    persisted: int
    """Submitted turns with at least one reply in a transcript."""
    lost: frozenset[str]
    """Submitted turns with no reply persisted and no reply delivered."""
    duplicated: frozenset[str]
    """Turns with more than one reply persisted (a second run answered again)."""

    @property
    def loss_pct(self) -> float:
        """Lost turns as a percentage of submitted ones (0 when nothing was submitted)."""
        return 100.0 * len(self.lost) / self.submitted if self.submitted else 0.0


def account_losses(
    submitted: Iterable[str],
    transcripts: Iterable[Path],
    delivered: Iterable[str],
) -> LossReport:
    """Account for every submitted turn from the transcripts and the delivered replies.

    Args:
        submitted: Ids of every submitted turn.
        transcripts: Every transcript file the system could have written.
        delivered: Ids of the turns whose submitter received a reply.
    """
    submitted_ids = set(submitted)
    replies: Counter[str] = Counter()
    for path in transcripts:
        replies.update(replies_per_turn(path))
    persisted = {t for t, n in replies.items() if n > 0} & submitted_ids
    delivered_ids = set(delivered) & submitted_ids
    return LossReport(
        submitted=len(submitted_ids),
        delivered=len(delivered_ids),
        persisted=len(persisted),
        lost=frozenset(submitted_ids - persisted - delivered_ids),
        duplicated=frozenset(t for t, n in replies.items() if n > 1),
    )
