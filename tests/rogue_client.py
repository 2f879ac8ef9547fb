"""A rogue client: sends one crafted pickle, framed as Thespian frames its messages, to an
actor system's port. If the receiver unpickles it, the receiver creates MARKER_PATH.

    python tests/rogue_client.py HOST PORT MARKER_PATH [--timeout S]

It holds no secret and imports nothing from sessionward or Thespian, so it runs in any
network namespace with a plain Python. It prints one JSON line saying what the receiver
answered and exits with:

    0  the receiver refused the frame (rejection notice, or closed without an ACK)
    2  the receiver acknowledged the frame: it was unpickled (the marker should exist)
    3  could not connect

Exit 0 does not prove nothing ran: check that MARKER_PATH does not exist.
"""

from __future__ import annotations

import argparse
import json
import pickle
import socket
import sys


class _CreatesMarker:
    """Unpickling this calls ``open(path, "w")`` in the receiver: the file appears."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def crafted_frame(marker: str) -> bytes:
    # Shaped like Thespian's (sender address, message) envelope, both parts hostile.
    payload = pickle.dumps((_CreatesMarker(marker), _CreatesMarker(marker)))
    return b"%d>" % len(payload) + payload


def send(host: str, port: int, marker: str, timeout: float = 10.0) -> dict:
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        return {"result": "connect failed", "error": str(exc), "exit": 3}
    reply = b""
    with sock:
        sock.sendall(crafted_frame(marker))
        try:
            while True:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError:
            pass
        except OSError as exc:  # reset by the peer
            return {"result": "closed", "error": str(exc), "reply": reply.decode("latin-1"), "exit": 0}
    if b"SWF1-REJECTED" in reply:
        return {"result": "rejected", "reply": reply.decode("latin-1"), "exit": 0}
    if b"ACK" in reply and b"DATAERR" not in reply:
        return {"result": "acknowledged", "reply": reply.decode("latin-1"), "exit": 2}
    return {"result": "closed", "reply": reply.decode("latin-1"), "exit": 0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rogue_client.py")
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("marker")
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    outcome = send(args.host, args.port, args.marker, args.timeout)
    print(json.dumps(outcome))
    return int(outcome["exit"])


if __name__ == "__main__":
    sys.exit(main())
