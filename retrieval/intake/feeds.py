"""RSS and Atom feeds: each new item's page fetched, extracted and ingested; the state of each.

A feed is fetched with its last ETag / Last-Modified, so an unchanged feed answers 304 and
costs nothing. Each new item's page is fetched (retrieval/intake/fetch.py: public http(s) addresses
only, every redirect checked, one deadline per fetch) and its text and metadata extracted
(trafilatura); the feed's own date and source fill in what the page lacks. Whatever fails (a
feed that is down, malformed XML, a page that answers 404 or times out) is logged with its
URL and tried again on the next round; nothing already ingested is touched.

State lives in SQLite in the data directory (retrieval/intake/feedstate.py): per feed, its
validators and last error; per item, whether it was ingested, or how often it failed and why.
"""

from __future__ import annotations

import logging
import xml.sax
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from retrieval.errors import BriefbotError
from retrieval.intake.articles import url_id
from retrieval.intake.feedstate import FeedItem, FeedState
from retrieval.intake.fetch import FetchError, FetchPolicy, Response, fetch
from retrieval.intake.ingest import IngestReport
from retrieval.intake.pagetext import extract_page, missing_article_text
from retrieval.models import Article
from retrieval.urls import host_of

if TYPE_CHECKING:
    from retrieval.config import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FeedOptions:
    feed_timeout_s: float = 15.0  # a deadline for the whole fetch, redirects included
    page_timeout_s: float = 15.0
    max_attempts: int = 5  # a page that fails this many rounds is given up on (and logged)
    max_new_items: int = 200  # per feed and round: a feed's first fetch can list hundreds
    policy: FetchPolicy = FetchPolicy()  # which URLs may be fetched
    # Item pages fetched at once, and how long they may take in all in one round: one at a time,
    # N pages that drip their answer cost N x 15 s a round, and held up every other feed.
    concurrency: int = 4
    round_s: float = 120.0
    max_future_days: float = 1.0  # a page dated later than this ahead of now is refused

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedOptions:
        return cls(
            policy=FetchPolicy.allowing(settings.fetch_allow_hosts),
            concurrency=settings.feed_concurrency,
            round_s=settings.feed_round_s,
            max_future_days=settings.max_future_days,
        )


# -- feeds --------------------------------------------------------------------------------------


def parse_feed(body: bytes, url: str) -> tuple[str, list[FeedItem]]:
    """The feed's title and items; malformed XML or a page that is no feed is a FetchError."""
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-location": url})
    error = parsed.get("bozo_exception")
    if parsed.get("bozo") and isinstance(error, xml.sax.SAXException):
        # feedparser recovers what it can from broken XML; half a feed is not trusted, and the
        # next round fetches it again.
        raise FetchError(f"malformed XML ({error})")
    if not parsed.get("version") and not parsed.entries:
        raise FetchError("not an RSS or Atom feed")
    title = str(parsed.feed.get("title", "")).strip()
    items = []
    for entry in parsed.entries:
        link = str(entry.get("link", "")).strip()
        if not link:
            log.warning("%s: an item without a link (%r) is skipped", url, entry.get("title"))
            continue
        when = entry.get("published_parsed") or entry.get("updated_parsed")
        items.append(
            FeedItem(
                key=str(entry.get("id") or link),
                link=link,
                title=str(entry.get("title", "")).strip(),
                published=date(*when[:3]).isoformat() if when else None,
                source=title,
                author=str(entry.get("author", "")).strip(),
            )
        )
    return title, items


