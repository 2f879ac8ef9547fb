"""``sessionward doctor`` on real stores, broken each way, and on a healthy one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import attrs
import pytest

from sessionward import cli
from sessionward.hosting.claim import RECORD_NAME
from sessionward.hosting.ownership import SystemRecord
from sessionward.hosting.processes import process_facts

KEY = "agent:main:main"


@pytest.fixture(scope="module")
def healthy(tmp_path_factory) -> Path:
    """A healthy store made once, by a runtime in another process that has exited (so no
    transcript lock of an in-process owner outlives it): two sessions, a turn each."""
    root = tmp_path_factory.mktemp("healthy") / "store"
    made = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from sessionward import Runtime, ScriptedProvider
        with Runtime({str(root)!r}, provider=ScriptedProvider(reply="hi"), base="simple") as rt:
            for key in ({KEY!r}, "agent:main:other"):
                assert rt.submit(key, "hello").result(timeout=30).reply == "hi"
    """)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    return root


@pytest.fixture
def store(healthy, tmp_path) -> Path:
    """A copy of the healthy store, for this test to break."""
    return Path(shutil.copytree(healthy, tmp_path / "store"))


def transcript(store: Path, key: str = KEY) -> Path:
    index = json.loads((store / "sessions.json").read_text())
    return store / "sessions" / f"{index[key]['sessionId']}.jsonl"


def doctor(capsys, store: Path, *args: str) -> tuple[int, str]:
    code = cli.main(["doctor", "--store", str(store), *args])
    return code, capsys.readouterr().out


def report(capsys, store: Path, *args: str) -> tuple[int, dict]:
    code, out = doctor(capsys, store, "--json", *args)
    return code, json.loads(out)


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def test_a_healthy_store_is_fine(capsys, store):
    code, out = doctor(capsys, store)
    assert code == 0
    assert out.strip() == f"sessionward: the store {store.resolve()} is fine"
    code, data = report(capsys, store)
    assert code == 0 and data["fine"] is True and data["findings"] == [] and data["layout"] == "sessionward"


def test_an_index_entry_whose_transcript_is_missing_is_explained_and_fix_leaves_it(capsys, store):
    transcript(store).unlink()
    code, out = doctor(capsys, store)
    assert code == 1
    assert f"problem: missing_transcript: {KEY}" in out and f"sessionward new-transcript {KEY}" in out
    before = snapshot(store)
    code, out = doctor(capsys, store, "--fix")
    assert code == 1 and "fixing:" not in out and snapshot(store) == before


def test_a_transcript_without_an_index_entry_is_reported(capsys, store):
    stray = store / "sessions" / "stray-0001.jsonl"
    shutil.copy(transcript(store), stray)
    code, data = report(capsys, store)
    assert code == 1
    assert [(f["code"], f["subject"]) for f in data["findings"]] == [("unindexed_transcript", str(stray))]


def test_a_torn_tail_is_moved_aside_by_fix_exactly_as_printed(capsys, store):
    path = transcript(store)
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"type":"mess')
    code, out = doctor(capsys, store)
    assert code == 1 and f"--fix would: move the torn last 13 bytes of {path} to a .torn side file" in out
    code, out = doctor(capsys, store, "--fix")
    assert f"fixing: move the torn last 13 bytes of {path} to a .torn side file" in out
    assert code == 0 and "is fine (1 notes above)" in out, out
    assert path.read_bytes() == whole
    assert Path(f"{path}.torn").read_bytes() == b'{"type":"mess'
    _code, data = report(capsys, store)
    assert [f["code"] for f in data["findings"]] == ["torn_tail_kept"]


def test_unreadable_lines_are_reported_and_never_changed(capsys, store):
    path = transcript(store)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join([*lines[:2], b"this is not json", *lines[2:]]))
    before = snapshot(store)
    code, data = report(capsys, store, "--fix")
    assert code == 1 and data["fixed"] == []
    (finding,) = data["findings"]
    assert finding["code"] == "quarantined_lines" and "1 lines cannot be read" in finding["what"]
    assert snapshot(store) == before


