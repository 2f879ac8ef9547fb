"""The real reader: pi's own ``SessionManager`` and RPC mode on files sessionward wrote.

Compatibility is judged by pi, not by sessionward's parser. These tests run pi
(``@mariozechner/pi-coding-agent``, pinned in ``tests/interop/package.json``) with node >= 20:

- pi's ``SessionManager`` over a session sessionward wrote, and over pi-written files
  (the fixtures) that sessionward migrated and extended;
- pi's RPC ``prompt`` and ``get_session_stats`` on a session after sessionward's turns, with
  a fake OpenAI-compatible model server on 127.0.0.1; then sessionward continues the file
  pi extended.

They are skipped, saying why, when node or the npm package is absent (install it with
``npm ci --prefix tests/interop``). ``.ci/run`` installs it and sets
``SESSIONWARD_REQUIRE_PI=1``, which turns those skips into failures.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from sessionward import Runtime, ScriptedProvider, TurnStatus
from sessionward.storage.store import SessionRecord, SessionStore
from sessionward.storage.transcript_format import build_context, parse_transcript

HERE = Path(__file__).resolve().parent
INTEROP = HERE / "interop"
PI_PACKAGE = INTEROP / "node_modules" / "@mariozechner" / "pi-coding-agent"
PI_CLI = PI_PACKAGE / "dist" / "cli.js"
PI_READ = INTEROP / "pi_read.mjs"
FIXTURES = Path(
    os.environ.get("SESSIONWARD_FIXTURES", HERE.parents[1] / "shared" / "fixtures" / "transcripts")
)
KEY = "agent:main:main"
PI_TIMEOUT = 60.0
"""Seconds any one pi command may take (node starts in about 2 s on a busy 2-core machine)."""

# pi's context (message count) of each fixture as pi reads the original, and as pi reads
# sessionward's migration of it. docs/compat.md explains each difference by line.
PI_CONTEXT = {
    "pi-mono__compact.jsonl": (439, 440),
    "pi-mono__session.jsonl": (107, 109),
    "pi-mono__packages_coding-agent_test_fixtures_before-compaction.jsonl": (446, 446),
    "pi-mono__packages_coding-agent_test_fixtures_large-session.jsonl": (914, 914),
}


def _why_pi_is_missing() -> str | None:
    node = shutil.which("node")
    if node is None:
        return "node is not installed (pi needs node >= 20)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot read node's version ({version!r})"
    if major < 20:
        return f"node {version} is too old (pi needs node >= 20)"
    if not PI_CLI.is_file():
        return f"pi is not installed in {INTEROP} (run: npm ci --prefix tests/interop)"
    return None


_MISSING = _why_pi_is_missing()
if _MISSING and os.environ.get("SESSIONWARD_REQUIRE_PI") == "1":
    raise RuntimeError(f"SESSIONWARD_REQUIRE_PI=1 but {_MISSING}")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def pi_read(path: Path, scratch: Path) -> dict[str, Any]:
    """What pi's SessionManager sees in ``path``, read from a copy (pi rewrites a v1 file)."""
    scratch.mkdir(parents=True, exist_ok=True)
    copy = scratch / path.name
    shutil.copyfile(path, copy)
    done = subprocess.run(["node", str(PI_READ), str(copy)], capture_output=True, text=True,
                          timeout=PI_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _texts(messages) -> list[tuple[str, str]]:
    def text(m: dict[str, Any]) -> str:
        content = m.get("content", m.get("summary"))
        if isinstance(content, str):
            return content
        return "".join(b.get("text", "") for b in content or [] if isinstance(b, dict) and b.get("type") == "text")

    return [(m["role"], text(m)) for m in messages]


# --------------------------------------------------------------------------- a fake model server


class FakeModelServer(ThreadingHTTPServer):
    """An OpenAI-compatible ``/v1/chat/completions`` that streams ``pong`` with a usage chunk."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bodies: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeModelServer

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        model = body["model"]
        chunks = [
            {"id": "c1", "model": model, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "pong"},
                                                      "finish_reason": None}]},
            {"id": "c1", "model": model, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"id": "c1", "model": model, "choices": [],
             "usage": {"prompt_tokens": 11, "completion_tokens": 1, "total_tokens": 12}},
        ]
        data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def model_server():
    server = FakeModelServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


class PiRpc:
    """pi in RPC mode on one session file, talking to ``server`` as provider ``fake``."""

    def __init__(self, session_file: Path, server: FakeModelServer, home: Path) -> None:
        agent_dir = home / "agent"
        agent_dir.mkdir(parents=True, exist_ok=True)
        models = {"providers": {"fake": {
            "baseUrl": server.base_url, "api": "openai-completions", "apiKey": "unused",
            "compat": {"supportsDeveloperRole": False, "supportsReasoningEffort": False},
            "models": [{"id": "fake-model"}],
        }}}
        (agent_dir / "models.json").write_text(json.dumps(models))
        env = {**os.environ, "PI_CODING_AGENT_DIR": str(agent_dir), "HOME": str(home), "PI_OFFLINE": "1"}
        self.process = subprocess.Popen(
            ["node", str(PI_CLI), "--mode", "rpc", "--session", str(session_file), "--provider", "fake",
             "--model", "fake-model", "--no-tools", "--no-extensions", "--no-skills", "--no-prompt-templates",
             "--no-themes", "--no-context-files", "--offline"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=home,
        )
        self.records: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:  # RPC framing: one JSON record per \n-terminated line
            self.records.put(json.loads(line))
        self.records.put(None)

    def send(self, command: dict[str, Any]) -> None:
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        self.process.stdin.flush()

    def wait_for(self, predicate) -> dict[str, Any]:
        """The first record that matches; fails on EOF or after ``PI_TIMEOUT`` seconds."""
        while True:
            try:
                record = self.records.get(timeout=PI_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"pi sent nothing for {PI_TIMEOUT} s")
            if record is None:
                pytest.fail(f"pi exited: {self.process.stderr.read().decode()[-2000:]}")
            if record.get("type") == "response" and not record.get("success"):
                pytest.fail(f"pi refused a command: {record}")
            if predicate(record):
                return record

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()  # pi's RPC mode ends at EOF on stdin
        try:
            self.process.wait(timeout=PI_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


# --------------------------------------------------------------------------- tests


def _turns(store: Path, *texts: str, base: str = "simple") -> Path:
    """Run one sessionward turn per text on ``KEY`` (a text holding "fail" fails with a
    rate limit); the session's file. The runtime is closed, so pi may write the file next.

    A runtime that is followed by another on the same store uses base ``tcp``: its owner's
    process ends at close, and with it the file's lock.
    """
    provider = ScriptedProvider(reply="reply to {text}", name="scripted", model="m1", fail_with="rate_limit",
                                only_when="fail")
    with Runtime(store, provider=provider, base=base, recovery=False) as rt:
        for text in texts:
            outcome = rt.submit(KEY, text).result(timeout=30)
            assert outcome.status is (TurnStatus.FAILED if "fail" in text else TurnStatus.COMPLETED), outcome
        return Path(rt.session(KEY).file)


def test_pi_resumes_a_session_sessionward_wrote_and_rpc_prompt_and_stats_succeed(tmp_path, model_server):
    store = tmp_path / "store"
    # A failed turn leaves an assistant message with stopReason error and a zero usage.
    path = _turns(store, "first question", "second question", "third question, to fail", base="tcp")

    seen = pi_read(path, tmp_path / "read1")
    ours = build_context(parse_transcript(path.read_bytes()).entries)
    assert [(m["role"], m["text"]) for m in seen["messages"]] == _texts(ours)
    assert len(seen["messages"]) == 6

    pi = PiRpc(path, model_server, tmp_path / "pi-home")
    try:
        pi.send({"id": "p1", "type": "prompt", "message": "what did I ask?"})
        pi.wait_for(lambda r: r.get("id") == "p1")
        end = pi.wait_for(lambda r: r.get("type") == "agent_end")
        assert [m["role"] for m in end["messages"]] == ["user", "assistant"]
        assert end["messages"][-1]["stopReason"] == "stop", end["messages"][-1]
        pi.send({"id": "s1", "type": "get_session_stats"})
        stats = pi.wait_for(lambda r: r.get("id") == "s1")["data"]
    finally:
        pi.close()
    assert pi.process.returncode == 0
    assert (stats["userMessages"], stats["assistantMessages"]) == (4, 4)
    assert ours[-1]["stopReason"] == "error" and ours[-1]["usage"]["totalTokens"] == 0
    # pi's totals add up every assistant usage: sessionward's scripted counts plus pi's turn
    # (the fake server's 11 prompt tokens and 1 completion token).
    written = [m["usage"] for m in ours if m["role"] == "assistant"]
    assert stats["tokens"]["input"] == sum(u["input"] for u in written) + 11
    assert stats["tokens"]["output"] == sum(u["output"] for u in written) + 1
    # pi sent sessionward's turns to the model as its context.
    sent = [(m["role"], m["content"] if isinstance(m["content"], str) else "".join(
        p.get("text", "") for p in m["content"])) for m in model_server.bodies[-1]["messages"][1:]]
    assert ("user", "first question") in sent and ("assistant", "reply to first question") in sent

    # pi -> sessionward: sessionward continues the file pi extended, and pi still reads it.
    _turns(store, "fourth question", base="tcp")
    after = pi_read(path, tmp_path / "read2")
    assert [m["text"] for m in after["messages"]][-4:] == [
        "what did I ask?", "pong", "fourth question", "reply to fourth question"]


def _fixture_params() -> list[Any]:
    files = sorted(FIXTURES.glob("*.jsonl")) if FIXTURES.is_dir() else []
    if not files:
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"no transcript fixtures in {FIXTURES}"))]
    return [pytest.param(f, id=f.name.removeprefix("pi-mono__")) for f in files]


@pytest.mark.parametrize("fixture", _fixture_params())
def test_pi_reads_its_own_files_after_sessionward_migrated_and_extended_them(tmp_path, fixture):
    store = SessionStore(tmp_path / "store")
    (store.sessions_dir / "pi-fixture.jsonl").write_bytes(fixture.read_bytes())
    store.save({KEY: SessionRecord(KEY, "pi-fixture", 1.0, 1.0)})
    before = pi_read(fixture, tmp_path / "original")

    path = _turns(store.root, "one more")
    after = pi_read(path, tmp_path / "after")
    ours = build_context(parse_transcript(path.read_bytes()).entries)
    assert [(m["role"], m["text"]) for m in after["messages"]] == _texts(ours)
    assert [m["text"] for m in after["messages"][-2:]] == ["one more", "reply to one more"]
    # The migration changed pi's context only where docs/compat.md says, by line.
    expected_before, expected_migrated = PI_CONTEXT[fixture.name]
    assert len(before["messages"]) == expected_before
    assert len(after["messages"]) - 2 == expected_migrated
