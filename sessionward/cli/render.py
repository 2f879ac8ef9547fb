"""How the ``sessionward`` command prints: rich tables, JSON, transcript entries, findings."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from sessionward.cli.exit_codes import EXIT_OK


def data(record):
    from sessionward.converter import to_json_data

    return to_json_data(record)


def print_json(data) -> int:
    print(json.dumps(data, indent=2, sort_keys=True))
    return EXIT_OK


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], header: bool = True) -> None:
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


def counts(counts: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v) or "none"


def age(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    seconds = max(0.0, now - t)
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


def print_entries(entries) -> int:
    from sessionward.storage.entries import is_turn_end

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


def print_findings(root: str, findings, fine: bool, *, fix_given: bool) -> None:
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
