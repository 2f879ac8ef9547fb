"""AdminClient: the Runtime's API against a running daemon's actor system.

It attaches to the daemon's actor system on its loopback admin port, finds the Directory
and Recovery by their global names, and offers the same calls as ``Runtime`` (submit,
session, sessions, status, abort, cancel, recovery_history), plus Thespian's own view of
the system (``actors``). Closing it detaches; it never shuts the daemon's system down.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

from sessionward.actors.directory import DIRECTORY_NAME, Directory
from sessionward.client import Mailbox
from sessionward.config import RuntimeConfig

# DaemonUnreachableError is defined in errors.py (every public error is); imported from here too.
from sessionward.errors import CoordinationError, DaemonUnreachableError, RuntimeClosedError, WrongStoreError
from sessionward.hosting.secret import client_secret
from sessionward.hosting.status import ActorsView, actors_view
from sessionward.hosting.system import admin_reachable, connect_system, reach_host
from sessionward.session_client import SessionCalls, SessionClient

DAEMON_FILE = "daemon.json"
"""Written by the daemon in its store: pid, port, bind, process groups."""


@attrs.frozen
class DaemonInfo:
    pid: int
    port: int
    bind: str
    store: str
    started_time: float
    process_groups: tuple[int, ...] = ()
    log_file: str = ""
    member: str = "local"
    join: str | None = None
    system_id: str | None = None
    """The daemon's actor system id (the store's record names it too)."""


def member_records(store: str | os.PathLike[str]) -> list[DaemonInfo]:
    """The records of the convention members that joined this store's leader."""
    found = []
    for path in sorted(Path(store).glob("daemon.*.json")):
        info = read_daemon_info(store, path.name)
        if info is not None:
            found.append(info)
    return found


def read_daemon_info(store: str | os.PathLike[str], name: str = DAEMON_FILE) -> DaemonInfo | None:
    """The daemon record ``name`` in ``store`` (None if no daemon wrote one)."""
    path = Path(store) / name
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return DaemonInfo(data["pid"], data["port"], data.get("bind", "127.0.0.1"), data.get("store", str(store)),
                      data.get("startedTime", 0.0), tuple(data.get("processGroups", ())), data.get("logFile", ""),
                      data.get("member", "local"), data.get("join"), data.get("systemId"))


class AdminClient(SessionCalls):
    """A client of a running daemon. Same calls as ``Runtime``; ``close()`` only detaches.

    It holds a ``SessionClient`` (as ``Runtime`` does) rather than being a ``Runtime``: it
    starts no system, owns no store and runs no lanes, so none of that is reachable here.

    Args:
        store: The daemon's store directory (its ``daemon.json`` gives the port and the
            system id every request then names: a system serving another store refuses
            them, and its ``.sessionward/secret`` the secret), or None with ``port`` (no
            such check; the secret then comes from ``SESSIONWARD_SECRET`` or
            ``SESSIONWARD_SECRET_FILE``).
        port: The daemon's admin port (with ``store`` too: this port, the store's secret).
        timeout: How long to wait for the system to answer.

    Raises:
        DaemonUnreachableError: nothing answers on the port.
        WrongSecretError: the daemon holds another secret (or authenticates nothing).
        MissingSecretError, InsecureSecretFileError: no secret found, or its file is
            readable by others.
    """

    def __init__(self, store: str | os.PathLike[str] | None = None, *, port: int | None = None,
                 timeout: float = 10.0, accept_timeout: float | None = 120.0) -> None:
        system_id = None
        host = "127.0.0.1"
        if port is None:
            info = read_daemon_info(store) if store is not None else None
            if info is None:
                raise DaemonUnreachableError(f"no daemon record in {store}; is the daemon running?")
            port, system_id, host = info.port, info.system_id, reach_host(info.bind)
        if not admin_reachable(port, host):
            raise DaemonUnreachableError(f"no actor system answers on {host}:{port}")
        secret = client_secret(store)
        self.port = port
        self._host = host
        self.config = RuntimeConfig()
        self._closed = False
        self._system = connect_system(port, secret=secret, host=host)
        self._directory = self._system.createActor(Directory, globalName=DIRECTORY_NAME)
        from sessionward.recovery.actor import RECOVERY_NAME, RecoveryActor

        self._recovery = self._system.createActor(RecoveryActor, globalName=RECOVERY_NAME)
        try:
            self._mailbox = Mailbox(self._system, self._directory, simple=False, accept_timeout=accept_timeout,
                                    system_id=system_id)
        except WrongStoreError:
            raise  # it answered, for another store: not an unreachable system
        except CoordinationError as exc:
            raise DaemonUnreachableError(str(exc)) from None
        self._client = SessionClient(self._mailbox, self._directory, self._recovery, self.config, self._check_open)


    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosedError("the client is closed")

    def close(self, timeout: float = 10.0) -> None:
        """Detach from the daemon (its actor system keeps running)."""
        if not self._closed:
            self._closed = True
            self._mailbox.close()

    def actors(self, timeout: float = 10.0) -> ActorsView:
        """Thespian's status of the admin and every actor, counted by class."""
        self._check_open()
        try:
            return actors_view(self._system, self._host, self.port, timeout)
        except CoordinationError as exc:
            raise DaemonUnreachableError(str(exc)) from None
