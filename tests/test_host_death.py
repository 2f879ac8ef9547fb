"""The actor system lives and dies with its host, and a store belongs to one actor system.

A host here is a separate Python process running a ``Runtime`` on multiprocTCPBase; the
tests kill it (SIGKILL, as the OOM killer would) or stop it (SIGSTOP), then look at what
is left of its actor system and at what a new runtime on the same store may do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import STREAM_IN, assert_no_interleaving, read_entries, streams_started, wait_for

from sessionward import OutcomeReason, RuntimeConfig, ScriptedProvider, StoreInUseError, TurnStatus
from sessionward.hosting.claim import read_record
from sessionward.hosting.system import process_group_members
from sessionward.storage.entries import is_turn_end
from sessionward.storage.store import SessionStore, derived_session_id

KEYS = [f"agent:main:k{i}" for i in range(5)]

HOST = textwrap.dedent("""
    import json, os, sys, time
    from sessionward import Runtime, RuntimeConfig, ScriptedProvider

    store, ready, count_file, policy = sys.argv[1:5]
    keys = json.loads(sys.argv[5])
    # 10 s streams: still streaming when the test kills this process.
    rt = Runtime(store, base="tcp", recovery=False, config=RuntimeConfig(replay_policy=policy),
                 provider=ScriptedProvider(reply="r" * 50, chunks=50, chunk_delay=0.2, count_file=count_file))
    handles = [rt.submit(k, "first " + k) for k in keys] + [rt.submit(k, "queued " + k) for k in keys]
    for h in handles:
        assert h.wait_accepted(60) and h.turn_id, h
    deadline = time.monotonic() + 60
    while not all(rt.session(k, history=False).state == "running" for k in keys):
        assert time.monotonic() < deadline, "the first turns did not start"
        time.sleep(0.05)
    with open(ready + ".tmp", "w") as f:
        json.dump({"acknowledged": [h.turn_id for h in handles], "roots": sorted(rt._roots)}, f)
    os.rename(ready + ".tmp", ready)
    time.sleep(600)  # until the test kills or stops this process
""")


class Host:
    """A host process with a runtime on ``store``; ``end()`` leaves nothing of it running."""

    def __init__(self, tmp_path: Path, store: Path, count_file: Path, policy: str, keys: list[str]) -> None:
        self.store = store
        self.ready = tmp_path / "ready.json"
        # No captured output: Thespian's processes would hold the pipe (DESIGN: it hangs).
        with open(tmp_path / "host.log", "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", HOST, str(store), str(self.ready), str(count_file), policy, json.dumps(keys)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def wait_ready(self) -> dict:
        def ready():
            assert self.proc.poll() is None, "the host exited early; see host.log"
            return self.ready.exists()

        wait_for(ready, 90, "the host's turns to stream")
        return json.loads(self.ready.read_text())

    def groups(self) -> set[int]:
        record = read_record(self.store)
        return {record.group} if record is not None and record.group else set()

    def end(self, groups: set[int]) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=30)
        for pid in process_group_members(groups):  # only if the test failed: by pid, never by name
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def _states(pids: set[int]) -> dict[int, str]:
    """Each process's state letter and command line (what a failure message shows)."""
    out = {}
    for pid in sorted(pids):
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                state = f.read().decode("utf-8", "replace").rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")[:60]
        except OSError:
            state, cmd = "gone", ""
        out[pid] = f"{state} {cmd}"
    return out


def _gone_within(groups: set[int], timeout: float) -> float:
    """Seconds until no process of ``groups`` is left (fails after ``timeout``)."""
    started = time.monotonic()
    wait_for(lambda: not process_group_members(groups), timeout, f"the processes of {groups} to end")
    return time.monotonic() - started


@pytest.mark.parametrize("policy", ["requeue", "fail"])
def test_a_sigkilled_host_leaves_no_process_and_a_new_runtime_takes_the_store_over(
    make_runtime, tmp_path, count_file, policy
):
    store = tmp_path / "store"
    host = Host(tmp_path, store, count_file, policy, KEYS)
    groups: set[int] = set()
    try:
        facts = host.wait_ready()
        groups = set(facts["roots"]) | host.groups()
        assert process_group_members(groups), "found no actor process to watch"
        host.proc.kill()  # SIGKILL: no handler, no atexit, nothing runs in the host
        host.proc.wait(timeout=10)
        took = _gone_within(groups, 5.0)
        print(f"actor processes gone {took:.2f}s after the host's SIGKILL")

        rt = make_runtime(store, base="tcp", config=RuntimeConfig(replay_policy=policy),
                          provider=ScriptedProvider(reply="fresh", count_file=str(count_file)))
        # The take-over replays the dead host's inboxes at once, as after an owner crash:
        # every acknowledged turn ends before any new turn is submitted.
        paths = [SessionStore(store).transcript_path(derived_session_id(key)) for key in KEYS]
        wait_for(lambda: set(facts["acknowledged"]) <= _ended(paths), 60, "the dead host's turns to be replayed")
        for key in KEYS:
            assert rt.submit(key, "after").result(timeout=60).status is TurnStatus.COMPLETED
        files = {Path(rt.session(key).file) for key in KEYS}
    finally:
        host.end(groups | host.groups())

    acknowledged = set(facts["acknowledged"])
    ends: dict[str, list[dict]] = {}
    for path in files:
        entries = read_entries(path)  # every line parses: nothing torn is left
        assert_no_interleaving(entries)
        for e in entries:
            if is_turn_end(e):
                ends.setdefault(e["turnId"], []).append(e["data"])
    runs = Counter(streams_started(count_file))
    for turn_id in acknowledged:
        assert len(ends.get(turn_id, [])) == 1, f"turn {turn_id} ended {len(ends.get(turn_id, []))} times"
        end = ends[turn_id][0]
        if policy == "requeue":
            assert end["status"] == TurnStatus.COMPLETED.value, end
            assert 1 <= runs[turn_id] <= 2, f"turn {turn_id} ran {runs[turn_id]} times"
        else:
            assert (end["status"], end["reason"]) == (TurnStatus.FAILED.value, OutcomeReason.OWNER_LOST.value), end
            assert runs[turn_id] <= 1, f"turn {turn_id} ran {runs[turn_id]} times"


