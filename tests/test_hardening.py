"""Issue 23, hardening's second round: each case as an attacker or a careless operator would
meet it, with real files, FIFOs, links, child processes and HTTP requests."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrieval.config import PROJECT_ROOT
from retrieval.errors import LoadError, SettingsError
from retrieval.intake.articles import load_path
from retrieval.intake.ingest import IngestReport, load_articles

ARTICLE = "---\ntitle: {title}\npublished: {published}\n---\n" + (
    "The harbour bridge reopened on Monday after three weeks of repairs to its deck. " * 3
)


def article(path: Path, title: str = "Bridge reopens", published: str = "2022-02-11") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(ARTICLE.format(title=title, published=published))
    return path


def child(code: str, timeout: float = 120) -> dict:
    """Run `code` in a fresh Python (this checkout first on the path); its last stdout line is
    JSON. Memory is measured there, not in the test process, which holds the model."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=PROJECT_ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- links out of the folder --------------------------------------------------------------
def test_a_link_out_of_the_ingested_folder_is_skipped_and_said(tmp_path):
    secret = tmp_path / "private" / "shadow.txt"
    secret.parent.mkdir()
    secret.write_text("root:*:19000:0:99999:7:::\nSLACK_BOT_TOKEN=xoxb-123-456\n")
    drop = tmp_path / "drop"
    article(drop / "good.md")
    (drop / "shadow.txt").symlink_to(secret)
    (drop / "private").symlink_to(secret.parent, target_is_directory=True)
    article(drop / "inside" / "real.md", title="Inside")
    (drop / "alias.md").symlink_to(drop / "inside" / "real.md")  # stays in the folder: read

    report = IngestReport()
    articles = load_articles([drop], report)
    assert sorted(a.title for a in articles) == ["Bridge reopens", "Inside", "Inside"]
    assert not any("root:" in a.text or "xoxb" in a.title for a in articles)
    assert report.failures == []
    assert len(report.skipped) == 2, report.skipped
    assert all("a link out of" in s and "BRIEFBOT_FOLLOW_LINKS" in s for s in report.skipped)
    assert any(s.startswith(str(drop / "shadow.txt")) for s in report.skipped)

    # The setting follows them.
    from retrieval.intake.files import ReadOptions

    followed = load_articles([drop], IngestReport(), ReadOptions(follow_links=True))
    assert any(a.title == "root:*:19000:0:99999:7:::" for a in followed)


def test_a_link_loop_inside_the_folder_ends(tmp_path):
    drop = tmp_path / "drop"
    article(drop / "a" / "one.md")
    (drop / "a" / "again").symlink_to(drop, target_is_directory=True)
    report = IngestReport()
    assert len(load_articles([drop], report)) == 1


