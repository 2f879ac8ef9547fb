"""The bot's JSON API over HTTP, on loopback (stdlib ``ThreadingHTTPServer``).

====================================  =====================================================
request                               answer
====================================  =====================================================
``POST /channels/<id>/messages``      202 and the turn (``request_id``, ``lane``, ...);
  ``{"user": ..., "text": ...}``      429 when the session's queue is full
``POST /users/<user>/messages``       the same, for a direct message
  ``{"text": ...}``
``GET /turns/<request_id>``           200 and the turn; ``?wait=S`` waits up to S seconds
                                      (at most 60) for its final outcome
``GET /turns/<request_id>/stream``    server-sent events: ``delta`` events
                                      (``{"text": ...}``) as the reply streams, then one
                                      ``outcome`` event (the turn), then the end
``GET /status``                       the live sessions and the bot's counts
====================================  =====================================================

Errors are ``{"error": ...}`` with 400 (bad input), 404 (unknown channel, turn or path),
411/413 (body length), 503 (runtime closed). A completed reply counts as delivered when
it has been written to a client: the JSON answer of a finished ``GET /turns/...`` or the
``outcome`` event of a stream.

There is no authentication: keep the server on loopback (the default).
"""

from __future__ import annotations

import json
import re
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, unquote, urlsplit

from cattrs.preconf.json import make_converter

from sessionward.converter import to_json_data
from sessionward.errors import BadInputError, RuntimeClosedError, SessionwardError
from sessionward.examples.multilane_bot.bot import Bot, UnknownChannelError
from sessionward.examples.multilane_bot.delivery import Delivery

MAX_BODY_BYTES = 2 << 20
"""Largest request body read (bytes); the runtime refuses texts over its own limit."""
MAX_WAIT = 60.0
"""Longest ``?wait=`` honoured (seconds)."""
KEEPALIVE_EVERY = 15.0
"""A stream with no delta for this long sends an SSE comment, so proxies keep it open."""

_converter = make_converter()

_CHANNEL_POST = re.compile(r"/channels/([^/]+)/messages")
_USER_POST = re.compile(r"/users/([^/]+)/messages")
_TURN = re.compile(r"/turns/([0-9a-f]+)")
_TURN_STREAM = re.compile(r"/turns/([0-9a-f]+)/stream")


class _HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def turn_json(delivery: Delivery) -> dict[str, Any]:
    """A delivery's JSON form (its ``TurnView``, unstructured)."""
    return _converter.unstructure(delivery.view())


