"""What the Directory holds, declared once for the actor and its handler modules.

``Directory`` (``actors/directory.py``) sets every field in its ``__init__`` and at
configuration; its handler mixins (``directory_lifecycle``, ``directory_admin``) read and
change them through the pure modules named in each annotation. Declaring them here, rather
than only in ``Directory.__init__``, makes what a mixin may touch explicit and checked.
"""

from __future__ import annotations

from typing import Any

from sessionward.actors.gathers import Gathers
from sessionward.actors.membership import Membership
from sessionward.actors.owner_slots import SlotTable
from sessionward.actors.replacements import Replacements
from sessionward.actors.session_index import SessionIndex
from sessionward.actors.spare_owners import SparePool
from sessionward.config import RuntimeConfig
from sessionward.storage.store import SessionStore


class DirectoryState:
    """The Directory's fields (no behaviour)."""

    _store: SessionStore | None
    """The store this Directory serves (set by ``ConfigureDirectory``)."""
    _config: RuntimeConfig | None
    _provider: Any
    """What every owner's worker streams from (a picklable provider or a ``ProviderSpec``)."""
    _index: SessionIndex | None
    """Session keys -> records, and the batched flush (``session_index``)."""
    _slots: SlotTable
    """One slot per live or starting owner: its state, heard times, held messages (``owner_slots``)."""
    _spares: SparePool
    """Owner processes started before a session needs one, on this member, what was asked
    of the factory and the activations waiting for it (``spare_owners``)."""
    _factory: Any
    """The ``OwnerFactory`` this member's owners are forked from; None before it starts,
    and after it died until the next one does."""
    _factory_pid: int
    """The factory's process, as its last ``OwnersForked`` said."""
    _factory_lost_at: float | None
    """When the last factory died: a new one starts ``FACTORY_RESTART_AFTER`` later."""
    _gathers: Gathers
    """Admin fan-outs waiting for owners' answers (``gathers``)."""
    _replacements: Replacements
    """Backoff and parking of owners that keep being lost (``replacements``)."""
    _members: Membership
    """The convention's live members, placement and re-homing (``membership``)."""
    _watch: Any
    """The ``MemberWatch`` actor (a convention's leader only)."""
    _keepers: dict[str, Any]
    """Member -> its ``LeaseKeeper`` (``actors/lease_keeper.py``)."""
    _fenced: list[str]
    """Files whose owner met an outside write (reported by ``status``)."""
    _wedged_after: float
    """Seconds of silence after which a live owner's process may be ended (``recovery.liveness``)."""
    _system_id: str | None
