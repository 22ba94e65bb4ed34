"""Registering the app commands with Discord: in one server or globally, never both."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

log = logging.getLogger(__name__)


async def register(tree: app_commands.CommandTree[Any], guild_id: int | None) -> list[str]:
    """Register the app commands in one server or globally, never both: registering in a
    server removes the global ones, which would show there twice. Returns the names."""
    if guild_id is None:
        synced = await tree.sync()
    else:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
        removed = await unregister(tree.client, None)
        if removed:
            log.warning(
                "removed the global commands (%s), which showed twice in server %s;"
                " to register globally, unset DISCORD_GUILD_ID and run `briefbot discord sync`",
                ", ".join(removed),
                guild_id,
            )
    return [c.name for c in synced]


async def unregister(client: discord.Client, guild_id: int | None) -> list[str]:
    """Remove every app command registered globally (None) or in one server; returns their
    names (none: nothing was registered there, and nothing is sent)."""
    http, app_id = client.http, client.application_id
    assert app_id is not None  # set by login
    if guild_id is None:
        existing = await http.get_global_commands(app_id)
        if existing:
            await http.bulk_upsert_global_commands(app_id, [])
    else:
        existing = await http.get_guild_commands(app_id, guild_id)
        if existing:
            await http.bulk_upsert_guild_commands(app_id, guild_id, [])
    return [c["name"] for c in existing]
