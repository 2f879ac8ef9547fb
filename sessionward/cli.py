"""The ``sessionward`` command: a thin shell over ``Runtime`` and ``AdminClient``.

Over 400 lines (about 620), for now: it is parse and render only (every command's logic
lives in ``Runtime``, ``AdminClient``, ``daemon_control``, ``doctor``), but one module holds
twenty commands, their renderers and the parser. Splitting it by command group is left to
the regrouping of ``sessionward/`` (issue 15, item 5), which moves the CLI into its folder.

Exit codes are ``EXIT_CODES`` (printed in ``--help``): 0 ok (a turn completed), 1 not
found or refused (``doctor``: a problem found), 2 usage or bad input, 3 cannot reach the
actor system, 4 the turn failed, 5 the turn was cancelled, 6 no outcome in time.
This is the one module that sets up logging for a terminal.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

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

DEFAULT_STORE = os.environ.get("SESSIONWARD_STORE", "./state")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    from sessionward.admin import DaemonUnreachableError
    from sessionward.errors import BadInputError, SessionwardError

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


# -- daemon ---------------------------------------------------------------------------------


def cmd_start(args) -> int:
    from sessionward.daemon_control import start_daemon

    # Bad paths, ports and a store in use are typed errors: main prints each as one line.
    started = start_daemon(args.store, bind=args.bind, port=args.port, config=args.config, member=args.member,
                           join=args.join, convention_period=args.convention_period, timeout=args.timeout,
                           allow=args.allow)
    info, store = started.info, started.store
    if started.result == "already_running" and info is not None:
        print(f"sessionward: a daemon already runs on {store} (pid {info.pid}, port {info.port})",
              file=sys.stderr)
        return EXIT_NOT_FOUND
    if started.result == "exited":
        print(started.message, file=sys.stderr)
        return EXIT_NOT_FOUND
    if started.result == "started" and info is not None:
        role = f", member {info.member} of {info.join}" if info.join else (
            f", convention leader as {info.member}" if info.member != "local" else "")
        print(f"sessionward: started pid {info.pid} on {info.bind}:{info.port}, store {store}{role}")
        print(f"sessionward: log {info.log_file}")
        return EXIT_OK
    print("sessionward: the daemon did not report ready in time; see daemon.out", file=sys.stderr)
    return EXIT_UNREACHABLE


def cmd_stop(args) -> int:
    from sessionward.daemon_control import stop_daemon

    stopped = stop_daemon(args.store, member=args.member, timeout=args.timeout)
    if stopped.info is None:
        print(f"sessionward: no daemon runs on {stopped.store}", file=sys.stderr)
        return EXIT_UNREACHABLE
    left = stopped.leftovers
    print(f"sessionward: stopped pid {stopped.info.pid}" + (f" (ended {left} leftover processes)" if left else ""))
    return EXIT_OK


# -- admin queries --------------------------------------------------------------------------


def _client(args):
    from sessionward.admin import AdminClient

    # With --port the record is not read; the store still gives the secret.
    return AdminClient(args.store, port=args.port)


def cmd_status(args) -> int:
    from sessionward.admin import DaemonUnreachableError, member_records

    try:
        client = _client(args)
    except DaemonUnreachableError as exc:
        members = member_records(args.store)
        if not members:
            raise
        # The leader (it holds the Directory) is gone, but members of its convention run.
        print(f"sessionward: the convention leader is unreachable: {exc}", file=sys.stderr)
        rows = [(m.member, str(m.pid), f"{m.bind}:{m.port}", "up" if _alive(m.pid) else "down", m.join or "-")
                for m in members]
        _print_table(("MEMBER", "PID", "ADDRESS", "PROCESS", "LEADER"), rows)
        print("New submits fail with `unavailable`; members finish the turns they are running, "
              "and their outcomes still reach the clients. Restart the leader to accept new turns.")
        return EXIT_UNREACHABLE
    with client:
        status = client.status()
        try:
            history = client.recovery_history()
            recovery = history.counts_last_hour
        except Exception:
            recovery = {}
    if args.json:
        return _print_json({"kind": "status", "system": _data(status), "recovery_last_hour": recovery})
    rows = [
        ("actor system", f"up (directory pid {status.pid}, port {client.port})"),
        ("live owners", str(status.live_owners)),
        ("known sessions", str(status.known_sessions)),
        ("running by lane", _counts(status.running_by_lane)),
        ("queued by lane", _counts(status.queued_by_lane)),
        ("recovery, last hour", _counts(recovery)),
        ("owners replaced", str(status.owners_replaced)),
        ("members", ", ".join(f"{k} {v} owners" for k, v in sorted(status.members.items()))
         + (f" (leader {status.leader})" if status.leader != "local" else "")),
        ("sessions re-homed", str(status.rehomed_sessions) + (
            f" (last took {status.last_rehome_seconds:.2f}s)" if status.last_rehome_seconds is not None else "")),
        ("fenced files", str(len(status.fenced_files))),
        ("parked sessions", "; ".join(f"{p.session_key} ({p.reason})" for p in status.parked) or "0"),
        ("versions", ", ".join(f"{k} {v}" for k, v in status.versions.items())),
    ]
    _print_table(("", ""), rows, header=False)
    return EXIT_OK


def cmd_sessions(args) -> int:
    with _client(args) as client:
        page = client.sessions_page(active_only=args.active, lane=args.lane, limit=args.limit, offset=args.offset)
    if args.json:
        return _print_json(_data(page))
    now = time.time()
    rows = [
        (s.session_key, Path(s.file).name, s.member, s.state, s.turn_id or "-", s.lane or "-",
         _age(s.turn_started_time, now), _age(s.last_progress_time, now), str(s.queue_depth))
        for s in page.sessions
    ]
    _print_table(("KEY", "FILE", "MEMBER", "STATE", "TURN", "LANE", "TURN AGE", "PROGRESS", "QUEUE"), rows)
    shown = f"{args.offset + 1}-{args.offset + len(rows)}" if rows else "0"
    print(f"{shown} of {page.total} live sessions" + (f"; not answering: {', '.join(page.unanswered)}"
                                                      if page.unanswered else ""))
    return EXIT_OK


def cmd_session(args) -> int:
    with _client(args) as client:
        state = client.session(args.key)
    if args.json:
        return _print_json(_data(state))
    if state.state == "missing":
        from sessionward.store import missing_transcript

        print(f"sessionward: {missing_transcript(args.key, state.file)}", file=sys.stderr)
        return EXIT_NOT_FOUND
    if state.state == "passive" and not Path(state.file).exists():
        print(f"sessionward: no session {args.key}", file=sys.stderr)
        return EXIT_NOT_FOUND
    now = time.time()
    rows = [
        ("key", state.session_key), ("keys", ", ".join(state.keys)), ("file", state.file),
        ("state", state.state), ("owner pid", str(state.pid or "-")), ("member", state.member),
        ("turn", state.turn_id or "-"), ("lane", state.lane or "-"),
        ("turn age", _age(state.turn_started_time, now)), ("last progress", _age(state.last_progress_time, now)),
        ("queue", f"{state.queue_depth} waiting" if state.queue_depth else "empty"),
        ("turns", f"{state.turns_completed} completed, {state.turns_failed} not completed, "
                  f"{state.heartbeats_skipped} heartbeats skipped"),
    ]
    _print_table(("", ""), rows, header=False)
    if state.queued_turns:
        print()
        _print_table(("QUEUED TURNS", "LANE", "MODE", "WAITING"),
                     [(t.turn_id, t.lane, t.mode, _age(t.accepted_time, now)) for t in state.queued_turns])
    if state.history:
        print()
        _print_table(("LAST TURNS", "LANE", "STATUS", "REASON", "FINISHED"),
                     [(t.turn_id, t.lane, t.status, t.reason or "-",
                       time.strftime("%H:%M:%S", time.localtime(t.finished_time)))
                      for t in state.history])
    return EXIT_OK


def cmd_abort(args) -> int:
    with _client(args) as client:
        result = client.abort(args.key, args.turn)
    print(("aborted: " if result.ok else "not aborted: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_cancel(args) -> int:
    with _client(args) as client:
        result = client.cancel(args.key, args.turn)
    print(("cancelled: " if result.ok else "not cancelled: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_unpark(args) -> int:
    with _client(args) as client:
        result = client.unpark(args.key)
    print(("unparked: " if result.ok else "not unparked: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_new_transcript(args) -> int:
    with _client(args) as client:
        result = client.new_transcript(args.key)
    print(("ok: " if result.ok else "refused: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_submit(args) -> int:
    from sessionward.config import RuntimeConfig
    from sessionward.keys import validate_session_key
    from sessionward.lanes.routing import validate_lane_name
    from sessionward.validation import validate_text

    # Bad input is refused here, before the actor system is even looked for (exit 2);
    # Runtime.submit checks the same again.
    validate_session_key(args.key)
    validate_lane_name(args.lane)
    text = validate_text(_submit_text(args), RuntimeConfig().max_message_bytes)
    with _client(args) as client:
        handle = client.submit(args.key, text, lane=args.lane, mode=args.mode)
        try:
            outcome = handle.result(timeout=args.timeout)
        except TimeoutError as exc:
            print(f"sessionward: {exc}", file=sys.stderr)
            return EXIT_NO_OUTCOME
    code = submit_exit_code(outcome.status.value)
    if args.json:
        _print_json(_data(outcome))
        return code
    print(f"{outcome.status.value} {outcome.turn_id}" + (f" ({outcome.reason.value})" if outcome.reason else ""))
    if outcome.reply:
        print(outcome.reply)
    elif outcome.detail and code != EXIT_OK:
        print(outcome.detail)
    return code


def submit_exit_code(status: str) -> int:
    """The exit code of ``submit`` for a final outcome's status (see ``EXIT_CODES``)."""
    return {"completed": EXIT_OK, "failed": EXIT_FAILED, "cancelled": EXIT_CANCELLED}.get(status, EXIT_FAILED)


