"""Lanes: named sources of turns, their routing to session keys, queue modes and timers."""
