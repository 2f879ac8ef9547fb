"""A rogue client on a fourth "host" (its own network namespace on the bed's bridge, not a
member): its crafted pickle runs nothing on the leader or a member, each logs one line,
and the convention still serves turns; with ``--allow`` covering only the members'
addresses, the same host is refused at accept.

``tests/rogue_client.py`` holds no secret and imports nothing from sessionward; if a
receiver unpickled its frame, the receiver would create the marker file (on the shared
file system, so the test sees it whichever namespace made it). ``tests/test_transport.py``
shows the same frame does create it in a system without a secret, so these checks can fail.

Each bed is started once per module (a start costs seconds): one without an allow-list,
one with. Runs as root with ``ip``; skipped with the reason elsewhere.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import wait_for

from benchmarks import partition
from benchmarks.netns_bed import PORT, Bed, unavailable
from sessionward.hosting import frames

WHY = unavailable()
pytestmark = pytest.mark.skipif(WHY is not None, reason=f"namespace bed unavailable: {WHY}")

ROGUE = Path(__file__).parent / "rogue_client.py"
ROGUE_HOST = "rogue"
REJECTED = "sessionward.transport session=- turn=-: rejected a frame from "


def _rejections(bed: Bed, member: str) -> set[str]:
    """The rejection lines logged by ``member``'s processes, wherever they were written.

    Thespian forwards a member's warnings to the convention leader's logger, so a member's
    line is in its own log (``sessionward.<member>.log``) and again in the leader's
    (``sessionward.log``): one event, two copies. Lines are told apart by the ``pid=`` of
    the process that logged them, which runs in its member's namespace. No file may hold
    the same event twice.
    """
    pids = bed.pids(member)
    lines: set[str] = set()
    for log in bed.store.glob("sessionward*.log"):
        here = []
        for line in log.read_text(errors="replace").splitlines():
            pid = re.search(r" pid=(\d+) ", line)
            if REJECTED in line and pid and int(pid.group(1)) in pids:
                here.append(line)
        assert len(here) == len(set(here)), f"{log.name} holds one line twice: {here}"
        lines.update(here)
    return lines


def _rogue(bed: Bed, target: str, marker: Path) -> dict:
    """Run the rogue client in the fourth namespace against ``target``'s port."""
    done = bed.run_in(ROGUE_HOST, [sys.executable, str(ROGUE), bed.address(target), str(PORT), str(marker)],
                      timeout=60)
    outcome = json.loads(done.stdout)
    assert done.returncode == outcome["exit"], (done.returncode, done.stdout, done.stderr)
    return outcome


def _await_one_line(bed: Bed, member: str, reason: str) -> str:
    # The line is written by the member's logger process into a file on the shared store:
    # there is no event to await across namespaces and processes, so the file is polled,
    # with a deadline (conftest.wait_for).
    lines = wait_for(lambda: _rejections(bed, member), 30, f"{member}'s rejection line")
    assert len(lines) == 1, lines
    [line] = lines
    assert f"from {bed.address(ROGUE_HOST)}:" in line and reason in line, line
    return line


def _submit_completes(bed: Bed, client_host: str, key: str) -> None:
    """One submit through the CLI, run on ``client_host`` with the store's secret (the CLI
    runs on the leader's host: its own actor system binds the daemon's address)."""
    done = bed.sessionward(client_host, "submit", "--store", str(bed.store), key, "hello", "--timeout", "60")
    assert done.returncode == 0 and done.stdout.startswith("completed "), (done.stdout, done.stderr)


def _members_listed(bed: Bed) -> set[str]:
    done = bed.sessionward(bed.members[0], "status", "--store", str(bed.store), "--json")
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout)["system"]["members"])


def _bed(root: Path, *, allow_members_only: bool) -> Iterator[Bed]:
    with Bed(root) as bed:
        bed.add_namespace(ROGUE_HOST)
        allow = ",".join(f"{bed.address(m)}/32" for m in bed.members) if allow_members_only else ""
        bed.start(partition.config_text(chunk_delay=0.0, chunks=2), allow=allow)
        wait_for(lambda: _members_listed(bed) == set(bed.members), 60, "every member in the convention")
        yield bed


@pytest.fixture(scope="module")
def open_bed(tmp_path_factory) -> Iterator[Bed]:
    """Three members without an allow-list, and the rogue host beside them."""
    yield from _bed(tmp_path_factory.mktemp("rogue-bed"), allow_members_only=False)


@pytest.fixture(scope="module")
def allow_bed(tmp_path_factory) -> Iterator[Bed]:
    """Three members allowing only the members' three addresses."""
    yield from _bed(tmp_path_factory.mktemp("allow-bed"), allow_members_only=True)


def test_a_rogue_pickle_from_a_fourth_host_runs_nothing_on_the_leader_or_a_member_and_each_logs_one_line(
        open_bed):
    bed = open_bed
    marker = bed.root / "marker-open"
    for target in ("m1", "m2"):
        outcome = _rogue(bed, target, marker)
        assert outcome["result"] == "rejected", (target, outcome)
        _await_one_line(bed, target, frames.REASON_NO_MAC)
    assert not _rejections(bed, "m3"), "a member the rogue never contacted logged a rejection"
    # The convention still serves turns to a client with the secret.
    _submit_completes(bed, "m1", "agent:main:after-rogue")
    assert not marker.exists(), "a rogue frame was unpickled"
    assert [len(_rejections(bed, m)) for m in bed.members] == [1, 1, 0]


def test_members_allowing_only_each_other_refuse_a_fourth_host_at_accept_and_still_serve(allow_bed):
    bed = allow_bed
    marker = bed.root / "marker-allow"
    for target in ("m1", "m2"):
        outcome = _rogue(bed, target, marker)
        # Refused before a byte was read: the notice may or may not arrive before the close.
        assert outcome["exit"] == 0, (target, outcome)
        _await_one_line(bed, target, frames.REASON_NOT_ALLOWED)
    # The members reached each other through the lists (the convention formed), and serve.
    assert _members_listed(bed) == set(bed.members)
    _submit_completes(bed, "m1", "agent:main:behind-the-list")
    assert not marker.exists(), "a rogue frame was unpickled"
    assert [len(_rejections(bed, m)) for m in bed.members] == [1, 1, 0]
