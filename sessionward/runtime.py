"""Runtime: the embedding API. Starts an actor system, submits turns, answers queries.

Example::

    from sessionward import Runtime, ScriptedProvider

    with Runtime("./state", provider=ScriptedProvider(reply="hi", chunks=5)) as rt:
        handle = rt.submit("agent:main:main", "hello", lane="direct:cli:alice")
        outcome = handle.result(timeout=30)      # .turn_id .status .reply .reason
        rt.session("agent:main:main")            # OwnerState snapshot
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from sessionward.actors.directory import DIRECTORY_NAME, Directory
from sessionward.actors.messages import (
    ConfigureDirectory,
    DirectoryReady,
    ErrorReply,
    QueryOwnerState,
    StopSpares,
)
from sessionward.client import Mailbox, error_from_reply, new_request_id
from sessionward.config import ClusterConfig, RuntimeConfig
from sessionward.errors import CoordinationError, RuntimeClosedError, SessionwardTimeoutError
from sessionward.hosting.claim import claim_store, complete_claim, release_store
from sessionward.hosting.frames import parse_allow_list
from sessionward.hosting.preflight import check_port, check_store_path, parse_host_port
from sessionward.hosting.secret import server_secret
from sessionward.hosting.status import stop_actor
from sessionward.hosting.system import (
    children,
    connect_system,
    descendants,
    free_port,
    kill_all,
    process_group_members,
    reach_host,
    reap,
    start_system,
)
from sessionward.lanes.config import AgentConfig
from sessionward.providers.base import Provider, ProviderSpec
from sessionward.providers.scripted import ScriptedProvider
from sessionward.session_client import SessionCalls, SessionClient
from sessionward.storage.inbox import sessions_with_inboxes
from sessionward.storage.store import SessionStore

log = logging.getLogger("sessionward")

_live_runtimes: weakref.WeakSet[Runtime] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # interpreter exit shuts every runtime down: no process left behind
    for rt in list(_live_runtimes):
        rt.close()


STOP_SPARES_WAIT = 2.0
"""Seconds ``close`` waits for the Directory to say no owner is being forked any more."""


class Runtime(SessionCalls):
    """An actor system that owns the sessions of one store directory.

    Args:
        store: The store directory (created if missing).
        provider: The model provider (a picklable object or a ``ProviderSpec``);
            default: ``ScriptedProvider()``.
        base: ``"tcp"`` (default: multiprocTCPBase, every actor its own process, on a free
            loopback port) or ``"simple"`` (everything in this process; for tests).
        config: Owner behaviour (durability, limits, queue policy, recovery thresholds).
        port: The actor system's admin port (default: a free one).
        bind: The interface actor sockets listen on. Default 127.0.0.1. Every frame is
            authenticated with ``secret``; see docs/several-machines.md before binding wider.
        log_file: Where the actor system logs (default ``<store>/sessionward.log``; for an
            openclaw agent, ``agents/<agent>/sessionward/sessionward.log``).
        recovery: Start the recovery actor (thresholds from ``config.recovery``).
        recovery_tick, stall_after, abort_after: Shortcuts that override
            ``config.recovery`` (seconds).
        cluster: Run as a member of a Thespian convention (``ClusterConfig``): without
            ``join`` this system leads it and holds the Directory, which places owners on
            members; with ``join="HOST:PORT"`` it joins that leader as a member hosting
            owners, and this object's calls go to the leader's Directory.
        accept_timeout: A submit with no acknowledgement within this many seconds fails
            with ``UnavailableError`` (the Directory, or a convention's leader, is gone).
        secret: Authenticates every TCP frame (``sessionward.hosting.secret``). Default: the
            environment's (``SESSIONWARD_SECRET``, ``SESSIONWARD_SECRET_FILE``); else, with
            ``cluster``, the store's ``.sessionward/secret`` (created if missing), shared
            by every member; else a random one that only this system's processes hold.
        allow: Networks (CIDRs) whose peers may connect to this system's sockets at all
            (loopback and this host always may); default: any peer with the secret.
        openclaw_agent: Open ``store`` as an openclaw state directory and serve this
            agent's sessions (``<store>/agents/<agent>/sessions/``, openclaw's index and
            file names; see ``OpenclawSessionStore``). Default: a sessionward store.

    The store belongs to this runtime until ``close``: it records the runtime's host
    process and system id (``sessionward.hosting.claim``). A runtime whose host process died
    (even by SIGKILL) leaves nothing running: its actor processes end within a second
    (``sessionward.hosting.lifetime``), and the next runtime on the store takes it over.

    Raises:
        StoreUnusableError: the store path is a file, its parent is missing, or it cannot
            be read or written.
        InvalidPortError, PortInUseError: ``port`` is out of range, or something holds it.
        StoreInUseError: a live process (``store in use by pid N``) serves the store.
        CoordinationError: the actor system did not start or answer.
        PathEscapesStoreError, CorruptTranscriptError: an openclaw index is unusable
            (checked before anything starts).
    """

    def __init__(
        self,
        store: str | os.PathLike[str],
        provider: Provider | ProviderSpec | None = None,
        *,
        base: str = "tcp",
        config: RuntimeConfig | None = None,
        port: int | None = None,
        bind: str = "127.0.0.1",
        log_file: str | os.PathLike[str] | None = None,
        recovery: bool = True,
        recovery_tick: float | None = None,
        stall_after: float | None = None,
        abort_after: float | None = None,
        start_timeout: float = 30.0,
        openclaw_agent: str | None = None,
        cluster: ClusterConfig | None = None,
        accept_timeout: float | None = 120.0,
        secret: bytes | None = None,
        allow: tuple[str, ...] = (),
    ) -> None:
        store = check_store_path(store)  # one typed line for a bad path, before anything
        if base == "tcp" and port is not None:
            check_port(port, bind)  # where the admin will bind: a wider bind needs the port everywhere
        self.store = (SessionStore(store) if openclaw_agent is None
                      else SessionStore.openclaw(store, agent=openclaw_agent))
        config = config or RuntimeConfig()
        overrides = {k: v for k, v in (("recovery_tick", recovery_tick), ("stall_after", stall_after),
                                       ("abort_after", abort_after)) if v is not None}
        if overrides or not recovery:
            config = attrs.evolve(config, recovery=attrs.evolve(config.recovery, enabled=recovery, **overrides))
        self.config = config
        self.provider = provider if provider is not None else ScriptedProvider()
        self.base = base
        self._closed = False
        self._close_lock = threading.Lock()
        self._pid = os.getpid()
        self.log_file = Path(log_file) if log_file else (self.store.sidecar_dir or self.store.root) / "sessionward.log"
        self.cluster = cluster
        if cluster is not None and base != "tcp":
            raise ValueError("a convention needs base='tcp'")
        before = children(self._pid)
        self.port = (port or free_port(bind if bind not in ("", "0.0.0.0") else "127.0.0.1")) if base == "tcp" else None
        capabilities = None
        if cluster is not None:
            capabilities = {"sessionward.member": cluster.member, "sessionward.store": self.store.locator}
            if cluster.join:
                capabilities["Convention Address.IPv4"] = parse_host_port(cluster.join)
        self.system_id = uuid.uuid4().hex
        # A joined member shares its leader's store (shared storage): the leader holds it.
        joining = cluster is not None and bool(cluster.join)
        # An openclaw agent's sessions/ folder holds openclaw's files only: the claim goes
        # with sessionward's other side files (``sidecar_dir``).
        self._claim_dir = self.store.sidecar_dir or self.store.root
        self._claim, dead_host = (None, None) if joining else claim_store(self._claim_dir, self.system_id, self.port)
        self._roots: set[int] = set()
        self._member_system = None
        try:
            if base == "tcp" and secret is None:
                secret = server_secret(store, shared=cluster is not None)
            self._system = start_system(base, port=self.port, bind=bind, log_file=self.log_file,
                                        capabilities=capabilities, secret=secret,
                                        allow=parse_allow_list(allow))
            # The process this system forked: every actor process of ours lives in the
            # process group it created (see ``system.process_group_members``), and nothing
            # else in this process is touched at shutdown.
            self._roots = children(self._pid) - before if base == "tcp" else set()
            if self._claim is not None and len(self._roots) == 1:
                self._claim = complete_claim(self._claim_dir, self._claim, group=next(iter(self._roots)))
            if cluster is not None and cluster.join:
                # A member hosts owners; the leader holds the Directory. Our calls go there,
                # through an external handle on the leader (never shut down from here).
                self._member_system = self._system
                leader_host, leader_port = parse_host_port(cluster.join)
                self._system = connect_system(leader_port, host=leader_host, local=reach_host(bind),
                                              secret=secret)
                self._directory = self._system.createActor(Directory, globalName=DIRECTORY_NAME)
                from sessionward.recovery.actor import RECOVERY_NAME, RecoveryActor

                self._recovery = self._system.createActor(RecoveryActor, globalName=RECOVERY_NAME)
            else:
                self._directory = self._system.createActor(Directory, globalName=DIRECTORY_NAME)
                ready = self._system.ask(
                    self._directory,
                    ConfigureDirectory(new_request_id(), self.store.locator, config, self.provider, cluster,
                                       system_id=self.system_id),
                    start_timeout,
                )
                if not isinstance(ready, DirectoryReady):
                    raise CoordinationError(f"the directory did not start (got {ready!r})")
                # Recovery first: from here on the mailbox thread owns the system handle.
                self._recovery = self._start_recovery(start_timeout) if config.recovery.enabled else None
            self._mailbox = Mailbox(self._system, self._directory, simple=(base == "simple"),
                                    accept_timeout=accept_timeout, system_id=None if joining else self.system_id)
            self._client = SessionClient(self._mailbox, self._directory, self._recovery, config, self._check_open)
        except BaseException:
            if hasattr(self, "_system"):
                self._shutdown_system()
            self._release()
            raise
        _live_runtimes.add(self)
        if dead_host is not None:
            self._replay_after(dead_host)

    def _replay_after(self, dead_host) -> None:
        """Activate the owners of the sessions a dead host left unfinished turns in.

        As after an owner crash, where the Directory starts a new owner at once: each
        owner replays its inbox when it activates (``recovery.replay``), so acknowledged
        turns run (or fail ``owner_lost``) now, not when their session is next used.
        Their submitters died with the host; the outcomes go to the transcripts.
        """
        keys = sessions_with_inboxes(self.store)
        if keys:
            log.warning("store %s: taking over from pid %d (dead); replaying the inboxes of %d sessions",
                        self.store.root, dead_host.host_pid, len(keys))
        for key in keys:
            self._mailbox.tell(self._directory, QueryOwnerState(new_request_id(), key, reply_to=self._mailbox.address,
                                                                activate=True))

    def _start_recovery(self, timeout: float):
        from sessionward.recovery.actor import (
            RECOVERY_NAME,
            ConfigureRecovery,
            RecoveryActor,
            RecoveryReady,
        )

        address = self._system.createActor(RecoveryActor, globalName=RECOVERY_NAME)
        ready = self._system.ask(address, ConfigureRecovery(new_request_id(), self._directory,
                                                            self.config.recovery), timeout)
        if not isinstance(ready, RecoveryReady):
            raise CoordinationError(f"the recovery actor did not start (got {ready!r})")
        return address

    # -- context manager -----------------------------------------------------------------------

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError("the runtime is closed")

    # -- shutdown ------------------------------------------------------------------------------

    def close(self, timeout: float = 10.0) -> None:
        """Shut the actor system down; every pending turn gets an outcome first.

        Leaves no process behind: whatever survives Thespian's shutdown is ended by pid.
        Idempotent.
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        _live_runtimes.discard(self)
        self._shutdown_system(timeout)
        try:
            self.store.compact()  # a stopped store's sessions.json names every session
        except Exception:  # the journal stays and is read back: nothing is lost
            log.exception("could not fold the index journal into %s", self.store.index_path)
        self._release()

    def _release(self) -> None:
        claim = getattr(self, "_claim", None)
        if claim is not None:
            release_store(self._claim_dir, claim.system_id)

    def _processes(self) -> set[int]:
        """Every live process of this runtime's actor system."""
        return process_group_members(self._roots) | {p for r in self._roots for p in descendants(r)}

    def _shutdown_system(self, timeout: float = 10.0) -> None:
        mailbox = getattr(self, "_mailbox", None)
        ours = self._processes()
        try:
            if mailbox is not None and self._member_system is None:
                # No owner may be starting when the system shuts down: one forked just
                # before its factory's exit request missed it, and the shutdown then waited
                # for Thespian's 10 s limit (``StopSpares``). A member never stops the
                # leader's spares; no answer in time only means the old race is possible.
                # Bounded, send included (``Mailbox.ask``): a dead Directory cannot hold it.
                mailbox.ask(self._directory, StopSpares(new_request_id()), STOP_SPARES_WAIT)
            if mailbox is not None:
                mailbox.close()
            # A member shuts down its own system, never the leader's it talks to.
            (self._member_system or self._system).shutdown()
        except Exception:
            log.exception("actor system shutdown failed")
        finally:
            leftover = ours | self._processes()
            leftover.discard(os.getpid())
            kill_all(sorted(leftover))
            reap(self._roots)
            if mailbox is not None:
                from sessionward.errors import RuntimeClosedError as _Closed

                for handle in mailbox.pending():
                    if not handle.done:
                        handle._fail(_Closed("the runtime closed before this turn's outcome arrived"))

    # -- timer lanes ---------------------------------------------------------------------------

    def start_lanes(self, agents: Sequence[AgentConfig], *, timeout: float = 10.0) -> None:
        """Start the timer lanes of ``agents``: a heartbeat actor for each agent with a
        heartbeat, and one cron actor for each agent with cron jobs.

        Cron lanes keep each job's last run in ``<store>/lanes/<agent>.cron.json``, so the
        runs that fell due while the runtime was down are reported (not run) at the next
        start. Heartbeat turns go to ``route("heartbeat", agent)``, cron turns to the job's
        session; both come back to their lane actor, which counts them (``lane_stats``).

        Raises:
            ValueError: the lanes of one of ``agents`` were already started.
            CoordinationError: a lane actor did not start.
        """
        from sessionward.lanes.cron_state import cron_state_file
        from sessionward.lanes.timer_messages import ConfigureCronLane, ConfigureHeartbeatLane
        from sessionward.lanes.timers import CronLane, HeartbeatLane

        self._check_open()
        # Set on first use, so __init__ is untouched: (agent_id, kind) -> lane actor address.
        lanes: dict[tuple[str, str], Any] = self.__dict__.setdefault("_lanes", {})
        started = {agent_id for agent_id, _ in lanes}
        if again := [a.agent_id for a in agents if a.agent_id in started]:
            raise ValueError(f"lanes already started for agents {again}")
        # The mailbox thread owns self._system (it listens there, and on the simple base it
        # runs the actors): this thread creates and asks through its private context.
        ctx = self._mailbox._context()
        for agent in agents:
            wanted = []
            if agent.heartbeat is not None:
                wanted.append(("heartbeat", HeartbeatLane,
                               ConfigureHeartbeatLane(new_request_id(), self._directory, agent)))
            if agent.cron:
                state_file = str(cron_state_file(self.store.root, agent.agent_id))
                wanted.append(("cron", CronLane,
                               ConfigureCronLane(new_request_id(), self._directory, agent, state_file=state_file)))
            for kind, actor_class, configure in wanted:
                address = ctx.createActor(actor_class)
                reply = self._mailbox.ask(address, configure, timeout)
                if reply is None or isinstance(reply, ErrorReply):
                    stop_actor(ctx, address)
                    if reply is None:
                        raise CoordinationError(f"the {kind} lane of agent {agent.agent_id!r} did not start")
                    raise error_from_reply(reply)
                lanes[(agent.agent_id, kind)] = address

    def lane_stats(self, *, wait_idle: bool = False, timeout: float = 10.0) -> tuple[Any, ...]:
        """The counters of every started timer lane, in start order: a ``HeartbeatLaneStats``
        or ``CronLaneStats`` (from ``sessionward.lanes.timers``) each.

        Args:
            wait_idle: answer only once no lane has a submitted turn without its final outcome.

        Raises:
            TimeoutError: a lane did not answer within ``timeout`` seconds.
        """
        from sessionward.lanes.timer_messages import QueryLaneStats

        self._check_open()
        out = []
        for (agent_id, kind), address in self.__dict__.get("_lanes", {}).items():
            reply = self._mailbox.ask(address, QueryLaneStats(new_request_id(), wait_idle=wait_idle), timeout)
            if reply is None:
                raise SessionwardTimeoutError(f"the {kind} lane of agent {agent_id!r} did not answer within {timeout}s")
            out.append(reply)
        return tuple(out)
