"""Configuration records: the runtime's (passed to every actor) and the daemon's whole file.

``DaemonConfig`` is the daemon's TOML file as one record: ``[runtime]`` (``RuntimeConfig``,
with ``[runtime.recovery]`` and ``[runtime.queue]``), ``[provider]`` (``ProviderSpec``),
``[[agents]]`` (``sessionward.lanes.config.AgentConfig``) and ``[cluster]``
(``ClusterConfig``). ``sessionward.config_file`` reads files into these records through the
one converter; every key is described in docs/operating.md. Times are float seconds here;
in a file they take the one duration syntax (``sessionward.durations``).
"""

from __future__ import annotations

import enum
import os
from typing import Any

import attrs

from sessionward.actors.placement import Strategy
from sessionward.lanes.config import AgentConfig, config_warnings, unique_agent_ids
from sessionward.lanes.queue_policy import QueuePolicy
from sessionward.providers.base import ProviderSpec
from sessionward.recovery.lease import check_timeouts
from sessionward.storage.transcript import Durability


class ReplayPolicy(enum.StrEnum):
    """What an owner does, after a crash, with an acknowledged turn that never finished."""

    REQUEUE = "requeue"
    """Run it once more (a turn's provider runs at most twice in all)."""
    FAIL = "fail"
    """End it ``failed`` with reason ``owner_lost``."""


class StreamIn(enum.StrEnum):
    """Where a turn's provider stream runs (``actors/stream_pump.py``)."""

    WORKER = "worker"
    """A ``TurnWorker`` child process of the owner. A provider that hangs, or must be
    stopped, ends with that process; each turn costs two messages more (``RunTurn`` and
    ``StreamBatch``) and a running session two processes."""
    OWNER = "owner"
    """A thread of the owner's process. A turn costs two messages and one process fewer
    (measured in docs/performance.md); a provider that ignores cancellation and hangs is
    abandoned (its daemon thread runs on, its events are dropped), not ended, and a
    provider that crashes its process takes the owner with it (the owner is then replaced
    and its turn replayed). For providers you trust to honour cancellation and timeouts."""


def _enum(cls: type[enum.StrEnum], name: str) -> Any:
    # A converter, so a plain string from Python code still works (StrEnum members equal their
    # values, so code comparing with "hash" or "requeue" reads the same), with the old message.
    def convert(value: Any) -> Any:
        try:
            return cls(value)
        except ValueError:
            choices = " or ".join(repr(member.value) for member in cls)
            raise ValueError(f"{name} must be {choices}") from None

    return convert


@attrs.frozen
class RecoveryConfig:
    """Recovery thresholds (seconds). See ``sessionward.recovery.stall``."""

    recovery_tick: float = 30.0
    """How often recovery asks every owner for its state."""
    stall_after: float = 120.0
    """No stream progress for this long: the turn is stalled (the owner is nudged)."""
    abort_after: float | None = None
    """Stalled this long: the turn is aborted. Default ``max(300, 3 * stall_after)``."""
    status_timeout: float = 5.0
    """An owner that does not answer a status query within this is counted as a miss."""
    enabled: bool = True
    wedged_after: float | None = None
    """A live owner silent this long (wall time, process alive) is wedged and replaced.
    Default ``max(60, 5 * recovery_tick, abort_after + recovery_tick)``."""
    replace_backoff: float = 1.0
    """Delay before a file's second owner replacement in ``park_window``; doubles after."""
    park_after: int = 3
    """Owner replacements of one file in ``park_window`` after which it is parked."""
    park_window: float = 600.0
    """How far back replacements count (seconds)."""

    def __attrs_post_init__(self) -> None:
        # Validated together, in one line, at construction (and on every attrs.evolve):
        # a runtime never starts with thresholds that would make recovery churn.
        self.thresholds()
        self.replacement_policy()

    def thresholds(self):
        """These timings as the pure rules' ``Thresholds`` (raises ``BadInputError`` if invalid)."""
        from sessionward.recovery.stall import Thresholds

        return Thresholds(recovery_tick=self.recovery_tick, stall_after=self.stall_after,
                          abort_after=self.abort_after, wedged_after=self.wedged_after)

    def replacement_policy(self):
        """The backoff and parking rules as ``ReplacementPolicy``."""
        from sessionward.recovery.liveness import ReplacementPolicy

        return ReplacementPolicy(backoff=self.replace_backoff, park_after=self.park_after,
                                 park_window=self.park_window)


@attrs.frozen
class ClusterConfig:
    """This system's place in a Thespian convention (several actor systems, one Directory)."""

    member: str = "local"
    """This member's name, advertised as the ``sessionward.member`` capability."""
    join: str | None = None
    """``HOST:PORT`` of the convention leader; None on the leader (it holds the Directory)."""
    placement: Strategy = attrs.field(default=Strategy.HASH, converter=_enum(Strategy, "placement"))
    """Where the Directory places new owners: ``hash`` (rendezvous) or ``least_loaded``."""
    pins: tuple[tuple[str, str], ...] = ()
    """``(session key pattern, member)`` pairs: a matching session goes to that member
    (TOML: a table ``pins = {"agent:ops:*" = "m2"}``)."""
    heartbeat_every: float = 1.0
    """Seconds between the leader's heartbeats to each member (and the members' lease checks)."""
    member_timeout: float = 30.0
    """A member that answers no heartbeat for this long (seconds) is declared gone and its
    sessions re-homed. Bounds detection of a *silent* member (a partition, a vanished host);
    a refused connection is acted on sooner. See ``sessionward.recovery.lease``."""
    lease_timeout: float = 20.0
    """A member that hears no heartbeat from the leader for this long (seconds) ends its
    owners' running turns (``lease_lost``) and releases their files. Shorter than
    ``member_timeout`` by at least two heartbeats, so a cut-off member has stopped writing
    before the leader gives its sessions to another."""

    def __attrs_post_init__(self) -> None:
        check_timeouts(self.heartbeat_every, self.lease_timeout, self.member_timeout)


