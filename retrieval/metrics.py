"""What a running briefbot counts, for Prometheus: questions, abstentions, answer latency,
errors by kind, ingests and their lag, feed failures, chat API retries, briefings posted,
follows and their posts (a follow's error is kept as the last error, of kind "follow").

Each Engine holds one `Metrics` with a registry of its own, so that two engines in one process
(tests, the evaluation harness) never add to each other's counts. A long-running process serves
it at /metrics when BRIEFBOT_METRICS is set (bot/health_server.py). The last error counted is
kept too: the health report shows it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

if TYPE_CHECKING:
    from retrieval.intake.feeds import FeedReport
    from retrieval.intake.ingest import IngestReport

# Answers take tens of milliseconds on a warm index, seconds with an LLM or a cold one.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MESSAGE_CHARS = 300  # the most of an error's message that the health report repeats


@dataclass(frozen=True)
class LastError:
    """The latest error counted: when, of what kind, its id (the one users were shown) and
    the start of its message."""

    at: str
    kind: str
    message: str
    error_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Metrics:
    """The counters of one engine, and the text Prometheus scrapes."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.questions = Counter(
            "briefbot_questions",
            "Questions answered in chat (abstentions included)",
            ["platform"],
            registry=r,
        )
        self.abstentions = Counter(
            "briefbot_abstentions",
            "Questions answered with 'the articles don't say'",
            ["platform"],
            registry=r,
        )
        self.answer_seconds = Histogram(
            "briefbot_answer_seconds",
            "Time from a question to its answer sent",
            ["platform"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "briefbot_errors",
            "Errors by kind: a user's (the error's class), internal (a bug, logged with the id"
            " the user saw), schedule, feed, ingest",
            ["kind"],
            registry=r,
        )
        self.briefings = Counter(
            "briefbot_briefings_posted", "Scheduled briefings posted", ["platform"], registry=r
        )
        self.ingested = Counter(
            "briefbot_ingested_articles",
            "Articles through ingest, by result: added, updated, unchanged, failed",
            ["result"],
            registry=r,
        )
        self.ingested_chunks = Counter(
            "briefbot_ingested_chunks", "Chunks embedded and written", registry=r
        )
        self.feed_failures = Counter(
            "briefbot_feed_fetch_failures",
            "Feeds (what=feed) and their items' pages (what=page) that failed a round",
            ["what"],
            registry=r,
        )
        self.api_retries = Counter(
            "briefbot_chat_api_retries",
            "Chat platform API calls retried (rate limits, server errors, lost connections)",
            ["platform"],
            registry=r,
        )
        self.follow_posts = Counter(
            "briefbot_follow_posts",
            "Posts of followed topics' developments",
            ["platform"],
            registry=r,
        )
        self.follow_developments_total = Counter(
            "briefbot_follow_developments",
            "Followed topics' developments by what became of them beside posting: held (the"
            " hourly limit, quiet hours), folded (counted in a post, not shown), told (a copy or"
            " repeat of one told, not posted)",
            ["what"],
            registry=r,
        )
        self.follows = Gauge(
            "briefbot_follows", "Topics followed (every channel and platform)", registry=r
        )
        self.follows.set_function(self._follow_count)
        self._count_follows: Callable[[], int] | None = None
        self.newest_article_age = Gauge(
            "briefbot_newest_article_age_seconds",
            "Ingest lag: the age of the newest article in the index (from the start of its"
            " publication day, UTC); NaN before the index is loaded",
            registry=r,
        )
        self.newest_article_age.set_function(self._newest_age)
        self._newest: Callable[[], date | None] = lambda: None
        self._lock = threading.Lock()
        self.last_error: LastError | None = None

    # -- what the engine and the front ends report ----------------------------------------
    def answered(self, platform: str, abstained: bool, seconds: float) -> None:
        self.questions.labels(platform).inc()
        if abstained:
            self.abstentions.labels(platform).inc()
        self.answer_seconds.labels(platform).observe(seconds)

    def error(
        self, kind: str, message: str, error_id: str | None = None, keep: bool = True
    ) -> None:
        """Count an error and, with `keep`, remember it as the last one (its message shortened).
        A user's mistake (a question too long) is counted, not kept: it needs no look."""
        from retrieval.config import redact

        self.errors.labels(kind).inc()
        if not keep:
            return
        text = redact(" ".join(message.split()))[:MESSAGE_CHARS]
        at = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self.last_error = LastError(at, kind, text, error_id)

    def ingest(self, report: IngestReport) -> None:
        for result, n in (
            ("added", report.added),
            ("updated", report.updated),
            ("unchanged", report.unchanged),
            ("failed", len(report.failures)),
        ):
            if n:
                self.ingested.labels(result).inc(n)
        self.ingested_chunks.inc(report.chunks)
        if report.failures:
            self.error("ingest", report.failures[-1])

    def feed_polled(self, report: FeedReport) -> None:
        pages = len(report.failures) - (1 if report.feed_error else 0)
        if report.feed_error:
            self.feed_failures.labels("feed").inc()
        if pages:
            self.feed_failures.labels("page").inc(pages)
        if report.failures:
            self.error("feed", report.failures[-1])

    def retried(self, platform: str) -> None:
        self.api_retries.labels(platform).inc()

    def posted(self, platform: str) -> None:
        self.briefings.labels(platform).inc()

    def follow_posted(self, platform: str) -> None:
        self.follow_posts.labels(platform).inc()

    def follow_developments(self, what: str, n: int = 1) -> None:
        self.follow_developments_total.labels(what).inc(n)

    def watch_follows(self, count: Callable[[], int]) -> None:
        """Where the number of follows is read at each scrape."""
        self._count_follows = count

    def _follow_count(self) -> float:
        if self._count_follows is None:
            return 0.0
        try:
            return float(self._count_follows())
        except Exception:  # a scrape never fails over the follows' database
            return math.nan

    def watch_newest(self, newest: Callable[[], date | None]) -> None:
        """Where the ingest lag is read at each scrape: the newest article's date, or None."""
        self._newest = newest

    def _newest_age(self) -> float:
        try:
            newest = self._newest()
        except Exception:  # a scrape never fails over the index
            return math.nan
        if newest is None:
            return math.nan
        start = datetime(newest.year, newest.month, newest.day, tzinfo=UTC).timestamp()
        return max(time.time() - start, 0.0)

    # -- what Prometheus reads ------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
