"""Checks made before anything starts, so that a bad store path or port gets one line.

Each raises a typed error (``sessionward.errors``) whose message is the whole story.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

from sessionward.errors import InvalidPortError, PortInUseError, StoreUnusableError


def check_store_path(path: str | os.PathLike[str]) -> Path:
    """The store's path, made absolute, if a store can live there.

    A store is a directory that can be read and written, or does not exist yet in a
    directory that does (it is then created by the runtime, but not its parents: a
    missing parent is more often a typo than a wish).

    Raises:
        StoreUnusableError: the path is a file, its parent is missing, or it cannot be
            read or written.
    """
    p = Path(path).expanduser().absolute()
    if p.exists() and not p.is_dir():
        raise StoreUnusableError(f"store {p} is not a directory")
    if not p.exists():
        if not p.parent.is_dir():
            raise StoreUnusableError(f"store {p} cannot be created: its parent {p.parent} does not exist")
        _check_writable(p.parent, f"store {p} cannot be created in {p.parent}")
        return p
    try:
        os.listdir(p)
    except OSError as exc:
        raise StoreUnusableError(f"store {p} cannot be read: {exc.strerror}") from None
    _check_writable(p, f"store {p} cannot be written")
    sessions = p / "sessions"
    if sessions.exists() and not sessions.is_dir():
        raise StoreUnusableError(f"store {p}: {sessions} is not a directory")
    return p


def _check_writable(directory: Path, what: str) -> None:
    # A real write, not os.access: access() says yes to root, and no to nothing on a
    # read-only file system.
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise StoreUnusableError(f"{what}: {exc.strerror}") from None


def check_port(port: int, host: str = "127.0.0.1") -> int:
    """``port`` if it is a valid port that nothing listens on at ``host`` right now.

    Thespian must never be asked for a port in use: a system asked for the port of
    another system *joins* it (both stores would be served by one system), and a port
    held by another program fails only after a long wait, with a traceback. There is a
    window between this check and the system's own bind; a loser of that race still
    fails, later and less clearly.

    Raises:
        InvalidPortError: not in 1-65535.
        PortInUseError: something is bound to it.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidPortError(f"port {port!r} is out of range (1-65535)")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As Thespian binds: SO_REUSEADDR, so a port left in TIME_WAIT counts as free,
        # while a listener (on this address or on all) still makes the bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError as exc:
            raise PortInUseError(f"port {port} on {host or '0.0.0.0'} is in use ({exc.strerror})") from None
    return port


def parse_host_port(text: str) -> tuple[str, int]:
    """``("HOST", PORT)`` from ``"HOST:PORT"`` (a convention leader's address).

    Raises:
        ValueError: no host, or a port that is not a number.
    """
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)
