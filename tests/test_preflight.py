"""Store paths and ports are checked before anything starts, each problem in one line."""

import os
import socket

import pytest

from sessionward.errors import InvalidPortError, PortInUseError, StoreUnusableError
from sessionward.hosting.preflight import check_port, check_store_path
from sessionward.hosting.system import free_port


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
