"""Agent configuration: loading TOML, checking values, and warning about risky choices."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import cattrs
import pytest

from sessionward.config_file import config_from_mapping, load_config
from sessionward.durations import parse_duration
from sessionward.errors import BadInputError
from sessionward.lanes.config import (
    DEFAULT_HEARTBEAT_PROMPT,
    AgentConfig,
    ChannelConfig,
    CronJobConfig,
    DirectConfig,
    HeartbeatConfig,
    InvalidConfigError,
    InvalidCronExpressionError,
    UnknownConfigKeyError,
    config_warnings,
)
from sessionward.lanes.queue_policy import DropPolicy, QueueMode, QueuePolicy

EXAMPLE = """
[[agents]]
agent_id = "main"
dm_scope = "per_user"

[agents.heartbeat]
every = "30m"
jitter = 0.2
active_hours = ["08:00", "22:00"]
tz = "Europe/Berlin"

[[agents.channels]]
type = "slack"
id = "C123"
queue_mode = "collect"

[[agents.directs]]
type = "telegram"

[[agents.cron]]
name = "nightly"
schedule = "0 3 * * *"
tz = "America/New_York"
prompt = "Summarise yesterday."

[[agents.cron]]
name = "poll"
every = "1h30m"
prompt = "Check the inbox."
session_key = "agent:main:main"

[agents.queue]
max_queued = 50
collect_window = "750ms"
collect_cap = 10
drop_policy = "summarize"

[[agents]]
agent_id = "helper"
dm_scope = "main"

