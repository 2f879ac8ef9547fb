"""The reported incident's lane mix as a pure, seeded generator of submitted turns.

The incident (DESIGN.md): 122 takeovers over 3 days; the lanes involved were a mirrored
"main" lane 60, the heartbeat 36, a channel lane 20, direct 3, cron 1, and two others
(another agent's channel 1, nested cron 1). Each generated turn draws its lane with those
weights, so the mix of lanes matches the incident's histogram.

Routing follows the deployment's shape: a few shared session files, not one per key.

- ``main.jsonl``: the mirrored main lane, the heartbeat (it shares the main session), the
  direct messages (DMs collapse into the main session) and cron (it targets main).
- ``channel-general.jsonl``: one of the two channels, and the other agent's channel lane,
  which is routed to the same file.
- ``channel-ops.jsonl``: the other channel.

Time is scaled down from minutes to fractions of a second. At ``time_scale=1`` a stream
lasts a lognormal time (median 50 ms, sigma 1.0, clipped to [5 ms, 1 s]); a few non-heartbeat
turns are "long runs" of 1.5 to 3 s, past ``RECOVERY_THRESHOLD_SECONDS`` (1.2 s), standing
for the incident's runs of up to 22 minutes. Submissions arrive as a Poisson process with a
mean gap of 0.2 s, which puts the main file at roughly 60% busy. ``time_scale`` multiplies
every duration (streams, gaps and the threshold), so the contention pattern does not change
with it; the chunk count of a stream does not change either.

Nothing here reads a clock or touches a file: the same ``(n_turns, seed)`` always gives the
same turns.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import attrs

LANE_WEIGHTS: dict[str, int] = {
    "main": 60,
    "heartbeat": 36,
    "channel": 20,
    "direct": 3,
    "cron": 1,
    "other": 2,
}
"""Lane -> takeovers it was involved in during the incident (``other`` = another agent's
channel 1 + nested cron 1)."""

RECOVERY_THRESHOLD_SECONDS = 1.2
"""Age at which stuck-session recovery gives up on a run, at ``time_scale=1``.

Every system in the benchmark uses this threshold, multiplied by the same time scale."""

MAIN_KEY = "agent:main:main"

SESSION_FILES: dict[str, str] = {
    MAIN_KEY: "main.jsonl",
    "agent:main:direct:u1": "main.jsonl",
    "agent:main:direct:u2": "main.jsonl",
    "agent:main:direct:u3": "main.jsonl",
    "agent:main:cron:nightly": "main.jsonl",
    "agent:main:channel:general": "channel-general.jsonl",
    "agent:main:channel:ops": "channel-ops.jsonl",
    "agent:ops:channel:general": "channel-general.jsonl",
}
"""Session key -> transcript file name. Several keys resolve to one file."""

_LANE_KEYS: dict[str, tuple[str, ...]] = {
    "main": (MAIN_KEY,),
    "heartbeat": (MAIN_KEY,),
    "channel": ("agent:main:channel:general", "agent:main:channel:ops"),
    "direct": ("agent:main:direct:u1", "agent:main:direct:u2", "agent:main:direct:u3"),
    "cron": ("agent:main:cron:nightly",),
    "other": ("agent:ops:channel:general",),
}


@attrs.frozen
class SubmittedTurn:
    """One turn a lane submits. Times are seconds, already multiplied by the time scale."""

    turn_id: str
    """Unique within a workload: ``t<seed>-<index>``; written as ``turnId`` on entries."""
    lane: str
    """One of ``LANE_WEIGHTS``."""
    session_key: str
    """The key the lane submits to; ``session_file`` resolves it to a file."""
    text: str
    """The user text."""
    stream_seconds: float
    """How long the provider streams the reply, in seconds."""
    chunks: int
    """How many pieces the reply streams in (at least 2)."""
    submit_at: float
    """Seconds after the workload starts at which the turn is submitted."""


@attrs.frozen
class MixConfig:
    """The shape of the mix at ``time_scale=1``. Durations are seconds."""

    mean_gap: float = 0.2
    """Mean of the exponential gap between two submissions."""
    stream_median: float = 0.05
    """Median of an ordinary stream (lognormal)."""
    stream_sigma: float = 1.0
    """Sigma of the lognormal: p99 is about 10x the median before clipping."""
    stream_min: float = 0.005
    stream_max: float = 1.0
    """Ordinary streams are clipped to [stream_min, stream_max]; the max is below the
    recovery threshold, so only long runs trip it on their own."""
    long_run_share: float = 0.03
    """Share of non-heartbeat turns that are long runs (about 2% of all turns)."""
    long_run_seconds: tuple[float, float] = (1.5, 3.0)
    """A long run's duration is uniform in this range."""
    chunk_seconds: float = 0.025
    """Target time between two chunks; the chunk count is clamped to [2, 40]."""


def session_file(session_key: str) -> str:
    """Return the transcript file name a session key resolves to.

    Raises:
        KeyError: The key is not one the workload generates.
    """
    return SESSION_FILES[session_key]


def incident_mix(
    n_turns: int,
    seed: int,
    *,
    time_scale: float = 1.0,
    config: MixConfig = MixConfig(),
) -> Iterator[SubmittedTurn]:
    """Yield ``n_turns`` turns of the incident's lane mix, in submission order.

    Args:
        n_turns: How many turns to yield.
        seed: Seeds the generator's own ``random.Random``; same seed, same turns.
        time_scale: Multiplies every duration and gap (1.0 = the scale described above).
        config: The mix's shape at scale 1.
    """
    if n_turns < 0:
        raise ValueError("n_turns must be non-negative")
    if time_scale <= 0:
        raise ValueError("time_scale must be positive")
    rng = random.Random(seed)
    lanes = list(LANE_WEIGHTS)
    weights = [LANE_WEIGHTS[lane] for lane in lanes]
    clock = 0.0
    for index in range(n_turns):
        clock += rng.expovariate(1.0 / config.mean_gap)
        lane = rng.choices(lanes, weights)[0]
        session_key = rng.choice(_LANE_KEYS[lane])
        long_run = lane != "heartbeat" and rng.random() < config.long_run_share
        if long_run:
            seconds = rng.uniform(*config.long_run_seconds)
        else:
            seconds = rng.lognormvariate(math.log(config.stream_median), config.stream_sigma)
            seconds = min(max(seconds, config.stream_min), config.stream_max)
        chunks = min(max(round(seconds / config.chunk_seconds), 2), 40)
        yield SubmittedTurn(
            turn_id=f"t{seed}-{index:05d}",
            lane=lane,
            session_key=session_key,
            text=f"[{lane}] message {index}",
            stream_seconds=seconds * time_scale,
            chunks=chunks,
            submit_at=clock * time_scale,
        )
