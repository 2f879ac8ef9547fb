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
exists is valid, however it was made. Loading a file adds strict types (``"5"`` is not a
number, ``"false"`` is not a boolean) and refuses unknown keys, so a misspelt key fails
loudly instead of silently keeping its default.
"""

from __future__ import annotations

import logging
import math
import os
import re
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
from cattrs import v as cattrs_v
from cattrs.gen import make_dict_structure_fn, override
from croniter import CroniterError, croniter

# The config errors are defined in errors.py (every public error is); imported from here too.
from sessionward.errors import BadInputError, InvalidConfigError, InvalidCronExpressionError, UnknownConfigKeyError
from sessionward.keys import validate_session_key
from sessionward.lanes.queue_policy import QueueMode, QueuePolicy
from sessionward.lanes.routing import InvalidLaneError, check_segment

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT_PROMPT = (
    "Read HEARTBEAT.md if it exists and follow it strictly. Do not repeat old tasks from"
    " earlier chats. If nothing needs attention, reply HEARTBEAT_OK."
)
"""The heartbeat prompt. It names the default ack token; a custom ``ack_token`` needs a
custom prompt (``config_warnings`` says so)."""


# --- durations --------------------------------------------------------------------------

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_DURATION = re.compile(rf"(?:{_DURATION_PART.pattern})+")


def parse_duration(value: object) -> float:
    """Return a duration in seconds.

    Accepts a number of seconds (``90``, ``0.5``) or a string of number-unit pairs with
    units ``ms``, ``s``, ``m``, ``h``, ``d`` (``"500ms"``, ``"30m"``, ``"1h30m"``).

    Raises:
        InvalidConfigError: anything else, a negative number, or a non-finite one.
    """
    if isinstance(value, bool):
        # bool is an int subclass; ``every = true`` is a mistake, not one second.
        raise InvalidConfigError(f"a duration must be a number or a string, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and _DURATION.fullmatch(value):
        seconds = sum(
            float(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(value)
        )
    else:
        raise InvalidConfigError(
            f"invalid duration {value!r} (seconds, or a string such as '500ms', '30m', '1h')"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidConfigError(f"invalid duration {value!r}: must be finite and not negative")
    return seconds


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


@attrs.frozen(kw_only=True)
class _ConfigFile:
    """The top level of a configuration file."""

    agents: tuple[AgentConfig, ...] = attrs.field(
        default=(AgentConfig(),), validator=_unique("agent_id", lambda a: a.agent_id)
    )

    @agents.validator
    def _check_some(self, _attribute: attrs.Attribute[Any], value: tuple[AgentConfig, ...]) -> None:
        if not value:
            raise InvalidConfigError("agents is empty; omit it for the default agent")


# --- warnings ---------------------------------------------------------------------------


def config_warnings(agent: AgentConfig) -> tuple[str, ...]:
    """Return the warnings about a valid but risky agent configuration.

    ``load_config`` returns and logs these; call it yourself for records built in Python.
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


# --- loading ----------------------------------------------------------------------------


def load_config(
    source: str | os.PathLike[str],
) -> tuple[tuple[AgentConfig, ...], tuple[str, ...]]:
    """Load agent configurations from a TOML file (a path) or TOML text (a ``str``).

    Returns:
        The agents, in file order, and the warnings (also logged at WARNING level).

    Raises:
        UnknownConfigKeyError: a table holds a key no record has.
        InvalidCronExpressionError: a cron job's schedule is invalid.
        InvalidConfigError: the TOML is unreadable, or any other value is wrong.
        OSError: a path cannot be read.
    """
    # A ``str`` is always text: guessing "path or text" from its content would turn a
    # missing file into a confusing TOML error, or a TOML snippet into a file lookup.
    if isinstance(source, str):
        text = source
    else:
        try:
            text = Path(source).read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidConfigError(f"{os.fspath(source)} is not UTF-8: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        hint = "" if "\n" in text else " (to load a file, pass a pathlib.Path)"
        raise InvalidConfigError(f"not valid TOML: {exc}{hint}") from exc
    return config_from_mapping(data)


def config_from_mapping(
    data: Mapping[str, Any],
) -> tuple[tuple[AgentConfig, ...], tuple[str, ...]]:
    """Build agent configurations from parsed TOML (or an equal dict built in code).

    Returns and raises as ``load_config``.
    """
    try:
        root = _CONVERTER.structure(data, _ConfigFile)
    except Exception as exc:  # cattrs groups every problem into one exception
        raise _typed_error(exc) from exc
    found = tuple(w for agent in root.agents for w in config_warnings(agent))
    for warning in found:
        logger.warning("%s", warning)
    return root.agents, found


def _typed_error(exc: Exception) -> InvalidConfigError:
    """Turn a cattrs validation error into one typed error naming every problem."""
    leaves: list[BaseException] = []

    def describe(leaf: BaseException, type_: type | None) -> str:
        leaves.append(leaf)
        if isinstance(leaf, BadInputError):
            return str(leaf)
        if isinstance(leaf, ValueError):
            # attrs validators and enum lookups explain themselves; keep their words.
            return f"invalid value ({leaf})"
        return cattrs_v.format_exception(leaf, type_)

    messages = cattrs_v.transform_error(exc, path="$", format_exception=describe)
    located = [_locate(message) for message in messages]
    # transform_error formats leaves in order, one message each.
    for leaf, (_, where) in zip(leaves, located, strict=False):
        if isinstance(leaf, cattrs.ForbiddenExtraKeysError):
            return UnknownConfigKeyError(min(leaf.extra_fields), where)
    text = "; ".join(f"{where}: {problem}" for problem, where in located)
    for leaf in leaves:
        if isinstance(leaf, InvalidConfigError):
            return type(leaf)(text)
    return InvalidConfigError(text)


def _locate(message: str) -> tuple[str, str]:
    problem, _, path = message.rpartition(" @ ")
    where = path.removeprefix("$").removeprefix(".") or "the top level"
    return problem, where


# --- the converter ----------------------------------------------------------------------


def _strict(kind: type, name: str) -> Any:
    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise InvalidConfigError(f"expected {name}, got {value!r}")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise InvalidConfigError(f"expected {name}, got {value!r}")
        return value

    return structure


def _duration(value: Any, _type: Any) -> float:
    return parse_duration(value)


def _optional_duration(value: Any, _type: Any) -> float | None:
    return None if value is None else parse_duration(value)


def make_converter() -> cattrs.Converter:
    """A converter for configuration input: strict scalars, durations, no unknown keys.

    Local to this module; ``cattrs.global_converter`` is left alone.
    """
    converter = cattrs.Converter(forbid_extra_keys=True)
    # cattrs would turn "false" into True and 5 into "5"; a config file is not allowed
    # those guesses.
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(float, _strict(float, "a number"))
    for cls, fields in (
        (HeartbeatConfig, {"every": _duration}),
        (CronJobConfig, {"every": _optional_duration}),
        (QueuePolicy, {"collect_window": _duration}),
    ):
        overrides = {name: override(struct_hook=hook) for name, hook in fields.items()}
        converter.register_structure_hook(cls, make_dict_structure_fn(cls, converter, **overrides))
    return converter


_CONVERTER = make_converter()
