"""Store paths and ports are checked before anything starts, each problem in one line."""

import os
import socket

import pytest

from sessionward.errors import InvalidPortError, PortInUseError, StoreUnusableError
from sessionward.hosting import system
from sessionward.hosting.preflight import check_port, check_store_path
from sessionward.hosting.system import free_port, local_port_range, ports_outside


def test_an_existing_directory_and_a_new_one_in_an_existing_parent_are_usable(tmp_path):
    assert check_store_path(tmp_path) == tmp_path
    assert check_store_path(tmp_path / "new") == tmp_path / "new"
    assert not (tmp_path / "new").exists(), "a check creates nothing"


def test_a_store_that_is_a_file_is_refused_in_one_line(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(StoreUnusableError, match=r"^store .*/f is not a directory$"):
        check_store_path(tmp_path / "f")


def test_a_store_whose_parent_is_missing_is_refused_in_one_line(tmp_path):
    with pytest.raises(StoreUnusableError, match=r"^store .* cannot be created: its parent .*/gone does not exist$"):
        check_store_path(tmp_path / "gone" / "store")


@pytest.mark.skipif(not os.path.exists("/proc/self"), reason="needs /proc")
def test_a_store_that_cannot_be_written_is_refused_in_one_line():
    # /proc/self refuses new files even to root, where a chmod would not stop a write.
    with pytest.raises(StoreUnusableError, match=r"^store /proc/self cannot be written: ") as info:
        check_store_path("/proc/self")
    assert "\n" not in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any directory")
def test_a_store_that_cannot_be_read_is_refused_in_one_line(tmp_path):
    store = tmp_path / "s"
    store.mkdir(mode=0o000)
    try:
        with pytest.raises(StoreUnusableError, match="cannot be read"):
            check_store_path(store)
    finally:
        store.chmod(0o700)


@pytest.mark.parametrize("port", [0, -1, 65536, 10**6])
def test_a_port_out_of_range_is_refused(port):
    with pytest.raises(InvalidPortError, match=rf"^port {port} is out of range \(1-65535\)$"):
        check_port(port)


def test_a_port_someone_listens_on_is_refused_and_a_free_one_is_not():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"^port {port} on 127.0.0.1 is in use"):
            check_port(port)
    free = free_port()
    assert check_port(free) == free


def test_a_listener_on_all_interfaces_holds_the_loopback_port_too():
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        with pytest.raises(PortInUseError):
            check_port(listener.getsockname()[1])


def test_a_runtime_on_a_file_or_a_used_port_raises_a_typed_error_and_starts_nothing(tmp_path):
    from sessionward import Runtime
    from sessionward.hosting.system import children

    before = children(os.getpid())
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(StoreUnusableError, match=r"is not a directory$"):
        Runtime(tmp_path / "a-file", base="tcp")
    with pytest.raises(InvalidPortError):
        Runtime(tmp_path / "store", base="tcp", port=65536)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(PortInUseError):
            Runtime(tmp_path / "store", base="tcp", port=listener.getsockname()[1])
    assert children(os.getpid()) == before, "a refused runtime started processes"
    assert not (tmp_path / "store" / "sessionward.system.json").exists()


# -- the admin port a runtime picks for itself (``hosting.system.free_port``) ----------------------


def test_a_picked_port_is_outside_the_range_the_system_hands_to_sockets_that_ask_for_none():
    # Thespian binds this process's own transport to port 0 just before its admin binds the
    # admin port: a port from that range could be handed to it, and the start would fail.
    low, high = local_port_range()
    for _ in range(20):
        assert not low <= free_port() <= high


@pytest.mark.parametrize(("low", "high", "expected"), [
    (32768, 60999, range(20480, 32768)),  # Linux's default: below it
    (49152, 65535, range(36864, 49152)),  # IANA's
    (1024, 60999, range(61000, 65536)),  # no room below: above
    (1024, 65535, range(0)),  # no room at all: the caller falls back to bind(0)
])
def test_ports_outside_the_handed_out_range_are_below_it_or_else_above_it(low, high, expected):
    assert ports_outside(low, high) == expected


def test_a_picked_port_in_use_is_passed_over_for_another():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        used = taken.getsockname()[1]
        low, high = local_port_range()
        outside = ports_outside(low, high)
        other = next(p for p in outside if p != used and _bindable(p))
        picks = iter([used, other])
        assert free_port(pick=lambda _start, _stop: next(picks)) == other


def test_with_no_room_outside_the_range_a_port_is_still_found(monkeypatch, tmp_path):
    ranges = tmp_path / "ip_local_port_range"
    ranges.write_text("1024\t65535\n")
    monkeypatch.setattr(system, "LOCAL_PORT_RANGE", ranges)
    port = free_port()
    assert check_port(port) == port


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
