"""The public face: exactly these names, each importable from ``sessionward``."""

import sessionward

EXPECTED = {
    "BadInputError", "CoordinationError", "CorruptTranscriptError", "DropPolicy", "Durability",
    "FencedError", "InvalidMessageError", "InvalidSessionKeyError", "OpenclawStateNotSupportedError", "OutcomeReason",
    "PathEscapesStoreError", "ProviderError", "ProviderSpec", "QueueMode", "QueuePolicy",
    "RecoveryConfig", "Runtime", "RuntimeClosedError", "RuntimeConfig", "ScriptedProvider",
    "SessionBusyError", "SessionOwnedElsewhereError", "SessionParkedError", "SessionwardError",
    "SessionwardTimeoutError",
    "TranscriptMissingError", "TurnFailedError",
    "TurnHandle", "TurnOutcome", "TurnStatus", "UnavailableError",
    # the store, port and path errors of issue 13
    "InvalidPortError", "PortInUseError", "StoreInUseError", "StoreUnusableError", "WrongStoreError",
    # lane names, refused by the one grammar of issue 16
    "InvalidLaneError",
    # every record Runtime returns, and the config model (issue 15)
    "CommandResult", "OwnerState", "SessionsPage", "SystemStatus", "TurnRecord", "RecoveryAction",
    "RecoveryHistoryReply", "HeartbeatLaneStats", "CronLaneStats", "CronJobStats",
    "AgentConfig", "ClusterConfig", "DaemonConfig", "ReplayPolicy", "StreamIn", "InvalidConfigError",
    "UnknownConfigKeyError",
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


def test_a_timeout_is_both_a_sessionward_error_and_a_builtin_timeout_error():
    err = sessionward.SessionwardTimeoutError("no answer")
    assert isinstance(err, TimeoutError) and isinstance(err, sessionward.CoordinationError)


def test_a_turn_without_an_outcome_in_time_raises_the_typed_timeout(tmp_path):
    from sessionward import Runtime, ScriptedProvider

    with Runtime(tmp_path / "store", provider=ScriptedProvider(reply="slow", chunks=20, chunk_delay=0.05),
                 base="simple", recovery=False) as rt:
        handle = rt.submit("agent:main:main", "take a second")
        try:
            handle.result(timeout=0.01)
        except sessionward.SessionwardTimeoutError as exc:
            assert "has no outcome after 0.01s" in str(exc)
        else:
            raise AssertionError("a one-second turn finished in 10 ms")
        assert handle.result(timeout=30).status is sessionward.TurnStatus.COMPLETED


def test_every_sessionward_error_is_defined_in_the_errors_module():
    import importlib
    import pkgutil

    # actors/, lanes/ and recovery/ install as subpackages from other folders: walk each.
    names = []
    for package in ("sessionward", "sessionward.actors", "sessionward.lanes", "sessionward.recovery"):
        path = importlib.import_module(package).__path__
        names += [info.name for info in pkgutil.walk_packages(path, package + ".")]
    assert "sessionward.actors.placement" in names and "sessionward.lanes.config" in names
    defined_elsewhere = set()
    for name in names:
        if name.endswith("__main__"):
            continue
        for obj in vars(importlib.import_module(name)).values():
            if (isinstance(obj, type) and issubclass(obj, sessionward.SessionwardError)
                    and obj.__module__ != "sessionward.errors"):
                defined_elsewhere.add(f"{obj.__module__}.{obj.__qualname__}")
    assert not defined_elsewhere


def test_errors_moved_to_the_errors_module_still_import_from_their_old_modules():
    from sessionward import errors
    from sessionward.actors.placement import NoMemberError
    from sessionward.lanes.config import InvalidConfigError, InvalidCronExpressionError, UnknownConfigKeyError
    from sessionward.lanes.routing import InvalidLaneError, UnroutableLaneError
    from sessionward.operations.admin import DaemonUnreachableError
    from sessionward.operations.daemon import DaemonAlreadyRunningError

    assert (NoMemberError, DaemonUnreachableError, DaemonAlreadyRunningError, InvalidConfigError,
            InvalidCronExpressionError, UnknownConfigKeyError, InvalidLaneError, UnroutableLaneError) == (
        errors.NoMemberError, errors.DaemonUnreachableError, errors.DaemonAlreadyRunningError,
        errors.InvalidConfigError, errors.InvalidCronExpressionError, errors.UnknownConfigKeyError,
        errors.InvalidLaneError, errors.UnroutableLaneError)


def test_every_record_runtime_returns_is_exported_under_its_own_name(tmp_path):
    from sessionward import AgentConfig, Runtime, ScriptedProvider
    from sessionward.lanes.config import HeartbeatConfig

    with Runtime(tmp_path / "store", provider=ScriptedProvider(reply="ok"), base="simple") as rt:
        handle = rt.submit("agent:main:main", "hi")
        returned = [handle, handle.result(timeout=30), rt.session("agent:main:main"), rt.sessions_page(),
                    rt.status(), rt.abort("agent:main:main"), rt.recovery_history()]
        returned += list(rt.session("agent:main:main").history)
        returned += list(rt.recovery_history().actions)
        rt.start_lanes([AgentConfig(agent_id="a", heartbeat=HeartbeatConfig(every=3600))])
        returned += list(rt.lane_stats())
    assert len(returned) >= 8
    for record in returned:
        name = type(record).__name__
        assert name in sessionward.__all__ and getattr(sessionward, name) is type(record), name


def test_the_admin_client_offers_the_runtime_calls_without_being_a_runtime():
    from sessionward.operations.admin import AdminClient
    from sessionward.session_client import CALLS

    assert not issubclass(AdminClient, sessionward.Runtime)
    for name in CALLS:
        assert getattr(AdminClient, name).__doc__ == getattr(sessionward.Runtime, name).__doc__, name
