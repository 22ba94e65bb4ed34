"""Articles flowing in: RSS and Atom feeds, and folders, polled and ingested when they change.

A feed is fetched with its last ETag / Last-Modified, so an unchanged feed answers 304 and
costs nothing. Each new item's page is fetched and its text and metadata extracted
(trafilatura); the feed's own date and source fill in what the page lacks. Whatever fails (a
feed that is down, malformed XML, a page that answers 404 or times out) is logged with its
URL and tried again on the next round; nothing already ingested is touched.

What a feed links to is not trusted: only http(s) URLs of public addresses are fetched (unless
BRIEFBOT_FETCH_ALLOW_HOSTS admits a host), every redirect is checked again, and each fetch has
one deadline for the whole answer (see `fetch`).

State lives in SQLite in the data directory (`feeds.sqlite3`): per feed, its validators and
last error; per item, whether it was ingested, or how often it failed and why.
"""

from __future__ import annotations

import functools
import http.client
import io
import ipaddress
import json
import logging
import os
import re
import socket
import sqlite3
import ssl
import threading
import time
import xml.sax
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from retrieval.errors import BriefbotError, LoadError, SettingsError
from retrieval.intake.articles import (
    DEFAULT_MAX_ARTICLE_BYTES,
    extract_page,
    iter_paths,
    load_path,
    missing_article_text,
)
from retrieval.intake.ingest import IngestReport
from retrieval.models import Article

if TYPE_CHECKING:
    from retrieval.config import Settings

log = logging.getLogger(__name__)

USER_AGENT = "briefbot/0.1 (+https://github.com/briefbot; feed reader)"
MAX_BYTES = 10 * 1024 * 1024  # a page or feed larger than this is not an article


# -- HTTP ---------------------------------------------------------------------------------------
# Feed links are written by whoever runs the feed, so every URL fetched (the feed's, each item's
# and each redirect's) is checked: http and https only, and only public addresses unless
# BRIEFBOT_FETCH_ALLOW_HOSTS admits a host or a range (a team's internal feeds). The host is
# resolved once, each address checked, and the connection made to a checked address with the
# original Host header and TLS server name, so DNS cannot answer differently between the check
# and the connection.
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address behind a NAT64 gateway
_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")


