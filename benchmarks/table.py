"""Print result rows as a table and write them to ``benchmarks/results/<name>.json``.

The table uses ``rich`` when it can be imported and plain aligned text otherwise; both show
the same columns.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import attrs

from benchmarks.row import Row

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _num(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


COLUMNS: tuple[tuple[str, Callable[[Row], str]], ...] = (
    ("system", lambda r: r.system),
    ("submitted", lambda r: str(r.submitted)),
    ("completed", lambda r: str(r.completed)),
    ("lost", lambda r: str(r.lost)),
    ("loss %", lambda r: _num(r.loss_pct, 1)),
    ("takeover/fence errors", lambda r: str(r.fence_errors)),
    ("interleaved turns", lambda r: str(r.interleaved)),
    ("second runs", lambda r: str(r.second_runs)),
    ("overhead p50 ms", lambda r: _num(r.overhead_p50_ms, 1)),
    ("overhead p99 ms", lambda r: _num(r.overhead_p99_ms, 1)),
    ("turns/s", lambda r: _num(r.turns_per_s, 1)),
)
"""Header -> cell text. The first column is left-aligned, the others right-aligned."""


def format_table(rows: Sequence[Row]) -> str:
    """Return the rows as plain text: a header line, a rule, one line per row."""
    cells = [[header for header, _ in COLUMNS]]
    cells += [[cell(row) for _, cell in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]

    def line(values: list[str]) -> str:
        parts = [values[0].ljust(widths[0])]
        parts += [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(c) for c in cells[1:])])


def print_table(
    rows: Sequence[Row], *, title: str | None = None, file: TextIO | None = None
) -> None:
    """Print the rows, with ``rich`` when it is importable, else as plain text."""
    out = file if file is not None else sys.stdout
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        if title:
            print(title, file=out)
        print(format_table(rows), file=out)
        return
    table = Table(title=title)
    for index, (header, _) in enumerate(COLUMNS):
        table.add_column(header, justify="left" if index == 0 else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(cell(row) for _, cell in COLUMNS))
    # Wide enough for every cell on one line (rich's borders and padding take 3 a column),
    # even when the output is a pipe and rich would otherwise assume 80 columns.
    plain_width = len(format_table(rows).splitlines()[1])
    console = Console(file=out)
    console.width = max(console.width, plain_width + 3 * len(COLUMNS) + 1)
    console.print(table)


def _jsonable(value: Any) -> Any:
    # NaN is not JSON: a percentile over no completed turn is written as null.
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_results(name: str, rows: Sequence[Row], path: Path | None = None) -> Path:
    """Write ``{"name": ..., "rows": [...]}`` to ``path`` and return the path.

    Args:
        name: The run's name; also the file name when ``path`` is not given.
        rows: The rows, in table order.
        path: Where to write; defaults to ``benchmarks/results/<name>.json``.

    The file is written to ``<path>.tmp`` first and renamed, so a reader never sees half.
    """
    target = Path(path) if path is not None else RESULTS_DIR / f"{name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "name": name,
        "rows": [{k: _jsonable(v) for k, v in attrs.asdict(row).items()} for row in rows],
    }
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target
