"""The ``sessionward`` command's exit codes (``--help`` prints them) and ``submit``'s rule."""

from __future__ import annotations

EXIT_OK, EXIT_NOT_FOUND, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
EXIT_FAILED, EXIT_CANCELLED, EXIT_NO_OUTCOME = 4, 5, 6

EXIT_CODES = (
    (EXIT_OK, "ok; `submit`: the turn completed; `doctor`: the store is fine"),
    (EXIT_NOT_FOUND, "not found or refused; `doctor`: problems found"),
    (EXIT_USAGE, "usage error or bad input (a malformed key or lane, empty text)"),
    (EXIT_UNREACHABLE, "cannot reach the actor system"),
    (EXIT_FAILED, "`submit`: the turn failed (its reason is printed)"),
    (EXIT_CANCELLED, "`submit`: the turn was cancelled (aborted, interrupted, dropped, ...)"),
    (EXIT_NO_OUTCOME, "`submit`: no outcome within --timeout (the turn may still run)"),
)
"""Every exit code of the command and what it means (the ``--help`` epilog prints it)."""


def submit_exit_code(status: str) -> int:
    """The exit code of ``submit`` for a final outcome's status (see ``EXIT_CODES``)."""
    return {"completed": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}.get(status, EXIT_FAILED)
