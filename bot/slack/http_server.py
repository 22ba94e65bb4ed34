"""The HTTP server for Slack's Events API (`briefbot serve slack --http`): a request is refused
on its headers before its body is read, its body must come within a deadline, and a connection
that sends nothing is closed; Bolt then verifies the signature before any listener.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App

log = logging.getLogger(__name__)

# large interaction payload tens of kB): a body over 1 MB is refused unread (a 200 MB body once
# took the server from 266 MB to 1.29 GB before its 401). Headers and body must arrive within
# the deadline, and a connection that sends nothing is closed after the idle timeout (300
# half-open connections were held for good).
MAX_BODY_BYTES = 1024 * 1024
READ_DEADLINE_S = 10.0
IDLE_TIMEOUT_S = 10.0
MAX_CLOCK_SKEW_S = 5 * 60  # Slack's (and Bolt's) window for X-Slack-Request-Timestamp
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up another request
    request_queue_size = 128  # Slack's requests come in bursts; the default of 5 refused some

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away or timed out is not the server's error: no traceback.
        log.debug("connection from %s failed", client_address, exc_info=True)


class _LoggingHandler(WSGIRequestHandler):
    timeout = IDLE_TIMEOUT_S  # each read of the connection (socket timeout)

    def handle(self) -> None:
        try:
            super().handle()
        except (TimeoutError, ConnectionError) as exc:
            log.debug("%s: connection closed (%s)", self.address_string(), type(exc).__name__)

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["briefbot.socket"] = self.connection  # for the body's deadline
        return environ

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s %s", self.address_string(), format % args)


def _answer(start_response: Callable[..., Any], status: str, text: str) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(
        status,
        # wsgiref closes the connection after each request: the unread body goes with it.
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _refusal(environ: dict[str, Any], max_body: int) -> tuple[str, str] | None:
    """Why a POST is refused on its headers alone (status, text), or None: the body's size,
    the timestamp's age and the signature's shape, all before a byte of the body is read."""
    length = environ.get("CONTENT_LENGTH") or ""
    if environ.get("HTTP_TRANSFER_ENCODING"):
        return "411 Length Required", "a Content-Length is required (no chunked bodies)"
    if not length.isdigit():
        return "411 Length Required", "a Content-Length is required"
    if int(length) > max_body:
        return "413 Content Too Large", f"the body is larger than {max_body} bytes"
    stamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_CLOCK_SKEW_S:
        return "401 Unauthorized", "a missing or stale X-Slack-Request-Timestamp"
    if not _SIGNATURE.fullmatch(environ.get("HTTP_X_SLACK_SIGNATURE", "")):
        return "401 Unauthorized", "a missing or malformed X-Slack-Signature"
    return None


def _read_body(environ: dict[str, Any], length: int, deadline_s: float) -> bytes | None:
    """The body's `length` bytes, or None when they do not all come within `deadline_s`."""
    stream = environ["wsgi.input"]
    sock: socket.socket | None = environ.get("briefbot.socket")
    deadline = time.monotonic() + deadline_s
    chunks, got = [], 0
    try:
        while got < length:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if sock is not None:
                sock.settimeout(min(left, IDLE_TIMEOUT_S))
            # read1: one read of the socket at most, so that the deadline is checked between
            # the pieces of a body sent a byte at a time.
            chunk = stream.read1(min(length - got, 64 * 1024))
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
    except (TimeoutError, ConnectionError):
        return None
    return b"".join(chunks)


def guarded(
    app: WSGIApp, max_body: int = MAX_BODY_BYTES, read_deadline_s: float = READ_DEADLINE_S
) -> WSGIApp:
    """`app` behind the checks a request must pass before its body is read (`_refusal`), its
    body read within a deadline and handed on whole."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            if refused := _refusal(environ, max_body):
                log.info("refused a request before reading it: %s", refused[1])
                return _answer(start_response, *refused)
            body = _read_body(environ, int(environ["CONTENT_LENGTH"]), read_deadline_s)
            if body is None:
                log.info("refused a request whose body did not come in %g s", read_deadline_s)
                return _answer(start_response, "408 Request Timeout", "the body came too slowly")
            environ["wsgi.input"] = io.BytesIO(body)
        return app(environ, start_response)

    return serve


def serve_http(
    app: App,
    port: int,
    host: str = "0.0.0.0",  # noqa: S104 (a container's default; BRIEFBOT_SLACK_HOST)
    idle_timeout_s: float = IDLE_TIMEOUT_S,
    read_deadline_s: float = READ_DEADLINE_S,
) -> WSGIServer:
    """A threaded HTTP server for the app at /slack/events; call `serve_forever()` on it.

    A request is refused on its headers before its body is read (too large, no length, a stale
    timestamp, a malformed signature), its body must come within `read_deadline_s`, and a
    connection that sends nothing is closed after `idle_timeout_s`. Bolt then verifies the
    signature itself and answers 401 before any listener.
    """
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    handler = type("Handler", (_LoggingHandler,), {"timeout": idle_timeout_s})
    return make_server(
        host,
        port,
        guarded(SlackRequestHandler(app), read_deadline_s=read_deadline_s),
        server_class=_ThreadingWSGIServer,
        handler_class=handler,
    )
