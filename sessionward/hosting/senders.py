"""The client's sending side: one private Thespian context per calling thread, and sends
that wait a bounded time for their target's process.

Thespian's ``ActorSystem`` handle is not thread-safe, so each thread that sends gets its
own context (``ActorSystem.private()``). Its ``tell`` returns only when every transmit
queued in that context has been acknowledged by the peer's process, or after 60 s
(``MAX_TELL_PERIOD``); that is harmless toward the Directory (it is the system itself)
but not toward a session's owner, whose process may be frozen. ``bounded_tell`` is
``tell`` built from the same pieces (a ``TransmitIntent`` and transmit-only passes of the
context's transport) with a limit, and reports how the send ended; the decisions are in
``sessionward.routes``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from datetime import timedelta
from typing import Any

from thespian.system.transport import TransmitIntent

from sessionward.routes import DirectSend, direct_send_state, replaces_context


class _Track:
    """The transmit's completion, set by the transport's callbacks (on the sending thread)."""

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self.delivered = False
        self.failed = False

    def sent(self, _result: Any, _intent: Any) -> None:
        self.delivered = True
        self._transport.abort_run()  # end the transport pass now, as TransmitTrack does on failure

    def failure(self, _result: Any, _intent: Any) -> None:
        self.failed = True
        self._transport.abort_run()


class Senders:
    """Per-thread private contexts; a context whose transmit stalled is replaced."""

    def __init__(self, system: Any) -> None:
        self._system = system
        self._local = threading.local()
        self._lock = threading.Lock()
        self._stacks: list[contextlib.ExitStack] = []

    def context(self) -> Any:
        """This thread's private context (made on first use)."""
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            stack = contextlib.ExitStack()
            ctx = stack.enter_context(self._system.private())
            self._local.ctx, self._local.stack = ctx, stack
            with self._lock:
                self._stacks.append(stack)
        return ctx

    def bounded_tell(self, target: Any, msg: Any, limit: float) -> DirectSend:
        """Send ``msg`` and wait at most ``limit`` seconds for ``target``'s process to take it.

        Stalled, this thread's context is closed (the stuck transmit would hold every later
        send from it; closing fails it, so the frame is never sent again from here) and the
        next send makes a new one. Raises what the transport raises before sending (a message
        that cannot be pickled, say).
        """
        ctx = self.context()
        base = getattr(ctx, "_systemBase", None)
        transport = getattr(base, "transport", None)
        if transport is None or not hasattr(base, "_run_transport"):
            ctx.tell(target, msg)  # simpleSystemBase: every actor runs in this process
            return DirectSend.DELIVERED
        track = _Track(transport)
        deadline = time.monotonic() + limit
        transport.scheduleTransmit(None, TransmitIntent(target, msg, onSuccess=track.sent, onError=track.failure))
        while True:
            remaining = deadline - time.monotonic()
            state = direct_send_state(delivered=track.delivered, failed=track.failed, remaining=remaining)
            if state is not None:
                break
            base._run_transport(timedelta(seconds=remaining), txonly=True)
        if replaces_context(state):
            self.discard()
        return state

    def discard(self) -> None:
        """Close this thread's context; its next send makes a new one."""
        stack = getattr(self._local, "stack", None)
        self._local.ctx = self._local.stack = None
        if stack is None:
            return
        with self._lock:
            if stack in self._stacks:
                self._stacks.remove(stack)
        with contextlib.suppress(Exception):
            stack.close()

    def close(self) -> None:
        with self._lock:
            stacks, self._stacks = self._stacks, []
        for stack in stacks:
            with contextlib.suppress(Exception):
                stack.close()