class BotServer(ThreadingHTTPServer):
    """The bot's HTTP API. ``start()`` serves in a background thread; ``close()`` stops.

    Args:
        bot: The bot to hand messages to.
        host: The interface; loopback by default (the API has no authentication).
        port: 0 for a free port.
    """

    daemon_threads = True
    # Every request thread must end on close: streams are finite (they end with the turn).
    block_on_close = False

    def __init__(self, bot: Bot, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__((host, port), _Handler)
        self.bot = bot
        self._thread: threading.Thread | None = None
        self._handling = 0
        self._idle = threading.Condition()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is being handled; False on timeout.

        A client can read its answer before the handler has recorded the delivery (that
        comes right after the write), so count deliveries only once this returns.
        """
        with self._idle:
            return self._idle.wait_for(lambda: self._handling == 0, timeout)

    def _request_started(self) -> None:
        with self._idle:
            self._handling += 1

    def _request_ended(self) -> None:
        with self._idle:
            self._handling -= 1
            self._idle.notify_all()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> BotServer:
        self._thread = threading.Thread(target=self.serve_forever, args=(0.1,), name="bot-http", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and close the socket. Idempotent."""
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self.server_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def handle_error(self, request, client_address) -> None:
        pass  # a client that hangs up mid-stream is normal; the handler already stopped


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: BotServer

    def log_message(self, *args: Any) -> None:  # requests are not logged: the demo has a view
        pass

    # -- dispatch --------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._dispatch(self._post)

    def do_GET(self) -> None:
        self._dispatch(self._get)

    def _dispatch(self, handler) -> None:
        self.server._request_started()
        try:
            handler(urlsplit(self.path))
        except _HttpError as exc:
            self._json(exc.status, {"error": str(exc)})
        except UnknownChannelError as exc:
            self._json(HTTPStatus.NOT_FOUND, {"error": str(exc)})
        except BadInputError as exc:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
        except RuntimeClosedError as exc:
            self._json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.server._request_ended()

    def _post(self, url) -> None:
        body = self._read_json()
        text = body.get("text")
        # Empty or whitespace-only text is refused by the bot (sessionward's one rule, as
        # InvalidMessageError: a 400 like every BadInputError).
        if not isinstance(text, str):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "'text' must be a string")
        bot = self.server.bot
        if match := _CHANNEL_POST.fullmatch(url.path):
            user = body.get("user")
            if not isinstance(user, str):
                raise _HttpError(HTTPStatus.BAD_REQUEST, "'user' must be a string")
            delivery = bot.post_to_channel(unquote(match[1]), user, text)
        elif match := _USER_POST.fullmatch(url.path):
            delivery = bot.post_direct(unquote(match[1]), text)
        else:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"no such path {url.path}")
        view = turn_json(delivery)
        view["turn_url"] = f"/turns/{delivery.request_id}"
        view["stream_url"] = f"/turns/{delivery.request_id}/stream"
        refused = delivery.done and not view["accepted"]
        self._json(HTTPStatus.TOO_MANY_REQUESTS if refused else HTTPStatus.ACCEPTED, view)

    def _get(self, url) -> None:
        if url.path == "/status":
            self._status()
        elif match := _TURN_STREAM.fullmatch(url.path):
            self._stream(self._delivery(match[1]))
        elif match := _TURN.fullmatch(url.path):
            delivery = self._delivery(match[1])
            wait = _wait_seconds(parse_qs(url.query).get("wait", ["0"])[0])
            if wait > 0:
                delivery.wait_done(wait)
            view = turn_json(delivery)
            self._json(HTTPStatus.OK, view)
            if view["status"] == "completed":
                delivery.mark_delivered()
        else:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"no such path {url.path}")

    # -- endpoints -------------------------------------------------------------------------

    def _stream(self, delivery: Delivery) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        # Close-delimited: the stream ends when the turn does.
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        index = 0
        while True:
            deltas, done = delivery.wait_deltas(index, KEEPALIVE_EVERY)
            for text in deltas:
                self._event("delta", {"text": text})
            index += len(deltas)
            if done:
                break
            if not deltas:
                self.wfile.write(b": keep-alive\n\n")
        view = turn_json(delivery)
        self._event("outcome", view)
        self.wfile.flush()
        if view["status"] == "completed":
            delivery.mark_delivered()

    def _status(self) -> None:
        rt = self.server.bot.runtime
        views = self.server.bot.views()
        counts: dict[str, int] = {}
        for view in views:
            counts[view.status] = counts.get(view.status, 0) + 1
        try:
            sessions = to_json_data(rt.sessions())
        except (SessionwardError, TimeoutError) as exc:
            raise _HttpError(HTTPStatus.SERVICE_UNAVAILABLE, str(exc)) from exc
        self._json(HTTPStatus.OK, {"sessions": sessions, "turns": counts})

    # -- helpers ---------------------------------------------------------------------------

    def _delivery(self, request_id: str) -> Delivery:
        delivery = self.server.bot.delivery(request_id)
        if delivery is None:
            raise _HttpError(HTTPStatus.NOT_FOUND, f"no turn {request_id}")
        return delivery

    def _read_json(self) -> dict[str, Any]:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise _HttpError(HTTPStatus.LENGTH_REQUIRED, "Content-Length is required")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True  # the body stays unread
            raise _HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"body over {MAX_BODY_BYTES} bytes")
        raw = self.rfile.read(int(length))
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as exc:
            raise _HttpError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise _HttpError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
        return body

    def _json(self, status: HTTPStatus, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, name: str, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False)
        self.wfile.write(f"event: {name}\ndata: {data}\n\n".encode())
        self.wfile.flush()


def _wait_seconds(raw: str) -> float:
    try:
        wait = float(raw)
    except ValueError as exc:
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"wait must be a number, got {raw!r}") from exc
    if not 0 <= wait <= MAX_WAIT:  # also refuses nan and inf
        raise _HttpError(HTTPStatus.BAD_REQUEST, f"wait must be from 0 to {MAX_WAIT:g} seconds")
    return wait