[agents.heartbeat]
every = 600
isolated_session = false
"""


def test_the_example_file_loads_into_the_equal_python_records() -> None:
    agents, _ = load_config(EXAMPLE)
    assert agents == (
        AgentConfig(
            agent_id="main",
            dm_scope="per_user",
            heartbeat=HeartbeatConfig(
                every=1800.0, jitter=0.2, active_hours=("08:00", "22:00"), tz="Europe/Berlin"
            ),
            channels=(ChannelConfig(type="slack", id="C123", queue_mode=QueueMode.COLLECT),),
            directs=(DirectConfig(type="telegram"),),
            cron=(
                CronJobConfig(
                    name="nightly",
                    schedule="0 3 * * *",
                    tz="America/New_York",
                    prompt="Summarise yesterday.",
                ),
                CronJobConfig(
                    name="poll",
                    every=5400.0,
                    prompt="Check the inbox.",
                    session_key="agent:main:main",
                ),
            ),
            queue=QueuePolicy(
                max_queued=50,
                collect_window=0.75,
                collect_cap=10,
                drop_policy=DropPolicy.SUMMARIZE,
            ),
        ),
        AgentConfig(
            agent_id="helper",
            dm_scope="main",
            heartbeat=HeartbeatConfig(every=600.0, isolated_session=False),
        ),
    )


def test_a_heartbeat_in_the_main_session_is_warned_about_in_the_result_and_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sessionward.lanes.config"):
        _, warnings = load_config(EXAMPLE)
    assert len(warnings) == 1
    assert "'helper'" in warnings[0]
    assert "agent:helper:main" in warnings[0]
    assert "queue behind" in warnings[0]
    assert "delay" in warnings[0]
    assert [r.getMessage() for r in caplog.records] == list(warnings)


def test_a_main_session_heartbeat_said_to_be_intended_gives_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    source = EXAMPLE.replace("isolated_session = false", "isolated_session = false\nshared_session_intended = true")
    assert source != EXAMPLE
    with caplog.at_level(logging.WARNING, logger="sessionward.lanes.config"):
        _, warnings = load_config(source)
    assert warnings == () and caplog.records == []


def test_an_isolated_heartbeat_gives_no_warning() -> None:
    assert config_warnings(AgentConfig(heartbeat=HeartbeatConfig())) == ()
    assert config_warnings(AgentConfig()) == ()


def test_a_custom_ack_token_the_prompt_never_mentions_is_warned_about() -> None:
    agent = AgentConfig(heartbeat=HeartbeatConfig(ack_token="NOTHING"))
    (warning,) = config_warnings(agent)
    assert "'NOTHING'" in warning


def test_a_file_without_agents_configures_the_default_agent() -> None:
    assert load_config("") == ((AgentConfig(),), ())


def test_the_default_agent_has_no_timers() -> None:
    agent = AgentConfig()
    assert agent.agent_id == "main"
    assert agent.heartbeat is None
    assert agent.cron == ()


def test_an_empty_agents_list_is_refused() -> None:
    with pytest.raises(InvalidConfigError, match="agents is empty"):
        load_config("agents = []")


def test_a_path_is_read_as_a_file(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert load_config(path) == load_config(EXAMPLE)


def test_a_string_is_read_as_toml_text_and_the_error_hints_at_pathlib() -> None:
    with pytest.raises(InvalidConfigError, match=r"pass a pathlib\.Path"):
        load_config("agents.toml")


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agents.toml"
    path.write_bytes(b'[[agents]]\nagent_id = "\xff"\n')
    with pytest.raises(InvalidConfigError, match="not UTF-8"):
        load_config(path)


def test_a_mapping_built_in_code_loads_like_toml() -> None:
    agents, _ = config_from_mapping({"agents": [{"agent_id": "x", "heartbeat": {"every": 5}}]})
    assert agents == (AgentConfig(agent_id="x", heartbeat=HeartbeatConfig(every=5.0)),)


# --- unknown keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("agent = 1", "agent", "the top level"),
        ("[[agents]]\nagentid = 'x'", "agentid", "agents[0]"),
        ("[[agents]]\n[agents.heartbeat]\nevry = '5m'", "evry", "agents[0].heartbeat"),
        (
            "[[agents]]\n[[agents]]\nagent_id='b'\n[agents.queue]\nmax_queue = 5",
            "max_queue",
            "agents[1].queue",
        ),
        (
            "[[agents]]\n[[agents.cron]]\nname='n'\nevery=5\nprompt='p'\ncron='* * * * *'",
            "cron",
            "agents[0].cron[0]",
        ),
    ],
)
def test_an_unknown_key_is_refused_with_its_name_and_table(text: str, key: str, where: str) -> None:
    with pytest.raises(UnknownConfigKeyError) as caught:
        load_config(text)
    assert caught.value.key == key
    assert caught.value.where == where
    assert str(caught.value) == f"unknown key {key!r} in {where}"


def test_config_errors_are_bad_input_errors() -> None:
    assert issubclass(UnknownConfigKeyError, InvalidConfigError)
    assert issubclass(InvalidCronExpressionError, InvalidConfigError)
    assert issubclass(InvalidConfigError, BadInputError)


def test_an_unknown_key_error_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(UnknownConfigKeyError("evry", "agents[0].heartbeat")))
    assert (error.key, error.where) == ("evry", "agents[0].heartbeat")


def test_the_global_cattrs_converter_is_left_alone() -> None:
    load_config(EXAMPLE)
    # The global converter still ignores extra keys: forbid_extra_keys is local to config.
    assert cattrs.structure({"every": 5, "evry": 1}, HeartbeatConfig) == HeartbeatConfig(every=5)


# --- values -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (0.5, 0.5),
        (0, 0.0),
        ("500ms", 0.5),
        ("45s", 45.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("1.5s", 1.5),
    ],
)
def test_durations_are_seconds_or_unit_strings(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["", "5", "1x", "-5s", "1 h", "h", "5M", True, None, -1, float("inf"), [5]]
)
def test_malformed_durations_are_refused(value: object) -> None:
    with pytest.raises(InvalidConfigError):
        parse_duration(value)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[agents]]\n[agents.heartbeat]\nisolated_session = 'false'", "true or false"),
        ("[[agents]]\n[agents.queue]\nmax_queued = '5'", "an integer"),
        ("[[agents]]\n[agents.queue]\nmax_queued = true", "an integer"),
        ("[[agents]]\nagent_id = 5", "a string"),
        ("[[agents]]\n[agents.heartbeat]\njitter = '0.1'", "a number"),
        ("[[agents]]\n[agents.heartbeat]\nevery = '1x'", "invalid duration"),
        ("[[agents]]\n[agents.queue]\nmax_queued = 0", "max_queued"),
        ("[[agents]]\n[agents.queue]\ndrop_policy = 'sideways'", "sideways"),
        ("[[agents]]\ndm_scope = 'everyone'", "dm_scope"),
        ("[[agents]]\nagent_id = 'a b'", "agent_id"),
        ("[[agents]]\n[[agents.channels]]\ntype = 'slack'", r"channels\[0\]\.id"),
        ("[[agents]]\n[[agents]]", "duplicate agent_id 'main'"),
    ],
)
def test_wrong_values_are_refused_with_where_and_why(text: str, match: str) -> None:
    with pytest.raises(InvalidConfigError, match=match):
        load_config(text)


def test_every_problem_is_named_in_one_error() -> None:
    text = "[[agents]]\n[agents.heartbeat]\nevery = 'soon'\njitter = 'lots'"
    with pytest.raises(InvalidConfigError) as caught:
        load_config(text)
    assert "agents[0].heartbeat.every" in str(caught.value)
    assert "agents[0].heartbeat.jitter" in str(caught.value)


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 * *",  # four fields
        "0 0 3 * * *",  # six fields (seconds)
        "61 * * * *",  # minute out of range
        "@daily",  # aliases are not the documented syntax
        "0 0 30 2 *",  # February 30th never comes
    ],
)
def test_an_invalid_cron_expression_is_refused_at_load_time(schedule: str) -> None:
    text = f"[[agents]]\n[[agents.cron]]\nname = 'n'\nschedule = '{schedule}'\nprompt = 'p'"
    with pytest.raises(InvalidCronExpressionError, match=r"agents\[0\]\.cron\[0\]"):
        load_config(text)


def test_a_cron_job_needs_exactly_one_of_schedule_and_every() -> None:
    with pytest.raises(InvalidConfigError, match="exactly one"):
        CronJobConfig(name="n", prompt="p")
    with pytest.raises(InvalidConfigError, match="exactly one"):
        CronJobConfig(name="n", schedule="* * * * *", every=60, prompt="p")


def test_a_cron_job_session_key_must_be_a_valid_session_key() -> None:
    with pytest.raises(InvalidConfigError, match="session key"):
        CronJobConfig(name="n", every=60, prompt="p", session_key="agent:main")


def test_a_cron_job_needs_a_prompt_and_a_known_time_zone() -> None:
    with pytest.raises(InvalidConfigError, match="prompt"):
        CronJobConfig(name="n", every=60, prompt="  ")
    with pytest.raises(InvalidConfigError, match="time zone"):
        CronJobConfig(name="n", every=60, prompt="p", tz="Mars/Olympus")


def test_a_cron_job_interval_must_be_positive() -> None:
    with pytest.raises(InvalidConfigError, match="every"):
        CronJobConfig(name="n", every=0, prompt="p")


@pytest.mark.parametrize(
    "hours",
    [
        ("8:00", "22:00"),
        ("08:00", "25:00"),
        ("24:00", "06:00"),
        ("08:60", "09:00"),
        ("08:00", "08:00"),
        ("00:00", "24:00"),
    ],
)
def test_malformed_or_ambiguous_active_hours_are_refused(hours: tuple[str, str]) -> None:
    with pytest.raises(InvalidConfigError):
        HeartbeatConfig(active_hours=hours)


def test_active_hours_may_cross_midnight_and_end_at_24_00() -> None:
    assert HeartbeatConfig(active_hours=("22:00", "06:00")).active_hours == ("22:00", "06:00")
    assert HeartbeatConfig(active_hours=("08:00", "24:00")).active_hours == ("08:00", "24:00")


@pytest.mark.parametrize(
    "fields",
    [
        {"jitter": 1.0},
        {"jitter": -0.1},
        {"every": 0},
        {"every": float("nan")},
        {"ack_token": ""},
        {"ack_token": " OK"},
        {"prompt": ""},
        {"tz": "Nowhere/City"},
    ],
)
def test_heartbeat_config_refuses_nonsense(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigError):
        HeartbeatConfig(**fields)  # type: ignore[arg-type]


def test_the_default_heartbeat_prompt_names_the_default_ack_token() -> None:
    assert HeartbeatConfig().prompt == DEFAULT_HEARTBEAT_PROMPT
    assert "HEARTBEAT_OK" in DEFAULT_HEARTBEAT_PROMPT


def test_duplicate_lanes_in_one_agent_are_refused() -> None:
    job = CronJobConfig(name="n", every=60, prompt="p")
    with pytest.raises(InvalidConfigError, match="duplicate cron job 'n'"):
        AgentConfig(cron=(job, job))
    channel = ChannelConfig(type="slack", id="C1")
    with pytest.raises(InvalidConfigError, match="duplicate channel"):
        AgentConfig(channels=(channel, channel))
    with pytest.raises(InvalidConfigError, match="duplicate direct"):
        AgentConfig(directs=(DirectConfig(type="tg"), DirectConfig(type="tg")))


def test_lane_parts_must_be_session_key_segments() -> None:
    with pytest.raises(InvalidConfigError):
        ChannelConfig(type="slack", id="C 1")
    with pytest.raises(InvalidConfigError):
        CronJobConfig(name="a:b", every=60, prompt="p")


def test_records_name_their_lanes() -> None:
    assert ChannelConfig(type="slack", id="C1").lane == "channel:slack:C1"
    assert DirectConfig(type="tg").lane("u1") == "direct:tg:u1"
    assert CronJobConfig(name="n", every=60, prompt="p").lane == "cron:n"


def test_an_agent_finds_its_cron_job_by_name() -> None:
    job = CronJobConfig(name="n", every=60, prompt="p")
    agent = AgentConfig(cron=(job,))
    assert agent.cron_job("n") is job
    assert agent.cron_job("other") is None


def test_loaded_agent_configs_survive_pickling() -> None:
    """Actors receive their config as a pickled message."""
    agents, _ = load_config(EXAMPLE)
    assert pickle.loads(pickle.dumps(agents)) == agents
