"""Plain Thespian reproducer: every message an actor receives or sends is formatted as text
for a debug log line that is then dropped (multiprocTCPBase, and every other base).

Cause (Thespian 4.0.1): the log calls build their argument before ``thesplog`` looks at the
level, e.g. ``actorManager.py``::

    thesplog('ACTOR got %s', envelope.identify(), level = logging.DEBUG)

and ``systemCommon.py`` (``'Attempting intent %s'``) and ``asyncTransportBase.py``
(``'actualTransmit of %s'``) alike for each send. ``identify()`` calls ``str()`` on the
message, on both addresses and on the transmit's timers. With the default log level
(WARNING) the text is thrown away.

This script sends N messages to an actor and asks how often the actor's process
formatted one of them (``__str__``) meanwhile: upstream once per message received (and a
sender formats each message it sends twice); with ``--patched`` (``identify()`` returns
an object that formats itself only when a log line is written, as
``sessionward.hosting.transport`` installs) never. Measured on this machine: 1.00 and 0.00.

Usage: python eager_identify.py [--patched] [--messages N]
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile

from thespian.actors import ActorSystem, ActorTypeDispatcher
from thespian.system.transport import ReceiveEnvelope, TransmitIntent


class Counted:
    """A message that counts, per process, how often it is formatted."""

    formatted = 0

    def __str__(self) -> str:
        Counted.formatted += 1
        return "Counted()"


class Counter(ActorTypeDispatcher):
    def receiveMsg_Counted(self, msg, sender):
        pass

    def receiveMsg_str(self, msg, sender):
        self.send(sender, Counted.formatted)


class _Described:
    def __init__(self, describe, of) -> None:
        self._describe, self._of = describe, of

    def __str__(self) -> str:
        return self._describe(self._of)


def _patch() -> None:
    envelope_identify, intent_identify = ReceiveEnvelope.identify, TransmitIntent.identify
    ReceiveEnvelope.identify = lambda self: _Described(envelope_identify, self)
    TransmitIntent.identify = lambda self: _Described(intent_identify, self)
    ReceiveEnvelope.__str__ = envelope_identify  # upstream's returned identify()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patched", action="store_true")
    parser.add_argument("--messages", type=int, default=100)
    args = parser.parse_args()
    if args.patched:
        _patch()  # before the system forks its actors: they inherit it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("THESPLOG_FILE", os.path.join(tempfile.mkdtemp(), "thespian.log"))
    system = ActorSystem("multiprocTCPBase", {"Admin Port": port}, transientUnique=True)
    try:
        counter = system.createActor(Counter)
        before = system.ask(counter, "count?", 10)
        for _ in range(args.messages):
            system.tell(counter, Counted())
        after = system.ask(counter, "count?", 10)
    finally:
        system.shutdown()
    per_message = (after - before) / args.messages
    print(f"{'patched' if args.patched else 'upstream'}: the actor formatted a message "
          f"{per_message:.2f} times per message received")
    return 0 if per_message == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
