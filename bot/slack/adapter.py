"""Running Slack: the app (bot/slack/app.py) in Socket Mode (`run(..., http=False)`) or over
HTTP at /slack/events (bot/slack/http_server.py), until stopped. `SlackAdapter` is what
bot/service.py starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.error import BoltError
from slack_sdk.errors import SlackApiError

from bot.chat import Outbox
from bot.conversation import Conversation
from bot.slack import PLATFORM
from bot.slack.app import build_app
from bot.slack.http_server import serve_http
from bot.slack.listeners import Listeners
from bot.slack.replies import outbox
from bot.slack.settings import SlackSettings, check_settings
from retrieval import SettingsError, read_settings

log = logging.getLogger(__name__)


def run(
    settings: SlackSettings,
    conversation: Conversation,
    http: bool,
    port: int = 3000,
    host: str | None = None,
    on_start: Callable[[Outbox], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve Slack until interrupted or `stop` is set: Socket Mode, or the Events API over
    HTTP with `http`. The settings were checked, and the engine warmed, by whoever calls this
    (bot/service.py). `on_start(outbox)` runs once Slack has accepted the token and the app is
    connected (Socket Mode) or listening (HTTP): the outbox posts briefings and follows with
    the app's client."""
    stop = stop or threading.Event()
    listeners = Listeners(conversation)
    try:
        try:
            app = build_app(settings, conversation, listeners=listeners)
        except BoltError as exc:
            raise SettingsError(f"Slack refused SLACK_BOT_TOKEN ({_api_error(exc)}).") from None
        except OSError as exc:
            url = settings.slack_api_url
            raise SettingsError(f"Could not reach Slack at {url}: {exc}") from None
        serve = _listen(app, settings, port, host) if http else _connect(app, settings)
        if on_start is not None:
            on_start(outbox(app.client))
        serve(stop)
    finally:
        listeners.close(wait=False)  # the work under way was drained (or handed back) before


def _listen(
    app: App, settings: SlackSettings, port: int, host: str | None
) -> Callable[[threading.Event], None]:
    """The HTTP server, listening: a SettingsError if it cannot. Returns what serves until
    `stop` is set."""
    host = host or settings.slack_host
    try:
        server = serve_http(app, port, host)
    except OSError as exc:  # the port is taken, the address is not this machine's
        raise SettingsError(
            f"Cannot listen on {host} port {port} ({exc.strerror or exc}): see --host, "
            "--port and BRIEFBOT_SLACK_HOST."
        ) from None
    log.info("serving Slack's Events API at http://%s:%d/slack/events", host, server.server_port)

    def serve(stop: threading.Event) -> None:
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

    return serve


def _connect(app: App, settings: SlackSettings) -> Callable[[threading.Event], None]:
    """Connected in Socket Mode. Returns what stays connected until `stop` is set."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    log.info("connecting to Slack in Socket Mode")
    handler = SocketModeHandler(app, settings.slack_app_token.get_secret_value())
    handler.connect()

    def serve(stop: threading.Event) -> None:
        try:
            stop.wait()
        finally:
            handler.close()

    return serve


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

    @property
    def allowed_channels(self) -> frozenset[str]:
        """SLACK_ALLOWED_CHANNELS: where the conversation answers on Slack."""
        return self.settings.allowed_channels

    def check(self) -> None:
        check_settings(self.settings, self.http)

    def channel(self, value: str) -> str:
        """A schedule's channel: a Slack channel id (C…, G…) or name, as Slack takes it."""
        return value

    def run(self, conversation: Conversation, on_start: Callable[[Outbox], None]) -> None:
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
