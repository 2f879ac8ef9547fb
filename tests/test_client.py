"""The client side: handles, and what a caller sees when the actor system stops answering."""

import asyncio
import os
import signal
import time

import pytest

from sessionward import (
    OutcomeReason,
    ScriptedProvider,
    SessionwardTimeoutError,
    TurnOutcome,
    TurnStatus,
    UnavailableError,
)


def test_a_submit_to_an_unreachable_directory_fails_as_unavailable_instead_of_hanging(make_runtime):
    rt = make_runtime(base="tcp")
    assert rt.submit("agent:main:main", "before").result(timeout=30).status is TurnStatus.COMPLETED
    rt._mailbox._accept_timeout = 0.5
    os.kill(rt.status().pid, signal.SIGKILL)  # the Directory's process
    # A new session (a known one's turns go to its owner directly: see test_direct_routing).
    handle = rt.submit("agent:main:other", "after")
    with pytest.raises(UnavailableError, match="idempotency_key"):
        handle.result(timeout=30)


def test_a_submit_to_a_system_whose_directory_and_owner_are_gone_fails_as_unavailable(make_runtime):
    rt = make_runtime(base="tcp")
    assert rt.submit("agent:main:main", "before").result(timeout=30).status is TurnStatus.COMPLETED
    rt._mailbox._accept_timeout = 0.5
    owner = rt.session("agent:main:main")
    for pid in (rt.status().pid, owner.pid):  # the Directory's process, then the owner's
        os.kill(pid, signal.SIGKILL)
    handle = rt.submit("agent:main:main", "after")  # its direct send fails; the Directory is gone
    with pytest.raises(UnavailableError, match="idempotency_key"):
        handle.result(timeout=30)


def test_after_the_directory_was_killed_a_question_keeps_its_timeout_and_the_runtime_closes_in_seconds(make_runtime):
    rt = make_runtime(base="tcp")
    assert rt.submit("agent:main:main", "before").result(timeout=30).status is TurnStatus.COMPLETED
    rt._mailbox._accept_timeout = 0.5
    os.kill(rt.status().pid, signal.SIGKILL)  # the Directory's process
    with pytest.raises(UnavailableError):  # a send to it is still being retried after this
        rt.submit("agent:main:other", "after").result(timeout=30)
    started = time.monotonic()
    with pytest.raises(SessionwardTimeoutError):
        rt.status(timeout=1.0)
    # Sent with a plain tell, a question queued behind the retried send and waited 37 s.
    assert time.monotonic() - started < 5
    started = time.monotonic()
    rt.close()  # it asks the Directory to stop its spares first (STOP_SPARES_WAIT, 2 s)
    assert time.monotonic() - started < 10


def test_a_handle_can_be_awaited(make_runtime):
    rt = make_runtime(provider=ScriptedProvider(reply="async ok", chunks=2))

    async def main():
        handle = await rt.asubmit("agent:main:main", "hi")
        return await handle

    outcome = asyncio.run(main())
    assert outcome.status is TurnStatus.COMPLETED and outcome.reply == "async ok"


def test_deltas_reach_the_callback_in_order(make_runtime, base):
    rt = make_runtime(base=base, provider=ScriptedProvider(reply="abcdefghij", chunks=10, chunk_delay=0.01))
    seen: list[str] = []
    outcome = rt.submit("agent:main:main", "go", on_delta=seen.append).result(timeout=30)
    assert "".join(seen) == outcome.reply == "abcdefghij"


def test_deltas_arrive_while_the_turn_streams_not_all_at_its_end(make_runtime, base):
    # 20 chunks 50 ms apart: batched every 20 ms, they reach the caller as many deliveries.
    # (A worker that pumped itself with self-sends held every batch until the stream ended.)
    rt = make_runtime(base=base, provider=ScriptedProvider(reply="x" * 20, chunks=20, chunk_delay=0.05))
    arrivals: list[float] = []
    outcome = rt.submit("agent:main:main", "go", on_delta=lambda _text: arrivals.append(time.time())).result(timeout=30)
    assert outcome.reply == "x" * 20
    early = [t for t in arrivals if t < outcome.finished_time - 0.3]
    assert len(early) >= 5, f"only {len(early)} of {len(arrivals)} deliveries came before the stream's last 0.3 s"


@pytest.mark.parametrize(("reason", "error"), [
    (OutcomeReason.BUSY, "SessionBusyError"),
    (OutcomeReason.PARKED, "SessionParkedError"),
    (OutcomeReason.PROVIDER_ERROR, "ProviderError"),
    (OutcomeReason.STALLED, "TurnFailedError"),
])
def test_an_outcome_that_is_not_completed_maps_to_its_typed_error_with_the_outcome(reason, error):
    import sessionward
    from sessionward.client import outcome_error

    outcome = TurnOutcome("t1", "agent:main:main", TurnStatus.FAILED, reason=reason, detail="why")
    err = outcome_error(outcome)
    assert type(err) is getattr(sessionward, error)
    assert err.outcome is outcome and "t1" in str(err) and reason.value in str(err) and "why" in str(err)


def test_raise_on_failure_raises_for_a_failed_turn_and_returns_a_completed_one(tmp_path):
    from sessionward import ProviderError, Runtime, ScriptedProvider

    provider = ScriptedProvider(reply="ok", fail_with="rate_limit", only_when="fail")
    with Runtime(tmp_path / "store", provider=provider, base="simple", recovery=False) as rt:
        assert rt.submit("agent:main:main", "fine").result(timeout=30, raise_on_failure=True).reply == "ok"
        with pytest.raises(ProviderError) as err:
            rt.submit("agent:main:main", "please fail").result(timeout=30, raise_on_failure=True)
        assert err.value.outcome.reason is OutcomeReason.PROVIDER_ERROR
