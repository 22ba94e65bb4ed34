"""Feed intake against a local HTTP server: an RSS feed and its article pages, with a page that
answers 404, a slow page, malformed XML, a feed that is down; ETags; folders polled."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from retrieval.engine import Engine
from retrieval.errors import SettingsError
from retrieval.feeds import (
    FeedOptions,
    FeedReader,
    FeedState,
    FolderWatcher,
    WatchConfig,
    Watcher,
    parse_feed,
    parse_interval,
)

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


class NewsSite:
    """A small news site: /feed.xml (with an ETag), pages, /broken.xml, a 404 and a slow page."""

    ETAG = '"feed-v1"'

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.conditional: list[str] = []
        self.slow_s = 2.0
        self.missing_found = False
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                site.hits[self.path] += 1
                base = f"http://127.0.0.1:{self.server.server_port}"
                if self.path == "/feed.xml":
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


OPTIONS = FeedOptions(feed_timeout_s=5, page_timeout_s=0.5, max_attempts=3)


def reader_for(engine: Engine) -> FeedReader:
    state = FeedState.in_data_dir(engine.settings.data_dir)
    return FeedReader(state, engine.ingester().ingest_articles, OPTIONS)


def stored(engine: Engine) -> dict[str, Any]:
    return {
        a.url.rsplit("/", 1)[-1]: a
        for a in engine.store.get_articles(list(engine.store.hashes_all())).values()
    }


@pytest.fixture
def engine(make_engine) -> Engine:
    e = make_engine()
    # every stored article id, for the assertions
    e.store.hashes_all = lambda: [  # type: ignore[attr-defined]
        i for page in e.store.iter_articles() for i in page["ids"]
    ]
    return e


def test_new_items_are_fetched_extracted_and_ingested(
    engine: Engine, site: NewsSite, caplog: pytest.LogCaptureFixture
) -> None:
    feed = f"{site.base}/feed.xml"
    with caplog.at_level(logging.WARNING, logger="retrieval.feeds"):
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
    with caplog.at_level(logging.WARNING, logger="retrieval.feeds"):
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
    from retrieval.feeds import FetchError

    with pytest.raises(FetchError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>hello</body></html>", "https://a.example/")


def test_folders_are_polled_for_new_and_changed_files(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "one.md").write_text("# Bridge closed\n\nThe bridge was closed on Wednesday.\n")
    watcher = FolderWatcher([folder], engine.ingester().ingest_articles)
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
    with pytest.raises(SettingsError, match="feeds: 'ftp://x' is not"):
        WatchConfig.from_config({"feeds": ["ftp://x"]})
    assert parse_interval("15m", "x") == 900 and parse_interval("90", "x") == 90
    with pytest.raises(SettingsError, match="watch_interval"):
        WatchConfig.from_config({"watch_interval": "often"})
    config = WatchConfig.from_config(
        {"feeds": [f"{site.base}/feed.xml"], "folders": [str(tmp_path)], "watch_interval": "1s"}
    )
    watcher = Watcher(
        config, reader_for(engine), FolderWatcher(config.folders, engine.ingester().ingest_articles)
    )
    stop = threading.Event()
    rounds: list[Any] = []

    def on_round(report: Any) -> None:
        rounds.append(report)
        if len(rounds) == 2:
            stop.set()

    watcher.run(stop, on_round)
    assert rounds[0].feeds[0].ingested == 2 and rounds[1].feeds[0].not_modified