def _submit_text(args) -> bytes | str:
    """The turn's text: the argument, standard input (``-``), or a file (``--file``).

    From stdin or a file, one final newline is dropped (as the shell's ``$(...)`` drops
    it: ``echo hi | sessionward submit KEY -`` sends ``hi``); the rest is passed on as
    bytes, and ``Runtime.submit`` decodes them as UTF-8 and applies the one rule for every
    text (not empty, not too large).

    Raises:
        InvalidMessageError: both or neither of TEXT and --file, or the file is unreadable.
    """
    from sessionward.errors import InvalidMessageError

    if (args.text is None) == (args.file is None):
        raise InvalidMessageError("give the text as TEXT, as - (standard input), or as --file PATH (one of them)")
    if args.file is not None:
        try:
            data = Path(args.file).read_bytes()
        except OSError as exc:
            raise InvalidMessageError(f"cannot read --file {args.file}: {exc.strerror}") from None
    elif args.text == "-":
        data = sys.stdin.buffer.read()
    else:
        return args.text
    return data.removesuffix(b"\n").removesuffix(b"\r")


def cmd_tail(args) -> int:
    from sessionward.transcript_format import parse_transcript

    with _client(args) as client:
        state = client.session(args.key, history=False)
    path = Path(state.file)
    if not path.exists():
        print(f"sessionward: no transcript for {args.key}", file=sys.stderr)
        return EXIT_NOT_FOUND
    data = path.read_bytes()
    lines = data.split(b"\n")
    # Follow the file as its owner appends, from whole lines only (a line being written
    # is read on the next pass).
    offset = len(data) - len(lines[-1])
    start = b"\n".join(lines[:-1][-args.lines:]) + b"\n" if args.lines and len(lines) > 1 else b""
    _print_entries(parse_transcript(start).entries if start.strip() else [])
    deadline = time.monotonic() + args.follow_for if args.follow_for else None
    while args.follow and (deadline is None or time.monotonic() < deadline):
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]
        if whole:
            offset += len(whole)
            _print_entries(parse_transcript(whole).entries)
        else:
            time.sleep(0.2)  # tail -f: poll the file (the owner is in another process)
    return EXIT_OK


