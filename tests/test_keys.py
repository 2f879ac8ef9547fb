"""Session keys and ids: what is refused, with which typed error."""

import pytest

from sessionward.errors import BadInputError, InvalidSessionKeyError, PathEscapesStoreError
from sessionward.storage.keys import MAX_KEY_LENGTH, validate_session_id, validate_session_key


@pytest.mark.parametrize(
    "key",
    ["agent:main:main", "agent:main:discord:channel:123", "cron:nightly", "agent:a-b:main:heartbeat",
     "agent:main:telegram:direct:alice@example.com"],
)
def test_well_formed_keys_are_accepted(key):
    assert validate_session_key(key) == key


@pytest.mark.parametrize(
    "key",
    ["", "main", "agent:main", "agent::main", "agent:main:", "agent:main:../etc", "agent:main:a/b",
     "agent:main:a\x00b", "agent:main:a b", "agent:main:..", "bogus:main:main", "agent:main:é",
     "agent:" + "x" * MAX_KEY_LENGTH, None, 42, b"agent:main:main"],
)
def test_malformed_keys_are_refused_with_a_typed_error(key):
    with pytest.raises(InvalidSessionKeyError):
        validate_session_key(key)


@pytest.mark.parametrize("session_id", ["..", "../x", "a/b", "a\x00b", ".hidden", "", "x" * 129, "a..b", None])
def test_ids_that_could_leave_the_store_are_refused(session_id):
    with pytest.raises(PathEscapesStoreError):
        validate_session_id(session_id)


def test_bad_input_errors_are_value_errors():
    assert issubclass(InvalidSessionKeyError, ValueError)
    assert issubclass(PathEscapesStoreError, BadInputError)
