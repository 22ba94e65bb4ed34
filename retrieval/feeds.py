"""Articles flowing in: RSS and Atom feeds, and folders, polled and ingested when they change.

A feed is fetched with its last ETag / Last-Modified, so an unchanged feed answers 304 and
costs nothing. Each new item's page is fetched and its text and metadata extracted
(trafilatura); the feed's own date and source fill in what the page lacks. Whatever fails (a
feed that is down, malformed XML, a page that answers 404 or times out) is logged with its
URL and tried again on the next round; nothing already ingested is touched.

State lives in SQLite in the data directory (`feeds.sqlite3`): per feed, its validators and
last error; per item, whether it was ingested, or how often it failed and why.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
import xml.sax
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from retrieval.articles import iter_paths, load_path, normalize_text
from retrieval.errors import BriefbotError, LoadError, SettingsError
from retrieval.ingest import IngestReport
from retrieval.models import Article

log = logging.getLogger(__name__)

USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot; feed reader)"
MAX_BYTES = 10 * 1024 * 1024  # a page or feed larger than this is not an article


class FetchError(Exception):
    """A URL could not be fetched; the message says why (status, timeout, refused)."""


@dataclass(frozen=True)
class FeedOptions:
    feed_timeout_s: float = 15.0
    page_timeout_s: float = 15.0
    max_attempts: int = 5  # a page that fails this many rounds is given up on (and logged)
    max_new_items: int = 200  # per feed and round: a feed's first fetch can list hundreds


# -- HTTP ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Response:
    status: int  # 200, or 304 (not modified)
    body: bytes
    url: str  # after redirects
    headers: dict[str, str]

    @property
    def charset(self) -> str | None:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip('"')
        return None


def fetch(url: str, timeout: float, headers: dict[str, str] | None = None) -> Response:
    """GET url; a 304 is a Response, anything else that is not a 200 is a FetchError.

    `timeout` bounds the whole fetch, not only each socket operation, so a server that drips
    its answer slowly is cut off too.
    """
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            chunks: list[bytes] = []
            size = 0
            while chunk := r.read(64 * 1024):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise FetchError(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
                if time.monotonic() > deadline:
                    raise FetchError(f"timed out after {timeout:g} s")
                chunks.append(chunk)
            return Response(
                r.status, b"".join(chunks), r.geturl(), {k.lower(): v for k, v in r.headers.items()}
            )
    except urllib.error.HTTPError as exc:
        if exc.code == 304:
            return Response(304, b"", url, {k.lower(): v for k, v in exc.headers.items()})
        raise FetchError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError | socket.timeout):
            raise FetchError(f"timed out after {timeout:g} s") from None
        raise FetchError(f"unreachable ({exc.reason})") from None
    except TimeoutError:
        raise FetchError(f"timed out after {timeout:g} s") from None
    except (ConnectionError, OSError) as exc:
        raise FetchError(f"connection failed ({exc})") from None


# -- feeds --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: what is needed to fetch its page and to fill in what it lacks."""

    key: str  # the entry's id (guid), else its link
    link: str
    title: str
    published: str | None  # ISO date, from the feed
    source: str  # the feed's title
    author: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FeedItem:
        return cls(**json.loads(text))


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
    import trafilatura

    from retrieval.articles import _url_id  # the id the file loaders give the same URL

    html: str | bytes = body
    if charset:
        try:
            html = body.decode(charset)
        except (LookupError, UnicodeDecodeError):
            html = body
    found = trafilatura.bare_extraction(
        html,
        url=item.link,
        with_metadata=True,
        include_comments=False,
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    doc = {} if found is None else found if isinstance(found, dict) else found.as_dict()
    title = str(doc.get("title") or "").strip() or item.title
    lines = [ln for ln in str(doc.get("text") or "").split("\n") if ln.strip()]
    if lines and title and lines[0].strip().casefold() == title.casefold():
        lines = lines[1:]
    text = normalize_text("\n\n".join(lines))
    if not text:
        raise FetchError("no article text found in the page")
    published = _date(doc.get("date")) or _date(item.published)
    authors = str(doc.get("author") or item.author or "")
    return Article(
        id=_url_id(item.link),
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

    from retrieval.search import host_of

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


# -- state --------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    checked_at TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS items (
    feed TEXT NOT NULL,
    key TEXT NOT NULL,
    item TEXT NOT NULL,          -- the FeedItem as JSON, so a retry needs no feed
    status TEXT NOT NULL,        -- pending | ingested | abandoned
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    article_id TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (feed, key)
);
"""


class FeedState:
    """Validators per feed and the fate of each item, in SQLite (safe across processes)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> FeedState:
        return cls(Path(data_dir) / "feeds.sqlite3")

    def close(self) -> None:
        self.db.close()

    def validators(self, feed: str) -> dict[str, str]:
        with self._lock:
            row = self.db.execute(
                "SELECT etag, last_modified FROM feeds WHERE url = ?", (feed,)
            ).fetchone()
        headers = {}
        if row and row[0]:
            headers["If-None-Match"] = row[0]
        if row and row[1]:
            headers["If-Modified-Since"] = row[1]
        return headers

    def checked(self, feed: str, etag: str | None, last_modified: str | None) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO feeds (url, etag, last_modified, checked_at, error) "
                "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (url) DO UPDATE SET "
                "etag = excluded.etag, last_modified = excluded.last_modified, "
                "checked_at = excluded.checked_at, error = NULL",
                (feed, etag, last_modified, _now()),
            )

    def feed_failed(self, feed: str, error: str) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO feeds (url, checked_at, error) VALUES (?, ?, ?) "
                "ON CONFLICT (url) DO UPDATE SET checked_at = excluded.checked_at, "
                "error = excluded.error",
                (feed, _now(), error),
            )

    def add_new(self, feed: str, items: Iterable[FeedItem]) -> list[FeedItem]:
        """Record the items not seen before as pending; returns them."""
        new = []
        with self._lock:
            for item in items:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO items (feed, key, item, status, updated_at) "
                    "VALUES (?, ?, ?, 'pending', ?)",
                    (feed, item.key, item.to_json(), _now()),
                )
                if cur.rowcount:
                    new.append(item)
        return new

    def pending(self, feed: str) -> list[tuple[FeedItem, int]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT item, attempts FROM items WHERE feed = ? AND status = 'pending' "
                "ORDER BY rowid",
                (feed,),
            ).fetchall()
        return [(FeedItem.from_json(item), attempts) for item, attempts in rows]

    def ingested(self, feed: str, item: FeedItem, article_id: str) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE items SET status = 'ingested', article_id = ?, error = NULL, "
                "updated_at = ? WHERE feed = ? AND key = ?",
                (article_id, _now(), feed, item.key),
            )

    def item_failed(self, feed: str, item: FeedItem, error: str, give_up: bool) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE items SET attempts = attempts + 1, error = ?, updated_at = ?, "
                "status = CASE WHEN ? THEN 'abandoned' ELSE status END "
                "WHERE feed = ? AND key = ?",
                (error, _now(), give_up, feed, item.key),
            )

    def status(self, feed: str) -> dict[str, int]:
        with self._lock:
            rows = self.db.execute(
                "SELECT status, COUNT(*) FROM items WHERE feed = ? GROUP BY status", (feed,)
            ).fetchall()
        return dict(rows)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
    ) -> None:
        self.state = state
        self.ingest = ingest
        self.options = options or FeedOptions()
        self.fetch = fetcher

    def poll(self, feed: str) -> FeedReport:
        report = FeedReport(feed)
        self._read_feed(feed, report)
        self._fetch_pages(feed, report)
        return report

    def _read_feed(self, feed: str, report: FeedReport) -> None:
        try:
            response = self.fetch(
                feed, timeout=self.options.feed_timeout_s, headers=self.state.validators(feed)
            )
            if response.status == 304:
                report.not_modified = True
                log.info("%s: not modified", feed)
                return
            _title, items = parse_feed(response.body, response.url)
        except FetchError as exc:
            message = f"{feed}: {exc}"
            log.warning("feed %s; trying again next round", message)
            self.state.feed_failed(feed, str(exc))
            report.feed_error = str(exc)
            report.failures.append(message)
            return
        new = self.state.add_new(feed, items[: self.options.max_new_items])
        report.new_items = len(new)
        # Only now that the new items are recorded: a crash before this line refetches the feed.
        self.state.checked(
            feed, response.headers.get("etag"), response.headers.get("last-modified")
        )
        log.info("%s: %d items, %d new", feed, len(items), len(new))

    def _fetch_pages(self, feed: str, report: FeedReport) -> None:
        articles: list[tuple[FeedItem, Article]] = []
        for item, attempts in self.state.pending(feed):
            try:
                response = self.fetch(item.link, timeout=self.options.page_timeout_s)
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                articles.append((item, page_article(response.body, item, response.charset)))
            except FetchError as exc:
                give_up = attempts + 1 >= self.options.max_attempts
                message = f"{item.link}: {exc}"
                if give_up:
                    log.warning("page %s; given up after %d attempts", message, attempts + 1)
                else:
                    log.warning("page %s; trying again next round", message)
                self.state.item_failed(feed, item, str(exc), give_up)
                report.failures.append(message)
        if not articles:
            return
        result = self.ingest([a for _, a in articles])
        for item, article in articles:
            self.state.ingested(feed, item, article.id)
        report.ingested = len(articles)
        report.failures.extend(result.failures)


