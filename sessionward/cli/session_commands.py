"""The session commands: sessions, session, abort, cancel, unpark, new-transcript, submit, tail."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sessionward.cli.exit_codes import EXIT_NO_OUTCOME, EXIT_NOT_FOUND, EXIT_OK, submit_exit_code
from sessionward.cli.render import age, data, print_entries, print_json, print_table


def client_for(args):
    from sessionward.operations.admin import AdminClient

    # With --port the record is not read; the store still gives the secret.
    return AdminClient(args.store, port=args.port)


def cmd_sessions(args) -> int:
    with client_for(args) as client:
        page = client.sessions_page(active_only=args.active, lane=args.lane, limit=args.limit, offset=args.offset)
    if args.json:
        return print_json(data(page))
    now = time.time()
    rows = [
        (s.session_key, Path(s.file).name, s.member, s.state, s.turn_id or "-", s.lane or "-",
         age(s.turn_started_time, now), age(s.last_progress_time, now), str(s.queue_depth))
        for s in page.sessions
    ]
    print_table(("KEY", "FILE", "MEMBER", "STATE", "TURN", "LANE", "TURN AGE", "PROGRESS", "QUEUE"), rows)
    shown = f"{args.offset + 1}-{args.offset + len(rows)}" if rows else "0"
    print(f"{shown} of {page.total} live sessions" + (f"; not answering: {', '.join(page.unanswered)}"
                                                      if page.unanswered else ""))
    return EXIT_OK


def cmd_session(args) -> int:
    with client_for(args) as client:
        state = client.session(args.key)
    if args.json:
        return print_json(data(state))
    if state.state == "missing":
        from sessionward.storage.store import missing_transcript

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
        ("turn age", age(state.turn_started_time, now)), ("last progress", age(state.last_progress_time, now)),
        ("queue", f"{state.queue_depth} waiting" if state.queue_depth else "empty"),
        ("turns", f"{state.turns_completed} completed, {state.turns_failed} not completed, "
                  f"{state.heartbeats_skipped} heartbeats skipped"),
    ]
    print_table(("", ""), rows, header=False)
    if state.queued_turns:
        print()
        print_table(("QUEUED TURNS", "LANE", "MODE", "WAITING"),
                     [(t.turn_id, t.lane, t.mode, age(t.accepted_time, now)) for t in state.queued_turns])
    if state.history:
        print()
        print_table(("LAST TURNS", "LANE", "STATUS", "REASON", "FINISHED"),
                     [(t.turn_id, t.lane, t.status, t.reason or "-",
                       time.strftime("%H:%M:%S", time.localtime(t.finished_time)))
                      for t in state.history])
    return EXIT_OK


def cmd_abort(args) -> int:
    with client_for(args) as client:
        result = client.abort(args.key, args.turn)
    print(("aborted: " if result.ok else "not aborted: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_cancel(args) -> int:
    with client_for(args) as client:
        result = client.cancel(args.key, args.turn)
    print(("cancelled: " if result.ok else "not cancelled: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_unpark(args) -> int:
    with client_for(args) as client:
        result = client.unpark(args.key)
    print(("unparked: " if result.ok else "not unparked: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_new_transcript(args) -> int:
    with client_for(args) as client:
        result = client.new_transcript(args.key)
    print(("ok: " if result.ok else "refused: ") + result.detail)
    return EXIT_OK if result.ok else EXIT_NOT_FOUND


def cmd_submit(args) -> int:
    from sessionward.config import RuntimeConfig
    from sessionward.lanes.routing import validate_lane_name
    from sessionward.storage.keys import validate_session_key
    from sessionward.storage.validation import validate_text

    # Bad input is refused here, before the actor system is even looked for (exit 2);
    # Runtime.submit checks the same again.
    validate_session_key(args.key)
    validate_lane_name(args.lane)
    text = validate_text(submit_text(args), RuntimeConfig().max_message_bytes)
    with client_for(args) as client:
        handle = client.submit(args.key, text, lane=args.lane, mode=args.mode)
        try:
            outcome = handle.result(timeout=args.timeout)
        except TimeoutError as exc:
            print(f"sessionward: {exc}", file=sys.stderr)
            return EXIT_NO_OUTCOME
    code = submit_exit_code(outcome.status.value)
    if args.json:
        print_json(data(outcome))
        return code
    print(f"{outcome.status.value} {outcome.turn_id}" + (f" ({outcome.reason.value})" if outcome.reason else ""))
    if outcome.reply:
        print(outcome.reply)
    elif outcome.detail and code != EXIT_OK:
        print(outcome.detail)
    return code


def submit_text(args) -> bytes | str:
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
    from sessionward.storage.transcript_format import parse_transcript

    with client_for(args) as client:
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
    print_entries(parse_transcript(start).entries if start.strip() else [])
    deadline = time.monotonic() + args.follow_for if args.follow_for else None
    while args.follow and (deadline is None or time.monotonic() < deadline):
        with open(path, "rb") as f:
            f.seek(offset)
            chunk = f.read()
        whole = chunk[: chunk.rfind(b"\n") + 1]
        if whole:
            offset += len(whole)
            print_entries(parse_transcript(whole).entries)
        else:
            time.sleep(0.2)  # tail -f: poll the file (the owner is in another process)
    return EXIT_OK
