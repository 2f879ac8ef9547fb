"""Is a store's recorded host alive, and which processes are its leftovers? Pure rules."""

import pytest

from sessionward.hosting.ownership import START_TIME_SLACK, ProcessFacts, SystemRecord, host_alive, leftover_pids

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
