"""The log budget for lines a peer can provoke, with ``now`` passed in."""

from sessionward.hosting.log_budget import LogBudget


def test_lines_within_the_budget_are_written_and_the_rest_counted():
    budget = LogBudget(per_window=2, window=60.0)
    assert [budget.take(t) for t in (0.0, 1.0, 2.0, 3.0, 4.0)] == [0, 0, None, None, None]


def test_the_first_line_of_a_new_window_reports_how_many_were_suppressed():
    budget = LogBudget(per_window=1, window=10.0)
    assert budget.take(0.0) == 0
    assert budget.take(5.0) is None
    assert budget.take(6.0) is None
    assert budget.take(10.0) == 2
    assert budget.take(10.5) is None


def test_a_flood_writes_a_bounded_number_of_lines():
    budget = LogBudget(per_window=10, window=60.0)
    written = sum(1 for i in range(100_000) if budget.take(i * 0.001) is not None)
    assert written == 20  # 100 seconds of flood: two windows
