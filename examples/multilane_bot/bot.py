"""The bot: its configuration, and ``Bot``, which submits turns and keeps their deliveries.

``Bot`` is what an application writes on top of ``sessionward.Runtime``: it turns an
inbound message (a channel post, a direct message, a timer) into a turn on the right lane,
and keeps a ``Delivery`` per turn that collects the streamed text and the final outcome
until the reply has been handed to whoever asked. The runtime decides which session
(and so which file and which owner) a lane's turns go to; the bot never locks anything.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import cattrs

from sessionward import Runtime, RuntimeConfig
from sessionward.config_file import config_from_mapping
from sessionward.errors import BadInputError, SessionwardError
from sessionward.examples.multilane_bot.delivery import Delivery, TurnKind, TurnView
from sessionward.lanes.config import AgentConfig, ChannelConfig
from sessionward.lanes.queue_policy import QueueMode
from sessionward.lanes.routing import check_segment, lane_kind, route
from sessionward.storage.validation import validate_text

DEFAULT_CONFIG = Path(__file__).with_name("bot.toml")

# --- configuration ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class BotSettings:
    """The ``[bot]`` table of ``bot.toml``: what the runtime's agent config does not cover."""

    host: str = "127.0.0.1"
    """Where the HTTP API listens. Loopback by default: the API has no authentication."""
    port: int = 8765
    """The HTTP API's port; 0 picks a free one."""
    mirror_channels: tuple[str, ...] = ()
    """Ids of channels whose session is bound to the main session: one file, one owner."""
    reply_chunk_delay: float = 0.03
    """Scripted persona: seconds between streamed chunks."""
    long_reply_chunks: int = 60
    """Scripted persona: how many chunks a ``/long`` reply streams."""


@attrs.frozen
class BotConfig:
    """The bot's agent (its lanes) and its own settings."""

    agent: AgentConfig
    settings: BotSettings
    warnings: tuple[str, ...] = ()
    """Warnings about the agent config (``isolated_session = false`` gives one, on purpose)."""


_SETTINGS_CONVERTER = cattrs.Converter(forbid_extra_keys=True)


def load_bot_config(path: str | Path = DEFAULT_CONFIG) -> BotConfig:
    """Read ``bot.toml``: the ``[bot]`` table here, the rest with ``load_config``'s rules.

    Raises:
        BadInputError: an unknown key, a bad value, or not exactly one agent.
    """
    data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    try:
        settings = _SETTINGS_CONVERTER.structure(data.pop("bot", {}), BotSettings)
    except Exception as exc:  # cattrs groups every problem into one exception
        raise BadInputError(f"{path}: [bot]: {cattrs.transform_error(exc)}") from exc
    agents, warnings = config_from_mapping(data)
    if len(agents) != 1:
        raise BadInputError(f"{path}: the bot runs exactly one agent, found {len(agents)}")
    agent = agents[0]
    known = {c.id for c in agent.channels}
    unknown = set(settings.mirror_channels) - known
    if unknown:
        raise BadInputError(f"{path}: mirror_channels names unknown channels {sorted(unknown)}")
    if not agent.directs:
        raise BadInputError(f"{path}: the bot needs one [[agents.directs]] for direct messages")
    return BotConfig(agent, settings, warnings)


def runtime_config(config: BotConfig, **overrides: Any) -> RuntimeConfig:
    """The runtime configuration for the bot: its agent's queue policy, plus ``overrides``."""
    return RuntimeConfig(queue=config.agent.queue, **overrides)


# --- the bot ----------------------------------------------------------------------------


class UnknownChannelError(BadInputError):
    """No channel with that id is configured."""


