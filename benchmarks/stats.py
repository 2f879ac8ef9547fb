"""Percentiles by the nearest-rank method.

Nearest rank: sort the n values; the q-th percentile is the value at 1-based rank
``ceil(q / 100 * n)`` (rank 1 for q = 0). It always returns one of the measured values,
never an interpolation, so a p99 over 300 turns is the 297th smallest value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """Return the nearest-rank ``q``-th percentile of ``values``.

    Args:
        values: The sample; any order.
        q: The percentile, 0 to 100.

    Returns:
        ``nan`` when ``values`` is empty.

    Raises:
        ValueError: ``q`` is outside [0, 100].
    """
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def p50(values: Iterable[float]) -> float:
    """The nearest-rank median."""
    return percentile(values, 50)


def p99(values: Iterable[float]) -> float:
    """The nearest-rank 99th percentile."""
    return percentile(values, 99)