def address_refusal(ip: Address) -> str | None:
    """Why an address is not fetched ('loopback', 'private', ...), or None for a public one.

    An IPv6 address that carries an IPv4 one (::ffff:127.0.0.1, 6to4, NAT64) is judged by it too.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and (why := address_refusal(inner)):
            return why
        if ip.ipv4_mapped or ip in _NAT64:
            return None  # the carried address is public; the wrapper's own flags say "reserved"
    for flag, why in (
        ("is_unspecified", "unspecified"),
        ("is_loopback", "loopback"),
        ("is_link_local", "link-local"),
        ("is_multicast", "multicast"),
        ("is_private", "private"),
        ("is_reserved", "reserved"),
    ):
        if getattr(ip, flag):
            return why
    return None if ip.is_global else "non-public"


def parse_allow_hosts(value: str) -> tuple[frozenset[str], tuple[Network, ...]]:
    """Comma-separated host names, IP addresses and CIDR ranges: (names, networks).

    Raises ValueError naming an entry that is none of these."""
    names: set[str] = set()
    networks: list[Network] = []
    for raw in value.split(","):
        entry = raw.strip().lower().removesuffix(".")
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            continue
        except ValueError:
            pass
        if "/" in entry or not _HOST_NAME.fullmatch(entry):
            raise ValueError(f"{raw.strip()!r} is not a host name, IP address or CIDR range")
        names.add(entry)
    return frozenset(names), tuple(networks)


def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses, as the system resolver gives them (an IP literal is itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class FetchPolicy:
    """What may be fetched: http(s) URLs of public addresses, or of the hosts and ranges
    allowed; at most `max_redirects` redirects and `max_bytes` of body."""

    allow_names: frozenset[str] = frozenset()
    allow_networks: tuple[Network, ...] = ()
    max_redirects: int = 5
    max_bytes: int = MAX_BYTES
    resolve: Resolver = resolve_host  # tests inject one to map names without DNS

    @classmethod
    def allowing(cls, allow_hosts: str, **options: Any) -> FetchPolicy:
        """A policy from BRIEFBOT_FETCH_ALLOW_HOSTS's syntax (see parse_allow_hosts)."""
        names, networks = parse_allow_hosts(allow_hosts)
        return cls(allow_names=names, allow_networks=networks, **options)

    def allows_address(self, ip: Address) -> bool:
        ips = [ip]
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
            ips.append(ip.ipv4_mapped)
        return any(a.version == n.version and a in n for a in ips for n in self.allow_networks)

    def addresses(self, url: str) -> tuple[SplitResult, list[str]]:
        """The URL, split, and the addresses it may be fetched from; a FetchError says why
        there are none (not http(s), malformed, unresolvable, or only refused addresses)."""
        parts = split_url(url)
        host = (parts.hostname or "").removesuffix(".")
        try:
            found = self.resolve(host, _port(parts))
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"cannot resolve host {host} ({exc})") from None
        if not found:
            raise FetchError(f"cannot resolve host {host} (no address)")
        if host in self.allow_names:
            return parts, found
        allowed, refusals = [], []
        for a in found:
            ip = ipaddress.ip_address(a.split("%")[0])  # without an IPv6 zone ("%eth0")
            why = None if self.allows_address(ip) else address_refusal(ip)
            if why is None:
                allowed.append(a)
            else:
                where = a if a == host else f"{host} resolves to {a}, which"
                refusals.append(f"refused: {where} is a {why} address")
        if not allowed:
            raise FetchError(f"{refusals[0]} (allow it with BRIEFBOT_FETCH_ALLOW_HOSTS)")
        return parts, allowed


