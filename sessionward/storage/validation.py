"""Checks on turn text, shared by the Runtime (caller side) and the owner (actor side)."""

from __future__ import annotations

from sessionward.errors import InvalidMessageError


def validate_text(text: object, max_bytes: int) -> str:
    """Return ``text`` if it is a str that encodes to at most ``max_bytes`` UTF-8 bytes.

    Bytes are accepted only if they decode as UTF-8. Lone surrogates (which cannot be
    written as UTF-8) and NUL characters are refused. So is text that is empty or only
    whitespace: a turn with nothing in it is a caller's mistake, and every entry point
    (``Runtime.submit``, the owner, the CLI, the bot's HTTP API) refuses it by this rule.

    Raises:
        InvalidMessageError: not text, not UTF-8, empty or whitespace only, holds NUL,
            or too large.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessageError(f"message is not valid UTF-8: {exc}") from None
    if not isinstance(text, str):
        raise InvalidMessageError(f"message must be text, got {type(text).__name__}")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidMessageError(f"message is not valid UTF-8 text: {exc.reason}") from None
    if size > max_bytes:
        raise InvalidMessageError(f"message is {size} bytes; the limit is {max_bytes}")
    if not text.strip():
        raise InvalidMessageError("message is empty (or only whitespace)")
    if "\x00" in text:
        raise InvalidMessageError("message contains a NUL character")
    return text
