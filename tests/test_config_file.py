"""The daemon's whole TOML file, read through the one converter into one record."""

from __future__ import annotations

import pickle
import textwrap

import pytest

from sessionward.actors.placement import Strategy
from sessionward.config import DaemonConfig, ReplayPolicy
from sessionward.config_file import load_daemon_config
from sessionward.errors import InvalidConfigError, UnknownConfigKeyError
from sessionward.providers.base import ProviderSpec
from sessionward.storage.transcript import Durability

WHOLE = """
[runtime]
durability = "entry"
idle_timeout = "5m"
stream_batch_window = "20ms"
replay_policy = "fail"
[runtime.recovery]
recovery_tick = "30s"
stall_after = 120
abort_after = "1h30m"
[runtime.queue]
collect_window = "750ms"
default_mode = "collect"
[provider]
factory = "sessionward.providers.scripted:ScriptedProvider"
kwargs = { reply = "hi" }
[[agents]]
agent_id = "main"
[agents.heartbeat]
every = "30m"
[cluster]
member = "m1"
placement = "least_loaded"
pins = { "agent:ops:*" = "m2", "agent:a:*" = "m1" }
"""


def _write(tmp_path, text: str):
    path = tmp_path / "sessionward.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_every_section_loads_into_one_record_with_enums_and_durations_in_seconds(tmp_path):
    config = load_daemon_config(_write(tmp_path, WHOLE))
    assert config.runtime.durability is Durability.ENTRY
    assert config.runtime.replay_policy is ReplayPolicy.FAIL
    assert (config.runtime.idle_timeout, config.runtime.stream_batch_window) == (300.0, 0.02)
    assert (config.runtime.recovery.recovery_tick, config.runtime.recovery.stall_after) == (30.0, 120.0)
    assert config.runtime.recovery.abort_after == 5400.0
    assert config.runtime.queue.collect_window == 0.75
    assert config.provider == ProviderSpec("sessionward.providers.scripted:ScriptedProvider", {"reply": "hi"})
    assert config.agents[0].heartbeat is not None and config.agents[0].heartbeat.every == 1800.0
    assert config.cluster is not None and config.cluster.placement is Strategy.LEAST_LOADED
    assert config.cluster.pins == (("agent:a:*", "m1"), ("agent:ops:*", "m2"))


def test_no_file_and_an_empty_file_both_give_the_defaults(tmp_path):
    assert load_daemon_config(None) == DaemonConfig() == load_daemon_config(_write(tmp_path, ""))


@pytest.mark.parametrize(
    ("text", "key", "where"),
    [
        ("[clusterr]\nmember = 'x'", "clusterr", "the top level"),
        ("[runtime]\nidle_timout = 5", "idle_timout", "runtime"),
        ("[runtime.recovery]\nstall_afterr = 5", "stall_afterr", "runtime.recovery"),
        ("[provider]\nfactory = 'a:b'\nkwarg = {}", "kwarg", "provider"),
        ("[cluster]\nplacment = 'hash'", "placment", "cluster"),
        ("[[agents]]\n[agents.heartbeat]\nevry = '5m'", "evry", "agents[0].heartbeat"),
    ],
)
def test_an_unknown_key_is_one_line_naming_the_key_its_table_and_the_file(tmp_path, text, key, where):
    path = _write(tmp_path, text)
    with pytest.raises(UnknownConfigKeyError) as caught:
        load_daemon_config(path)
    assert str(caught.value) == f"unknown key {key!r} in {where} of {path}"
    assert isinstance(caught.value, InvalidConfigError)
    again = pickle.loads(pickle.dumps(caught.value))
    assert (again.key, again.where, again.source) == (key, where, str(path))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[runtime]\nidle_timeout = '5 minutes'", r"runtime\.idle_timeout: invalid duration"),
        ("[runtime]\nidle_timeout = true", "idle_timeout"),
        ("[runtime]\nmax_message_bytes = '1MB'", "an integer"),
        ("[runtime]\ndurability = 'sometimes'", "sometimes"),
        ("[runtime]\nreplay_policy = 'again'", "runtime.replay_policy: 'again' is not one of 'requeue', 'fail'"),
        ("[cluster]\nplacement = 'random'", "'random' is not one of 'hash', 'least_loaded'"),
        ("[cluster]\npins = ['a']", "pins must be a table"),
        ("[provider]\nkwargs = {}", r"provider\.factory"),
        ("agents = []", "agents is empty"),
        ("[[agents]]\n[[agents]]", "duplicate agent_id 'main'"),
        ("[runtime", "not valid TOML"),
    ],
)
def test_a_wrong_value_is_a_typed_error_naming_the_file_and_where(tmp_path, text, match):
    path = _write(tmp_path, text)
    with pytest.raises(InvalidConfigError, match=match) as caught:
        load_daemon_config(path)
    message = str(caught.value)
    assert str(path) in message and "\n" not in message


def test_an_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(InvalidConfigError, match="cannot read config"):
        load_daemon_config(tmp_path / "missing.toml")


def test_records_built_in_python_still_take_plain_strings_for_their_enums():
    from sessionward.config import ClusterConfig, RuntimeConfig

    assert RuntimeConfig(replay_policy="fail").replay_policy is ReplayPolicy.FAIL
    assert ClusterConfig(placement="hash").placement == "hash"
    with pytest.raises(ValueError, match="placement must be"):
        ClusterConfig(placement="nearest")


def _docs_config_block() -> str:
    from pathlib import Path

    text = (Path(__file__).parent.parent / "docs" / "operating.md").read_text(encoding="utf-8")
    section = text[text.index("## The daemon's config file"):]
    return section[section.index("```toml\n") + len("```toml\n"):section.index("\n```", section.index("```toml"))]


def test_the_config_in_docs_operating_loads_and_names_every_key(tmp_path):
    import attrs

    from sessionward.config import ClusterConfig, RecoveryConfig, RuntimeConfig
    from sessionward.lanes.queue_policy import QueuePolicy

    block = _docs_config_block()
    config = load_daemon_config(_write(tmp_path, block))
    assert config.runtime.idle_timeout == 300.0 and config.cluster is not None
    keys = {line.split("=")[0].strip() for line in block.splitlines() if "=" in line.split("#")[0]}
    for record in (RuntimeConfig, RecoveryConfig, QueuePolicy, ProviderSpec, ClusterConfig):
        fields = {f.name for f in attrs.fields(record)} - {"recovery", "queue"}
        assert fields <= keys, f"{record.__name__}: {sorted(fields - keys)} not in docs/operating.md"


def test_worker_idle_timeout_is_a_duration_and_defaults_well_below_idle_timeout(tmp_path):
    config = load_daemon_config(_write(tmp_path, '[runtime]\nworker_idle_timeout = "45s"\n'))
    assert config.runtime.worker_idle_timeout == 45.0
    default = DaemonConfig().runtime
    assert default.worker_idle_timeout <= default.idle_timeout / 5


def test_stream_in_is_read_from_the_runtime_table_and_an_unknown_place_is_refused(tmp_path):
    config = load_daemon_config(_write(tmp_path, '[runtime]\nstream_in = "owner"\n'))
    assert config.runtime.stream_in == "owner"
    assert DaemonConfig().runtime.stream_in == "worker"
    with pytest.raises(InvalidConfigError, match=r"runtime\.stream_in: 'thread' is not one of 'worker', 'owner'"):
        load_daemon_config(_write(tmp_path, '[runtime]\nstream_in = "thread"\n'))
