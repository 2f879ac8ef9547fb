"""One system's figures for one workload run: a row of the results table."""

from __future__ import annotations

import attrs


@attrs.frozen
class Row:
    """What one system did with one workload. Counts are turns unless said otherwise."""

    system: str
    """``lock-release``, ``in-process lock`` or ``sessionward``."""
    submitted: int
    """Turns submitted."""
    completed: int
    """Turns whose submitter got a reply."""
    lost: int
    """Turns with no reply persisted and no reply delivered (``check.account_losses``)."""
    loss_pct: float
    """``lost`` as a percentage of ``submitted``."""
    fence_errors: int
    """Takeover (fence mismatch) errors raised, counted per attempt, not per turn."""
    interleaved: int
    """Turns whose transcript entries are not contiguous (``check.interleaved_turns``)."""
    second_runs: int
    """Runs that stuck-session recovery started for a turn that already had one."""
    overhead_p50_ms: float
    overhead_p99_ms: float
    """Nearest-rank percentiles over completed turns of (reply time - submit time - the
    turn's scripted stream time), in ms: queueing, locking, retries and re-runs."""
    turns_per_s: float
    """Completed turns per second of wall time (first submit to last run finished)."""
    contended: int = 0
    """Turns that hit at least one takeover error (the incident's "contended turns")."""
    contended_lost: int = 0
    """Contended turns that were lost (the incident: about 6% of contended turns)."""
    duplicated: int = 0
    """Turns with more than one reply persisted."""
    wall_seconds: float = 0.0
    """Wall time of the run, in seconds."""
    parse_ok: bool = True
    """Every transcript parses (``check.parse_ok``)."""
    seed: int = 0
    """The workload's seed."""
    time_scale: float = 1.0
    """The workload's time scale."""
