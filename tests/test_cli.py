"""The CLI's own habits, without an actor system: arguments, help, exit codes, input."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest

from sessionward import cli


def _cli(*args: str, stdin: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sessionward", *args], capture_output=True, input=stdin,
                          timeout=timeout)


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def test_every_argument_of_every_command_has_help_text():
    missing = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, sub in _subparsers(cli.build_parser()).items()
        for action in sub._actions
        if not action.help
    ]
    assert missing == []


def test_the_help_epilog_lists_every_exit_code_in_order():
    epilog = cli.build_parser().epilog
    assert [int(line.split()[0]) for line in epilog.splitlines()[1:]] == list(range(7))
    assert "completed" in epilog and "cancelled" in epilog and "failed" in epilog


@pytest.mark.parametrize(("status", "code"), [("completed", 0), ("failed", 4), ("cancelled", 5)])
def test_submit_exits_with_a_code_that_reflects_the_turns_outcome(status, code):
    assert cli.submit_exit_code(status) == code


@pytest.mark.parametrize(("args", "message"), [
    (["sessions", "--offset", "-1"], "-1 is out of range (must be 0 or more)"),
    (["sessions", "--limit", "0"], "0 is out of range (must be from 1 to 1000)"),
    (["sessions", "--limit", "1001"], "1001 is out of range"),
    (["tail", "agent:main:main", "--lines", "-5"], "-5 is out of range"),
    (["sessions", "--offset", "two"], "'two' is not a whole number"),
])
def test_counts_out_of_range_are_usage_errors(args, message, tmp_path):
    result = _cli(*args, "--store", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr.decode()


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["-"], b"", "message is empty"),
    (["-"], b" \n\t \n", "message is empty"),
    (["   "], b"", "message is empty"),
    (["-"], b"\xff\xfe", "not valid UTF-8"),
    ([], b"", "one of them"),
    (["hi", "--file", "x"], b"", "one of them"),
    (["--file", "/nonexistent/message.txt"], b"", "cannot read --file"),
    (["hi", "--lane", "no such lane!"], b"", "lane name 'no such lane!' contains whitespace"),
    (["hi", "--lane", "direct::x"], b"", "has an empty part"),
])
def test_bad_submit_input_is_refused_with_exit_2_before_any_system_is_looked_for(args, stdin, message, tmp_path):
    result = _cli("submit", "agent:main:main", *args, "--store", str(tmp_path / "no-daemon"), stdin=stdin)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr.decode()
    assert not (tmp_path / "no-daemon").exists()


def test_a_message_too_large_for_an_argument_list_is_read_from_a_file_and_checked(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"a" * (10 * 1024 * 1024))  # 10 MB: "Argument list too long" as TEXT
    result = _cli("submit", "agent:main:main", "--file", str(big), "--store", str(tmp_path))
    assert result.returncode == 2
    assert "message is 10485760 bytes; the limit is 1048576" in result.stderr.decode()


def test_valid_stdin_text_gets_as_far_as_looking_for_the_daemon(tmp_path):
    result = _cli("submit", "agent:main:main", "-", "--store", str(tmp_path), stdin="héllo\n".encode())
    assert result.returncode == 3 and "no daemon record" in result.stderr.decode()


def test_a_closed_pipe_ends_a_command_quietly_with_exit_0(tmp_path):
    (tmp_path / "sessions").mkdir()
    for i in range(2000):  # more output than a pipe buffer holds
        (tmp_path / "sessions" / f"stray-{i:04}.jsonl").write_bytes(b"")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone, as when `| head` has read its lines
    try:
        result = subprocess.run([sys.executable, "-m", "sessionward", "doctor", "--store", str(tmp_path)],
                                stdout=write_end, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(write_end)
    assert result.returncode == 0
    assert result.stderr == b""
