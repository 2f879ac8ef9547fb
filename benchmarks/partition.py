"""``python -m benchmarks.partition [--sessions N] [--runs N]``: how long a convention takes to
notice a silent (partitioned) member and to re-home its sessions, on the namespace bed.

Each run starts three members in their own network namespaces (``benchmarks.netns_bed``),
streams turns on all of them from a client in the leader's namespace, pulls the third
member's cable mid-stream, and prints:

* ``released``: seconds from the cut until the cut-off member held no session file any
  more (its lease ran out: ``lease_timeout`` plus at most one check);
* ``detected``: seconds from the cut until the leader declared the member gone (its
  ``member_timeout`` after the last answered heartbeat, plus at most one heartbeat);
* ``seen``: seconds from the cut until a client's ``status()`` no longer listed it (a
  status also waits for the state queries sent to the lost member's owners);
* ``rehome``: the Directory's own figure, from declaring the member gone to the last
  re-homed owner being live (``status().last_rehome_seconds``).

``run_scenario`` is also what ``tests/test_netns_cluster.py`` runs; the test checks the
outcomes and files, this prints the times. Needs root (see ``netns_bed.unavailable``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import attrs

from benchmarks.netns_bed import Bed, locks_by_pid, unavailable

REPO = Path(__file__).resolve().parent.parent

HEARTBEAT_EVERY, LEASE_TIMEOUT, MEMBER_TIMEOUT = 0.5, 4.0, 6.0
"""The bed's settings (seconds): short, so a run takes seconds; the margins are the defaults'."""


def config_text(chunk_delay: float, chunks: int = 12) -> str:
    return ('[provider]\nfactory = "sessionward.providers.scripted:ScriptedProvider"\n'
            f'kwargs = {{ reply = "reply to {{text}}", chunks = {chunks}, chunk_delay = {chunk_delay} }}\n'
            f'[cluster]\nheartbeat_every = {HEARTBEAT_EVERY}\nlease_timeout = {LEASE_TIMEOUT}\n'
            f'member_timeout = {MEMBER_TIMEOUT}\n')


@attrs.frozen
class Observation:
    """What the observer saw of one file the cut-off member held at the fault."""

    epoch_at_fault: int
    max_epoch_while_held: int
    """The highest ``ownerEpoch`` in the file at any sample taken while that member still
    held its lock (read first, lock checked after: so the lock was held at the read)."""
    released_after: float | None
    """Seconds from the fault until the member no longer held the file (None: never seen)."""


@attrs.frozen
class Result:
    outcomes: list[dict]
    placed: dict[str, str]
    fault_time: float
    gone_time: float
    """When the client first saw the member gone from ``status()`` (which also waits for
    the state queries that went to the lost member's owners)."""
    detected_time: float | None
    """When the leader's Directory declared the member gone (its log line's time)."""
    last_rehome_seconds: float | None
    observations: dict[str, Observation]
    store: Path


def entries_so_far(path: Path) -> list[dict]:
    """The complete lines of a transcript being written (a torn last line is skipped)."""
    out = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def max_epoch(entries: list[dict]) -> int:
    return max((e["ownerEpoch"] for e in entries if isinstance(e.get("ownerEpoch"), int)), default=0)


def run_scenario(root: Path, fault: Callable[[Bed, str], None], *, chunk_delay: float, sessions: int = 24,
                 target: str = "m3", heal: bool = False, check: Callable[[Bed], None] | None = None) -> Result:
    """Start the bed, stream turns, apply ``fault(bed, target)`` while a turn streams on
    ``target``, observe the target's files until every outcome is in, and return it all.
    ``heal`` puts the cable back once the target was declared gone. ``check(bed)`` runs at
    the end, while the bed still stands (e.g. a rogue client from a fourth namespace)."""
    with Bed(root) as bed:
        bed.start(config_text(chunk_delay))
        out = root / "client"
        client = bed.popen_in(bed.members[0], [sys.executable, "-m", "benchmarks.netns_client", "--store",
                                               str(bed.store), "--out", str(out), "--target", target,
                                               "--sessions", str(sessions)], root / "client.log", cwd=REPO)
        _wait((out / "ready.json").exists, client, 120, "the client to see a turn streaming", root)
        ready = json.loads((out / "ready.json").read_text())
        target_pids = bed.pids(target)
        files = list((bed.store / "sessions").glob("*.jsonl"))
        held = {p: pid for p, pid in locks_by_pid(files).items() if pid in target_pids}
        seen = {p: max_epoch(entries_so_far(p)) for p in held}
        start = {p: seen[p] for p in held}
        released: dict[Path, float] = {}
        fault_time = time.time()
        fault(bed, target)
        healed = False
        while not (out / "outcomes.json").exists():
            if client.poll() is not None:
                raise RuntimeError(f"the client exited with {client.returncode}: {_tail(root / 'client.log')}")
            if heal and not healed and (out / "gone.json").exists():
                bed.heal(target)
                healed = True
            snapshot = {p: max_epoch(entries_so_far(p)) for p in held if p not in released}
            holders = locks_by_pid(list(snapshot))
            now = time.time()
            for p, epoch in snapshot.items():
                if holders.get(p) in target_pids:
                    seen[p] = max(seen[p], epoch)
                else:
                    released[p] = now - fault_time
            time.sleep(0.05)  # sampling other processes' locks and files: no event to await
        client.wait(timeout=30)
        if check is not None:
            check(bed)
        result = json.loads((out / "outcomes.json").read_text())
        gone = json.loads((out / "gone.json").read_text())
    observations = {p.name: Observation(start[p], seen[p], released.get(p)) for p in held}
    return Result(result["outcomes"], ready["placed"], fault_time, gone["time"],
                  _logged_time(bed.store / "sessionward.log", f"member {target} is gone"),
                  result["last_rehome_seconds"], observations, bed.store)


def _logged_time(log: Path, text: str) -> float | None:
    """The time of the first log line containing ``text`` (the log's local asctime)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        if text in line:
            stamp, _, millis = line[:23].partition(",")
            return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000
    return None


def _wait(predicate, client, timeout: float, what: str, root: Path) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if client.poll() is not None:
            raise RuntimeError(f"the client exited with {client.returncode}: {_tail(root / 'client.log')}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}: {_tail(root / 'client.log')}")
        time.sleep(0.05)  # another process's file: no event to await


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def cut(bed: Bed, member: str) -> None:
    bed.cut(member)


def kill(bed: Bed, member: str) -> None:
    bed.kill(member)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.partition", description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    why = unavailable()
    if why:
        print(f"benchmarks.partition: cannot run here: {why}", file=sys.stderr)
        return 2
    print(f"settings: heartbeat_every {HEARTBEAT_EVERY} s, lease_timeout {LEASE_TIMEOUT} s, "
          f"member_timeout {MEMBER_TIMEOUT} s; {args.sessions} sessions x 2 turns, 3 members")
    print(f"{'run':>3}  {'released':>9}  {'detected':>9}  {'seen':>7}  {'rehome':>7}  {'on m3':>5}  "
          f"{'lease_lost':>10}")
    for run in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory(prefix="sw-partition-") as tmp:
            r = run_scenario(Path(tmp), cut, chunk_delay=0.5, sessions=args.sessions, heal=True)
        released = [o.released_after for o in r.observations.values() if o.released_after is not None]
        lost = sum(1 for o in r.outcomes if o["reason"] == "lease_lost")
        on_target = sum(1 for m in r.placed.values() if m == "m3")
        detected = (r.detected_time or float("nan")) - r.fault_time
        print(f"{run:>3}  {max(released, default=float('nan')):>8.2f}s  {detected:>8.2f}s  "
              f"{r.gone_time - r.fault_time:>6.2f}s  "
              f"{(r.last_rehome_seconds or float('nan')):>6.2f}s  {on_target:>5}  {lost:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
