"""Authenticated frames: what sessionward puts inside each Thespian TCP frame, and the
check that runs before anything received is unpickled. Pure: no Thespian, no sockets.

Thespian's TCP transport sends ``b"<length>>" + pickle``. With a secret, the pickle is
replaced by a *sealed* payload::

    b"SWF1" + HMAC-SHA256(key, b"SWF1" + pickle) + pickle

``open_sealed`` recomputes the tag and compares it in constant time
(``hmac.compare_digest``); only a payload that passes is handed to ``pickle.loads``. The
tag covers the whole payload, so its length is authenticated too. What it does not give
(see docs/several-machines.md, "Threat model"): secrecy (frames are readable on the
wire) and freshness (an eavesdropper on the network can replay a frame it saw).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

import attrs

from sessionward.errors import BadInputError

MAGIC = b"SWF1"
"""First bytes of every sealed payload (sessionward frame, version 1)."""

TAG_BYTES = 32
"""An HMAC-SHA256 tag."""

MAX_FRAME_BYTES = 256 * 1024 * 1024
"""The largest frame accepted (its length is announced before its bytes). Thespian buffers
a frame whole before it can be checked, so without a cap a peer without the secret could
make a process allocate any amount of memory by announcing a huge frame."""

REJECTED_NOTICE = b"SWF1-REJECTED"
"""Sent back (unsealed, never unpickled by anyone) before closing a connection whose frame
failed the check, so a client with a wrong secret fails at once with a typed error
instead of retrying until its send times out."""

PROBE = b"SWF1-PROBE"
"""The payload of the probe a client seals before it attaches (``transport.probe``). A
receiver that verifies it answers with a sealed ACK and delivers nothing."""

MIN_SECRET_BYTES = 16


@attrs.frozen
class Rejected:
    """Why a received frame was dropped (one of the ``REASON_*`` texts)."""

    reason: str


REASON_NO_MAC = "no sessionward MAC (a client without the secret, or not sessionward)"
REASON_BAD_MAC = "bad MAC (wrong secret, or the frame was altered)"
REASON_TOO_LARGE = f"frame larger than {MAX_FRAME_BYTES} bytes"
REASON_MALFORMED = "malformed frame"
REASON_NOT_ALLOWED = "address not in the allow-list"


def frame_key(secret: bytes) -> bytes:
    """The HMAC key for a secret. Hashing it with a label keeps the key from being the
    secret's bytes verbatim, so the same secret used elsewhere yields another key."""
    return hmac.new(secret, b"sessionward frame key v1", hashlib.sha256).digest()


def tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, MAGIC + body, hashlib.sha256).digest()


def seal(key: bytes, body: bytes) -> bytes:
    """The sealed payload for ``body`` (a pickle)."""
    return MAGIC + tag(key, body) + body


def open_sealed(key: bytes, payload: bytes) -> bytes | Rejected:
    """The body of a sealed payload if its tag is right, else why not. Never unpickles."""
    if len(payload) < len(MAGIC) + TAG_BYTES or not payload.startswith(MAGIC):
        return Rejected(REASON_NO_MAC)
    got = payload[len(MAGIC):len(MAGIC) + TAG_BYTES]
    body = payload[len(MAGIC) + TAG_BYTES:]
    if not hmac.compare_digest(got, tag(key, body)):
        return Rejected(REASON_BAD_MAC)
    return body


def on_wire(payload: bytes) -> bytes:
    """Thespian's framing: the payload's length in ASCII, ``>``, the payload."""
    return b"%d>" % len(payload) + payload


def split_wire(data: bytes) -> tuple[bytes, bytes] | None:
    """(payload, rest) if ``data`` starts with one whole Thespian frame, else None."""
    mark = data.find(b">")
    if mark <= 0 or not data[:mark].isdigit():
        return None
    size = int(data[:mark])
    if len(data) < mark + 1 + size:
        return None
    return data[mark + 1:mark + 1 + size], data[mark + 1 + size:]


# -- the allow-list -------------------------------------------------------------------------

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allow_list(items: Iterable[str]) -> tuple[Network, ...]:
    """CIDRs (``10.0.0.0/24``) or single addresses, as networks.

    Raises:
        BadInputError: an item is neither.
    """
    out = []
    for item in items:
        text = item.strip()
        if text:
            try:
                out.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise BadInputError(f"allow-list entry {text!r}: {exc}") from None
    return tuple(out)


def peer_allowed(host: str, allow: tuple[Network, ...], own_hosts: Iterable[str] = ()) -> bool:
    """True if ``host`` may connect: no allow-list, loopback, one of our own addresses
    (Thespian wakes its own loop by connecting to itself), or inside an allowed network.
    Loopback peers are let through the list because the MAC, not the address, is what
    keeps local users out."""
    if not allow or host in own_hosts:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or any(address in network for network in allow)
