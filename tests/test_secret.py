"""Where the shared secret comes from, and which files are refused."""

from __future__ import annotations

import os
import stat

import pytest

from sessionward.errors import InsecureSecretFileError, MissingSecretError
from sessionward.hosting.secret import (
    SECRET_ENV,
    SECRET_FILE_ENV,
    client_secret,
    create_store_secret,
    read_secret_file,
    server_secret,
    store_secret_path,
)


def _write(path, content: bytes, mode: int):
    path.write_bytes(content)
    os.chmod(path, mode)
    return path


def test_the_store_secret_is_created_once_with_mode_0600_and_then_read_back(tmp_path):
    first = create_store_secret(tmp_path)
    path = store_secret_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert len(first) == 64
    assert create_store_secret(tmp_path) == first
    assert client_secret(tmp_path, environ={}) == first


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o660])
def test_a_secret_file_readable_or_writable_by_others_is_refused(tmp_path, mode):
    path = _write(tmp_path / "secret", b"x" * 32, mode)
    with pytest.raises(InsecureSecretFileError, match="chmod 600"):
        read_secret_file(path)


def test_an_owner_only_file_is_read_without_surrounding_whitespace(tmp_path):
    path = _write(tmp_path / "secret", b"  " + b"s" * 32 + b"\n", 0o400)
    assert read_secret_file(path) == b"s" * 32


def test_a_missing_or_short_secret_is_a_typed_error(tmp_path):
    with pytest.raises(MissingSecretError, match="does not exist"):
        read_secret_file(tmp_path / "nope")
    with pytest.raises(MissingSecretError, match="shorter"):
        read_secret_file(_write(tmp_path / "short", b"abc", 0o600))
    with pytest.raises(MissingSecretError, match="shorter"):
        client_secret(None, environ={SECRET_ENV: "abc"})


def test_the_environment_wins_over_the_store_file(tmp_path):
    create_store_secret(tmp_path)
    assert client_secret(tmp_path, environ={SECRET_ENV: "e" * 32}) == b"e" * 32
    path = _write(tmp_path / "mine", b"f" * 32, 0o600)
    assert client_secret(tmp_path, environ={SECRET_FILE_ENV: str(path)}) == b"f" * 32
    assert server_secret(tmp_path, shared=True, environ={SECRET_ENV: "e" * 32}) == b"e" * 32


def test_a_client_without_any_secret_is_told_where_it_looked(tmp_path):
    with pytest.raises(MissingSecretError, match=r"\.sessionward/secret does not exist"):
        client_secret(tmp_path, environ={})
    with pytest.raises(MissingSecretError, match=SECRET_ENV):
        client_secret(None, environ={})


def test_a_private_embedded_system_gets_a_fresh_random_secret_and_writes_nothing(tmp_path):
    one = server_secret(tmp_path, shared=False, environ={})
    two = server_secret(tmp_path, shared=False, environ={})
    assert one != two
    assert not store_secret_path(tmp_path).exists()


def test_a_shared_system_creates_the_store_file(tmp_path):
    secret = server_secret(tmp_path, shared=True, environ={})
    assert read_secret_file(store_secret_path(tmp_path)) == secret