# -- named pipes --------------------------------------------------------------------------
def _release(fifo: Path) -> None:
    """Open the FIFO's other end, so that a reader blocked on it (the old code) returns."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
    except OSError:
        pass


def _within(seconds: float, work) -> list:
    box: list = []
    t = threading.Thread(target=lambda: box.append(work()), daemon=True)
    t.start()
    t.join(seconds)
    return box


def test_a_named_pipe_never_blocks_ingest_and_the_good_file_goes_in(tmp_path):
    drop = tmp_path / "in"
    article(drop / "good.md")
    fifo = drop / "pipe.txt"
    os.mkfifo(fifo)
    report = IngestReport()
    try:
        done = _within(10, lambda: load_articles([drop], report))
        named = _within(10, lambda: pytest.raises(LoadError, load_path, fifo))
    finally:
        _release(fifo)
    assert done, "ingest blocked on the named pipe"
    assert [a.title for a in done[0]] == ["Bridge reopens"]
    assert report.skipped == [f"{fifo}: skipped, a named pipe, not a regular file"]
    assert named, "a named pipe named explicitly blocked"
    assert "a named pipe, not a regular file" in str(named[0].value)


def test_a_named_pipe_never_blocks_watch(tmp_path):
    from retrieval.intake.watch import FolderWatcher

    drop = tmp_path / "in"
    article(drop / "good.md")
    fifo = drop / "pipe.md"
    os.mkfifo(fifo)
    ingested: list = []

    def ingest(articles):
        ingested.extend(articles)
        return IngestReport(added=len(articles))

    watcher = FolderWatcher([drop], ingest)
    try:
        rounds = _within(10, watcher.poll)
    finally:
        _release(fifo)
    assert rounds, "watch blocked on the named pipe"
    assert [a.title for a in ingested] == ["Bridge reopens"]
    assert rounds[0].skipped == [f"{fifo}: skipped, a named pipe, not a regular file"]
    assert watcher.poll().skipped == []  # said once, not every round


# -- JSON lines that grow without bound ---------------------------------------------------
def test_a_jsonl_gz_of_bad_lines_stays_small_and_is_stopped(tmp_path):
    bomb = tmp_path / "bomb.jsonl.gz"
    good = json.dumps({"id": "g", "title": "Good", "text": "A sentence of news text here."})
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        f.write((good + "\n").encode())
        f.write(b"x\n" * 1_000_000)
    result = child(
        f"""
        import json
        from pathlib import Path
        from retrieval.intake.ingest import IngestReport, load_articles

        def peak():  # VmHWM: ru_maxrss would carry the parent pytest's peak over the exec
            status = Path("/proc/self/status").read_text()
            return int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))

        before = peak()
        report = IngestReport()
        articles = load_articles([{str(bomb)!r}], report)
        grew = peak() - before
        print(json.dumps({{"kb": grew, "articles": len(articles), "failures": report.failures}}))
        """
    )
    assert result["kb"] < 30_000, f"grew {result['kb']} kB"
    assert result["articles"] == 1  # what was read before the stop is kept
    failures = result["failures"]
    assert len(failures) == 12, failures[-3:]  # 10 listed, the count, the stop
    assert failures[0].startswith(f"{bomb}:2: not valid JSON")
    assert failures[-2] == f"{bomb}: 1000 bad lines in all (990 more than listed)"
    assert failures[-1].startswith(f"{bomb}: stopped: 1000 bad lines (BRIEFBOT_MAX_BAD_LINES)")


def test_a_jsonl_gz_that_expands_too_far_is_stopped(tmp_path):
    bomb = tmp_path / "blank.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        for _ in range(8):
            f.write(b"\n" * (1024 * 1024))
        f.write(json.dumps({"text": "A sentence of news text here."}).encode() + b"\n")
    assert bomb.stat().st_size < 100_000
    from retrieval.intake.files import ReadOptions

    options = ReadOptions(max_gzip_ratio=20, min_expanded_bytes=1024 * 1024)
    failures: list[LoadError] = []
    assert load_path(bomb, on_error=failures.append, options=options) == []
    assert len(failures) == 1
    assert "stopped: expands to more than 1 MB" in str(failures[0])
    assert "BRIEFBOT_MAX_GZIP_RATIO" in str(failures[0])
    with pytest.raises(LoadError, match="expands to more than"):
        load_path(bomb, options=options)


# -- YAML aliases -------------------------------------------------------------------------
BOMB = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
feeds: [*h]
"""


def test_yaml_aliases_in_the_configuration_file_are_refused(tmp_path):
    from retrieval.config_file import load_config

    config = tmp_path / "briefbot.yaml"
    config.write_text('feeds: &f ["https://news.example/rss"]\nfolders: *f\n')
    with pytest.raises(SettingsError) as caught:
        load_config(config)
    assert str(caught.value) == f"{config}, line 2: aliases (*name) are not allowed"


def test_an_alias_bomb_in_the_configuration_file_is_refused_at_once(tmp_path):
    config = tmp_path / "briefbot.yaml"
    config.write_text(BOMB)
    # In a child with its address space capped, so that the old code fails instead of taking
    # the machine's memory.
    result = child(
        f"""
        import json, resource, time
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        from pathlib import Path
        from retrieval.config_file import load_config
        from retrieval.errors import SettingsError
        t = time.monotonic()
        try:
            load_config(Path({str(config)!r}))
            said = "accepted"
        except SettingsError as exc:
            said = str(exc)
        except MemoryError:
            said = "MemoryError"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over an exec, so a child of a large
        # pytest process would report the parent's peak.
        status = Path("/proc/self/status").read_text()
        rss = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM:")))
        print(json.dumps({{"said": said, "s": time.monotonic() - t, "kb": rss}}))
        """,
        timeout=60,
    )
    assert result["said"] == f"{config}, line 2: aliases (*name) are not allowed"
    assert result["s"] < 5 and result["kb"] < 300_000


