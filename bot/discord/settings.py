"""Discord's settings, from the environment (and .env), and the token's check."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.conversation import channel_ids
from retrieval import SettingsError


class DiscordSettings(BaseSettings):
    """Discord's settings, from the environment (and .env). The token is a SecretStr."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, use_attribute_docstrings=True
    )

    discord_token: SecretStr = Field(SecretStr(""), validation_alias="DISCORD_TOKEN")
    """The bot's token (Developer Portal → Bot); empty: Discord is not served."""
    discord_guild_id: int | None = Field(None, validation_alias="DISCORD_GUILD_ID")
    """A server id: the app commands are synced to that one server at start."""
    discord_allowed_channels: str = Field("", validation_alias="DISCORD_ALLOWED_CHANNELS")
    """Comma-separated channel ids the bot answers in (a thread in one of them too); empty:
    everywhere."""

    @field_validator("discord_allowed_channels")
    @classmethod
    def _channels(cls, v: str) -> str:
        if not all(c.isdigit() for c in channel_ids(v)):
            raise ValueError("comma-separated channel ids, each a number")
        return v

    @property
    def allowed_channels(self) -> frozenset[str]:
        return channel_ids(self.discord_allowed_channels)

    @property
    def configured(self) -> bool:
        return bool(self.discord_token.get_secret_value().strip())


def token_of(settings: DiscordSettings) -> str:
    token = settings.discord_token.get_secret_value().strip()
    if not token:
        raise SettingsError(
            "DISCORD_TOKEN is not set: create a bot in the Discord developer portal and set it"
            " (see docs/discord.md)."
        )
    if not token.isascii() or not token.isprintable() or " " in token:
        # Else aiohttp refuses the header with a traceback, or Discord says only "401".
        raise SettingsError(
            "DISCORD_TOKEN has a space or a character no Discord token has:"
            " copy it again from the developer portal."
        )
    return token
