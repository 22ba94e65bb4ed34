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
    from retrieval.intake.articles import ReadOptions

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
        import json, resource
        from retrieval.intake.ingest import IngestReport, load_articles
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        report = IngestReport()
        articles = load_articles([{str(bomb)!r}], report)
        grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
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
    from retrieval.intake.articles import ReadOptions

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
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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

    today = datetime.now(UTC).date()
    tomorrow = article(tmp_path / "a.md", published=(today + timedelta(days=1)).isoformat())
    later = article(tmp_path / "b.md", published=(today + timedelta(days=3)).isoformat())
    assert load_path(tomorrow)[0].published == today + timedelta(days=1)  # time zones differ
    with pytest.raises(LoadError, match="in the future"):
        load_path(later)
    settings = Settings(_env_file=None, max_future_days=7)
    assert load_path(later, options=settings.read_options)[0].published is not None
