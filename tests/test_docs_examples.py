"""Every shell and Python example in the README and in docs/ runs as written.

A fenced block tagged ``sh``/``bash``/``shell`` or ``python`` is run; one tagged ``text``,
``toml`` or ``json`` is not (a transcript of output, a config, a server that runs until
stopped, several machines). A block with no tag, or another tag, fails the test: whether
an example runs is always said.

Shell blocks of one file run in order in one ``bash -euo pipefail``, from the repository
root (as ``./dev`` needs), with ``$SESSIONWARD_STORE`` naming a temporary store. Python
blocks run each in its own interpreter, in a temporary directory (so ``./state`` is
temporary too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sessionward.hosting.system import process_group_members
from sessionward.operations.admin import read_daemon_info

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL, PYTHON = {"sh", "bash", "shell"}, {"python"}
NOT_RUN = {"text", "toml", "json"}
_FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(page: Path) -> list[tuple[int, str, str]]:
    """(line number, language tag, code) of every fenced block of ``page``."""
    found, open_at, tag, body = [], None, "", []
    for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        fence = _FENCE.match(line)
        if open_at is None and fence:
            open_at, tag, body = n, fence[1], []
        elif open_at is not None and line.strip() == "```":
            found.append((open_at, tag, "\n".join(body) + "\n"))
            open_at = None
        elif open_at is not None:
            body.append(line)
    assert open_at is None, f"{page.name}:{open_at}: a fenced block is never closed"
    return found


def test_the_pages_have_runnable_examples_and_the_parser_finds_them():
    readme = blocks(ROOT / "README.md")
    assert {"sh", "python"} <= {tag for _, tag, _ in readme}
    runnable = [b for page in PAGES for b in blocks(page) if b[1] in SHELL | PYTHON]
    assert len(runnable) >= 8, runnable


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_block_says_whether_it_runs(page):
    unmarked = [f"{page.name}:{n} ({tag or 'no tag'})" for n, tag, _ in blocks(page)
                if tag not in SHELL | PYTHON | NOT_RUN]
    assert unmarked == [], "tag each block sh/python (run) or text/toml/json (not run)"


_HOST_SETTING = re.compile(r">\s*/(sys|proc)/|\bsysctl\s+-w\b")


def test_no_example_that_runs_changes_the_host():
    # The tests may run as root: an example that writes /sys or /proc (``ksmd``'s settings
    # in docs/operating.md) would change the machine for every test after it.
    changing = [f"{page.name}:{n}" for page in PAGES for n, tag, code in blocks(page)
                if tag in SHELL | PYTHON and _HOST_SETTING.search(code)]
    assert changing == [], "tag a block that changes the host `text`: it is shown, not run"


@pytest.mark.parametrize("page", [p for p in PAGES if any(t in SHELL | PYTHON for _, t, _ in blocks(p))],
                         ids=lambda p: p.name)
def test_the_examples_of_a_page_run_as_written(page, tmp_path):
    store = tmp_path / "store"
    env = {**os.environ, "SESSIONWARD_STORE": str(store)}
    env.pop("PYTHONPATH", None)
    shell = [f"# {page.name}:{n}\n{code}" for n, tag, code in blocks(page) if tag in SHELL]
    try:
        if shell:
            result = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(shell)], cwd=ROOT, env=env,
                                    capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
            assert result.returncode == 0, f"{page.name}: shell examples failed\n{result.stdout}\n{result.stderr}"
        for n, tag, code in blocks(page):
            if tag in PYTHON:
                work = tmp_path / f"py{n}"
                work.mkdir()
                result = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                                        text=True, timeout=120, stdin=subprocess.DEVNULL)
                assert result.returncode == 0, f"{page.name}:{n}: Python example failed\n{result.stderr}"
    finally:
        info = read_daemon_info(store) if store.exists() else None
        if info is not None:  # an example that failed before its `stop`
            subprocess.run([sys.executable, "-m", "sessionward", "stop", "--store", str(store)],
                           capture_output=True, timeout=60)
            assert not process_group_members(set(info.process_groups) | {info.pid}), "a daemon was left running"