def test_a_dead_hosts_record_and_leftover_processes_are_ended_by_fix(capsys, store):
    # A leftover actor process: alone in its own process group and session, as Thespian's are.
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    try:
        record = SystemRecord("0" * 32, str(store.resolve()), dead_pid(), 1.0, 1900, group=leftover.pid,
                              started_time=time.time() - 60)
        (store / RECORD_NAME).write_text(json.dumps(attrs.asdict(record)))
        code, data = report(capsys, store)
        assert code == 1
        assert [f["code"] for f in data["findings"]] == ["leftover_processes", "stale_record"]
        assert data["findings"][0]["fix"]["pids"] == [leftover.pid]
        assert leftover.poll() is None  # reporting ended nothing

        code, data = report(capsys, store, "--fix")
        assert code == 0 and data["findings"] == []
        assert [f["ok"] for f in data["fixed"]] == [True, True]
        assert leftover.wait(timeout=10) == -9
        assert not (store / RECORD_NAME).exists()
    finally:
        if leftover.poll() is None:
            leftover.kill()
            leftover.wait()


def test_a_store_served_by_a_live_system_is_noted_and_fix_changes_nothing(capsys, store):
    me = process_facts(os.getpid())
    record = SystemRecord("1" * 32, str(store.resolve()), me.pid, me.start_time, 4321)
    (store / RECORD_NAME).write_text(json.dumps(attrs.asdict(record)))
    path = transcript(store)
    path.write_bytes(path.read_bytes() + b"{torn")
    before = snapshot(store)
    code = cli.main(["doctor", "--store", str(store), "--fix"])
    out, err = capsys.readouterr()
    assert code == 1 and "--fix changed nothing" in err and "fixing:" not in out
    assert f"note: served: {store.resolve() / RECORD_NAME}" in out and "port 4321" in out
    assert snapshot(store) == before


def test_an_openclaw_state_directory_of_the_sqlite_era_is_a_problem(capsys, tmp_path):
    state = tmp_path / "openclaw"
    (state / "agents" / "main" / "agent").mkdir(parents=True)
    (state / "agents" / "main" / "agent" / "openclaw-agent.sqlite").write_bytes(b"SQLite format 3\x00")
    code, data = report(capsys, state)
    assert code == 1 and data["layout"] == "openclaw"
    (finding,) = data["findings"]
    assert finding["code"] == "openclaw_sqlite_era" and "openclaw-agent.sqlite" in finding["what"]


def test_stale_openclaw_locks_are_removed_by_fix_and_a_live_ones_kept(capsys, tmp_path):
    sessions = tmp_path / "openclaw" / "agents" / "main" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "s1.jsonl").write_text('{"type":"session","version":3,"id":"s1","timestamp":"2026-01-01T00:00:00Z",'
                                       '"cwd":"/"}\n')
    (sessions / "sessions.json").write_text(json.dumps({KEY: {"sessionId": "s1", "updatedAt": 1}}))
    lock = sessions / "sessions.json.lock"
    lock.write_text(json.dumps({"pid": dead_pid(), "createdAt": "2026-01-01T00:00:00.000Z"}))
    dead = sessions / "s1.jsonl.lock"  # openclaw's lock on one transcript, of a gone process
    dead.write_text(json.dumps({"pid": dead_pid(), "createdAt": "2026-01-01T00:00:00.000Z"}))
    live = sessions / "s2.jsonl.lock"  # an old one of a live process: never reported
    live.write_text(json.dumps({"pid": os.getpid(), "createdAt": "2026-01-01T00:00:00.000Z"}))
    code, data = report(capsys, tmp_path / "openclaw")
    assert code == 1
    assert [(f["code"], f["subject"]) for f in data["findings"]] == [("stale_lock", str(lock)),
                                                                       ("stale_lock", str(dead))]
    code, data = report(capsys, tmp_path / "openclaw", "--fix")
    assert code == 0 and not lock.exists() and not dead.exists()
    assert live.exists() and (sessions / "sessions.json").exists()


def test_doctor_reads_only(capsys, store):
    path = transcript(store)
    path.write_bytes(path.read_bytes() + b"{torn")
    (transcript(store, "agent:main:other")).unlink()
    before = snapshot(store)
    assert doctor(capsys, store)[0] == 1 and report(capsys, store)[0] == 1
    assert snapshot(store) == before


def test_a_missing_store_is_reported_and_not_created(capsys, tmp_path):
    code, out = doctor(capsys, tmp_path / "nowhere")
    assert code == 1 and "no_store" in out and not (tmp_path / "nowhere").exists()
