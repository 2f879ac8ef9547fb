"""What a workload reports, and how it is printed and written. Pure: no clock, no runtime.

A ``WorkloadResult`` holds one table (a row per system or per configuration), the figures
that have a target (each printed beside its target with whether it was met), and notes
(how it was measured, what the numbers include). ``format_text`` is what ``python -m
benchmarks`` prints, ``format_markdown`` the same as Markdown, and ``write_json`` writes
``results/<name>.json`` (``results/quick/<name>.json`` for the quick form, so a CI run
never overwrites the figures of a full run).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

RESULTS_DIR = Path(__file__).resolve().parents[1] / "results"


@attrs.frozen
class Target:
    """A bound a measured figure should stay within: ``measured <op> value``."""

    op: str = attrs.field(validator=attrs.validators.in_(("<=", ">=")))
    value: float

    def met(self, measured: float) -> bool | None:
        """True or False; None when nothing was measured (``nan``)."""
        if measured is None or (isinstance(measured, float) and math.isnan(measured)):
            return None
        return measured <= self.value if self.op == "<=" else measured >= self.value

    def __str__(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {fmt(self.value)}"


@attrs.frozen
class Figure:
    """One measured figure, with its target when the issue sets one."""

    name: str
    """What was measured, e.g. ``"turns/s (100 sessions, saturated)"``."""
    value: float
    """The measured value; an int for counts (printed without decimals)."""
    unit: str = ""
    target: Target | None = None
    system: str = "sessionward"

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.value)


@attrs.frozen
class WorkloadResult:
    """Everything one workload measured."""

    name: str
    """File-name-safe name: ``incident``, ``throughput``, ``streaming``, ``scale``,
    ``durability``."""
    title: str
    columns: tuple[str, ...]
    """The table's columns, in order; every row has a value for each (``None`` = none)."""
    rows: tuple[dict[str, Any], ...]
    figures: tuple[Figure, ...] = ()
    notes: tuple[str, ...] = ()
    params: dict[str, Any] = attrs.field(factory=dict)
    """The workload's parameters, as run."""
    wall_seconds: float = 0.0


def fmt(value: Any) -> str:
    """A table cell: ``-`` for nothing, grouped thousands, fewer decimals as numbers grow."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        magnitude = abs(value)
        if magnitude >= 1000:
            return f"{value:,.0f}"
        if magnitude >= 100:
            return f"{value:.1f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def _grid(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]

    def line(values: Sequence[str]) -> str:
        parts = [values[0].ljust(widths[0])]
        parts += [v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True)]
        return "  ".join(parts).rstrip()

    return [line(header), "  ".join("-" * w for w in widths), *(line(v) for v in lines)]


def _figure_cells(f: Figure) -> list[str]:
    met = {True: "met", False: "MISSED", None: "-"}[f.met]
    value = f"{fmt(f.value)} {f.unit}".strip()
    target = f"{f.target} {f.unit}".strip() if f.target is not None else "-"
    return [f.system, f.name, value, target, met]


_FIGURE_HEADER = ["system", "figure", "measured", "target", "met"]


def format_text(result: WorkloadResult) -> str:
    """The result as plain text: title, table, targets, notes."""
    out = [f"== {result.title}"]
    out += _grid(result.columns, [[fmt(r.get(c)) for c in result.columns] for r in result.rows])
    if result.figures:
        out.append("")
        out += _grid(_FIGURE_HEADER, [_figure_cells(f) for f in result.figures])
    for note in result.notes:
        out.append(f"  * {note}")
    out.append(f"  ({result.wall_seconds:.1f} s)")
    return "\n".join(out)


def format_markdown(result: WorkloadResult) -> str:
    """The result as Markdown: a heading, the table, the targets table, the notes."""

    def table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> list[str]:
        align = ["---"] + ["---:"] * (len(header) - 1)
        rows = [header, align, *lines]
        return ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]

    out = [f"#### {result.title}", ""]
    out += table(result.columns, [[fmt(r.get(c)) for c in result.columns] for r in result.rows])
    if result.figures:
        out.append("")
        out += table(_FIGURE_HEADER, [_figure_cells(f) for f in result.figures])
    if result.notes:
        out.append("")
        out += [f"- {note}" for note in result.notes]
    return "\n".join(out)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None  # NaN is not JSON
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    mem_kib = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_kib = int(line.split()[1])
    except OSError:
        pass
    try:
        from importlib.metadata import version

        thespian = version("thespian")
    except Exception:  # not installed as a distribution: report it unknown
        thespian = "unknown"
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "thespian": thespian,
    }


def write_json(
    result: WorkloadResult, *, quick: bool, results_dir: Path | None = None, when: str = ""
) -> Path:
    """Write the result to ``<results_dir>/<name>.json`` (``quick/<name>.json`` when quick).

    Written to a temporary name and renamed, so a reader never sees half a file.
    """
    base = Path(results_dir) if results_dir is not None else RESULTS_DIR
    target = (base / "quick" if quick else base) / f"{result.name}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "name": result.name,
        "title": result.title,
        "quick": quick,
        "when": when,
        "machine": machine(),
        "params": result.params,
        "wall_seconds": result.wall_seconds,
        "columns": list(result.columns),
        "rows": list(result.rows),
        "figures": [
            {
                "system": f.system,
                "name": f.name,
                "value": f.value,
                "unit": f.unit,
                "target": None if f.target is None else {"op": f.target.op, "value": f.target.value},
                "met": f.met,
            }
            for f in result.figures
        ],
        "notes": list(result.notes),
    }
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(document), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def record_run(path: Path, label: str, run: dict[str, Any]) -> None:
    """Keep ``run`` under ``label`` in the ``runs`` of the results file at ``path``, beside
    the runs already there (a benchmark's before and after stay side by side). Written to a
    temporary name and renamed, like ``write_json``."""
    document: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    document.setdefault("runs", {})[label] = run
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def add_run_arguments(parser: argparse.ArgumentParser, results_file: str) -> None:
    """The options every single-purpose benchmark (``profile_turns``, ``durable_appends``,
    ``index_activation``) shares: where provider streams run, and the label and results
    file its run is kept under (``record_run``)."""
    parser.add_argument("--stream-in", choices=("worker", "owner"), default="worker",
                        help="where provider streams run (RuntimeConfig.stream_in)")
    parser.add_argument("--label", default="latest", help="the name this run is filed under in the JSON")
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / results_file)
