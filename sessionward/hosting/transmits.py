"""Whether an actor's transport holds a message to an address waiting behind another one.

Thespian 4.0.1 sends one message at a time to an address: the one being sent is in
``TCPTransport._transmitIntents`` until the peer's ACK arrives, and later ones to the same
address wait in ``_waitingTransmits`` (or, queued before either,
``asyncTransportBase._aTB_queuedPendingTransmits``). An owner asks this before it sends a
submitter an answer (``actors/held_answers.py``): with one already waiting, a new one would
only queue behind it. ``tests/test_held_answers.py`` checks it against a real transport, so
a Thespian that renames these fails a test; where they are missing (``simpleSystemBase``,
which sends at once) the answer is False and nothing is held.
"""

from __future__ import annotations

from typing import Any


def _transport(actor: Any) -> Any:
    """The actor's transport; None where there is none to read (``simpleSystemBase``)."""
    return getattr(getattr(actor, "_myRef", None), "transport", None)


_SENDING_DATA = 2
"""``TCPTransport._XMITStepSendData``: an intent at this stage or before (connecting) has
not written all of its message yet."""


def unsent(actor: Any) -> bool:
    """True if ``actor``'s transport holds a message not yet written to its socket: queued,
    waiting behind another, or still connecting or writing (one whose ACK alone is awaited
    has gone out)."""
    transport = _transport(actor)
    if transport is None:
        return False
    if getattr(transport, "_waitingTransmits", None) or getattr(transport, "_aTB_queuedPendingTransmits", None):
        return True
    intents = getattr(transport, "_transmitIntents", {})
    return any(getattr(intent, "stage", 0) <= _SENDING_DATA for intent in list(intents.values()))


def waiting_to(actor: Any, address: Any) -> bool:
    """True if ``actor``'s transport has a message to ``address`` waiting to be sent (behind
    one being sent). One being sent alone does not count: the next one may queue behind it."""
    transport = _transport(actor)
    if transport is None:
        return False
    queues = (getattr(transport, "_waitingTransmits", ()), getattr(transport, "_aTB_queuedPendingTransmits", ()))
    return any(intent.targetAddr == address for queue in queues for intent in list(queue))
