"""Is a store's recorded host alive, and which processes are its leftovers? Pure rules."""

import pytest

from sessionward.hosting.ownership import (
    START_TIME_SLACK,
    ProcessFacts,
    SystemRecord,
    host_alive,
    leftover_pids,
    same_process,
)

RECORD = SystemRecord("sys1", "/s", host_pid=100, host_start_time=1000.0, port=5000, group=200,
                      started_time=1001.0)


def test_the_host_is_alive_when_a_process_has_its_pid_and_start_time():
    assert host_alive(RECORD, ProcessFacts(100, 1000.0 + START_TIME_SLACK / 2, 1, 1))


def test_the_host_is_dead_when_no_process_has_its_pid():
    assert not host_alive(RECORD, None)


def test_the_host_is_dead_when_its_pid_was_reused_by_a_later_process():
    assert not host_alive(RECORD, ProcessFacts(100, 1500.0, 1, 1))


def test_leftovers_are_the_younger_processes_of_the_recorded_group_and_session():
    processes = [
        ProcessFacts(201, 1001.5, 200, 200),  # an owner of the dead system
        ProcessFacts(202, 1002.0, 200, 200),  # its worker
        ProcessFacts(203, 998.0, 200, 200),  # older than the system: the pid numbers were reused
        ProcessFacts(204, 1002.0, 200, 300),  # same group number, another session
        ProcessFacts(205, 1002.0, 300, 300),  # another system entirely
    ]
    assert leftover_pids(RECORD, processes, own_pid=1) == [201, 202]


def test_the_caller_is_never_its_own_leftover():
    assert leftover_pids(RECORD, [ProcessFacts(201, 1001.5, 200, 200)], own_pid=201) == []


def test_a_record_without_a_process_group_has_no_leftovers():
    record = SystemRecord("sys1", "/s", 100, 1000.0, None)  # in-process base, or not started yet
    assert leftover_pids(record, [ProcessFacts(201, 1001.5, 0, 0)], own_pid=1) == []


def test_a_take_over_replays_the_sessions_whose_inbox_is_not_empty(tmp_path):
    from sessionward.storage.inbox import sessions_with_inboxes
    from sessionward.storage.store import SessionRecord, SessionStore, derived_session_id

    store = SessionStore(tmp_path)
    keys = ["agent:main:pending", "agent:main:done", "agent:main:alias"]
    ids = {k: derived_session_id(k) for k in keys[:2]}
    ids["agent:main:alias"] = ids["agent:main:pending"]  # a second key on the pending file
    store.save({k: SessionRecord(k, ids[k], 1.0, 1.0) for k in keys})
    (store.sessions_dir / f"{ids['agent:main:pending']}.jsonl.inbox").write_text('{"accepted": 1}\n')
    (store.sessions_dir / f"{ids['agent:main:done']}.jsonl.inbox").write_text("")
    assert sessions_with_inboxes(store) == ["agent:main:alias"]  # one key per file


def test_the_store_lock_is_a_flock_on_the_store_directory_and_leaves_no_file(tmp_path):
    import fcntl
    import os

    from sessionward.hosting.claim import claim_store, release_store, store_lock

    with store_lock(tmp_path):
        other = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    record, _old = claim_store(tmp_path, "a" * 32, None)
    assert [p.name for p in tmp_path.iterdir()] == ["sessionward.system.json"]
    release_store(tmp_path, record.system_id)
    assert list(tmp_path.iterdir()) == []


# A process's start, compared in clock ticks from boot where the system gives them. The
# dates below are 1.0 s apart: what a wall-clock step does to psutil's ``create_time``.
TICKED = SystemRecord("sys1", "/s", host_pid=100, host_start_time=1000.0, port=5000, group=200,
                      started_time=1001.0, host_start_ticks=50_000, boot_id="boot-a", started_ticks=50_100)


def test_the_host_is_alive_when_its_start_ticks_match_though_the_clock_moved_its_start_date():
    assert host_alive(TICKED, ProcessFacts(100, 1001.0, 1, 1, 50_000, "boot-a"))


def test_the_host_is_dead_when_its_pid_was_reused_within_the_start_date_slack():
    assert not host_alive(TICKED, ProcessFacts(100, 1000.0, 1, 1, 50_003, "boot-a"))


def test_the_host_is_dead_when_its_pid_and_ticks_come_from_another_boot():
    assert not host_alive(TICKED, ProcessFacts(100, 1000.0, 1, 1, 50_000, "boot-b"))


def test_a_record_written_without_ticks_is_compared_by_start_date():
    assert host_alive(RECORD, ProcessFacts(100, 1000.0, 1, 1, 50_000, "boot-a"))
    assert not host_alive(RECORD, ProcessFacts(100, 1001.0, 1, 1, 50_000, "boot-a"))


def test_leftovers_are_told_by_ticks_when_the_clock_was_stepped_back():
    processes = [
        ProcessFacts(201, 990.0, 200, 200, 50_150, "boot-a"),  # after the system, dated before it
        ProcessFacts(202, 1010.0, 200, 200, 40_000, "boot-a"),  # before the system, dated after it
        ProcessFacts(203, 1002.0, 200, 200, 50_099, "boot-a"),  # forked at the reading, truncated
        ProcessFacts(204, 1002.0, 200, 200, 60_000, "boot-b"),  # another boot
    ]
    assert leftover_pids(TICKED, processes, own_pid=1) == [201, 203]


def test_a_live_process_keeps_its_identity_when_the_boot_time_moves(monkeypatch):
    import os

    import psutil

    from sessionward.hosting import processes

    before = processes.process_facts(os.getpid())
    if before is None or before.start_ticks is None:
        pytest.skip("this system gives no start ticks")
    stepped = psutil.boot_time() + 1.0  # what /proc/stat's btime did here after a clock step
    monkeypatch.setattr(psutil, "boot_time", lambda: stepped)
    after = processes.process_facts(os.getpid())
    assert after is not None and after.start_time - before.start_time == pytest.approx(1.0)
    assert same_process(before, after)
    record = SystemRecord("sys1", "/s", before.pid, before.start_time, None,
                          host_start_ticks=before.start_ticks, boot_id=before.boot_id)
    assert host_alive(record, after)


def test_a_fork_starts_no_earlier_than_the_boot_clock_read_before_it():
    import os

    from sessionward.hosting import processes

    ticks = processes.boot_ticks()
    if ticks is None:
        pytest.skip("this system gives no start ticks")
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(write_end)
        os.read(read_end, 1)  # until the parent closes its end
        os._exit(0)
    os.close(read_end)
    try:
        facts = processes.process_facts(child)
        assert facts is not None and facts.start_ticks >= ticks
        assert facts.boot_id == processes.boot_id()
    finally:
        os.close(write_end)
        os.waitpid(child, 0)
