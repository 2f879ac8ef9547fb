"""ScriptedProvider: a deterministic provider for tests, the demo and benchmarks."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

from sessionward.providers.base import (
    MessageEnd,
    ProviderErrorKind,
    ProviderEvent,
    ProviderFailure,
    ProviderRequest,
    StreamControl,
    TextDelta,
    Usage,
    known_prefix,
)


def estimate_tokens(text: str) -> int:
    """pi's ``estimateTokens`` rule: one token per 4 characters, rounded up."""
    return tokens_of(len(text))


def tokens_of(chars: int) -> int:
    """``estimate_tokens`` of a text of ``chars`` characters."""
    return -(-chars // 4)


def message_chars(message: dict) -> int:
    """Characters of one context message that pi's estimate counts: its text (or thinking)
    and its summary."""
    chars = 0
    content = message.get("content")
    if isinstance(content, str):
        chars += len(content)
    elif isinstance(content, list):
        for block in content:
            if isinstance(block, dict):
                part = block.get("text") or block.get("thinking") or ""
                chars += len(part) if isinstance(part, str) else 0
    summary = message.get("summary")
    return chars + (len(summary) if isinstance(summary, str) else 0)


class ContextChars:
    """``message_chars`` summed over a context, counting only the messages it has not seen.

    A session's contexts grow by a turn's messages at a time, and summing the whole context
    on every turn made this provider's cost grow with the session: a worker's CPU per turn
    went from 0.8 to 2.5 ms between a session's 750th and 2,750th turn (``benchmarks/
    long_session.py``). A context that extends the last one counted is recognised as
    ``ContextFeed.to_send`` recognises it (``known_prefix``); anything else is counted
    whole. Not thread-safe: the caller holds a lock.
    """

    def __init__(self) -> None:
        self._counted = 0
        self._last: dict | None = None
        self._chars = 0

    def of(self, context: tuple[dict, ...]) -> int:
        counted = known_prefix(context, self._counted, self._last)
        chars = self._chars if counted else 0
        for message in context[counted:]:
            chars += message_chars(message)
        self._counted, self._last, self._chars = len(context), context[-1] if context else None, chars
        return chars


class ScriptedProvider:
    """Streams a fixed reply in ``chunks`` pieces with ``chunk_delay`` seconds between them.

    Args:
        reply: The reply text. ``{text}`` and ``{turn_id}`` are replaced by the request's.
        chunks: How many text deltas the reply is split into (at least 1).
        chunk_delay: Seconds before each chunk after the first.
        hang_after: After this many chunks, stop yielding until cancelled (a hung stream).
        fail_with: Fail with this provider error kind after ``fail_after`` chunks.
        fail_after: How many chunks come before ``fail_with`` (default 0).
        supports_steering: Declare that the stream takes steering input; steering text is
            echoed into the reply at the next chunk boundary as ``[steer: ...]``.
        count_file: A file that gets one line per stream started (``pid turn_id``), so a
            test can count runs across actor processes.
        only_when: Apply ``hang_after`` and ``fail_with`` only to turns whose text
            contains this string (other turns stream normally).
        name: The provider's name in outcomes and failover records.
        model: The model name written on its assistant messages.

    Its ``MessageEnd`` reports a deterministic usage: ``input`` is the request's text and
    context (text, thinking and summaries) estimated as pi estimates tokens (characters / 4,
    rounded up), ``output`` the reply's, cost 0.

    Example:
        ScriptedProvider(reply="hello", chunks=5, chunk_delay=0.05)
    """

    def __init__(
        self,
        reply: str = "ok",
        chunks: int = 1,
        chunk_delay: float = 0.0,
        hang_after: int | None = None,
        fail_with: ProviderErrorKind | str | None = None,
        fail_after: int = 0,
        supports_steering: bool = False,
        count_file: str | None = None,
        only_when: str | None = None,
        name: str = "scripted",
        model: str = "scripted-model",
    ) -> None:
        if chunks < 1:
            raise ValueError("chunks must be at least 1")
        self.reply = reply
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.hang_after = hang_after
        self.fail_with = ProviderErrorKind(fail_with) if fail_with is not None else None
        self.fail_after = fail_after
        self.supports_steering = supports_steering
        self.count_file = count_file
        self.only_when = only_when
        self.name = name
        self.model = model
        self._lock = threading.Lock()
        self._context_chars = ContextChars()
        self.streams_started = 0

    api = "sessionward-scripted"
    """pi's ``api`` of its messages: no real API, so pi never replays them as native."""

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        del state["_lock"], state["_context_chars"]  # a count by object identity means nothing elsewhere
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._context_chars = ContextChars()

    def _pieces(self, text: str) -> list[str]:
        n = max(1, min(self.chunks, len(text))) if text else 1
        size, extra = divmod(len(text), n)
        pieces, start = [], 0
        for i in range(self.chunks):
            if i < n:
                end = start + size + (1 if i < extra else 0)
                pieces.append(text[start:end])
                start = end
            else:
                pieces.append("")
        return pieces

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[ProviderEvent]:
        with self._lock:
            self.streams_started += 1
        if self.count_file:
            with open(self.count_file, "a", encoding="utf-8") as f:
                f.write(f"{os.getpid()} {request.turn_id}\n")
        text = self.reply.replace("{text}", request.text).replace("{turn_id}", request.turn_id)
        scripted = self.only_when is None or self.only_when in request.text
        fail_with = self.fail_with if scripted else None
        hang_after = self.hang_after if scripted else None
        for i, piece in enumerate(self._pieces(text)):
            if fail_with is not None and i == self.fail_after:
                yield ProviderFailure(fail_with, f"scripted {fail_with}", self.name)
                return
            if hang_after is not None and i == hang_after:
                control.wait_cancelled(3600.0)
                return
            if i and self.chunk_delay:
                if control.wait_cancelled(self.chunk_delay):
                    return
            elif control.cancelled:
                return
            if self.supports_steering:
                for steer in control.take_steering():
                    yield TextDelta(f"[steer: {steer}]")
            if piece:
                yield TextDelta(piece)
        if fail_with is not None and self.fail_after >= self.chunks:
            yield ProviderFailure(fail_with, f"scripted {fail_with}", self.name)
            return
        with self._lock:
            context_chars = self._context_chars.of(request.context)
        prompt = tokens_of(len(request.text) + context_chars)
        output = estimate_tokens(text)
        usage = Usage(input=prompt, output=output, total_tokens=prompt + output)
        yield MessageEnd("stop", model=self.model, usage=usage, api=self.api, provider=self.name)


