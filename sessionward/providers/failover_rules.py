"""Failover classification: which provider failures move a chain to its next model.

One table, one reason per row. Only provider failures are classified here. Coordination
outcomes (busy, aborted, fenced, draining, shut down) are not provider failures and have
no row: trying another model cannot fix them, and letting one reach the chain is what
turned openclaw's lock takeovers into "All models failed" and dropped replies. The table
is keyed by ``ProviderErrorKind``, which has no coordination members, so they cannot be
passed in by mistake.
"""

from __future__ import annotations

import enum
from types import MappingProxyType

from sessionward.providers.base import ProviderErrorKind


class FailoverDecision(enum.StrEnum):
    """What a failover chain does after a provider fails before producing output."""

    NEXT_PROVIDER = "next_provider"
    """Try the next provider in the chain."""
    STOP = "stop"
    """Report this failure; no other provider would do better."""


_NEXT = FailoverDecision.NEXT_PROVIDER
_STOP = FailoverDecision.STOP

FAILOVER_TABLE = MappingProxyType(
    {
        # This provider's quota is spent for now; another provider's quota is separate.
        ProviderErrorKind.RATE_LIMIT: _NEXT,
        # This provider has no capacity right now; another one may.
        ProviderErrorKind.OVERLOADED: _NEXT,
        # This provider did not answer in time; the next may be healthy.
        ProviderErrorKind.TIMEOUT: _NEXT,
        # A 5xx is the provider's fault, not the request's.
        ProviderErrorKind.SERVER_ERROR: _NEXT,
        # The route to this provider failed; another endpoint has another route.
        ProviderErrorKind.CONNECTION: _NEXT,
        # Credentials and billing belong to one provider profile: a revoked key or an
        # exhausted balance there says nothing about the next profile's. openclaw fails
        # over on auth and billing errors per profile for the same reason.
        ProviderErrorKind.AUTH: _NEXT,
        # The request itself is malformed (too long a context, an invalid tool schema):
        # every model would reject it the same way, so trying them only delays the error.
        ProviderErrorKind.BAD_REQUEST: _STOP,
        # Unclassified: failing over costs one more attempt, while stopping may drop a
        # reply another model would have given.
        ProviderErrorKind.UNKNOWN: _NEXT,
    }
)
"""Every ``ProviderErrorKind`` and what a chain does about it (read-only)."""


def classify_failure(kind: ProviderErrorKind | str) -> FailoverDecision:
    """Return what a chain should do after a provider failed with ``kind``.

    Raises:
        ValueError: ``kind`` is not a ``ProviderErrorKind`` value.
    """
    return FAILOVER_TABLE[ProviderErrorKind(kind)]
