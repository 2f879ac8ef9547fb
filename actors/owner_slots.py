"""The Directory's owner slots: one per session file that has (or is getting) an owner. Pure.

A slot is what the Directory knows of one owner: its life-cycle state, when it was last
heard from, the messages *held* while it activates or passivates, and the messages lately
*forwarded* to it. The last is what keeps a routed request from being lost with its owner:
when an owner dies with messages in its mailbox, they are forwarded again to its
successor, which drops submits it already accepted (each carries an idempotency key),
and a caller ignores a second answer to a request it has had answered.

No Thespian import and no clock reads: every method that needs the time takes ``now``.
Owner addresses are opaque values here, compared with ``==`` (``ActorAddress`` is
unhashable, so slots are found by address with a scan, never a dict).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any

import attrs

from sessionward.actors.messages import SubmitTurn

RECENT_SUBMITS = 512
"""How many forwarded submits a slot remembers for re-forwarding after an owner is lost."""
RECENT_SUBMITS_AFTER = 600.0
"""... and for how long (seconds)."""
INFLIGHT_MAX = 256
"""How many forwarded queries and commands a slot remembers for re-forwarding."""
INFLIGHT_KEEP = 60.0
"""... and for how long (seconds): longer than any caller waits for its answer."""

Held = tuple[Any, Any]
"""A message and its sender (None for one forwarded again, whose reply goes to its ``reply_to``)."""


class SlotState(enum.StrEnum):
    """Where a slot's owner is in its life."""

    ACTIVATING = "activating"
    """Created; opening, validating or replaying its file. Messages are held."""
    LIVE = "live"
    """Serving: messages are forwarded to it."""
    PASSIVATING = "passivating"
    """Asked to release its file because it was idle. Messages are held."""
    REPLACING = "replacing"
    """Its process is being ended because it was wedged; its exit starts a successor."""
    BACKOFF = "backoff"
    """Its owner is gone and a successor starts after a delay; ``address`` is None and
    everything routed is held."""


@attrs.define
class OwnerSlot:
    """One session file's owner, as the Directory tracks it. Mutable; the Directory's own."""

    path: str
    session_key: str
    session_id: str
    keys: list[str]
    """Every session key routed to this file (the owner is told when it grows)."""
    address: Any = None
    state: SlotState = SlotState.ACTIVATING
    heard_time: float = 0.0
    """When the Directory last heard from this owner (any message; activation counts).
    The wedge rule reads it: see ``sessionward.recovery.liveness``."""
    query_outstanding: bool = False
    """A gather's state query to this owner is unanswered. No second one is sent until it
    is: a slow owner must not collect unread messages from the Directory (Thespian caps a
    process's unacknowledged sends; see ``sessionward.hosting.system.MAX_PENDING_TRANSMITS``)."""
    inflight: list[tuple[float, Any]] = attrs.Factory(list)
    """Queries and commands forwarded to this owner and not known to be handled."""
    held: list[Held] = attrs.Factory(list)
    """Messages waiting for the owner to be live, in arrival order."""
    pid: int = 0
    worker_pid: int = 0
    expected_exit: bool = False
    """The owner's exit is the Directory's doing (or already dealt with): not a loss."""
    from_factory: bool = False
    """Its owner was forked by the owner factory, so it dies with it (every process below
    the admin dies with its parent: ``hosting/lifetime.py``)."""
    member: str = "local"
    """The convention member hosting the owner."""
    rehome_started: float | None = None
    """Set while this slot replaces an owner lost with its member (for the re-homing time)."""
    lost_owner: Any = None
    """The owner this slot replaces after its member was declared gone (it may be alive)."""
    replaces_dead_since: float | None = None
    """Set while this slot replaces an owner that died on this member: when it was found dead."""
    recent: list[tuple[float, Any]] = attrs.Factory(list)
    """Submits forwarded to this owner lately (see the module docstring)."""
    index_pending: bool = False
    """The owner was started with a key whose index entry was not written yet: it holds
    outcomes until the Directory sends ``IndexFlushed`` (after the next index write)."""
    carried: int = 0
    """How many of the first ``held`` messages went with ``ActivateOwner`` (the owner takes
    them once it has its file): not sent again when it is live."""

    def add_key(self, key: str) -> bool:
        """Route ``key`` to this file too. True when the live owner must be told (the key
        is new and the owner is live; one that activates later gets every key then)."""
        if key in self.keys:
            return False
        self.keys.append(key)
        return self.state == SlotState.LIVE

    def remember(self, msg: Any, now: float) -> Any:
        """Note ``msg`` as forwarded (or held) at ``now``; returns it as it must be sent: a
        submit without an idempotency key gets its request id as one, so that a copy
        forwarded again after a loss is recognised by the successor."""
        if isinstance(msg, SubmitTurn):
            if msg.idempotency_key is None:
                msg = attrs.evolve(msg, idempotency_key=msg.request_id)
            self.recent = remembered(self.recent, msg, now, most=RECENT_SUBMITS, keep=RECENT_SUBMITS_AFTER)
        else:
            self.inflight = remembered(self.inflight, msg, now, most=INFLIGHT_MAX, keep=INFLIGHT_KEEP)
        return msg

    def handled_before(self, sent_time: float) -> None:
        """Forget forwarded messages sent before ``sent_time``: the owner has handled them.
        (Messages reach an owner in the order they were sent, so its answer to a query sent
        at ``sent_time`` means everything forwarded earlier was handled.)"""
        self.recent = [(t, m) for t, m in self.recent if t > sent_time]
        self.inflight = [(t, m) for t, m in self.inflight if t > sent_time]

    def forward_again(self) -> list[Held]:
        """What was forwarded to this owner and may be unhandled, minus what is still held:
        to go to a successor, or to be answered if the file is parked. Senders are unknown
        (None); each message names its ``reply_to``."""
        held_ids = {id(m) for m, _ in self.held}
        return [(m, None) for _, m in self.recent + self.inflight if id(m) not in held_ids]

    def take_held(self) -> list[Held]:
        """What is held and must still be sent to the owner, now live (what went with its
        activation is not)."""
        held, self.held = self.held[self.carried:], []
        self.carried = 0
        return held

    def went_live(self, pid: int, now: float) -> None:
        self.state, self.pid, self.heard_time = SlotState.LIVE, pid, now

    def exit_was_passivation(self, unfinished_turns: int) -> bool:
        """Whether this owner's exit, noticed before its ``OwnerPassivated``, is a
        passivation and not a loss: it was asked to passivate (so it was idle) and its inbox
        owes no turn. Its exit notice comes from this process's own child watch, its
        ``OwnerPassivated`` over TCP, and the notice can come first (seen in the scale
        benchmark, a few times in 30 passivations); counting it as a loss started an owner
        nobody needed and counted a replacement."""
        return self.state == SlotState.PASSIVATING and unfinished_turns == 0

    def back_off(self) -> None:
        """The owner is gone and its successor starts later: hold everything meanwhile."""
        self.state, self.address, self.pid, self.worker_pid = SlotState.BACKOFF, None, 0, 0

    def why_not_ended(self, own_pid: int, own_member: str) -> str | None:
        """Why recovery may not end this owner's process now (None: it may, if the
        liveness rules find it wedged)."""
        if self.state in (SlotState.REPLACING, SlotState.BACKOFF):
            return f"already {self.state}"
        if self.state != SlotState.LIVE:  # activating or replaying: never wedged, however long it takes
            return f"not wedged: it is {self.state}, not live"
        if not self.pid or self.pid == own_pid:
            return "owner shares this process; cannot end it"
        if self.member != own_member:
            # A process on another host cannot be ended from here; its member must be
            # restarted (then Thespian declares it gone and its sessions are re-homed).
            return f"owner runs on member {self.member}; restart that member"
        return None


