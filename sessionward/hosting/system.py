"""Starting and stopping a Thespian actor system. The one non-actor module that imports Thespian.

Loopback only, by default. Thespian's TCP transport unpickles whatever it receives and,
as measured here, binds every actor's socket to all interfaces (``''``) even when its
advertised address is 127.0.0.1 (``IPActorAddress.bindname`` in
``thespian/system/transport/IPBase.py``). We set ``THESPIAN_BASE_IPADDR`` so that every
address is advertised as the chosen host, and wrap ``IPActorAddress.__init__`` so that the
bind address is that host too. Actor processes are forked (Thespian's default start
method on Linux), so they inherit the wrapper; the environment variable carries the
choice to any process started another way. Binding wider is an explicit option
(``bind="0.0.0.0"``) and the README says what it exposes.

It also works around a Thespian timer bug that could stall any actor's ``wakeupAfter``
(see ``_remaining_never_zero_before_expiry``).

Every frame is authenticated: ``install_thespian_workarounds`` makes multiprocTCPBase use
``sessionward.hosting.transport.AuthenticatedTCPTransport``, and ``start_system``/``connect_system``
hand the new system its secret (``sessionward.hosting.secret`` says where secrets come from). This
module and ``sessionward.hosting.transport`` are the non-actor modules that import Thespian.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import time
from datetime import timedelta
from pathlib import Path

from thespian.actors import ActorSystem
from thespian.system import timing
from thespian.system.transport import IPBase

from sessionward.errors import WrongSecretError
from sessionward.hosting import transport
from sessionward.hosting.frames import Network
from sessionward.hosting.lifetime import starting_system
from sessionward.hosting.secret import new_secret

BIND_ENV = "SESSIONWARD_BIND"
"""The interface actor sockets bind to (default 127.0.0.1)."""

_original_init = IPBase.IPActorAddress.__init__


def _bind_to_chosen_interface(self, *args, **kwargs) -> None:
    _original_init(self, *args, **kwargs)
    host = os.environ.get(BIND_ENV, "127.0.0.1")
    if host not in ("", "0.0.0.0") and self.bindname[0] == "":
        self.bindname = (host, self.bindname[1])


def _bind_actors_to_chosen_interface() -> None:
    """Install the bind wrapper (idempotent). Called when a system starts or is joined, not at
    import: importing this module changes nothing in Thespian."""
    if IPBase.IPActorAddress.__init__ is not _bind_to_chosen_interface:
        IPBase.IPActorAddress.__init__ = _bind_to_chosen_interface


MAX_PENDING_TRANSMITS = 4096
"""Thespian's cap on one process's sends awaiting their receiver's ACK (its default is 20).

