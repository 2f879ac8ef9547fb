"""Whole-file writes and the quarantine (sessionward/storage/files.py), on a temp directory."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from sessionward.storage import files


def _fsynced_paths(monkeypatch) -> list[str]:
    """Record the path behind every fd that ``files`` fsyncs."""
    seen: list[str] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        seen.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(files.os, "fsync", fsync)
    return seen


def test_write_atomically_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "index.json"
    target.write_bytes(b"old")
    files.write_atomically(target, b"new", mode=0o640)
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name fsynced fds")
def test_write_atomically_fsyncs_the_file_and_then_its_directory(tmp_path, monkeypatch):
    seen = _fsynced_paths(monkeypatch)
    files.write_atomically(tmp_path / "state.json", b"{}")
    assert len(seen) == 2
    assert Path(seen[0]).parent == tmp_path and Path(seen[0]).name.startswith(".state.json.")
    assert seen[1] == str(tmp_path)


def test_a_failed_atomic_write_keeps_the_old_file_and_removes_its_temp_file(tmp_path):
    target = tmp_path / "index.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        files.write_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json"]


def test_a_backup_never_overwrites_an_older_one(tmp_path):
    path = tmp_path / "s.jsonl"
    first = files.keep_backup(path, b"one", 1, 0o600)
    second = files.keep_backup(path, b"two", 1, 0o600)
    assert (first.name, second.name) == ("s.jsonl.v1.bak", "s.jsonl.v1.bak.1")
    assert (first.read_bytes(), second.read_bytes()) == (b"one", b"two")


def test_a_quarantine_record_has_the_shape_readers_expect():
    assert files.quarantine_record(3, b"{bad \xff", "bad_line", "not JSON") == {
        "lineNo": 3,
        "kind": "bad_line",
        "error": "not JSON",
        "raw": "{bad \udcff",
        "rawBase64": "e2JhZCD/",
    }


def test_the_quarantine_is_one_compact_line_per_record_beside_the_file(tmp_path):
    record = files.quarantine_record(2, b"oops", "torn_tail", "torn last line")
    qpath = files.append_quarantine(tmp_path / "s.jsonl", [record])
    assert qpath == tmp_path / "s.jsonl.quarantine.jsonl"
    assert qpath.read_bytes() == (
        b'{"lineNo":2,"kind":"torn_tail","error":"torn last line","raw":"oops","rawBase64":"b29wcw=="}\n'
    )


def test_a_line_already_quarantined_is_not_recorded_again(tmp_path):
    path = tmp_path / "s.jsonl"
    bad = files.quarantine_record(3, b"{", "bad_line", "not JSON")
    files.append_quarantine(path, [bad])
    other = files.quarantine_record(4, b"}", "bad_line", "not JSON")
    qpath = files.append_quarantine(path, [bad, other])
    assert [json.loads(line)["lineNo"] for line in qpath.read_bytes().splitlines()] == [3, 4]


def test_a_record_cut_short_is_ended_before_the_next_one(tmp_path):
    (tmp_path / "s.jsonl.quarantine.jsonl").write_bytes(b'{"lineNo":1')
    qpath = files.append_quarantine(tmp_path / "s.jsonl", [files.quarantine_record(5, b"x", "bad_line", "e")])
    lines = qpath.read_bytes().splitlines()
    assert lines[0] == b'{"lineNo":1' and json.loads(lines[1])["lineNo"] == 5