def split_url(url: str) -> SplitResult:
    """The URL's parts; a FetchError if it is not an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError as exc:
        raise FetchError(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("not an http or https URL")
    if not parts.hostname:
        raise FetchError("not a valid URL (no host)")
    return parts


def _port(parts: SplitResult) -> int:
    return parts.port or (443 if parts.scheme == "https" else 80)


def check_feed_url(url: str, where: str) -> str:
    """A feed URL as given, or a SettingsError naming it and `where` it came from."""
    try:
        split_url(url)
    except FetchError as exc:
        raise SettingsError(f"{where}: {url!r} is {exc.reason}") from None
    return url


class FetchError(Exception):
    """A URL could not be fetched; the message names it and says why (status, timeout,
    refused). `reason` is the why alone."""

    def __init__(self, reason: str, url: str = "") -> None:
        super().__init__(f"{url}: {reason}" if url else reason)
        self.reason = reason
        self.url = url


@dataclass(frozen=True)
class Response:
    status: int  # 2xx, or 304 (not modified)
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


def fetch(
    url: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    policy: FetchPolicy | None = None,
) -> Response:
    """GET url, following redirects; a 304 is a Response, anything else that is not a 2xx is
    a FetchError naming the URL.

    `timeout` is a deadline for the whole fetch (each connection, the headers, the body, every
    redirect), so a server that drips its answer a byte at a time is cut off too.
    """
    policy = policy or FetchPolicy()
    deadline = time.monotonic() + timeout
    current = url
    for _ in range(policy.max_redirects + 1):
        where = "" if current == url else f"redirected to {current}: "
        try:
            status, reason, got, body = _get(current, headers or {}, deadline, policy)
        except FetchError as exc:
            raise FetchError(where + exc.reason, url) from None
        except TimeoutError:
            raise FetchError(f"timed out: no complete answer within {timeout:g} s", url) from None
        if status in REDIRECTS and got.get("location"):
            current = urljoin(current, got["location"])
            continue
        if status == 304 or 200 <= status < 300:
            return Response(status, body, current, got)
        raise FetchError(f"{where}HTTP {status} {reason}".rstrip(), url)
    raise FetchError(f"more than {policy.max_redirects} redirects", url)


def _get(
    url: str, headers: dict[str, str], deadline: float, policy: FetchPolicy
) -> tuple[int, str, dict[str, str], bytes]:
    """One request: status, reason, headers (lower-case names) and the body of a 2xx."""
    parts, addresses = policy.addresses(url)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~") + (
        f"?{parts.query}" if parts.query else ""
    )
    kind = _TLSConnection if parts.scheme.lower() == "https" else _Connection
    # The port is always given: http.client would read "::1" as host "::" and port 1.
    conn = kind(parts.hostname or "", _port(parts), addresses, deadline)
    try:
        conn.request("GET", path, headers={"User-Agent": USER_AGENT, **headers})
        r = conn.getresponse()
        got = {k.lower(): v for k, v in r.getheaders()}
        if not 200 <= r.status < 300:
            return r.status, r.reason, got, b""
        chunks, size = [], 0
        while chunk := r.read(64 * 1024):
            size += len(chunk)
            if size > policy.max_bytes:
                raise FetchError(f"larger than {policy.max_bytes // (1024 * 1024)} MB")
            chunks.append(chunk)
        return r.status, r.reason, got, b"".join(chunks)
    except (TimeoutError, FetchError):
        raise
    except http.client.HTTPException as exc:
        raise FetchError(f"not a valid HTTP answer ({type(exc).__name__}: {exc})") from None
    except ssl.SSLError as exc:
        raise FetchError(f"TLS failed ({exc})") from None
    except OSError as exc:
        raise FetchError(f"connection failed ({exc})") from None
    except UnicodeError as exc:
        raise FetchError(f"not a valid URL ({exc})") from None
    finally:
        conn.release()


def _time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError
    return left


class _DeadlineSocket:
    """A socket whose every send and receive may take only the time left before the deadline
    (a socket timeout alone bounds each receive, not the answer)."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock, self.deadline = sock, deadline

    def sendall(self, data: bytes) -> None:
        self.sock.settimeout(_time_left(self.deadline))
        self.sock.sendall(data)

    def recv_into(self, buffer: Any, nbytes: int = 0) -> int:
        self.sock.settimeout(_time_left(self.deadline))
        return self.sock.recv_into(buffer, nbytes)

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self))

    def close(self) -> None:
        # http.client closes its connection as soon as an answer that ends with the connection
        # has begun, and reads the body afterwards; the socket is closed by _get when done.
        pass


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: _DeadlineSocket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.sock.recv_into(buffer)


class _Connection(http.client.HTTPConnection):
    """Connects to the checked addresses only (never resolving the host again); the Host
    header still names the host."""

    def __init__(self, host: str, port: int, addresses: list[str], deadline: float) -> None:
        super().__init__(host, port)
        self.addresses, self.deadline = addresses, deadline
        self.raw: socket.socket | None = None

    def release(self) -> None:
        """Close the socket for good (close() leaves it to the answer being read)."""
        self.close()
        if self.raw is not None:
            self.raw.close()

    def _open(self) -> socket.socket:
        error: OSError | None = None
        for address in self.addresses:
            try:
                self.raw = socket.create_connection(
                    (address, self.port), timeout=_time_left(self.deadline)
                )
                return self.raw
            except TimeoutError:
                raise
            except OSError as exc:
                error = exc
        raise error or OSError("no address to connect to")

    def connect(self) -> None:
        self.sock = _DeadlineSocket(self._open(), self.deadline)


class _TLSConnection(_Connection):
    default_port = http.client.HTTPS_PORT

    def connect(self) -> None:
        sock = self._open()
        sock.settimeout(_time_left(self.deadline))  # the handshake, as a whole, in what is left
        self.raw = tls = _tls_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = _DeadlineSocket(tls, self.deadline)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


