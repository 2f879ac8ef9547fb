"""The multi-lane example bot: its HTTP API under concurrent clients, its terminal mode, its
summary arithmetic, and a short run of the demo."""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import read_entries

from sessionward import RecoveryConfig, Runtime
from sessionward.config_file import config_from_mapping
from sessionward.errors import BadInputError
from sessionward.examples.multilane_bot.bot import (
    DEFAULT_CONFIG,
    Bot,
    BotConfig,
    BotSettings,
    load_bot_config,
    runtime_config,
)
from sessionward.examples.multilane_bot.delivery import TurnKind, TurnView
from sessionward.examples.multilane_bot.demo import DemoSummary, run_demo
from sessionward.examples.multilane_bot.http_api import BotServer
from sessionward.examples.multilane_bot.live import StatusSnapshot, plain_line, render, take_snapshot
from sessionward.examples.multilane_bot.persona import LONG_MARKER, ScriptedPersona
from sessionward.examples.multilane_bot.summary import count_turns, reply_lost
from sessionward.examples.multilane_bot.terminal import run_terminal
from sessionward.examples.multilane_bot.traffic import start_timer_lanes
from sessionward.hosting.system import process_group_members
from sessionward.lanes.routing import route

CONFIG = load_bot_config()


@pytest.fixture
def bot(tmp_path):
    """The bot from bot.toml on a TCP runtime with a fast scripted persona; always closed."""
    rt = Runtime(tmp_path / "store", provider=ScriptedPersona(chunk_delay=0.01, long_chunks=100), base="tcp",
                 config=runtime_config(CONFIG, recovery=RecoveryConfig(enabled=False)))
    the_bot = None
    try:
        the_bot = Bot(rt, CONFIG)
        yield the_bot
    finally:
        if the_bot is not None:
            the_bot.close()
        rt.close()
        assert not process_group_members(rt._roots), "actor processes left behind"


@pytest.fixture
def server(bot):
    srv = BotServer(bot).start()
    try:
        yield srv
    finally:
        srv.close()


# -- configuration -----------------------------------------------------------------------------


def test_the_shipped_config_puts_heartbeat_direct_and_general_in_the_main_session(bot):
    agent = CONFIG.agent
    main = route("main", agent)
    assert route("heartbeat", agent) == main
    assert route("direct:demo:alice", agent) == main
    assert bot.shares_main(route("channel:demo:general", agent))
    assert not bot.shares_main(route("channel:demo:random", agent))
    assert route("cron:digest", agent) == "cron:digest"
    # the demo shares the main session on purpose, and says so: its config does not warn
    assert CONFIG.agent.heartbeat.isolated_session is False and CONFIG.warnings == ()


def test_an_unknown_key_in_the_bot_table_is_refused(tmp_path):
    path = tmp_path / "bot.toml"
    path.write_text(DEFAULT_CONFIG.read_text().replace("[bot]\n", "[bot]\nprot = 1\n"))
    with pytest.raises(BadInputError, match="prot"):
        load_bot_config(path)


# -- the HTTP API under concurrent clients -----------------------------------------------------


class Client:
    """One person on the HTTP API, in a thread: posts, then reads each reply exactly once."""

    def __init__(self, base: str, name: str, channel: str | None, messages: list[str], stream: bool) -> None:
        self.base, self.name, self.channel, self.messages, self.stream = base, name, channel, messages, stream
        self.results: list[dict] = []
        self.errors: list[str] = []

    def run(self, start: threading.Event) -> None:
        start.wait(30)
        try:
            with httpx.Client(base_url=self.base, timeout=60) as http:
                posted = [self._post(http, text) for text in self.messages]
                for text, answer in posted:
                    self.results.append(self._reply(http, text, answer))
        except Exception as exc:
            self.errors.append(f"{self.name}: {exc!r}")

    def _post(self, http: httpx.Client, text: str) -> tuple[str, httpx.Response]:
        if self.channel is None:
            return text, http.post(f"/users/{self.name}/messages", json={"text": text})
        return text, http.post(f"/channels/{self.channel}/messages", json={"user": self.name, "text": text})

    def _reply(self, http: httpx.Client, text: str, answer: httpx.Response) -> dict:
        assert answer.status_code == 202, answer.text
        request_id = answer.json()["request_id"]
        if not self.stream:
            turn = http.get(f"/turns/{request_id}", params={"wait": 30}).json()
            return {"text": text, "turns": [turn], "streamed": None}
        turns, deltas, event = [], [], None
        with http.stream("GET", f"/turns/{request_id}/stream") as response:
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data = json.loads(line.split(":", 1)[1])
                    if event == "delta":
                        deltas.append(data["text"])
                    else:
                        turns.append(data)
        return {"text": text, "turns": turns, "streamed": "".join(deltas)}