class Bot:
    """Turns inbound messages into turns on their lanes, and keeps their deliveries.

    Args:
        runtime: A started runtime (the bot does not close it).
        config: The bot's configuration (``load_bot_config``).

    Binds each ``mirror_channels`` channel's session to the main session at start.
    """

    def __init__(self, runtime: Runtime, config: BotConfig) -> None:
        self.runtime = runtime
        self.config = config
        self.agent = config.agent
        self.main_key = route("main", self.agent)
        self._lock = threading.Condition()
        """Guards ``_deliveries``; notified on each new one (``wait_until``)."""
        self._deliveries: dict[str, Delivery] = {}
        self._shared = {self.main_key}
        self.warnings = list(config.warnings)
        for channel_id in config.settings.mirror_channels:
            key = route(self.channel(channel_id).lane, self.agent)
            result = runtime.bind(key, self.main_key)
            if result.ok:
                self._shared.add(key)
            else:  # a store reused from a run without the mirror: that channel keeps its own file
                self.warnings.append(f"channel {channel_id} not mirrored: {result.detail}")
        # One asyncio loop awaits every handle, so a delivery settles the moment its final
        # outcome arrives without a thread per turn.
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bot-outcomes", daemon=True)
        self._thread.start()

    # -- inbound -----------------------------------------------------------------------------

    def channel(self, channel_id: str) -> ChannelConfig:
        """The configured channel with this id (or ``type:id``).

        Raises:
            UnknownChannelError: none is configured.
        """
        for channel in self.agent.channels:
            if channel_id in (channel.id, f"{channel.type}:{channel.id}"):
                return channel
        raise UnknownChannelError(f"no channel {channel_id!r}")

    def post_to_channel(self, channel_id: str, user: str, text: str, *, accept_timeout: float = 10.0) -> Delivery:
        """A user's message in a group channel; waits until the turn is accepted (or refused).

        Raises:
            UnknownChannelError, BadInputError: nothing was submitted (an empty or
                whitespace-only ``text`` is refused with ``InvalidMessageError``).
            RuntimeClosedError: the runtime is closed.
        """
        channel = self.channel(channel_id)
        check_segment(user, "user")
        # The runtime's one rule for empty text, applied to what the user wrote (the text
        # submitted below always holds the sender's name).
        _refuse_empty(text)
        # In a group the model must know who spoke: the sender's name leads the text.
        delivery = self._submit(TurnKind.CHANNEL, channel.lane, f"{user}: {text}", user,
                                channel.queue_mode)
        delivery.handle.wait_accepted(accept_timeout)
        return delivery

    def post_direct(self, user: str, text: str, *, accept_timeout: float = 10.0) -> Delivery:
        """A direct message from ``user``; waits until the turn is accepted (or refused).

        Raises:
            BadInputError: nothing was submitted (empty text: ``InvalidMessageError``).
            RuntimeClosedError: the runtime is closed.
        """
        _refuse_empty(text)
        direct = self.agent.directs[0]
        delivery = self._submit(TurnKind.DIRECT, direct.lane(check_segment(user, "user")), text, user,
                                direct.queue_mode)
        delivery.handle.wait_accepted(accept_timeout)
        return delivery

    def submit_timer(self, lane: str, text: str) -> Delivery:
        """A heartbeat or cron turn (the timer lanes call this); does not wait."""
        kind = TurnKind.HEARTBEAT if lane_kind(lane) == "heartbeat" else TurnKind.CRON
        return self._submit(kind, lane, text, None, None)

    def _submit(self, kind: TurnKind, lane: str, text: str, user: str | None,
                mode: QueueMode | None) -> Delivery:
        key = route(lane, self.agent)
        delivery = Delivery(kind, lane, key, user, text, shares_main=key in self._shared)
        delivery.handle = self.runtime.submit(
            key, text, lane=lane, mode=mode or self.agent.queue.default_mode, on_delta=delivery._on_delta)
        with self._lock:
            self._deliveries[delivery.request_id] = delivery
            self._lock.notify_all()
        asyncio.run_coroutine_threadsafe(self._watch(delivery), self._loop)
        return delivery

    async def _watch(self, delivery: Delivery) -> None:
        try:
            await delivery.handle
        except SessionwardError:
            pass  # a refused request: the handle keeps the error, the view shows it
        finally:
            delivery._settle()

    # -- queries -----------------------------------------------------------------------------

    def delivery(self, request_id: str) -> Delivery | None:
        with self._lock:
            return self._deliveries.get(request_id)

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries.values())

    def views(self) -> list[TurnView]:
        return [d.view() for d in self.deliveries()]

    def wait_until(self, predicate: Callable[[list[Delivery]], bool], timeout: float) -> bool:
        """Wait until ``predicate(deliveries)`` holds, checked at each new delivery; False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: predicate(list(self._deliveries.values())), timeout)

    def wait_all(self, timeout: float) -> bool:
        """Wait until every delivery so far has its final outcome; False on timeout."""
        deadline = time.monotonic() + timeout
        return all(d.wait_done(max(0.0, deadline - time.monotonic())) for d in self.deliveries())

    def shares_main(self, session_key: str) -> bool:
        """Whether ``session_key`` writes the main session's file."""
        return session_key in self._shared

    def close(self) -> None:
        """Stop the outcome watcher (deliveries still pending stay pending). Idempotent."""
        if self._loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def _refuse_empty(text: object) -> None:
    """``validate_text``'s empty-text rule (the size limit is the runtime's to check)."""
    validate_text(text, max_bytes=sys.maxsize)
