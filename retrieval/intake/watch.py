"""Watching: the configured feeds and folders polled on an interval, what is new ingested.

A round goes on past any one feed, item or file that fails (it is reported, logged and tried
again next round); only a SettingsError, which no round can mend, stops the watch.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.errors import LoadError, SettingsError
from retrieval.intake.articles import load_path
from retrieval.intake.feeds import FeedReader, FeedReport, IngestArticles, reason
from retrieval.intake.files import ReadOptions, iter_paths, shown
from retrieval.intake.ingest import IngestReport
from retrieval.models import Article

if TYPE_CHECKING:
    from retrieval.config import Settings

log = logging.getLogger(__name__)


class FolderWatcher:
    """Ingests the files in folders that are new or changed since the last round."""

    def __init__(
        self,
        folders: Sequence[Path],
        ingest: IngestArticles,
        options: ReadOptions | None = None,
    ) -> None:
        self.folders = list(folders)
        self.ingest = ingest
        self.options = options or ReadOptions()
        self._seen: dict[Path, tuple[int, int]] = {}  # path -> (mtime_ns, size)
        self._skipped: set[str] = set()  # skips already reported (once each, not every round)

    def _skip(self, report: IngestReport, why: str) -> None:
        if why not in self._skipped:
            self._skipped.add(why)
            log.warning("%s", why)
            report.skipped.append(why)

    def poll(self) -> IngestReport:
        report = IngestReport()
        changed: dict[Path, tuple[int, int]] = {}
        for folder in self.folders:
            try:
                for path in iter_paths([folder], self.options, lambda w: self._skip(report, w)):
                    st = path.stat()
                    if self._seen.get(path) != (st.st_mtime_ns, st.st_size):
                        changed[path] = (st.st_mtime_ns, st.st_size)
            except (LoadError, OSError) as exc:
                log.warning("folder %s: %s; trying again next round", shown(folder), exc)
                report.failures.append(f"{shown(folder)}: {exc}")
            except Exception as exc:  # a bug met in one folder must not stop the others
                log.exception(
                    "folder %s failed unexpectedly; trying again next round", shown(folder)
                )
                report.failures.append(f"{shown(folder)}: {reason(exc)}")
        articles: dict[str, Article] = {}
        for path in changed:
            try:
                for a in load_path(
                    path,
                    on_error=lambda e: report.failures.append(str(e)),
                    options=self.options,
                ):
                    articles[a.id] = a
            except LoadError as exc:
                log.warning("%s", exc)
                report.failures.append(str(exc))
            except Exception as exc:  # one file that trips a loader bug spoils no other
                # Remembered as seen like a LoadError: read again once the file changes.
                log.exception("%s could not be loaded", shown(path))
                report.failures.append(f"{shown(path)}: {reason(exc)}")
        if articles:
            result = self.ingest(list(articles.values()))
            report.added, report.updated = result.added, result.updated
            report.unchanged, report.chunks = result.unchanged, result.chunks
        # Remembered only once ingested (an exception above leaves them to the next round).
        self._seen.update(changed)
        return report


# -- watching -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WatchConfig:
    """What to watch (the configuration file's `feeds`, `folders` and `watch_interval`)."""

    feeds: tuple[str, ...] = ()
    folders: tuple[Path, ...] = ()
    interval_s: float = 900.0


# The longest wait between two rounds: a week (longer is a typo, and past about 10^11 s the
# wait itself overflows: `--interval 99999999999h` ended in OverflowError).
MAX_INTERVAL_S = 7 * 24 * 3600


def parse_interval(value: str, name: str) -> float:
    """'90s', '15m', '2h', '1d' or a number of seconds: from 1 s to a week."""
    v = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    try:
        seconds = float(v[:-1]) * units[v[-1]] if v and v[-1] in units else float(v)
    except ValueError:
        seconds = -1
    if not math.isfinite(seconds) or seconds < 1:
        raise SettingsError(f"{name}: {value!r} is not an interval such as 90s, 15m or 2h")
    if seconds > MAX_INTERVAL_S:
        raise SettingsError(f"{name}: {value!r} is longer than a week (7d), the longest interval")
    return seconds


@dataclass
class RoundReport:
    feeds: list[FeedReport] = field(default_factory=list)
    folders: IngestReport | None = None

    @property
    def ingested(self) -> int:
        n = sum(f.ingested for f in self.feeds)
        return n + (self.folders.added + self.folders.updated if self.folders else 0)


class Watcher:
    """One round at a time over the configured feeds and folders, or rounds on an interval."""

    def __init__(self, config: WatchConfig, reader: FeedReader, folders: FolderWatcher) -> None:
        if not config.feeds and not config.folders:
            raise SettingsError("Nothing to watch: configure feeds or folders (or pass --feed).")
        self.config = config
        self.reader = reader
        self.folders = folders

    @classmethod
    def of(
        cls, config: WatchConfig, reader: FeedReader, ingest: IngestArticles, settings: Settings
    ) -> Watcher:
        """Rounds over the configured feeds (with `reader`) and folders (read as `settings`
        say, into `ingest`)."""
        folders = FolderWatcher(config.folders, ingest, ReadOptions.from_settings(settings))
        return cls(config, reader, folders)

    def round(self) -> RoundReport:
        """One round; a failure of one feed or folder is reported and the others go on (a
        SettingsError, which no round can mend, stops the watch)."""
        report = RoundReport()
        for feed in self.config.feeds:
            try:
                report.feeds.append(self.reader.poll(feed))
            except SettingsError:
                raise
            except Exception as exc:  # one feed's bug must not stop the others
                log.exception("feed %s failed unexpectedly; trying again next round", feed)
                why = reason(exc)
                report.feeds.append(FeedReport(feed, feed_error=why, failures=[f"{feed}: {why}"]))
        if self.config.folders:
            try:
                report.folders = self.folders.poll()
            except SettingsError:
                raise
            except Exception as exc:  # e.g. the store is down: the files are read again
                log.exception("folders failed unexpectedly; trying again next round")
                report.folders = IngestReport(failures=[f"folders: {reason(exc)}"])
        return report

    def run(
        self, stop: threading.Event, on_round: Callable[[RoundReport], None] | None = None
    ) -> None:
        while not stop.is_set():
            started = time.monotonic()
            report = self.round()
            if on_round:
                on_round(report)
            stop.wait(max(0.0, self.config.interval_s - (time.monotonic() - started)))
