"""The daemon, the admin client and every CLI command, end to end, and loopback-only listening."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import run_cli

from sessionward import RuntimeConfig
from sessionward.hosting.system import free_port, process_group_members
from sessionward.operations.admin import read_daemon_info


def listening_addresses(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state owned by one of ``pids``."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                addr_hex, port_hex = local.split(":")
                if len(addr_hex) == 8:
                    addr = ".".join(str(int(addr_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))
                else:
                    addr = "ipv6:" + addr_hex
                found.append((addr, int(port_hex, 16)))
    return found


def test_every_cli_command_works_against_a_running_daemon(daemon):
    store, _info = daemon
    s = str(store)
    # a second daemon on the same store is refused, clearly
    again = run_cli("start", "--store", s)
    assert again.returncode == 1 and "already runs" in again.stderr
    # turns submitted from a separate process through the Python client
    client = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        from sessionward.operations.admin import AdminClient
        with AdminClient({s!r}) as c:
            hs = [c.submit("agent:main:main", f"hello {{i}}", lane="channel:discord:general") for i in range(3)]
            print(",".join(h.result(timeout=60).status.value for h in hs))
    """)], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert client.returncode == 0, client.stderr
    assert client.stdout.strip() == "completed,completed,completed"

    status = run_cli("status", "--store", s)
    assert status.returncode == 0 and "live owners" in status.stdout
    assert json.loads(run_cli("status", "--store", s, "--json").stdout)["system"]["live_owners"] == 1

    table = run_cli("sessions", "--store", s)
    assert table.returncode == 0 and "agent:main:main" in table.stdout and "KEY" in table.stdout
    page = json.loads(run_cli("sessions", "--store", s, "--json").stdout)
    assert page["kind"] == "sessions_page" and page["total"] == 1
    assert page["sessions"][0]["session_key"] == "agent:main:main"

    one = run_cli("session", "agent:main:main", "--store", s)
    assert one.returncode == 0 and "3 completed" in one.stdout
    detail = json.loads(run_cli("session", "agent:main:main", "--store", s, "--json").stdout)
    assert detail["turns_completed"] == 3 and len(detail["history"]) == 3
    assert run_cli("session", "agent:main:nobody", "--store", s).returncode == 1

    abort = run_cli("abort", "agent:main:main", "--store", s)
    assert abort.returncode == 1 and "no turn is running" in abort.stdout
    cancel = run_cli("cancel", "agent:main:main", "--turn", "nope", "--store", s)
    assert cancel.returncode == 1

    tail = run_cli("tail", "agent:main:main", "--store", s, "--no-follow")
    assert tail.returncode == 0 and tail.stdout.count("user (channel:discord:general): hello") == 3

    actors = json.loads(run_cli("actors", "--store", s, "--json").stdout)
    spares = RuntimeConfig().spare_owners  # owners started before any session needs one
    assert actors["actors_by_class"]["SessionOwner"] == 1 + spares and actors["actors_by_class"]["Directory"] == 1
    assert "sessionward.directory" in run_cli("actors", "--store", s).stdout

    assert run_cli("session", "not a key", "--store", s).returncode == 2


def test_the_daemon_listens_on_loopback_only(daemon):
    _store, info = daemon
    pids = process_group_members(set(info.process_groups) | {info.pid})
    sockets = listening_addresses(pids)
    assert sockets, "found no listening sockets to check"
    assert all(addr == "127.0.0.1" for addr, _ in sockets), sockets
    assert info.port in {port for _, port in sockets}


def test_an_embedded_runtime_listens_on_loopback_only(make_runtime):
    rt = make_runtime(base="tcp")
    assert rt.submit("agent:main:main", "hi").result(timeout=30).reply
    sockets = listening_addresses(rt._processes())
    assert sockets and all(addr == "127.0.0.1" for addr, _ in sockets), sockets


def test_commands_report_an_unreachable_system_with_exit_code_3(tmp_path):
    for command in (["status"], ["sessions"], ["session", "agent:main:main"], ["stop"]):
        result = run_cli(*command, "--store", str(tmp_path / "nothing"))
        assert result.returncode == 3, (command, result.stderr)


def test_usage_errors_exit_with_code_2():
    assert run_cli("sessions", "--limit", "many").returncode == 2
    assert run_cli("bogus").returncode == 2


def test_the_daemon_config_file_is_read_with_every_section(tmp_path):
    from sessionward.errors import BadInputError
    from sessionward.operations.daemon import load_daemon_config

    path = tmp_path / "sessionward.toml"
    path.write_text(textwrap.dedent("""
        [runtime]
        durability = "entry"
        [runtime.recovery]
        recovery_tick = 2.0
        stall_after = 10.0
        [provider]
        factory = "sessionward.providers.scripted:ScriptedProvider"
        kwargs = { reply = "hi" }
        [cluster]
        member = "m2"
        join = "127.0.0.1:1900"
        pins = { "agent:ops:*" = "m2" }
    """))
    settings = load_daemon_config(path)
    assert settings.runtime.durability.value == "entry" and settings.runtime.recovery.stall_after == 10.0
    assert settings.provider.kwargs == {"reply": "hi"}
    assert settings.cluster.member == "m2" and settings.cluster.join == "127.0.0.1:1900"
    assert settings.cluster.pins == (("agent:ops:*", "m2"),)
    path.write_text("[clusterr]\nmember = 'x'\n")
    with pytest.raises(BadInputError, match="clusterr"):
        load_daemon_config(path)


