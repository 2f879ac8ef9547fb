"""The long-running actor system behind ``sessionward start``.

``python -m sessionward.operations.daemon --store DIR [--port N] [--config FILE]`` runs a Runtime on
multiprocTCPBase until SIGTERM or SIGINT, with the Directory, Recovery and the lanes the
config names. ``sessionward start`` launches it detached (new session, no inherited
stdout/stderr: Thespian hangs a parent that captures them) and waits for its
``daemon.json``. One daemon per store: the daemon holds an exclusive lock on
``<store>/daemon.lock`` for its whole life, so a second one is refused before it starts
anything.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

import attrs

from sessionward.config import ClusterConfig
from sessionward.config_file import load_daemon_config
from sessionward.errors import DaemonAlreadyRunningError, SessionwardError
from sessionward.hosting.preflight import check_store_path
from sessionward.hosting.secret import server_secret
from sessionward.operations.admin import DAEMON_FILE, read_daemon_info
from sessionward.storage.files import write_atomically

log = logging.getLogger("sessionward.daemon")

LOCK_FILE = "daemon.lock"


def daemon_files(member: str | None, join: str | None) -> tuple[str, str]:
    """(lock file, record file) names: one pair per store, or per member for a joined member.

    Members of a convention share the store (shared storage), so each joined member has its
    own pair; the leader (or a lone daemon) has the store's ``daemon.json``, which the CLI
    reads to find the Directory.
    """
    if join and member:
        return f"daemon.{member}.lock", f"daemon.{member}.json"
    return LOCK_FILE, DAEMON_FILE


def run(store: Path, *, port: int | None, bind: str, config_file: Path | None,
        member: str | None = None, join: str | None = None, allow: tuple[str, ...] = ()) -> int:
    """Run the daemon in this process until SIGTERM/SIGINT. Returns an exit code."""
    from sessionward.runtime import Runtime

    settings = load_daemon_config(config_file)
    config, provider, agents, warnings = settings.runtime, settings.provider, settings.agents, settings.warnings
    if settings.cluster is not None:  # command-line flags win over the file
        member = member or settings.cluster.member
        join = join or settings.cluster.join
    store.mkdir(exist_ok=True)  # its parent was checked (main)
    lock_name, record_name = daemon_files(member, join)
    lock = open(store / lock_name, "a+b")  # noqa: SIM115 (held for the process's life)
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = read_daemon_info(store, record_name)
        where = f" (pid {info.pid}, port {info.port})" if info else ""
        lock.close()
        raise DaemonAlreadyRunningError(f"a daemon already runs on {store}{where}") from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log_file = store / (f"sessionward.{member}.log" if join and member else "sessionward.log")
    cluster = None
    if member or join or settings.cluster is not None:
        base = settings.cluster or ClusterConfig()
        cluster = attrs.evolve(base, member=member or base.member, join=join or base.join)
    # The environment's secret, else the store's (created on first start, mode 0600): the
    # CLI and AdminClient find it from the store path, members on the shared store too.
    secret = server_secret(store, shared=True)
    rt = Runtime(store, provider, base="tcp", config=config, port=port, bind=bind, log_file=log_file,
                 cluster=cluster, secret=secret, allow=allow)
    try:
        for warning in warnings:
            log.warning("%s", warning)
        if agents and not join and hasattr(rt, "start_lanes"):
            rt.start_lanes(agents)
        record = {
            "pid": os.getpid(), "port": rt.port, "bind": bind, "store": str(store),
            "startedTime": time.time(), "processGroups": sorted(rt._roots), "logFile": str(log_file),
            "member": member or "local", "join": join, "systemId": rt.system_id,
        }
        write_atomically(store / record_name, json.dumps(record).encode())
        stop.wait()
    finally:
        rt.close()
        (store / record_name).unlink(missing_ok=True)
        # Removed while still held, so nothing useless is left in the store. A daemon that
        # opened the old file meanwhile may lock it after this one lets go; the store's
        # claim (sessionward.hosting.claim) still refuses a second system on the store.
        (store / lock_name).unlink(missing_ok=True)
        lock.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sessionward.operations.daemon")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--port", type=int)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--config", type=Path)
    parser.add_argument("--member", help="this member's name in a convention")
    parser.add_argument("--join", help="HOST:PORT of the convention leader to join")
    parser.add_argument("--allow", default="",
                        help="comma-separated CIDRs whose peers may connect (loopback always may)")
    args = parser.parse_args(argv)
    try:
        store = check_store_path(args.store).resolve()
        return run(store, port=args.port, bind=args.bind, config_file=args.config,
                   member=args.member, join=args.join,
                   allow=tuple(a for a in args.allow.split(",") if a.strip()))
    except SessionwardError as exc:
        # One line (``sessionward start`` shows it): a port in use, a store in use, a bad path.
        print(f"sessionward: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
