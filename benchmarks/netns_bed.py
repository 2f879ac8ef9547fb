"""Several machines on one Linux host: convention members in their own network namespaces.

Each member gets a namespace with one veth interface and its own address
(``10.77.0.N/24``); the other ends of the veths are ports of a bridge in a hub namespace.
Nothing is added to the root namespace, so a run cannot disturb the host's network, and
the subnet can be the same in every run: parallel runs have their own namespaces (named
``sw<pid><random>-<member>``), hence their own bridges, addresses and ports. The store is
a directory on the shared file system, as shared storage is between real hosts (with one
difference: flocks taken in different namespaces of one kernel are one kernel's locks,
so they hold across "hosts" here, which network file systems do only as far as their lock
protocol does; see docs/several-machines.md).

Daemons are started with the project's own CLI (``sessionward start``) inside their
namespaces. ``close()`` kills every process still in each namespace by pid (``ip netns
pids``), then deletes the namespaces: whatever failed, nothing is left behind.

Needs root (``CAP_NET_ADMIN``) and ``ip``; ``unavailable()`` says why a host cannot run it.
Used by ``tests/test_netns_cluster.py`` and ``python -m benchmarks.partition``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SUBNET = "10.77.0"
PORT = 1900
"""Every member's admin port: each namespace has its own port space."""


