"""Housekeeping with Discord (`briefbot discord sync`): registering the app commands, or removing
them, from a client logged in over HTTP only (no gateway)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from bot.discord.client import BriefbotClient, build_client
from bot.discord.errors import discord_errors
from bot.discord.registration import register, unregister
from bot.discord.settings import DiscordSettings, token_of
from retrieval import SettingsError

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def _logged_in(settings: DiscordSettings) -> AsyncIterator[BriefbotClient]:
    """A client logged in over HTTP only (no gateway), for housekeeping such as syncing."""
    token = token_of(settings)
    client = build_client(settings, None)
    client.sync_guild_on_start = False  # housekeeping does exactly what it is told to
    async with client:
        with discord_errors():
            await client.login(token)
            yield client


async def sync(settings: DiscordSettings, guild_id: int | None = None) -> list[str]:
    """Register the app commands with Discord: in one server (at once, and removed from the
    global set) or globally. Returns the names of the commands synced.

    Global registration is refused while DISCORD_GUILD_ID is set, since every start would
    then move the commands back to that server. Global changes can take a while to show.
    """
    if guild_id is None and settings.discord_guild_id is not None:
        raise SettingsError(
            f"DISCORD_GUILD_ID is set ({settings.discord_guild_id}), so every start keeps the"
            " commands in that server only: unset it to register them globally, or pass --guild."
        )
    async with _logged_in(settings) as client:
        names = await register(client.tree, guild_id)
    log.info("synced %s %s", ", ".join(names), f"to guild {guild_id}" if guild_id else "globally")
    return names


async def clear(
    settings: DiscordSettings, places: Sequence[int | None]
) -> dict[int | None, list[str]]:
    """Remove the app commands registered in each place (None: the global set, else a
    server's id); returns the names removed from each."""
    removed: dict[int | None, list[str]] = {}
    async with _logged_in(settings) as client:
        for place in places:
            removed[place] = await unregister(client, place)
    return removed