The cap is per process, not per destination: once a sender has 20 messages in flight to
a peer that does not read (an owner blocked in a slow fsync, or SIGSTOPped), *every* later
send of that sender, to anyone, waits until the peer reads again or five minutes pass.
For the Directory that froze routing and recovery for the whole system, which recovery
then read as every owner going silent. ``docs/thespian-repro/head_of_line_blocking.py`` shows
it with plain Thespian. Each pending transmit holds one socket, so the cap stays well
under the file limit, which ``_raise_file_limit`` lifts to its hard maximum.
"""


def _unblock_transmits() -> None:
    """Raise the pending-transmit cap in this process; forked actor processes inherit it."""
    from thespian.system.transport import asyncTransportBase

    asyncTransportBase.MAX_PENDING_TRANSMITS = max(asyncTransportBase.MAX_PENDING_TRANSMITS,
                                                   MAX_PENDING_TRANSMITS)
    _raise_file_limit()


def _raise_file_limit() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = hard if hard != resource.RLIM_INFINITY else 65536
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass  # not fatal: the cap is then reached later, as before


def _remaining_never_zero_before_expiry(self, forever=None):
    """``ExpirationTimerView.remaining``, except that a timer that has not expired never
    reports ``timedelta(0)``: less than a microsecond left rounds up to one microsecond.

    Thespian 4.0.1's TCP transport (``TCPTransport._runWithExpiry``) checks that the next
    ``wakeupAfter`` timer has not expired, then builds its ``select`` timeout with
    ``filter(None, [self.run_time.view(ct).remaining()] + ...)``. A ``timedelta`` has
    microsecond resolution, so with less than 0.5 us left the remaining time is
    ``timedelta(0)``, which is falsy and dropped; with no transmit in flight there is no
    other timeout and ``select`` waits until a message happens to arrive. A TurnWorker's
    1 ms pump timer landed there about once in 3,000 pumps: its stream stopped until
    the owner sent it something (at shutdown). Any timer (collect windows, idle timers,
    recovery ticks) and ``ActorSystem.listen`` timeouts could stall the same way.
    Reproducer and details: ``docs/thespian-repro/``. Actor processes are forked, so
    they inherit this, like the bind wrapper above.
    """
    if self._time_to_quit is None:
        return forever
    left = self._time_to_quit - self._current_time
    return timedelta(seconds=max(left, 1e-6)) if left > 0 else timedelta(0)


def install_thespian_workarounds() -> None:
    """Install the bind wrapper, the timer fix, the raised transmit cap and the authenticated
    transport in this process (idempotent).

    Called whenever a system starts or is joined, before any actor process is forked, so
    every actor inherits them; importing this module changes nothing in Thespian.
    """
    _bind_actors_to_chosen_interface()
    _unblock_transmits()
    transport.install()
    if timing.ExpirationTimerView.remaining is not _remaining_never_zero_before_expiry:
        timing.ExpirationTimerView.remaining = _remaining_never_zero_before_expiry


LOCAL_PORT_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
"""Where Linux keeps the range it hands out ports from for ``bind(0)`` and ``connect()``."""

DEFAULT_LOCAL_PORTS = (32768, 65535)
"""Taken as that range where it cannot be read (Linux's own is 32768-60999, IANA's 49152-65535)."""


def local_port_range() -> tuple[int, int]:
    """The ports this system hands out to sockets that ask for none (inclusive)."""
    try:
        low, high = (int(part) for part in LOCAL_PORT_RANGE.read_text().split())
        return low, high
    except (OSError, ValueError):
        return DEFAULT_LOCAL_PORTS


def ports_outside(low: int, high: int, width: int = 12288) -> range:
    """Up to ``width`` unprivileged ports just below ``low`` (or, if too few are, just above
    ``high``): none of them is ever handed out by ``bind(0)`` or ``connect()``."""
    if low - 1024 >= 1024:
        return range(max(1024, low - width), low)
    if 65535 - high >= 1024:
        return range(high + 1, min(65536, high + 1 + width))
    return range(0)


def free_port(host: str = "127.0.0.1", *, pick=random.randrange) -> int:
    """A TCP port that is free on ``host`` now, from outside the range the system hands out
    to sockets that ask for no port.

    An admin port from inside that range could be taken between this call and the admin's
    own bind: Thespian's first step in starting a system is to bind this process's own
    transport to port 0, which can be handed this very port (it was just released). The
    admin then cannot bind it, and the start fails after 11 s with ``InvalidActorAddress``
    ("not a valid or useable ActorSystem Admin"). A start failed so, with nothing of its
    admin logged, once in a full test run here. The same holds for any other process's
    ``bind(0)`` or outgoing connection meanwhile.
    Outside that range only another explicit choice of the same port can take it.
    """
    candidates = ports_outside(*local_port_range())
    for _ in range(64 if candidates else 0):
        port = pick(candidates.start, candidates.stop)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue  # in use (or kept by a recent connection): another
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # no room outside the range
        s.bind((host, 0))
        return s.getsockname()[1]


def log_defs(log_file: Path | None, level: int = logging.INFO) -> dict:
    """Thespian ``logDefs``: stdlib logging to one file (``logDefs=False`` breaks multiproc)."""
    handlers: dict = {}
    if log_file is not None:
        handlers["file"] = {
            "class": "logging.FileHandler",
            "filename": str(log_file),
            "formatter": "plain",
            "level": level,
        }
    else:
        handlers["file"] = {"class": "logging.NullHandler", "level": level}
    for handler in handlers.values():
        handler["filters"] = ["context"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": "sessionward.hosting.system.ContextFilter"}},
        "formatters": {
            "plain": {
                "format": "%(asctime)s %(levelname)s pid=%(process)d %(name)s "
                "session=%(session)s turn=%(turn)s: %(message)s"
            }
        },
        "handlers": handlers,
        "root": {"handlers": ["file"], "level": level},
    }


class ContextFilter(logging.Filter):
    """Gives every log record ``session`` and ``turn`` (``-`` where the record has none).

    Actors log with ``extra={"session": key, "turn": turn_id}``; Thespian pickles the
    record, extras included, to its logging process, where this filter runs.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "session"):
            record.session = "-"
        if not hasattr(record, "turn"):
            record.turn = "-"
        return True


def start_system(
    base: str,
    *,
    port: int | None = None,
    bind: str = "127.0.0.1",
    log_file: Path | None = None,
    capabilities: dict | None = None,
    secret: bytes | None = None,
    allow: tuple[Network, ...] = (),
) -> ActorSystem:
    """Start a private actor system: ``base`` is ``"tcp"`` or ``"simple"``.

    ``transientUnique=True``, so two runtimes in one process never share a system.
    ``secret`` authenticates every TCP frame (default: a random one that only this system's
    forked processes hold); ``allow`` limits which networks may connect (loopback always may).
    """
    if base == "simple":
        return ActorSystem("simpleSystemBase", transientUnique=True, logDefs=log_defs(log_file))
    if base != "tcp":
        raise ValueError(f"base must be 'tcp' or 'simple', got {base!r}")
    install_thespian_workarounds()
    os.environ[BIND_ENV] = bind
    if bind not in ("", "0.0.0.0"):
        os.environ["THESPIAN_BASE_IPADDR"] = bind
    caps = {"Admin Port": port or free_port(bind or "127.0.0.1")}
    caps.update(capabilities or {})
    # Every process of this system follows this one: when it dies, they end (lifetime.py).
    auth = transport.TransportAuth.from_secret(secret or new_secret(), allow)
    with starting_system(), transport.authenticated(auth):
        return ActorSystem("multiprocTCPBase", caps, logDefs=log_defs(log_file), transientUnique=True)


