"""``KeptPollSelector``: a pass's selector answers as ``PollSelector`` does, and the poll
registrations are kept from one pass to the next (changed only by their difference)."""

from __future__ import annotations

import os
import selectors
import socket
import threading

import pytest

from sessionward.hosting import kept_selector
from sessionward.hosting.kept_selector import EVENT_READ, EVENT_WRITE, KeptPollSelector


@pytest.fixture
def pipes():
    made = [os.pipe() for _ in range(4)]
    yield made
    for r, w in made:
        for fd in (r, w):
            try:
                os.close(fd)
            except OSError:
                pass


def _select(sel, wanted: dict[int, int], timeout: float) -> dict[int, int]:
    """One loop pass as Thespian's: register what is wanted, select, close."""
    for fd, events in wanted.items():
        sel.register(fd, events)
    try:
        return {key.fd: events for key, events in sel.select(timeout)}
    finally:
        sel.close()


def _pass(wanted: dict[int, int], timeout: float = 0) -> dict[int, int]:
    return _select(KeptPollSelector(), wanted, timeout)


def _upstream(wanted: dict[int, int], timeout: float = 0) -> dict[int, int]:
    return _select(selectors.PollSelector(), wanted, timeout)


class _CountingPoll:
    """Wraps the thread's poll object and counts its register and unregister calls."""

    def __init__(self, poll) -> None:
        self._poll, self.changes = poll, 0

    def register(self, fd, mask):
        self.changes += 1
        return self._poll.register(fd, mask)

    def unregister(self, fd):
        self.changes += 1
        return self._poll.unregister(fd)

    def poll(self, ms):
        return self._poll.poll(ms)


def test_a_pass_reports_what_poll_selector_reports(pipes):
    os.write(pipes[0][1], b"x")
    os.write(pipes[2][1], b"x")
    a, b = socket.socketpair()
    try:
        wanted = {pipes[0][0]: EVENT_READ, pipes[1][0]: EVENT_READ, pipes[2][0]: EVENT_READ,
                  a.fileno(): EVENT_WRITE, pipes[3][1]: EVENT_READ | EVENT_WRITE}
        assert _pass(wanted) == _upstream(wanted)
        assert _pass(wanted)[pipes[0][0]] == EVENT_READ and pipes[1][0] not in _pass(wanted)
        assert _pass(wanted)[a.fileno()] == EVENT_WRITE
    finally:
        a.close()
        b.close()


def test_a_descriptor_wanted_last_pass_but_not_this_one_is_not_reported(pipes):
    os.write(pipes[0][1], b"x")
    assert pipes[0][0] in _pass({pipes[0][0]: EVENT_READ, pipes[1][0]: EVENT_READ})
    assert _pass({pipes[1][0]: EVENT_READ}) == {}


def test_passes_that_want_the_same_descriptors_change_no_registration(pipes, monkeypatch):
    wanted = {r: EVENT_READ for r, _ in pipes}
    _pass(wanted)  # the thread's poll object now holds them
    counting = _CountingPoll(kept_selector._kept.poll)
    monkeypatch.setattr(kept_selector._kept, "poll", counting)
    for _ in range(50):
        _pass(wanted)
    assert counting.changes == 0
    _pass({**wanted, pipes[0][1]: EVENT_WRITE})
    assert counting.changes == 1, "one descriptor more is one registration"
    _pass({pipes[1][0]: EVENT_READ})
    assert counting.changes == 1 + 4, "four descriptors fewer are four unregistrations"


def test_each_thread_keeps_its_own_registrations(pipes):
    os.write(pipes[0][1], b"x")
    assert pipes[0][0] in _pass({pipes[0][0]: EVENT_READ})
    seen: list[dict[int, int]] = []
    thread = threading.Thread(target=lambda: seen.append(_pass({pipes[1][0]: EVENT_READ})))
    thread.start()
    thread.join(5)
    assert seen == [{}]
    assert pipes[0][0] in _pass({pipes[0][0]: EVENT_READ}), "the other thread's pass changed this one's"


def test_a_descriptor_closed_since_the_last_pass_is_reported_as_poll_selector_does(pipes):
    r = pipes[0][0]
    _pass({r: EVENT_READ})
    os.close(r)
    assert _pass({r: EVENT_READ}) == _upstream({r: EVENT_READ}) == {r: EVENT_READ}  # POLLNVAL


def test_registering_one_descriptor_twice_or_with_no_events_is_refused_as_by_a_selector(pipes):
    sel = KeptPollSelector()
    sel.register(pipes[0][0], EVENT_READ)
    with pytest.raises(KeyError, match="already registered"):
        sel.register(pipes[0][0], EVENT_WRITE)
    with pytest.raises(ValueError, match="Invalid events"):
        sel.register(pipes[1][0], 0)
    with pytest.raises(ValueError, match="Invalid file descriptor"):
        sel.register(-1, EVENT_READ)


def test_registering_all_at_once_selects_as_registering_each(pipes):
    (r0, _), (r1, w1), (_, w2), _ = pipes
    os.write(w1, b"x")
    one_by_one = _pass({r0: EVENT_READ, r1: EVENT_READ, w2: EVENT_WRITE})
    sel = KeptPollSelector()
    sel.register_all([r0, r1], [w2])
    try:
        at_once = {key.fd: events for key, events in sel.select(0)}
    finally:
        sel.close()
    assert at_once == one_by_one == {r1: EVENT_READ, w2: EVENT_WRITE}


def test_registering_all_at_once_refuses_what_register_refuses(pipes):
    (r0, _), (r1, _), _, _ = pipes
    with pytest.raises(ValueError):  # Thespian's loop takes it as a bad descriptor
        KeptPollSelector().register_all([r0, -1], [])
    with pytest.raises(KeyError):
        KeptPollSelector().register_all([r0], [r0])
    with open(os.devnull) as f:  # a file object is taken by its descriptor, as register takes it
        sel = KeptPollSelector()
        sel.register_all([f], [r1])
        assert sel._wanted == {f.fileno(): EVENT_READ, r1: EVENT_WRITE}
