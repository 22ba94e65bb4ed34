"""briefbot's command line: ingest, watch, ask, sources, brief, follow, eval, feedback, serve,
health, reindex, env-example."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.text import Text

from bot.cli import (
    ask,
    discord_sync,
    envfile,
    evaluate,
    follow,
    health,
    index,
    serve,
    state,
    watch,
)
from bot.cli.console import err
from retrieval import BriefbotError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False):
    from bot import logs
    from retrieval import SettingsError

    try:  # BRIEFBOT_LOG_FORMAT, BRIEFBOT_LOG_LEVEL; a bad setting is reported by the command
        level, fmt = state.settings().log_level, state.settings().log_format
    except SettingsError:
        level, fmt = "WARNING", "auto"
    logs.setup("INFO" if verbose and level != "DEBUG" else level, fmt)


# The commands, in the order `briefbot --help` lists them.
app.command()(index.ingest)
app.command()(ask.ask)
app.command()(index.sources)
app.command()(ask.brief)
app.add_typer(follow.app, name="follow")
app.command("eval")(evaluate.evaluate)
app.command()(watch.watch)
app.command()(ask.feedback)
app.command()(health.health)
app.command()(index.reindex)
app.command()(index.export)
app.command("env-example")(envfile.print_env_example)

serve_app = typer.Typer(help="Run the chat front ends.")
serve_app.callback(invoke_without_command=True)(serve.serve)
serve_app.command("slack")(serve.serve_slack)
serve_app.command("discord")(serve.serve_discord)
app.add_typer(serve_app, name="serve")

discord_cli = typer.Typer(help="Discord housekeeping.", no_args_is_help=True)
discord_cli.command("sync")(discord_sync.discord_sync)
app.add_typer(discord_cli, name="discord")


def main() -> None:
    os.umask(0o077)  # what briefbot writes (the index, caches, databases) is the user's alone
    try:
        app()
    except BriefbotError as exc:
        err.print(Text.assemble(("Error:", "red"), f" {exc}"))
        sys.exit(2)
