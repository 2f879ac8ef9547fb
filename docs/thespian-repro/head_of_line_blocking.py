"""Thespian reproducer: one peer that stops reading blocks every send of its sender.

multiprocTCPBase waits for the receiver's ACK of each message, and
``asyncTransportBase.MAX_PENDING_TRANSMITS`` (20, env THESPIAN_MAX_PENDING_TRANSMITS)
caps the transmits awaiting an ACK per *process*, whatever their destinations. Once a
sender has 20 messages in flight to a peer that does not read its socket (SIGSTOPped, or
blocked in a long handler such as a slow fsync), every later send of that sender, to any
actor, waits in a queue until the peer reads again or the transmits time out (5 minutes).

Run: python docs/thespian-repro/head_of_line_blocking.py [max_pending]
Prints how long a message to a healthy actor took after 30 sends to a stopped one.
"""

import os
import signal
import socket
import sys
import time

from thespian.actors import Actor, ActorSystem


class Peer(Actor):
    def receiveMessage(self, msg, sender):
        if msg == "pid":
            self.send(sender, os.getpid())
        elif isinstance(msg, tuple) and msg[0] == "echo":
            self.send(msg[1], "echo")


class Sender(Actor):
    def receiveMessage(self, msg, sender):
        if isinstance(msg, tuple) and msg[0] == "flood":
            _, stopped, healthy = msg
            for i in range(30):
                self.send(stopped, ("noop", i))
            self.send(healthy, ("echo", sender))


def main() -> None:
    if len(sys.argv) > 1:
        from thespian.system.transport import asyncTransportBase

        asyncTransportBase.MAX_PENDING_TRANSMITS = int(sys.argv[1])  # forked actors inherit it
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": port}, transientUnique=True)
    try:
        stopped, healthy, sender = (asys.createActor(Peer), asys.createActor(Peer), asys.createActor(Sender))
        pid = asys.ask(stopped, "pid", 10)
        os.kill(pid, signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            asys.tell(sender, ("flood", stopped, healthy))
            got = asys.listen(15)
            print(f"max_pending={sys.argv[1] if len(sys.argv) > 1 else 20}: "
                  f"after 30 sends to a stopped actor, a message to a healthy one "
                  f"{'arrived in %.2f s' % (time.monotonic() - t0) if got else 'did not arrive in 15 s'}")
        finally:
            os.kill(pid, signal.SIGCONT)
    finally:
        asys.shutdown()


if __name__ == "__main__":
    main()
