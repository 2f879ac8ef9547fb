"""Providers the sessionward side of the benchmark streams from. Picklable; no Thespian.

They run in a TurnWorker's stream thread (``sessionward.providers.base``), so they are
plain classes whose state pickles: the runtime sends the object to every actor process.

- ``MixProvider`` reads each turn's stream length from its text, so one provider serves
  the incident mix, whose streams vary turn by turn like the baselines' ``ScriptedStream``.
- ``TokenProvider`` streams a fixed number of small tokens as fast as its thread can, for
  the streaming workload.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator

from sessionward.providers.base import (
    MessageEnd,
    ProviderEvent,
    ProviderRequest,
    StreamControl,
    TextDelta,
)

_SPEC = re.compile(r"^\[stream=(?P<seconds>[0-9.]+),chunks=(?P<chunks>[0-9]+)\]")


def mix_text(stream_seconds: float, chunks: int, text: str) -> str:
    """The turn text ``MixProvider`` reads: ``"[stream=0.0123,chunks=5] <text>"``."""
    return f"[stream={stream_seconds:.6f},chunks={chunks}] {text}"


def _count(count_file: str | None, turn_id: str) -> None:
    # One line per stream started, from any actor process; O_APPEND keeps lines whole.
    if count_file:
        with open(count_file, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {turn_id}\n")


class MixProvider:
    """Streams ``"reply to <turn id>"`` in the chunks and over the seconds the text names.

    The text starts with ``mix_text``'s prefix; a text without one streams in one chunk at
    once. Between two chunks the stream waits ``seconds / chunks`` on the turn's control,
    so an abort ends it at once, as a real provider's cancelled socket would.

    Args:
        count_file: A file that gets one ``pid turn_id`` line per stream started, so the
            benchmark can count runs per turn across actor processes.
    """

    name = "mix"
    supports_steering = False

    def __init__(self, count_file: str | None = None) -> None:
        self.count_file = count_file

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[ProviderEvent]:
        _count(self.count_file, request.turn_id)
        match = _SPEC.match(request.text)
        seconds = float(match["seconds"]) if match else 0.0
        chunks = max(1, int(match["chunks"])) if match else 1
        text = f"reply to {request.turn_id}"
        size, extra = divmod(len(text), chunks)
        start = 0
        deadline = time.monotonic()
        for index in range(chunks):
            deadline += seconds / chunks
            # Sleep to the chunk's deadline, not for a fixed delay: the stream then lasts
            # its scripted time however long the thread took to hand over each chunk.
            if control.wait_cancelled(max(0.0, deadline - time.monotonic())):
                return
            end = start + size + (1 if index < extra else 0)
            if end > start:
                yield TextDelta(text[start:end])
            start = end
        yield MessageEnd("stop")


class TokenProvider:
    """Streams ``tokens`` copies of ``token`` with no delay: as fast as the thread can.

    Args:
        tokens: Tokens per turn.
        token: The token's text (fixed width, so a persisted reply's length counts them).
    """

    name = "tokens"
    supports_steering = False

    def __init__(self, tokens: int = 20_000, token: str = "tok ") -> None:
        if tokens < 1 or not token:
            raise ValueError("tokens must be at least 1 and token non-empty")
        self.tokens = tokens
        self.token = token

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[ProviderEvent]:
        delta = TextDelta(self.token)
        for index in range(self.tokens):
            if index % 256 == 0 and control.cancelled:
                return
            yield delta
        yield MessageEnd("stop")
