"""``python -m benchmarks [--quick] [--only NAME,...] [--markdown]``: run every workload.

Prints one table per workload with its targets, and writes
``benchmarks/results/<workload>.json`` (``results/quick/`` for ``--quick``). Each workload
runs in a fresh interpreter (see ``benchmarks.workloads.run_in_fresh_process``). Exits 1
when a workload fails to run (a missed target is a result, not a failure).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.workloads import OPTIONAL, WORKLOADS, run_in_fresh_process, run_workload
from benchmarks.workloads.report import format_markdown, format_text, write_json


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="the CI form: small counts, about a minute in all")
    parser.add_argument("--only", default="",
                        help=f"comma-separated workloads to run (of {', '.join(WORKLOADS + OPTIONAL)}; "
                             f"{', '.join(OPTIONAL)} only when named)")
    parser.add_argument("--markdown", action="store_true",
                        help="also print every table as Markdown at the end")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where the JSON goes (default benchmarks/results)")
    parser.add_argument("--in-process", action="store_true",
                        help="run every workload in this process (default: each in a fresh one)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(WORKLOADS)
    unknown = sorted(set(names) - set(WORKLOADS) - set(OPTIONAL))
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(WORKLOADS + OPTIONAL)}")
    when = datetime.now(UTC).isoformat(timespec="seconds")
    form = "quick" if args.quick else "full"
    print(f"sessionward benchmarks, {form} form, {when}")
    started = time.monotonic()
    results, failed = [], []
    run = run_workload if args.in_process else run_in_fresh_process
    for name in names:
        with tempfile.TemporaryDirectory(prefix=f"sessionward-bench-{name}-") as tmp:
            try:
                result = run(name, args.quick, tmp)
            except Exception:
                traceback.print_exc()
                failed.append(name)
                continue
        results.append(result)
        print()
        print(format_text(result), flush=True)
        path = write_json(result, quick=args.quick, results_dir=args.results_dir, when=when)
        print(f"  wrote {path}")
    if args.markdown:
        print()
        for result in results:
            print(format_markdown(result))
            print()
    missed = [f"{r.name}: {f.name}" for r in results for f in r.figures if f.met is False]
    print()
    print(f"{len(results)} workloads in {time.monotonic() - started:.1f} s; "
          f"{len(missed)} targets missed" + (f"; failed to run: {', '.join(failed)}" if failed else ""))
    for line in missed:
        print(f"  missed: {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
