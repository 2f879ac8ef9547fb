"""Where the shared secret comes from. No Thespian here.

Every process of one actor system, and every client of it (CLI, ``AdminClient``, a
member joining a convention), holds the same secret; the transport authenticates every
frame with it (``sessionward.hosting.frames``). The secret is never a command-line argument
(``ps`` shows those to every local user). In order:

1. ``SESSIONWARD_SECRET``: the secret itself.
2. ``SESSIONWARD_SECRET_FILE``: a file holding it.
3. ``<store>/.sessionward/secret``: the store's file, created (mode 0600, random) by the
   first daemon or cluster member that starts on the store, found by clients from the
   store path.
4. For an embedded runtime that nobody else joins: a random secret made for that one
   system, which its forked actor processes inherit and nothing else knows.

A secret file must be readable by its owner only (and owned by this user): otherwise
``InsecureSecretFileError``. Its content is used stripped of surrounding whitespace.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from sessionward.errors import InsecureSecretFileError, MissingSecretError
from sessionward.hosting.frames import MIN_SECRET_BYTES

SECRET_ENV = "SESSIONWARD_SECRET"
SECRET_FILE_ENV = "SESSIONWARD_SECRET_FILE"
STORE_SECRET = Path(".sessionward") / "secret"


def store_secret_path(store: str | os.PathLike[str]) -> Path:
    """The store's secret file."""
    return Path(store) / STORE_SECRET


def new_secret() -> bytes:
    """32 random bytes, hex-encoded (so the file is printable)."""
    return secrets.token_hex(32).encode()


def read_secret_file(path: str | os.PathLike[str]) -> bytes:
    """The secret in ``path``.

    Raises:
        InsecureSecretFileError: the group or others may read or write it, or another user owns it.
        MissingSecretError: it does not exist, cannot be read, or holds too short a secret.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise MissingSecretError(f"secret file {path} does not exist") from None
    except OSError as exc:
        raise MissingSecretError(f"cannot read secret file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())  # the file we read, not whatever the path names later
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InsecureSecretFileError(
                f"secret file {path} has mode {stat.S_IMODE(info.st_mode):04o}: other users could read it;"
                f" run: chmod 600 {path}")
        if info.st_uid != os.geteuid():
            raise InsecureSecretFileError(f"secret file {path} belongs to uid {info.st_uid}, not to this user")
        return _checked(f.read().strip(), str(path))


def _checked(secret: bytes, where: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise MissingSecretError(f"the secret in {where} is shorter than {MIN_SECRET_BYTES} bytes")
    return secret


def create_store_secret(store: str | os.PathLike[str]) -> bytes:
    """The store's secret, created with mode 0600 if it does not exist yet.

    Two processes creating it at once agree: the file is created exclusively, and the
    loser reads the winner's.
    """
    path = store_secret_path(store)
    path.parent.mkdir(mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return read_secret_file(path)
    secret = new_secret()
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return secret


def configured_secret(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The secret the environment gives (``SESSIONWARD_SECRET``, else
    ``SESSIONWARD_SECRET_FILE``), or None.

    Raises:
        InsecureSecretFileError, MissingSecretError: as ``read_secret_file``; or the
            variable holds too short a secret.
    """
    env = os.environ if environ is None else environ
    if env.get(SECRET_ENV):
        return _checked(env[SECRET_ENV].strip().encode(), f"${SECRET_ENV}")
    if env.get(SECRET_FILE_ENV):
        return read_secret_file(env[SECRET_FILE_ENV])
    return None


def client_secret(store: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None) -> bytes:
    """The secret a client uses to reach the daemon of ``store``: the environment's, else
    the store's file.

    Raises:
        MissingSecretError: neither exists (the message says where it looked).
        InsecureSecretFileError: the file is readable by others.
    """
    secret = configured_secret(environ)
    if secret is not None:
        return secret
    if store is None:
        raise MissingSecretError(f"no secret: set {SECRET_ENV} or {SECRET_FILE_ENV}, or name the store")
    path = store_secret_path(store)
    if not path.exists():
        raise MissingSecretError(f"no secret: {path} does not exist (the daemon creates it when it starts),"
                                 f" and neither {SECRET_ENV} nor {SECRET_FILE_ENV} is set")
    return read_secret_file(path)


def server_secret(store: str | os.PathLike[str], *, shared: bool,
                  environ: Mapping[str, str] | None = None) -> bytes:
    """The secret an actor system runs with: the environment's; else, when others must
    reach it (``shared``: a daemon, a convention member), the store's file, created on
    first start; else a random one for this system alone."""
    secret = configured_secret(environ)
    if secret is not None:
        return secret
    return create_store_secret(store) if shared else new_secret()
