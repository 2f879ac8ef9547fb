"""Authenticated frames end to end: a rogue pickle runs nothing, clients with the secret work,
a wrong secret is a typed error; and the pieces of the transport that need no actor system."""

from __future__ import annotations

import hashlib
import inspect
import json
import pickle
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import run_cli, wait_for

from sessionward.errors import WrongSecretError
from sessionward.hosting import frames, transport
from sessionward.hosting.secret import SECRET_ENV
from sessionward.hosting.system import free_port, install_thespian_workarounds
from sessionward.operations.admin import AdminClient
from sessionward.runtime import Runtime

ROGUE = Path(__file__).parent / "rogue_client.py"
REJECTED = "sessionward.transport session=- turn=-: rejected a frame from 127.0.0.1:"


def _rogue(port: int, marker: Path) -> dict:
    done = subprocess.run([sys.executable, str(ROGUE), "127.0.0.1", str(port), str(marker)],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    outcome = json.loads(done.stdout)
    assert done.returncode == outcome["exit"]
    return outcome


def _rejections(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if REJECTED in line] if log.exists() else []


def test_a_crafted_pickle_sent_to_a_daemon_runs_nothing_is_logged_once_and_clients_still_work(daemon, tmp_path):
    store, info = daemon
    marker = tmp_path / "marker"
    outcome = _rogue(info.port, marker)
    assert outcome["result"] == "rejected"
    log = Path(info.log_file)
    lines = wait_for(lambda: _rejections(log), 30, "the daemon's rejection line")
    assert len(lines) == 1 and "no sessionward MAC" in lines[0]
    assert not marker.exists()
    # the CLI and AdminClient hold the store's secret and still work
    status = run_cli("status", "--store", str(store))
    assert status.returncode == 0, status.stderr
    with AdminClient(store) as client:
        assert client.submit("agent:main:main", "hello").result(timeout=60).status.value == "completed"
    assert not marker.exists()
    assert len(_rejections(log)) == 1


def test_a_crafted_pickle_sent_to_an_embedded_runtimes_admin_port_runs_nothing_and_is_logged_once(tmp_path):
    marker = tmp_path / "marker"
    log = tmp_path / "rt.log"
    with Runtime(tmp_path / "store", base="tcp", log_file=log, recovery=False) as rt:
        assert _rogue(rt.port, marker)["result"] == "rejected"
        lines = wait_for(lambda: _rejections(log), 30, "the runtime's rejection line")
        assert len(lines) == 1
        assert rt.submit("agent:main:main", "hello").result(timeout=60).status.value == "completed"
    assert not marker.exists()
    assert len(_rejections(log)) == 1


def test_the_same_crafted_pickle_runs_code_in_a_system_without_a_secret(tmp_path):
    """The exploit is real: without authentication (plain upstream behaviour) it creates the marker."""
    from thespian.actors import ActorSystem

    install_thespian_workarounds()
    marker = tmp_path / "marker"
    port = free_port()
    system = ActorSystem("multiprocTCPBase", {"Admin Port": port}, transientUnique=True)
    try:
        _rogue(port, marker)
        wait_for(marker.exists, 30, "the marker the unpickled frame creates")
    finally:
        system.shutdown()


def test_a_client_with_a_wrong_secret_gets_a_typed_error_and_the_daemon_logs_it(daemon, tmp_path, monkeypatch):
    store, info = daemon
    monkeypatch.setenv(SECRET_ENV, "w" * 40)
    with pytest.raises(WrongSecretError, match="holds another secret"):
        AdminClient(store)
    wrong = run_cli("status", "--store", str(store), env={**__import__("os").environ, SECRET_ENV: "w" * 40})
    assert wrong.returncode != 0 and "holds another secret" in wrong.stderr
    lines = wait_for(lambda: len(_rejections(Path(info.log_file))) >= 2 and _rejections(Path(info.log_file)),
                     30, "the daemon's two rejection lines")
    assert all("bad MAC" in line for line in lines)


# -- the pieces, without an actor system ----------------------------------------------------


def test_after_install_thespians_receive_buffers_return_sealed_boxes_and_never_unpickle(tmp_path):
    from thespian.system.transport import TCPTransport as tcp_module  # noqa: N813
    from thespian.system.transport.streamBuffer import ReceiveBuffer

    sys.path.insert(0, str(ROGUE.parent))
    try:
        import rogue_client
    finally:
        sys.path.remove(str(ROGUE.parent))
    marker = tmp_path / "marker"
    install_thespian_workarounds()
    buffer = ReceiveBuffer(tcp_module.serializer.loads)  # as TCPTransport.py builds every one
    buffer.addMore(rogue_client.crafted_frame(str(marker)))
    box, extra = buffer.completed()
    assert isinstance(box, transport.Sealed) and extra == b""
    assert not marker.exists()


# Thespian 4.0.1 source of what AuthenticatedTCPTransport overrides or relies on. A change
# here means the copies in sessionward/hosting/transport.py must be re-read against the new code.
UPSTREAM = {
    "TCPTransport._addedDataToIncoming": "7e2ca3a3f386e2be",
    "TCPTransport._check_XMIT_4_done": "61163ba5b1d07029",
    "TCPTransport._next_XMIT_3": "5f5ff30046f7a92e",
    "TCPIncoming_Common.__init__": "ff186a77972acd02",
    "TCPTransport.external_transport_clone": "7acdff9fe825098a",
    "TCPTransport._acceptNewIncoming": "eb6c9359870cc547",
    # one message at a time to each address, in order (transmit_order.py)
    "TCPTransport._next_XMIT_1": "f25e978fdce5d56d",
    "TCPTransport._finishIntent": "bd2b2135d3e1a7f3",
    "TCPTransport._processIntentTimeouts": "c61b40adc4d5f5a7",
    "TCPTransport._nextTransmitStepCheck": "58074f46110391a9",
    "TransmitIntent.timeToRetry": "7ff5751f62ebc0b4",
    "TransmitIntent.delay": "6f06cff4e25dbd98",
    "TransmitIntent.awaitingTXSlot": "f02112bd6f517e1b",
    # described only when a log line is written (install)
    "TransmitIntent.identify": "373a684bcc2b967c",
    "ReceiveEnvelope.identify": "aae2a5250024f877",
    "ReceiveEnvelope.__str__": "96acb7f5855cac01",
    # the loop (transport_loop.py)
    "TCPTransport._runWithExpiry": "5a6c512c48e9fd0a",
}


def test_the_thespian_code_the_transport_copies_is_the_code_it_was_written_against():
    from thespian.system.transport import TCPTransport as tcp_module  # noqa: N813

    for name, digest in UPSTREAM.items():
        cls, _, attr = name.partition(".")
        # upstream's, as taken before install() replaced it
        function = transport.REPLACED.get(name) or getattr(getattr(tcp_module, cls), attr)
        source = inspect.getsource(function)
        assert hashlib.sha256(source.encode()).hexdigest()[:16] == digest, name
    source = inspect.getsource(tcp_module)
    # every deserialization in TCPTransport.py goes through the module's serializer global
    assert source.count("serializer.loads") == 4 and "pickle.loads" not in source


def _one_reply_server(reply: bytes) -> int:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve():
        with server:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return port


@pytest.mark.parametrize(("reply", "verdict"), [
    (frames.on_wire(frames.REJECTED_NOTICE), "rejected"),
    (frames.on_wire(pickle.dumps("ACK+DATAERR")), "unauthenticated"),
    (frames.on_wire(frames.seal(frames.frame_key(b"x" * 32), pickle.dumps("ACK"))), "ok"),
    (frames.on_wire(frames.seal(frames.frame_key(b"y" * 32), pickle.dumps("ACK"))), "rejected"),
    (b"", "no answer"),
])
def test_the_probe_reads_the_servers_answer_without_unpickling_unverified_bytes(reply, verdict):
    auth = transport.TransportAuth.from_secret(b"x" * 32)
    assert transport.probe("127.0.0.1", _one_reply_server(reply), auth, timeout=10) == verdict


def test_the_transport_auth_never_shows_its_key():
    auth = transport.TransportAuth.from_secret(b"s" * 32)
    assert auth.key.hex() not in repr(auth) and "key" not in repr(auth)


class _Counted:
    """A message that counts how often it is formatted."""

    formatted = 0

    def __repr__(self) -> str:
        _Counted.formatted += 1
        return "_Counted()"


def test_a_message_is_described_only_when_a_log_line_is_written_and_then_as_upstream_does():
    from thespian.actors import ActorAddress
    from thespian.system.transport import ReceiveEnvelope, TransmitIntent

    install_thespian_workarounds()
    envelope = ReceiveEnvelope(ActorAddress(None), _Counted())
    intent = TransmitIntent(ActorAddress(None), _Counted())
    _Counted.formatted = 0
    described = [envelope.identify(), intent.identify()]  # what "ACTOR got %s" and the like get
    assert _Counted.formatted == 0
    assert str(described[0]) == transport.REPLACED["ReceiveEnvelope.identify"](envelope)
    timers = re.compile(r"\d+:\d\d:\d\d(\.\d+)?")  # its time left, which moves on meanwhile
    assert timers.sub("T", str(described[1])) == timers.sub("T", transport.REPLACED["TransmitIntent.identify"](intent))
    assert "_Counted()" in str(described[0]) and "_Counted()" in "%s" % described[1]  # noqa: UP031 - as thesplog formats
    assert str(envelope) == str(described[0])  # a str, as upstream's __str__ returned
    assert str(intent).startswith("************* TransportIntent(")
