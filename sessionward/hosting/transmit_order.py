"""Which of a process's messages to one address may be transmitted now: the oldest unfinished one.

Thespian 4.0.1's TCP transport means to send one message at a time to each address, waiting
for the peer's ACK before the next, which would keep them in order. It does not always:

- ``TCPTransport._next_XMIT_1`` hands a new message the idle connection kept for its target
  (``_openSockets``) without asking whether an earlier message to that target is still in
  flight on another connection. Such an idle connection appears while one is in flight when
  the peer sends *us* something: ``_finishIncoming`` keeps the peer's connection as the one
  to reply on. So two actors that send to each other at once see their messages overtake
  each other: a later message goes out on the peer's connection while the earlier one waits
  for its ACK on ours (``docs/thespian-repro/out_of_order.py``).
- A message whose transmit failed waits for its retry without a connection, and a later
  message to the same target takes a new one and goes first.

In sessionward that put a channel message behind the one submitted after it: the Directory
forwarded both in order while the owner was sending to the Directory, and the owner queued
them in the order they arrived (CI, ``test_a_heartbeat_streaming_on_main_...[tcp]``).

``TransmitOrder`` is the rule the transport subclass (``sessionward.hosting.transport``)
applies: every message to an address is noted when it is first attempted, which is the
order the actor sent them, and only the oldest one not yet finished may take a connection.
Pure bookkeeping: no Thespian here; the transport says what a target and a transmit are.
"""

from __future__ import annotations

from typing import Any


class TransmitOrder:
    """Per target address, the transmits not finished yet, oldest first."""

    def __init__(self) -> None:
        self._queues: dict[Any, dict[int, Any]] = {}

    def ahead_of(self, target: Any, transmit: Any) -> Any | None:
        """The oldest unfinished transmit to ``target`` if it is not ``transmit`` (which must
        wait for it); None if ``transmit`` may go now. ``transmit`` is noted on its first ask:
        ask in the order the messages were sent."""
        queue = self._queues.setdefault(target, {})
        queue.setdefault(id(transmit), transmit)
        oldest = next(iter(queue.values()))
        return None if oldest is transmit else oldest

    def finished(self, target: Any, transmit: Any) -> None:
        """``transmit`` is done (sent, or failed for good): the next one to ``target`` may go."""
        queue = self._queues.get(target)
        if queue is None or queue.get(id(transmit)) is not transmit:
            return
        del queue[id(transmit)]
        if not queue:
            del self._queues[target]

    def oldest(self, target: Any) -> Any | None:
        """The transmit to ``target`` that may go now (None: there is none)."""
        return next(iter(self._queues.get(target, {}).values()), None)

    def waiting(self, target: Any) -> int:
        """How many transmits to ``target`` are unfinished."""
        return len(self._queues.get(target, ()))
