"""The Directory's record of lost owners: backoff, parking, unparking (literal times)."""

from __future__ import annotations

from sessionward.actors.replacements import Replacements
from sessionward.recovery.liveness import Park, ReplacementPolicy, Restart


def test_losses_back_off_then_park_and_are_counted():
    book = Replacements(ReplacementPolicy(backoff=1.0, park_after=3, park_window=600.0))
    assert book.after_loss("/a", 0.0) == Restart(0.0)
    assert book.after_loss("/a", 10.0) == Restart(1.0)
    assert book.after_loss("/a", 20.0) == Restart(2.0)
    assert isinstance(book.after_loss("/a", 30.0), Park)
    assert book.after_loss("/b", 30.0) == Restart(0.0)  # per file
    assert book.count == 5


def test_a_parked_file_is_listed_until_unparked_and_then_starts_clean():
    book = Replacements(ReplacementPolicy(park_after=1))
    book.after_loss("/a", 0.0)
    assert isinstance(book.after_loss("/a", 1.0), Park)
    parked = book.park("k", "/a", "too many", 1.0)
    assert book.parked_at("/a") is parked and book.parked() == (parked,)
    assert book.unpark("/a") is True
    assert book.parked_at("/a") is None and book.parked() == ()
    assert book.after_loss("/a", 2.0) == Restart(0.0)  # history cleared


def test_unparking_a_file_that_is_not_parked_says_so():
    assert Replacements().unpark("/a") is False
