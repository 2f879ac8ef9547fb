"""The streaming protocol a model provider implements.

A provider turns one request (the turn's text and the session's model context) into a
stream of events: text deltas, tool calls and results, message boundaries, and at most
one typed failure. It runs in a TurnWorker's background thread, never in an actor
handler, so a slow or hung stream cannot stop the owner from answering.

A provider is given to the runtime either as a picklable object or as a
``ProviderSpec("package.module:factory", kwargs)`` that every actor process can build
for itself (an object holding sockets or threads should be built where it is used).
"""

from __future__ import annotations

import enum
import importlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs


class ProviderErrorKind(enum.StrEnum):
    """Why a provider failed. ``sessionward.providers.failover_rules`` says which kinds fail over."""

    RATE_LIMIT = "rate_limit"
    OVERLOADED = "overloaded"
    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    CONNECTION = "connection"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    UNKNOWN = "unknown"


@attrs.frozen
class ProviderRequest:
    """What a provider is asked to answer."""

    session_key: str
    """The session the turn belongs to."""
    turn_id: str
    """The turn's id (stable across a failover chain's attempts)."""
    text: str
    """The user text of this turn."""
    context: tuple[dict[str, Any], ...] = ()
    """The session's model context before this turn: message dicts, oldest first."""
    lane: str = ""
    """The lane that submitted the turn."""


def known_prefix(context: Sequence[dict[str, Any]], count: int, last: dict[str, Any] | None) -> int:
    """How many of ``context``'s messages are the ``count`` already seen (sent, counted),
    the last of which was ``last``: ``count`` if that same object still stands at that
    place, else 0 (a context built anew, such as a replayed turn's, is taken whole).

    Identity is enough: the contexts of one session share their message objects from turn
    to turn (``actors/context_feed.py`` grows one list), and nothing changes a message once
    it is in a context.
    """
    if count > len(context) or (count and context[count - 1] is not last):
        return 0
    return count


@attrs.frozen
class TextDelta:
    """A piece of assistant text."""

    text: str


@attrs.frozen
class ThinkingDelta:
    """A piece of the model's visible reasoning."""

    text: str


@attrs.frozen
class ToolCall:
    """The model asks for a tool; ends the current assistant message's content."""

    call_id: str
    name: str
    arguments: dict[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class ToolResult:
    """The result of a tool call, run by the host's agent loop inside the provider."""

    call_id: str
    name: str
    content: str
    is_error: bool = False


@attrs.frozen
class Usage:
    """Token counts and cost of one assistant message, as pi's ``Usage`` type holds them.

    Every field is written to the transcript, zeros included: pi's ``AssistantMessage``
    requires ``usage`` with all of them, and pi's CLI reads ``usage.totalTokens`` and
    ``usage.input`` of every assistant message it resumes (a missing one crashes it).
    """

    input: int = 0
    """Prompt tokens not read from a cache."""
    output: int = 0
    """Completion tokens (reasoning included)."""
    cache_read: int = 0
    """Prompt tokens read from the provider's cache."""
    cache_write: int = 0
    """Prompt tokens written to the provider's cache."""
    total_tokens: int = 0
    """``input + output + cache_read + cache_write`` unless the provider says otherwise."""
    cost_input: float = 0.0
    """Cost of ``input``, in US dollars (0 when the price is unknown)."""
    cost_output: float = 0.0
    cost_cache_read: float = 0.0
    cost_cache_write: float = 0.0
    cost_total: float = 0.0


@attrs.frozen
class MessageEnd:
    """The current assistant message is complete (a model/tool boundary).

    A provider that streams several assistant messages (tool use) yields one of these per
    message. The stream's end closes the last message even without one.

    The message's ``api``, ``provider``, ``model`` and ``usage`` ride here, so that a
    failover chain's message names the provider that actually answered. Empty strings and
    ``usage=None`` mean "unknown": the owner then writes the provider object's ``api`` /
    ``name`` / ``model`` attributes, or ``"unknown"``, and a zero usage.
    """

    stop_reason: str = "stop"
    """pi's ``stopReason``: ``stop``, ``toolUse``, ``length``, ..."""
    model: str = ""
    """The model that produced the message (the server's answer when it names one)."""
    usage: Usage | None = None
    """Tokens and cost of this message; ``None`` when the provider does not know."""
    api: str = ""
    """pi's ``api`` of the message, e.g. ``openai-completions``."""
    provider: str = ""
    """pi's ``provider`` of the message: the name of the provider that streamed it."""


@attrs.frozen
class ProviderFailure:
    """The stream failed; no event follows it."""

    kind: ProviderErrorKind
    message: str = ""
    provider: str = ""
    """Which provider failed (filled in by a failover chain when empty)."""


ProviderEvent = TextDelta | ThinkingDelta | ToolCall | ToolResult | MessageEnd | ProviderFailure


class StreamControl:
    """What a running stream can see of its turn: cancellation and steering input.

    Thread-safe: the worker's actor handler sets it, the provider's thread reads it.
    """

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._steering: list[str] = []
        self._pings = 0

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait_cancelled(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; returns True as soon as the turn is cancelled."""
        return self._cancelled.wait(timeout)

    def steer(self, text: str) -> None:
        with self._lock:
            self._steering.append(text)

    def take_steering(self) -> list[str]:
        """Steering texts that arrived since the last call (empty when none)."""
        with self._lock:
            taken, self._steering = self._steering, []
        return taken

    def ping(self) -> None:
        """Recovery's nudge: counted, for providers that can use it to re-check a socket."""
        with self._lock:
            self._pings += 1

    @property
    def pings(self) -> int:
        return self._pings


@runtime_checkable
class Provider(Protocol):
    """A streaming model provider.

    Optional attributes ``api`` and ``model`` (strings) name what its messages are written
    with when a ``MessageEnd`` does not say; its ``MessageEnd`` events should carry
    ``model`` and ``usage`` (see ``MessageEnd``).
    """

    name: str
    supports_steering: bool

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[ProviderEvent]:
        """Yield the turn's events. Should return soon after ``control.cancelled``."""
        ...


@attrs.frozen
class ProviderSpec:
    """An importable factory and its keyword arguments: ``"package.module:callable"``."""

    factory: str
    kwargs: dict[str, Any] = attrs.field(factory=dict)


def build_provider(provider: Provider | ProviderSpec) -> Provider:
    """Return a ready provider: build it from a spec, or return the object given."""
    if isinstance(provider, ProviderSpec):
        module_name, _, attr = provider.factory.partition(":")
        if not module_name or not attr:
            raise ValueError(f"provider factory must be 'module:callable', got {provider.factory!r}")
        factory = getattr(importlib.import_module(module_name), attr)
        return factory(**provider.kwargs)
    return provider
