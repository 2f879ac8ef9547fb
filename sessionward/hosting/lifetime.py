"""An actor system's processes live and die with its host process.

Thespian (multiprocTCPBase, 4.0.1, ``multiprocCommon.startAdmin``) forks like this: the
host forks a *launcher*, which calls ``setsid`` and forks the *admin*, then exits; the
admin forks the logger and the first actors; an actor forks the actors it creates (the
Directory its owners, an owner its worker). Every one of them is in the session and
process group the launcher made, and none of them is the host's child. So when the host
is killed (SIGKILL, the OOM killer), nothing tells them, and they live on, holding their
transcripts' locks. Two mechanisms, set up by a fork handler (``os.register_at_fork``)
that knows which process of the tree it runs in:

- **The admin watches the host.** Its parent (the launcher) is gone at once, so a
  parent-death signal would be useless there. A thread waits for the host to exit (on a
  pidfd, or by polling its pid and start where there is none) and then SIGKILLs the
  system's process group: every actor process, including workers orphaned earlier.
- **Every process below the admin dies with its parent** (``PR_SET_PDEATHSIG`` on
  Linux, through ctypes): if the admin, or an owner, is killed, its children follow.
  Linux sends the signal when the parent *thread* that forked ends; Thespian forks actors
  from each process's main thread.

The host itself sets nothing: only forks made while it starts a system (inside
``starting_system``) and the forks below them take part, so the host's other children
(a subprocess, a multiprocessing pool) are untouched.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sessionward.hosting.ownership import ProcessFacts

HOST_POLL_SECONDS = 0.25
"""How often the admin checks the host where there is no pidfd (the portable fallback)."""

_PR_SET_PDEATHSIG = 1



class _ProcessState:
    """This process's part in an actor system. A forked child starts with a copy."""

    role = "host"
    """``host`` (no system of ours), ``starting`` (a host while it starts a system),
    ``launcher``, ``admin`` or ``actor``."""
    host: tuple[int, ProcessFacts | None, int] = (0, None, 0)
    """(pid, identity, process group) of the host whose system this process belongs to; no
    identity if the host could not read its own."""
    forker = 0
    """The pid of the process that forked this one (set just before each fork)."""


_state = _ProcessState()
_start_lock = threading.Lock()


def _prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


@contextlib.contextmanager
def starting_system() -> Iterator[None]:
    """Wrap the start of an actor system: the processes forked meanwhile, and all their
    descendants, follow this process (see the module's docstring)."""
    from sessionward.hosting.processes import process_facts

    me = process_facts(os.getpid())
    with _start_lock:
        _state.host = (os.getpid(), me, os.getpgrp())
        _state.role = "starting"
        try:
            yield
        finally:
            _state.role = "host"


def _before_fork() -> None:
    _state.forker = os.getpid()


def _after_fork_in_child() -> None:
    if _state.role == "starting":
        _state.role = "launcher"
    elif _state.role == "launcher":
        _state.role = "admin"
        threading.Thread(target=_watch_host, args=_state.host, name="sessionward-host-watch", daemon=True).start()
    elif _state.role in ("admin", "actor"):
        _state.role = "actor"
        die_with_parent(_state.forker)


os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)


def die_with_parent(parent: int) -> bool:
    """Arm a SIGKILL for when the parent process (``parent``) ends. Linux only.

    If the parent already ended before the signal was armed, this process ends now.
    Returns False where there is no parent-death signal.
    """
    prctl = _prctl()
    if prctl is None:
        return False
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)
    return True


def follow_parent() -> None:
    """End this process when its parent ends: a parent-death signal on Linux, else a
    thread polling the parent's pid. For a helper process that hosts a runtime (the
    benchmark's workload process): its actor system then follows it in turn."""
    parent = os.getppid()
    if die_with_parent(parent):
        return

    def poll() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # as in _watch_host
        while os.getppid() == parent:
            time.sleep(HOST_POLL_SECONDS)  # no portable event for another process's exit
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=poll, name="sessionward-parent-watch", daemon=True).start()


def _watch_host(pid: int, host: ProcessFacts | None, host_group: int) -> None:
    """In the admin: wait for the host to end, then end the whole actor system."""
    # Signals stay with the admin's main thread. Thespian wakes its select loop by the
    # EINTR of a SIGCHLD; one delivered to this thread instead would only be seen at the
    # loop's next timeout.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    from sessionward.hosting.processes import running

    try:
        if host is None:
            raise LookupError("the host's identity is unknown")
        wait_for_exit(host)
    except Exception:
        # The plainest check left: the pid alone (a zombie host has ended).
        while running(pid):
            time.sleep(HOST_POLL_SECONDS)
    finally:
        group = os.getpgrp()
        # Our own session, made by Thespian's setsid, holds only actor processes; never
        # signal the host's group (if setsid had not happened, end only ourselves).
        if group != host_group and group == os.getsid(0):
            os.killpg(group, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)


def wait_for_exit(process: ProcessFacts) -> None:
    """Return when ``process`` (its pid and start) is gone (at once if it is not there, or
    if its pid now names another process)."""
    pid = process.pid
    fd = None
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (AttributeError, OSError):
        fd = None  # no pidfd here (older kernel, another OS): poll instead
    try:
        if fd is not None:
            # Checked after the pidfd is open: a pid reused before that is not our host.
            if _is(process):
                select.select([fd], [], [])  # readable once the process has exited
            return
        while _is(process):
            time.sleep(HOST_POLL_SECONDS)
    finally:
        if fd is not None:
            os.close(fd)


def _is(process: ProcessFacts) -> bool:
    from sessionward.hosting.ownership import same_process
    from sessionward.hosting.processes import process_facts

    return same_process(process, process_facts(process.pid))
