"""What is wrong with a store, in plain words: pure checks over facts gathered elsewhere.

``sessionward doctor`` gathers a ``StoreFacts`` (``sessionward.operations.doctor`` reads the disk and
the process table) and ``diagnose`` turns it into ``Finding`` records: what was found,
what it means, what to do, and, when there is a safe one, the fix ``--fix`` applies. Only
a fix named in a finding is ever applied, and only to the path the finding names.

Nothing here reads a file or a process: tests give literal facts.
"""

from __future__ import annotations

import enum

import attrs


class Severity(enum.StrEnum):
    PROBLEM = "problem"
    """Something is wrong: a turn will fail, data is unreachable, or a newcomer is blocked."""
    NOTE = "note"
    """Worth knowing, nothing to do (a repaired tail kept aside, a live system serving)."""


class FixKind(enum.StrEnum):
    """The closed set of what ``--fix`` may do."""

    MOVE_TORN_TAIL = "move_torn_tail"
    """Move the transcript's torn last line to a ``.torn`` side file (as an owner would)."""
    END_LEFTOVERS = "end_leftovers"
    """End the dead host's leftover actor processes, by pid and start time."""
    REMOVE_STALE_RECORD = "remove_stale_record"
    """Remove the store's record of a dead actor system."""
    REMOVE_STALE_LOCK = "remove_stale_lock"
    """Remove an openclaw lock file left by a dead process (as openclaw takes it over)."""


@attrs.frozen
class Fix:
    kind: FixKind
    path: str
    """The one file it touches (for ``END_LEFTOVERS``, the store's record)."""
    pids: tuple[int, ...] = ()
    """``END_LEFTOVERS`` only: the processes it ends."""
    description: str = ""
    """What it does, as printed before it is done."""


@attrs.frozen
class Finding:
    code: str
    """A stable name for scripts (``missing_transcript``, ``torn_tail``, ...)."""
    severity: Severity
    subject: str
    """The session key, file or process it is about."""
    what: str
    """What was found and what it means."""
    advice: str
    """What to do about it."""
    fix: Fix | None = None
    """What ``--fix`` would do; None when a person must decide."""


@attrs.frozen
class IndexedSession:
    """One index entry and whether its transcript is there."""

    session_key: str
    file: str
    exists: bool


@attrs.frozen
class TranscriptFacts:
    """One ``*.jsonl`` transcript in a sessions directory."""

    file: str
    indexed: bool
    """Some index entry names it."""
    torn_tail_bytes: int = 0
    """Bytes after the last newline that do not parse (an interrupted append)."""
    bad_lines: int = 0
    """Lines that cannot be read (kept in the file; an owner copies them to quarantine)."""
    quarantine: str | None = None
    """Its quarantine side file, when one exists."""


@attrs.frozen
class StaleLock:
    """An openclaw lock file (``sessions.json.lock``, or a transcript's ``<file>.lock``)
    and whether it is stale."""

    path: str
    pid: int | None
    stale: bool
    """Its process is gone, or it is older than openclaw's stale limit."""


@attrs.frozen
class HostFacts:
    """The store's system record, checked against the process table."""

    record_path: str
    host_pid: int
    alive: bool
    """The recorded host runs (same pid and start time)."""
    port: int | None = None
    leftover_pids: tuple[int, ...] = ()
    """Live processes of the dead host's actor system (found by group, session and start
    time, never by name); empty when the host is alive."""


@attrs.frozen
class StoreFacts:
    root: str
    layout: str
    """``sessionward`` (``sessions.json`` + ``sessions/``), ``openclaw`` (a state directory
    with ``agents/``), or ``missing`` (no such directory)."""
    index_error: str | None = None
    """Why an index cannot be read, if it cannot."""
    indexed: tuple[IndexedSession, ...] = ()
    transcripts: tuple[TranscriptFacts, ...] = ()
    torn_sidecars: tuple[str, ...] = ()
    """``.torn`` side files: tails an owner already moved aside."""
    sqlite_agents: tuple[tuple[str, str], ...] = ()
    """(agent, what was found) for each openclaw agent of the SQLite era."""
    host: HostFacts | None = None
    locks: tuple[StaleLock, ...] = ()


