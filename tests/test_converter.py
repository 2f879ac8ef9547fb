"""The JSON form of admin records and config: literal dicts and round trips."""

import pytest

from sessionward.actors.messages import OwnerState, QueuedTurn, TurnRecord
from sessionward.converter import from_json_data, structure_config, to_json_data
from sessionward.errors import BadInputError
from sessionward.outcomes import OutcomeReason, TurnOutcome, TurnStatus
from sessionward.storage.transcript import Durability


def test_an_owner_state_becomes_a_tagged_dict_and_back():
    state = OwnerState("agent:main:main", "sid", "/s/sid.jsonl", "running", "t1", "heartbeat", 10.0, 11.5, 2,
                       ("direct:cli:a", "cron:x"), 4242, history=(TurnRecord("t0", "cron:x", "completed", None, 9.0),),
                       queued_turns=(QueuedTurn("t2", "direct:cli:a", "followup", 10.5),
                                     QueuedTurn("t3", "cron:x", "collect", 11.0)))
    data = to_json_data(state)
    assert data == {
        "kind": "owner_state", "session_key": "agent:main:main", "session_id": "sid", "file": "/s/sid.jsonl",
        "state": "running", "turn_id": "t1", "lane": "heartbeat", "turn_started_time": 10.0,
        "last_progress_time": 11.5, "queue_depth": 2, "queued_lanes": ["direct:cli:a", "cron:x"], "pid": 4242,
        "keys": [], "turns_completed": 0, "turns_failed": 0, "heartbeats_skipped": 0,
        "history": [{"turn_id": "t0", "lane": "cron:x", "status": "completed", "reason": None, "finished_time": 9.0}],
        "request_id": "", "snapshot_time": 0.0, "member": "local", "owner_epoch": 0,
        "queued_turns": [
            {"turn_id": "t2", "lane": "direct:cli:a", "mode": "followup", "accepted_time": 10.5},
            {"turn_id": "t3", "lane": "cron:x", "mode": "collect", "accepted_time": 11.0},
        ],
    }
    assert from_json_data(data) == state


def test_an_outcome_spells_its_enums_as_their_values():
    outcome = TurnOutcome("t1", "agent:main:main", TurnStatus.CANCELLED, reason=OutcomeReason.INTERRUPTED)
    data = to_json_data(outcome)
    assert data["status"] == "cancelled" and data["reason"] == "interrupted" and data["kind"] == "turn_outcome"
    assert from_json_data(data) == outcome


def test_config_keys_are_checked_and_misspellings_named():
    assert structure_config({"durability": "entry"}).durability is Durability.ENTRY
    with pytest.raises(BadInputError, match="durabilty"):
        structure_config({"durabilty": "entry"})
    with pytest.raises(BadInputError, match="max_message_bytes"):
        structure_config({"max_message_bytes": "lots"})