def test_a_stopped_host_still_owns_its_store_and_a_second_runtime_is_refused_writing_nothing(
    make_runtime, tmp_path, count_file
):
    store = tmp_path / "store"
    host = Host(tmp_path, store, count_file, "requeue", KEYS[:1])
    groups: set[int] = set()
    try:
        groups = set(host.wait_ready()["roots"]) | host.groups()
        os.kill(host.proc.pid, signal.SIGSTOP)
        # Its actor system is frozen too, so that any change to the store is the newcomer's.
        for group in groups:
            os.killpg(group, signal.SIGSTOP)
        before = _snapshot(store)
        with pytest.raises(StoreInUseError) as refused:
            make_runtime(store, base="tcp")
        assert str(refused.value) == f"store in use by pid {host.proc.pid}"
        assert _snapshot(store) == before, "the refused runtime wrote to the store"
        assert process_group_members(groups), "the stopped host's system should still be there"
        for group in groups:
            os.killpg(group, signal.SIGCONT)
        os.kill(host.proc.pid, signal.SIGKILL)
        host.proc.wait(timeout=10)
        print(f"actor processes gone {_gone_within(groups, 5.0):.2f}s after the stopped host's SIGKILL")
    finally:
        host.end(groups | host.groups())


def _ended(paths: list[Path]) -> set[str]:
    """The ids of the turns with a ``turn_end`` entry in these transcripts (whole lines)."""
    ended = set()
    for path in paths:
        for line in path.read_bytes().split(b"\n")[:-1]:
            entry = json.loads(line)
            if is_turn_end(entry):
                ended.add(entry["turnId"])
    return ended


def _snapshot(store: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file of the store: size, mtime and bytes."""
    out = {}
    for path in sorted(store.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path)] = (st.st_size, st.st_mtime_ns, path.read_bytes())
    return out


def test_a_new_runtime_ends_the_leftovers_of_a_dead_host_by_group_and_start_time(make_runtime, tmp_path, count_file):
    # The host dies while its whole actor system is stopped, so the system cannot follow
    # it (the admin's watch cannot run): its processes, and their transcript locks, are
    # still there when the next runtime starts. That runtime must end them, then serve.
    store = tmp_path / "store"
    host = Host(tmp_path, store, count_file, "requeue", KEYS[:2])
    groups: set[int] = set()
    try:
        groups = set(host.wait_ready()["roots"]) | host.groups()
        for group in groups:
            os.killpg(group, signal.SIGSTOP)
        # A stop takes effect when each process next runs: beside CPU burners some were
        # still runnable ('R') when the host died, and a system not stopped follows its
        # host, as it should (seen: 1 run in 24, every process gone after the kill).
        wait_for(lambda: all(state.startswith("T") for state in _states(process_group_members(groups)).values()),
                 10, "every process of the stopped system to be stopped")
        stopped = _states(process_group_members(groups))
        host.proc.kill()
        host.proc.wait(timeout=10)
        leftovers = process_group_members(groups)
        assert leftovers, (f"the stopped system should have outlived its host; groups {groups}, "
                           f"before the kill {stopped}, the host's exit {host.proc.returncode}")
        rt = make_runtime(store, base="tcp", provider=ScriptedProvider(reply="fresh", count_file=str(count_file)))
        assert not process_group_members(groups), "the new runtime left the dead host's processes running"
        for key in KEYS[:2]:
            assert rt.submit(key, "after").result(timeout=60).status is TurnStatus.COMPLETED
        assert read_record(store).host_pid == os.getpid()
    finally:
        host.end(groups)


def test_when_the_admin_process_dies_every_actor_process_follows_it(make_runtime):
    # The parent-death signal: each actor process ends with the process that forked it,
    # so the owners and workers of a daemon (or of any host) follow its admin process.
    import psutil

    rt = make_runtime(base="tcp", provider=ScriptedProvider(reply="x" * 50, chunks=50, chunk_delay=0.1))
    handles = [rt.submit(key, "hi") for key in KEYS[:3]]
    assert all(h.wait_accepted(30) for h in handles)
    # Running, not only accepted: an owner started without a spare forks its worker once
    # its TurnAccepted is out.
    wait_for(lambda: all(rt.session(k).turn_id == h.turn_id for k, h in zip(KEYS[:3], handles, strict=True)), 30,
             "the three turns running")
    procs = process_group_members(rt._roots)
    admin = [p for p in procs if psutil.Process(p).ppid() not in procs]
    per_session = 1 if STREAM_IN == "owner" else 2  # an owner (and its worker)
    assert len(admin) == 1 and len(procs) >= 1 + 1 + per_session * 3, procs  # admin, logger, Directory, sessions
    os.kill(admin[0], signal.SIGKILL)
    print(f"actor processes gone {_gone_within(set(rt._roots), 5.0):.2f}s after the admin's SIGKILL")
