"""The ``sessionward`` command: a thin shell over ``Runtime`` and ``AdminClient``.

Parse and render only: every command's logic lives in ``Runtime``, ``AdminClient``,
``operations.daemon_control`` and ``operations.doctor``. ``parser`` holds every command and
flag, ``daemon_commands`` and ``session_commands`` the commands, ``render`` the output
(rich tables, JSON), ``exit_codes`` what each exit code means.

Exit codes are ``EXIT_CODES`` (printed in ``--help``): 0 ok (a turn completed), 1 not
found or refused (``doctor``: a problem found), 2 usage or bad input, 3 cannot reach the
actor system, 4 the turn failed, 5 the turn was cancelled, 6 no outcome in time.
This is the one module that sets up logging for a terminal.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

from sessionward.cli.exit_codes import (
    EXIT_CODES,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    submit_exit_code,
)
from sessionward.cli.parser import build_parser

__all__ = ["EXIT_CODES", "build_parser", "main", "submit_exit_code"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from sessionward.errors import BadInputError, SessionwardError
    from sessionward.operations.admin import DaemonUnreachableError

    try:
        code = args.func(args)
        sys.stdout.flush()  # here, so that a closed pipe is seen while it can be handled
        return code
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more can be printed, and that is not
        # an error. Point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except DaemonUnreachableError as exc:
        print(f"sessionward: cannot reach the actor system: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except BadInputError as exc:
        print(f"sessionward: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SessionwardError as exc:  # refused: a store or port in use, a wrong store
        print(f"sessionward: {exc}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
