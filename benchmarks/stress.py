"""``./dev stress N [pytest args]``: run the tests N times with load beside them.

Every run has a CPU burner and an fsync-heavy disk writer next to it (``benchmarks.load``),
the conditions under which healthy owners look silent. One line per run; exits 1 if any
run failed. A test that fails here has found a bug: it is never marked flaky or rerun.
Without pytest arguments, the whole suite runs.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.load import load

SUMMARY = re.compile(r"^=*\s*(\d+ (?:passed|failed|error).*?) in [\d.]+s")
"""pytest's closing line, with or without its ``=`` rule (``-q`` drops it)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./dev stress", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", type=int, help="how many times to run the tests")
    parser.add_argument("--cpu", type=int, default=1, help="CPU burners beside each run (default 1)")
    parser.add_argument("--fsync", type=int, default=1, help="fsync-heavy writers beside each run (default 1)")
    args, pytest_args = parser.parse_known_args(argv)
    failed = 0
    # Each run keeps its own pytest temp dir, so a failed run's stores and actor logs
    # (``<store>/sessionward.log``) are still there to read afterwards.
    keep = Path(tempfile.mkdtemp(prefix="sessionward-stress-"))
    for run in range(1, args.runs + 1):
        started = time.monotonic()
        basetemp = [] if any(a.startswith("--basetemp") for a in pytest_args) else [f"--basetemp={keep}/run-{run}"]
        with load(cpu=args.cpu, fsync=args.fsync):
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *basetemp,
                                   *pytest_args], capture_output=True, text=True)
        lines = proc.stdout.strip().splitlines()
        summary = next((m.group(1) for line in reversed(lines) if (m := SUMMARY.search(line))), "no summary")
        ok = proc.returncode == 0
        failed += not ok
        print(f"stress run {run}/{args.runs}: {'ok' if ok else 'FAILED'}: {summary} "
              f"({time.monotonic() - started:.0f} s, cpu burners {args.cpu}, fsync writers {args.fsync})",
              flush=True)
        if not ok:
            print("\n".join(line for line in lines if line.startswith(("FAILED", "ERROR"))), flush=True)
            report = keep / f"run-{run}.log"
            report.write_text(proc.stdout + proc.stderr)
            print(f"  output: {report}; stores and actor logs under {keep}/run-{run}", flush=True)
        else:
            shutil.rmtree(keep / f"run-{run}", ignore_errors=True)
    print(f"stress: {args.runs - failed} of {args.runs} runs green")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
