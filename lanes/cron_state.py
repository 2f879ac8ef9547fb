"""A cron lane's memory: each job's last due time, in ``<store>/lanes/<agent>.cron.json``.

A restarted lane reads it to report (log and count as ``missed``) the runs that fell due
while it was down. Written through ``files.write_atomically`` (fsynced temp file, rename):
a crash mid-write leaves the old state, never half a file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from sessionward.storage.files import write_atomically

log = logging.getLogger("sessionward.lanes")

VERSION = 1


def cron_state_file(store_root: str | os.PathLike[str], agent_id: str) -> Path:
    """Where ``Runtime.start_lanes`` keeps an agent's cron state: ``<store>/lanes/<agent>.cron.json``."""
    return Path(store_root) / "lanes" / f"{agent_id}.cron.json"


def load_cron_state(path: Path) -> dict[str, float]:
    """Each job's last due time (epoch seconds) from ``path``; empty if missing or unreadable."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in data["last_fire_time"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        # A lost memory costs only the missed-run report, never a run: start afresh.
        log.error("cron state %s is unreadable (%s); starting without it", path, exc)
        return {}


def save_cron_state(path: Path, agent_id: str, last_fire_times: Mapping[str, float | None]) -> None:
    """Replace ``path`` with the jobs' last due times (jobs never fired are left out).

    A failed write is logged, not raised: the lane keeps running without its memory.
    """
    data = {"version": VERSION, "agent_id": agent_id,
            "last_fire_time": {name: t for name, t in last_fire_times.items() if t is not None}}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(data).encode("utf-8"))
    except OSError:
        log.exception("could not save cron state %s", path)
