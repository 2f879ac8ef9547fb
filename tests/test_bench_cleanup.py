"""A benchmark run that dies mid-run leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import wait_for

from sessionward.hosting.claim import RECORD_NAME, read_record
from sessionward.hosting.system import process_group_members

ROOT = Path(__file__).resolve().parent.parent


def _busy_record(tmp: Path):
    """The record of a store under ``tmp`` whose actor system runs 20 processes or more
    (the throughput workload activates 100 sessions: an owner and a worker each)."""
    for path in tmp.rglob(RECORD_NAME):
        record = read_record(path.parent)
        if record is not None and record.group and len(process_group_members({record.group})) >= 20:
            return record
    return None


def _live(proc: psutil.Process) -> bool:
    """Running and not a zombie (an exited process its new parent has not reaped yet)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("victim", ["harness", "workload"])
def test_killing_the_benchmark_mid_run_leaves_no_process_after_5_seconds(tmp_path, victim):
    """SIGKILL ``python -m benchmarks`` itself, or the process its workload runs in (as a
    timeout or the OOM killer would end it): nothing of the workload is left 5 s later."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}  # the workloads' stores are made under it
    with open(tmp_path / "bench.log", "wb") as log:
        # throughput: its actor system starts at once and keeps busy for 10 s or more.
        harness = subprocess.Popen([sys.executable, "-m", "benchmarks", "--quick", "--only", "throughput",
                                    "--results-dir", str(tmp_path / "results")],
                                   cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    groups: set[int] = set()
    helpers: list[psutil.Process] = []
    try:
        record = wait_for(lambda: harness.poll() is None and _busy_record(tmp), 120,
                          "the workload's actor system to start its sessions (see bench.log)")
        groups = {record.group}
        helpers = psutil.Process(harness.pid).children(recursive=True)  # the workload's process
        assert helpers, "the workload should run in a process of its own"
        workload = next(p for p in helpers if p.pid == record.host_pid)  # it hosts the runtime
        killed = time.monotonic()
        if victim == "harness":
            harness.send_signal(signal.SIGKILL)
            harness.wait(timeout=10)
            watched = helpers  # the workload's process, and multiprocessing's resource tracker
        else:
            workload.send_signal(signal.SIGKILL)
            watched = [workload]
        wait_for(lambda: not process_group_members(groups) and not any(_live(p) for p in watched),
                 5, "the workload's processes to end")
        print(f"every process gone {time.monotonic() - killed:.2f}s after the {victim}'s SIGKILL")
        if victim == "workload":  # the harness reports the failed workload and exits 1
            assert harness.wait(timeout=60) == 1
            assert "workload throughput died" in (tmp_path / "bench.log").read_text()
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        for proc in helpers:  # only if the test failed; by pid and start time (psutil checks both)
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        for pid in process_group_members(groups):
            os.kill(pid, signal.SIGKILL)
