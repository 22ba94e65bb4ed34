"""Feed intake against a local HTTP server: an RSS feed and its article pages, with a page that
answers 404, a slow page, malformed XML, a feed that is down; ETags; folders polled. The fetch
policy (no local addresses, no files, redirects checked), the deadline for a whole fetch, and
rounds that go on past any one feed, item or file."""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from retrieval.config import PROJECT_ROOT, load_settings
from retrieval.config_file import ConfigFile
from retrieval.engine import Engine
from retrieval.errors import SettingsError
from retrieval.intake.feeds import FeedOptions, FeedReader, FeedReport, parse_feed
from retrieval.intake.feedstate import FeedState
from retrieval.intake.fetch import FetchError, FetchPolicy, address_refusal, fetch, resolve_host
from retrieval.intake.watch import FolderWatcher, WatchConfig, Watcher, parse_interval

PAGE_WITH_META = """<!doctype html><html><head>
<title>Harbour Bridge closed after crack found | The Herald</title>
<meta property="og:title" content="Harbour Bridge closed after crack found">
<meta property="og:site_name" content="The Herald">
<meta property="article:published_time" content="2024-03-14T09:00:00Z">
</head><body><header><nav>Home · News · Sport</nav></header>
<article><h1>Harbour Bridge closed after crack found</h1>
<p>The Harbour Bridge was closed to all traffic on Wednesday after engineers found a crack in a
steel girder of its main span during a routine inspection of the structure.</p>
<p>Commuters faced long delays as police diverted cars through the tunnel, and buses were
rerouted across the river at the Old Ferry crossing for the rest of the day.</p>
<p>"We will not reopen the bridge until we are certain it is safe," said Maria Lopez, the
city's chief engineer, at a news conference on the quayside.</p>
</article><footer>© The Herald · Subscribe now</footer></body></html>"""

PAGE_WITHOUT_META = """<!doctype html><html><head><title>Library</title></head><body>
<article><p>The city council voted on Wednesday to approve a budget of four million pounds for a
new public library in the northern district, after a long debate in the chamber.</p>
<p>The library will include a children's reading room and a digital archive of local
newspapers, and it should open in the spring of next year if building work goes to plan.</p>
</article></body></html>"""

PAGE_LATER = """<!doctype html><html><head><title>Cup final</title></head><body><article>
<p>Rovers won the county cup final on penalties on Wednesday night after a goalless draw
against United in front of a sold-out crowd at the old stadium by the river.</p>
<p>Their goalkeeper saved two penalties in the shoot-out, and the captain lifted the trophy for
the first time in the club's long history, to the delight of thousands of fans.</p>
</article></body></html>"""


def rss(base: str) -> str:
    items = [
        ("bridge", "Bridge closed", "Thu, 14 Mar 2024 10:00:00 GMT"),
        ("library", "Council approves library budget", "Wed, 13 Mar 2024 18:00:00 GMT"),
        ("missing", "A page that is gone", "Wed, 13 Mar 2024 12:00:00 GMT"),
        ("slow", "Rovers win the cup", "Wed, 13 Mar 2024 22:00:00 GMT"),
    ]
    body = "".join(
        f"<item><title>{t}</title><link>{base}/{p}</link><guid>{base}/{p}</guid>"
        f"<pubDate>{d}</pubDate></item>"
        for p, t, d in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Riverside News</title><link>{base}/</link><description>x</description>"
        f"{body}</channel></rss>"
    )


def hostile_rss(base: str, named: str) -> str:
    """A feed whose links point at this machine, the cloud metadata service and local files;
    one item (on the host name the feed itself is fetched by) is a real page."""
    links = [
        f"{base}/bridge",
        "http://169.254.169.254/latest/meta-data/",
        f"http://[::ffff:127.0.0.1]:{base.rsplit(':', 1)[1]}/bridge",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/x",
        f"{named}/library",
    ]
    body = "".join(
        f"<item><title>Item {i}</title><link>{link}</link><guid>item-{i}</guid></item>"
        for i, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Hostile News</title><link>{named}/</link><description>x</description>"
        f"{body}</channel></rss>"
    )


