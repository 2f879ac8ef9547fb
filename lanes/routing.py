"""Lanes and routing: which session a lane's turns go to, and which lane goes first.

A *lane* is a named source of turns. Its name says what it is:

=================================  ==========================================================
lane name                          default session key
=================================  ==========================================================
``main``                           ``agent:<agent>:main`` (the mirrored main lane)
``heartbeat``                      ``agent:<agent>:main:heartbeat`` (an isolated session), or
                                   ``agent:<agent>:main`` when the agent's heartbeat has
                                   ``isolated_session = false``
``channel:<type>:<id>``            ``agent:<agent>:<type>:channel:<id>``
``direct:<type>:<user>``           ``agent:<agent>:<type>:direct:<user>``, or
                                   ``agent:<agent>:main`` when the agent's ``dm_scope`` is
                                   ``"main"``
``cron:<job>``                     ``cron:<job>``, or the ``session_key`` the job names
anything else                      kind ``other``: no default session; the submitter names one
=================================  ==========================================================

Lane priorities (lower runs first, see ``lane_priority``): direct, channel and main 0,
cron and other 1, heartbeat 2. A person waiting for an answer goes ahead of a timer.

Every part of a lane name becomes a segment of a session key, so parts follow the session
key segment rule of ``sessionward.storage.keys``: 1 to 128 of ``[A-Za-z0-9_.@+-]``, never ``.`` or
``..``. ``route`` builds keys only from checked parts and then passes the result through
``sessionward.storage.keys.validate_session_key``, the one authority on keys.
"""

from __future__ import annotations

import enum
import functools
import re
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from sessionward.errors import InvalidLaneError as InvalidLaneError  # defined in errors.py
from sessionward.errors import UnroutableLaneError as UnroutableLaneError
from sessionward.storage.keys import validate_session_key

if TYPE_CHECKING:
    # Only for annotations: config imports queue_policy, which imports this module.
    from sessionward.lanes.config import AgentConfig

MAX_LANE_LENGTH = 200
"""Longest accepted lane name, in characters."""

