"""The one cattrs converter: records to JSON and back, and configuration files to records.

Shaped like cattrs' ``preconf/json.py``: ``make_converter()`` builds a fresh converter
and ``configure_converter`` registers the hooks; ``cattrs.global_converter`` is left
alone. Records have no JSON methods of their own (attrs and cattrs both advise against
classes that are their own wire format). This is the only module that imports cattrs
(an import-linter contract checks it).

The admin replies travel as a tagged union (``"kind"`` names the record), so a reader of
``sessionward ... --json`` can tell them apart.

Configuration (the daemon's whole TOML, ``DaemonConfig``, and the agents-only file,
``AgentsFile``) is structured strictly: ``"5"`` is not a number and ``"false"`` not a
boolean (cattrs would guess), every time field takes the one duration syntax
(``sessionward.durations``), and an unknown key is refused. Problems come back as one
typed error (``InvalidConfigError``) whose one line names the key, its table and the file.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

import cattrs
from cattrs import v as cattrs_v
from cattrs.gen import make_dict_structure_fn, override
from cattrs.preconf.json import make_converter as make_json_converter
from cattrs.strategies import configure_tagged_union

from sessionward.actors.messages import OwnerState, SessionsPage, SystemStatus, TurnRecord
from sessionward.config import ClusterConfig, DaemonConfig, RecoveryConfig, RuntimeConfig
from sessionward.durations import parse_duration
from sessionward.errors import BadInputError, InvalidConfigError, UnknownConfigKeyError
from sessionward.lanes.config import AgentConfig, AgentsFile, CronJobConfig, HeartbeatConfig
from sessionward.lanes.queue_policy import QueuePolicy
from sessionward.outcomes import TurnOutcome
from sessionward.recovery.history import RecoveryAction

AdminReply = OwnerState | SessionsPage | SystemStatus | TurnOutcome | RecoveryAction
"""Everything the admin CLI prints with ``--json``."""

TAG_KEY = "kind"

DURATION_FIELDS: dict[type, tuple[str, ...]] = {
    RuntimeConfig: ("idle_timeout", "worker_idle_timeout", "shared_fsync_window", "stream_batch_window",
                    "index_flush_after"),
    RecoveryConfig: ("recovery_tick", "stall_after", "abort_after", "status_timeout", "wedged_after",
                     "replace_backoff", "park_window"),
    QueuePolicy: ("collect_window",),
    HeartbeatConfig: ("every",),
    CronJobConfig: ("every",),
    ClusterConfig: ("heartbeat_every", "member_timeout", "lease_timeout"),
}
"""The configuration fields that are durations: float seconds in the record, the duration
syntax in a file. A new time field of a config record belongs here."""

CONFIG_RECORDS: tuple[type, ...] = (QueuePolicy, RecoveryConfig, HeartbeatConfig, CronJobConfig, ClusterConfig,
                                    RuntimeConfig, AgentConfig, AgentsFile, DaemonConfig)
"""The records a configuration file is read into, inner ones first: a record's structuring
function takes the hooks of its fields' records as they are when it is made."""


def configure_converter(converter: cattrs.Converter) -> cattrs.Converter:
    """Register every hook sessionward needs on ``converter`` and return it."""
    # Addresses and pickled blobs never reach JSON: the admin records hold none.
    configure_tagged_union(
        AdminReply, converter, tag_name=TAG_KEY, tag_generator=lambda cls: _snake(cls.__name__)
    )
    converter.register_unstructure_hook(TurnRecord, cattrs.gen.make_dict_unstructure_fn(TurnRecord, converter))
    # cattrs would turn "false" into True and 5 into "5"; neither a config file nor an admin
    # record is allowed those guesses. (JSON's numbers and strings pass these unchanged.)
    for kind, name in ((str, "a string"), (bool, "true or false"), (int, "an integer"), (float, "a number")):
        converter.register_structure_hook(kind, _strict(kind, name))
    # Hooks dispatch on the class's MRO, where StrEnum comes before str: enums stay enums.
    converter.register_structure_hook(enum.StrEnum, _enum_member)
    for cls in CONFIG_RECORDS:
        overrides: dict[str, Any] = {name: override(struct_hook=_duration) for name in DURATION_FIELDS.get(cls, ())}
        if cls is ClusterConfig:
            overrides["pins"] = override(struct_hook=_pins)
        converter.register_structure_hook(
            cls, make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True, **overrides)
        )
    return converter


def make_converter() -> cattrs.Converter:
    """A new JSON converter with sessionward's hooks."""
    return configure_converter(make_json_converter(forbid_extra_keys=True))


def to_json_data(record: Any) -> Any:
    """A record (or a list of records) as JSON-ready data, tagged with its kind."""
    if isinstance(record, list | tuple):
        return [to_json_data(r) for r in record]
    return converter.unstructure(record, AdminReply)


def from_json_data(data: Any) -> Any:
    """The inverse of ``to_json_data`` for one record."""
    return converter.structure(data, AdminReply)


def structure_config(data: Mapping[str, Any], cls: type = RuntimeConfig, *, source: str | None = None) -> Any:
    """A config record (``RuntimeConfig``, ``DaemonConfig``, ``AgentsFile``, ...) from TOML data.

    Args:
        source: the file the data came from, named in every error.

    Raises:
        UnknownConfigKeyError: a table holds a key no record has (the first one, by name).
        InvalidCronExpressionError: a cron job's schedule is invalid.
        InvalidConfigError: any other wrong value, with every problem and where it is.
    """
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs groups every problem into one exception
        raise _typed_error(exc, source) from None


def _typed_error(exc: Exception, source: str | None) -> InvalidConfigError:
    """One typed error naming every problem of a cattrs structuring error."""
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
            return UnknownConfigKeyError(min(leaf.extra_fields), where, source)
    text = "; ".join(f"{where}: {problem}" for problem, where in located)
    if source is not None:
        text = f"{source}: {text}"
    for leaf in leaves:
        if isinstance(leaf, InvalidConfigError):
            return type(leaf)(text)
    return InvalidConfigError(text)


def _locate(message: str) -> tuple[str, str]:
    problem, _, path = message.rpartition(" @ ")
    where = path.removeprefix("$").removeprefix(".") or "the top level"
    return problem, where


def _strict(kind: type, name: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _type: Any) -> Any:
        if isinstance(value, bool) and kind is not bool:
            raise InvalidConfigError(f"expected {name}, got {value!r}")
        if kind is float and isinstance(value, int):
            return float(value)
        if not isinstance(value, kind):
            raise InvalidConfigError(f"expected {name}, got {value!r}")
        return value

    return structure


def _enum_member(value: Any, type_: Any) -> Any:
    if not isinstance(value, str):
        raise InvalidConfigError(f"expected a string, got {value!r}")
    try:
        return type_(value)
    except ValueError:
        choices = ", ".join(repr(member.value) for member in type_)
        raise InvalidConfigError(f"{value!r} is not one of {choices}") from None


def _duration(value: Any, _type: Any) -> float | None:
    # Optional durations (``abort_after``, a cron job's ``every``) are absent, never null: TOML
    # has no null.
    return None if value is None else parse_duration(value)


def _pins(value: Any, _type: Any) -> tuple[tuple[str, str], ...]:
    # A TOML table {pattern = member} becomes sorted (pattern, member) pairs.
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidConfigError(f"pins must be a table of pattern = member, got {value!r}")
    return tuple(sorted(value.items()))


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


converter = make_converter()
"""The module's converter; build another with ``make_converter()`` to customise."""
