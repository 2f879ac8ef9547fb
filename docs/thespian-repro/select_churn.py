"""Thespian reproducer: the TCP transport builds a new selector on every loop pass.

``TCPTransport._runWithExpiry`` (Thespian 4.0.1) does, on every pass of its loop::

    sel = selectors.DefaultSelector()      # epoll on Linux: epoll_create1
    for each in wrecv: sel.register(...)   # one epoll_ctl(ADD) per socket
    for each in wsend: sel.register(...)
    events = sel.select(delay)             # epoll_wait
    sel.close()                            # close

so each pass costs 3 + (number of sockets) system calls where ``poll`` would cost one.
This script has two actors exchange messages and reports, per delivered message, the
system calls of the two actor processes (``strace -c``, if available) and their CPU time.

Run: python docs/thespian-repro/select_churn.py [--poll] [--messages N] [--idle-peers K] [--no-strace]
``--poll`` makes TCPTransport.py see ``selectors.PollSelector`` as ``DefaultSelector``
(the patch described in README.md); forked actors inherit it.
"""

from __future__ import annotations

import argparse
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import types

from thespian.actors import Actor, ActorSystem


class Pong(Actor):
    def receiveMessage(self, msg, sender):
        if msg == "stats":
            self.send(sender, (os.getpid(), time.process_time()))
        elif isinstance(msg, (int, tuple)):
            self.send(sender, msg)


class Ping(Actor):
    def receiveMessage(self, msg, sender):
        if msg == "stats":
            self.send(sender, (os.getpid(), time.process_time()))
        elif isinstance(msg, tuple) and msg[0] == "warm":
            # one exchange with each idle peer leaves an open socket to it, as the
            # Directory keeps one to every owner it talks to
            self.warming, self.client = len(msg[1]), sender
            for peer in msg[1]:
                self.send(peer, ("w",))
        elif msg == ("w",):
            self.warming -= 1
            if self.warming == 0:
                self.send(self.client, "warm")
        elif isinstance(msg, tuple) and msg[0] == "go":
            _, self.pong, self.left = msg
            self.client = sender
            self.send(self.pong, self.left)
        elif isinstance(msg, int):
            self.left -= 1
            if self.left > 0:
                self.send(self.pong, self.left)
            else:
                self.send(self.client, "done")


def patch_poll() -> None:
    from thespian.system.transport import TCPTransport as tcp_module

    tcp_module.selectors = types.SimpleNamespace(DefaultSelector=selectors.PollSelector,
                                                 EVENT_READ=selectors.EVENT_READ,
                                                 EVENT_WRITE=selectors.EVENT_WRITE)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--poll", action="store_true", help="apply the PollSelector patch")
    parser.add_argument("--messages", type=int, default=4000, help="round trips (2 messages each)")
    parser.add_argument("--idle-peers", type=int, default=0,
                        help="actors Ping has talked to once (open, idle sockets in every pass)")
    parser.add_argument("--no-strace", action="store_true", help="CPU only (strace slows everything)")
    args = parser.parse_args()
    if args.poll:
        patch_poll()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": port}, transientUnique=True)
    try:
        ping, pong = asys.createActor(Ping), asys.createActor(Pong)
        if args.idle_peers:
            peers = [asys.createActor(Pong) for _ in range(args.idle_peers)]
            assert asys.ask(ping, ("warm", peers), 60) == "warm"
        (ping_pid, ping_cpu0), (pong_pid, pong_cpu0) = asys.ask(ping, "stats", 10), asys.ask(pong, "stats", 10)
        tracer, out = None, None
        if not args.no_strace and shutil.which("strace"):
            out = tempfile.NamedTemporaryFile(suffix=".strace", delete=False).name
            tracer = subprocess.Popen(["strace", "-c", "-o", out, "-p", str(ping_pid), "-p", str(pong_pid)],
                                      stderr=subprocess.PIPE, text=True)
            # strace says "Process N attached" once per process on stderr
            attached = 0
            while attached < 2:
                line = tracer.stderr.readline()
                if not line:
                    break
                attached += "attached" in line
        t0 = time.monotonic()
        asys.tell(ping, ("go", pong, args.messages))
        got = asys.listen(600)
        wall = time.monotonic() - t0
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
        (_, ping_cpu1), (_, pong_cpu1) = asys.ask(ping, "stats", 10), asys.ask(pong, "stats", 10)
        delivered = 2 * args.messages
        label = ("poll (patched)" if args.poll else "DefaultSelector (epoll, upstream)") + \
            f", {args.idle_peers} idle peers"
        print(f"{label}: {delivered} messages in {wall:.2f} s ({got!r}); CPU of the two actors "
              f"{(ping_cpu1 - ping_cpu0 + pong_cpu1 - pong_cpu0) / delivered * 1e6:.0f} us per message"
              + (" (under strace)" if tracer is not None else ""))
        if out is not None:
            report = open(out).read()
            os.unlink(out)
            rows = {m.group(2): int(m.group(1)) for m in
                    re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", report, re.M)
                    if m.group(2) != "total"}
            total = sum(rows.values())
            top = sorted(rows.items(), key=lambda kv: -kv[1])[:8]
            print(f"  system calls per delivered message: {total / delivered:.1f}; "
                  + ", ".join(f"{name} {n / delivered:.1f}" for name, n in top))
    finally:
        asys.shutdown()


if __name__ == "__main__":
    main()