def _print_entries(entries) -> int:
    from sessionward.entries import is_turn_end

    for e in entries:
        stamp = str(e.get("timestamp", ""))[11:19]
        turn = str(e.get("turnId", ""))[:8]
        if e.get("type") == "message":
            m = e.get("message", {})
            role = m.get("role", "?")
            text = "".join(b.get("text", "") for b in m.get("content", []) if isinstance(b, dict)) \
                if isinstance(m.get("content"), list) else str(m.get("content", ""))
            extra = f" [{m.get('stopReason')}]" if role == "assistant" and m.get("stopReason") != "stop" else ""
            lane = f" ({e['lane']})" if e.get("lane") else ""
            print(f"{stamp} {turn} {role}{lane}{extra}: {text}", flush=True)
        elif is_turn_end(e):
            data = e.get("data", {})
            reason = f" ({data.get('reason')})" if data.get("reason") else ""
            print(f"{stamp} {turn} -- turn {data.get('status')}{reason}", flush=True)
        else:
            print(f"{stamp} {turn} {e.get('type')}", flush=True)
    return len(entries)


def cmd_actors(args) -> int:
    with _client(args) as client:
        view = client.actors()
    if args.json:
        return _print_json({"kind": "actors", "admin_address": view.admin_address, "in_shutdown": view.in_shutdown,
                            "global_actors": view.global_actors, "actors_by_class": view.actors_by_class,
                            "capabilities": view.capabilities})
    print(f"admin {view.admin_address}" + (" (shutting down)" if view.in_shutdown else ""))
    _print_table(("GLOBAL NAME", "ADDRESS"), sorted(view.global_actors.items()))
    print()
    _print_table(("ACTOR CLASS", "LIVE"), sorted((k, str(v)) for k, v in view.actors_by_class.items()))
    return EXIT_OK