def page_article(body: bytes, item: FeedItem, charset: str | None = None) -> Article:
    """The article on an item's page; the feed's title, date and source fill in the gaps."""
    html: str | bytes = body
    if charset:
        try:
            html = body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            html = body
    doc, text = extract_page(html, item.link)
    if problem := missing_article_text(text):
        raise FetchError(problem)
    title = str(doc.get("title") or "").strip() or item.title
    published = _date(doc.get("date")) or _date(item.published)
    authors = str(doc.get("author") or item.author or "")
    return Article(
        id=url_id(item.link),  # the id the file loaders give the same URL
        title=title,
        text=text,
        published=published,
        source=_site_name(doc.get("sitename"), item),
        url=item.link,
        authors=tuple(a.strip() for a in authors.replace(",", ";").split(";") if a.strip()),
    )


def _site_name(found: Any, item: FeedItem) -> str:
    """The page's site name; when the page names none (trafilatura then falls back on the
    URL's host), the feed's title; failing that, the host."""
    from urllib.parse import urlparse

    name = str(found or "").strip()
    url = urlparse(item.link)
    guessed = {url.netloc.lower(), (url.hostname or "").lower(), host_of(item.link).lower()}
    if name and name.lower().removeprefix("www.") not in guessed | {
        g.removeprefix("www.") for g in guessed
    }:
        return name
    return item.source or host_of(item.link)


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).strip()).date()
    except ValueError:
        return None


# -- a round over one feed ----------------------------------------------------------------------
@dataclass
class FeedReport:
    url: str
    not_modified: bool = False
    feed_error: str = ""  # the feed itself could not be read (down, malformed)
    new_items: int = 0
    ingested: int = 0
    failures: list[str] = field(default_factory=list)  # "URL: why", one per failure

    @property
    def ok(self) -> bool:
        return not self.failures


IngestArticles = Callable[[Sequence[Article]], IngestReport]