def _first_delta(base: str, request_id: str) -> None:
    """Return once the turn's stream has produced its first delta (it is streaming now)."""
    with httpx.stream("GET", f"{base}/turns/{request_id}/stream", timeout=30) as response:
        for line in response.iter_lines():
            if line == "event: delta":
                return
    raise AssertionError("the long reply never streamed")


def test_concurrent_clients_on_every_lane_each_get_their_own_reply_exactly_once(bot, server):
    base = server.url
    # A long reply starts streaming in the main session first.
    long_post = httpx.post(f"{base}/users/alice/messages", json={"text": f"{LONG_MARKER} story #alice-long"})
    assert long_post.status_code == 202
    long_id = long_post.json()["request_id"]
    _first_delta(base, long_id)

    # While it streams: a heartbeat, direct messages, #general (shared with main), #random
    # bursts (collect mode), and the cron job, all at once.
    clients = [
        Client(base, "bob", None, [f"hi #bob-{i}" for i in range(3)], stream=False),
        Client(base, "carol", None, [f"hi #carol-{i}" for i in range(3)], stream=True),
        Client(base, "dave", "general", [f"yo #dave-{i}" for i in range(3)], stream=False),
        Client(base, "erin", "general", [f"yo #erin-{i}" for i in range(3)], stream=True),
        Client(base, "frank", "random", [f"burst #frank-{i}" for i in range(4)], stream=False),
        Client(base, "grace", "random", [f"burst #grace-{i}" for i in range(3)], stream=True),
    ]
    start = threading.Event()
    threads = [threading.Thread(target=c.run, args=(start,)) for c in clients]
    for thread in threads:
        thread.start()
    start.set()
    heartbeat = bot.submit_timer("heartbeat", CONFIG.agent.heartbeat.prompt)
    cron = bot.submit_timer("cron:digest", CONFIG.agent.cron[0].prompt)
    for thread in threads:
        thread.join(90)
    long_turn = httpx.get(f"{base}/turns/{long_id}", params={"wait": 30}).json()
    assert server.wait_idle(30)  # deliveries are recorded just after the answers are written

    assert [e for c in clients for e in c.errors] == []
    assert long_turn["status"] == "completed" and "#alice-long" in long_turn["reply"]
    # The heartbeat arrived while the main session was busy: skipped, never queued.
    assert heartbeat.wait_done(30) and heartbeat.view().reason == "heartbeat_skipped"
    assert cron.wait_done(30) and cron.view().status == "completed"

    results = [(c, r) for c in clients for r in c.results]
    assert len(results) == sum(len(c.messages) for c in clients)
    for client, result in results:
        token = "#" + result["text"].split("#")[1]
        (turn,) = result["turns"]  # exactly one final answer per message
        assert turn["status"] == "completed", turn
        assert token in turn["reply"]
        if client.stream and turn["merged_into"] is None:
            assert result["streamed"] == turn["reply"]

    # Each message was answered by exactly one turn (merged ones by their carrier), and
    # each turn ran once: one user entry and one final reply per turn in its transcript.
    views = bot.views()
    assert all(v.final_outcomes == 1 for v in views)
    replies_by_turn = {v.merged_into or v.turn_id: v.reply for v in views if v.kind in (TurnKind.DIRECT,
                                                                                      TurnKind.CHANNEL)}
    for _, result in results:
        token = "#" + result["text"].split("#")[1]
        assert sum(token in reply for reply in replies_by_turn.values()) == 1, token
    assert not any(reply_lost(v) for v in views)
    for key in {bot.main_key, route("channel:demo:random", CONFIG.agent)}:
        entries = read_entries(Path(bot.runtime.session(key).file))
        users = Counter(e["turnId"] for e in entries if e.get("message", {}).get("role") == "user")
        finals = Counter(e["turnId"] for e in entries if e.get("message", {}).get("stopReason") == "stop")
        assert set(users.values()) == {1} and users == finals
    main_lanes = {e["lane"] for e in read_entries(Path(bot.runtime.session(bot.main_key).file)) if "lane" in e}
    assert main_lanes == {"direct:demo:alice", "direct:demo:bob", "direct:demo:carol", "channel:demo:general"}