def cmd_doctor(args) -> int:
    from sessionward.diagnosis import diagnose, has_problems
    from sessionward.doctor import apply_fix, gather_facts
    from sessionward.errors import CoordinationError

    facts = gather_facts(args.store)
    findings = diagnose(facts)
    served = any(f.code == "served" for f in findings)
    done: list[dict] = []
    if args.fix and not served:
        for finding in findings:
            if finding.fix is None:
                continue
            if not args.json:
                print(f"fixing: {finding.fix.description}")
            try:
                result, ok = apply_fix(facts.root, finding.fix), True
            except (CoordinationError, OSError) as exc:
                result, ok = f"not fixed: {exc}", False
            done.append({"code": finding.code, "fix": finding.fix.description, "ok": ok, "result": result})
            if not args.json:
                print(f"  {result}")
        findings = diagnose(gather_facts(args.store))  # what is left
    fine = not has_problems(findings)
    if args.json:
        from sessionward.converter import converter

        _print_json({"kind": "doctor_report", "store": facts.root, "layout": facts.layout, "fine": fine,
                     "findings": [converter.unstructure(f) for f in findings], "fixed": done})
    else:
        if done:
            print()
        _print_findings(facts.root, findings, fine, fix_given=args.fix)
    if args.fix and served:
        print("sessionward: a live actor system serves this store; --fix changed nothing", file=sys.stderr)
    return EXIT_OK if fine else EXIT_NOT_FOUND


def _print_findings(root: str, findings, fine: bool, *, fix_given: bool) -> None:
    for f in findings:
        print(f"{f.severity.value}: {f.code}: {f.subject}")
        print(f"  {f.what}")
        print(f"  what to do: {f.advice}")
        if f.fix is not None and not fix_given:
            print(f"  --fix would: {f.fix.description}")
    if fine:
        notes = f" ({len(findings)} notes above)" if findings else ""
        print(f"sessionward: the store {root} is fine{notes}")
    else:
        problems = sum(1 for f in findings if f.severity.value == "problem")
        fixable = sum(1 for f in findings if f.fix is not None)
        hint = f"; `--fix` would fix {fixable} of them as printed" if fixable and not fix_given else ""
        print(f"sessionward: {problems} problems in the store {root}{hint}")


def cmd_demo(args) -> int:
    root = Path(__file__).resolve().parent.parent
    if str(root) not in sys.path and (root / "examples").is_dir():
        sys.path.insert(0, str(root))
    if args.store:
        from sessionward.preflight import check_store_path

        check_store_path(args.store)  # raises a one-line typed error (main prints it)
    try:
        from examples.multilane_bot.demo import run_demo
    except ImportError as exc:
        print(f"sessionward: the demo bot lives in the source tree's examples/ ({exc})", file=sys.stderr)
        return EXIT_NOT_FOUND
    summary = run_demo(duration=args.duration, live=not args.no_live,
                       store=Path(args.store) if args.store else None, base=args.base)
    return EXIT_OK if getattr(summary, "replies_lost", 1) == 0 else EXIT_NOT_FOUND


# -- output helpers ---------------------------------------------------------------------------


def _data(record):
    from sessionward.converter import to_json_data

    return to_json_data(record)


def _print_json(data) -> int:
    print(json.dumps(data, indent=2, sort_keys=True))
    return EXIT_OK


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], header: bool = True) -> None:
    """Print a rich table: headed columns, and cells that never wrap or get cut (a key or
    a turn id must stay whole, for reading and for copying into the next command)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, show_header=header, show_edge=False, pad_edge=False)
    for name in headers:
        table.add_column(name, no_wrap=True, overflow="ignore")
    for row in rows:
        table.add_row(*(str(c) for c in row))
    # Not a terminal (a pipe, a file): as wide as the table needs, with no colour codes.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 10_000, highlight=False)
    # Rendered, then printed here: rich would answer a closed pipe with its own exit(1).
    with console.capture() as captured:
        console.print(table)
    print("\n".join(line.rstrip() for line in captured.get().splitlines()))


def _counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "none"


def _age(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    seconds = max(0.0, now - t)
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def _alive(pid: int) -> bool:
    from sessionward.system import alive

    return alive(pid)


# -- the parser --------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sessionward",
        description="One owner actor per chat-agent session transcript: run the daemon, query it, "
                    "and run the demo bot.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, func, help_text: str, *, store: bool = True, json_flag: bool = False):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=_epilog(),
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
    p.add_argument("--limit", type=_count(1, 1000), default=50, help="rows per page (1-1000; default 50)")
    p.add_argument("--offset", type=_count(0), default=0, help="rows to skip, for paging (0 or more; default 0)")
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
    p.add_argument("--lines", type=_count(0), default=20, help="entries of history to print first (default 20)")
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


def _epilog() -> str:
    return "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES)


def _count(low: int, high: int | None = None):
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


if __name__ == "__main__":
    sys.exit(main())