def unavailable() -> str | None:
    """Why this host cannot run the bed (None if it can)."""
    if sys.platform != "linux":
        return "network namespaces are Linux-only"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    if shutil.which("ip") is None:
        return "the 'ip' command (iproute2) is not installed"
    probe = f"swprobe{os.getpid()}{secrets.token_hex(2)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"'ip netns add' failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Bed:
    """Namespaces for ``members`` (the first leads), a hub bridge between them, and a store.

    Use as a context manager: ``with Bed(tmp_path) as bed: bed.start(config_text)``.
    """

    def __init__(self, root: Path, members: Sequence[str] = ("m1", "m2", "m3")) -> None:
        self.root = Path(root)
        self.members = list(members)
        self.tag = f"sw{os.getpid()}{secrets.token_hex(2)}"
        self.store = self.root / "shared-store"
        self.config = self.root / "sessionward.toml"
        self._namespaces: list[str] = []
        self._extra: list[str] = []
        """Names given to ``add_namespace`` that are not members, in order: each gets its own
        address after the members' (``10.77.0.11``, ``.12``, ...)."""

    # -- names --------------------------------------------------------------------------------

    def netns(self, member: str) -> str:
        """The namespace of ``member`` (or of any extra name given to ``add_namespace``)."""
        return f"{self.tag}-{member}"

    def address(self, member: str) -> str:
        return f"{SUBNET}.{self._index(member) + 1}"

    def _index(self, member: str) -> int:
        if member in self.members:
            return self.members.index(member)
        if member not in self._extra:
            self._extra.append(member)
        return 10 + self._extra.index(member)

    def _port(self, member: str) -> str:
        """The member's bridge port in the hub namespace (the cable a partition pulls)."""
        return f"p{self._index(member) + 1}"

    # -- set-up and teardown ------------------------------------------------------------------

    def __enter__(self) -> Bed:
        try:
            _ip("netns", "add", self.netns("hub"))
            self._namespaces.append(self.netns("hub"))
            _ip("-n", self.netns("hub"), "link", "add", "br0", "type", "bridge")
            _ip("-n", self.netns("hub"), "link", "set", "br0", "up")
            for member in self.members:
                self.add_namespace(member)
        except BaseException:
            self.close()
            raise
        return self

    def add_namespace(self, name: str) -> str:
        """A namespace on the bridge with its own address (a member, or a client host such as
        a rogue one). Returns its address."""
        ns, port = self.netns(name), self._port(name)
        _ip("netns", "add", ns)
        self._namespaces.append(ns)
        _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", self.netns("hub"))
        _ip("-n", self.netns("hub"), "link", "set", port, "master", "br0", "up")
        _ip("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        return self.address(name)

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Kill every process in the bed's namespaces by pid, then delete the namespaces."""
        for ns in reversed(self._namespaces):
            self._kill_namespace(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self._namespaces.clear()

    def pids(self, name: str) -> set[int]:
        """Process ids running in ``name``'s namespace."""
        done = subprocess.run(["ip", "netns", "pids", self.netns(name)], capture_output=True, text=True)
        return {int(p) for p in done.stdout.split()}

    def _kill_namespace(self, ns: str, wait: float = 10.0) -> None:
        deadline = time.monotonic() + wait
        while True:
            done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            pids = {int(p) for p in done.stdout.split()}
            if not pids or time.monotonic() > deadline:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)  # killed processes leave the namespace when reaped: no event to await

    # -- running things -----------------------------------------------------------------------

    def command(self, name: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns(name), *argv]

    def run_in(self, name: str, argv: Sequence[str], *, timeout: float = 90.0) -> subprocess.CompletedProcess:
        """Run ``argv`` in ``name``'s namespace and wait for it (stdin closed, output captured).

        The place for anything that must come from another host, such as a rogue client.
        """
        return subprocess.run(self.command(name, argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)

    def popen_in(self, name: str, argv: Sequence[str], out: Path, cwd: Path | None = None) -> subprocess.Popen:
        """Start ``argv`` in ``name``'s namespace, its output going to ``out`` (never a pipe:
        an actor system it starts would hold the pipe open). ``close()`` kills it by pid."""
        with open(out, "ab") as sink:
            return subprocess.Popen(self.command(name, argv), stdin=subprocess.DEVNULL, stdout=sink, stderr=sink,
                                    cwd=cwd)

    def sessionward(self, name: str, *args: str) -> subprocess.CompletedProcess:
        return self.run_in(name, [sys.executable, "-m", "sessionward", *args])

    def start(self, config_text: str, *, allow: str = "") -> None:
        """Write the config and start every member's daemon with ``sessionward start`` in its
        namespace: the first member leads, the others join it. ``allow`` (CIDRs, comma
        separated) is every member's ``--allow``."""
        self.config.write_text(config_text)
        leader = self.members[0]
        for member in self.members:
            args = ["start", "--store", str(self.store), "--bind", self.address(member), "--port", str(PORT),
                    "--member", member, "--config", str(self.config), "--convention-period", "600"]
            if member != leader:
                args += ["--join", f"{self.address(leader)}:{PORT}"]
            if allow:
                args += ["--allow", allow]
            started = self.sessionward(member, *args)
            if started.returncode != 0:
                raise RuntimeError(f"{member} did not start: {started.stderr.strip()}")

    # -- faults -------------------------------------------------------------------------------

    def kill(self, member: str) -> None:
        """SIGKILL every process of ``member`` at once, as a crash would.

        All are stopped (SIGSTOP) before the first is killed. Killing them one by one let
        a survivor react to another's death: under CPU load the killing loop was preempted
        for 150 ms between an owner's worker and the owner, and the owner failed its
        running turn as "the turn worker exited" (``provider_error``) and started the next
        one before it died (1 run in 3 with two CPU burners; docs/several-machines.md). A
        host that crashes gives its processes no such moment.
        """
        ns = self.netns(member)
        self._freeze_namespace(ns)
        self._kill_namespace(ns)

    def _freeze_namespace(self, ns: str, wait: float = 10.0) -> None:
        """SIGSTOP every process in ``ns`` (and any it forks meanwhile) and wait until each is
        stopped: from then on none of them runs, so none sees another die."""
        deadline = time.monotonic() + wait
        stopped: set[int] = set()
        while time.monotonic() < deadline:
            done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
            new = {int(p) for p in done.stdout.split()} - stopped
            for pid in new:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGSTOP)
            stopped |= new
            if not new and all(_stopped_or_gone(pid) for pid in stopped):
                return
            time.sleep(0.005)  # a signal's effect on another process has no event to await
        raise RuntimeError(f"could not stop every process in {ns} within {wait} s")

    def cut(self, member: str) -> None:
        """Pull ``member``'s cable: its bridge port goes down. Nothing is refused; packets
        are lost both ways (a partition), while the member runs on and keeps its files."""
        _ip("-n", self.netns("hub"), "link", "set", self._port(member), "down")

    def heal(self, member: str) -> None:
        _ip("-n", self.netns("hub"), "link", "set", self._port(member), "up")


def _stopped_or_gone(pid: int) -> bool:
    """True if ``pid`` is stopped (``T``), a zombie, or gone (from /proc/<pid>/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in (b"T", b"t", b"Z", b"X")


def locks_by_pid(paths: Sequence[Path]) -> dict[Path, int]:
    """Which pid holds a flock on each of ``paths`` (from /proc/locks, read-only: taking a
    lock to test it would disturb the owners)."""
    by_inode = {}
    for path in paths:
        with contextlib.suppress(OSError):
            by_inode[os.stat(path).st_ino] = path
    held = {}
    with open("/proc/locks") as f:
        for line in f:
            m = re.match(r"\d+:\s+FLOCK\s+\S+\s+WRITE\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)", line)
            if m and int(m.group(2)) in by_inode:
                held[by_inode[int(m.group(2))]] = int(m.group(1))
    return held
