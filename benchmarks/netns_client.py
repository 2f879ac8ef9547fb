"""The client side of the namespace bed: run inside a namespace that reaches the leader.

``python -m benchmarks.netns_client --store S --out DIR --target m3`` submits two turns to
each of ``--sessions`` sessions, waits until a turn streams on ``--target``, writes
``DIR/ready.json`` (placements and the time), then watches the convention until
``--target`` is declared gone (``DIR/gone.json``: the time it was first seen gone, and the
Directory's re-homing figures) and collects every outcome into ``DIR/outcomes.json``.

An outcome that does not arrive in ``--wait`` seconds is fetched by the documented
recovery: the same submit again with its idempotency key (returns the same turn's
outcome, never runs it again). Such turns are listed as ``retried``.

Files, not pipes: the client's actor system would hold a capturing parent's pipe open.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sessionward.operations.admin import AdminClient
from sessionward.storage.files import write_atomically

LANES = ["main", "heartbeat", "channel:discord:general", "channel:slack:ops", "direct:telegram:alice", "cron:nightly"]


def _write(path: Path, data) -> None:
    write_atomically(path, json.dumps(data, indent=1).encode())


def _until(check, timeout: float, what: str, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)  # polling another system's state: no event to await from here
    raise TimeoutError(f"timed out waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.netns_client")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--target", default="m3")
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--wait", type=float, default=60.0)
    args = parser.parse_args(argv)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with AdminClient(args.store) as client:
        members = _until(lambda: (m := set(client.status().members)) >= {"m1", "m2", args.target} and m, 60,
                         "three members")
        handles = []
        for i in range(args.sessions):
            key = f"agent:main:room{i:02d}"
            for j in range(2):
                handles.append(client.submit(key, f"t{i}-{j}", lane=LANES[(i + j) % len(LANES)]))
        placed: dict[str, str] = {}

        def streaming_on_target():
            sessions = client.sessions(limit=1000)
            placed.update({s.session_key: s.member for s in sessions if s.member})
            return len(placed) == args.sessions and any(s.member == args.target and s.state == "running"
                                                        for s in sessions)

        _until(streaming_on_target, 60, f"every session placed and a turn streaming on {args.target}")
        _write(out / "ready.json", {"time": time.time(), "placed": placed, "members": sorted(members)})
        def target_gone():
            status = client.status()
            return status if args.target not in status.members else None

        status = _until(target_gone, 600, f"{args.target} to be declared gone", every=0.05)
        gone_time = time.time()
        _write(out / "gone.json", {"time": gone_time, "rehomed": status.rehomed_sessions})
        rows = []
        for handle in handles:
            retried = False
            try:
                outcome = handle.result(timeout=args.wait)
            except TimeoutError:
                retried = True
                again = client.submit(handle.session_key, "retry", lane="direct:telegram:alice",
                                      idempotency_key=handle.idempotency_key)
                outcome = again.result(timeout=args.wait)
            rows.append({"request": handle.request_id, "key": handle.session_key, "turn": outcome.turn_id,
                         "status": outcome.status.value, "reason": outcome.reason and outcome.reason.value,
                         "final": outcome.final, "retried": retried, "detail": outcome.detail[:160],
                         "finished": outcome.finished_time})
        status = client.status()
        _write(out / "outcomes.json", {
            "outcomes": rows, "members": sorted(status.members), "rehomed": status.rehomed_sessions,
            "last_rehome_seconds": status.last_rehome_seconds, "done_time": time.time(), "gone_time": gone_time})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