def test_the_http_api_answers_bad_requests_with_typed_errors(server):
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert http.post("/channels/nope/messages", json={"user": "a", "text": "x"}).status_code == 404
        assert http.post("/users/alice/messages", content=b"{not json").status_code == 400
        assert http.post("/users/alice/messages", json={"txt": "x"}).status_code == 400
        assert http.post("/channels/general/messages", json={"text": "x"}).status_code == 400
        assert http.post("/users/bad%20name/messages", json={"text": "x"}).status_code == 400
        for empty in ("", "   ", "\n\t"):  # the runtime's one rule: InvalidMessageError, a 400
            for path, body in (("/users/alice/messages", {}), ("/channels/general/messages", {"user": "a"})):
                refused = http.post(path, json={**body, "text": empty})
                assert refused.status_code == 400 and "empty" in refused.json()["error"], (path, empty)
        assert http.get("/turns/0123abcd").status_code == 404
        assert http.get("/nowhere").status_code == 404
        posted = http.post("/users/alice/messages", json={"text": "hi"}).json()
        assert http.get(f"/turns/{posted['request_id']}", params={"wait": "soon"}).status_code == 400
        done = http.get(f"/turns/{posted['request_id']}", params={"wait": 30}).json()
        assert done["reply"] == "You said: hi"
        status = http.get("/status").json()
        assert {s["session_key"] for s in status["sessions"]} == {"agent:main:main"}


# -- terminal mode -----------------------------------------------------------------------------


def test_the_terminal_mode_streams_replies_for_direct_and_channel_lines(bot):
    lines = iter(["hello", "#general hi all", "#nope x", "/status", "/quit"])
    out = io.StringIO()
    run_terminal(bot, user="tess", read_line=lambda _prompt: next(lines), out=out)
    text = out.getvalue()
    assert "bot> You said: hello\n" in text
    assert "bot> You said: tess: hi all\n" in text
    assert "error: no channel 'nope'" in text
    assert "agent:main:main (+1 bound)" in text


# -- timer lanes -------------------------------------------------------------------------------


def test_the_timer_lanes_submit_heartbeats_to_the_main_session_and_cron_runs_to_their_own(tmp_path):
    agents, _ = config_from_mapping({"agents": [{
        "agent_id": "main", "dm_scope": "main", "directs": [{"type": "demo"}],
        "heartbeat": {"every": "200ms", "jitter": 0, "isolated_session": False},
        "cron": [{"name": "digest", "every": "300ms", "prompt": "digest please"}],
    }]})
    config = BotConfig(agents[0], BotSettings(port=0))

    def two_of_each(deliveries) -> bool:
        kinds = Counter(d.kind for d in deliveries)
        return kinds[TurnKind.HEARTBEAT] >= 2 and kinds[TurnKind.CRON] >= 2

    with Runtime(tmp_path / "store", provider=ScriptedPersona(chunk_delay=0.001), base="simple",
                 recovery=False) as rt:
        bot = Bot(rt, config)
        timers = start_timer_lanes(bot)
        try:
            assert bot.wait_until(two_of_each, 10)
        finally:
            timers.stop()
        assert bot.wait_all(10)
        views = bot.views()
        bot.close()
    heartbeats = [v for v in views if v.kind is TurnKind.HEARTBEAT]
    crons = [v for v in views if v.kind is TurnKind.CRON]
    assert {v.session_key for v in heartbeats} == {"agent:main:main"}
    assert all(v.reply == "HEARTBEAT_OK" or v.reason == "heartbeat_skipped" for v in heartbeats)
    assert {v.session_key for v in crons} == {"cron:digest"}
    assert all(v.status == "completed" and "digest please" in v.reply for v in crons)
    counts = timers.counts()
    assert (counts.heartbeats_submitted, counts.cron_fired) == (len(heartbeats), len(crons))


