"""An owner told ``LeaseLost`` mid-stream (what a member's LeaseKeeper sends when the
leader falls silent): its running turn ends as ``lease_lost``, its queued turns stay in the
inbox for the next owner, and it lets go of the file.

Without the namespace bed: a test actor asks the Directory for the session's owner state,
and the owner's answer tells it the owner's address, to which it sends ``LeaseLost``
exactly as the keeper would. In one runtime the Directory then starts the successor at
once (the owner exited on its own), which is the next owner that must find the queued
turns and the file free.
"""

from __future__ import annotations

from pathlib import Path

import attrs
from conftest import read_entries, wait_for

from sessionward import ScriptedProvider
from sessionward.actors.base import GuardedActor
from sessionward.actors.lease_keeper import LeaseLost
from sessionward.actors.messages import ForStore, OwnerState, QueryOwnerState
from sessionward.actors.placement import epochs_in_order
from sessionward.outcomes import OutcomeReason
from sessionward.storage.entries import is_turn_end


@attrs.frozen
class CutLease:
    """To the test's actor: find ``session_key``'s owner through ``directory`` and send it
    ``LeaseLost``; answered with the owner's state as it was just before (carrying
    ``request_id``)."""

    request_id: str
    directory: object
    system_id: str | None
    """The runtime's system id: a request to a TCP system's Directory names it (``ForStore``)."""
    session_key: str


class LeaseCutter(GuardedActor):
    """Plays the member's LeaseKeeper for one owner."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._asker = None

    def receiveMsg_CutLease(self, msg: CutLease, sender) -> None:
        self._asker = sender
        query = QueryOwnerState(msg.request_id, msg.session_key, reply_to=self.myAddress)
        self.send(msg.directory, query if msg.system_id is None else ForStore(msg.system_id, query))

    def receiveMsg_OwnerState(self, msg: OwnerState, sender) -> None:
        if self._asker is None:
            # The Directory forwards a lost owner's recent requests to its successor, so
            # the query is answered a second time, by the successor: that one is ignored.
            return
        # The owner answers a state query itself: ``sender`` is its address.
        self.send(sender, LeaseLost("test: no heartbeat from the leader"))
        self.send(self._asker, msg)
        self._asker = None


def test_an_owner_that_loses_its_lease_mid_stream_ends_the_running_turn_and_leaves_the_queue_to_its_successor(
        make_runtime, base):
    # The first turn streams two chunks, then hangs until it is ended: it is mid-stream
    # for as long as the test needs. The others stream to the end.
    provider = ScriptedProvider(reply="r" * 8, chunks=4, chunk_delay=0.02, hang_after=2, only_when="first")
    rt = make_runtime(base=base, provider=provider)
    key = "agent:main:main"
    running = rt.submit(key, "first")
    wait_for(lambda: rt.session(key, history=False).state == "running", 30, "the first turn to stream")
    queued = [rt.submit(key, f"queued {i}") for i in range(2)]
    wait_for(lambda: rt.session(key, history=False).queue_depth == 2, 30, "two turns queued")
    path = Path(rt.session(key, history=False).file)

    cutter = rt._system.createActor(LeaseCutter)
    # Through the runtime's mailbox, which picks the answer out by its request id (the
    # submitters' outcomes arrive at the same address).
    before = rt._mailbox.ask(cutter, CutLease("cut-1", rt._directory, rt._mailbox._system_id, key), 30)
    assert isinstance(before, OwnerState) and before.turn_id == running.turn_id, before

    cut = running.result(timeout=30)
    assert (cut.status.value, cut.reason) == ("failed", OutcomeReason.LEASE_LOST), cut
    # The queued turns were left in the inbox, not failed: the successor (a new activation,
    # which had to take the file's lock first) replays and completes them.
    outcomes = [h.result(timeout=60) for h in queued]
    assert [o.status.value for o in outcomes] == ["completed", "completed"], outcomes
    after = rt.session(key, history=False)
    assert after.owner_epoch > before.owner_epoch

    entries = read_entries(path)
    assert epochs_in_order(entries)
    by_turn: dict[str, set[int]] = {}
    for e in entries:
        if "turnId" in e:
            by_turn.setdefault(e["turnId"], set()).add(e["ownerEpoch"])
    assert by_turn[running.turn_id] == {before.owner_epoch}, "the cut-off turn was written on by another owner"
    for outcome in outcomes:
        assert by_turn[outcome.turn_id] == {after.owner_epoch}, "a queued turn ran before the lease was lost"
    # Every turn ended once in the file: nothing is left for a later owner to replay.
    ends = [e["turnId"] for e in entries if is_turn_end(e)]
    assert sorted(ends) == sorted([running.turn_id, *(o.turn_id for o in outcomes)])
