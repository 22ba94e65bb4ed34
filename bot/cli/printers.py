"""The reports of ingesting (files, a feed, a round of the watch), printed on stderr."""

from __future__ import annotations

from rich.text import Text

from bot.cli.console import FAIL, err
from retrieval import FeedReport, IngestReport, RoundReport


def print_report(report: IngestReport) -> None:
    err.print(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged · "
        f"{report.chunks} chunks in {report.seconds:.1f} s"
    )
    for r in report.repaired:  # what an ingest that did not finish had left
        err.print(f"  repaired: {r}", markup=False, highlight=False)
    if report.skipped:
        err.print(f"{len(report.skipped)} skipped:")
        for s in report.skipped:
            err.print(f"  {s}")
    if report.failures:
        err.print(Text(f"{len(report.failures)} failed:", style="red"))
        for f in report.failures:
            err.print(Text.assemble("  ", FAIL, f))


def print_feed_report(report: FeedReport) -> None:
    if report.feed_error:
        err.print(Text.assemble(FAIL, f"{report.url}: {report.feed_error} (tried again next time)"))
    elif report.not_modified:
        err.print(f"{report.url}: not modified")
    else:
        err.print(f"{report.url}: {report.new_items} new items · {report.ingested} ingested")
    if report.feed_error and report.ingested:
        err.print(f"  {report.ingested} pending items ingested")
    for f in report.failures[1 if report.feed_error else 0 :]:
        err.print(Text.assemble("  ", FAIL, f"{f} (tried again next time)"))


def print_round(report: RoundReport) -> None:
    for f in report.feeds:
        print_feed_report(f)
    if report.folders is not None:
        print_report(report.folders)
