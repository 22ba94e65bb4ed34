"""Slack's settings, from the environment (and .env), and the check made before connecting."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.conversation import channel_ids
from retrieval import SettingsError, is_http_url


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
    """Comma-separated conversation ids the bot answers in (C…, G…, D… for a DM); empty:
    everywhere."""
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
    def allowed_channels(self) -> frozenset[str]:
        return channel_ids(self.slack_allowed_channels)

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