class FeedReader:
    """Polls feeds: new items are fetched, extracted and ingested; failures wait for a retry."""

    def __init__(
        self,
        state: FeedState,
        ingest: IngestArticles,
        options: FeedOptions | None = None,
        fetcher: Callable[..., Response] = fetch,
        observe: Callable[[FeedReport], None] | None = None,
    ) -> None:
        self.state = state
        self.ingest = ingest
        self.options = options or FeedOptions()
        self.fetch = fetcher
        self.observe = observe  # told of every round's report (the metrics count failures)

    @classmethod
    def in_data_dir(
        cls,
        settings: Settings,
        ingest: IngestArticles,
        observe: Callable[[FeedReport], None] | None = None,
    ) -> FeedReader:
        """Polls feeds into `ingest`, with the options of `settings` and the feeds' state in
        its data directory."""
        state = FeedState.in_data_dir(settings.data_dir)
        return cls(state, ingest, FeedOptions.from_settings(settings), observe=observe)

    def poll(self, feed: str) -> FeedReport:
        report = FeedReport(feed)
        self._read_feed(feed, report)
        self._fetch_pages(feed, report)
        if self.observe is not None:
            self.observe(report)
        return report

    def _read_feed(self, feed: str, report: FeedReport) -> None:
        try:
            response = self.fetch(
                feed,
                timeout=self.options.feed_timeout_s,
                headers=self.state.validators(feed),
                policy=self.options.policy,
            )
            if response.status == 304:
                report.not_modified = True
                log.info("%s: not modified", feed)
                return
            _title, items = parse_feed(response.body, response.url)
        except Exception as exc:  # a bug met in one feed must not stop the others
            why = reason(exc)
            if not isinstance(exc, FetchError):
                log.exception("feed %s failed unexpectedly", feed)
            log.warning("feed %s: %s; trying again next round", feed, why)
            self.state.feed_failed(feed, why)
            report.feed_error = why
            report.failures.append(f"{feed}: {why}")
            return
        new = self.state.add_new(feed, items[: self.options.max_new_items])
        report.new_items = len(new)
        # Only now that the new items are recorded: a crash before this line refetches the feed.
        self.state.checked(
            feed, response.headers.get("etag"), response.headers.get("last-modified")
        )
        log.info("%s: %d items, %d new", feed, len(items), len(new))

    def _page(self, item: FeedItem) -> Article:
        response = self.fetch(
            item.link, timeout=self.options.page_timeout_s, policy=self.options.policy
        )
        if response.status != 200:
            raise FetchError(f"HTTP {response.status}")
        article = page_article(response.body, item, response.charset)
        latest = (datetime.now(UTC) + timedelta(days=self.options.max_future_days)).date()
        if article.published is not None and article.published > latest:
            raise FetchError(
                f"dated {article.published.isoformat()}, in the future (the latest date "
                f"accepted now is {latest.isoformat()}: BRIEFBOT_MAX_FUTURE_DAYS)"
            )
        return article

    def _fetch_pages(self, feed: str, report: FeedReport) -> None:
        """The pending items' pages, `concurrency` at a time, for at most `round_s` seconds:
        a page not fetched by then is left pending for the next round, its attempts
        untouched (each fetch has its own deadline too)."""
        pending = self.state.pending(feed)
        if not pending:
            return
        pool = ThreadPoolExecutor(
            max_workers=min(self.options.concurrency, len(pending)),
            thread_name_prefix="briefbot-page",
        )
        try:
            futures: list[Future[Article]] = [pool.submit(self._page, item) for item, _ in pending]
            wait(futures, timeout=self.options.round_s)
        finally:
            # Pages not begun are not fetched; those under way end by their own deadline.
            pool.shutdown(wait=False, cancel_futures=True)
        late = [
            item
            for (item, _), f in zip(pending, futures, strict=True)
            if f.cancelled() or not f.done()
        ]
        if late:
            log.warning(
                "feed %s: %d pages not fetched within %g s; fetched next round",
                feed,
                len(late),
                self.options.round_s,
            )
            report.failures.append(
                f"{feed}: {len(late)} item pages not fetched within {self.options.round_s:g} s "
                "(BRIEFBOT_FEED_ROUND_S)"
            )
        articles: list[tuple[FeedItem, Article]] = []
        for (item, attempts), future in zip(pending, futures, strict=True):
            if not future.done() or future.cancelled():
                continue
            try:
                articles.append((item, future.result()))
            except Exception as exc:  # one page (even one that trips a bug) spoils no other
                why = reason(exc)
                if not isinstance(exc, FetchError):
                    log.exception("page %s failed unexpectedly", item.link)
                give_up = attempts + 1 >= self.options.max_attempts
                message = f"{item.link}: {why}"
                if give_up:
                    log.warning("page %s; given up after %d attempts", message, attempts + 1)
                else:
                    log.warning("page %s; trying again next round", message)
                self.state.item_failed(feed, item, why, give_up)
                report.failures.append(message)
        if articles:
            self._ingest(feed, articles, report)

    def _ingest(
        self, feed: str, articles: list[tuple[FeedItem, Article]], report: FeedReport
    ) -> None:
        try:
            report.failures.extend(self.ingest([a for _, a in articles]).failures)
            done = articles
        except Exception:
            # One article that breaks ingestion must not keep the others out: one at a time.
            log.exception("feed %s: ingesting %d pages failed; one by one", feed, len(articles))
            done = []
            for item, article in articles:
                try:
                    report.failures.extend(self.ingest([article]).failures)
                except Exception as exc:
                    # Not counted as an attempt (the store may be down; the page is fine): the
                    # item stays pending and is fetched again next round.
                    log.exception("page %s not ingested; trying again next round", item.link)
                    report.failures.append(f"{item.link}: not ingested ({reason(exc)})")
                else:
                    done.append((item, article))
        for item, article in done:
            self.state.ingested(feed, item, article.id)
        report.ingested += len(done)


def reason(exc: Exception) -> str:
    """What a failure says about itself: a FetchError's reason, or an unforeseen error's type
    and message (the traceback goes to the log)."""
    if isinstance(exc, FetchError):
        return exc.reason
    if isinstance(exc, BriefbotError):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}: {exc})"
