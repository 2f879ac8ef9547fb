"""Lane names, their routes to session keys, and their priorities."""

from __future__ import annotations

import pytest

from sessionward.errors import BadInputError
from sessionward.lanes.config import AgentConfig, CronJobConfig, HeartbeatConfig
from sessionward.lanes.routing import (
    MAX_LANE_LENGTH,
    InvalidLaneError,
    Lane,
    LaneKind,
    UnroutableLaneError,
    lane_kind,
    lane_priority,
    parse_lane,
    route,
    validate_lane_name,
)
from sessionward.storage.keys import validate_session_key

AGENT = AgentConfig(agent_id="ops")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("main", Lane(LaneKind.MAIN, "main", ())),
        ("heartbeat", Lane(LaneKind.HEARTBEAT, "heartbeat", ())),
        ("channel:slack:C123", Lane(LaneKind.CHANNEL, "channel:slack:C123", ("slack", "C123"))),
        ("direct:telegram:u@x", Lane(LaneKind.DIRECT, "direct:telegram:u@x", ("telegram", "u@x"))),
        ("cron:nightly", Lane(LaneKind.CRON, "cron:nightly", ("nightly",))),
        ("subagent:abc", Lane(LaneKind.OTHER, "subagent:abc", ("subagent", "abc"))),
        ("hook", Lane(LaneKind.OTHER, "hook", ("hook",))),
    ],
)
def test_parse_lane_splits_each_kind_into_its_parts(name: str, expected: Lane) -> None:
    assert parse_lane(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "",
        "channel::C1",  # empty part
        "channel:slack:",  # empty trailing part
        ":main",
        "channel:slack",  # too few parts for a channel
        "channel:slack:C1:extra",  # too many
        "direct:telegram",
        "cron:",
        "cron:a:b",
        "heartbeat:x",  # heartbeat takes no parts
        "main:x",
        "channel:slack:C 1",  # whitespace
        " main",
        "main\n",
        "channel:slack:C\x001",  # control character
        "channel:slack:C\x7f",
        "channel:sl/ack:C1",  # a path character
        "cron:..",  # a path step
        "cron:.",
        "cron:" + "x" * 129,  # part too long
        "other:" + "x" * MAX_LANE_LENGTH,  # name too long
        "direct:tg:ü",  # non-ASCII
    ],
)
def test_parse_lane_refuses_malformed_names_with_a_bad_input_error(name: str) -> None:
    with pytest.raises(InvalidLaneError):
        parse_lane(name)


def test_invalid_lane_error_is_a_bad_input_error_and_a_value_error() -> None:
    assert issubclass(InvalidLaneError, BadInputError)
    assert issubclass(InvalidLaneError, ValueError)


def test_parse_lane_refuses_a_non_string() -> None:
    with pytest.raises(InvalidLaneError):
        parse_lane(42)  # type: ignore[arg-type]


def test_a_lane_name_of_exactly_the_maximum_length_is_accepted() -> None:
    name = "other:" + "x" * 100 + ":" + "y" * (MAX_LANE_LENGTH - 107)
    assert len(name) == MAX_LANE_LENGTH
    assert parse_lane(name).kind is LaneKind.OTHER


def test_kinds_are_case_sensitive_so_a_capitalised_prefix_is_another_lane() -> None:
    assert lane_kind("Heartbeat") is LaneKind.OTHER


@pytest.mark.parametrize(
    ("lane", "key"),
    [
        ("main", "agent:ops:main"),
        ("heartbeat", "agent:ops:main:heartbeat"),
        ("channel:slack:C123", "agent:ops:slack:channel:C123"),
        ("direct:telegram:4711", "agent:ops:telegram:direct:4711"),
        ("cron:nightly", "cron:nightly"),
    ],
)
def test_route_gives_each_lane_kind_its_default_session_key(lane: str, key: str) -> None:
    assert route(lane, AGENT) == key


def test_routed_keys_pass_the_authoritative_key_validator() -> None:
    for lane in ("main", "heartbeat", "channel:a.b:c-d", "direct:x:u+1@h", "cron:n_1"):
        assert validate_session_key(route(lane, AGENT)) == route(lane, AGENT)


def test_a_heartbeat_is_isolated_when_the_agent_has_no_heartbeat_config() -> None:
    assert AGENT.heartbeat is None
    assert route("heartbeat", AGENT) == "agent:ops:main:heartbeat"


def test_a_non_isolated_heartbeat_goes_to_the_main_session() -> None:
    agent = AgentConfig(agent_id="ops", heartbeat=HeartbeatConfig(isolated_session=False))
    assert route("heartbeat", agent) == "agent:ops:main"


def test_direct_messages_go_to_the_main_session_when_dm_scope_is_main() -> None:
    agent = AgentConfig(agent_id="ops", dm_scope="main")
    assert route("direct:telegram:4711", agent) == "agent:ops:main"
    assert route("direct:slack:U9", agent) == "agent:ops:main"


def test_dm_scope_main_leaves_channels_alone() -> None:
    agent = AgentConfig(agent_id="ops", dm_scope="main")
    assert route("channel:slack:C1", agent) == "agent:ops:slack:channel:C1"


def test_a_cron_job_that_names_a_session_key_routes_there() -> None:
    job = CronJobConfig(name="digest", every=3600, prompt="p", session_key="agent:ops:main")
    agent = AgentConfig(agent_id="ops", cron=(job,))
    assert route("cron:digest", agent) == "agent:ops:main"


def test_an_unconfigured_cron_job_routes_to_its_own_session() -> None:
    assert route("cron:adhoc", AGENT) == "cron:adhoc"


def test_route_accepts_a_parsed_lane() -> None:
    assert route(parse_lane("channel:slack:C1"), AGENT) == "agent:ops:slack:channel:C1"


def test_route_refuses_an_other_lane_rather_than_inventing_a_session() -> None:
    with pytest.raises(UnroutableLaneError):
        route("chanel:slack:C1", AGENT)


def test_route_refuses_a_malformed_lane() -> None:
    with pytest.raises(InvalidLaneError):
        route("channel:slack", AGENT)


@pytest.mark.parametrize(
    ("lane", "priority"),
    [
        ("direct:tg:1", 0),
        ("channel:slack:C1", 0),
        ("main", 0),
        ("cron:nightly", 1),
        ("subagent:x", 1),
        ("heartbeat", 2),
    ],
)
def test_lane_priority_puts_people_before_cron_before_heartbeat(lane: str, priority: int) -> None:
    assert lane_priority(lane) == priority


def test_lane_priority_never_raises_on_an_odd_name() -> None:
    assert lane_priority("") == 1
    assert lane_priority("heartbeat:extra") == 2


@pytest.mark.parametrize("name", ["direct", "web", "x", "direct:cli:alice", "channel:slack:C1", "a.b@c+d-e_f"])
def test_validate_lane_name_accepts_names_of_any_shape_made_of_key_segments(name: str) -> None:
    assert validate_lane_name(name) == name


@pytest.mark.parametrize(
    "name", ["no such lane!", "", " ", "a::b", ":a", "a:", "a/b", "..", "a:..", "é", "x" * 201, None, 3]
)
def test_validate_lane_name_refuses_what_no_session_key_segment_could_hold(name: object) -> None:
    with pytest.raises(InvalidLaneError):
        validate_lane_name(name)


def test_lane_errors_live_with_every_other_error() -> None:
    import sessionward.errors

    assert InvalidLaneError is sessionward.errors.InvalidLaneError