def test_yaml_aliases_in_front_matter_are_refused(tmp_path):
    md = tmp_path / "a.md"
    md.write_text("---\ntitle: &t Bridge\nsource: *t\n---\nThe bridge reopened on Monday.\n")
    with pytest.raises(LoadError, match=r"a\.md:3: front matter is not valid YAML \(aliases"):
        load_path(md)


# -- dates in the future ------------------------------------------------------------------
def test_an_article_dated_in_the_far_future_is_refused_with_file_and_line(tmp_path):
    md = article(tmp_path / "future.md", published="3000-01-01")
    with pytest.raises(LoadError) as caught:
        load_path(md)
    assert str(caught.value).startswith(f"{md}:3: field 'published' is 3000-01-01, in the future")
    assert "BRIEFBOT_MAX_FUTURE_DAYS" in str(caught.value)

    lines = tmp_path / "future.jsonl"
    ok = {"id": "ok", "text": "Some news text.", "published": "2022-02-11"}
    far = {"id": "far", "text": "Some news text.", "published": "3000-01-01T00:00:00Z"}
    lines.write_text(json.dumps(ok) + "\n" + json.dumps(far) + "\n")
    failures: list[LoadError] = []
    assert [a.id for a in load_path(lines, on_error=failures.append)] == ["ok"]
    assert [str(f).split(" is ")[0] for f in failures] == [f"{lines}:2: field 'published'"]


def test_the_future_allowed_is_a_setting(tmp_path):
    from retrieval.config import Settings
    from retrieval.intake.files import ReadOptions

    today = datetime.now(UTC).date()
    tomorrow = article(tmp_path / "a.md", published=(today + timedelta(days=1)).isoformat())
    later = article(tmp_path / "b.md", published=(today + timedelta(days=3)).isoformat())
    assert load_path(tomorrow)[0].published == today + timedelta(days=1)  # time zones differ
    with pytest.raises(LoadError, match="in the future"):
        load_path(later)
    settings = Settings(_env_file=None, max_future_days=7)
    assert load_path(later, options=ReadOptions.from_settings(settings))[0].published is not None


