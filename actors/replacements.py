"""The Directory's record of lost owners: how often each file's owner was replaced, and which
files are parked. Pure (given ``now``).

The rules (first replacement at once, then doubling backoff, then parking) are
``sessionward.recovery.liveness.next_replacement``; this class keeps the per-file state
those rules read and write, and the parked sessions an admin sees in ``status`` and ends
with ``unpark``.
"""

from __future__ import annotations

from sessionward.actors.messages import ParkedSession
from sessionward.recovery import liveness


class Replacements:
    """Replacement histories and parked sessions, by file path."""

    def __init__(self, policy: liveness.ReplacementPolicy | None = None) -> None:
        self.policy = policy or liveness.ReplacementPolicy()
        self.count = 0
        """Owners replaced since the Directory started (``SystemStatus.owners_replaced``)."""
        self._histories: dict[str, liveness.ReplacementHistory] = {}
        self._parked: dict[str, ParkedSession] = {}

    def after_loss(self, path: str, now: float) -> liveness.Restart | liveness.Park:
        """An owner of ``path`` is gone: what follows (a restart now or later, or parking)."""
        self.count += 1
        history, decision = liveness.next_replacement(
            self._histories.get(path, liveness.ReplacementHistory()), now, self.policy)
        self._histories[path] = history
        return decision

    def park(self, session_key: str, path: str, reason: str, now: float) -> ParkedSession:
        parked = ParkedSession(session_key, path, reason, now)
        self._parked[path] = parked
        return parked

    def parked_at(self, path: str) -> ParkedSession | None:
        return self._parked.get(path)

    def parked(self) -> tuple[ParkedSession, ...]:
        return tuple(self._parked.values())

    def unpark(self, path: str) -> bool:
        """Let ``path`` have owners again, its history cleared. False if it was not parked."""
        if self._parked.pop(path, None) is None:
            return False
        self._histories[path] = liveness.cleared()
        return True
