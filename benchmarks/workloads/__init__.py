"""The benchmark's workloads, each a module with ``Params`` (the full run's defaults),
``QUICK`` (the CI form) and ``run(params, workdir) -> WorkloadResult``.

Order of the layers inside: ``provider`` and ``measure`` (tools over sessionward),
``report`` (pure: tables, targets, JSON); then one module per workload: ``incident``,
``throughput``, ``streaming``, ``scale``, ``durability``.

``run_in_fresh_process`` runs one workload in a new interpreter (``spawn``). Thespian forks
the actor processes from the process that starts the runtime, so every owner and worker
inherits that process's heap: a workload run after others in the same process would
measure their leftovers in its memory figures.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import traceback
from pathlib import Path
from typing import Any

WORKLOADS = ("incident", "throughput", "streaming", "scale", "durability")
"""Every workload, in the order ``python -m benchmarks`` runs them."""

OPTIONAL = ("cluster", "liveness")
"""Workloads that run only when named with ``--only`` (they start daemons of their own)."""


def run_workload(name: str, quick: bool, workdir: str | Path) -> Any:
    """Run one workload with its full (or quick) parameters; return its ``WorkloadResult``.

    Every result also reports how many owners recovery replaced in the workload's runtimes
    (target 0: a healthy run replaces none).
    """
    import attrs

    from benchmarks.workloads.report import Figure, Target

    module = importlib.import_module(f"benchmarks.workloads.{name}")
    params = module.QUICK if quick else module.Params()
    with _counting_replacements() as replaced:
        result = module.run(params, Path(workdir))
    if not replaced:
        return result
    figure = Figure("owners replaced by recovery", sum(replaced), "", Target("<=", 0))
    return attrs.evolve(result, figures=(*result.figures, figure))


@contextlib.contextmanager
def _counting_replacements():
    """Record ``status().owners_replaced`` of every local runtime just before it closes."""
    from sessionward.runtime import Runtime

    counts: list[int] = []
    original = Runtime.close

    def close(self, timeout: float = 10.0) -> None:
        if not self._closed and self.cluster is None:
            try:
                counts.append(self.status(timeout=timeout).owners_replaced)
            except Exception:
                counts.append(0)  # an unanswered status query is reported by the workload
        original(self, timeout)

    Runtime.close = close
    try:
        yield counts
    finally:
        Runtime.close = original


def _child(name: str, quick: bool, workdir: str, conn) -> None:
    # If the harness dies (killed, timed out), this process ends with it, and the runtime
    # it hosts ends with this process (sessionward.hosting.lifetime): nothing is left running.
    from sessionward.hosting.lifetime import follow_parent

    follow_parent()
    try:
        conn.send(("ok", run_workload(name, quick, workdir)))
    except BaseException:  # reported to the parent, which raises it there
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_in_fresh_process(name: str, quick: bool, workdir: str | Path) -> Any:
    """``run_workload`` in a new interpreter; return its result.

    Raises:
        RuntimeError: the workload raised (its traceback is the message) or its process died.
    """
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_child, args=(name, quick, str(workdir), sender),
                          name=f"benchmark-{name}")
    process.start()
    sender.close()
    try:
        status, value = receiver.recv()
    except EOFError:
        process.join()
        raise RuntimeError(f"workload {name} died (exit code {process.exitcode})") from None
    finally:
        receiver.close()
    process.join()
    if status != "ok":
        raise RuntimeError(f"workload {name} failed:\n{value}")
    return value
