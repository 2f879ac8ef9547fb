"""The transcript file: lock, torn-line repair, fence check, appends."""

import json
import os
from pathlib import Path

import pytest

from sessionward.errors import CorruptTranscriptError, FencedError, SessionOwnedElsewhereError
from sessionward.storage import entries as E
from sessionward.storage.transcript import Durability, TranscriptFile


def _open(path, durability=Durability.ENTRY):
    return TranscriptFile.open(path, header=E.header("s1", cwd="/tmp", now=0.0), durability=durability)


def _user(tf, text="hi"):
    return E.user_entry(text, turn_id="t1", lane="direct", ids=tf.ids, parent_id=tf.leaf_id, now=1.0)


def test_a_new_file_starts_with_a_v3_header(tmp_path):
    tf, report = _open(tmp_path / "s1.jsonl")
    tf.close()
    header = json.loads((tmp_path / "s1.jsonl").read_bytes())
    assert report.created and header["type"] == "session" and header["version"] == 3


def test_a_second_open_of_a_locked_file_is_refused(tmp_path):
    tf, _ = _open(tmp_path / "s1.jsonl")
    try:
        with pytest.raises(SessionOwnedElsewhereError):
            _open(tmp_path / "s1.jsonl")
    finally:
        tf.close()
    again, _ = _open(tmp_path / "s1.jsonl")  # released on close
    again.close()


def test_a_torn_last_line_moves_to_a_sidecar_without_losing_bytes(tmp_path):
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path)
    tf.append([_user(tf)])
    tf.close()
    whole = path.read_bytes()
    torn = b'{"type":"message","id":"abcd'
    path.write_bytes(whole + torn)
    tf, report = _open(path)
    tf.close()
    assert path.read_bytes() == whole
    assert report.torn_bytes == len(torn)
    assert Path(report.torn_sidecar).read_bytes() == torn


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path)
    entry = _user(tf)
    tf.close()
    path.write_bytes(path.read_bytes() + json.dumps(entry).encode())
    tf, report = _open(path)
    assert report.torn_bytes == 0 and tf.entries[-1]["id"] == entry["id"]
    tf.close()
    assert path.read_bytes().endswith(b"}\n")


def test_an_outside_append_fences_the_next_append_and_writes_nothing(tmp_path):
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path)
    tf.append([_user(tf)])
    with open(path, "ab") as f:
        f.write(b'{"type":"custom","id":"0000beef"}\n')
    before = path.read_bytes()
    with pytest.raises(FencedError):
        tf.append([_user(tf, "again")])
    tf.close()
    assert path.read_bytes() == before


def test_an_outside_append_racing_an_append_fences_the_session(tmp_path, monkeypatch):
    # The owner's TurnAccepted can reach the client while the owner is still in the handler
    # that appends the turn's first entry, so an outside write can land between the fence
    # check and the owner's write. It used to be folded into the owner's new fingerprint.
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path)
    tf.append([_user(tf)])
    outside = b'{"type":"custom","id":"0000beef"}\n'
    real_write = os.write

    def write_after_an_outside_append(fd, data):
        with open(path, "ab") as f:
            f.write(outside)
        monkeypatch.setattr(os, "write", real_write)
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write_after_an_outside_append)
    with pytest.raises(FencedError):
        tf.append([_user(tf, "racing")])
    with pytest.raises(FencedError):
        tf.append([_user(tf, "after")])
    tf.close()
    assert outside in path.read_bytes() and b"after" not in path.read_bytes()


def test_replacing_the_file_by_rename_is_detected(tmp_path):
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path)
    other = tmp_path / "other.jsonl"
    other.write_bytes(path.read_bytes())
    os.replace(other, path)
    with pytest.raises(FencedError):
        tf.append([_user(tf)])
    tf.close()


def test_a_file_without_a_header_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "s1.jsonl"
    data = b'{"type":"message","id":"aaaaaaaa"}\n'
    path.write_bytes(data)
    with pytest.raises(CorruptTranscriptError):
        _open(path)
    assert path.read_bytes() == data


def test_corrupt_lines_are_kept_in_the_file_and_quarantined(tmp_path):
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path)
    tf.append([_user(tf)])
    tf.close()
    path.write_bytes(path.read_bytes() + b"\xff\xfe not json\n")
    tf, report = _open(path)
    tf.close()
    assert report.bad_lines == 1
    assert b"\xff\xfe not json" in path.read_bytes()
    quarantined = [json.loads(line) for line in Path(report.quarantine).read_text().splitlines()]
    assert quarantined[0]["lineNo"] == 3


def test_each_append_is_one_write_of_whole_lines(tmp_path):
    path = tmp_path / "s1.jsonl"
    tf, _ = _open(path, Durability.NEVER)
    first = _user(tf, "a")
    tf.append([first])
    second = E.user_entry("b\nwith newline", turn_id="t2", lane="x", ids=tf.ids, parent_id=tf.leaf_id, now=2.0)
    tf.append([second])
    tf.close()
    lines = path.read_bytes().split(b"\n")
    assert len(lines) == 4 and lines[-1] == b""
    assert json.loads(lines[2])["message"]["content"][0]["text"] == "b\nwith newline"
