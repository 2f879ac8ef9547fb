"""Heartbeat and cron lane actors, wired to a runtime (simpleSystemBase).

Ticks are driven with ``TickNow(now=...)``, whose answer comes once the tick's turn was
accepted or refused; ``QueryLaneStats(wait_idle=True)`` answers once every turn has its
outcome. Nothing sleeps. The pure timing is tested with literal times in test_schedule.py.
"""

from __future__ import annotations

import datetime
import json
import pickle
import time
from pathlib import Path

import pytest
from conftest import read_entries

from sessionward import ScriptedProvider
from sessionward.client import new_request_id
from sessionward.lanes.config import AgentConfig, CronJobConfig, HeartbeatConfig
from sessionward.lanes.cron_state import cron_state_file
from sessionward.lanes.timer_messages import (
    ConfigureCronLane,
    CronLaneStats,
    HeartbeatLaneStats,
    QueryLaneStats,
    TickNow,
)
from sessionward.storage.entries import assistant_text, is_turn_end

HOUR = 3600.0
MAIN_KEY = "agent:main:main"


def tick(rt, kind: str, now: float, *, agent: str = "main", job: str | None = None):
    """Run one tick of a lane at ``now``; returns its stats once the tick's submits were answered."""
    reply = rt._mailbox.ask(rt._lanes[(agent, kind)], TickNow(new_request_id(), now, job), 30)
    assert reply is not None, "the lane did not answer TickNow"
    return reply


def stats(rt, kind: str, *, agent: str = "main", wait_idle: bool = True, min_ticks: int = 0):
    query = QueryLaneStats(new_request_id(), wait_idle=wait_idle, min_ticks=min_ticks)
    reply = rt._mailbox.ask(rt._lanes[(agent, kind)], query, 30)
    assert reply is not None, "the lane did not answer QueryLaneStats"
    return reply


def heartbeat_agent(**heartbeat) -> AgentConfig:
    return AgentConfig(heartbeat=HeartbeatConfig(**{"every": HOUR, "jitter": 0.0, **heartbeat}))


def user_texts(path: Path) -> list[str]:
    return [e["message"]["content"][0]["text"] for e in read_entries(path)
            if e.get("message", {}).get("role") == "user"]


# --- heartbeat ----------------------------------------------------------------------------------


def test_a_due_heartbeat_runs_in_its_isolated_session_and_an_ack_is_recorded_not_delivered(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="HEARTBEAT_OK"))
    rt.start_lanes([heartbeat_agent()])
    (first,) = rt.lane_stats()
    assert isinstance(first, HeartbeatLaneStats)
    assert first.session_key == "agent:main:main:heartbeat" and first.submitted == 0

    after_tick = tick(rt, "heartbeat", first.next_due_time)
    assert after_tick.submitted == 1 and after_tick.next_due_time == first.next_due_time + HOUR

    done = stats(rt, "heartbeat")
    assert (done.acks, done.delivered, done.failed, done.running) == (1, 0, 0, False)
    assert done.last_alert is None
    entries = read_entries(Path(rt.session("agent:main:main:heartbeat").file))
    replies = [assistant_text(e) for e in entries if e.get("message", {}).get("role") == "assistant"]
    assert replies == ["HEARTBEAT_OK"], "an ack is still recorded in the transcript"


def test_a_heartbeat_reply_other_than_the_ack_token_is_delivered(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="The disk is 95% full."))
    rt.start_lanes([heartbeat_agent()])
    (first,) = rt.lane_stats()
    tick(rt, "heartbeat", first.next_due_time)
    done = stats(rt, "heartbeat")
    assert (done.acks, done.delivered) == (0, 1)
    assert done.last_alert == "The disk is 95% full."


def test_an_early_tick_submits_nothing_and_a_late_one_fires_once(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="HEARTBEAT_OK"))
    rt.start_lanes([heartbeat_agent()])
    (first,) = rt.lane_stats()
    early = tick(rt, "heartbeat", first.next_due_time - 1)
    assert (early.ticks, early.submitted, early.next_due_time) == (0, 0, first.next_due_time)
    late = tick(rt, "heartbeat", first.next_due_time + 5 * HOUR)
    assert (late.ticks, late.submitted) == (1, 1)
    assert late.next_due_time == first.next_due_time + 6 * HOUR, "the next one is an interval after the tick"


