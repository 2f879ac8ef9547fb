"""A spare owner sets its worker up while it stands by (``StandBy`` carries the provider
and batching), so its activation sends the worker nothing; and the Directory still learns
that worker's pid, although the worker said it was ready before the owner had a Directory
to tell. Driven with a stand-in Directory on simpleSystemBase (one process: a worker is an
actor here, and its pid is the test's)."""

from __future__ import annotations

import os
import uuid

import pytest
from thespian.actors import ActorSystem, ActorTypeDispatcher

from sessionward import RuntimeConfig, ScriptedProvider
from sessionward.actors.messages import ActivateOwner, OwnerActivated, OwnerWorkerStarted, StandBy
from sessionward.actors.owner import SessionOwner
from sessionward.actors.worker import TurnWorker


class _StandBy:
    def __init__(self, provider) -> None:
        self.provider = provider


class _Activate:
    def __init__(self, message: ActivateOwner) -> None:
        self.message = message


class _Seen:
    pass


class _Directory(ActorTypeDispatcher):
    """Plays the Directory's part: stands a spare by, activates it, and keeps what it says."""

    def receiveMsg__StandBy(self, msg, sender):
        self.seen: list = []
        self.owner = self.createActor(SessionOwner)
        self.send(self.owner, StandBy(msg.provider, 0.02, 256) if msg.provider is not None else StandBy())

    def receiveMsg__Activate(self, msg, sender):
        self.send(self.owner, msg.message)

    def receiveMsg_OwnerActivated(self, msg: OwnerActivated, sender):
        self.seen.append(("activated", msg.path))

    def receiveMsg_OwnerWorkerStarted(self, msg: OwnerWorkerStarted, sender):
        self.seen.append(("worker", msg.pid))

    def receiveMsg__Seen(self, msg, sender):
        self.send(sender, list(self.seen))


@pytest.fixture
def simple_system():
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    yield system
    system.shutdown()


@pytest.fixture
def start_worker_count(monkeypatch):
    """How many ``StartWorker`` messages workers took."""
    taken = []
    original = TurnWorker.receiveMsg_StartWorker

    def counting(self, msg, sender):
        taken.append(msg)
        return original(self, msg, sender)

    monkeypatch.setattr(TurnWorker, "receiveMsg_StartWorker", counting)
    return taken


def _activation(tmp_path, provider) -> ActivateOwner:
    path = tmp_path / f"{uuid.uuid4()}.jsonl"
    return ActivateOwner("agent:main:main", path.stem, str(path), RuntimeConfig(), provider)


@pytest.mark.parametrize("stood_by_with_provider", [True, False])
def test_a_spare_s_worker_is_set_up_once_and_its_pid_reaches_the_directory_at_activation(
        tmp_path, simple_system, start_worker_count, stood_by_with_provider):
    provider = ScriptedProvider(reply="ok")
    directory = simple_system.createActor(_Directory)
    simple_system.tell(directory, _StandBy(provider if stood_by_with_provider else None))
    assert len(start_worker_count) == (1 if stood_by_with_provider else 0), "set up while it stood by, or not"
    simple_system.tell(directory, _Activate(_activation(tmp_path, provider)))
    seen = simple_system.ask(directory, _Seen(), 10)
    assert len(start_worker_count) == 1, "one StartWorker in all: none again at activation when it stood by"
    fds = start_worker_count[0].inherited_fds
    assert (fds == ()) is stood_by_with_provider, "set up before any file was open, it inherits none of them"
    assert seen[0][0] == "activated"
    assert ("worker", os.getpid()) in seen, "the Directory learnt the worker's pid"


def test_a_spare_stood_by_with_another_provider_sets_its_worker_up_again_at_activation(
        tmp_path, simple_system, start_worker_count):
    directory = simple_system.createActor(_Directory)
    simple_system.tell(directory, _StandBy(ScriptedProvider(reply="old")))
    simple_system.tell(directory, _Activate(_activation(tmp_path, ScriptedProvider(reply="new"))))
    simple_system.ask(directory, _Seen(), 10)
    assert [m.provider.reply for m in start_worker_count] == ["old", "new"]
