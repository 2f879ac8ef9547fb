"""Shared fixtures: runtimes on both Thespian bases that always shut down and leave no process."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest

from sessionward import Runtime, RuntimeConfig
from sessionward.hosting.system import children, free_port, kill_all, process_group_members, reap, start_system
from sessionward.operations.admin import read_daemon_info

BASES = ["simple", "tcp"]

STREAM_IN = os.environ.get("SESSIONWARD_TEST_STREAM_IN")
"""``owner`` runs every runtime ``make_runtime`` builds with ``stream_in = "owner"`` (CI runs
the fault and recovery tests that way too, under load); unset: each test's own config."""


def pytest_collection_modifyitems(config, items) -> None:
    if STREAM_IN == "owner":
        skip = pytest.mark.skip(reason="counts worker processes; SESSIONWARD_TEST_STREAM_IN=owner has none")
        for item in items:
            if "worker_processes" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(params=BASES)
def base(request) -> str:
    return request.param


@pytest.fixture
def make_runtime(tmp_path):
    """A factory for runtimes; every one is closed after the test, and its processes checked."""
    made: list[Runtime] = []

    def make(store: Path | None = None, *, base: str = "simple", recovery: bool = False, **kwargs) -> Runtime:
        if STREAM_IN is not None:
            config = kwargs.get("config") or RuntimeConfig()
            kwargs["config"] = attrs.evolve(config, stream_in=STREAM_IN)
        rt = Runtime(store or tmp_path / "store", base=base, recovery=recovery, **kwargs)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.close()
    for rt in made:
        left = process_group_members(rt._roots)
        assert not left, f"processes left behind: {sorted(left)}"


@pytest.fixture
def tcp_system(tmp_path):
    """A bare multiprocTCPBase actor system (no runtime), shut down after the test; what is
    left of its processes then is killed by process id (as ``Runtime.close`` does), and the
    test fails if any survives that."""
    before = children(os.getpid())
    system = start_system("tcp", log_file=tmp_path / "thespian.log")
    roots = children(os.getpid()) - before  # its processes live in the group of this child
    try:
        yield system
    finally:
        system.shutdown()
        kill_all(sorted(process_group_members(roots)))
        reap(roots)
        left = process_group_members(roots)
        assert not left, f"processes left behind: {sorted(left)}"


def read_entries(path: Path) -> list[dict]:
    """Every JSON line of a transcript (fails the test if any line does not parse)."""
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "transcript does not end with a newline"
    return [json.loads(line) for line in lines[:-1]]


def transcript_of(rt: Runtime, session_key: str) -> Path:
    return Path(rt.session(session_key).file)


def assert_no_interleaving(entries: list[dict]) -> None:
    """No entry of one turn lies between another turn's first and last entry."""
    spans: dict[str, list[int]] = {}
    for i, e in enumerate(entries):
        if "turnId" in e:
            spans.setdefault(e["turnId"], []).append(i)
    for turn, idx in spans.items():
        inside = {entries[j].get("turnId") for j in range(idx[0], idx[-1] + 1)}
        assert inside == {turn}, f"turn {turn} is interleaved with {inside - {turn}}"


def assert_one_parent_chain(entries: list[dict]) -> None:
    """Every entry's parentId is the entry written before it (one linear chain)."""
    body = [e for e in entries if e.get("type") != "session"]
    for prev, cur in itertools.pairwise(body):
        assert cur["parentId"] == prev["id"]


def wait_for(predicate, timeout: float, what: str):
    """Poll a condition on another process's state; there is no event to await across
    processes (an owner's pid, a member's liveness, a stream counter in a file)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def count_file(tmp_path) -> Path:
    """A file a ScriptedProvider appends one line to per stream it starts (across processes)."""
    return tmp_path / "streams.txt"


def streams_started(count_file: Path) -> list[str]:
    if not count_file.exists():
        return []
    return [line.split()[1] for line in count_file.read_text().splitlines()]


os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture
def shared_clock(tmp_path, monkeypatch):
    """Moves the clock of every actor process a runtime made after this fixture starts.

    Returns ``advance(seconds)``. Silence of a minute is simulated in no time: the actors
    read ``sessionward.clock``, which adds the offset in this file (the variable is
    inherited by the processes the actor system forks).
    """
    from sessionward import clock

    path = tmp_path / "clock-offset"
    path.write_text("0")
    monkeypatch.setenv(clock.OFFSET_FILE_ENV, str(path))
    return lambda seconds: clock.advance_offset_file(path, seconds)


def gated_provider(gate: str, entered: str, **kwargs):
    """A ProviderSpec factory that blocks while the file ``gate`` exists.

    The owner builds its provider while it activates, so this holds an owner in
    activation for as long as a test wants; ``entered`` is created once it blocks.
    """
    from sessionward import ScriptedProvider

    gate_path = Path(gate)
    if gate_path.exists():
        Path(entered).touch()
    while gate_path.exists():
        time.sleep(0.02)
    return ScriptedProvider(**kwargs)


def stopped(pid: int):
    """SIGSTOP ``pid``; the returned function resumes it if it still exists (cleanup)."""
    os.kill(pid, signal.SIGSTOP)

    def resume() -> None:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    return resume


def recovery_ticks(rt) -> int:
    return rt.recovery_history().ticks


def silence_for_a_minute(rt, shared_clock) -> None:
    """Let recovery see the owner silent for a few sweeps, then move every clock a minute on.

    The sweeps first: an answer received after the jump would count as recent.
    """
    start = recovery_ticks(rt)
    wait_for(lambda: recovery_ticks(rt) >= start + 3, 30, "three sweeps of silence")
    shared_clock(61)


def run_cli(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m sessionward ARGS`` with its output captured as text and no standard input."""
    return subprocess.run([sys.executable, "-m", "sessionward", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, env=env)


@pytest.fixture
def daemon(tmp_path):
    """A daemon started on a new store and a free port: ``(store, daemon info)``. Stopped
    after the test, which fails if it left a process behind."""
    store = tmp_path / "store"
    started = run_cli("start", "--store", str(store), "--port", str(free_port()))
    assert started.returncode == 0, started.stderr
    info = read_daemon_info(store)
    try:
        yield store, info
    finally:
        run_cli("stop", "--store", str(store))
        groups = set(info.process_groups) | {info.pid}
        assert not process_group_members(groups), "the daemon left processes behind"