# -- one store, one actor system, one port (issue 13) ----------------------------------------


def _one_line(result: subprocess.CompletedProcess) -> str:
    text = result.stderr.strip()
    assert text and "\n" not in text, f"expected one line, got {result.stderr!r}"
    return text


def test_a_second_daemon_on_a_used_port_is_refused_in_one_line_and_the_first_still_serves(daemon, tmp_path):
    store, info = daemon
    other = tmp_path / "other"
    again = run_cli("start", "--store", str(other), "--port", str(info.port))
    assert again.returncode != 0
    assert _one_line(again) == f"sessionward: port {info.port} on 127.0.0.1 is in use (Address already in use)"
    assert read_daemon_info(other) is None
    # stop names a store: the other store has no daemon, and the first one is untouched
    assert run_cli("stop", "--store", str(other)).returncode == 3
    done = run_cli("submit", "agent:main:main", "still here", "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"


def test_a_port_held_by_another_program_is_refused_in_one_line_within_5_seconds(tmp_path):
    import socket
    import time

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        started = time.monotonic()
        result = run_cli("start", "--store", str(tmp_path / "store"), "--port", str(port))
        took = time.monotonic() - started
    assert result.returncode == 1
    assert _one_line(result).startswith(f"sessionward: port {port} on 127.0.0.1 is in use")
    assert took < 5, f"took {took:.1f}s"


def test_the_daemon_itself_refuses_a_used_port_in_one_line(tmp_path):
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "sessionward.operations.daemon", "--store", str(tmp_path / "s"),
                                 "--port", str(port)], capture_output=True, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert _one_line(result).startswith(f"sessionward: port {port} on 127.0.0.1 is in use")


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_port_out_of_range_is_refused_in_one_line(tmp_path, port):
    result = run_cli("start", "--store", str(tmp_path / "store"), "--port", port)
    assert result.returncode == 2
    assert _one_line(result) == f"sessionward: port {port} is out of range (1-65535)"


