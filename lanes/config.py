"""Agent configuration: which lanes an agent has, from TOML or built in Python.

A configuration file holds one ``[[agents]]`` table per agent::

    [[agents]]
    agent_id = "main"
    dm_scope = "per_user"          # or "main": direct messages share the main session

    [agents.heartbeat]
    every = "30m"                  # durations: seconds as a number, or "500ms", "45s",
    jitter = 0.1                   # "30m", "1h", "2d", "1h30m"
    active_hours = ["08:00", "22:00"]
    tz = "Europe/Berlin"

    [[agents.channels]]
    type = "slack"
    id = "C123"

    [[agents.directs]]
    type = "telegram"

    [[agents.cron]]
    name = "nightly"
    schedule = "0 3 * * *"         # five-field cron, in the job's tz; or every = "6h"
    prompt = "Summarise yesterday."

    [agents.queue]
    max_queued = 50
    collect_window = "750ms"

A file without ``[[agents]]`` configures one default agent, ``main``, with no timers.

Every record is also an ordinary frozen attrs class: build ``AgentConfig(...)`` in Python
and call ``config_warnings`` on it. Checks run in the constructors, so a record that
exists is valid, however it was made. Files are read by ``sessionward.config_file``
(``load_config``), through the one converter (``sessionward.converter``): strict types
(``"5"`` is not a number, ``"false"`` is not a boolean), the one duration syntax
(``sessionward.durations``), and unknown keys refused, so a misspelt key fails loudly
instead of silently keeping its default.
"""

from __future__ import annotations

import math
import re
import zoneinfo
from typing import Any, Literal

import attrs
from croniter import CroniterError, croniter

from sessionward.errors import BadInputError, InvalidConfigError, InvalidCronExpressionError
from sessionward.errors import UnknownConfigKeyError as UnknownConfigKeyError  # its old home; defined in errors.py
from sessionward.lanes.queue_policy import QueueMode, QueuePolicy
from sessionward.lanes.routing import InvalidLaneError, check_segment
from sessionward.storage.keys import validate_session_key

DEFAULT_HEARTBEAT_PROMPT = (
    "Read HEARTBEAT.md if it exists and follow it strictly. Do not repeat old tasks from"
    " earlier chats. If nothing needs attention, reply HEARTBEAT_OK."
)
"""The heartbeat prompt. It names the default ack token; a custom ``ack_token`` needs a
custom prompt (``config_warnings`` says so)."""


# --- validators -------------------------------------------------------------------------