def test_a_heartbeat_due_outside_its_active_hours_is_skipped_and_counted(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="HEARTBEAT_OK"))
    rt.start_lanes([heartbeat_agent(active_hours=("08:00", "22:00"), tz="UTC")])
    (first,) = rt.lane_stats()
    due = datetime.datetime.fromtimestamp(first.next_due_time, datetime.UTC)
    night = (due + datetime.timedelta(days=1)).replace(hour=3, minute=0).timestamp()
    skipped = tick(rt, "heartbeat", night)
    assert (skipped.ticks, skipped.submitted, skipped.skipped_inactive) == (1, 0, 1)
    assert rt.session("agent:main:main:heartbeat").state == "passive", "no turn was submitted"


def test_a_heartbeat_due_while_the_previous_one_still_runs_is_skipped_not_queued(make_runtime):
    provider = ScriptedProvider(reply="HEARTBEAT_OK", hang_after=0, only_when="HEARTBEAT_OK")
    rt = make_runtime(provider=provider)
    rt.start_lanes([heartbeat_agent(prompt="Check things; reply HEARTBEAT_OK.")])
    (first,) = rt.lane_stats()
    running = tick(rt, "heartbeat", first.next_due_time)
    assert running.running

    skipped = tick(rt, "heartbeat", running.next_due_time)
    assert (skipped.submitted, skipped.skipped_busy, skipped.running) == (1, 1, True)
    state = rt.session("agent:main:main:heartbeat")
    assert state.queue_depth == 0, "a heartbeat is never queued behind another"

    assert rt.abort("agent:main:main:heartbeat", state.turn_id).ok
    done = stats(rt, "heartbeat")
    assert (done.failed, done.running) == (1, False)


def test_heartbeats_also_fire_on_real_timers(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="HEARTBEAT_OK"))
    rt.start_lanes([heartbeat_agent(every=0.2)])
    done = stats(rt, "heartbeat", min_ticks=1)  # awaits the lane's own wakeupAfter
    assert done.submitted >= 1 and done.acks >= 1


# --- cron ---------------------------------------------------------------------------------------


def cron_agent(*jobs: CronJobConfig) -> AgentConfig:
    return AgentConfig(cron=jobs)


def test_a_due_cron_job_fires_into_its_session_and_its_run_is_remembered(make_runtime, tmp_path):
    rt = make_runtime(provider=ScriptedProvider(reply="done: {text}"))
    rt.start_lanes([cron_agent(CronJobConfig(name="nightly", every=HOUR, prompt="Summarise."),
                               CronJobConfig(name="inbox", every=HOUR, prompt="Triage.",
                                             session_key="agent:main:main"))])
    (first,) = rt.lane_stats()
    assert isinstance(first, CronLaneStats)
    nightly, inbox = first.jobs
    assert (nightly.session_key, inbox.session_key) == ("cron:nightly", "agent:main:main")

    fired = tick(rt, "cron", nightly.next_fire_time, job="nightly")
    assert [j.fired for j in fired.jobs] == [1, 0], "only the named job was ticked"
    done = stats(rt, "cron")
    assert (done.jobs[0].completed, done.jobs[0].running) == (1, False)
    assert user_texts(Path(rt.session("cron:nightly").file)) == ["Summarise."]
    saved = json.loads(cron_state_file(tmp_path / "store", "main").read_text())
    assert saved["last_fire_time"] == {"nightly": nightly.next_fire_time}


def test_a_cron_tick_while_the_previous_run_is_active_is_skipped_and_counted(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="ok", hang_after=0, only_when="slow"))
    rt.start_lanes([cron_agent(CronJobConfig(name="report", every=HOUR, prompt="slow report"))])
    (first,) = rt.lane_stats()
    one = tick(rt, "cron", first.jobs[0].next_fire_time).jobs[0]
    assert one.fired == 1 and one.running

    two = tick(rt, "cron", one.next_fire_time).jobs[0]
    assert (two.fired, two.skipped_overlap) == (1, 1), "runs never pile up"
    assert rt.session("cron:report").queue_depth == 0

    turn_id = rt.session("cron:report").turn_id
    assert rt.abort("cron:report", turn_id).ok
    done = stats(rt, "cron").jobs[0]
    assert (done.failed, done.running) == (1, False)


