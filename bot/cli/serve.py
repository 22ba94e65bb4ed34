"""`briefbot serve`: the chat front ends, run by the service (bot/service.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import state
from bot.cli.console import err
from bot.cli.options import ConfigOption, IfConfigured

if TYPE_CHECKING:
    from bot.service import Adapter


def _serve(adapters: list[Adapter] | None, config: Path | None, if_configured: bool) -> None:
    """The service (bot/service.py): settings checked once, the engine warmed once, the
    schedules posted, every platform answered until stopped."""
    from bot.service import Service, adapters_for
    from retrieval import load_config

    cfg = load_config(config)
    adapters = adapters if adapters is not None else adapters_for(None)
    if if_configured:
        for a in adapters:
            if not a.configured:
                err.print(f"{a.platform}: no token set, not served (--if-configured).")
        adapters = [a for a in adapters if a.configured]
        if not adapters:
            return
    engine = state.make_engine()
    service = Service(engine, cfg, adapters)
    for platform, schedules in service.schedules.items():
        for s in schedules:
            err.print(
                f"Schedule {s.name!r}: {s.cron} ({s.timezone}) → {platform} {s.channel(platform)}",
                highlight=False,
            )
    state.ensure_seeded(engine)  # with its progress shown; the service then only loads the index
    service.run()
    if service.handed_back:
        # Their users were told to ask again; the threads still computing them (or waiting
        # on a platform) are abandoned, not waited for: exit now, as a clean stop.
        logging.shutdown()
        os._exit(0)


def serve(
    ctx: typer.Context, config: ConfigOption = None, if_configured: IfConfigured = False
) -> None:
    """Every chat platform whose token is set (Slack in Socket Mode, Discord), with the
    scheduled briefings of the configuration file."""
    if ctx.invoked_subcommand is None:
        _serve(None, config, if_configured)


def serve_slack(
    http: Annotated[bool, typer.Option("--http", help="Serve HTTP instead of Socket Mode")] = False,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    host: Annotated[
        str | None,
        typer.Option(
            help="With --http, the address to listen on (default: BRIEFBOT_SLACK_HOST, 0.0.0.0)"
        ),
    ] = None,
    config: ConfigOption = None,
    if_configured: IfConfigured = False,
) -> None:
    """Slack: Socket Mode (SLACK_BOT_TOKEN, SLACK_APP_TOKEN), or HTTP (SLACK_SIGNING_SECRET).

    Scheduled briefings with a slack_channel in the configuration file are posted from here."""
    from bot.slack.adapter import SlackAdapter

    _serve([SlackAdapter(http=http, port=port, host=host)], config, if_configured)


def serve_discord(config: ConfigOption = None, if_configured: IfConfigured = False) -> None:
    """Discord (DISCORD_TOKEN; DISCORD_GUILD_ID: commands in that one server only, set at start).

    Scheduled briefings with a discord_channel in the configuration file are posted from here."""
    from bot.discord.adapter import DiscordAdapter

    _serve([DiscordAdapter()], config, if_configured)
