"""Starting and stopping a store's daemon from another process (``sessionward start|stop``).

The logic behind the CLI's two lifecycle commands, apart from their printing: ``start``
launches ``python -m sessionward.operations.daemon`` detached and waits for its record; ``stop`` sends
SIGTERM, waits, and ends what is left of the daemon's process groups by pid. Each returns a
record the CLI renders.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs

from sessionward.errors import StoreInUseError
from sessionward.hosting.claim import read_record
from sessionward.hosting.ownership import host_alive
from sessionward.hosting.preflight import check_port, check_store_path
from sessionward.hosting.processes import process_facts
from sessionward.hosting.system import admin_reachable, alive, kill_all, process_group_members, reach_host
from sessionward.operations.admin import DaemonInfo, read_daemon_info
from sessionward.operations.daemon import daemon_files


@attrs.frozen
class DaemonStart:
    """What ``start_daemon`` found: ``started`` (with ``info``), ``already_running`` (with
    ``info``), ``exited`` (``message`` is the daemon's one line) or ``not_ready``."""

    result: str
    store: Path
    info: DaemonInfo | None = None
    message: str = ""


@attrs.frozen
class DaemonStop:
    """What ``stop_daemon`` did: ``stopped`` (``info``, ``leftovers`` ended by pid) or ``not_running``."""

    result: str
    store: Path
    info: DaemonInfo | None = None
    leftovers: int = 0


def start_daemon(store_path: str | os.PathLike[str], *, bind: str, port: int | None = None,
                 config: str | None = None, member: str | None = None, join: str | None = None,
                 convention_period: float | None = None, timeout: float = 30.0, allow: str = "") -> DaemonStart:
    """Launch the store's daemon, detached, and wait up to ``timeout`` for it to be reachable.

    Raises:
        StoreUnusableError, InvalidPortError, PortInUseError, StoreInUseError: checked here as
            well as in the daemon, so each problem is one line at once.
    """
    store = check_store_path(store_path).resolve()
    if port is not None:
        check_port(port, bind)
    store.mkdir(exist_ok=True)
    _, record_name = daemon_files(member, join)
    info = read_daemon_info(store, record_name)
    if info is not None and alive(info.pid):
        return DaemonStart("already_running", store, info)
    if not join:
        _refuse_if_store_in_use(store)
    command = [sys.executable, "-m", "sessionward.operations.daemon", "--store", str(store), "--bind", bind]
    if port:
        command += ["--port", str(port)]
    if config:
        command += ["--config", str(Path(config).resolve())]
    if member:
        command += ["--member", member]
    if join:
        command += ["--join", join]
    if allow:
        command += ["--allow", allow]
    env = dict(os.environ)
    if convention_period:
        # Thespian reads these when it starts: how often members check in with the leader,
        # and after how many missed check-ins a member is declared gone.
        seconds = max(1, int(convention_period))
        env["CONVENTION_REREGISTRATION_PERIOD"] = f"{seconds // 60}:{seconds % 60}"
        env.setdefault("CONVENTION_REGISTRATION_MISS_MAX", "3")
    if info is not None:  # a record left by a daemon that died
        (store / record_name).unlink(missing_ok=True)
    # Detached: a new session, no inherited stdout/stderr (Thespian's processes would hold a
    # capturing parent's pipes open, and the parent would hang), logs in the store.
    with open(store / "daemon.out", "ab") as out:
        offset = out.tell()
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True, cwd=store, env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return DaemonStart("exited", store, message=_daemon_failure(store / "daemon.out", offset, proc.returncode))
        info = read_daemon_info(store, record_name)
        if info is not None and info.pid == proc.pid and admin_reachable(info.port, reach_host(info.bind)):
            return DaemonStart("started", store, info)
        time.sleep(0.1)  # waiting on another process's file: no event to await
    return DaemonStart("not_ready", store)


def stop_daemon(store_path: str | os.PathLike[str], *, member: str | None = None,
                timeout: float = 30.0) -> DaemonStop:
    """SIGTERM the store's daemon (a joined member's with ``member``), wait, end what is left."""
    store = Path(store_path).resolve()
    # ``member`` names a joined member's daemon; without it, the store's own (leader) daemon.
    info = read_daemon_info(store, daemon_files(member, "joined" if member else None)[1])
    if info is None or not alive(info.pid) or not _serves(store, info, member=bool(member)):
        return DaemonStop("not_running", store)
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(info.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # waiting for another process to exit: no event to await
    groups = set(info.process_groups) | {info.pid}
    left = process_group_members(groups)
    if left:
        kill_all(sorted(left))
    out = store / "daemon.out"  # the daemon's own stdout and stderr: kept only if it said something
    if out.exists() and out.stat().st_size == 0 and not alive(info.pid):
        out.unlink()
    return DaemonStop("stopped", store, info, len(left))


def _refuse_if_store_in_use(store: Path) -> None:
    record = read_record(store)
    if record is not None and host_alive(record, process_facts(record.host_pid)):
        raise StoreInUseError(f"store in use by pid {record.host_pid}")


def _daemon_failure(out_file: Path, offset: int, code: int) -> str:
    """One line for a daemon that exited at start: its own last line (the daemon prints
    typed errors as one line), else the exit code."""
    with open(out_file, "rb") as f:
        f.seek(offset)
        lines = [ln for ln in f.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    last = lines[-1].strip() if lines else ""
    if last.startswith("sessionward: "):
        return last
    return f"sessionward: the daemon exited with code {code}" + (f": {last}" if last else "") + \
        f" (see {out_file})"


def _serves(store: Path, info: DaemonInfo, *, member: bool) -> bool:
    """True if the daemon ``info`` names is the live host in ``store``'s record: a pid
    left in an old ``daemon.json`` may belong to another process (or daemon) by now."""
    if member:
        return True  # a joined member records no store of its own; its daemon file names it
    record = read_record(store)
    return (record is not None and record.host_pid == info.pid
            and (info.system_id is None or record.system_id == info.system_id)
            and host_alive(record, process_facts(info.pid)))
