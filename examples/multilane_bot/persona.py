"""The bot's providers: the scripted persona (the default, no network) or an
OpenAI-compatible endpoint.

The persona is a provider like any other: the runtime pickles it to the turn workers,
which call ``stream`` for each turn. It picks a scripted reply by lane and by what was
asked, so the demo's clients can check every reply against their own message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sessionward import ScriptedProvider
from sessionward.errors import BadInputError
from sessionward.lanes.routing import lane_kind
from sessionward.providers.base import ProviderRequest, StreamControl

if TYPE_CHECKING:  # bot imports deliveries, which import this module's markers
    from sessionward.examples.multilane_bot.bot import BotSettings

LONG_MARKER = "/long"
"""A message containing this asks the scripted persona for a long, slowly streamed reply."""
STUCK_MARKER = "[stuck]"
"""A turn whose text contains this hangs in the scripted persona until it is aborted."""


class ScriptedPersona:
    """The default provider: scripted replies that differ by lane and by what was asked.

    A heartbeat answers ``HEARTBEAT_OK``; a cron run writes a digest; a message with
    ``/long`` streams a long reply slowly; a turn with ``[stuck]`` hangs until aborted
    (the demo's stuck run); anything else is echoed back, which lets every client check
    that the reply it got answers its own message.
    """

    name = "scripted"
    supports_steering = False

    def __init__(self, chunk_delay: float = 0.03, long_chunks: int = 60) -> None:
        self.echo = ScriptedProvider(reply="You said: {text}", chunks=4, chunk_delay=chunk_delay)
        self.long = ScriptedProvider(
            reply="Here is the long answer you asked for. " * 12 + "(re: {text})",
            chunks=long_chunks, chunk_delay=chunk_delay,
        )
        self.heartbeat = ScriptedProvider(reply="HEARTBEAT_OK")
        self.digest = ScriptedProvider(reply="Digest: the channels were lively. ({text})", chunks=3,
                                       chunk_delay=chunk_delay)
        self.stuck = ScriptedProvider(reply="never finished", chunks=4, hang_after=1)

    def stream(self, request: ProviderRequest, control: StreamControl) -> Iterator[Any]:
        return self._pick(request).stream(request, control)

    def _pick(self, request: ProviderRequest) -> ScriptedProvider:
        if STUCK_MARKER in request.text:
            return self.stuck
        kind = lane_kind(request.lane)
        if kind == "heartbeat":
            return self.heartbeat
        if kind == "cron":
            return self.digest
        return self.long if LONG_MARKER in request.text else self.echo


BOT_SYSTEM_PROMPT = (
    "You are a friendly assistant in a small chat community. In group channels each message"
    " starts with the sender's name. Keep replies short unless asked for more."
)


def make_provider(kind: str, settings: BotSettings):
    """``scripted`` (the default, no network) or ``openai`` (settings from OPENAI_* env vars)."""
    if kind == "scripted":
        return ScriptedPersona(settings.reply_chunk_delay, settings.long_reply_chunks)
    if kind == "openai":
        from sessionward.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(system_prompt=BOT_SYSTEM_PROMPT, name="openai")
    raise BadInputError(f"unknown provider {kind!r} (scripted or openai)")
