"""Traffic for the demo: the heartbeat and cron timers, and scripted HTTP clients.

Timers
    ``start_timer_lanes(bot)`` runs the agent's heartbeat and cron jobs on a thread, with
    the pure schedules of ``sessionward.lanes.schedule``, and submits their turns through
    the bot. It is the one place to switch to the runtime's own lane actors
    (``rt.start_lanes(agents)``) once they exist.

Clients
    ``Traffic`` runs one thread per ``ClientScript``: a person who posts over the HTTP
    API, waits for the reply (streamed or fetched), checks that the reply answers their
    own message, thinks, and posts again. Clients use only the stdlib (urllib), so the
    demo needs no HTTP client library.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request

import attrs

from sessionward.errors import RuntimeClosedError
from sessionward.examples.multilane_bot.bot import Bot
from sessionward.examples.multilane_bot.delivery import Delivery
from sessionward.examples.multilane_bot.persona import LONG_MARKER, STUCK_MARKER
from sessionward.lanes.schedule import (
    CronSchedule,
    CronState,
    Fire,
    HeartbeatSchedule,
    HeartbeatState,
    Submit,
)

log = logging.getLogger(__name__)

_CLIENT_ERRORS = (OSError, ValueError, http.client.HTTPException)
"""What a client's request can fail with: network errors, a body that is not JSON, a
response cut short. Each becomes an ``Exchange`` with its error, never a dead thread."""

# --- timers -----------------------------------------------------------------------------


@attrs.frozen
class TimerCounts:
    """What the timer lanes did so far."""

    heartbeats_submitted: int = 0
    cron_fired: int = 0
    cron_skipped_overlap: int = 0
    """Cron runs skipped because the job's previous run was still going."""


class TimerLanes:
    """The agent's heartbeat and cron jobs, submitted through the bot from one thread.

    A heartbeat is submitted whenever it is due, with ``session_busy=False``: the owner is
    the authority on whether its session is busy, and it skips a heartbeat that arrives
    while it is (outcome ``cancelled``/``heartbeat_skipped``, counted in ``OwnerState``),
    so asking first would only race with it.
    """

    def __init__(self, bot: Bot, *, rng: random.Random | None = None) -> None:
        self._bot = bot
        self._rng = rng or random.Random(0)
        agent = bot.agent
        self._heartbeat = HeartbeatSchedule(agent.heartbeat) if agent.heartbeat is not None else None
        self._cron = {job.name: CronSchedule(job) for job in agent.cron}
        self._last_run: dict[str, Delivery] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counts = TimerCounts()
        self._thread = threading.Thread(target=self._run, name="bot-timers", daemon=True)

    def start(self) -> TimerLanes:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def counts(self) -> TimerCounts:
        with self._lock:
            return self._counts

    def _run(self) -> None:
        now = time.time()
        heartbeat = self._heartbeat.start(now, self._rng) if self._heartbeat is not None else None
        cron: dict[str, CronState] = {name: s.start(now) for name, s in self._cron.items()}
        while True:
            dues = [s.next_fire_time for s in cron.values()]
            if heartbeat is not None:
                dues.append(heartbeat.next_due_time)
            if not dues or self._stop.wait(max(0.0, min(dues) - time.time())):
                return
            try:
                heartbeat = self._tick(heartbeat, cron)
            except RuntimeClosedError:
                log.info("the runtime closed; the timer lanes stop")
                return

    def _tick(self, heartbeat: HeartbeatState | None, cron: dict[str, CronState]) -> HeartbeatState | None:
        """Act on every timer due now; return the heartbeat's new state (cron's change in place)."""
        now = time.time()
        if heartbeat is not None and self._heartbeat is not None:
            heartbeat, action = self._heartbeat.on_tick(heartbeat, now, False, self._rng)
            if isinstance(action, Submit):
                self._bot.submit_timer("heartbeat", action.prompt)
        for name, schedule in self._cron.items():
            last = self._last_run.get(name)
            cron[name], fired = schedule.on_tick(cron[name], now, last is not None and not last.done)
            if isinstance(fired, Fire):
                self._last_run[name] = self._bot.submit_timer(schedule.config.lane, fired.prompt)
        with self._lock:
            self._counts = TimerCounts(
                heartbeats_submitted=heartbeat.submitted if heartbeat is not None else 0,
                cron_fired=sum(s.fired for s in cron.values()),
                cron_skipped_overlap=sum(s.skipped_overlap for s in cron.values()),
            )
        return heartbeat


