"""Running the Slack app: its settings, its Web API client, and the server around it.

The same app (bot/slack_app.py) serves Socket Mode (`run(..., http=False)`) and the Events API
over HTTP at /slack/events. `SlackAdapter` is what bot/service.py starts.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.conversation import Conversation
from bot.slack_app import PLATFORM, build_app, post_briefing
from retrieval import Briefing, SettingsError, is_http_url, read_settings

log = logging.getLogger(__name__)

Post = Callable[[str, Briefing | str], None]  # (channel, briefing or a one-line notice)


class SlackSettings(BaseSettings):
    """Slack's settings, from the environment (and .env). Secrets are SecretStr: never shown."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, use_attribute_docstrings=True
    )

    slack_bot_token: SecretStr = Field(SecretStr(""), validation_alias="SLACK_BOT_TOKEN")
    """The bot token (xoxb-…) from the app's OAuth page; empty: Slack is not served."""
    slack_app_token: SecretStr = Field(SecretStr(""), validation_alias="SLACK_APP_TOKEN")
    """The app-level token (xapp-…, connections:write) for Socket Mode."""
    slack_signing_secret: SecretStr = Field(SecretStr(""), validation_alias="SLACK_SIGNING_SECRET")
    """The signing secret, for Slack over HTTP (`briefbot serve slack --http`)."""
    slack_api_url: str = Field("https://slack.com/api/", validation_alias="BRIEFBOT_SLACK_API_URL")
    """The Slack Web API's base URL (proxies, tests)."""
    slack_allowed_channels: str = Field("", validation_alias="SLACK_ALLOWED_CHANNELS")
    """Comma-separated channel ids the bot answers in; empty: everywhere."""
    slack_host: str = Field("0.0.0.0", validation_alias="BRIEFBOT_SLACK_HOST")  # noqa: S104
    """The address `briefbot serve slack --http` listens on (--host): every interface, as a
    container needs; 127.0.0.1 behind a proxy on the same machine."""

    @field_validator("slack_host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not v or any(c.isspace() or c in "/[]" for c in v):
            raise ValueError("an address or host name to listen on (0.0.0.0, 127.0.0.1, ::)")
        return v

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not is_http_url(v.strip()):
            raise ValueError("must be an http:// or https:// URL")
        return v.strip()

    @property
    def allowed_channels(self) -> set[str]:
        return {c.strip() for c in self.slack_allowed_channels.split(",") if c.strip()}

    @property
    def configured(self) -> bool:
        return bool(self.slack_bot_token.get_secret_value())


def check_settings(settings: SlackSettings, http: bool) -> None:
    """Name the missing setting before anything connects."""
    if not settings.slack_bot_token.get_secret_value():
        raise SettingsError(
            "SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) from the app's OAuth page."
        )
    if not settings.slack_bot_token.get_secret_value().startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN should be a bot token, starting with xoxb-.")
    if http:
        if not settings.slack_signing_secret.get_secret_value():
            raise SettingsError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's requests "
                "(Basic Information → Signing Secret)."
            )
        return
    token = settings.slack_app_token.get_secret_value()
    if not token:
        raise SettingsError(
            "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with "
            "connections:write. Or serve over HTTP with --http."
        )
    if not token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN should be an app-level token, starting with xapp-.")


class CountedRetries(RetryHandler):
    """Another retry handler, unchanged, but each retry it makes is counted (`on_retry`)."""

    def __init__(self, inner: RetryHandler, on_retry: Callable[[], None]) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner
        self.on_retry = on_retry

    def can_retry(self, **kwargs: Any) -> bool:
        return self.inner.can_retry(**kwargs)

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self.on_retry()
        self.inner.prepare_for_next_attempt(**kwargs)


def make_client(settings: SlackSettings, on_retry: Callable[[], None] | None = None) -> WebClient:
    """The Web API client: rate-limited calls are retried (twice) after Slack's Retry-After,
    lost connections once; `on_retry` is told of each retry."""
    base_url = settings.slack_api_url.rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token.get_secret_value() or None, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    if on_retry is not None:
        client.retry_handlers = [CountedRetries(h, on_retry) for h in client.retry_handlers]
    return client


# What a request may cost before Bolt checks its signature. Slack's requests are a few kB (a
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


def run(
    settings: SlackSettings,
    conversation: Conversation,
    http: bool,
    port: int = 3000,
    host: str | None = None,
    on_start: Callable[[Post], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve Slack until interrupted or `stop` is set: Socket Mode, or the Events API over
    HTTP with `http`. The settings were checked, and the engine warmed, by whoever calls this
    (bot/service.py). `on_start(post)` runs once Slack has accepted the token;
    `post(channel, briefing)` posts."""
    stop = stop or threading.Event()
    try:
        app = build_app(settings, conversation)
    except BoltError as exc:
        raise SettingsError(f"Slack refused SLACK_BOT_TOKEN ({_api_error(exc)}).") from None
    except OSError as exc:
        raise SettingsError(f"Could not reach Slack at {settings.slack_api_url}: {exc}") from None
    if on_start is not None:
        client = app.client
        on_start(lambda channel, briefing: post_briefing(client, channel, briefing))
    if http:
        host = host or settings.slack_host
        try:
            server = serve_http(app, port, host)
        except OSError as exc:  # the port is taken, the address is not this machine's
            raise SettingsError(
                f"Cannot listen on {host} port {port} ({exc.strerror or exc}): see --host, "
                "--port and BRIEFBOT_SLACK_HOST."
            ) from None
        log.info(
            "serving Slack's Events API at http://%s:%d/slack/events", host, server.server_port
        )

        def stop_serving() -> None:  # serve_forever returns once `stop` is set
            stop.wait()
            server.shutdown()

        threading.Thread(target=stop_serving, name="slack-stop", daemon=True).start()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    log.info("connecting to Slack in Socket Mode")
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    handler.connect()
    try:
        stop.wait()
    finally:
        handler.close()


def _api_error(exc: BoltError) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SlackApiError):
        return str(cause.response.get("error"))
    return "auth.test failed"


class SlackAdapter:
    """Slack, as bot/service.py runs it: Socket Mode, or HTTP on `host` (default: the setting
    BRIEFBOT_SLACK_HOST) and `port` with `http`."""

    platform = PLATFORM

    def __init__(
        self,
        settings: SlackSettings | None = None,
        http: bool = False,
        port: int = 3000,
        host: str | None = None,
    ) -> None:
        self.settings = settings or read_settings(SlackSettings)
        self.http = http
        self.port = port
        self.host = host
        self._stop = threading.Event()

    @property
    def configured(self) -> bool:
        return self.settings.configured

    def check(self) -> None:
        check_settings(self.settings, self.http)

    def channel(self, value: str) -> str:
        """A schedule's channel: a Slack channel id (C…, G…) or name, as Slack takes it."""
        return value

    def run(self, conversation: Conversation, on_start: Callable[[Post], None]) -> None:
        run(
            self.settings,
            conversation,
            self.http,
            self.port,
            self.host,
            on_start=on_start,
            stop=self._stop,
        )

    def stop(self) -> None:
        self._stop.set()
