"""The entries a turn writes, in pi's shapes (pure: no actor system)."""

from sessionward.providers.base import Usage
from sessionward.providers.openai_compat import OpenAICompatProvider
from sessionward.providers.scripted import ScriptedProvider
from sessionward.storage import entries as E

ZERO_USAGE = {
    "input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 0,
    "cost": {"input": 0.0, "output": 0.0, "cacheRead": 0.0, "cacheWrite": 0.0, "total": 0.0},
}


def test_an_assistant_message_has_every_field_of_pis_assistant_message_in_pis_order():
    entry = E.assistant_entry([{"type": "text", "text": "hi"}], stop_reason="stop", provider="p", api="a",
                              model="m", usage=Usage(input=3, output=1, total_tokens=4, cost_total=0.5),
                              turn_id="t", ids=set(), parent_id=None, now=1.5)
    assert entry["message"] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "hi"}],
        "api": "a",
        "provider": "p",
        "model": "m",
        "usage": {"input": 3, "output": 1, "cacheRead": 0, "cacheWrite": 0, "totalTokens": 4,
                  "cost": {"input": 0.0, "output": 0.0, "cacheRead": 0.0, "cacheWrite": 0.0, "total": 0.5}},
        "stopReason": "stop",
        "timestamp": 1500,
    }
    assert list(entry["message"]) == ["role", "content", "api", "provider", "model", "usage", "stopReason",
                                      "timestamp"]


def test_unknown_usage_api_and_model_are_written_as_zeros_and_unknown_never_left_out():
    entry = E.assistant_entry([], stop_reason="aborted", provider="", turn_id="t", ids=set(), parent_id=None,
                              now=1.0, error_message="boom")
    message = entry["message"]
    assert message["usage"] == ZERO_USAGE
    assert (message["api"], message["provider"], message["model"]) == ("unknown", "unknown", "unknown")
    assert message["errorMessage"] == "boom"


def test_a_providers_identity_comes_from_its_attributes_or_is_unknown():
    assert E.provider_identity(ScriptedProvider(name="s", model="m")) == ("sessionward-scripted", "s", "m")
    assert E.provider_identity(OpenAICompatProvider("gpt", base_url="http://127.0.0.1:9/v1", name="o")) == (
        "openai-completions", "o", "gpt")
    assert E.provider_identity(object()) == ("unknown", "unknown", "unknown")
