"""``python -m benchmarks.lane_mix_scale``: the lane mix at scale, every submit must end.

2,000 submits from 4 threads onto 4 session keys over the four lane kinds (direct,
channel, heartbeat, cron), tcp base, recovery on with short thresholds. Prints how many
submits got no final outcome within the deadline (must be 0; it was 1 in 2 runs before the
Thespian timer workaround), owners replaced (must be 0) and the outcomes by kind.
Exits 1 if any submit has no outcome.
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from sessionward import Runtime, ScriptedProvider

LANES = ("direct:telegram:alice", "channel:discord:general", "heartbeat", "cron:nightly")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lane_mix_scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--submits", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds for every outcome (default 120)")
    args = parser.parse_args(argv)
    keys = [f"agent:main:k{i}" for i in range(args.keys)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sessionward-lanemix-") as tmp, Runtime(
            Path(tmp) / "store", provider=ScriptedProvider(reply="ok", chunks=3, chunk_delay=0.001),
            recovery=True, recovery_tick=0.4, stall_after=1.0, abort_after=2.0) as rt:
        handles, lock = [], threading.Lock()

        def submit(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(args.submits // args.threads):
                handle = rt.submit(rng.choice(keys), "hi", lane=rng.choice(LANES))
                with lock:
                    handles.append(handle)

        threads = [threading.Thread(target=submit, args=(seed,)) for seed in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        kinds: collections.Counter[str] = collections.Counter()
        missing = 0
        deadline = time.monotonic() + args.deadline
        for handle in handles:
            try:
                outcome = handle.result(timeout=max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                missing += 1
                continue
            kinds[outcome.status.value + (f"/{outcome.reason.value}" if outcome.reason else "")] += 1
        replaced = rt.status().owners_replaced
    print(f"lane mix at scale: {len(handles)} submits from {args.threads} threads onto {args.keys} keys; "
          f"without an outcome after {args.deadline:.0f} s: {missing}; owners replaced: {replaced}; "
          f"{time.monotonic() - started:.1f} s; " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
