"""Scale: many concurrently active sessions, memory per session, activation latency, and a
store of 100,000 sessions on disk with passivation.

**Active sessions.** One runtime; for each N in ``steps`` the sessions new in this step are
activated with one instant turn each (an owner process and a worker process each; the
"activation s" column), then one turn is submitted to each of sessions 0..N-1 at once,
streaming long enough that all N stream at the same time. A step passes when every turn
completes; the peak number of turns streaming at one instant is computed from the
owners' start and finish stamps ("submit s" is how long the submit loop took: when it
outlasts the stream, fewer than N stream at once). Memory is the PSS summed
over every process of the actor system (``/proc/<pid>/smaps_rollup``), less the runtime's
PSS with no session, divided by N. Stepping stops at the first failed step, or before a
step whose projected memory (last step's per-session PSS x N) would pass
``memory_fraction`` of ``MemAvailable``, or whose projected time would pass
``step_time_limit``.

**Activation latency.** The first turn on a session whose owner is not live: from submit
to ``TurnAccepted`` (``handle.wait_accepted()``), one at a time (each turn ends before the
next is submitted), on the runtime over the 100,000-session store: for sessions on disk,
for new sessions (no file yet), and again for sessions whose owner passivated. New
sessions are measured twice: back to back (a burst: the next comes as soon as the last
ended, so the ``spare_owners`` pool runs out and most are started on an owner forked on
the spot) and one every ``spaced_gap`` seconds (a spare is ready for each).

**Sessions on disk.** ``disk_sessions`` transcripts (a header and one finished turn each)
and their ``sessions.json`` index are written straight into a store in its own format
(``sessionward.storage.entries``, ``sessionward.storage.store``). A runtime with a short ``idle_timeout``
then activates a random sample through ``Runtime.submit``; owners passivate when idle
(the live owner count is followed until it is back to 0), and a second turn on part of the
sample activates them again. Every sampled file must still start with its original bytes.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

import attrs
import psutil

from benchmarks import check, stats
from benchmarks.workloads.measure import available_memory_kib, total_pss_kib, wait_all
from benchmarks.workloads.provider import MixProvider, mix_text
from benchmarks.workloads.report import Figure, Target, WorkloadResult
from sessionward import Runtime, RuntimeConfig, ScriptedProvider, TurnStatus
from sessionward.hosting import page_merging
from sessionward.storage import entries as E
from sessionward.storage.store import derived_session_id
from sessionward.storage.transcript_format import dumps_line


@attrs.frozen
class Params:
    steps: tuple[int, ...] = (50, 100, 200, 500, 750, 1000)
    stream_seconds: float = 1.0
    stream_per_session: float = 0.03
    """A step's turns stream ``stream_seconds + N * stream_per_session`` (in 10 chunks), so
    the first is still streaming when the last is submitted."""
    memory_fraction: float = 0.5
    """A step may use at most this share of the memory available when it starts."""
    step_time_limit: float = 180.0
    activation_sample: int = 100
    spaced_gap: float = 0.1
    """Seconds between new sessions in the spaced activation row (the pool is refilled 50 ms
    after a spare is taken)."""
    disk_sessions: int = 100_000
    disk_sample: int = 200
    reactivate_sample: int = 50
    idle_timeout: float = 2.0
    worker_idle_timeout: float = 2.0
    """Live sessions' workers end after this long without a turn: the idle row waits for it."""
    stream_in: str = "worker"
    """``RuntimeConfig.stream_in``: with ``owner`` a live session is one process, active or idle."""
    ksm_wait: float = 300.0
    """Seconds the merged row waits for ``ksmd``'s two full scans (where it runs)."""
    seed: int = 7
    base: str = "tcp"
    timeout: float = 300.0


QUICK = Params(steps=(20,), stream_seconds=0.5, activation_sample=20, disk_sessions=1000,
               disk_sample=30, reactivate_sample=10, idle_timeout=1.0, worker_idle_timeout=1.0)

COLUMNS = ("phase", "sessions", "completed", "peak streaming at once", "processes",
           "PSS total MiB", "PSS per session MiB", "activation s", "submit s", "stream s",
           "activation p50 ms", "activation p99 ms", "first outcome p50 ms", "wall s", "stopped because")

TARGET_SESSIONS = Target(">=", 500)
TARGET_ACTIVATION_P50 = Target("<=", 15)
TARGET_IDLE_MIB = Target("<=", 8)


def _peak(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals])
    peak = live = 0
    for _, delta in events:
        live += delta
        peak = max(peak, live)
    return peak


