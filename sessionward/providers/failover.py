"""FailoverChain: a provider that tries several providers in order, one stream at a time.

The chain decides only between provider failures, with the table in
``sessionward.providers.failover_rules``. A cancelled stream (the owner aborted the turn) is a
coordination outcome: the chain stops at once, tries no other provider and reports no
failure, because a turn that was aborted did not fail for lack of a model.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import attrs

from sessionward.errors import BadInputError
from sessionward.providers.base import (
    MessageEnd,
    Provider,
    ProviderErrorKind,
    ProviderEvent,
    ProviderFailure,
    ProviderRequest,
    ProviderSpec,
    StreamControl,
    TextDelta,
    ToolCall,
    ToolResult,
    build_provider,
)
from sessionward.providers.failover_rules import FailoverDecision, classify_failure

# Once one of these reached the owner, the chain is committed to its provider: the owner
# has persisted (or will persist) that partial reply, and a tool may already have run, so
# re-running the turn on another model would duplicate a reply or a tool's side effects.
# Thinking deltas and message ends do not commit: they are not part of the reply.
_COMMITTING = (TextDelta, ToolCall, ToolResult)


class FailoverChain:
    """Streams from the first provider; on a failure before any reply output, the next.

    Args:
        providers: Providers or ``ProviderSpec``s, in the order to try them. Specs are
            built on first use in the process that streams, so the chain stays picklable.
        name: The chain's name, used in the all-failed ``ProviderFailure``.

    A provider failure is handled by when it comes:

    - Before any text or tool event: ``classify_failure`` says whether to try the next
      provider or to report the failure as is. If the failed provider had streamed
      thinking, the chain first closes that message with ``MessageEnd("error")`` so it
      is never merged into the next provider's reply.
    - After a text or tool event: reported as is; no other provider is tried.
    - When every provider failed: one ``ProviderFailure`` with the last kind and the
      message ``"all providers failed: a: rate_limit; b: timeout"``.

    A provider that raises instead of yielding a failure counts as an ``unknown``
    failure, so a bug in one provider does not drop a reply another model could give.

    Example:
        FailoverChain([ScriptedProvider(fail_with="rate_limit", name="a"),
                       ScriptedProvider(reply="hi", name="b")])
    """

    def __init__(
        self, providers: Sequence[Provider | ProviderSpec], name: str = "failover"
    ) -> None:
        entries = tuple(providers)
        if not entries:
            raise BadInputError("a failover chain needs at least one provider")
        self.name = name
        self._entries = entries
        self._built: list[Provider | None] = [None] * len(entries)
        self._lock = threading.Lock()
        self._current = 0
        self.attempts: tuple[tuple[str, ProviderErrorKind], ...] = ()
        """The last stream's failed attempts, in order: ``(provider name, kind)``."""

    def __getstate__(self) -> dict:
        # Built providers stay behind: one built from a spec may hold sockets or threads,
        # and the receiving process builds its own on first use.
        return {
            "name": self.name,
            "_entries": self._entries,
            "_current": self._current,
            "attempts": self.attempts,
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._built = [None] * len(self._entries)
        self._lock = threading.Lock()

    @property
    def supports_steering(self) -> bool:
        """Whether the provider streaming now (the first one before any stream) steers."""
        return bool(self._provider(self._current).supports_steering)

    def _provider(self, index: int) -> Provider:
        with self._lock:
            provider = self._built[index]
            if provider is None:
                provider = self._built[index] = build_provider(self._entries[index])
            return provider

    def _entry_name(self, index: int) -> str:
        entry = self._entries[index]
        if isinstance(entry, ProviderSpec):
            return getattr(self._built[index], "name", entry.factory)
        return getattr(entry, "name", type(entry).__name__)

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[ProviderEvent]:
        """Yield the events of the first provider that answers (see the class docstring)."""
        self.attempts = ()
        attempts: list[tuple[str, ProviderErrorKind]] = []
        last_failure: ProviderFailure | None = None
        for index in range(len(self._entries)):
            if control.cancelled:
                return
            self._current = index
            outcome = _Attempt()
            yield from self._stream_one(index, request, control, outcome)
            failure = outcome.failure
            if failure is None or control.cancelled:
                return  # answered, or aborted: neither is a provider failure to report
            attempts.append((outcome.provider_name, failure.kind))
            self.attempts = tuple(attempts)
            if outcome.committed or classify_failure(failure.kind) is FailoverDecision.STOP:
                yield failure
                return
            if outcome.message_open:
                yield MessageEnd("error")
            last_failure = failure
        assert last_failure is not None  # the loop ran at least once and did not return
        summary = "; ".join(f"{name}: {kind}" for name, kind in attempts)
        yield ProviderFailure(last_failure.kind, f"all providers failed: {summary}", self.name)

    def _stream_one(
        self, index: int, request: ProviderRequest, control: StreamControl, outcome: _Attempt
    ) -> Iterator[ProviderEvent]:
        """Forward one provider's events; leave its failure (if any) in ``outcome``."""
        outcome.provider_name = self._entry_name(index)
        try:
            provider = self._provider(index)
            outcome.provider_name = provider.name
            events = iter(provider.stream(request, control))
        except Exception as exc:
            outcome.failure = _failure_from(exc, outcome.provider_name)
            return
        try:
            while True:
                # next() sits alone in the try: an exception thrown into this generator
                # by its consumer must not be mistaken for the provider's failure.
                try:
                    event = next(events)
                except StopIteration:
                    return
                except Exception as exc:
                    outcome.failure = _failure_from(exc, outcome.provider_name)
                    return
                if isinstance(event, ProviderFailure):
                    if not event.provider:
                        event = attrs.evolve(event, provider=outcome.provider_name)
                    outcome.failure = event
                    return
                if isinstance(event, _COMMITTING):
                    outcome.committed = True
                outcome.message_open = not isinstance(event, MessageEnd)
                yield event
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()


class _Attempt:
    """What one provider's stream left behind (filled in while it streams)."""

    __slots__ = ("committed", "failure", "message_open", "provider_name")

    def __init__(self) -> None:
        self.provider_name = ""
        self.failure: ProviderFailure | None = None
        self.committed = False
        """A text or tool event was forwarded: no other provider may be tried."""
        self.message_open = False
        """An event other than ``MessageEnd`` was the last one forwarded."""


def _failure_from(exc: Exception, provider_name: str) -> ProviderFailure:
    return ProviderFailure(ProviderErrorKind.UNKNOWN, f"{type(exc).__name__}: {exc}", provider_name)