def start_timer_lanes(bot: Bot) -> TimerLanes:
    """Start the bot's heartbeat and cron lanes; ``stop()`` ends them.

    Until the runtime's lane actors land (``lanes/timers.py``), the bot runs the pure
    schedules itself; switching means returning an object with the same ``stop()`` and
    ``counts()`` around ``bot.runtime.start_lanes((bot.agent,))`` here, and nothing else.
    """
    return TimerLanes(bot).start()


def inject_stuck_run(bot: Bot) -> Delivery:
    """Submit one run of the first cron job whose stream hangs (the scripted persona hangs
    on ``[stuck]``), for recovery to find and abort. Nothing re-fires it."""
    job = bot.agent.cron[0]
    return bot.submit_timer(job.lane, f"{STUCK_MARKER} {job.prompt}")


# --- clients ----------------------------------------------------------------------------


@attrs.frozen
class ClientScript:
    """How one scripted person behaves."""

    name: str
    """The user name (a session key segment)."""
    channel: str | None = None
    """The channel they post in; None: they send direct messages."""
    long_every: int = 0
    """Every n-th message asks for a long reply (0: never)."""
    burst: int = 1
    """Messages posted back to back before waiting for the replies (a chat burst)."""
    stream: bool = False
    """Read replies from ``/turns/<id>/stream`` (else ``GET /turns/<id>?wait=``)."""
    think: tuple[float, float] = (0.2, 0.8)
    """Seconds between one round's replies and the next round, uniformly drawn."""


_CHATTY = (0.5, 2.0)
"""Think times of the main session's people: with five of them the session still has
quiet moments now and then, when a heartbeat runs instead of being skipped."""

DEFAULT_CLIENTS = (
    ClientScript("alice", long_every=3, stream=True, think=_CHATTY),
    ClientScript("bob", think=_CHATTY),
    ClientScript("carol", stream=True, think=_CHATTY),
    ClientScript("dave", channel="general", think=_CHATTY),
    ClientScript("erin", channel="general", stream=True, think=_CHATTY),
    ClientScript("frank", channel="random", burst=3),
    ClientScript("grace", channel="random", burst=2, stream=True),
)
"""Three direct-message users, two people in #general (mirrored into the main session),
and two who post bursts in #random (collect mode)."""


@attrs.frozen
class Exchange:
    """One message a client sent, and what came back."""

    client: str
    token: str
    """A unique tag in the message; the reply must contain it."""
    http_status: int
    """The POST's status: 202 accepted, 429 refused, ..."""
    request_id: str | None = None
    reply_status: str | None = None
    """The final status the client read; None if it never got one."""
    reply: str | None = None
    answers_received: int = 0
    """Final answers read for this message: exactly 1 when all is well."""
    streamed: str | None = None
    """The deltas read from the stream, joined (stream clients only)."""
    error: str = ""

    @property
    def answered(self) -> bool:
        """A completed reply that answers this very message came back, once."""
        return (self.reply_status == "completed" and self.answers_received == 1
                and self.reply is not None and self.token in self.reply)