def _positive(_instance: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise InvalidConfigError(f"{attribute.name} must be a positive number of seconds")


def _non_empty(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise InvalidConfigError(f"{attribute.name} must not be empty")


def _segment(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    # Lane parts become session key segments; see ``routing.check_segment``.
    try:
        check_segment(value, attribute.name)
    except InvalidLaneError as exc:
        raise InvalidConfigError(str(exc)) from exc


def _timezone(_instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidConfigError(f"{attribute.name} {value!r} is not a known time zone") from exc


_CLOCK = re.compile(r"(\d\d):(\d\d)")


def clock_minutes(value: str, *, end: bool = False) -> int:
    """Return minutes after midnight for ``"HH:MM"``; ``"24:00"`` only when ``end``.

    Raises:
        InvalidConfigError: not ``HH:MM``, or out of range.
    """
    match = _CLOCK.fullmatch(value)
    if match is not None:
        hours, minutes = int(match[1]), int(match[2])
        total = hours * 60 + minutes
        if minutes < 60 and (total < 24 * 60 or (end and total == 24 * 60)):
            return total
    limit = "24:00" if end else "23:59"
    raise InvalidConfigError(f"invalid time {value!r}: expected 'HH:MM' from 00:00 to {limit}")


def _active_hours(
    _instance: object, _attribute: attrs.Attribute[Any], value: tuple[str, str] | None
) -> None:
    if value is None:
        return
    if len(value) != 2:
        raise InvalidConfigError("active_hours must be [start, end], such as ['08:00', '22:00']")
    start, end = clock_minutes(value[0]), clock_minutes(value[1], end=True)
    if start == end % (24 * 60):
        # An empty window and an all-day window would look the same; leave the key out
        # for all day.
        raise InvalidConfigError(
            f"active_hours {list(value)} is ambiguous: start equals end (omit it for all day)"
        )


def _unique(what: str, key: Any) -> Any:
    def check(_instance: object, _attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        seen: set[Any] = set()
        for item in value:
            k = key(item)
            if k in seen:
                raise InvalidConfigError(f"duplicate {what} {k!r}")
            seen.add(k)

    return check


# --- records ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class HeartbeatConfig:
    """The heartbeat lane: a periodic turn that checks whether anything needs doing."""

    every: float = attrs.field(default=1800.0, validator=_positive)
    """Seconds between heartbeats (TOML: a duration)."""
    jitter: float = attrs.field(default=0.1)
    """Each interval is ``every`` times a random factor in ``[1 - jitter, 1 + jitter]``,
    so many agents started together do not beat together. A fraction in ``[0, 1)``."""
    active_hours: tuple[str, str] | None = attrs.field(default=None, validator=_active_hours)
    """``("HH:MM", "HH:MM")``: heartbeats run only from start (inclusive) to end
    (exclusive) local time in ``tz``. A window may cross midnight (``22:00``-``06:00``);
    the end may be ``24:00``. ``None``: all day."""
    tz: str = attrs.field(default="UTC", validator=_timezone)
    """The IANA time zone of ``active_hours``."""
    prompt: str = attrs.field(default=DEFAULT_HEARTBEAT_PROMPT, validator=_non_empty)
    """The text of each heartbeat turn."""
    ack_token: str = attrs.field(default="HEARTBEAT_OK")
    """A reply that is exactly this (after trimming whitespace) means "nothing to do"."""
    isolated_session: bool = True
    """Run heartbeats in their own session (``agent:<agent>:main:heartbeat``). With
    ``False`` they run in the main session and queue behind, or delay, user turns there."""
    shared_session_intended: bool = False
    """Say that ``isolated_session = false`` is chosen on purpose, so ``config_warnings``
    does not warn about it (the demo bot shares the main session to show that case)."""

    @jitter.validator
    def _check_jitter(self, _attribute: attrs.Attribute[Any], value: float) -> None:
        if not 0 <= value < 1:
            raise InvalidConfigError("jitter must be a fraction from 0 up to (not including) 1")

    @ack_token.validator
    def _check_ack_token(self, _attribute: attrs.Attribute[Any], value: str) -> None:
        # Replies are compared trimmed, so a token with outer whitespace could never match.
        if not value or value != value.strip():
            raise InvalidConfigError("ack_token must be non-empty without outer whitespace")


@attrs.frozen(kw_only=True)
class ChannelConfig:
    """A group channel the agent takes part in: lane ``channel:<type>:<id>``."""

    type: str = attrs.field(validator=_segment)
    """The channel system (``slack``, ``discord``, ...)."""
    id: str = attrs.field(validator=_segment)
    """The channel's id in that system."""
    queue_mode: QueueMode | None = attrs.field(
        default=None, converter=attrs.converters.optional(QueueMode)
    )
    """The mode for this channel's turns; ``None`` uses the agent's ``queue.default_mode``."""

    @property
    def lane(self) -> str:
        """The lane name."""
        return f"channel:{self.type}:{self.id}"


@attrs.frozen(kw_only=True)
class DirectConfig:
    """A direct-message system the agent answers: lanes ``direct:<type>:<user>``."""

    type: str = attrs.field(validator=_segment)
    """The messaging system (``telegram``, ``slack``, ...)."""
    queue_mode: QueueMode | None = attrs.field(
        default=None, converter=attrs.converters.optional(QueueMode)
    )
    """The mode for direct turns; ``None`` uses the agent's ``queue.default_mode``."""

    def lane(self, user: str) -> str:
        """The lane name for one user."""
        return f"direct:{self.type}:{user}"


@attrs.frozen(kw_only=True)
class CronJobConfig:
    """A cron lane: lane ``cron:<name>``, fired on a schedule or a fixed interval."""

    name: str = attrs.field(validator=_segment)
    """The job's name; its lane is ``cron:<name>``."""
    schedule: str | None = None
    """A five-field cron expression (minute hour day-of-month month day-of-week), read in
    ``tz``. Exactly one of ``schedule`` and ``every`` is set."""
    every: float | None = attrs.field(default=None, validator=_positive)
    """A fixed interval in seconds (TOML: a duration), counted from when the lane
    starts."""
    prompt: str = attrs.field(validator=_non_empty)
    """The text of each run's turn."""
    session_key: str | None = None
    """The session the runs go to. ``None``: the job's own session ``cron:<name>``."""
    tz: str = attrs.field(default="UTC", validator=_timezone)
    """The IANA time zone ``schedule`` is read in."""

    @property
    def lane(self) -> str:
        """The lane name."""
        return f"cron:{self.name}"

    def __attrs_post_init__(self) -> None:
        if (self.schedule is None) == (self.every is None):
            raise InvalidConfigError(
                f"cron job {self.name!r} needs exactly one of 'schedule' and 'every'"
            )
        if self.schedule is not None:
            check_cron_expression(self.schedule)
        if self.session_key is not None:
            try:
                validate_session_key(self.session_key)
            except BadInputError as exc:
                raise InvalidConfigError(f"cron job {self.name!r}: {exc}") from exc


def check_cron_expression(expression: str) -> str:
    """Return ``expression`` if it is a five-field cron expression that ever fires.

    Raises:
        InvalidCronExpressionError: wrong number of fields, a bad field, or a schedule that
            never matches (``0 0 30 2 *``, February 30th).
    """
    # croniter also takes six- and seven-field forms (seconds, years) and @-aliases;
    # refusing them keeps one documented syntax.
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise InvalidCronExpressionError(
            f"invalid cron expression {expression!r}: expected five fields"
            " (minute hour day-of-month month day-of-week)"
        )
    try:
        croniter(expression, 0.0).get_next(float)
    except CroniterError as exc:
        raise InvalidCronExpressionError(
            f"cron expression {expression!r} never fires: {exc}"
        ) from exc
    return expression


@attrs.frozen(kw_only=True)
class AgentConfig:
    """One agent and its lanes."""

    agent_id: str = attrs.field(default="main", validator=_segment)
    """The agent's id; the second segment of its session keys (``agent:<agent_id>:...``)."""
    dm_scope: Literal["per_user", "main"] = attrs.field(default="per_user")
    """``per_user``: each direct-message user gets a session. ``main``: every direct
    message goes to the agent's main session."""
    heartbeat: HeartbeatConfig | None = None
    """The heartbeat lane, or ``None`` for none. Off unless configured: a library should
    not start paid model calls nobody asked for."""
    channels: tuple[ChannelConfig, ...] = attrs.field(
        default=(), validator=_unique("channel", lambda c: c.lane)
    )
    """Group channels."""
    directs: tuple[DirectConfig, ...] = attrs.field(
        default=(), validator=_unique("direct type", lambda d: d.type)
    )
    """Direct-message systems."""
    cron: tuple[CronJobConfig, ...] = attrs.field(
        default=(), validator=_unique("cron job", lambda j: j.name)
    )
    """Cron jobs, with unique names."""
    queue: QueuePolicy = QueuePolicy()
    """The queue policy of this agent's sessions."""

    @dm_scope.validator
    def _check_dm_scope(self, _attribute: attrs.Attribute[Any], value: str) -> None:
        if value not in ("per_user", "main"):
            raise InvalidConfigError(f"dm_scope must be 'per_user' or 'main', got {value!r}")

    def cron_job(self, name: str) -> CronJobConfig | None:
        """The cron job called ``name``, if configured."""
        return next((job for job in self.cron if job.name == name), None)


unique_agent_ids = _unique("agent_id", lambda a: a.agent_id)
"""Validator: no two agents share an ``agent_id`` (the daemon's config uses it too)."""


@attrs.frozen(kw_only=True)
class AgentsFile:
    """The top level of an agents-only configuration file (``load_config``)."""

    agents: tuple[AgentConfig, ...] = attrs.field(
        default=(AgentConfig(),), validator=unique_agent_ids
    )

    @agents.validator
    def _check_some(self, _attribute: attrs.Attribute[Any], value: tuple[AgentConfig, ...]) -> None:
        if not value:
            raise InvalidConfigError("agents is empty; omit it for the default agent")


# --- warnings ---------------------------------------------------------------------------


def config_warnings(agent: AgentConfig) -> tuple[str, ...]:
    """Return the warnings about a valid but risky agent configuration.

    ``sessionward.config_file.load_config`` returns and logs these; call it yourself for
    records built in Python.
    """
    found: list[str] = []
    heartbeat = agent.heartbeat
    if heartbeat is not None and not heartbeat.isolated_session and not heartbeat.shared_session_intended:
        found.append(
            f"agent {agent.agent_id!r}: heartbeat.isolated_session is false, so heartbeats run"
            f" in the main session agent:{agent.agent_id}:main, where they queue behind user"
            " turns (or are skipped while it is busy) and delay the user turns that arrive"
            " while one runs"
        )
    if heartbeat is not None and heartbeat.ack_token not in heartbeat.prompt:
        found.append(
            f"agent {agent.agent_id!r}: the heartbeat prompt never mentions its ack_token"
            f" {heartbeat.ack_token!r}, so the model cannot know how to say 'nothing to do'"
        )
    return tuple(found)