def test_store_path_problems_are_one_line_each(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("not a store")
    for command in (["start", "--store", str(a_file)], ["demo", "--no-live", "--store", str(a_file)]):
        result = run_cli(*command)
        assert result.returncode == 2
        assert _one_line(result) == f"sessionward: store {a_file} is not a directory"
    missing = tmp_path / "missing" / "store"
    result = run_cli("start", "--store", str(missing))
    assert result.returncode == 2
    assert _one_line(result) == (f"sessionward: store {missing} cannot be created: "
                                 f"its parent {missing.parent} does not exist")


def test_a_request_that_names_another_store_is_refused(daemon, tmp_path):
    _store, info = daemon
    # Another store whose daemon record points at the first daemon's port (a copied or
    # stale record): its system id is not the one that daemon serves.
    other = tmp_path / "other"
    other.mkdir()
    (other / "daemon.json").write_text(json.dumps({"pid": info.pid, "port": info.port, "systemId": "f" * 32}))
    # A copied store carries the secret too (without it the request never gets that far).
    shutil.copytree(_store / ".sessionward", other / ".sessionward")
    result = run_cli("submit", "agent:main:main", "wrong", "--store", str(other))
    assert result.returncode == 1
    assert _one_line(result).startswith("sessionward: this actor system serves ")
    assert "not the store this request is for" in result.stderr
    # and stop --store other must not stop the first store's daemon, whose pid it names
    assert run_cli("stop", "--store", str(other)).returncode == 3
    assert run_cli("status", "--store", str(_store)).returncode == 0


# -- CLI habits (issue 16) ---------------------------------------------------------------------


GONE_ID = "0a1b2c3d-0000-4000-8000-000000000000"


@pytest.fixture
def blocking_daemon(tmp_path):
    """A daemon whose provider hangs on any text holding ``block`` (until aborted) and
    echoes the rest, so that what queues behind a blocker does not depend on timing.
    Its index names a transcript that is not there, for ``agent:main:gone``."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "sessions.json").write_text(json.dumps({"agent:main:gone": {"sessionId": GONE_ID}}))
    config = tmp_path / "sessionward.toml"
    config.write_text(textwrap.dedent("""
        [provider]
        factory = "sessionward.providers.scripted:ScriptedProvider"
        kwargs = { reply = "You said: {text}", hang_after = 0, only_when = "block" }
    """))
    started = run_cli("start", "--store", str(store), "--port", str(free_port()), "--config", str(config))
    assert started.returncode == 0, started.stderr
    info = read_daemon_info(store)
    try:
        yield store
    finally:
        run_cli("stop", "--store", str(store))
        assert not process_group_members(set(info.process_groups) | {info.pid}), "the daemon left processes behind"


def _submitter(store: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sessionward", "submit", "agent:main:main", *args,
                             "--store", str(store), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, stdin=subprocess.DEVNULL)


def _session_json(store: Path, key: str = "agent:main:main") -> dict:
    result = run_cli("session", key, "--store", str(store), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _wait_until(predicate, what: str, timeout: float = 60):
    """Ask again until ``predicate()`` returns something true: each ask is a full CLI
    round trip to the daemon (another process), so there is no event to await."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
    raise AssertionError(f"timed out waiting for {what}")


def test_submit_reads_its_text_from_stdin_and_from_a_file(daemon, tmp_path):
    store, _info = daemon
    piped = subprocess.run([sys.executable, "-m", "sessionward", "submit", "agent:main:main", "-",
                            "--store", str(store), "--json"], input="from stdin\nsecond line\n",
                           capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0, piped.stderr
    message = tmp_path / "message.txt"
    message.write_text("from a file ✓\n\n")
    filed = run_cli("submit", "agent:main:main", "--file", str(message), "--store", str(store))
    assert filed.returncode == 0, filed.stderr
    tail = run_cli("tail", "agent:main:main", "--store", str(store), "--no-follow").stdout
    assert "from stdin\nsecond line\n" in tail and "from a file ✓\n\n" in tail  # one final newline dropped
    assert "second line\n\n" not in tail and "✓\n\n\n" not in tail
    assert ": -" not in tail  # "-" was never sent as the literal text


def test_a_queued_turn_is_cancelled_by_the_id_that_session_json_shows(blocking_daemon):
    store = blocking_daemon
    blocker = _submitter(store, "block")
    running = _wait_until(lambda: _session_json(store).get("turn_id"), "the blocker to run")
    queued = _submitter(store, "queued behind", "--lane", "channel:discord:general")
    (turn,) = _wait_until(lambda: _session_json(store)["queued_turns"], "a queued turn")
    assert turn["lane"] == "channel:discord:general" and turn["mode"] == "followup"

    table = run_cli("session", "agent:main:main", "--store", str(store))
    assert table.returncode == 0 and "QUEUED TURNS" in table.stdout and turn["turn_id"] in table.stdout

    cancel = run_cli("cancel", "agent:main:main", "--turn", turn["turn_id"], "--store", str(store))
    assert cancel.returncode == 0, cancel.stdout
    out, _err = queued.communicate(timeout=60)
    assert queued.returncode == 5 and json.loads(out)["status"] == "cancelled"

    assert run_cli("abort", "agent:main:main", "--turn", running, "--store", str(store)).returncode == 0
    out, _err = blocker.communicate(timeout=60)
    assert blocker.returncode == 5 and json.loads(out)["reason"] == "aborted"
    done = run_cli("submit", "agent:main:main", "after", "--store", str(store))
    assert done.returncode == 0 and "You said: after" in done.stdout


def test_submit_exits_4_when_its_turn_fails(blocking_daemon):
    store = blocking_daemon
    # The index names a transcript that is not there: the turn fails (transcript_missing).
    failed = run_cli("submit", "agent:main:gone", "hello", "--store", str(store))
    assert failed.returncode == 4, (failed.stdout, failed.stderr)
    assert failed.stdout.startswith("failed ") and "(transcript_missing)" in failed.stdout


def test_submit_exits_6_when_no_outcome_comes_in_time(blocking_daemon):
    store = blocking_daemon
    late = run_cli("submit", "agent:main:main", "block", "--timeout", "0.5", "--store", str(store))
    assert late.returncode == 6 and "has no outcome after 0.5s" in late.stderr
    assert run_cli("abort", "agent:main:main", "--store", str(store)).returncode == 0


@pytest.mark.parametrize("command", [["session", "agent:main:main"], ["sessions"], ["status"], ["actors"]])
def test_output_into_a_closed_pipe_exits_quietly(daemon, command):
    store, _info = daemon
    assert run_cli("submit", "agent:main:main", "hi", "--store", str(store)).returncode == 0
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before a byte is written, as `| head` ends early
    try:
        result = subprocess.run([sys.executable, "-m", "sessionward", *command, "--store", str(store)],
                                stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=60,
                                stdin=subprocess.DEVNULL)
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert result.stderr == ""


def test_a_stopped_daemon_leaves_nothing_useless_in_its_store(tmp_path):
    store = tmp_path / "store"
    assert run_cli("start", "--store", str(store), "--port", str(free_port())).returncode == 0
    info = read_daemon_info(store)
    assert run_cli("submit", "agent:main:main", "hi", "--store", str(store)).returncode == 0
    assert run_cli("stop", "--store", str(store)).returncode == 0
    assert not process_group_members(set(info.process_groups) | {info.pid})
    # .sessionward/ holds the secret, kept so the next daemon and its clients share it
    assert sorted(p.name for p in store.iterdir()) == [".sessionward", "sessions", "sessions.json", "sessionward.log"]
    assert [p.name for p in (store / ".sessionward").iterdir()] == ["secret"]