def diagnose(facts: StoreFacts) -> tuple[Finding, ...]:
    """Every finding about the store ``facts`` describes; ``()`` means it is fine."""
    if facts.layout == "missing":
        return (Finding("no_store", Severity.PROBLEM, facts.root, "there is no directory here",
                        "check the path (a store is created by the first runtime or `sessionward start` on it)"),)
    found: list[Finding] = []
    found += _host(facts.host)
    for agent, detail in facts.sqlite_agents:
        found.append(Finding(
            "openclaw_sqlite_era", Severity.PROBLEM, f"agent {agent}",
            f"openclaw agent {agent!r} is SQLite-era state (openclaw 2026.9 or later): {detail}; "
            "sessionward refuses it and writes nothing there",
            "serve a state directory of openclaw up to 2026.8.x, or let openclaw run this one alone"))
    if facts.index_error is not None:
        found.append(Finding(
            "unreadable_index", Severity.PROBLEM, facts.root, f"the session index cannot be read: {facts.index_error}",
            "look at the file; a runtime keeps it aside as sessions.json.corrupt and starts a new index "
            "on its next write (keys then get new transcripts)"))
    for s in facts.indexed:
        if not s.exists:
            found.append(Finding(
                "missing_transcript", Severity.PROBLEM, s.session_key,
                f"the index names {s.file} for {s.session_key}, and it is not there: its turns fail "
                "with transcript_missing",
                f"put the file back, or start a new, empty one: `sessionward new-transcript {s.session_key}` "
                "with the daemon running (or Runtime.new_transcript)"))
    for t in facts.transcripts:
        found += _transcript(t)
    for path in facts.torn_sidecars:
        found.append(Finding(
            "torn_tail_kept", Severity.NOTE, path,
            "the torn last line of a transcript (an interrupted append), moved aside when it was repaired",
            "nothing to do; delete it once you have looked at it"))
    for lock in facts.locks:
        if lock.stale:
            who = f"pid {lock.pid}, gone" if lock.pid else "no live process"
            found.append(Finding(
                "stale_lock", Severity.PROBLEM, lock.path,
                f"an openclaw lock file was left behind ({who}): openclaw waits for it until it counts as stale",
                "remove it (`--fix` does)",
                Fix(FixKind.REMOVE_STALE_LOCK, lock.path, description=f"remove the stale lock {lock.path}")))
    return tuple(found)


def has_problems(findings: tuple[Finding, ...]) -> bool:
    return any(f.severity is Severity.PROBLEM for f in findings)


def _host(host: HostFacts | None) -> list[Finding]:
    if host is None:
        return []
    if host.alive:
        where = f" on port {host.port}" if host.port else ""
        return [Finding(
            "served", Severity.NOTE, host.record_path,
            f"a live actor system serves this store (host pid {host.host_pid}{where}): what is checked may "
            "change while it runs, and `--fix` changes nothing",
            "ask it with `sessionward status`; stop it (`sessionward stop`) before fixing")]
    found = [Finding(
        "stale_record", Severity.PROBLEM, host.record_path,
        f"the store's record names an actor system whose host (pid {host.host_pid}) is gone",
        "the next runtime on the store takes it over by itself; `--fix` removes the record now",
        Fix(FixKind.REMOVE_STALE_RECORD, host.record_path,
            description=f"remove the dead system's record {host.record_path}"))]
    if host.leftover_pids:
        pids = ", ".join(map(str, host.leftover_pids))
        found.insert(0, Finding(
            "leftover_processes", Severity.PROBLEM, f"pids {pids}",
            f"{len(host.leftover_pids)} actor processes of the dead system still run (they may hold "
            "transcript locks, so a new system's owners would be refused)",
            "end them (`--fix` does, by pid and start time; the next runtime would too)",
            Fix(FixKind.END_LEFTOVERS, host.record_path, host.leftover_pids,
                description=f"end processes {pids} (the dead system's, checked by pid and start time)")))
    return found


def _transcript(t: TranscriptFacts) -> list[Finding]:
    found = []
    if not t.indexed:
        found.append(Finding(
            "unindexed_transcript", Severity.PROBLEM, t.file,
            "no index entry names this transcript: no session key reaches it",
            "keep it (it is a conversation) or move it out of the store; to reach it, bind a key to its id "
            "in sessions.json by hand"))
    if t.torn_tail_bytes:
        found.append(Finding(
            "torn_tail", Severity.PROBLEM, t.file,
            f"its last {t.torn_tail_bytes} bytes are a torn line (an append that was interrupted); its owner "
            "moves them aside when it next opens the file",
            "nothing is lost either way; `--fix` moves them to a .torn side file now",
            Fix(FixKind.MOVE_TORN_TAIL, t.file,
                description=f"move the torn last {t.torn_tail_bytes} bytes of {t.file} to a .torn side file")))
    if t.bad_lines:
        kept = f"; copied to {t.quarantine}" if t.quarantine else ""
        found.append(Finding(
            "quarantined_lines", Severity.PROBLEM, t.file,
            f"{t.bad_lines} lines cannot be read; they stay in the file{kept}, and readers skip them",
            "look at them: a line another tool wrote by hand can often be repaired; nothing is fixed automatically"))
    return found
