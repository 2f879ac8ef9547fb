"""The client side: handles, and what a caller sees when the actor system stops answering."""

import asyncio
import os
import signal
import time

import pytest

from sessionward import ScriptedProvider, TurnStatus, UnavailableError


def test_a_submit_to_an_unreachable_directory_fails_as_unavailable_instead_of_hanging(make_runtime):
    rt = make_runtime(base="tcp")
    assert rt.submit("agent:main:main", "before").result(timeout=30).status is TurnStatus.COMPLETED
    rt._mailbox._accept_timeout = 0.5
    os.kill(rt.status().pid, signal.SIGKILL)  # the Directory's process
    handle = rt.submit("agent:main:main", "after")
    with pytest.raises(UnavailableError, match="idempotency_key"):
        handle.result(timeout=30)


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
