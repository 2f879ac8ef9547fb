"""The ``sessionward`` command's argument parser: every command, its flags and its help."""

from __future__ import annotations

import argparse
import os

from sessionward.cli.daemon_commands import cmd_actors, cmd_demo, cmd_doctor, cmd_start, cmd_status, cmd_stop
from sessionward.cli.exit_codes import EXIT_CODES
from sessionward.cli.session_commands import (
    cmd_abort,
    cmd_cancel,
    cmd_new_transcript,
    cmd_session,
    cmd_sessions,
    cmd_submit,
    cmd_tail,
    cmd_unpark,
)

DEFAULT_STORE = os.environ.get("SESSIONWARD_STORE", "./state")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sessionward",
        description="One owner actor per chat-agent session transcript: run the daemon, query it, "
                    "and run the demo bot.",
        epilog=epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func, help_text: str, *, store: bool = True, json_flag: bool = False):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog(),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.set_defaults(func=func)
        if store:
            p.add_argument("--store", default=DEFAULT_STORE,
                           help="the store directory (default: $SESSIONWARD_STORE or ./state)")
            p.add_argument("--port", type=int, help="talk to the actor system on this loopback port instead")
        if json_flag:
            p.add_argument("--json", action="store_true", help="print JSON (stable field names; see docs/operating.md)")
        return p

    p = command("start", cmd_start, "Start the daemon: an actor system that owns the store's sessions.")
    p.add_argument("--config", help="a TOML file: [runtime], [provider], [[agents]] (see docs/operating.md)")
    p.add_argument("--bind", default="127.0.0.1",
                   help="interface to listen on (default 127.0.0.1; every frame is authenticated "
                        "with the store's secret, see docs/several-machines.md)")
    p.add_argument("--allow", metavar="CIDR[,CIDR...]", default="",
                   help="only peers in these networks may connect (loopback always may)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the daemon (default 30)")
    p.add_argument("--member", help="this system's name in a convention of several systems")
    p.add_argument("--join", metavar="HOST:PORT",
                   help="join the convention led by the daemon at HOST:PORT (it holds the Directory)")
    p.add_argument("--convention-period", type=float,
                   help="seconds between members' check-ins with the leader (Thespian's default is "
                        "7m22s; a member is declared gone after three missed check-ins)")
    p = command("stop", cmd_stop, "Stop the store's daemon and end every process it started.")
    p.add_argument("--timeout", type=float, default=20.0,
                   help="seconds to wait for the daemon to exit before its leftover processes are "
                        "ended (default 20)")
    p.add_argument("--member", help="stop this joined member's daemon instead of the store's leader")
    command("status", cmd_status, "Actor-system health, live owners, turns per lane, recovery actions.",
            json_flag=True)
    p = command("sessions", cmd_sessions, "One row per live session.", json_flag=True)
    p.add_argument("--active", action="store_true", help="only sessions with a running or queued turn")
    p.add_argument("--lane", help="only sessions with a running or queued turn from this lane")
    p.add_argument("--limit", type=count_type(1, 1000), default=50, help="rows per page (1-1000; default 50)")
    p.add_argument("--offset", type=count_type(0), default=0, help="rows to skip, for paging (0 or more; default 0)")
    p = command("session", cmd_session, "One session in detail, with its last turns' outcomes.", json_flag=True)
    p.add_argument("key", help="a session key, e.g. agent:main:main")
    p = command("abort", cmd_abort, "Abort a session's running turn (only --turn ID if given).")
    p.add_argument("key", help="the session key, e.g. agent:main:main")
    p.add_argument("--turn", help="abort only if this turn is the one running")
    p = command("cancel", cmd_cancel, "Cancel a queued turn (its id is in `session KEY`, or `--json`).")
    p.add_argument("key", help="the session key, e.g. agent:main:main")
    p.add_argument("--turn", required=True, help="the queued turn's id (`session KEY --json`: queued_turns)")
    p = command("unpark", cmd_unpark, "Start a parked session again (its unfinished turns fail 'parked').")
    p.add_argument("key", help="the parked session's key (see `status`)")
    p = command("new-transcript", cmd_new_transcript,
                "Let a session whose transcript is missing start a new, empty one on its next turn.")
    p.add_argument("key", help="the session key whose transcript is missing")
    p = command("submit", cmd_submit, "Submit a turn and wait for its outcome (exit 0 completed, "
                                      "4 failed, 5 cancelled, 6 no outcome in time).", json_flag=True)
    p.add_argument("key", help="the session key, e.g. agent:main:main")
    p.add_argument("text", nargs="?",
                   help="the message; - reads it from standard input (one final newline is "
                        "dropped); empty or whitespace-only text is refused")
    p.add_argument("--file", metavar="PATH",
                   help="read the message from this file instead (UTF-8; one final newline is dropped)")
    p.add_argument("--lane", default="direct:cli:admin",
                   help="the lane the turn comes from (default direct:cli:admin; parts of "
                        "letters, digits and _ . @ + - joined by ':')")
    p.add_argument("--mode", choices=["followup", "collect", "steer", "interrupt"],
                   help="what to do if a turn is running (default: the runtime's default mode, followup)")
    p.add_argument("--timeout", type=float, default=300.0,
                   help="seconds to wait for the outcome (default 300; then exit 6)")
    p = command("tail", cmd_tail, "Print a transcript and follow it as its owner appends.")
    p.add_argument("key", help="the session key, e.g. agent:main:main")
    p.add_argument("--lines", type=count_type(0), default=20, help="entries of history to print first (default 20)")
    p.add_argument("--no-follow", dest="follow", action="store_false", help="print and exit")
    p.add_argument("--follow-for", type=float, help="stop following after this many seconds")
    p = command("doctor", cmd_doctor, "Check a store (read-only) and say in plain words what is wrong "
                                      "and what to do (exit 0 fine, 1 problems).", store=False, json_flag=True)
    p.add_argument("--store", default=DEFAULT_STORE,
                   help="the store directory, or an openclaw state directory (default: "
                        "$SESSIONWARD_STORE or ./state)")
    p.add_argument("--fix", action="store_true",
                   help="apply the fixes the report names (\"--fix would: ...\") and nothing else; "
                        "refused while a live actor system serves the store")
    command("actors", cmd_actors, "Thespian's own view: system status and live actors by class.", json_flag=True)
    p = command("demo", cmd_demo, "Run the multi-lane demo bot with scripted traffic and a live view.",
                store=False)
    p.add_argument("--duration", type=float, default=30.0, help="seconds of traffic (default 30)")
    p.add_argument("--no-live", action="store_true", help="plain progress lines instead of a live table")
    p.add_argument("--store", dest="store", default=None, help="keep the demo's store here (default: a temp dir)")
    p.add_argument("--base", choices=["tcp", "simple"], default="tcp",
                   help="Thespian base (default tcp: every actor its own process)")
    return parser


def epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES)


def count_type(low: int, high: int | None = None):
    """An argparse type: an integer from ``low`` to ``high`` (a usage error otherwise)."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bound = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range (must be {bound})")
        return value

    return parse