def _activation(rt: Runtime, keys: list[str], timeout: float, gap: float = 0.0) -> tuple[list[float], list[float], int]:
    """Submit one turn on each key, one at a time (``gap`` seconds after the last one's
    outcome): ms from submit to TurnAccepted, ms from submit to the outcome, and how many
    completed."""
    latencies, outcomes, completed = [], [], 0
    for key in keys:
        if gap and latencies:
            time.sleep(gap)  # spacing the load, not waiting for anything
        handle = rt.submit(key, "activate")
        if handle.wait_accepted(timeout):
            latencies.append(1000.0 * (time.time() - handle.submitted_time))
        try:
            outcome = handle.result(timeout=timeout)
        except Exception:  # counted as not completed
            continue
        outcomes.append(1000.0 * (time.time() - handle.submitted_time))
        completed += outcome.status is TurnStatus.COMPLETED
    return latencies, outcomes, completed


def _activation_row(phase: str, rt: Runtime, keys: list[str], timeout: float, gap: float = 0.0) -> dict:
    began = time.monotonic()
    latencies, outcomes, completed = _activation(rt, keys, timeout, gap)
    return {"phase": phase, "sessions": len(keys), "completed": completed,
            "activation p50 ms": stats.p50(latencies), "activation p99 ms": stats.p99(latencies),
            "first outcome p50 ms": stats.p50(outcomes), "wall s": time.monotonic() - began}


def active_sessions(params: Params, store: Path) -> list[dict]:
    """Step N up; return one row per step."""
    rows: list[dict] = []
    config = RuntimeConfig(worker_idle_timeout=params.worker_idle_timeout, stream_in=params.stream_in)
    with Runtime(store, provider=MixProvider(), base=params.base, recovery=False, config=config) as rt:
        rt.status()  # the actor system is up and answering
        base_pids = _with_spares(rt, config.spare_owners, params.base, workers=params.stream_in != "owner")
        base_kib = total_pss_kib(base_pids)
        keys = [f"agent:bench:a{i:05d}" for i in range(max(params.steps))]
        last: dict | None = None
        live = 0
        for n in params.steps:
            stop = None
            if last is not None:
                need_kib = last["_per_kib"] * n * 1.2
                if need_kib > params.memory_fraction * available_memory_kib():
                    stop = (f"memory: {n} sessions would need ~{need_kib / 1024:,.0f} MiB, more "
                            f"than {params.memory_fraction:.0%} of what is available")
                elif last["_seconds"] * n / last["sessions"] > params.step_time_limit:
                    stop = f"time: {n} sessions would take over {params.step_time_limit:.0f} s"
            if stop is not None:
                rows[-1]["stopped because"] = stop
                break
            began = time.monotonic()
            activated = wait_all([rt.submit(keys[i], mix_text(0.0, 1, "activate"))
                                  for i in range(live, n)], params.timeout)
            activation = time.monotonic() - began
            live = n
            # Every session streams at once: the stream outlasts the time it takes to
            # submit to all of them.
            stream = params.stream_seconds + n * params.stream_per_session
            began = time.monotonic()
            handles = [rt.submit(keys[i], mix_text(stream, 10, "stream")) for i in range(n)]
            submitting = time.monotonic() - began
            outcomes = wait_all(handles, params.timeout + stream)
            wall = time.monotonic() - began
            done = [o for o in outcomes if o is not None and o.status is TurnStatus.COMPLETED]
            failed = sum(1 for o in activated if o is None or o.status is not TurnStatus.COMPLETED)
            pids = rt._processes()
            total_kib = total_pss_kib(pids)
            per_kib = (total_kib - base_kib) / n
            row = {
                "phase": "active sessions", "sessions": n, "completed": len(done),
                "peak streaming at once": _peak([(o.started_time, o.finished_time) for o in done
                                                 if o.started_time and o.finished_time]),
                "processes": len(pids), "PSS total MiB": total_kib / 1024,
                "PSS per session MiB": per_kib / 1024, "activation s": activation,
                "submit s": submitting, "stream s": stream, "wall s": wall,
                "stopped because": None,
                "_per_kib": per_kib, "_seconds": activation + wall,
            }
            rows.append(row)
            last = row
            if len(done) < n or failed:
                row["stopped because"] = (f"failure: {n - len(done)} streaming turns and "
                                          f"{failed} activations did not complete")
                break
        if live:
            rows.append(_idle_row(rt, live, len(base_pids), base_kib, params))
            rows.append(_merged_row(rt, live, base_kib, params))
    for row in rows:
        row.pop("_per_kib", None)
        row.pop("_seconds", None)
    return rows


