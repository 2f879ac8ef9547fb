"""The daemon's commands: start, stop, status, actors, doctor, and the demo bot."""

from __future__ import annotations

import sys
from pathlib import Path

from sessionward.cli.exit_codes import EXIT_NOT_FOUND, EXIT_OK, EXIT_UNREACHABLE
from sessionward.cli.render import counts, data, print_findings, print_json, print_table
from sessionward.cli.session_commands import client_for


def cmd_start(args) -> int:
    from sessionward.operations.daemon_control import start_daemon

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
    from sessionward.operations.daemon_control import stop_daemon

    stopped = stop_daemon(args.store, member=args.member, timeout=args.timeout)
    if stopped.info is None:
        print(f"sessionward: no daemon runs on {stopped.store}", file=sys.stderr)
        return EXIT_UNREACHABLE
    left = stopped.leftovers
    print(f"sessionward: stopped pid {stopped.info.pid}" + (f" (ended {left} leftover processes)" if left else ""))
    return EXIT_OK


def cmd_status(args) -> int:
    from sessionward.operations.admin import DaemonUnreachableError, member_records

    try:
        client = client_for(args)
    except DaemonUnreachableError as exc:
        members = member_records(args.store)
        if not members:
            raise
        # The leader (it holds the Directory) is gone, but members of its convention run.
        print(f"sessionward: the convention leader is unreachable: {exc}", file=sys.stderr)
        rows = [(m.member, str(m.pid), f"{m.bind}:{m.port}", "up" if alive(m.pid) else "down", m.join or "-")
                for m in members]
        print_table(("MEMBER", "PID", "ADDRESS", "PROCESS", "LEADER"), rows)
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
        return print_json({"kind": "status", "system": data(status), "recovery_last_hour": recovery})
    rows = [
        ("actor system", f"up (directory pid {status.pid}, port {client.port})"),
        ("owner factory", f"pid {status.factory_pid}" if status.factory_pid else "none"),
        ("live owners", str(status.live_owners)),
        ("known sessions", str(status.known_sessions)),
        ("running by lane", counts(status.running_by_lane)),
        ("queued by lane", counts(status.queued_by_lane)),
        ("recovery, last hour", counts(recovery)),
        ("owners replaced", str(status.owners_replaced)),
        ("members", ", ".join(f"{k} {v} owners" for k, v in sorted(status.members.items()))
         + (f" (leader {status.leader})" if status.leader != "local" else "")),
        ("sessions re-homed", str(status.rehomed_sessions) + (
            f" (last took {status.last_rehome_seconds:.2f}s)" if status.last_rehome_seconds is not None else "")),
        ("fenced files", str(len(status.fenced_files))),
        ("parked sessions", "; ".join(f"{p.session_key} ({p.reason})" for p in status.parked) or "0"),
        ("versions", ", ".join(f"{k} {v}" for k, v in status.versions.items())),
    ]
    print_table(("", ""), rows, header=False)
    return EXIT_OK


def cmd_actors(args) -> int:
    with client_for(args) as client:
        view = client.actors()
    if args.json:
        return print_json({"kind": "actors", "admin_address": view.admin_address, "in_shutdown": view.in_shutdown,
                            "global_actors": view.global_actors, "actors_by_class": view.actors_by_class,
                            "capabilities": view.capabilities})
    print(f"admin {view.admin_address}" + (" (shutting down)" if view.in_shutdown else ""))
    print_table(("GLOBAL NAME", "ADDRESS"), sorted(view.global_actors.items()))
    print()
    print_table(("ACTOR CLASS", "LIVE"), sorted((k, str(v)) for k, v in view.actors_by_class.items()))
    return EXIT_OK


def cmd_doctor(args) -> int:
    from sessionward.errors import CoordinationError
    from sessionward.operations.diagnosis import diagnose, has_problems
    from sessionward.operations.doctor import apply_fix, gather_facts

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

        print_json({"kind": "doctor_report", "store": facts.root, "layout": facts.layout, "fine": fine,
                     "findings": [converter.unstructure(f) for f in findings], "fixed": done})
    else:
        if done:
            print()
        print_findings(facts.root, findings, fine, fix_given=args.fix)
    if args.fix and served:
        print("sessionward: a live actor system serves this store; --fix changed nothing", file=sys.stderr)
    return EXIT_OK if fine else EXIT_NOT_FOUND


def cmd_demo(args) -> int:
    # The bot ships in the package (``sessionward.examples``, installed from examples/).
    from sessionward.examples.multilane_bot.demo import run_demo

    if args.store:
        from sessionward.hosting.preflight import check_store_path

        check_store_path(args.store)  # raises a one-line typed error (main prints it)
    summary = run_demo(duration=args.duration, live=not args.no_live,
                       store=Path(args.store) if args.store else None, base=args.base)
    return EXIT_OK if getattr(summary, "replies_lost", 1) == 0 else EXIT_NOT_FOUND


def alive(pid: int) -> bool:
    from sessionward.hosting.system import alive

    return alive(pid)