_SEGMENT = re.compile(r"[A-Za-z0-9_.@+\-]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# InvalidLaneError and UnroutableLaneError live in sessionward.errors (with every other
# error) and are still importable from here, where they were first defined.
class LaneKind(enum.StrEnum):
    """What kind of source a lane is; the first ``:`` part of its name."""

    HEARTBEAT = "heartbeat"
    CHANNEL = "channel"
    DIRECT = "direct"
    CRON = "cron"
    MAIN = "main"
    OTHER = "other"
    """Any name whose first part is none of the above (sub-agents, hooks, tools)."""


LANE_PRIORITY: MappingProxyType[LaneKind, int] = MappingProxyType(
    {
        LaneKind.DIRECT: 0,
        LaneKind.CHANNEL: 0,
        LaneKind.MAIN: 0,
        LaneKind.CRON: 1,
        LaneKind.OTHER: 1,
        LaneKind.HEARTBEAT: 2,
    }
)
"""Priority of each lane kind; lower runs first. Ties run in arrival order."""

# How many parts after the kind each reserved kind takes. OTHER takes any number.
_ARITY: MappingProxyType[LaneKind, int] = MappingProxyType(
    {
        LaneKind.MAIN: 0,
        LaneKind.HEARTBEAT: 0,
        LaneKind.CHANNEL: 2,
        LaneKind.DIRECT: 2,
        LaneKind.CRON: 1,
    }
)
_SHAPES: MappingProxyType[LaneKind, str] = MappingProxyType(
    {
        LaneKind.MAIN: "main",
        LaneKind.HEARTBEAT: "heartbeat",
        LaneKind.CHANNEL: "channel:<type>:<id>",
        LaneKind.DIRECT: "direct:<type>:<user>",
        LaneKind.CRON: "cron:<job>",
    }
)


@attrs.frozen
class Lane:
    """A parsed, checked lane name."""

    kind: LaneKind
    """What kind of source the lane is."""
    name: str
    """The full lane name, as given (``channel:slack:C123``)."""
    parts: tuple[str, ...]
    """The parts after the kind: ``()`` for main and heartbeat, ``(type, id)`` for a
    channel, ``(type, user)`` for a direct lane, ``(job,)`` for cron. For ``other``, every
    part of the name, the first included."""


def check_segment(value: str, what: str) -> str:
    """Return ``value`` if it can be one segment of a session key.

    Raises:
        InvalidLaneError: ``value`` is not 1 to 128 of ``[A-Za-z0-9_.@+-]``, or is ``.``
            or ``..`` (a segment that looks like a path step is refused even though keys
            are never used as paths).
    """
    if value in (".", "..") or not _SEGMENT.fullmatch(value):
        raise InvalidLaneError(
            f"{what} {value!r} is malformed (1 to 128 of letters, digits and _ . @ + -)"
        )
    return value


@functools.lru_cache(maxsize=4096)
def lane_kind(name: str) -> LaneKind:
    """Classify a lane name by its first part, without checking the rest.

    Never raises: the queue uses it on every turn, and a turn's lane was checked when the
    turn was submitted. Cached: the queue orders its turns by it on every admission and
    every take, and a name's kind never changes.
    """
    head = name.split(":", 1)[0]
    try:
        return LaneKind(head)
    except ValueError:
        return LaneKind.OTHER


def lane_priority(lane_name: str) -> int:
    """Return the lane's priority: 0 for direct, channel and main, 1 for cron and other,
    2 for heartbeat. Lower runs first."""
    return LANE_PRIORITY[lane_kind(lane_name)]


def validate_lane_name(name: object) -> str:
    """Return ``name`` if it is a well-formed lane name: the grammar every submit checks.

    A lane name is 1 to ``MAX_LANE_LENGTH`` characters of ``:``-separated parts, each 1 to
    128 of ``[A-Za-z0-9_.@+-]`` and never ``.`` or ``..`` (the session key segment rule).
    The shape of a routed kind (``channel:<type>:<id>``) is ``parse_lane``'s concern: a
    turn submitted with an explicit session key may name any well-formed lane
    (``direct``, ``web``).

    Raises:
        InvalidLaneError: ``name`` is not a string, is empty, too long, holds whitespace or
            control characters, or has an empty or malformed part (``no such lane!``).
    """
    if not isinstance(name, str):
        raise InvalidLaneError(f"lane name must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidLaneError("lane name is empty")
    if len(name) > MAX_LANE_LENGTH:
        raise InvalidLaneError(f"lane name is longer than {MAX_LANE_LENGTH} characters")
    # Whitespace and control characters get their own message: they are the usual
    # copy-paste accidents, and "malformed" alone would not say which character it was.
    if any(ch.isspace() for ch in name):
        raise InvalidLaneError(f"lane name {name!r} contains whitespace")
    if _CONTROL.search(name):
        raise InvalidLaneError(f"lane name {name!r} contains a control character")
    segments = name.split(":")
    for segment in segments:
        if not segment:
            raise InvalidLaneError(f"lane name {name!r} has an empty part")
        check_segment(segment, f"lane {name!r}: part")
    return name


def parse_lane(name: str) -> Lane:
    """Parse and check a lane name: its grammar (``validate_lane_name``) and its shape.

    Raises:
        InvalidLaneError: ``name`` is not a well-formed lane name, or has the wrong number
            of parts for its kind (``channel:slack`` or ``heartbeat:x``).
    """
    validate_lane_name(name)
    segments = name.split(":")
    kind = lane_kind(name)
    if kind is LaneKind.OTHER:
        return Lane(kind=kind, name=name, parts=tuple(segments))
    parts = tuple(segments[1:])
    if len(parts) != _ARITY[kind]:
        raise InvalidLaneError(f"lane name {name!r} must have the shape {_SHAPES[kind]!r}")
    return Lane(kind=kind, name=name, parts=parts)


def route(lane: str | Lane, agent: AgentConfig) -> str:
    """Return the session key that ``lane``'s turns go to for ``agent``.

    Raises:
        InvalidLaneError: the lane name is malformed (see ``parse_lane``).
        UnroutableLaneError: the lane is of kind ``other``. Inventing a session for an
            unknown lane would let a misspelt lane (``chanel:...``) quietly start a new
            transcript; such lanes name their session key when they submit.
    """
    parsed = lane if isinstance(lane, Lane) else parse_lane(lane)
    base = f"agent:{agent.agent_id}"
    match parsed.kind:
        case LaneKind.MAIN:
            key = f"{base}:main"
        case LaneKind.HEARTBEAT:
            heartbeat = agent.heartbeat
            isolated = heartbeat is None or heartbeat.isolated_session
            key = f"{base}:main:heartbeat" if isolated else f"{base}:main"
        case LaneKind.CHANNEL:
            channel_type, channel_id = parsed.parts
            key = f"{base}:{channel_type}:channel:{channel_id}"
        case LaneKind.DIRECT:
            direct_type, user = parsed.parts
            if agent.dm_scope == "main":
                key = f"{base}:main"
            else:
                key = f"{base}:{direct_type}:direct:{user}"
        case LaneKind.CRON:
            (job_name,) = parsed.parts
            job = agent.cron_job(job_name)
            key = job.session_key if job is not None and job.session_key else f"cron:{job_name}"
        case _:
            raise UnroutableLaneError(
                f"lane {parsed.name!r} is not a main, heartbeat, channel, direct or cron lane;"
                " submit its turns with an explicit session key"
            )
    return validate_session_key(key)
