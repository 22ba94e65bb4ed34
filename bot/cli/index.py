"""What goes into the index and what is in it: ingest, sources, reindex, export."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli import state
from bot.cli.console import err, out
from bot.cli.printers import print_feed_report, print_report
from bot.cli.progress import IngestBar
from retrieval import BriefbotError, shown


def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders (.txt .md .jsonl .jsonl.gz .html)"),
    ] = None,
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="An RSS or Atom feed URL (repeatable): ingest its new items"),
    ] = None,
) -> None:
    """Index articles. Unchanged articles are skipped; changed ones are replaced."""
    if not paths and not feed:
        raise BriefbotError("Nothing to ingest: give files or folders, or --feed URL.")
    from retrieval import check_feed_url

    for url in feed or []:
        check_feed_url(url, "--feed")  # a malformed URL is refused before any work
    engine = state.make_engine()
    failed = False
    if paths:
        with IngestBar("Ingesting") as bar:
            report = engine.ingest(paths, bar)  # a missing path stops before any write
        print_report(report)
        failed = bool(report.failures)
    for url in feed or []:
        feed_report = engine.poll_feed(url)
        print_feed_report(feed_report)
        failed |= not feed_report.ok
    if failed:
        raise typer.Exit(1)


def sources(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What is indexed: articles, chunks, date range, per source."""
    engine = state.make_engine()
    summary = engine.sources()
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    from rich.table import Table

    out.print(
        f"{summary['articles']} articles · {summary['chunks']} chunks · "
        f"{summary['first'] or '?'} → {summary['last'] or '?'}"
    )
    table = Table("source", "articles", "chunks")
    for row in summary["sources"]:
        table.add_row(row["source"], str(row["articles"]), str(row["chunks"]))
    out.print(table)


def reindex(
    drop_old: Annotated[
        bool, typer.Option("--drop-old", help="Delete the old collection after the switch")
    ] = False,
) -> None:
    """Rebuild the index into a new collection with these settings' model and chunking, beside
    the one serving, then switch every process to it at once. Killed half-way, the old one
    goes on serving; run again, it resumes."""
    engine = state.make_engine()
    with IngestBar("Reindexing") as bar:
        report = engine.reindex(bar, drop_old=drop_old)
    err.print(
        f"{report.old} → {report.new}: {report.articles} articles embedded"
        + (f", {report.unchanged} already there" if report.unchanged else "")
        + (f", {report.caught_up} written meanwhile copied" if report.caught_up else "")
        + f" · {report.chunks} chunks in {report.seconds:.1f} s; switched."
    )
    if report.dropped:
        err.print(f"{report.old} deleted.")
    elif report.old != report.new:
        err.print(f"{report.old} is kept: `briefbot reindex --drop-old` next time deletes it.")


def export(
    path: Annotated[Path, typer.Argument(help="The file to write (.jsonl, or .jsonl.gz)")],
) -> None:
    """Write every indexed article to a JSON-lines file that `briefbot ingest` reads back (with
    another BRIEFBOT_CHROMA_URL, say: how an index moves from embedded Chroma to a server)."""
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise BriefbotError(f"{shown(path)}: the name should end in .jsonl or .jsonl.gz")
    if not path.parent.is_dir():
        raise BriefbotError(f"{shown(path.parent)}: no such folder")
    n = state.make_engine().export(path)
    err.print(f"{n} articles written to {shown(path)}")