# -- questions with bytes that are not text -----------------------------------------------
def cli(*args: str | bytes, data: Path, **env: str) -> subprocess.CompletedProcess:
    """`briefbot ARGS` in a real process (arguments may be raw bytes, as a shell passes them)."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BRIEFBOT_")},
        "BRIEFBOT_DATA_DIR": str(data),
        "NO_COLOR": "1",
        "COLUMNS": "200",
        "PYTHONPATH": str(PROJECT_ROOT),
        "HF_HUB_OFFLINE": "1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=environ,
        capture_output=True,
        timeout=300,
        cwd=Path(data).parent,
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, numpy_encoder) -> Path:
    """A data directory with the seed article and an article whose title, source and text hold
    terminal escape sequences, indexed here with the numpy encoder (no torch in the CLI)."""
    from retrieval.engine import Engine
    from tests.conftest import SEEDS, make_settings

    root = tmp_path_factory.mktemp("indexed")
    hostile = root / "files" / "hostile.md"
    hostile.parent.mkdir()
    hostile.write_text(
        '---\ntitle: "Harbour \\e[2J\\e]0;pwned\\a bridge"\nsource: "Herald\\e[31m"\n'
        "published: 2022-02-10\n---\n"
        "The harbour bridge \x1b[2J reopened on Monday after repairs, the engineers said. "
        "Traffic on the harbour bridge was light in the morning, the police said.\n"
    )
    engine = Engine(
        make_settings(root / "data"), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    report = engine.ingest([SEEDS, hostile])
    assert report.ok and report.added == 2, report
    assert "\x1b" in engine.parts.store.get_articles(["hostile"])["hostile"].title
    return root / "data"


def test_invalid_utf8_in_a_question_on_the_command_line_is_cleaned(indexed):
    proc = cli(
        "ask", "--as-of", "2022-02-12", b"What did Wallace say \xff\xfe after Shoigu?", data=indexed
    )
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert b"Sources" in proc.stdout
    context = cli("ask", "--context", b"Wallace \xed\xa0\x80", "and Shoigu?", data=indexed)
    assert b"Traceback" not in context.stderr and context.returncode == 0


def test_a_lone_surrogate_in_a_chat_question_is_cleaned_in_the_conversation(seed_engine):
    """Slack and Discord hand their text to the conversation (bot/conversation.py), which is
    where it is cleaned: a JSON payload may carry "\\ud800"."""
    from bot.conversation import Conversation, Message

    conversation = Conversation(seed_engine)
    assert conversation.check_question("Wallace \ud800 said?") == "Wallace \ufffd said?"
    told: list = []

    class Reply:
        stream_interval = 1.0

        def progress(self, text):
            pass

        def stream(self, text):
            pass

        def answer(self, answer, buttons):
            told.append(answer)

        def briefing(self, briefing, buttons):
            pass

        def notice(self, text):
            told.append(text)

        def history(self):
            from bot.conversation import Earlier

            return [Earlier("About Shoigu \udcff", True)]

    message = Message(
        "slack",
        "C1",
        "1.0",
        "U1",
        "What did Wallace say \ud800 after Shoigu?",
        datetime(2022, 2, 12, tzinfo=UTC),
        thread="0.9",
    )
    conversation.answer(message, Reply())
    assert len(told) == 1 and not isinstance(told[0], str), told  # an answer, no apology


# -- what the terminal is shown -----------------------------------------------------------
def test_escape_sequences_in_titles_and_sources_never_reach_the_terminal(indexed):
    sources = cli("sources", data=indexed)
    assert sources.returncode == 0, sources.stderr
    assert b"\x1b" not in sources.stdout and b"Herald[31m" in sources.stdout
    answer = cli(
        "ask", "--as-of", "2022-02-12", "When did the harbour bridge reopen?", data=indexed
    )
    assert answer.returncode == 0, answer.stderr
    assert b"Harbour" in answer.stdout and b"\x1b" not in answer.stdout
    assert b"\x07" not in answer.stdout
    as_json = cli(
        "ask",
        "--json",
        "--as-of",
        "2022-02-12",
        "When did the harbour bridge reopen?",
        data=indexed,
    )
    assert b"\x1b" not in as_json.stdout and b"\\u001b" in as_json.stdout
    json.loads(as_json.stdout)


def test_a_file_name_with_a_newline_cannot_forge_an_output_line(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "x\nError: all articles deleted\x1b[2J.md").write_text("")
    (tmp_path / "secret.md").write_text("SLACK_BOT_TOKEN=xoxb-1-2\n")
    (drop / "secret.md").symlink_to(tmp_path / "secret.md")
    proc = cli("ingest", str(drop), data=tmp_path / "data")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.decode().splitlines()
    assert not any(line.startswith("Error: all") for line in lines), lines
    assert "\x1b" not in proc.stderr.decode()
    assert any(
        "'" + str(drop / "x\\nError: all articles deleted\\x1b[2J.md'") in line for line in lines
    ), lines
    # What was skipped is said.
    assert "1 skipped:" in lines
    link = drop / "secret.md"
    assert (
        f"  {link}: skipped, a link out of {drop} (BRIEFBOT_FOLLOW_LINKS=true follows it)" in lines
    )


# -- intervals ----------------------------------------------------------------------------
@pytest.mark.parametrize("value", ["99999999999h", "1e300", "inf", "nan", "8d"])
def test_a_watch_interval_is_bounded(value, tmp_path):
    from retrieval.config_file import load_config
    from retrieval.intake.watch import parse_interval

    with pytest.raises(SettingsError, match="--interval"):
        parse_interval(value, "--interval")
    config = tmp_path / "briefbot.yaml"
    config.write_text(f'folders: [news]\nwatch_interval: "{value}"\n')
    with pytest.raises(SettingsError, match="line 2: watch_interval"):
        load_config(config)
    assert parse_interval("7d", "--interval") == 7 * 86400


def test_watch_with_a_huge_interval_says_so_in_one_line(tmp_path):
    (tmp_path / "news").mkdir()
    proc = cli(
        "watch",
        "--folder",
        str(tmp_path / "news"),
        "--interval",
        "99999999999h",
        data=tmp_path / "data",
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.decode().strip().splitlines() == [
        "Error: --interval: '99999999999h' is longer than a week (7d), the longest interval"
    ]


# -- a data directory that cannot be used -------------------------------------------------
FEED = "http://127.0.0.1:9/feed.xml"  # nothing listens: it is never reached


@pytest.mark.parametrize("args", [("ingest", "--feed", FEED), ("watch", "--once", "--feed", FEED)])
def test_a_data_directory_that_is_a_file_is_one_line_for_feeds(tmp_path, args):
    data = tmp_path / "data"
    data.write_text("not a folder")
    proc = cli(*args, data=data, BRIEFBOT_FETCH_ALLOW_HOSTS="127.0.0.1")
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines() == [
        f"Error: BRIEFBOT_DATA_DIR: {data} is a file, not a folder"
    ]


@pytest.mark.parametrize("args", [("ingest", "--feed", FEED), ("watch", "--once", "--feed", FEED)])
def test_a_data_directory_that_cannot_be_written_is_one_line_for_feeds(tmp_path, args):
    data = tmp_path / "data"
    data.mkdir()
    # Root writes through any mode; an immutable folder stops it too.
    root = os.geteuid() == 0
    if root:
        subprocess.run(["chattr", "+i", str(data)], check=True)
    else:
        data.chmod(0o500)
    try:
        proc = cli(*args, data=data, BRIEFBOT_FETCH_ALLOW_HOSTS="127.0.0.1")
    finally:
        if root:
            subprocess.run(["chattr", "-i", str(data)], check=True)
        data.chmod(0o700)
    stderr = proc.stderr.decode()
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith(f"Error: BRIEFBOT_DATA_DIR: {data}"), line


# -- an unreachable Chroma server ---------------------------------------------------------
def test_a_chroma_url_that_answers_500_with_nothing_says_what_was_tried(tmp_path):
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Empty500(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Empty500)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        proc = cli("sources", data=tmp_path / "data", BRIEFBOT_CHROMA_URL=url)
    finally:
        server.shutdown()
    [line] = proc.stderr.decode().strip().splitlines()
    assert line == (
        f"Error: BRIEFBOT_CHROMA_URL: no usable Chroma server at {url} (tried Chroma's HTTP API "
        f"there: GET {url}/api/v2/heartbeat answered HTTP 500 Internal Server Error)"
    )


def test_an_unspecified_address_reads_right():
    from retrieval.intake.fetch import FetchError, FetchPolicy

    with pytest.raises(FetchError, match="refused: 0.0.0.0 is an unspecified address"):
        FetchPolicy().addresses("http://0.0.0.0/feed.xml")


# -- feed item pages: at once, within a round's deadline ----------------------------------
PAGE = """<!doctype html><html><head><title>Item {n}</title></head><body><article>
<p>The harbour bridge item number {n} reopened on Monday after three weeks of repairs to its
deck, the city's engineers said at a news conference on the quayside in the morning.</p>
<p>Traffic was light in the morning, and buses went back to their old routes across the river
by the afternoon, the transport authority said in a statement to the local papers.</p>
</article></body></html>"""


class DrippingSite:
    """A feed of `n` items whose pages each take `delay` seconds to answer."""

    def __init__(self, n: int, delay: float) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        site = self
        self.delay = delay
        self.n = n
        self.in_flight = 0  # pages being answered now
        self.most = 0  # the most pages answered at once
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                base = f"http://127.0.0.1:{self.server.server_port}"
                if self.path == "/feed.xml":
                    items = "".join(
                        f"<item><title>Item {k}</title><link>{base}/item/{k}</link>"
                        f"<guid>{base}/item/{k}</guid></item>"
                        for k in range(site.n)
                    )
                    body = (
                        '<?xml version="1.0"?><rss version="2.0"><channel><title>Drip</title>'
                        f"<link>{base}/</link><description>x</description>{items}"
                        "</channel></rss>"
                    ).encode()
                else:
                    import time

                    with lock:
                        site.in_flight += 1
                        site.most = max(site.most, site.in_flight)
                    time.sleep(site.delay)
                    with lock:
                        site.in_flight -= 1
                    body = PAGE.format(n=self.path.rsplit("/", 1)[-1]).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.feed = f"http://127.0.0.1:{self.server.server_port}/feed.xml"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _reader(tmp_path: Path, **options):
    from retrieval.intake.feeds import FeedOptions, FeedReader
    from retrieval.intake.feedstate import FeedState
    from retrieval.intake.fetch import FetchPolicy

    ingested: list = []

    def ingest(articles):
        ingested.extend(articles)
        return IngestReport(added=len(articles))

    opts = FeedOptions(policy=FetchPolicy.allowing("127.0.0.1"), **options)
    return FeedReader(FeedState(tmp_path / "feeds.sqlite3"), ingest, opts), ingested


def test_feed_item_pages_are_fetched_at_once(tmp_path):
    site = DrippingSite(n=8, delay=0.5)
    reader, ingested = _reader(tmp_path, page_timeout_s=10)
    try:
        report = reader.poll(site.feed)
    finally:
        site.close()
    assert report.ok and report.ingested == 8 and len(ingested) == 8, report
    # Counted at the server, not timed: several pages at once (one at a time before), and
    # never more than BRIEFBOT_FEED_CONCURRENCY (4 by default).
    assert 1 < site.most <= 4, site.most


def test_a_round_of_pages_ends_at_its_deadline_and_the_rest_wait(tmp_path):
    import time

    site = DrippingSite(n=6, delay=4.0)
    reader, ingested = _reader(tmp_path, page_timeout_s=10, concurrency=2, round_s=1.0)
    try:
        started = time.monotonic()
        report = reader.poll(site.feed)
        took = time.monotonic() - started
    finally:
        site.close()
    assert took < 3, f"the round took {took:.1f} s"
    assert report.ingested == 0 and ingested == []
    assert report.failures == [
        f"{site.feed}: 6 item pages not fetched within 1 s (BRIEFBOT_FEED_ROUND_S)"
    ]
    # Still pending, no attempt counted: fetched next round as if new.
    assert [attempts for _, attempts in reader.state.pending(site.feed)] == [0] * 6


# -- the Slack HTTP endpoint --------------------------------------------------------------
SERVER = """
import sys
from slack_bolt import App
from bot.slack.http_server import serve_http
app = App(token="xoxb-1-2", signing_secret="secret", token_verification_enabled=False)
server = serve_http(app, 0, "127.0.0.1")
print(server.server_port, flush=True)
server.serve_forever()
"""


def _peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _send_large(port: int, headers: dict[str, str], size: int) -> tuple[bytes, float]:
    """POST a body of `size` bytes (sent in full unless the server closes first); the answer's
    first bytes and how long until they came."""
    import socket
    import time

    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    sock.sendall(
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n{head}\r\n".encode()
    )
    started = time.monotonic()

    def pump() -> None:
        chunk = b"x" * (1024 * 1024)
        try:
            for _ in range(size // len(chunk)):
                sock.sendall(chunk)
        except OSError:
            pass  # the server answered and closed: the rest is never read

    sender = threading.Thread(target=pump, daemon=True)
    sender.start()
    answer = sock.recv(200)
    took = time.monotonic() - started
    sock.close()
    return answer, took


@pytest.fixture
def slack_http():
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, env=env, cwd=PROJECT_ROOT
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    yield proc, port
    proc.kill()
    proc.wait(30)


def test_a_large_forged_body_is_refused_before_it_is_read(slack_http):
    import time

    proc, port = slack_http
    before = _peak_kb(proc.pid)
    forged = {
        "X-Slack-Request-Timestamp": str(int(time.time())),
        "X-Slack-Signature": "v0=" + "0" * 64,
    }
    answer, took = _send_large(port, forged, 200 * 1024 * 1024)
    grew = _peak_kb(proc.pid) - before
    assert grew < 20_000, f"the server grew by {grew} kB"
    assert b" 413 " in answer.split(b"\r\n")[0], answer
    # Bad shapes are refused on the headers too, before a byte of the body.
    stale = {"X-Slack-Request-Timestamp": "1600000000", "X-Slack-Signature": "v0=" + "0" * 64}
    odd = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "forged"}
    for headers in (stale, odd):
        answer, _ = _send_large(port, headers, 50 * 1024)
        assert b" 401 " in answer.split(b"\r\n")[0], answer
    assert _peak_kb(proc.pid) - before < 20_000


def test_a_body_that_drips_is_cut_at_the_deadline_and_an_idle_connection_closed():
    import socket
    import time

    from slack_bolt import App

    from bot.slack.http_server import serve_http

    app = App(token="xoxb-1-2", signing_secret="secret", token_verification_enabled=False)
    server = serve_http(app, 0, "127.0.0.1", idle_timeout_s=1.0, read_deadline_s=1.5)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_port
    try:
        idle = socket.create_connection(("127.0.0.1", port), timeout=10)
        started = time.monotonic()
        assert idle.recv(100) == b""  # closed by the server, having sent nothing
        assert time.monotonic() - started < 5

        drip = socket.create_connection(("127.0.0.1", port), timeout=10)
        drip.sendall(
            b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            + f"X-Slack-Request-Timestamp: {int(time.time())}\r\n".encode()
            + b"X-Slack-Signature: v0="
            + b"0" * 64
            + b"\r\n\r\n"
        )
        started = time.monotonic()
        drip.setblocking(False)
        answer = b""
        while time.monotonic() - started < 8 and not answer:
            try:
                drip.send(b"x")  # a byte every 0.5 s: within the idle timeout each time
            except OSError:
                break
            time.sleep(0.5)
            try:
                answer = drip.recv(200)
            except BlockingIOError:
                pass
        assert b" 408 " in answer.split(b"\r\n")[0], answer
        assert time.monotonic() - started < 4
    finally:
        server.shutdown()
        server.server_close()


def test_serve_slack_http_listens_on_the_host_given(monkeypatch):
    from bot import cli as cli_module
    from bot.cli import serve
    from bot.slack import settings as slack_server

    seen: list = []
    monkeypatch.setattr(
        serve, "_serve", lambda adapters, config, if_configured: seen.extend(adapters)
    )
    from typer.testing import CliRunner

    env = {"SLACK_BOT_TOKEN": "xoxb-1-2", "SLACK_SIGNING_SECRET": "s", "BRIEFBOT_SLACK_HOST": "::"}
    result = CliRunner().invoke(
        cli_module.app, ["serve", "slack", "--http", "--host", "127.0.0.1"], env=env
    )
    assert result.exit_code == 0, result.output
    assert seen[0].host == "127.0.0.1"
    assert slack_server.SlackSettings(_env_file=None).slack_host == "0.0.0.0"  # documented default
    monkeypatch.setenv("BRIEFBOT_SLACK_HOST", "127.0.0.1")
    assert slack_server.SlackSettings(_env_file=None).slack_host == "127.0.0.1"


# -- the health server --------------------------------------------------------------------
def test_the_health_server_closes_idle_connections_and_refuses_bodies(seed_engine):
    import socket
    import time

    from bot.health_server import HealthServer

    server = HealthServer(seed_engine, "test", host="127.0.0.1", port=0, idle_timeout_s=1.0)
    server.start()
    try:
        idle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        started = time.monotonic()
        assert idle.recv(100) == b""
        assert time.monotonic() - started < 5
        answer, _ = _send_large_to(server.port, "/health", 200 * 1024 * 1024)
        assert b" 413 " in answer.split(b"\r\n")[0], answer
    finally:
        server.stop()


def _send_large_to(port: int, path: str, size: int) -> tuple[bytes, float]:
    import socket
    import time

    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n".encode())
    started = time.monotonic()
    answer = sock.recv(200)
    sock.close()
    return answer, time.monotonic() - started


def test_a_health_port_that_is_taken_is_one_line(seed_engine):
    import socket

    from bot.health_server import HealthServer

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SettingsError, match=f"cannot listen on 127.0.0.1 port {port}"):
            HealthServer(seed_engine, "test", host="127.0.0.1", port=port)


def test_a_feed_page_dated_in_the_far_future_is_refused(tmp_path):
    from retrieval.intake.feeds import FeedOptions, FeedReader
    from retrieval.intake.feedstate import FeedState
    from retrieval.intake.fetch import Response

    feed = "https://news.example/feed.xml"
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        "<link>https://news.example/</link><description>x</description>"
        "<item><title>Item 1</title><link>https://news.example/1</link>"
        "<pubDate>Wed, 01 Jan 3000 00:00:00 GMT</pubDate></item>"
        "</channel></rss>"
    )
    page = PAGE.format(n=1)  # no date of its own: the feed's is taken

    def fetcher(url, timeout, headers=None, policy=None):
        body = rss if url == feed else page
        return Response(200, body.encode(), url, {"content-type": "text/html; charset=utf-8"})

    ingested: list = []
    reader = FeedReader(
        FeedState(tmp_path / "feeds.sqlite3"),
        lambda a: ingested.extend(a) or IngestReport(),
        FeedOptions(),
        fetcher=fetcher,
    )
    report = reader.poll(feed)
    assert ingested == [] and len(report.failures) == 1
    assert report.failures[0].startswith(
        "https://news.example/1: dated 3000-01-01, in the future"
    ), report.failures