@dataclass(frozen=True)
class FeedOptions:
    feed_timeout_s: float = 15.0  # a deadline for the whole fetch, redirects included
    page_timeout_s: float = 15.0
    max_attempts: int = 5  # a page that fails this many rounds is given up on (and logged)
    max_new_items: int = 200  # per feed and round: a feed's first fetch can list hundreds
    policy: FetchPolicy = FetchPolicy()  # which URLs may be fetched

    @classmethod
    def from_settings(cls, settings: Settings) -> FeedOptions:
        return cls(policy=FetchPolicy.allowing(settings.fetch_allow_hosts))


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
    from retrieval.intake.articles import _url_id  # the id the file loaders give the same URL

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

    from retrieval.index.search import host_of

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
        # Feed URLs and errors are the team's business: a new folder and the file are private
        # (SQLite gives its journal files the database's mode).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)  # a file made by an earlier version was readable by all
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
            why = _reason(exc)
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

    def _fetch_pages(self, feed: str, report: FeedReport) -> None:
        articles: list[tuple[FeedItem, Article]] = []
        for item, attempts in self.state.pending(feed):
            try:
                response = self.fetch(
                    item.link, timeout=self.options.page_timeout_s, policy=self.options.policy
                )
                if response.status != 200:
                    raise FetchError(f"HTTP {response.status}")
                articles.append((item, page_article(response.body, item, response.charset)))
            except Exception as exc:  # one page (even one that trips a bug) spoils no other
                why = _reason(exc)
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
                    report.failures.append(f"{item.link}: not ingested ({_reason(exc)})")
                else:
                    done.append((item, article))
        for item, article in done:
            self.state.ingested(feed, item, article.id)
        report.ingested += len(done)


def _reason(exc: Exception) -> str:
    """What a failure says about itself: a FetchError's reason, or an unforeseen error's type
    and message (the traceback goes to the log)."""
    if isinstance(exc, FetchError):
        return exc.reason
    if isinstance(exc, BriefbotError):
        return str(exc)
    return f"unexpected error ({type(exc).__name__}: {exc})"


# -- folders ------------------------------------------------------------------------------------
class FolderWatcher:
    """Ingests the files in folders that are new or changed since the last round."""

    def __init__(
        self,
        folders: Sequence[Path],
        ingest: IngestArticles,
        max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    ) -> None:
        self.folders = list(folders)
        self.ingest = ingest
        self.max_article_bytes = max_article_bytes
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
            except Exception as exc:  # a bug met in one folder must not stop the others
                log.exception("folder %s failed unexpectedly; trying again next round", folder)
                report.failures.append(f"{folder}: {_reason(exc)}")
        articles: dict[str, Article] = {}
        for path in changed:
            try:
                for a in load_path(
                    path,
                    on_error=lambda e: report.failures.append(str(e)),
                    max_bytes=self.max_article_bytes,
                ):
                    articles[a.id] = a
            except LoadError as exc:
                log.warning("%s", exc)
                report.failures.append(str(exc))
            except Exception as exc:  # one file that trips a loader bug spoils no other
                # Remembered as seen like a LoadError: read again once the file changes.
                log.exception("%s could not be loaded", path)
                report.failures.append(f"{path}: {_reason(exc)}")
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
            check_feed_url(f, f"{where}: feeds")
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
                why = _reason(exc)
                report.feeds.append(FeedReport(feed, feed_error=why, failures=[f"{feed}: {why}"]))
        if self.config.folders:
            try:
                report.folders = self.folders.poll()
            except SettingsError:
                raise
            except Exception as exc:  # e.g. the store is down: the files are read again
                log.exception("folders failed unexpectedly; trying again next round")
                report.folders = IngestReport(failures=[f"folders: {_reason(exc)}"])
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