def _with_spares(rt: Runtime, spares: int, base: str, *, workers: bool) -> set[int]:
    """The system's processes once its spare owners and their workers have started (the
    owner factory's children, with one child each with ``workers``, on a multiproc base):
    the baseline every per-session figure is above."""
    deadline = time.monotonic() + 30
    while base != "simple" and time.monotonic() < deadline:
        try:
            factory = rt.status().factory_pid
            children = psutil.Process(factory).children() if factory else []
            if factory and len(children) >= spares and all(len(c.children()) == workers for c in children):
                break
        except psutil.Error:  # a child ended while we looked: look again
            pass
        time.sleep(0.05)  # the Directory starts them on a timer, in other processes
    return rt._processes()


def _idle_row(rt: Runtime, live: int, base_processes: int, base_kib: float, params: Params) -> dict:
    """The live sessions once idle: wait until their workers have ended (one process per
    session is left: its owner), then PSS per session as in the active rows."""
    began = time.monotonic()
    deadline = began + 3 * params.worker_idle_timeout + 10
    pids = rt._processes()
    while len(pids) > base_processes + live and time.monotonic() < deadline:
        time.sleep(0.2)  # workers end on their owners' timers, in other processes
        pids = rt._processes()
    total_kib = total_pss_kib(pids)
    return {"phase": "idle live sessions (workers ended)", "sessions": live, "completed": live,
            "processes": len(pids), "PSS total MiB": total_kib / 1024,
            "PSS per session MiB": (total_kib - base_kib) / live / 1024,
            "wall s": time.monotonic() - began, "stopped because": None}


KSM = Path("/sys/kernel/mm/ksm")


def _ksm(name: str) -> int:
    return int((KSM / name).read_text())


def _ksmd_cpu_seconds() -> float:
    """CPU seconds the kernel's ``ksmd`` thread has used (0 if it is not found)."""
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] == "ksmd":
            times = proc.cpu_times()
            return times.user + times.system
    return 0.0


def _merged_row(rt: Runtime, live: int, base_kib: float, params: Params) -> dict:
    """The idle live sessions once ``ksmd`` has scanned every page three times since they went
    idle (an idle owner offers its pages to KSM: ``merge_idle_pages``). Only where the host
    runs ``ksmd`` (``/sys/kernel/mm/ksm/run`` is 1, set by a person with root: this
    workload never changes it); its scan rate is the host's (``docs/operating.md``)."""
    phase = "idle live sessions, pages merged by KSM"
    if params.base == "simple":  # every actor in this process: no owner process, and none offers
        return {"phase": phase, "sessions": live, "stopped because": "simpleSystemBase: no owner processes"}
    if not page_merging.ksm_running():
        return {"phase": phase, "sessions": live, "stopped because": "ksmd is not running on this host"}
    began = time.monotonic()
    cpu = _ksmd_cpu_seconds()
    scans = _ksm("full_scans")
    while _ksm("full_scans") < scans + 3 and time.monotonic() - began < params.ksm_wait:
        time.sleep(0.5)  # ksmd's own pace; nothing to be told by
    waited = time.monotonic() - began
    pids = rt._processes()
    total_kib = total_pss_kib(pids)
    done = _ksm("full_scans") >= scans + 3
    return {"phase": phase, "sessions": live, "completed": live, "processes": len(pids),
            "PSS total MiB": total_kib / 1024, "PSS per session MiB": (total_kib - base_kib) / live / 1024,
            "wall s": waited,
            "stopped because": None if done else f"ksmd scanned {_ksm('full_scans') - scans} times in {waited:.0f} s",
            "_ksmd": {"pages_to_scan": _ksm("pages_to_scan"), "sleep_millisecs": _ksm("sleep_millisecs"),
                      "full scans": _ksm("full_scans") - scans, "pages_sharing": _ksm("pages_sharing"),
                      "ksmd CPU s": _ksmd_cpu_seconds() - cpu, "seconds": waited}}