def children(pid: int) -> set[int]:
    """Process ids of the direct children of ``pid``."""
    return set(_process_tree().get(pid, []))


def descendants(pid: int) -> list[int]:
    """Process ids of every live descendant of ``pid`` (from /proc)."""
    tree = _process_tree()
    out, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def process_group_members(pgids: set[int]) -> set[int]:
    """Live (non-zombie) processes whose process group is one of ``pgids``.

    Thespian's TCP admin daemonizes: the child we fork calls ``setsid`` and forks the
    admin, so actor processes are not our descendants, but every one of them stays in
    the process group named after that first child's pid. Orphans (a worker whose owner
    was SIGKILLed) keep it too.
    """
    found = set()
    for pid, (pgrp, state) in _stats().items():
        if pgrp in pgids and state != "Z":
            found.add(pid)
    return found


def _stats() -> dict[int, tuple[int, str]]:
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (int(fields[2]), fields[0])
    return out


def reap(pids: set[int]) -> None:
    """Collect the exit status of our own exited children (no zombies left)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def _process_tree() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def kill_all(pids: list[int], grace: float = 2.0) -> list[int]:
    """SIGTERM, wait up to ``grace`` seconds, then SIGKILL whatever is left. Returns the killed."""
    living = [p for p in pids if alive(p)]
    for pid in living:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while living and time.monotonic() < deadline:
        living = [p for p in living if alive(p)]
        if living:
            time.sleep(0.02)  # polling another process's exit: there is no event to await
    for pid in living:
        _signal(pid, signal.SIGKILL)
    # A SIGKILLed process is still listed until the kernel has torn it down: wait for that,
    # so "nothing left" checks right after this call see the truth.
    deadline = time.monotonic() + grace
    dying = list(living)
    while dying and time.monotonic() < deadline:
        dying = [p for p in dying if alive(p)]
        if dying:
            time.sleep(0.01)
    return living


def alive(pid: int) -> bool:
    """True while ``pid`` runs (``processes.running``: a zombie is not running). Our own
    zombie child is reaped on the way, so it does not linger in the process table."""
    from sessionward.hosting.processes import running

    if running(pid):
        return True
    if pid > 0:  # waitpid(0 or -1) would reap any child: only ever this one
        reap({pid})
    return False


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def connect_system(port: int, *, secret: bytes, host: str = "127.0.0.1", local: str | None = None) -> ActorSystem:
    """Attach to a running multiprocTCPBase system (a daemon's) as an external client.

    ``local`` is this process's own address (default ``host``): a member joining a leader
    on another host (or network namespace) binds its client socket to its own address, not
    the leader's, which it cannot bind.

    Never call ``shutdown()`` on the result: that would stop the daemon's system. Only
    drop it.

    Raises:
        WrongSecretError: the system refused a sealed probe (it holds another secret), or
            it authenticates nothing. Checked first, so a wrong secret is a typed error
            at once rather than a request that times out.
    """
    install_thespian_workarounds()
    auth = transport.TransportAuth.from_secret(secret)
    verdict = transport.probe(host, port, auth)
    if verdict == "rejected":
        raise WrongSecretError(f"the actor system on {host}:{port} refused our frames: it holds another"
                               " secret (see docs/operating.md, 'The secret')")
    if verdict == "unauthenticated":
        raise WrongSecretError(f"the actor system on {host}:{port} does not authenticate frames"
                               " (plain Thespian, or a sessionward without the secret): not attaching")
    local = local or host
    os.environ[BIND_ENV] = local
    os.environ["THESPIAN_BASE_IPADDR"] = local
    with transport.authenticated(auth):
        return ActorSystem(
            "multiprocTCPBase",
            {"Admin Port": port, "Convention Address.IPv4": (host, port)},
            logDefs=log_defs(None),
            transientUnique=True,
        )


def reach_host(bind: str) -> str:
    """The address a client on this host uses to reach a system bound to ``bind``: the bound
    address itself, or loopback for a wildcard bind. (A daemon bound to one address of a
    network namespace, as in the several-machines test bed, does not listen on loopback.)"""
    return "127.0.0.1" if bind in ("", "0.0.0.0") else bind


def admin_reachable(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections on the admin port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
