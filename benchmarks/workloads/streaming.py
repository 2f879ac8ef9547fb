"""Streaming: fast token streams, persisted. Tokens per second per session and in aggregate.

``TokenProvider`` yields ``tokens_per_turn`` four-character tokens with no delay, so the
provider is never the limit: the runtime's worker batches the events, the owner folds them
into the assistant message and appends it when the message ends.

- **one session**: turns one after another on one session; per turn, tokens / (turn
  finished - turn started) as the owner stamps them.
- **N sessions at once**: ``sessions`` sessions each run ``turns_per_session`` turns, all
  submitted at once; per session as above, aggregate = every token persisted / (first
  submit to last outcome).

"Persisted" is checked, not assumed: after the run every transcript is read back and its
completed replies' tokens are counted (they must equal what was streamed).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import attrs

from benchmarks import check, stats
from benchmarks.workloads.measure import wait_all
from benchmarks.workloads.provider import TokenProvider
from benchmarks.workloads.report import Figure, Target, WorkloadResult
from sessionward import Runtime, TurnStatus

TOKEN = "tok "


@attrs.frozen
class Params:
    tokens_per_turn: int = 20_000
    single_turns: int = 5
    sessions: int = 8
    turns_per_session: int = 2
    base: str = "tcp"
    timeout: float = 300.0


QUICK = Params(tokens_per_turn=5_000, single_turns=2, sessions=4, turns_per_session=1)

COLUMNS = ("phase", "turns", "completed", "tokens/turn", "tokens/s per session p50",
           "tokens/s per session min", "aggregate tokens/s", "persisted = streamed", "wall s")


def _persisted_tokens(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        for entry in check.iter_entries(path):
            if check.is_reply(entry):
                text = "".join(b.get("text", "") for b in entry["message"].get("content", [])
                               if isinstance(b, dict) and b.get("type") == "text")
                total += len(text) // len(TOKEN)
    return total


def _rates(pairs, tokens: int) -> list[float]:
    return [tokens / (o.finished_time - o.started_time) for _, o in pairs
            if o.finished_time and o.started_time and o.finished_time > o.started_time]


def run(params: Params, workdir: Path) -> WorkloadResult:
    """Run both phases; return the table and the targets."""
    started = time.monotonic()
    store = Path(tempfile.mkdtemp(prefix="streaming-", dir=workdir))
    tokens = params.tokens_per_turn
    rows = []
    with Runtime(store, provider=TokenProvider(tokens, TOKEN), base=params.base,
                 recovery=False) as rt:
        single = "agent:bench:stream-one"
        keys = [f"agent:bench:stream-{i:02d}" for i in range(params.sessions)]
        # Warm-up: every owner and worker is live before anything is timed.
        wait_all([rt.submit(k, "warm-up") for k in [single, *keys]], params.timeout)
        files = {k: Path(rt.session(k).file) for k in [single, *keys]}
        before = {k: _persisted_tokens([p]) for k, p in files.items()}

        pairs = []
        began = time.monotonic()
        for _ in range(params.single_turns):
            handle = rt.submit(single, "stream")
            pairs.append((handle, handle.result(timeout=params.timeout)))
        wall = time.monotonic() - began
        done = [(h, o) for h, o in pairs if o.status is TurnStatus.COMPLETED]
        persisted = _persisted_tokens([files[single]]) - before[single]
        rates = _rates(done, tokens)
        rows.append({
            "phase": "one session", "turns": len(pairs), "completed": len(done),
            "tokens/turn": tokens, "tokens/s per session p50": stats.p50(rates),
            "tokens/s per session min": min(rates, default=float("nan")),
            "aggregate tokens/s": persisted / wall if wall > 0 else float("nan"),
            "persisted = streamed": persisted == tokens * len(done) and len(done) == len(pairs),
            "wall s": wall,
        })

        handles = []
        began = time.monotonic()
        for _ in range(params.turns_per_session):
            for key in keys:
                handles.append(rt.submit(key, "stream"))
        outcomes = wait_all(handles, params.timeout)
        wall = time.monotonic() - began
        done = [(h, o) for h, o in zip(handles, outcomes, strict=True)
                if o is not None and o.status is TurnStatus.COMPLETED]
        persisted = sum(_persisted_tokens([files[k]]) - before[k] for k in keys)
        rates = _rates(done, tokens)
        rows.append({
            "phase": f"{params.sessions} sessions at once", "turns": len(handles),
            "completed": len(done), "tokens/turn": tokens,
            "tokens/s per session p50": stats.p50(rates),
            "tokens/s per session min": min(rates, default=float("nan")),
            "aggregate tokens/s": persisted / wall if wall > 0 else float("nan"),
            "persisted = streamed": persisted == tokens * len(done) and len(done) == len(handles),
            "wall s": wall,
        })
    one, many = rows
    figures = (
        Figure("tokens/s per session (one session, p50)", one["tokens/s per session p50"],
               "tokens/s", Target(">=", 5000)),
        Figure(f"tokens/s per session ({params.sessions} at once, p50)",
               many["tokens/s per session p50"], "tokens/s", Target(">=", 5000)),
        Figure(f"aggregate tokens/s ({params.sessions} sessions)", many["aggregate tokens/s"],
               "tokens/s", Target(">=", 20000)),
    )
    notes = (
        f"TokenProvider: {tokens:,} tokens of {len(TOKEN)} characters per turn, no delay "
        "(the provider is not the limit).",
        "per session = tokens / (finished_time - started_time) of each turn, as the owner "
        "stamps them; aggregate = tokens read back from the transcripts / wall time.",
    )
    return WorkloadResult(
        name="streaming",
        title=f"streaming ({tokens:,} tokens per turn)",
        columns=COLUMNS,
        rows=tuple(rows),
        figures=figures,
        notes=notes,
        params=attrs.asdict(params),
        wall_seconds=time.monotonic() - started,
    )
