"""Admin views: filter, sort, page, per-lane figures. Pure."""

from types import SimpleNamespace

from sessionward.storage.views import lane_figures, select_sessions


def _s(key, lane=None, queued=()):
    return SimpleNamespace(session_key=key, state="running" if lane else "idle", lane=lane,
                           queued_lanes=tuple(queued), turn_id="t" if lane else None)


STATES = [_s("agent:b:main", "heartbeat", ["cron:x"]), _s("agent:a:main"), _s("agent:c:main", None, ["direct:x:y"])]


def test_sessions_are_sorted_by_key_and_paged():
    page, total = select_sessions(STATES, active_only=False, lane=None, limit=2, offset=1)
    assert [s.session_key for s in page] == ["agent:b:main", "agent:c:main"] and total == 3


def test_active_only_keeps_running_or_queued_sessions():
    page, total = select_sessions(STATES, active_only=True, lane=None, limit=10, offset=0)
    assert [s.session_key for s in page] == ["agent:b:main", "agent:c:main"] and total == 2


def test_the_lane_filter_matches_running_and_queued_lanes():
    assert [s.session_key for s in select_sessions(STATES, active_only=False, lane="cron:x", limit=10, offset=0)[0]] \
        == ["agent:b:main"]


def test_the_page_size_is_bounded():
    many = [_s(f"agent:m:{i:04d}") for i in range(2000)]
    page, total = select_sessions(many, active_only=False, lane=None, limit=10**6, offset=0)
    assert len(page) == 1000 and total == 2000


def test_lane_figures_count_running_and_queued_turns():
    assert lane_figures(STATES) == ({"heartbeat": 1}, {"cron:x": 1, "direct:x:y": 1})
