"""The transcript format: pi / openclaw session files, version 3. Pure but ``migrate_file``.

A package of one idea per module: ``records`` (what is read and kept), ``format`` (parsing,
the one JS-compatible encoder, ids and timestamps), ``migration`` (older versions to 3, and
the file's atomic migration) and ``context`` (what the model sees). Import from here.

A transcript is JSON Lines. Line 1 is a header ``{"type":"session","version":3,"id",
"timestamp","cwd","parentSession"?}``. Every later line is one entry with ``type``, ``id``
(8 lowercase hex characters, unique in the file), ``parentId`` (``null`` for a root) and
``timestamp`` (ISO-8601 UTC, milliseconds). Entry types: ``message`` (roles ``user``,
``assistant``, ``toolResult``, ``bashExecution``, ``custom``), ``model_change``,
``thinking_level_change``, ``compaction``, ``branch_summary``, ``custom``,
``custom_message``, ``label`` and ``session_info``. Entries stay plain dicts: a type or a
field this module does not know is kept exactly as it was read, never re-shaped.

The rules mirror pi-mono ``packages/coding-agent/src/core/session-manager.ts`` (read at
commit 0507789f) and ``messages.ts`` (commit 288f0d28); each rule names the pi function it
follows. Where this module differs from pi, the difference is deliberate and is written
next to the rule: pi drops a line it cannot parse, and this module never loses a byte.

Layering: pure functions on bytes, dicts and records; ``migrate_file`` is the one function
that touches the file system. Nothing here reads the clock: a caller that needs a
timestamp passes ``now`` to ``iso_timestamp``.
"""

from sessionward.storage.transcript_format.context import build_context
from sessionward.storage.transcript_format.format import (
    dumps_line,
    dumps_transcript,
    iso_timestamp,
    new_entry_id,
    parse_transcript,
)
from sessionward.storage.transcript_format.migration import migrate_file, migrate_to_v3
from sessionward.storage.transcript_format.records import (
    CURRENT_VERSION,
    BadLine,
    Migration,
    MigrationReport,
    ParsedTranscript,
    SetAside,
)

__all__ = [
    "CURRENT_VERSION", "BadLine", "Migration", "MigrationReport", "ParsedTranscript", "SetAside", "build_context",
    "dumps_line", "dumps_transcript", "iso_timestamp", "migrate_file", "migrate_to_v3", "new_entry_id",
    "parse_transcript",
]