def remembered(items: list[tuple[float, Any]], msg: Any, now: float, *, most: int,
               keep: float) -> list[tuple[float, Any]]:
    """``items`` with ``(now, msg)`` appended, bounded to the last ``most`` of ``keep`` seconds.

    Appends in place and trims only when a bound is passed (a copy then): the common case
    costs one append per forwarded message.
    """
    items.append((now, msg))
    if len(items) > most or now - items[0][0] > keep:
        items = [(t, m) for t, m in items[-most:] if now - t <= keep]
    return items


class SlotTable:
    """The slots by file path."""

    def __init__(self) -> None:
        self._slots: dict[str, OwnerSlot] = {}

    def __contains__(self, path: object) -> bool:
        return path in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def __iter__(self) -> Iterator[OwnerSlot]:
        return iter(list(self._slots.values()))

    def get(self, path: str) -> OwnerSlot | None:
        return self._slots.get(path)

    def add(self, slot: OwnerSlot) -> None:
        self._slots[slot.path] = slot

    def remove(self, path: str) -> OwnerSlot | None:
        return self._slots.pop(path, None)

    def of(self, path: str, sender: Any) -> OwnerSlot | None:
        """The slot of ``path`` if ``sender`` is its current owner. A message from an owner
        the slot no longer names (a predecessor, one lost with its member) gets None."""
        slot = self._slots.get(path)
        return slot if slot is not None and slot.address == sender else None

    def of_address(self, address: Any) -> OwnerSlot | None:
        for slot in self._slots.values():
            if slot.address == address:
                return slot
        return None

    def live(self) -> list[OwnerSlot]:
        return [s for s in self._slots.values() if s.state == SlotState.LIVE]

    def on_member(self, member: str) -> list[OwnerSlot]:
        return [s for s in self._slots.values() if s.member == member]

    def local_processes(self, own_member: str, own_pid: int) -> list[OwnerSlot]:
        """Live owners in processes of their own on this member: the ones whose death the
        process table can show."""
        return [s for s in self._slots.values()
                if s.state == SlotState.LIVE and s.pid and s.member == own_member and s.pid != own_pid]

    def loads(self, members: Iterator[str] | list[str]) -> dict[str, int]:
        """Owners per member: every member in ``members`` (0 when it has none), and any
        other member a slot still names."""
        loads = dict.fromkeys(members, 0)
        for slot in self._slots.values():
            loads[slot.member] = loads.get(slot.member, 0) + 1
        return loads
