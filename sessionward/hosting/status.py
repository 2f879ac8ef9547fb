"""Thespian's own view of a running actor system: its status, and its live actors by class.

Kept here, beside ``system``, because it speaks Thespian's internal status protocol
(``Thespian_StatusReq``) to the admin and to every actor it reports; the operations layer
(``AdminClient.actors``) gets a plain record back.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
from thespian.actors import ActorAddress, ActorExitRequest
from thespian.system.messages.status import Thespian_ActorStatus, Thespian_StatusReq, Thespian_SystemStatus
from thespian.system.transport.IPBase import TCPv4ActorAddress

from sessionward.errors import CoordinationError

MOST_ACTORS = 100_000
"""The walk over the actor tree stops after this many actors (a bound, not an expectation)."""


@attrs.frozen
class ActorsView:
    """Thespian's own view of the system: its status and live actors counted by class."""

    admin_address: str
    in_shutdown: bool
    global_actors: dict[str, str]
    actors_by_class: dict[str, int]
    capabilities: dict[str, str]


def actors_view(system: Any, host: str, port: int, timeout: float) -> ActorsView:
    """Ask the admin at ``host:port`` for its status, then every actor below it for its own.

    Raises:
        CoordinationError: the admin did not answer within ``timeout``.
    """
    admin = ActorAddress(TCPv4ActorAddress(host, port, external=True))
    with system.private() as ctx:
        status = ctx.ask(admin, Thespian_StatusReq(), timeout)
        if not isinstance(status, Thespian_SystemStatus):
            raise CoordinationError("the actor system did not answer a status request")
        counts: Counter[str] = Counter()
        todo = list(status.childActors)
        seen = 0
        while todo and seen < MOST_ACTORS:
            address = todo.pop()
            seen += 1
            reply = ctx.ask(address, Thespian_StatusReq(), timeout)
            if isinstance(reply, Thespian_ActorStatus):
                counts[reply.actorClass.rsplit(".", 1)[-1]] += 1
                todo.extend(reply.childActors)
    caps = {k: str(v) for k, v in status.capabilities.items()
            if k in ("Admin Port", "Thespian Version", "Thespian ActorSystem Name", "Python Version")}
    return ActorsView(str(status.adminAddress), bool(status.inShutdown),
                      {k: str(v) for k, v in status.globalActors.items()}, dict(counts), caps)


def stop_actor(ctx: Any, address: Any) -> None:
    """Ask the actor at ``address`` to exit (Thespian's ``ActorExitRequest``)."""
    ctx.tell(address, ActorExitRequest())