# -- folders ------------------------------------------------------------------------------------
class FolderWatcher:
    """Ingests the files in folders that are new or changed since the last round."""

    def __init__(self, folders: Sequence[Path], ingest: IngestArticles) -> None:
        self.folders = list(folders)
        self.ingest = ingest
        self._seen: dict[Path, tuple[int, int]] = {}  # path -> (mtime_ns, size)

    def poll(self) -> IngestReport:
        report = IngestReport()
        changed: dict[Path, tuple[int, int]] = {}
        for folder in self.folders:
            try:
                for path in iter_paths([folder]):
                    st = path.stat()
                    if self._seen.get(path) != (st.st_mtime_ns, st.st_size):
                        changed[path] = (st.st_mtime_ns, st.st_size)
            except (LoadError, OSError) as exc:
                log.warning("folder %s: %s; trying again next round", folder, exc)
                report.failures.append(f"{folder}: {exc}")
        articles: dict[str, Article] = {}
        for path in changed:
            try:
                for a in load_path(path, on_error=lambda e: report.failures.append(str(e))):
                    articles[a.id] = a
            except LoadError as exc:
                log.warning("%s", exc)
                report.failures.append(str(exc))
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
    feeds: tuple[str, ...] = ()
    folders: tuple[Path, ...] = ()
    interval_s: float = 900.0

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str = "config") -> WatchConfig:
        """The `feeds`, `folders` and `watch_interval` keys of a configuration file."""
        feeds = config.get("feeds") or []
        folders = config.get("folders") or []
        if not isinstance(feeds, list) or not all(isinstance(f, str) for f in feeds):
            raise SettingsError(f"{where}: feeds: a list of feed URLs")
        for f in feeds:
            if not f.startswith(("http://", "https://")):
                raise SettingsError(f"{where}: feeds: {f!r} is not an http:// or https:// URL")
        if not isinstance(folders, list) or not all(isinstance(f, str) for f in folders):
            raise SettingsError(f"{where}: folders: a list of folder paths")
        interval = parse_interval(
            str(config.get("watch_interval", "15m")), f"{where}: watch_interval"
        )
        return cls(tuple(feeds), tuple(Path(f) for f in folders), interval)


def parse_interval(value: str, name: str) -> float:
    """'90s', '15m', '2h' or a number of seconds."""
    v = value.strip().lower()
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = float(v[:-1]) * units[v[-1]] if v and v[-1] in units else float(v)
    except ValueError:
        seconds = -1
    if seconds < 1:
        raise SettingsError(f"{name}: {value!r} is not an interval such as 90s, 15m or 2h")
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

    def round(self) -> RoundReport:
        report = RoundReport()
        for feed in self.config.feeds:
            try:
                report.feeds.append(self.reader.poll(feed))
            except BriefbotError:
                raise
            except Exception:  # one feed's bug must not stop the others
                log.exception("feed %s failed unexpectedly; trying again next round", feed)
        if self.config.folders:
            report.folders = self.folders.poll()
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
