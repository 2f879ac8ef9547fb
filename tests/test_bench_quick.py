"""The benchmark harness works: every workload runs end to end at a tiny size and reports.

These check the harness, not the figures: each workload runs in this process with counts
of a handful (on simpleSystemBase where the workload allows it, so a runtime starts in
milliseconds; the incident mix once on multiprocTCPBase, the base the benchmark uses), and
the table, the targets and the JSON come out whole.
"""

from __future__ import annotations

import json
import math
import os
import pickle

import pytest

from benchmarks import __main__ as cli
from benchmarks.workloads import WORKLOADS, durability, incident, run_in_fresh_process, scale, streaming, throughput
from benchmarks.workloads.measure import pss_kib, raw_fsync_rate, read_count_file
from benchmarks.workloads.provider import MixProvider, TokenProvider, mix_text
from benchmarks.workloads.report import (
    Figure,
    Target,
    WorkloadResult,
    fmt,
    format_markdown,
    format_text,
    write_json,
)
from sessionward.providers.base import MessageEnd, ProviderRequest, StreamControl, TextDelta

TINY = {
    "incident": incident.Params(turns=12, scale=0.1),
    "throughput": throughput.Params(sessions=3, turns_per_session=2, paced_rate=50, paced_turns=4,
                                    sequential_turns=3, long_session_turns=5, base="simple"),
    "streaming": streaming.Params(tokens_per_turn=300, single_turns=1, sessions=2,
                                  turns_per_session=1, base="simple"),
    "scale": scale.Params(steps=(2, 3), stream_seconds=0.05, activation_sample=2,
                          disk_sessions=20, disk_sample=3, reactivate_sample=2, idle_timeout=0.3,
                          base="simple"),
    "durability": durability.Params(sessions=2, turns_per_session=3, raw_seconds=0.05,
                                    base="simple"),
}
"""Each workload at the smallest size that still runs every phase."""

MODULES = {"incident": incident, "throughput": throughput, "streaming": streaming,
           "scale": scale, "durability": durability}


def _request(text: str) -> ProviderRequest:
    return ProviderRequest("agent:main:main", "turn1", text)


def test_every_workload_has_a_tiny_form_here():
    assert set(TINY) == set(WORKLOADS) == set(MODULES)


def test_the_mix_provider_streams_the_length_and_chunks_its_text_names(tmp_path):
    counts = tmp_path / "streams.txt"
    provider = pickle.loads(pickle.dumps(MixProvider(count_file=str(counts))))
    events = list(provider.stream(_request(mix_text(0.01, 4, "hello")), StreamControl()))
    assert len([e for e in events if isinstance(e, TextDelta)]) == 4
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "reply to turn1"
    assert isinstance(events[-1], MessageEnd)
    assert read_count_file(counts) == {"turn1": 1}


def test_an_aborted_mix_stream_ends_at_once():
    control = StreamControl()
    control.cancel()
    events = list(MixProvider().stream(_request(mix_text(30.0, 3, "long")), control))
    assert events == []


def test_the_token_provider_streams_its_tokens():
    events = list(pickle.loads(pickle.dumps(TokenProvider(50, "ab "))).stream(_request("x"), StreamControl()))
    assert [e.text for e in events[:-1]] == ["ab "] * 50 and isinstance(events[-1], MessageEnd)


def test_the_raw_fsync_loop_and_pss_measure_something(tmp_path):
    rate, count = raw_fsync_rate(tmp_path, 200, 0.05)
    assert count >= 1 and rate > 0
    assert list(tmp_path.iterdir()) == []
    assert pss_kib(os.getpid()) > 0
    assert pss_kib(2**22 + 12345) is None


def test_targets_say_met_missed_or_unmeasured():
    assert Target("<=", 3).met(2.5) is True
    assert Target("<=", 3).met(3.5) is False
    assert Target(">=", 200).met(math.nan) is None
    assert fmt(math.nan) == "-" and fmt(12345.6) == "12,346" and fmt(True) == "yes"


def test_a_result_prints_as_text_and_markdown_and_writes_json(tmp_path):
    result = WorkloadResult(
        name="demo", title="demo", columns=("system", "turns/s"),
        rows=({"system": "sessionward", "turns/s": 210.0},),
        figures=(Figure("turns/s", 210.0, "turns/s", Target(">=", 200)),
                 Figure("p99", math.nan, "ms", Target("<=", 10))),
        notes=("a note",),
    )
    text = format_text(result)
    assert "turns/s" in text and "met" in text and "a note" in text
    assert "| sessionward | 210.0 |" in format_markdown(result)
    path = write_json(result, quick=True, results_dir=tmp_path, when="now")
    assert path == tmp_path / "quick" / "demo.json"
    document = json.loads(path.read_text())
    assert document["figures"][0]["met"] is True and document["figures"][1]["value"] is None


@pytest.mark.parametrize("name", WORKLOADS)
def test_each_workload_runs_end_to_end_at_a_tiny_size(name, tmp_path):
    result = MODULES[name].run(TINY[name], tmp_path)
    assert result.name == name
    assert result.rows and all(result.columns[0] in row for row in result.rows)
    assert result.figures
    format_text(result)
    format_markdown(result)
    document = json.loads(write_json(result, quick=True, results_dir=tmp_path).read_text())
    assert document["name"] == name


def test_the_incident_mix_loses_nothing_and_runs_nothing_twice_at_a_tiny_size(tmp_path):
    result = incident.run(TINY["incident"], tmp_path)
    sessionward = next(r for r in result.rows if r["system"] == "sessionward")
    assert sessionward["lost"] == 0 and sessionward["no outcome"] == 0
    assert sessionward["second runs"] == 0 and sessionward["interleaved turns"] == 0
    assert sessionward["parse ok"]
    assert sessionward["completed"] + sessionward["refused (typed)"] + sessionward["failed (typed)"] == 12


def test_a_workload_runs_in_a_fresh_process_and_its_errors_come_back(tmp_path):
    with pytest.raises(RuntimeError, match="unknown"):
        run_in_fresh_process("unknown", True, tmp_path)


def test_the_command_line_runs_the_workloads_it_is_asked_for(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(durability, "QUICK", TINY["durability"])
    assert cli.main(["--quick", "--only", "durability", "--markdown", "--in-process",
                     "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "== durability" in out and "#### durability" in out
    assert (tmp_path / "quick" / "durability.json").exists()
    with pytest.raises(SystemExit):
        cli.main(["--only", "nonsense"])