@attrs.frozen
class RuntimeConfig:
    """How a runtime's owners behave. Every field has a default fit for production."""

    durability: Durability = Durability.TURN
    """When transcript appends are fsynced (``entry``, ``turn``, ``never``)."""
    max_message_bytes: int = 1 << 20
    """Largest accepted turn text, in UTF-8 bytes."""
    idle_timeout: float = 300.0
    """An owner with no turn for this long is passivated (its process ends)."""
    worker_idle_timeout: float = 30.0
    """An owner with no turn for this long ends its worker process, and starts a new one
    when a turn comes. Well below ``idle_timeout``: an idle live session then costs one
    process, not two, and a turn after a pause pays one worker start (tens of ms)."""
    merge_idle_pages: bool = True
    """An owner idle for ``worker_idle_timeout`` offers its memory to the kernel's same-page
    merging (KSM, Linux 6.4 or later), which maps the pages it shares byte for byte with
    the factory's once again: about 8 MiB of private memory per idle owner down to about 2
    (``hosting/page_merging.py``). Inert unless the host runs ``ksmd``
    (``/sys/kernel/mm/ksm/run``: ``docs/operating.md``)."""
    immortal_factory_heap: bool = True
    """The ``OwnerFactory`` makes the objects it holds before its first fork immortal, so
    that the owners forked from it share those pages instead of copying them by reference
    counting: about 3 MiB less private memory per live owner. CPython 3.12 and 3.13 only
    (PEP 683's immortal objects); elsewhere it does nothing (``hosting/immortal_heap.py``).
    The factory never frees those objects, which it keeps for its life anyway."""
    spare_owners: int = 2
    """Owner processes the Directory keeps started on its own member, so a session's
    activation is a message, not a process start; refilled after use. 0: none."""
    queue: QueuePolicy = QueuePolicy()
    stream_in: StreamIn = attrs.field(default=StreamIn.WORKER, converter=_enum(StreamIn, "stream_in"))
    """Where provider streams run: ``worker`` (a child process per owner) or ``owner`` (a
    thread of the owner): see ``StreamIn``."""
    shared_fsync_window: float = 0.1
    """With ``durability = "turn"``: how long (seconds) a quick turn that ended as the next
    one started waits to share that turn's fsync before it takes its own; its outcome is
    sent once its entries are on disk either way. A turn that itself took longer than this
    takes its own fsync at once: the next one would not end in time (``owner_state.
    shares_sync``). A burst of quick queued turns then pays one fsync for several, at up to
    this much more latency for a turn that had another behind it. 0: every turn fsyncs
    alone. Measured (issue 17, 100 sessions saturated, 3.11): 20 ms for every turn, 1,028-
    1,063 turns/s; only for quick turns, 1,134 at 20 ms and 1,410-1,452 at 100 ms, with
    overhead one at a time unchanged (2.2-2.4 ms p50): ``docs/performance.md``."""
    stream_batch_window: float = 0.02
    """Stream events are forwarded at most this often (seconds) ..."""
    stream_batch_max: int = 256
    """... or when this many events are waiting."""
    replay_policy: ReplayPolicy = attrs.field(default=ReplayPolicy.REQUEUE,
                                              converter=_enum(ReplayPolicy, "replay_policy"))
    """After an owner crash, an acknowledged unfinished turn is re-queued once
    (``requeue``) or failed with ``owner_lost`` (``fail``)."""
    recovery: RecoveryConfig = RecoveryConfig()
    cwd: str = attrs.field(factory=os.getcwd)
    """The ``cwd`` written in new transcript headers."""
    index_flush_after: float = 0.2
    """How long the Directory batches ``sessions.json`` writes (seconds). Entries are written
    sooner when a turn needs them: before any message reaches an owner."""
    create_missing_transcripts: bool = False
    """Start a new, empty transcript when the one the index names is missing. Off by default:
    a missing transcript (moved, archived by another tool, deleted) fails its turns with
    ``transcript_missing`` rather than silently losing the session's history."""

    def __attrs_post_init__(self) -> None:
        if self.max_message_bytes <= 0 or self.idle_timeout <= 0 or self.worker_idle_timeout <= 0:
            raise ValueError("max_message_bytes, idle_timeout and worker_idle_timeout must be positive")
        if self.spare_owners < 0:
            raise ValueError("spare_owners must be 0 or more")
        if not 0 <= self.shared_fsync_window < float("inf"):
            raise ValueError("shared_fsync_window must be 0 or more seconds")


@attrs.frozen(kw_only=True)
class DaemonConfig:
    """The daemon's TOML file (``sessionward start --config FILE``); every part has a default."""

    runtime: RuntimeConfig = RuntimeConfig()
    """``[runtime]``: how owners behave."""
    provider: ProviderSpec | None = None
    """``[provider]``: ``factory = "module:callable"`` and its ``kwargs``; None: the CLI's default."""
    agents: tuple[AgentConfig, ...] = attrs.field(default=(), validator=unique_agent_ids)
    """``[[agents]]``: the agents whose heartbeat and cron lanes the daemon starts."""
    cluster: ClusterConfig | None = None
    """``[cluster]``: this daemon's place in a convention; None: a lone daemon."""

    @property
    def warnings(self) -> tuple[str, ...]:
        """Warnings about valid but risky agent settings (``config_warnings``)."""
        return tuple(w for agent in self.agents for w in config_warnings(agent))