# -- status view and summary -------------------------------------------------------------------


def test_the_status_view_draws_sessions_lanes_and_counts(bot):
    bot.post_direct("alice", "hi").wait_done(30)
    snapshot = take_snapshot(bot.runtime, bot, 1.0)
    assert [row.key for row in snapshot.sessions] == ["agent:main:main"]
    assert "1 completed" in plain_line(snapshot)
    from rich.console import Console

    console = Console(file=io.StringIO(), width=160)
    console.print(render(snapshot))
    assert "agent:main:main" in console.file.getvalue()
    assert "turns: 0 submitted" in plain_line(StatusSnapshot(0.0))


def _view(kind=TurnKind.DIRECT, status="completed", reason=None, **kw) -> TurnView:
    defaults = {"request_id": "r", "lane": "direct:demo:a", "session_key": "agent:main:main", "user": "a",
                "accepted": True, "delivered": 1, "final_outcomes": 1}
    return TurnView(kind=kind, status=status, reason=reason, **{**defaults, **kw})


def test_counts_split_turns_by_how_they_ended_and_merged_ones_are_a_subset():
    views = [
        _view(),
        _view(merged_into="t1"),
        _view(TurnKind.HEARTBEAT, "cancelled", "heartbeat_skipped", user=None, delivered=0),
        _view(TurnKind.CRON, "failed", "stalled", user=None, delivered=0),
        _view(status="failed", reason="busy", accepted=False, delivered=0),
        _view(status="pending", delivered=0),
    ]
    counts = count_turns(views)
    assert (counts.submitted, counts.completed, counts.merged, counts.heartbeats_skipped, counts.unfinished) == (
        6, 2, 1, 1, 1)
    assert counts.failed == {"busy": 1, "stalled": 1}


def test_a_reply_is_lost_only_for_an_accepted_user_turn_not_completed_and_delivered():
    assert not reply_lost(_view())
    assert reply_lost(_view(delivered=0))
    assert reply_lost(_view(status="failed", reason="stalled"))
    assert reply_lost(_view(status="pending", delivered=0))
    assert not reply_lost(_view(status="failed", reason="busy", accepted=False, delivered=0))
    assert not reply_lost(_view(TurnKind.CRON, "failed", "stalled", delivered=0))


# -- the demo ----------------------------------------------------------------------------------


def test_a_short_demo_loses_no_reply_and_its_counts_add_up(tmp_path):
    out = io.StringIO()
    summary = run_demo(duration=3, live=False, store=tmp_path / "store", out=out)
    assert isinstance(summary, DemoSummary)
    assert summary.replies_lost == 0
    assert summary.counts_add_up and summary.turns_unfinished == 0
    assert summary.turns_submitted > 0 and summary.user_turns > 0
    assert summary.replies_delivered == summary.user_turns
    assert summary.client_problems == 0
    # The stuck cron run was aborted by recovery, once, and is the only failure.
    assert summary.turns_failed == {"stalled": 1}
    assert summary.recovery_actions.get("abort") == 1
    assert "channel:demo:general" in summary.main_session_lanes
    assert "replies lost             0" in out.getvalue()