def test_a_late_cron_tick_fires_once_and_counts_the_runs_it_missed(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.start_lanes([cron_agent(CronJobConfig(name="hourly", every=HOUR, prompt="Hourly."))])
    (first,) = rt.lane_stats()
    due = first.jobs[0].next_fire_time
    job = tick(rt, "cron", due + 2.5 * HOUR).jobs[0]
    assert (job.fired, job.missed) == (1, 2)
    assert job.next_fire_time == due + 3 * HOUR, "the series keeps its phase"


def test_cron_runs_due_while_the_runtime_was_down_are_reported_and_not_run(make_runtime, tmp_path):
    state_file = cron_state_file(tmp_path / "store", "main")
    state_file.parent.mkdir(parents=True)
    last = time.time() - 200.0
    state_file.write_text(json.dumps({"version": 1, "agent_id": "main", "last_fire_time": {"sync": last}}))
    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.start_lanes([cron_agent(CronJobConfig(name="sync", every=60.0, prompt="Sync."))])
    (job,) = stats(rt, "cron").jobs
    assert (job.missed, job.fired) == (3, 0)
    assert job.next_fire_time == pytest.approx(last + 240.0)
    assert rt.session("cron:sync").state == "passive", "missed runs are reported, not run"
    assert "3 run(s) fell due while the lane was down" in rt.log_file.read_text()


def test_a_cron_expression_job_is_due_at_its_next_matching_minute(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.start_lanes([cron_agent(CronJobConfig(name="morning", schedule="0 3 * * *", prompt="Morning."))])
    (first,) = rt.lane_stats()
    due = datetime.datetime.fromtimestamp(first.jobs[0].next_fire_time, datetime.UTC)
    assert (due.hour, due.minute, due.second) == (3, 0, 0)
    job = tick(rt, "cron", first.jobs[0].next_fire_time).jobs[0]
    assert job.fired == 1
    assert job.next_fire_time == first.jobs[0].next_fire_time + 24 * HOUR


def test_a_cron_run_ends_in_the_transcript_with_its_own_turn_end(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="ok"))
    rt.start_lanes([cron_agent(CronJobConfig(name="once", every=HOUR, prompt="Once."))])
    (first,) = rt.lane_stats()
    tick(rt, "cron", first.jobs[0].next_fire_time)
    stats(rt, "cron")
    entries = read_entries(Path(rt.session("cron:once").file))
    ends = [e for e in entries if is_turn_end(e)]
    assert [e["data"]["status"] for e in ends] == ["completed"]
    assert ends[0]["data"]["idempotencyKey"].startswith("cron:main:once:")


# --- starting lanes -----------------------------------------------------------------------------


def test_an_agent_without_timers_starts_no_lane(make_runtime):
    rt = make_runtime()
    rt.start_lanes([AgentConfig()])
    assert rt.lane_stats() == ()


def test_starting_an_agents_lanes_twice_is_refused(make_runtime):
    rt = make_runtime()
    rt.start_lanes([heartbeat_agent()])
    with pytest.raises(ValueError, match="already started"):
        rt.start_lanes([heartbeat_agent()])
    assert len(rt.lane_stats()) == 1


def test_ticking_an_unknown_cron_job_is_answered_with_an_error(make_runtime):
    rt = make_runtime()
    rt.start_lanes([cron_agent(CronJobConfig(name="known", every=HOUR, prompt="x"))])
    reply = tick(rt, "cron", time.time(), job="unknown")
    assert reply.kind == "not_found"


def test_lane_messages_survive_a_pickle_round_trip_as_the_tcp_base_needs():
    agent = cron_agent(CronJobConfig(name="nightly", schedule="0 3 * * *", prompt="x"))
    for message in (
        ConfigureCronLane("r", None, agent, start_time=1.0, state_file="/tmp/x.json"),
        TickNow("r", 2.0, job="nightly"),
        QueryLaneStats("r", wait_idle=True, min_ticks=3),
        HeartbeatLaneStats("r", "main", "agent:main:main", 1, 1, 1, 0, 0, 0, 0, False, 5.0),
    ):
        assert pickle.loads(pickle.dumps(message)) == message


def test_the_documented_toml_example_loads_and_starts_its_lanes(make_runtime):
    from sessionward.config_file import load_config

    doc = (Path(__file__).parent.parent / "docs" / "lanes.md").read_text()
    toml_text = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    agents, warnings = load_config(toml_text)
    assert warnings == ()
    rt = make_runtime()
    rt.start_lanes(agents)
    heartbeat, cron = rt.lane_stats()
    assert heartbeat.session_key == "agent:main:main:heartbeat"
    assert [(j.name, j.session_key) for j in cron.jobs] == [("nightly", "cron:nightly"), ("inbox", MAIN_KEY)]

