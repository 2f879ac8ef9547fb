"""Three members of one Thespian convention on loopback; one is SIGKILLed mid-stream."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import pytest
from conftest import STREAM_IN, read_entries, run_cli, wait_for

from sessionward.actors.placement import epochs_in_order
from sessionward.errors import UnavailableError
from sessionward.hosting.system import free_port, process_group_members
from sessionward.operations.admin import AdminClient, read_daemon_info
from sessionward.outcomes import TurnStatus

LANES = ["main", "heartbeat", "channel:discord:general", "channel:slack:ops", "direct:telegram:alice", "cron:nightly"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, timeout=90)  # three daemons start and stop on 2 cores


def _sigkill_member(info) -> None:
    """SIGKILL a member as a crash would: every process of it at once, one ``killpg`` per
    process group. Killed one pid at a time, a worker could die before its owner, which
    then failed the turn ("the turn worker exited", seen once in 12 runs) before it died."""
    for pgid in {info.pid, *info.process_groups}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def convention(tmp_path):
    store = tmp_path / "shared-store"
    config = tmp_path / "sessionward.toml"
    config.write_text('[provider]\nfactory = "sessionward.providers.scripted:ScriptedProvider"\n'
                      'kwargs = { reply = "reply to {text}", chunks = 12, chunk_delay = 0.05 }\n'
                      + (f'[runtime]\nstream_in = "{STREAM_IN}"\n' if STREAM_IN else ""))
    leader_port = free_port()
    started = [_cli("start", "--store", str(store), "--port", str(leader_port), "--member", "m1",
                    "--convention-period", "60", "--config", str(config))]
    for name in ("m2", "m3"):
        started.append(_cli("start", "--store", str(store), "--port", str(free_port()), "--member", name,
                            "--join", f"127.0.0.1:{leader_port}", "--convention-period", "60",
                            "--config", str(config)))
    infos = [read_daemon_info(store), read_daemon_info(store, "daemon.m2.json"),
             read_daemon_info(store, "daemon.m3.json")]
    try:
        assert all(r.returncode == 0 for r in started), [r.stderr for r in started]
        yield store, infos
    finally:
        for args in (["--member", "m3"], ["--member", "m2"], []):
            _cli("stop", "--store", str(store), *args)
        groups = {g for info in infos if info for g in (*info.process_groups, info.pid)}
        left = process_group_members(groups)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left behind: {sorted(left)}"


# A turn streaming on a *surviving* member used to stop after another member was SIGKILLed
# (about 1 run in 5) and end only when the daemons stopped: its worker slept through its
# pump timer, a Thespian bug unrelated to the member loss, now worked around in
# sessionward.hosting.system (docs/thespian-repro/). No rerun: a failure here is a bug to find.
def test_a_member_killed_mid_stream_loses_nothing_and_no_file_ever_had_two_owners(convention):
    store, (leader, _m2, m3) = convention
    with AdminClient(store) as client:
        wait_for(lambda: set(client.status().members) == {"m1", "m2", "m3"}, 30, "three members")
        handles = []
        for i in range(30):
            key = f"agent:main:room{i:02d}"
            for j in range(2):
                handles.append(client.submit(key, f"t{i}-{j}", lane=LANES[(i + j) % len(LANES)]))
        # sessions() lists live owners only: an owner still activating on another member
        # is not in it yet (CI once listed 3 of 30, all on the leader's spares). Wait for
        # every session to be placed, then check the placement spans the three members.
        placed: dict[str, str] = {}

        def all_placed() -> bool:
            placed.clear()
            placed.update({s.session_key: s.member for s in client.sessions(limit=100)})
            return len(placed) == 30

        wait_for(all_placed, 60, "the 30 sessions' owners to be live")
        assert set(placed.values()) == {"m1", "m2", "m3"}, placed
        wait_for(lambda: any(s.member == "m3" and s.state == "running" for s in client.sessions(limit=100)),
                  30, "a turn streaming on m3")
        _sigkill_member(m3)
        # Every outcome arrives, with no retry: one that died with m3's owner before it
        # left the process (1 run of 20 beside two CPU burners before) is sent again by the next owner.
        outcomes = [h.result(timeout=60) for h in handles]
        status = client.status()

        # Leader loss: a turn already streaming on m2 still finishes and reaches its client;
        # a new submit fails as unavailable instead of hanging; status says what happened.
        on_m2 = next(s.session_key for s in client.sessions(limit=100) if s.member == "m2")
        running = client.submit(on_m2, "still here", lane="direct:telegram:alice")
        wait_for(lambda: client.session(on_m2).state == "running", 30, "the m2 turn to start")
        _sigkill_member(leader)
        assert running.result(timeout=60).status is TurnStatus.COMPLETED
        client._mailbox._accept_timeout = 1.0
        # A session new to this client needs the Directory: it fails as unavailable. (The
        # client sends a known session's turns to its owner directly, test_direct_routing;
        # one alive on m2 may still answer them until its lease lapses.)
        with pytest.raises(UnavailableError):
            client.submit("agent:main:never-seen", "after the leader", lane="direct:telegram:alice").result(timeout=30)
    down = _cli("status", "--store", str(store))
    assert down.returncode == 3 and "leader is unreachable" in down.stderr and "m2" in down.stdout
    final = [o for o in outcomes if o.final]
    assert len(final) == len(handles)
    assert all(o.status is TurnStatus.COMPLETED or o.reason.value == "heartbeat_skipped" for o in final), \
        [(o.status.value, o.reason and o.reason.value, o.detail[:80]) for o in final
         if o.status is not TurnStatus.COMPLETED and o.reason.value != "heartbeat_skipped"]
    assert set(status.members) == {"m1", "m2"}
    assert status.rehomed_sessions >= 1 and status.last_rehome_seconds is not None
    completed = {o.turn_id for o in final if o.status is TurnStatus.COMPLETED}
    for path in (store / "sessions").glob("*.jsonl"):
        entries = read_entries(path)
        assert epochs_in_order(entries), f"{path.name}: a superseded owner wrote after its successor"
        replies = [e["turnId"] for e in entries if e.get("message", {}).get("role") == "assistant"
                   and e["message"].get("stopReason") == "stop"]
        assert len(replies) == len(set(replies)), f"{path.name}: a reply was written twice"
        completed -= set(replies)
    assert not completed, "completed turns whose reply is not in any transcript"
