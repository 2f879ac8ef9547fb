"""Sealed frames and the allow-list: pure functions on literal bytes, no actor system."""

from __future__ import annotations

import pickle

import pytest

from sessionward.hosting import frames

KEY = frames.frame_key(b"0123456789abcdef0123456789abcdef")


def test_a_sealed_payload_opens_to_its_body_with_the_same_key():
    body = pickle.dumps(("sender", "message"))
    assert frames.open_sealed(KEY, frames.seal(KEY, body)) == body


def test_a_plain_pickle_is_rejected_as_having_no_mac():
    assert frames.open_sealed(KEY, pickle.dumps("hello")) == frames.Rejected(frames.REASON_NO_MAC)


def test_a_payload_sealed_with_another_secret_is_rejected_as_a_bad_mac():
    other = frames.frame_key(b"another secret of enough length")
    sealed = frames.seal(other, b"body")
    assert frames.open_sealed(KEY, sealed) == frames.Rejected(frames.REASON_BAD_MAC)


@pytest.mark.parametrize("position", [0, 4, 20, 36, -1])
def test_changing_any_byte_of_a_sealed_payload_rejects_it(position):
    sealed = bytearray(frames.seal(KEY, b"some pickled message"))
    sealed[position] ^= 0x01
    assert isinstance(frames.open_sealed(KEY, bytes(sealed)), frames.Rejected)


def test_truncating_or_extending_a_sealed_payload_rejects_it():
    sealed = frames.seal(KEY, b"some pickled message")
    assert frames.open_sealed(KEY, sealed[:-1]) == frames.Rejected(frames.REASON_BAD_MAC)
    assert frames.open_sealed(KEY, sealed + b"x") == frames.Rejected(frames.REASON_BAD_MAC)
    assert frames.open_sealed(KEY, sealed[:10]) == frames.Rejected(frames.REASON_NO_MAC)


def test_the_key_is_derived_from_the_secret_not_the_secret_itself():
    secret = b"0123456789abcdef0123456789abcdef"
    assert frames.frame_key(secret) != secret and len(frames.frame_key(secret)) == 32
    assert frames.frame_key(secret) == KEY


def test_on_wire_uses_thespians_length_prefix_and_split_wire_reads_it_back():
    assert frames.on_wire(b"abc") == b"3>abc"
    assert frames.split_wire(b"3>abcrest") == (b"abc", b"rest")
    assert frames.split_wire(b"3>ab") is None
    assert frames.split_wire(b"x>abc") is None


def test_the_allow_list_admits_listed_networks_loopback_and_own_addresses_only():
    allow = frames.parse_allow_list(["10.0.0.0/24", " 192.168.1.7 ", ""])
    assert frames.peer_allowed("10.0.0.9", allow)
    assert frames.peer_allowed("192.168.1.7", allow)
    assert frames.peer_allowed("127.0.0.1", allow)
    assert frames.peer_allowed("172.16.0.1", allow, own_hosts={"172.16.0.1"})
    assert not frames.peer_allowed("10.0.1.9", allow)
    assert not frames.peer_allowed("not an address", allow)


def test_no_allow_list_admits_everyone():
    assert frames.peer_allowed("203.0.113.5", ())


def test_a_malformed_allow_list_entry_is_a_value_error():
    with pytest.raises(ValueError):
        frames.parse_allow_list(["10.0.0.0/33"])
