"""Forget an actor's watched descriptors when it closes them as it exits.

Thespian 4.0.1 sets an actor's watched descriptors (``TCPTransport._watches``) from what
each handler returns (``ThespianWatch``), except for ``ActorExitRequest``: there it returns
from ``ActorManager._actorExit`` first, and the list the last handler returned stays while
the exiting actor's loop drains its transmits. An actor that closes a watched descriptor in
its exit handler (an owner closes its worker's link and its streams' wake pipe) leaves a
closed number in that list. The first socket the drain opens (a goodbye, an answer to a new
address) gets the lowest free number, often that one, and the loop's pass then registers
it twice: ``KeyError: ... is already registered``, the process dies, and what it was
draining is lost (seen in closes right after a burst of new sessions, issue 17; the test is
``tests/test_watches.py``). Upstream has the same gap (its selector raises the same
``KeyError``); the patch described for it is to reset the watch list in ``_actorExit``.
"""

from __future__ import annotations

from typing import Any


def forget_watches(actor: Any) -> None:
    """Watch nothing more: call after closing watched descriptors in an exit handler. A no-op
    where the transport watches nothing (``simpleSystemBase``)."""
    transport = getattr(getattr(actor, "_myRef", None), "transport", None)
    if transport is not None and hasattr(transport, "set_watch"):
        transport.set_watch([])
