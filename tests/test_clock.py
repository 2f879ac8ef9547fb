"""The one clock actors read, and the fake one tests move by hand."""

from __future__ import annotations

import time

import pytest

from sessionward import clock


def test_the_default_clock_is_the_wall_clock():
    before = time.time()
    assert before <= clock.now() <= time.time()


def test_a_fake_clock_moves_only_when_told_and_is_restored_after_use():
    fake = clock.FakeClock(100.0)
    with clock.use(fake):
        assert clock.now() == 100.0
        assert fake.advance(30.0) == 130.0
        assert clock.now() == 130.0
    assert clock.now() > 1_000_000_000


def test_a_fake_clock_never_goes_back():
    with pytest.raises(ValueError):
        clock.FakeClock().advance(-1)


def test_the_offset_file_moves_the_system_clock_of_every_process_that_has_it(tmp_path, monkeypatch):
    offset = tmp_path / "offset"
    monkeypatch.setenv(clock.OFFSET_FILE_ENV, str(offset))
    assert abs(clock.SystemClock().now() - time.time()) < 1
    clock.advance_offset_file(offset, 3600)
    clock.advance_offset_file(offset, 60)
    assert 3659 < clock.SystemClock().now() - time.time() < 3661
