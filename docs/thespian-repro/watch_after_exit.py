"""Plain Thespian reproducer: an actor that closes a watched descriptor in its
``ActorExitRequest`` handler dies while draining, and what it sent as it exited is lost.

Cause (Thespian 4.0.1, thespian/system/actorManager.py, ``_handleOneMessage``):

    actor_result = self.actorInst.receiveMessage(msg, envelope.sender)
    ...
    if isinstance(msg, ActorExitRequest):
        return self._actorExit(msg)             # returns here ...
    if hasattr(self.transport, 'set_watch'):    # ... so this never runs for it
        self.transport.set_watch(actor_result.filenos if isinstance(actor_result, ThespianWatch) else [])

The watch list the previous handler returned stays while the exiting actor's transport
drains its transmits. A descriptor the exit handler closed is still listed there. The first
socket the drain opens (here: a goodbye to an actor this one never sent to) is given the
lowest free number, which is the closed one, so ``_runWithExpiry`` registers that number
twice in one selector: ``KeyError: ... is already registered``, the process dies, and the
goodbye is never sent. (A closed number that is not reused is dropped by the loop's EBADF
handling, which is why this shows only sometimes in the wild: sessionward's owners hit it
in about 1 close in 20 right after a burst of new sessions.)

To make the reuse certain, the exit handler takes every free number below the watched one
first; nothing else is changed.

Usage: python watch_after_exit.py            -> prints LOST and exits 1
       python watch_after_exit.py --patched  -> the handler empties the watch list after
                                               closing: the goodbye arrives, exit 0
Upstream patch: reset the watch list before ``_actorExit`` (or honour the exit handler's
``ThespianWatch``), as ``_handleOneMessage`` does for every other message.
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import sys

from thespian.actors import ActorExitRequest, ActorSystem, ActorTypeDispatcher, ThespianWatch


class Closer(ActorTypeDispatcher):
    """Watches a pipe; as it exits, closes it and says goodbye to a listener."""

    def receiveMsg_tuple(self, msg, sender):
        if msg[0] == "watch":
            self.listener, self.patched = msg[1], msg[2]
            self.read_end, self.write_end = os.pipe()
            self.send(sender, ("watching", os.getpid()))
            return ThespianWatch([self.read_end])
        return None

    def receiveMsg_ActorExitRequest(self, msg, sender):
        while (fd := os.open(os.devnull, os.O_RDONLY)) < self.read_end:
            pass  # every free number below the watched one is taken
        os.close(fd)
        os.close(self.read_end)
        os.close(self.write_end)
        if self.patched:
            self._myRef.transport.set_watch([])  # what the upstream patch would do
        self.send(self.listener, ("goodbye", os.getpid()))


class Listener(ActorTypeDispatcher):
    def receiveMsg_tuple(self, msg, sender):
        if msg[0] == "goodbye":
            self.heard = msg[1]
        elif msg[0] == "heard":
            self.send(sender, ("heard", getattr(self, "heard", None)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patched", action="store_true")
    args = ap.parse_args()
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": free_port()})
    try:
        listener, closer = asys.createActor(Listener), asys.createActor(Closer)
        _, pid = asys.ask(closer, ("watch", listener, args.patched), 10)
        asys.tell(closer, ActorExitRequest())
        pidfd = os.pidfd_open(pid)  # readable once the closer's process has ended
        select.select([pidfd], [], [], 15)
        os.close(pidfd)
        heard = asys.ask(listener, ("heard",), 10)
        if heard is not None and heard[1] == pid:
            print("ok: the goodbye sent while exiting arrived")
            return 0
        print("LOST: the exiting actor died draining its transmits (see its KeyError above); its goodbye never came")
        return 1
    finally:
        asys.shutdown()


if __name__ == "__main__":
    sys.exit(main())