class NewsSite:
    """A small news site: /feed.xml (with an ETag), pages, /broken.xml, a 404 and a slow page;
    a hostile feed and redirects for the fetch policy. It records every request it gets."""

    ETAG = '"feed-v1"'
    NAME = "news.example"  # a host name that only an injected resolver knows (see `by_name`)

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.hosts: list[str] = []  # the Host header of each request
        self.conditional: list[str] = []
        self.slow_s = 2.0
        self.missing_found = False
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.hits[self.path] += 1
                site.hosts.append(self.headers.get("Host", ""))
                base = f"http://127.0.0.1:{self.server.server_port}"
                named = f"http://{site.NAME}:{self.server.server_port}"
                redirects = {
                    "/moved": f"{named}/library",
                    "/to-local": f"{base}/bridge",
                    "/to-file": "file:///etc/passwd",
                    "/loop": "/loop",
                }
                if self.path in redirects:
                    self.send_response(302)
                    self.send_header("Location", redirects[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                elif self.path == "/hostile.xml":
                    self._send(hostile_rss(base, named), "application/rss+xml")
                elif self.path == "/feed.xml":
                    if self.headers.get("If-None-Match") == site.ETAG:
                        site.conditional.append(self.path)
                        self.send_response(304)
                        self.end_headers()
                        return
                    self._send(rss(base), "application/rss+xml", {"ETag": site.ETAG})
                elif self.path == "/broken.xml":
                    self._send(rss(base)[:-40] + "<item><title>A & B</ti", "application/rss+xml")
                elif self.path == "/bridge":
                    self._send(PAGE_WITH_META)
                elif self.path == "/library":
                    self._send(PAGE_WITHOUT_META)
                elif self.path == "/slow":
                    time.sleep(site.slow_s)
                    self._send(PAGE_LATER)
                elif self.path == "/missing" and site.missing_found:
                    self._send(PAGE_LATER.replace("Rovers", "Wanderers"))
                else:
                    self.send_error(404)

            def _send(self, body: str, kind: str = "text/html", headers: dict | None = None):
                data = body.encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", f"{kind}; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a slow page

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        self.named = f"http://{self.NAME}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> NewsSite:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as s:
        yield s


# The site is on 127.0.0.1, which only an allow list admits (as BRIEFBOT_FETCH_ALLOW_HOSTS does).
LOCAL = FetchPolicy.allowing("127.0.0.1")
OPTIONS = FeedOptions(feed_timeout_s=5, page_timeout_s=0.5, max_attempts=3, policy=LOCAL)


def by_name(**extra: Any) -> tuple[FetchPolicy, list[str]]:
    """A policy that allows only the site's host name, which its resolver maps to 127.0.0.1;
    other names do not resolve, IP literals are themselves. Also the list of names resolved."""
    resolved: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        resolved.append(host)
        if host == NewsSite.NAME:
            return ["127.0.0.1"]
        return resolve_host(host, port) if host[0].isdigit() or ":" in host else []

    return FetchPolicy.allowing(NewsSite.NAME, resolve=resolve, **extra), resolved


def reader_for(engine: Engine, options: FeedOptions = OPTIONS) -> FeedReader:
    state = FeedState.in_data_dir(engine.settings.data_dir)
    return FeedReader(state, engine.parts.ingester().ingest_articles, options)


def stored(engine: Engine) -> dict[str, Any]:
    return {
        a.url.rsplit("/", 1)[-1]: a
        for a in engine.parts.store.get_articles(list(engine.parts.store.hashes_all())).values()
    }


@pytest.fixture
def engine(make_engine) -> Engine:
    e = make_engine()
    # every stored article id, for the assertions
    e.parts.store.hashes_all = lambda: [  # type: ignore[attr-defined]
        i for page in e.parts.store.iter_articles() for i in page["ids"]
    ]
    return e


def test_new_items_are_fetched_extracted_and_ingested(
    engine: Engine, site: NewsSite, caplog: pytest.LogCaptureFixture
) -> None:
    feed = f"{site.base}/feed.xml"
    with caplog.at_level(logging.WARNING, logger="retrieval.intake.feeds"):
        report = reader_for(engine).poll(feed)
    assert (report.new_items, report.ingested) == (4, 2)
    articles = stored(engine)
    assert set(articles) == {"bridge", "library"}
    bridge, library = articles["bridge"], articles["library"]
    # The page's own metadata where it has it ...
    assert bridge.title == "Harbour Bridge closed after crack found"
    assert bridge.source == "The Herald" and bridge.published == date(2024, 3, 14)
    assert (
        bridge.text.startswith("The Harbour Bridge was closed") and "Subscribe" not in bridge.text
    )
    # ... and the feed's date and source where the page lacks them.
    assert library.published == date(2024, 3, 13) and library.source == "Riverside News"
    assert library.url == f"{site.base}/library"
    # The 404 and the slow page are logged with their URLs, and reported.
    failures = "\n".join(report.failures)
    assert f"{site.base}/missing: HTTP 404" in failures
    assert f"{site.base}/slow: timed out" in failures
    logged = caplog.text
    assert f"{site.base}/missing" in logged and f"{site.base}/slow" in logged

    # The next round: the feed is unchanged (304), only the failed pages are tried again.
    site.slow_s, site.missing_found = 0.0, True
    before = dict(site.hits)
    again = reader_for(engine).poll(feed)
    assert again.not_modified and site.conditional == ["/feed.xml"]
    assert again.ingested == 2 and again.ok
    assert site.hits["/bridge"] == before["/bridge"] and site.hits["/library"] == before["/library"]
    assert set(stored(engine)) == {"bridge", "library", "missing", "slow"}
    assert stored(engine)["bridge"] == bridge  # untouched

    third = reader_for(engine).poll(feed)
    assert third.not_modified and third.ingested == 0 and third.ok


def test_a_page_that_keeps_failing_is_given_up_after_max_attempts(
    engine: Engine, site: NewsSite
) -> None:
    feed = f"{site.base}/feed.xml"
    reader = reader_for(engine)
    for _ in range(OPTIONS.max_attempts + 2):
        reader.poll(feed)
    assert site.hits["/missing"] == OPTIONS.max_attempts
    assert reader.state.status(feed) == {"ingested": 2, "abandoned": 2}


def test_malformed_xml_and_a_feed_that_is_down_touch_nothing(
    engine: Engine, site: NewsSite, caplog: pytest.LogCaptureFixture
) -> None:
    reader = reader_for(engine)
    assert reader.poll(f"{site.base}/feed.xml").ingested == 2
    before = stored(engine)
    broken = f"{site.base}/broken.xml"
    down = "http://127.0.0.1:9/feed.xml"  # the discard port: nothing listens
    with caplog.at_level(logging.WARNING, logger="retrieval.intake.feeds"):
        bad = reader.poll(broken)
        gone = reader.poll(down)
    assert bad.failures == [f"{broken}: malformed XML" + bad.failures[0].split("malformed XML")[1]]
    assert bad.new_items == 0 and reader.state.status(broken) == {}
    assert gone.failures and gone.failures[0].startswith(f"{down}: ")
    assert broken in caplog.text and down in caplog.text
    assert stored(engine) == before
    # Tried again in full next round (no validators were kept for a feed that failed).
    reader.poll(broken)
    assert site.hits["/broken.xml"] == 2 and reader.state.validators(broken) == {}


def test_parse_feed_reads_atom_and_refuses_html() -> None:
    atom = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom News</title>
<entry><title>One</title><link href="https://a.example/1"/><id>tag:a,1</id>
<updated>2024-03-14T08:00:00Z</updated><author><name>Jo Bloggs</name></author></entry>
</feed>"""
    title, [item] = parse_feed(atom, "https://a.example/atom")
    assert title == "Atom News"
    assert (item.key, item.link, item.published, item.author) == (
        "tag:a,1",
        "https://a.example/1",
        "2024-03-14",
        "Jo Bloggs",
    )
    with pytest.raises(FetchError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>hello</body></html>", "https://a.example/")


def test_folders_are_polled_for_new_and_changed_files(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "one.md").write_text("# Bridge closed\n\nThe bridge was closed on Wednesday.\n")
    watcher = FolderWatcher([folder], engine.parts.ingester().ingest_articles)
    assert watcher.poll().added == 1
    assert watcher.poll().added == 0  # nothing new: nothing read
    (folder / "two.md").write_text("# Library\n\nThe council approved a new library.\n")
    second = watcher.poll()
    assert (second.added, second.unchanged) == (1, 0)
    (folder / "one.md").write_text("# Bridge closed\n\nThe bridge reopened on Friday.\n")
    assert watcher.poll().updated == 1


def test_watch_config_and_a_round(engine: Engine, site: NewsSite, tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="Nothing to watch"):
        Watcher(WatchConfig(), reader_for(engine), FolderWatcher([], lambda a: None))  # type: ignore[arg-type,return-value]
    with pytest.raises(SettingsError, match=r"feeds\[0\]: 'ftp://x' is not"):
        ConfigFile.parse({"feeds": ["ftp://x"]})
    assert parse_interval("15m", "x") == 900 and parse_interval("90", "x") == 90
    with pytest.raises(SettingsError, match="watch_interval"):
        ConfigFile.parse({"watch_interval": "often"})
    config = ConfigFile.parse(
        {"feeds": [f"{site.base}/feed.xml"], "folders": [str(tmp_path)], "watch_interval": "1s"}
    ).watch_config()
    watcher = Watcher(
        config,
        reader_for(engine),
        FolderWatcher(config.folders, engine.parts.ingester().ingest_articles),
    )
    stop = threading.Event()
    rounds: list[Any] = []

    def on_round(report: Any) -> None:
        rounds.append(report)
        if len(rounds) == 2:
            stop.set()

    watcher.run(stop, on_round)
    assert rounds[0].feeds[0].ingested == 2 and rounds[1].feeds[0].not_modified


# -- the fetch policy: no requests to this machine, the cloud metadata service or local files --
def test_feed_links_to_local_addresses_and_files_are_refused_and_never_requested(
    engine: Engine, site: NewsSite, caplog: pytest.LogCaptureFixture
) -> None:
    policy, _ = by_name()
    reader = reader_for(engine, FeedOptions(page_timeout_s=5, max_attempts=3, policy=policy))
    # The feed itself on 127.0.0.1 is refused before any request: nothing allows that address.
    local_feed = reader.poll(f"{site.base}/feed.xml")
    assert local_feed.feed_error.startswith("refused: 127.0.0.1 is a loopback address")
    assert local_feed.failures == [f"{site.base}/feed.xml: {local_feed.feed_error}"]
    assert site.hits["/feed.xml"] == 0
    # A feed on an allowed host whose items point elsewhere: each such item fails, named with
    # its reason; the one real article on the allowed host is ingested all the same.
    with caplog.at_level(logging.WARNING, logger="retrieval.intake.feeds"):
        report = reader.poll(f"{site.named}/hostile.xml")
    port = site.base.rsplit(":", 1)[1]
    assert (report.new_items, report.ingested) == (6, 1)
    assert sorted(report.failures) == sorted(
        [
            f"{site.base}/bridge: refused: 127.0.0.1 is a loopback address"
            " (allow it with BRIEFBOT_FETCH_ALLOW_HOSTS)",
            "http://169.254.169.254/latest/meta-data/: refused: 169.254.169.254 is a link-local"
            " address (allow it with BRIEFBOT_FETCH_ALLOW_HOSTS)",
            f"http://[::ffff:127.0.0.1]:{port}/bridge: refused: ::ffff:127.0.0.1 is a loopback"
            " address (allow it with BRIEFBOT_FETCH_ALLOW_HOSTS)",
            "gopher://127.0.0.1:70/x: not an http or https URL",
        ]
        # feedparser spells the file: link file://etc/passwd
        + [
            f
            for f in report.failures
            if re.fullmatch(r"file:/+etc/passwd: not an http or https URL", f)
        ]
    )
    assert "169.254.169.254" in caplog.text and "etc/passwd" in caplog.text
    assert site.hits["/bridge"] == 0 and site.hits["/library"] == 1
    assert set(stored(engine)) == {"library"}
    assert "root:" not in "".join(a.text for a in stored(engine).values())


def test_redirects_are_checked_at_every_hop_and_limited(site: NewsSite) -> None:
    policy, resolved = by_name(max_redirects=3)
    # A redirect within the allowed host is followed; the request went to the address that was
    # checked, with the host's own name in the Host header; the name was resolved once a hop.
    moved = fetch(f"{site.named}/moved", timeout=5, policy=policy)
    assert moved.status == 200 and moved.url == f"{site.named}/library"
    assert b"public library" in moved.body
    port = site.base.rsplit(":", 1)[1]
    assert site.hosts == [f"{NewsSite.NAME}:{port}"] * 2
    assert resolved == [NewsSite.NAME] * 2
    # From the allowed host to a refused address, or to a file: refused, never requested.
    with pytest.raises(FetchError) as local:
        fetch(f"{site.named}/to-local", timeout=5, policy=policy)
    assert str(local.value) == (
        f"{site.named}/to-local: redirected to {site.base}/bridge: refused: 127.0.0.1 is a"
        " loopback address (allow it with BRIEFBOT_FETCH_ALLOW_HOSTS)"
    )
    assert site.hits["/bridge"] == 0
    with pytest.raises(FetchError, match="redirected to file:///etc/passwd: not an http"):
        fetch(f"{site.named}/to-file", timeout=5, policy=policy)
    with pytest.raises(FetchError, match=f"{site.named}/loop: more than 3 redirects"):
        fetch(f"{site.named}/loop", timeout=5, policy=policy)
    assert site.hits["/loop"] == 4


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/feed.xml",
        "gopher://example.com/",
        "javascript:alert(1)",
        "data:text/html,<p>hi</p>",
        "example.com/feed.xml",
        "",
    ],
)
def test_only_http_and_https_are_fetched(url: str) -> None:
    with pytest.raises(FetchError, match="not an http or https URL"):
        fetch(url, timeout=1, policy=FetchPolicy.allowing("0.0.0.0/0, ::/0"))


@pytest.mark.parametrize(
    "address, why",
    [
        ("169.254.169.254", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::7f00:1", "loopback"),  # NAT64
        ("2002:7f00:1::", "loopback"),  # 6to4
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("240.0.0.1", "private"),
        ("100.64.0.1", "non-public"),  # carrier-grade NAT
        ("93.184.216.34", None),
        ("2606:4700::1111", None),
        ("::ffff:93.184.216.34", None),
        ("64:ff9b::5db8:d822", None),
    ],
)
def test_address_refusal(address: str, why: str | None) -> None:
    assert address_refusal(ipaddress.ip_address(address)) == why


@pytest.mark.parametrize(
    "url, refused",
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local"),
        ("http://10.0.0.1/feed.xml", "10.0.0.1 is a private"),
        ("https://[::1]:8443/", "::1 is a loopback"),
        ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1 is a loopback"),
        ("http://0.0.0.0:8000/", "0.0.0.0 is an unspecified"),
        # Other spellings of 127.0.0.1 are judged by what they resolve to.
        ("http://2130706433/", "2130706433 resolves to 127.0.0.1, which is a loopback"),
        ("http://0x7f.1/", "0x7f.1 resolves to 127.0.0.1, which is a loopback"),
    ],
)
def test_urls_of_refused_addresses(url: str, refused: str) -> None:
    """No request is made: the policy refuses before any connection (and without DNS)."""
    with pytest.raises(FetchError, match=re.escape(f"refused: {refused} address")):
        FetchPolicy().addresses(url)
    with pytest.raises(FetchError, match=re.escape(f"{url}: refused: {refused} address")):
        fetch(url, timeout=1)


def test_the_allow_list_admits_hosts_and_ranges(site: NewsSite) -> None:
    names = {"public.example": ["93.184.216.34"], "mixed.example": ["10.0.0.7", "93.184.216.35"]}
    names["intranet.example"] = ["10.0.0.8"]

    def resolve(host: str, port: int) -> list[str]:
        return names.get(host) or resolve_host(host, port)

    public = FetchPolicy(resolve=resolve)
    assert public.addresses("https://public.example/news")[1] == ["93.184.216.34"]
    assert public.addresses("https://mixed.example/")[1] == ["93.184.216.35"]  # never 10.0.0.7
    with pytest.raises(FetchError, match="intranet.example resolves to 10.0.0.8, which is a priv"):
        public.addresses("http://intranet.example/feed.xml")
    # A CIDR range, an address or a host name in the allow list admits it.
    for allow in ("10.0.0.0/8", "10.0.0.8", "INTRANET.example."):
        policy = FetchPolicy.allowing(f"feeds.example, {allow}", resolve=resolve)
        assert policy.addresses("http://intranet.example/feed.xml")[1] == ["10.0.0.8"]
    ranges = FetchPolicy.allowing("127.0.0.0/8, fd00::/8")
    assert ranges.addresses("http://[::ffff:127.0.0.1]/")[1] == ["::ffff:127.0.0.1"]
    assert ranges.addresses("http://[fd12::1]/")[1] == ["fd12::1"]
    with pytest.raises(FetchError, match="169.254.169.254 is a link-local"):
        ranges.addresses("http://169.254.169.254/")
    # And a real fetch from this machine, admitted by a range.
    assert fetch(f"{site.base}/library", timeout=5, policy=ranges).status == 200
    assert site.hits["/library"] == 1


@pytest.mark.parametrize("bad", ["*.example.com", "10.0.0.0/33", "a b", "http://x.example"])
def test_a_bad_allow_list_entry_is_named(bad: str) -> None:
    with pytest.raises(
        SettingsError,
        match=re.escape(f"BRIEFBOT_FETCH_ALLOW_HOSTS: Value error, '{bad}' is not a host name"),
    ):
        load_settings(fetch_allow_hosts=f"feeds.example, {bad}", _env_file=None)
    settings = load_settings(fetch_allow_hosts="feeds.example, 10.0.0.0/8", _env_file=None)
    policy = FeedOptions.from_settings(settings).policy
    assert policy.allow_names == {"feeds.example"}
    assert policy.allow_networks == (ipaddress.ip_network("10.0.0.0/8"),)


# -- a deadline for the whole fetch -------------------------------------------------------------
class Trickle:
    """A server that answers one byte at a time, 0.1 s apart (headers or body), for 5 s at
    most: a socket timeout alone never fires, only a deadline for the whole answer does."""

    def __init__(self, part: str) -> None:
        head = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n"
        if part == "headers":  # an empty body: only the headers are slow
            answer = head + "Content-Length: 0\r\nX-Padding: " + "x" * 20 + "\r\n\r\n"
        else:
            answer = head + "Content-Length: 50\r\n\r\n" + "y" * 50

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                try:
                    for byte in answer.encode():
                        self.wfile.write(bytes([byte]))
                        time.sleep(0.1)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/drip"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("part", ["headers", "body"])
def test_a_server_that_drips_its_answer_is_cut_off_at_the_deadline(part: str) -> None:
    trickle = Trickle(part)
    try:
        with pytest.raises(FetchError) as failed:
            fetch(trickle.url, timeout=1, policy=LOCAL)
    finally:
        trickle.close()
    assert str(failed.value) == f"{trickle.url}: timed out: no complete answer within 1 s"
    assert failed.value.url == trickle.url


def test_https_goes_to_the_checked_address_with_the_host_name_and_within_the_deadline() -> None:
    """A TCP server that keeps what the client sends first (a TLS ClientHello, where the server
    name travels in clear) and then stays silent for at most 5 s, so the handshake never ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    hello = bytearray()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(5)
            try:
                hello.extend(conn.recv(4096))
                conn.recv(1)  # until the client gives up (or 5 s pass)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    policy, resolved = by_name()
    url = f"https://{NewsSite.NAME}:{listener.getsockname()[1]}/feed.xml"
    try:
        with pytest.raises(FetchError) as failed:
            fetch(url, timeout=1, policy=policy)
    finally:
        thread.join(6)
        listener.close()
    assert str(failed.value) == f"{url}: timed out: no complete answer within 1 s"
    assert resolved == [NewsSite.NAME]  # connected to the address checked (127.0.0.1) ...
    assert hello[:1] == b"\x16" and NewsSite.NAME.encode() in hello  # ... with the name as SNI


# -- a round goes on past any one file, feed or item ---------------------------------------------
GOOD_MD = "# Library approved\n\nThe council approved a new public library on Wednesday.\n"


def test_a_round_goes_on_past_a_file_that_trips_the_loader(
    engine: Engine,
    site: NewsSite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import retrieval.intake.watch as watch

    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "good.md").write_text(GOOD_MD)
    # A real hostile file (an impossible date: the loader raised ValueError when written) ...
    (folder / "impossible-date.md").write_text(
        "---\ntitle: Leap\npublished: 2023-02-30\n---\n\nA day that never was.\n"
    )
    # ... and one whose loader trips over a bug nobody has met yet.
    boom = folder / "boom.md"
    boom.write_text(GOOD_MD.replace("library", "museum"))
    real_load = watch.load_path

    def load(path: Path, **kwargs: Any) -> list[Any]:
        if path == boom:
            raise RuntimeError("an unforeseen bug")
        return real_load(path, **kwargs)

    monkeypatch.setattr(watch, "load_path", load)
    config = WatchConfig(feeds=(f"{site.base}/feed.xml",), folders=(folder,), interval_s=1)
    ingest = engine.parts.ingester().ingest_articles
    watcher = Watcher(config, reader_for(engine), FolderWatcher(config.folders, ingest))
    with caplog.at_level(logging.WARNING, logger="retrieval"):
        first = watcher.round()
    assert first.folders is not None and first.folders.added == 1
    failures = "\n".join(first.folders.failures)
    assert f"{boom}: unexpected error (RuntimeError: an unforeseen bug)" in failures
    assert "impossible-date.md" in failures
    assert any(r.exc_info and "boom.md" in r.getMessage() for r in caplog.records)  # traceback
    assert first.feeds[0].ingested == 2  # the feed went on too
    # The next round runs, and reads a new file.
    (folder / "later.md").write_text(GOOD_MD.replace("library", "bridge"))
    second = watcher.round()
    assert second.folders is not None and (second.folders.added, second.folders.failures) == (1, [])


def test_a_round_goes_on_past_a_feed_or_an_item_that_trips_a_bug(
    engine: Engine,
    site: NewsSite,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import retrieval.intake.feeds as feeds

    real_page_article = feeds.page_article

    def page_article(body: bytes, item: Any, charset: str | None = None) -> Any:
        if item.link.endswith("/bridge"):
            raise RuntimeError("extraction bug")
        return real_page_article(body, item, charset)

    monkeypatch.setattr(feeds, "page_article", page_article)
    reader = reader_for(engine)
    real_poll = reader.poll
    broken_feed = f"{site.base}/broken-reader.xml"

    def poll(feed: str) -> FeedReport:
        if feed == broken_feed:
            raise KeyError("a bug beyond the guards")
        return real_poll(feed)

    monkeypatch.setattr(reader, "poll", poll)
    config = WatchConfig(feeds=(broken_feed, f"{site.base}/feed.xml"), interval_s=1)
    watcher = Watcher(config, reader, FolderWatcher([], engine.parts.ingester().ingest_articles))
    with caplog.at_level(logging.WARNING, logger="retrieval.intake.feeds"):
        first = watcher.round()
    broken, good = first.feeds
    assert broken.url == broken_feed and not broken.ok
    assert broken.feed_error == "unexpected error (KeyError: 'a bug beyond the guards')"
    assert good.ingested == 1  # the library; the bridge tripped the bug; 404 and slow as before
    assert f"{site.base}/bridge: unexpected error (RuntimeError: extraction bug)" in good.failures
    assert any(r.exc_info and "/bridge" in r.getMessage() for r in caplog.records)
    # The bridge is tried again next round (its attempt counted), and the round runs.
    monkeypatch.setattr(feeds, "page_article", real_page_article)
    second = watcher.round()
    assert second.feeds[1].ingested >= 1 and "bridge" in stored(engine)


def test_ingesting_one_bad_article_keeps_out_no_other(engine: Engine, site: NewsSite) -> None:
    real = engine.parts.ingester().ingest_articles

    def ingest(articles: Any) -> Any:
        if any(a.url.endswith("/bridge") for a in articles):
            raise RuntimeError("the store choked on the bridge")
        return real(articles)

    reader = FeedReader(FeedState.in_data_dir(engine.settings.data_dir), ingest, OPTIONS)
    report = reader.poll(f"{site.base}/feed.xml")
    assert report.ingested == 1 and set(stored(engine)) == {"library"}
    assert (
        f"{site.base}/bridge: not ingested (unexpected error (RuntimeError: the store choked on"
        " the bridge))" in report.failures
    )
    # Not counted as a failed attempt of the page: it stays pending, and is fetched again.
    assert reader.state.status(f"{site.base}/feed.xml")["pending"] == 3


# -- the state database is private --------------------------------------------------------------
def test_feed_state_is_private(tmp_path: Path) -> None:
    state = FeedState(tmp_path / "new-data" / "feeds.sqlite3")
    state.checked("https://example.com/feed.xml", '"v1"', None)
    state.close()
    assert (tmp_path / "new-data").stat().st_mode & 0o777 == 0o700
    assert state.path.stat().st_mode & 0o777 == 0o600
    # A file an earlier version left readable by all is made private.
    old = tmp_path / "old" / "feeds.sqlite3"
    old.parent.mkdir()
    old.touch(mode=0o644)
    old.chmod(0o644)
    FeedState(old).close()
    assert old.stat().st_mode & 0o777 == 0o600


# -- the command line: a malformed feed URL is one clear line -----------------------------------
@pytest.mark.parametrize("command", [["ingest"], ["watch", "--once"]])
def test_a_malformed_feed_url_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    env = {
        **os.environ,
        "BRIEFBOT_DATA_DIR": str(tmp_path / "data"),
        "COLUMNS": "200",
        "PYTHONPATH": str(PROJECT_ROOT),  # this checkout's code, whatever is installed
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *command, "--feed", "http://[::1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "Error: --feed: 'http://[::1' is not a valid URL (Invalid IPv6 URL)"
    ]
