"""`briefbot discord sync`: the app commands registered with Discord, on purpose."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.console import out
from retrieval import BriefbotError


def discord_sync(
    guild: Annotated[
        int | None,
        typer.Option("--guild", help="Register in this one server (and remove the global ones)"),
    ] = None,
    clear_global: Annotated[
        bool, typer.Option("--clear-global", help="Only remove the global commands")
    ] = False,
    clear_guild: Annotated[
        int | None, typer.Option("--clear-guild", help="Only remove the commands of this server")
    ] = None,
) -> None:
    """Register the app commands with Discord, on purpose (not at every start): globally, or in
    one server; never both, so that none shows twice."""
    import asyncio

    from bot.discord import admin as discord_app
    from retrieval import read_settings

    discord_settings = read_settings(discord_app.DiscordSettings)

    def place(where: int | None) -> str:
        return "the global set" if where is None else f"server {where}"

    if clear_global or clear_guild is not None:
        if guild is not None:
            raise BriefbotError("--guild registers; --clear-global / --clear-guild only remove.")
        places = ([None] if clear_global else []) + ([] if clear_guild is None else [clear_guild])
        removed = asyncio.run(discord_app.clear(discord_settings, places))
        for where, names in removed.items():
            listed = ", ".join("/" + n for n in names) or "nothing (none were registered)"
            out.print(f"Removed {listed} from {place(where)}.")
        return
    names = asyncio.run(discord_app.sync(discord_settings, guild))
    to = f"server {guild}" if guild else "all servers (global; may take up to an hour)"
    out.print(f"Synced {', '.join('/' + n for n in names)} to {to}.")
