"""Running the Slack app: its settings, its Web API client, and the server around it.

The same app (bot/slack_app.py) serves Socket Mode (`run(..., http=False)`) and the Events API
over HTTP at /slack/events. `SlackAdapter` is what bot/service.py starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
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


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up another request
    request_queue_size = 128  # Slack's requests come in bursts; the default of 5 refused some


class _LoggingHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s %s", self.address_string(), format % args)


def serve_http(app: App, port: int, host: str = "0.0.0.0") -> WSGIServer:
    """A threaded HTTP server for the app at /slack/events; call `serve_forever()` on it.

    Bolt verifies each request's signature and timestamp and answers 401 before any listener.
    """
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    return make_server(
        host,
        port,
        SlackRequestHandler(app),
        server_class=_ThreadingWSGIServer,
        handler_class=_LoggingHandler,
    )


def run(
    settings: SlackSettings,
    conversation: Conversation,
    http: bool,
    port: int = 3000,
    host: str = "0.0.0.0",
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
        server = serve_http(app, port, host)
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
    """Slack, as bot/service.py runs it: Socket Mode, or HTTP on `port` with `http`."""

    platform = PLATFORM

    def __init__(
        self, settings: SlackSettings | None = None, http: bool = False, port: int = 3000
    ) -> None:
        self.settings = settings or read_settings(SlackSettings)
        self.http = http
        self.port = port
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
        run(self.settings, conversation, self.http, self.port, on_start=on_start, stop=self._stop)

    def stop(self) -> None:
        self._stop.set()