def write_store(root: Path, n: int) -> list[str]:
    """Write ``n`` sessions (header + one finished turn each) and their index; return keys."""
    sessions = root / "sessions"
    sessions.mkdir(parents=True, exist_ok=True)
    now = time.time()
    cwd = str(root)
    keys = [f"agent:bench:d{i:06d}" for i in range(n)]
    index = {}
    for i, key in enumerate(keys):
        session_id = derived_session_id(key)
        turn_id = f"disk{i:06d}"
        user = E.user_entry(f"message {i}", turn_id=turn_id, lane="main", ids=(), parent_id=None,
                            now=now)
        reply = E.assistant_entry([{"type": "text", "text": f"reply {i}"}], stop_reason="stop",
                                  provider="scripted", turn_id=turn_id, ids=(user["id"],),
                                  parent_id=user["id"], now=now)
        end = E.turn_end_entry(turn_id=turn_id, status="completed", reason=None,
                               ids=(user["id"], reply["id"]), parent_id=reply["id"], now=now)
        data = b"".join(dumps_line(e) for e in
                        (E.header(session_id, cwd=cwd, now=now), user, reply, end))
        with open(sessions / f"{session_id}.jsonl", "wb") as f:
            f.write(data)
        index[key] = {"sessionId": session_id, "sessionFile": f"sessions/{session_id}.jsonl",
                      "createdTime": now, "updatedTime": now}
    (root / "sessions.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return keys


def _wait_passive(rt: Runtime, timeout: float) -> tuple[int, float]:
    """Poll until no owner is live (passivation is another process's timer); return the
    live owner count left and the seconds waited."""
    began = time.monotonic()
    live = rt.status().live_owners
    while live and time.monotonic() - began < timeout:
        time.sleep(0.2)
        live = rt.status().live_owners
    return live, time.monotonic() - began


def disk_sessions(params: Params, store: Path) -> tuple[list[dict], dict]:
    """Write the store, activate a sample, let it passivate, activate part of it again."""
    began = time.monotonic()
    keys = write_store(store, params.disk_sessions)
    write_seconds = time.monotonic() - began
    rng = random.Random(params.seed)
    sample = rng.sample(keys, min(params.disk_sample, len(keys)))
    paths = {k: store / "sessions" / f"{derived_session_id(k)}.jsonl" for k in sample}
    original = {k: p.read_bytes() for k, p in paths.items()}
    config = RuntimeConfig(idle_timeout=params.idle_timeout, stream_in=params.stream_in)
    rows = []
    began = time.monotonic()
    with Runtime(store, provider=ScriptedProvider(reply="ok"), base=params.base, config=config,
                 recovery=False) as rt:
        status = rt.status()
        start_seconds = time.monotonic() - began
        directory_kib = total_pss_kib(rt._processes())
        rows.append(_activation_row(f"activation, sessions on disk (of {params.disk_sessions:,})", rt, sample,
                                    params.timeout))
        new_keys = [f"agent:bench:new{i:05d}" for i in range(params.activation_sample)]
        rows.append(_activation_row("activation, new sessions (no file yet)", rt, new_keys, params.timeout))
        spaced_keys = [f"agent:bench:spaced{i:05d}" for i in range(params.activation_sample)]
        rows.append(_activation_row(f"activation, new sessions, one per {params.spaced_gap:g} s", rt, spaced_keys,
                                    params.timeout, gap=params.spaced_gap))
        left, waited = _wait_passive(rt, 3 * params.idle_timeout + 10)
        again = sample[: params.reactivate_sample]
        rows.append(_activation_row("activation again, after passivation", rt, again, params.timeout))
        left_end, _ = _wait_passive(rt, 3 * params.idle_timeout + 10)
    intact = all(paths[k].read_bytes().startswith(original[k]) and check.parse_ok(paths[k])
                 for k in sample)
    replies = sum(1 for k in sample for e in check.iter_entries(paths[k]) if check.is_reply(e))
    expected = 2 * len(sample) + len(again)  # the one on disk, plus one or two new ones
    facts = {
        "disk_sessions": params.disk_sessions,
        "write_seconds": write_seconds,
        "runtime_start_seconds": start_seconds,
        "known_sessions_at_start": status.known_sessions,
        "pss_at_start_mib": directory_kib / 1024,
        "live_owners_after_idle": left,
        "seconds_to_passivate": waited,
        "live_owners_at_end": left_end,
        "sampled_files_intact": intact,
        "replies_in_sampled_files": replies,
        "replies_expected": expected,
    }
    return rows, facts


def run(params: Params, workdir: Path) -> WorkloadResult:
    """Run the active-session steps, then the store on disk; return the table and targets."""
    started = time.monotonic()
    steps = active_sessions(params, Path(tempfile.mkdtemp(prefix="scale-", dir=workdir)))
    disk_rows, facts = disk_sessions(params, Path(tempfile.mkdtemp(prefix="disk-", dir=workdir)))
    idle = [r for r in steps if r["phase"].startswith("idle")]
    steps = [r for r in steps if not r["phase"].startswith("idle")]
    merged = [r for r in idle if "merged" in r["phase"]]
    ksmd = merged[0].pop("_ksmd", None) if merged else None
    rows = [*steps, *idle, *disk_rows]
    held = [r for r in steps if r["completed"] == r["sessions"]]
    largest = max((r["sessions"] for r in held), default=0)
    per_session = held[-1]["PSS per session MiB"] if held else float("nan")
    disk_activation, activation_new, activation_spaced = disk_rows[0], disk_rows[1], disk_rows[2]
    figures = (
        Figure("largest N of live sessions held (each ran a turn)", largest, "sessions",
               # A run that never stepped as far as the target cannot be judged against it.
               TARGET_SESSIONS if max(params.steps) >= TARGET_SESSIONS.value else None),
        Figure(f"most sessions streaming at one instant (at N={largest})",
               held[-1]["peak streaming at once"] if held else 0, "sessions"),
        Figure(f"memory per active session (PSS, at N={largest})", per_session, "MiB"),
        Figure(f"memory per idle live session (PSS, worker ended, at N={idle[0]['sessions'] if idle else 0})",
               idle[0]["PSS per session MiB"] if idle else float("nan"), "MiB", TARGET_IDLE_MIB),
        Figure(f"memory per idle live session, pages merged by KSM (PSS, at N={idle[0]['sessions'] if idle else 0})",
               merged[0].get("PSS per session MiB", float("nan")) if merged else float("nan"), "MiB",
               TARGET_IDLE_MIB if ksmd else None),
        Figure("activation p50, new session", activation_new["activation p50 ms"], "ms",
               TARGET_ACTIVATION_P50),
        Figure("activation p99, new session", activation_new["activation p99 ms"], "ms"),
        Figure("first turn's outcome p50, new session (submit to outcome)",
               activation_new["first outcome p50 ms"], "ms"),
        Figure(f"activation p50, new session, one per {params.spaced_gap:g} s (a spare ready)",
               activation_spaced["activation p50 ms"], "ms"),
        Figure(f"activation p50, session on disk (of {params.disk_sessions:,})",
               disk_activation["activation p50 ms"], "ms", TARGET_ACTIVATION_P50),
        Figure(f"activation p99, session on disk (of {params.disk_sessions:,})",
               disk_activation["activation p99 ms"], "ms"),
        Figure("owners still live after idle_timeout", facts["live_owners_after_idle"], "owners",
               Target("<=", 0)),
        Figure("sampled files lost bytes", 0 if facts["sampled_files_intact"] else 1, "files",
               Target("<=", 0)),
    )
    notes = (
        "active steps: a live session is an owner process and a worker process; PSS per "
        "session = (PSS of every actor-system process - PSS with no session) / N. Idle row: the "
        f"same sessions once worker_idle_timeout ({params.worker_idle_timeout} s) has ended "
        "their workers (an owner process each).",
        ("merged row: the same idle sessions once the host's ksmd has scanned every page three "
         f"times since (ksmd: {ksmd}); each idle owner offers its pages to KSM (merge_idle_pages)." if ksmd else
         "merged row: not measured, ksmd is not running on this host (/sys/kernel/mm/ksm/run is not 1); "
         "docs/operating.md says how to run it."),
        f"{params.disk_sessions:,} sessions written in {facts['write_seconds']:.1f} s; runtime "
        f"started over them in {facts['runtime_start_seconds']:.2f} s "
        f"({facts['known_sessions_at_start']:,} known sessions, actor system PSS "
        f"{facts['pss_at_start_mib']:.0f} MiB); idle_timeout {params.idle_timeout} s: every "
        f"owner passivated {facts['seconds_to_passivate']:.1f} s after the sample "
        f"({facts['live_owners_after_idle']} left live).",
        f"sampled transcripts: original bytes intact = {facts['sampled_files_intact']}; "
        f"replies {facts['replies_in_sampled_files']} of {facts['replies_expected']} expected.",
    )
    return WorkloadResult(
        name="scale",
        title="scale (active sessions, activation, sessions on disk)",
        columns=COLUMNS,
        rows=tuple(rows),
        figures=figures,
        notes=notes,
        params={**attrs.asdict(params), "disk_facts": facts},
        wall_seconds=time.monotonic() - started,
    )
