"""Running Discord until stopped: `DiscordAdapter` is what bot/service.py starts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.chat import Outbox
from bot.conversation import Conversation
from bot.discord import PLATFORM
from bot.discord.client import BriefbotClient, build_client
from bot.discord.errors import discord_errors
from bot.discord.settings import DiscordSettings, token_of
from retrieval import read_settings


async def run(
    settings: DiscordSettings,
    conversation: Conversation,
    on_start: Callable[[BriefbotClient], None] | None = None,
) -> None:
    """Connect to Discord and answer until stopped (Ctrl-C). The settings were checked, and the
    engine warmed, by whoever calls this (bot/service.py). `on_start(client)` runs once logged
    in, on the event loop (the service starts the scheduled briefings there)."""
    client = build_client(settings, conversation)
    client.on_start = on_start
    async with client:
        with discord_errors():
            await client.start(settings.discord_token.get_secret_value().strip())


class DiscordAdapter:
    """Discord, as bot/service.py runs it."""

    platform = PLATFORM

    def __init__(self, settings: DiscordSettings | None = None) -> None:
        self.settings = settings or read_settings(DiscordSettings)
        self._client: BriefbotClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    @property
    def configured(self) -> bool:
        return self.settings.configured

    @property
    def allowed_channels(self) -> frozenset[str]:
        """DISCORD_ALLOWED_CHANNELS: where the conversation answers on Discord."""
        return self.settings.allowed_channels

    def check(self) -> None:
        token_of(self.settings)

    def channel(self, value: str) -> str:
        """A schedule's channel: a Discord channel id, a number."""
        if not value.isdigit():
            raise ValueError("a channel id (a number)")
        return value

    def run(self, conversation: Conversation, on_start: Callable[[Outbox], None]) -> None:
        def started(client: BriefbotClient) -> None:
            self._client, self._loop = client, asyncio.get_running_loop()
            if self._stopped:  # stopped while connecting
                self._loop.create_task(client.close())
            on_start(client.outbox())

        try:
            asyncio.run(run(self.settings, conversation, started))
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        """Close the client on its own loop: `run` then returns."""
        self._stopped = True
        if self._client is not None and self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(10.0)
