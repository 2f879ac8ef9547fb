"""The public face: exactly these names, each importable from ``sessionward``."""

import sessionward

EXPECTED = {
    "BadInputError", "CoordinationError", "CorruptTranscriptError", "DropPolicy", "Durability",
    "FencedError", "InvalidMessageError", "InvalidSessionKeyError", "OpenclawStateNotSupportedError", "OutcomeReason",
    "PathEscapesStoreError", "ProviderError", "ProviderSpec", "QueueMode", "QueuePolicy",
    "RecoveryConfig", "Runtime", "RuntimeClosedError", "RuntimeConfig", "ScriptedProvider",
    "SessionBusyError", "SessionOwnedElsewhereError", "SessionParkedError", "SessionwardError",
    "TranscriptMissingError", "TurnFailedError",
    "TurnHandle", "TurnOutcome", "TurnStatus", "UnavailableError",
    # the store, port and path errors of issue 13
    "InvalidPortError", "PortInUseError", "StoreInUseError", "StoreUnusableError", "WrongStoreError",
    # lane names, refused by the one grammar of issue 16
    "InvalidLaneError",
}


def test_the_public_names_are_exactly_the_expected_ones():
    assert set(sessionward.__all__) == EXPECTED


def test_every_public_name_is_importable():
    for name in EXPECTED:
        assert getattr(sessionward, name) is not None


def test_every_error_derives_from_the_root_error():
    for name in EXPECTED:
        obj = getattr(sessionward, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, sessionward.SessionwardError), name


def test_subpackages_install_under_sessionward():
    import sessionward.actors.owner
    import sessionward.lanes.routing
    import sessionward.recovery.stall

    assert sessionward.actors.owner.SessionOwner.__module__ == "sessionward.actors.owner"
    assert sessionward.lanes.routing.__name__ == "sessionward.lanes.routing"
