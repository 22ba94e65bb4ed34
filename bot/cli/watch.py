"""`briefbot watch`: the configured feeds and folders polled on an interval, run by the service
(bot/service.py) as `serve` is."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli import state
from bot.cli.console import err
from bot.cli.options import ConfigOption, IfConfigured
from bot.cli.printers import print_round


def watch(
    config: ConfigOption = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="A feed URL to poll (repeatable)")
    ] = None,
    folder: Annotated[
        list[Path] | None, typer.Option("--folder", help="A folder to poll (repeatable)")
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="Between rounds: 90s, 15m, 2h (default: 15m)")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit")] = False,
    if_configured: IfConfigured = False,
) -> None:
    """Poll the configured feeds and folders on an interval and ingest what is new."""
    from bot.service import Watch
    from retrieval import WatchConfig, check_feed_url, load_config, parse_interval

    cfg = load_config(config).watch_config()
    cfg = WatchConfig(
        feeds=tuple(dict.fromkeys([*cfg.feeds, *(feed or [])])),
        folders=tuple(dict.fromkeys([*cfg.folders, *(folder or [])])),
        interval_s=parse_interval(interval, "--interval") if interval else cfg.interval_s,
    )
    for url in feed or []:
        check_feed_url(url, "--feed")
    if if_configured and not cfg.feeds and not cfg.folders:
        err.print("No feeds or folders configured: nothing to watch (--if-configured).")
        return
    service = Watch(state.make_engine(), cfg)  # the data directory is checked before output
    n, m = len(cfg.feeds), len(cfg.folders)
    err.print(
        f"Watching {n} feed{'s' * (n != 1)} and {m} folder{'s' * (m != 1)}"
        + ("" if once else f", every {cfg.interval_s:g} s (Ctrl-C to stop)"),
        highlight=False,
    )
    if once:
        report = service.round()
        print_round(report)
        if any(not f.ok for f in report.feeds) or (report.folders and report.folders.failures):
            raise typer.Exit(1)
        return
    # Run as the service runs the chat platforms: /health, SIGTERM or Ctrl-C (which end the
    # watch after the round under way).
    service.run(print_round)