class Traffic:
    """Scripted clients posting to the bot's HTTP API until ``stop()``.

    Args:
        base_url: The API's root (``BotServer.url``).
        clients: Who posts what.
        seed: Seeds each client's random think times (client i gets ``seed + i``).
        reply_timeout: Longest wait for one reply (seconds).
    """

    def __init__(self, base_url: str, clients: tuple[ClientScript, ...] = DEFAULT_CLIENTS, *,
                 seed: int = 0, reply_timeout: float = 60.0) -> None:
        self.base_url = base_url
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._exchanges: list[Exchange] = []
        self._reply_timeout = reply_timeout
        self._threads = [
            threading.Thread(target=self._client, args=(c, random.Random(seed + i)), name=f"client-{c.name}",
                             daemon=True)
            for i, c in enumerate(clients)
        ]

    def start(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        """No new messages; clients still wait for the replies they are owed."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait for every client to finish; False if one is still waiting after ``timeout``."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    def exchanges(self) -> list[Exchange]:
        with self._lock:
            return list(self._exchanges)

    def _client(self, script: ClientScript, rng: random.Random) -> None:
        sent = 0
        while not self._stop.is_set():
            posted = []
            for _ in range(script.burst):
                sent += 1
                token = f"#{script.name}-{sent}"
                long = script.long_every and sent % script.long_every == 0
                text = f"{LONG_MARKER} tell me everything {token}" if long else f"hello {token}"
                posted.append(self._post(script, token, text))
            for posted_exchange in posted:
                exchange = posted_exchange
                if exchange.request_id is not None:
                    exchange = self._await_reply(script, exchange)
                with self._lock:
                    self._exchanges.append(exchange)
            self._stop.wait(rng.uniform(*script.think))  # pacing, like a person typing

    def _post(self, script: ClientScript, token: str, text: str) -> Exchange:
        if script.channel is None:
            path, body = f"/users/{script.name}/messages", {"text": text}
        else:
            path, body = f"/channels/{script.channel}/messages", {"user": script.name, "text": text}
        try:
            status, answer = _request("POST", self.base_url + path, body)
        except _CLIENT_ERRORS as exc:
            return Exchange(script.name, token, 0, error=f"POST failed: {exc}")
        request_id = answer.get("request_id") if status == 202 else None
        return Exchange(script.name, token, status, request_id, error="" if status == 202 else str(answer))

    def _await_reply(self, script: ClientScript, exchange: Exchange) -> Exchange:
        url = f"{self.base_url}/turns/{exchange.request_id}"
        streamed = None
        try:
            if script.stream:
                answers, streamed = _read_stream(url + "/stream", self._reply_timeout)
            else:
                answers = _poll(url, self._reply_timeout)
        except _CLIENT_ERRORS as exc:
            return attrs.evolve(exchange, error=f"reply failed: {exc}")
        last = answers[-1] if answers else {}
        return attrs.evolve(exchange, reply_status=last.get("status"), reply=last.get("reply"),
                            answers_received=len(answers), streamed=streamed)


def _request(method: str, url: str, body: dict | None = None, timeout: float = 30.0) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _poll(url: str, timeout: float) -> list[dict]:
    """The turn's final answer, by long polling (``?wait=``); [] if it never finished."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        status, turn = _request("GET", f"{url}?wait={min(left, 30.0):.1f}", timeout=left + 10)
        if status != 200:
            return []
        if turn["status"] != "pending":
            return [turn]
    return []


def _read_stream(url: str, timeout: float) -> tuple[list[dict], str]:
    """Every ``outcome`` event of a turn's SSE stream (exactly one when all is well), and
    the text of its ``delta`` events."""
    outcomes: list[dict] = []
    deltas: list[str] = []
    event = None
    with urllib.request.urlopen(url, timeout=timeout) as response:
        for raw in response:
            line = raw.decode("utf-8").rstrip("\r\n")
            if line.startswith("event:"):
                event = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                payload = json.loads(line.partition(":")[2])
                if event == "delta":
                    deltas.append(payload["text"])
                elif event == "outcome":
                    outcomes.append(payload)
    return outcomes, "".join(deltas)
