"""Queue modes and lane priorities end to end: the reported incident, collect, steer,
interrupt and the queue cap, through the Runtime.

Many tests hold the session with a *blocker*: a turn whose stream hangs until it is
aborted (``ScriptedProvider(hang_after=0, only_when="block")``), so what queues behind it
does not depend on timing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from conftest import assert_no_interleaving, assert_one_parent_chain, read_entries

from sessionward import (
    DropPolicy,
    OutcomeReason,
    QueuePolicy,
    RuntimeConfig,
    ScriptedProvider,
    TurnStatus,
)
from sessionward.client import new_request_id
from sessionward.lanes.config import (
    AgentConfig,
    ChannelConfig,
    CronJobConfig,
    DirectConfig,
    HeartbeatConfig,
)
from sessionward.lanes.routing import route
from sessionward.lanes.timer_messages import QueryLaneStats, TickNow
from sessionward.storage.entries import assistant_text, is_turn_end

MAIN = "agent:main:main"


def entries_of(rt, key: str = MAIN) -> list[dict]:
    return read_entries(Path(rt.session(key).file))


def user_texts(entries: list[dict]) -> list[str]:
    return [e["message"]["content"][0]["text"] for e in entries if e.get("message", {}).get("role") == "user"]


def assistants(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e.get("message", {}).get("role") == "assistant"]


def runtime_with_queue(make_runtime, *, steering: bool = False, **policy):
    provider = ScriptedProvider(reply="got: {text}", hang_after=0, only_when="block", supports_steering=steering)
    return make_runtime(provider=provider, config=RuntimeConfig(queue=QueuePolicy(**policy)))


def start_blocker(rt, key: str = MAIN):
    """A running turn that holds the session until ``rt.abort``; returns its handle."""
    blocker = rt.submit(key, "block")
    assert blocker.wait_accepted(timeout=30)
    assert rt.session(key).turn_id == blocker.turn_id
    return blocker


def statuses(handle) -> list[tuple[str, str | None]]:
    return [(o.status.value, o.reason.value if o.reason else None) for o in handle.outcomes]


# --- the reported incident ---------------------------------------------------------------------


def test_a_heartbeat_streaming_on_main_delays_user_turns_without_interleaving_or_losing_any(make_runtime, base):
    """The incident: a heartbeat that shares ``agent:main:main`` streams while channel and
    direct messages for that file arrive. Each turn runs whole, users go next in priority
    order, everyone gets an outcome, and a heartbeat due meanwhile is skipped and counted."""
    agent = AgentConfig(
        dm_scope="main",
        heartbeat=HeartbeatConfig(every=3600, jitter=0, isolated_session=False, prompt="HEARTBEAT_OK"),
        channels=(ChannelConfig(type="slack", id="C1"),),
        directs=(DirectConfig(type="telegram"),),
        cron=(CronJobConfig(name="digest", every=86400, prompt="digest", session_key=MAIN),),
    )
    channel, direct = agent.channels[0].lane, agent.directs[0].lane("alice")
    channel_key = route(channel, agent)
    assert (route("heartbeat", agent), route(direct, agent)) == (MAIN, MAIN)
    rt = make_runtime(base=base, provider=ScriptedProvider(reply="{text}", chunks=10, chunk_delay=0.05))
    assert rt.bind(channel_key, MAIN).ok  # the mirrored main lane: one file, one owner
    rt.start_lanes([agent])
    heartbeat_lane, cron_lane = rt._lanes[("main", "heartbeat")], rt._lanes[("main", "cron")]

    def ask(lane, message):
        reply = rt._mailbox.ask(lane, message, 30)
        assert reply is not None
        return reply

    hb0, cron0 = rt.lane_stats()
    # The heartbeat is accepted (and, since it is admitted only into an idle session, runs).
    assert ask(heartbeat_lane, TickNow(new_request_id(), hb0.next_due_time)).running
    assert rt.session(MAIN).lane == "heartbeat"
    # While it streams: a cron run and three user messages arrive for the same file.
    assert ask(cron_lane, TickNow(new_request_id(), cron0.jobs[0].next_fire_time)).jobs[0].running
    handles = [rt.submit(channel_key, "channel one", lane=channel),
               rt.submit(MAIN, "direct one", lane=direct),
               rt.submit(channel_key, "channel two", lane=channel)]
    assert all(h.wait_accepted(timeout=30) for h in handles)
    assert [h.decision for h in handles] == ["queued"] * 3

    # The heartbeat ends; the owner starts the next turn as it delivers that outcome, so a
    # heartbeat due now finds the session busy with user turns.
    finished = ask(heartbeat_lane, QueryLaneStats(new_request_id(), wait_idle=True))
    assert (finished.acks, finished.delivered) == (1, 0)
    refused = ask(heartbeat_lane, TickNow(new_request_id(), finished.next_due_time))
    assert (refused.submitted, refused.skipped_busy, refused.running) == (2, 1, False)

    outcomes = [h.result(timeout=30) for h in handles]
    assert [o.status for o in outcomes] == [TurnStatus.COMPLETED] * 3
    assert [o.reply for o in outcomes] == ["channel one", "direct one", "channel two"]
    heartbeat, cron = rt.lane_stats(wait_idle=True)
    assert cron.jobs[0].completed == 1 and heartbeat.failed == 0

    state = rt.session(MAIN)
    assert state.heartbeats_skipped == 1
    assert state.turns_completed == 5 and state.queue_depth == 0
    entries = entries_of(rt)
    assert_no_interleaving(entries)
    assert_one_parent_chain(entries)
    # direct and channel first (in arrival order), then cron; the skipped heartbeat never ran
    assert user_texts(entries) == ["HEARTBEAT_OK", "channel one", "direct one", "channel two", "digest"]
    assert [assistant_text(e) for e in assistants(entries)] == user_texts(entries)


# --- collect ------------------------------------------------------------------------------------


def test_messages_collected_within_the_quiet_window_run_as_one_turn_and_a_later_one_runs_alone(make_runtime):
    rt = runtime_with_queue(make_runtime, collect_window=0.5)
    burst = [rt.submit(MAIN, text, mode="collect") for text in ("hi", "one more thing", "and also")]
    carrier = burst[0].result(timeout=30)
    assert carrier.status is TurnStatus.COMPLETED and carrier.mode_applied == "collect"
    assert carrier.reply == "got: hi\none more thing\nand also"
    for rider in burst[1:]:
        merged, final = rider.outcomes
        assert merged.status is TurnStatus.MERGED and merged.merged_into == carrier.turn_id
        assert final.status is TurnStatus.COMPLETED and final.turn_id == carrier.turn_id
        assert final.reply == carrier.reply and final.request_id == rider.request_id
    assert burst[0].outcomes == [carrier], "the carrier gets no merged outcome"

    # The buffer became a turn: a message arriving now starts a new buffer of its own.
    later = rt.submit(MAIN, "after the window", mode="collect").result(timeout=30)
    assert later.turn_id != carrier.turn_id and later.reply == "got: after the window"
    assert user_texts(entries_of(rt)) == ["hi\none more thing\nand also", "after the window"]


def test_a_collect_buffer_that_reaches_its_cap_runs_without_waiting_for_quiet(make_runtime):
    rt = runtime_with_queue(make_runtime, collect_window=600, collect_cap=3)
    handles = [rt.submit(MAIN, f"m{i}", mode="collect") for i in (1, 2, 3)]
    outcome = handles[0].result(timeout=30)  # a 600 s window would time this out
    assert outcome.reply == "got: m1\nm2\nm3"
    assert all(h.result(timeout=30).turn_id == outcome.turn_id for h in handles)


@pytest.mark.parametrize(
    ("policy", "carrier", "text", "dropped"),
    [
        (DropPolicy.OLD, "m3", "m3\nm4\nm5", ("m1", "m2")),
        (DropPolicy.NEW, "m1", "m1\nm2\nm3", ("m4", "m5")),
        (DropPolicy.SUMMARIZE, "m1", "[dropped] m1\n[dropped] m2\n[dropped] m3\nm4\nm5", ()),
    ],
)
def test_a_collect_buffer_over_its_cap_applies_its_drop_policy(make_runtime, policy, carrier, text, dropped):
    rt = runtime_with_queue(make_runtime, collect_window=600, collect_cap=3, drop_policy=policy)
    blocker = start_blocker(rt)
    handles = {f"m{i}": rt.submit(MAIN, f"m{i}", mode="collect") for i in range(1, 6)}
    assert all(h.wait_accepted(timeout=30) and h.decision == "collecting" for h in handles.values())
    assert rt.session(MAIN).queue_depth == 5
    assert rt.abort(MAIN, blocker.turn_id).ok

    final = handles[carrier].result(timeout=30)
    assert final.status is TurnStatus.COMPLETED and final.reply == f"got: {text}"
    for name, handle in handles.items():
        outcome = handle.result(timeout=30)
        if name in dropped:
            assert statuses(handle) == [("cancelled", "dropped")]
        elif name == carrier:
            assert handle.outcomes == [final]
        else:
            assert statuses(handle) == [("merged", None), ("completed", None)]
            assert handle.outcomes[0].merged_into == final.turn_id and outcome.turn_id == final.turn_id
    entries = entries_of(rt)
    assert user_texts(entries) == ["block", text]
    ends = {e["data"]["turnId"]: e["data"] for e in entries if is_turn_end(e)}
    assert sorted(ends[handles[name].turn_id]["reason"] for name in dropped) == ["dropped"] * len(dropped)
    assert_no_interleaving(entries)


# --- steer --------------------------------------------------------------------------------------


def test_a_steer_the_provider_cannot_take_falls_back_to_followup_and_says_so(make_runtime):
    rt = runtime_with_queue(make_runtime, steering=False)
    blocker = start_blocker(rt)
    steer = rt.submit(MAIN, "go left", mode="steer")
    assert steer.wait_accepted(timeout=30) and steer.decision == "queued"
    assert rt.abort(MAIN, blocker.turn_id).ok
    outcome = steer.result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED and outcome.mode_applied == "followup"
    assert outcome.turn_id != blocker.turn_id and outcome.reply == "got: go left"


def test_a_steer_with_no_turn_running_runs_as_a_followup(make_runtime):
    rt = runtime_with_queue(make_runtime, steering=True)
    outcome = rt.submit(MAIN, "alone", mode="steer").result(timeout=30)
    assert outcome.status is TurnStatus.COMPLETED and outcome.mode_applied == "followup"


def test_a_steer_reaches_the_running_turn_at_its_next_boundary(make_runtime):
    provider = ScriptedProvider(reply="x" * 20, chunks=20, chunk_delay=0.05, supports_steering=True)
    rt = make_runtime(provider=provider)
    streaming = threading.Event()
    running = rt.submit(MAIN, "long answer", on_delta=lambda text: streaming.set())
    assert streaming.wait(timeout=30)
    steer = rt.submit(MAIN, "turn left", mode="steer")
    assert steer.wait_accepted(timeout=30) and steer.decision == "steered"
    final = running.result(timeout=30)
    assert final.status is TurnStatus.COMPLETED and "[steer: turn left]" in final.reply
    merged, rider_final = steer.outcomes
    assert merged.status is TurnStatus.MERGED and merged.merged_into == running.turn_id
    assert merged.mode_applied == "steer"
    assert rider_final.turn_id == running.turn_id and rider_final.reply == final.reply
    entries = entries_of(rt)
    assert user_texts(entries) == ["long answer"], "a steer runs inside the running turn"
    assert "[steer: turn left]" in assistant_text(assistants(entries)[-1])


# --- interrupt ----------------------------------------------------------------------------------


def test_an_interrupt_closes_the_partial_message_as_aborted_and_runs_next(make_runtime):
    provider = ScriptedProvider(reply="partial reply", chunks=10, hang_after=3, only_when="long")
    rt = make_runtime(provider=provider)
    streaming = threading.Event()
    running = rt.submit(MAIN, "long task", on_delta=lambda text: streaming.set())
    assert streaming.wait(timeout=30), "the running turn has streamed a partial message"
    queued = rt.submit(MAIN, "queued before", lane="channel:slack:C1")
    assert queued.wait_accepted(timeout=30) and queued.decision == "queued"
    urgent = rt.submit(MAIN, "stop, do this", mode="interrupt", lane="direct:cli:bob")
    assert urgent.wait_accepted(timeout=30) and urgent.decision == "interrupting"

    interrupted = running.result(timeout=30)
    assert (interrupted.status, interrupted.reason) == (TurnStatus.CANCELLED, OutcomeReason.INTERRUPTED)
    assert urgent.result(timeout=30).status is TurnStatus.COMPLETED
    assert queued.result(timeout=30).status is TurnStatus.COMPLETED
    entries = entries_of(rt)
    assert user_texts(entries) == ["long task", "stop, do this", "queued before"]
    partial = [e for e in assistants(entries) if e["turnId"] == running.turn_id]
    assert len(partial) == 1 and partial[0]["message"]["stopReason"] == "aborted"
    assert assistant_text(partial[0]) and "partial reply".startswith(assistant_text(partial[0]))
    end = next(e["data"] for e in entries if is_turn_end(e) and e["data"]["turnId"] == running.turn_id)
    assert (end["status"], end["reason"]) == ("cancelled", "interrupted")
    assert_no_interleaving(entries)
    assert_one_parent_chain(entries)


# --- the queue cap ------------------------------------------------------------------------------


def test_a_turn_past_the_queue_cap_fails_busy_and_the_queued_ones_still_run(make_runtime):
    rt = runtime_with_queue(make_runtime, max_queued=2)
    blocker = start_blocker(rt)
    queued = [rt.submit(MAIN, f"q{i}") for i in (1, 2)]
    refused = rt.submit(MAIN, "one too many").result(timeout=30)
    assert (refused.status, refused.reason) == (TurnStatus.FAILED, OutcomeReason.BUSY)
    assert refused.turn_id == ""
    assert rt.abort(MAIN, blocker.turn_id).ok
    assert [h.result(timeout=30).reply for h in queued] == ["got: q1", "got: q2"]
    assert "one too many" not in user_texts(entries_of(rt))


# --- retries of merged submits ------------------------------------------------------------------


def test_a_retry_of_a_collected_message_still_waiting_gets_the_carriers_outcome(make_runtime):
    rt = runtime_with_queue(make_runtime, collect_window=600, collect_cap=2)
    blocker = start_blocker(rt)
    first = rt.submit(MAIN, "first", mode="collect", idempotency_key="k-first")
    second = rt.submit(MAIN, "second", mode="collect", idempotency_key="k-second")
    retry = rt.submit(MAIN, "second", mode="collect", idempotency_key="k-second")
    assert retry.wait_accepted(timeout=30) and retry.decision == "duplicate"
    assert retry.turn_id == second.turn_id
    assert rt.abort(MAIN, blocker.turn_id).ok
    carried = first.result(timeout=30)
    assert carried.reply == "got: first\nsecond"
    assert second.result(timeout=30).turn_id == carried.turn_id
    assert retry.result(timeout=10).turn_id == carried.turn_id


def test_a_retry_of_a_collected_message_after_its_turn_ended_gets_that_outcome(make_runtime):
    rt = runtime_with_queue(make_runtime, collect_window=600, collect_cap=2)
    first = rt.submit(MAIN, "first", mode="collect", idempotency_key="k-first")
    second = rt.submit(MAIN, "second", mode="collect", idempotency_key="k-second")
    carried = first.result(timeout=30)
    assert second.result(timeout=30).turn_id == carried.turn_id
    retry = rt.submit(MAIN, "second", mode="collect", idempotency_key="k-second").result(timeout=10)
    assert (retry.turn_id, retry.reply) == (carried.turn_id, carried.reply)


def test_a_session_snapshot_lists_its_queued_turns_with_their_ids_in_run_order(make_runtime):
    rt = runtime_with_queue(make_runtime)
    blocker = start_blocker(rt)
    cron = rt.submit(MAIN, "nightly", lane="cron:x")
    direct = rt.submit(MAIN, "hello", lane="direct:cli:a")
    assert cron.wait_accepted(timeout=30) and direct.wait_accepted(timeout=30)
    state = rt.session(MAIN)
    # direct goes ahead of cron (lane priority), and the lanes line up with the turns
    assert [(t.turn_id, t.lane, t.mode) for t in state.queued_turns] == [
        (direct.turn_id, "direct:cli:a", "followup"), (cron.turn_id, "cron:x", "followup")]
    assert state.queued_lanes == tuple(t.lane for t in state.queued_turns)
    assert rt.cancel(MAIN, cron.turn_id).ok
    assert [t.turn_id for t in rt.session(MAIN).queued_turns] == [direct.turn_id]
    assert rt.abort(MAIN, blocker.turn_id).ok
    assert direct.result(timeout=30).status is TurnStatus.COMPLETED
    assert rt.session(MAIN).queued_turns == ()
