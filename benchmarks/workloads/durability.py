"""Durability: transcript appends fsynced per entry, against the disk's raw fsync rate.

``Durability.ENTRY`` fsyncs the transcript after every append, so an entry is on disk when
its append returns. A turn of the instant provider writes three entries in two appends
(the user entry when it starts; its reply and its ``turn_end`` together when it ends) and
fsyncs the inbox once when it is accepted: three fsyncs for three entries.

- **raw**: a loop of ``write`` + ``fsync`` of one line of the transcripts' mean line size, on
  a file in the same directory as the transcripts (``measure.raw_fsync_rate``).
- **sessionward, ENTRY**: ``turns_per_session`` turns queued on each of ``sessions``
  sessions at once (and on one session alone); appends/s = transcript entries written /
  (first submit to last outcome), counted from the files.
- **sessionward, NEVER**: the same turns with no fsync at all: the runtime's own ceiling,
  which says how much of the gap to the raw rate the fsyncs explain.

The ratio compared with the target is ENTRY appends/s over raw fsyncs/s.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import attrs

from benchmarks.workloads.measure import raw_fsync_rate, wait_all
from benchmarks.workloads.report import Figure, Target, WorkloadResult
from sessionward import Durability, Runtime, RuntimeConfig, ScriptedProvider, TurnStatus


@attrs.frozen
class Params:
    sessions: int = 4
    turns_per_session: int = 100
    """Queued at once on each session: at most the queue's ``max_queued`` (100)."""
    raw_seconds: float = 3.0
    base: str = "tcp"
    timeout: float = 300.0


QUICK = Params(turns_per_session=40, raw_seconds=1.0)

COLUMNS = ("writer", "sessions", "turns", "completed", "entries", "appends/s", "fsyncs/s",
           "ratio to raw fsync/s", "wall s")

TARGET_RATIO = Target(">=", 0.8)


def _lines(paths: list[Path]) -> tuple[int, int]:
    """(lines, bytes) of the files together."""
    lines = size = 0
    for path in paths:
        data = path.read_bytes()
        lines += data.count(b"\n")
        size += len(data)
    return lines, size


def _run(params: Params, store: Path, durability: Durability, sessions: int) -> dict:
    keys = [f"agent:bench:dur{i:02d}" for i in range(sessions)]
    with Runtime(store, provider=ScriptedProvider(reply="ok"), base=params.base,
                 config=RuntimeConfig(durability=durability), recovery=False) as rt:
        wait_all([rt.submit(k, "warm-up") for k in keys], params.timeout)
        paths = [Path(rt.session(k).file) for k in keys]
        before, _ = _lines(paths)
        began = time.monotonic()
        handles = [rt.submit(k, "append") for _ in range(params.turns_per_session) for k in keys]
        outcomes = wait_all(handles, params.timeout)
        wall = time.monotonic() - began
    after, size = _lines(paths)
    entries = after - before
    completed = sum(1 for o in outcomes if o is not None and o.status is TurnStatus.COMPLETED)
    fsyncs = 3 * completed if durability is Durability.ENTRY else 0
    return {
        "writer": f"sessionward, {durability.value}", "sessions": sessions,
        "turns": len(handles), "completed": completed, "entries": entries,
        "appends/s": entries / wall if wall > 0 else float("nan"),
        "fsyncs/s": fsyncs / wall if wall > 0 else float("nan"),
        "wall s": wall, "_line_bytes": size / after if after else 0,
    }


def run(params: Params, workdir: Path) -> WorkloadResult:
    """Run the three writers; return the table and the target."""
    started = time.monotonic()
    rows = [
        _run(params, Path(tempfile.mkdtemp(prefix="dur-", dir=workdir)), Durability.ENTRY, 1),
        _run(params, Path(tempfile.mkdtemp(prefix="dur-", dir=workdir)), Durability.ENTRY,
             params.sessions),
        _run(params, Path(tempfile.mkdtemp(prefix="dur-", dir=workdir)), Durability.NEVER,
             params.sessions),
    ]
    line_bytes = round(rows[1]["_line_bytes"])
    directory = Path(tempfile.mkdtemp(prefix="dur-raw-", dir=workdir))
    raw, count = raw_fsync_rate(directory, line_bytes, params.raw_seconds)
    rows.insert(0, {"writer": f"raw write+fsync ({line_bytes} B lines)", "sessions": 1,
                    "turns": None, "entries": count, "appends/s": raw, "fsyncs/s": raw,
                    "wall s": params.raw_seconds})
    for row in rows:
        row.pop("_line_bytes", None)
        row["ratio to raw fsync/s"] = row["appends/s"] / raw if raw else float("nan")
    one, many, never = rows[1], rows[2], rows[3]
    figures = (
        Figure(f"ENTRY appends/s over raw fsync/s ({params.sessions} sessions)",
               many["ratio to raw fsync/s"], "", TARGET_RATIO),
        Figure("ENTRY appends/s over raw fsync/s (1 session)", one["ratio to raw fsync/s"], "",
               TARGET_RATIO),
        Figure("NEVER appends/s over raw fsync/s (no fsync: the runtime's ceiling)",
               never["ratio to raw fsync/s"], ""),
    )
    notes = (
        "a turn = 3 transcript entries in 2 appends, plus the inbox record fsynced at "
        "acceptance: 3 fsyncs per turn with ENTRY (fsyncs/s is 3 x completed turns / wall).",
        "transcripts and the raw file are on the same file system (the benchmark's "
        "temporary directory).",
    )
    return WorkloadResult(
        name="durability",
        title="durability (fsync per entry vs the disk's raw fsync rate)",
        columns=COLUMNS,
        rows=tuple(rows),
        figures=figures,
        notes=notes,
        params=attrs.asdict(params),
        wall_seconds=time.monotonic() - started,
    )
