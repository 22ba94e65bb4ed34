"""The CLI as a newcomer meets it: a real process, a fresh data directory, the seed article."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli
from bot.cli import state
from bot.cli.progress import IngestBar
from retrieval.config import PROJECT_ROOT
from retrieval.engine import Engine
from tests.conftest import FIXTURES, SEED


@pytest.fixture
def numpy_cli(monkeypatch, tmp_path, numpy_encoder):
    """The CLI in this process, on a fresh data directory, with the numpy encoder for both
    questions and documents (the same vectors, without loading torch)."""
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(state.State, "settings", None)
    monkeypatch.setattr(
        state,
        "make_engine",
        lambda: Engine(
            state.settings(), query_encoder=numpy_encoder, document_encoder=numpy_encoder
        ),
    )
    return lambda *args: CliRunner().invoke(cli.app, list(args))


def run(*args: str, data: Path, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRIEFBOT_DATA_DIR": str(data), "NO_COLOR": "1", "COLUMNS": "200"}
    # This checkout's code, whatever the installed package points at (the process runs
    # elsewhere, so `-m` alone would find the installed one).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=data.parent,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """A data directory that a first `briefbot ask` seeded by itself."""
    data = tmp_path_factory.mktemp("cli") / "data"
    proc = run("ask", "What did Wallace say after meeting Shoigu?", data=data, check=True)
    assert "indexing the seed articles" in proc.stderr
    assert "1 added" in proc.stderr
    out = proc.stdout
    assert "would not invade Ukraine" in out and "tragic consequences" in out
    assert "Sources" in out and "[1]" in out and "2022-02-11" in out
    return data


def test_ask_json_is_the_answer_object(seeded):
    proc = run(
        "ask",
        "--json",
        "--as-of",
        "2022-02-12",
        "How many troops are near the border?",
        data=seeded,
        check=True,
    )
    answer = json.loads(proc.stdout)
    assert answer["abstained"] is False and "130,000" in answer["citations"][0]["quote"]
    assert "indexing" not in proc.stderr  # already seeded: nothing indexed twice


def test_sources_lists_what_is_indexed(seeded):
    proc = run("sources", "--json", data=seeded, check=True)
    summary = json.loads(proc.stdout)
    assert summary["articles"] == 1 and summary["first"] == "2022-02-11"


def test_seed_questions_check(seeded):
    proc = run("eval", "--questions", str(FIXTURES / "seed_questions.jsonl"), data=seeded)
    assert proc.returncode == 0, proc.stdout
    assert "12/12 passed" in proc.stdout


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["ask", ""], 2, "The question is empty"),
        (["ask", "why " * 600], 2, "limit is 2,000"),
        (["ask", "--as-of", "yesterdayish", "Why?"], 2, "--as-of"),
        (["ingest", "no/such/file.txt"], 2, "no/such/file.txt"),
    ],
)
def test_bad_input_exits_with_a_clear_error(tmp_path, args, code, message):
    proc = run(*args, data=tmp_path / "data")
    assert proc.returncode == code
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_folder_ingest_goes_on_past_bad_files(tmp_path, numpy_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (folder / "budget.md").write_text((FIXTURES / "articles" / "council-budget.md").read_text())
    result = numpy_cli("ingest", str(folder))
    assert result.exit_code == 1
    assert "empty.txt" in result.output and "binary.txt" in result.output
    assert "2 added" in result.output and "2 failed" in result.output
    result = numpy_cli("ingest", str(folder / "good.txt"))
    assert result.exit_code == 0 and "1 unchanged" in result.output


def test_unknown_file_type_is_refused(tmp_path, numpy_cli):
    doc = tmp_path / "notes.docx"
    doc.write_bytes(b"PK\x03\x04")
    result = numpy_cli("ingest", str(doc))
    assert result.exit_code == 1 and "notes.docx" in result.output
    assert "unsupported file type" in result.output


def get_health(port: int) -> tuple[int, dict]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_watch_runs_as_the_service_does_until_sigterm(tmp_path, numpy_cli, monkeypatch):
    """/health with the role "watch" while it runs; SIGTERM ends it after the round under way,
    /health answering "stopping" meanwhile, and the exit is a clean one."""
    import signal

    from bot.cli import watch

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("BRIEFBOT_HEALTH_HOST", "127.0.0.1")
    monkeypatch.setenv("BRIEFBOT_HEALTH_PORT", str(port))
    previous = signal.getsignal(signal.SIGTERM)
    seen: list[tuple[int, dict]] = []
    print_round = watch.print_round

    def on_round(report):
        print_round(report)
        seen.append(get_health(port))
        signal.raise_signal(signal.SIGTERM)  # its handler has run when this returns
        seen.append(get_health(port))

    monkeypatch.setattr(watch, "print_round", on_round)
    result = numpy_cli("watch", "--folder", str(folder), "--interval", "1h")
    assert result.exit_code == 0, result.output
    assert "Watching 0 feeds and 1 folder, every 3600 s (Ctrl-C to stop)" in result.output
    assert "1 added" in result.output
    (running, before), (stopping, after) = seen  # one round, then stopped
    assert running == 200 and before["process"]["role"] == "watch"
    assert stopping == 503 and after["status"] == "stopping"
    assert signal.getsignal(signal.SIGTERM) is previous
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass  # the health server is gone with it


# --- hostile input and broken set-ups: one clear line, never a traceback --------------------


def test_user_data_is_printed_as_plain_text_not_markup(tmp_path, numpy_cli):
    folder = tmp_path / "in"
    (folder / "a[").mkdir(parents=True)
    (folder / "a[" / "x]b.txt").write_text("")  # its path holds "[/x]"
    (folder / "[draft] notes.txt").write_text("")
    result = numpy_cli("ingest", str(folder))
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "a[/x]b.txt: file is empty" in result.output
    assert "[draft] notes.txt: file is empty" in result.output


def test_an_empty_or_reversed_briefing_window_is_an_error(tmp_path, monkeypatch):
    for since, until in [("2023-01-01", "2022-01-01"), ("2022-05-01", "2022-05-01")]:
        proc = run("brief", "--since", since, "--until", until, data=tmp_path / "data")
        assert proc.returncode == 2, proc.stderr
        assert "The window is empty" in proc.stderr and since in proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was indexed


def test_a_relative_since_counts_back_from_until(seeded):
    proc = run("brief", "--since", "7d", "--until", "2022-02-14", "--json", data=seeded)
    assert proc.returncode == 0, proc.stderr
    briefing = json.loads(proc.stdout)
    assert (briefing["since"], briefing["until"]) == (
        "2022-02-07T00:00:00+00:00",
        "2022-02-14T00:00:00+00:00",
    )
    assert len(briefing["stories"]) == 1 and briefing["also_in_the_news"] == []
    proc = run("brief", "--since", "0d", "--until", "2022-02-14", data=seeded)
    assert proc.returncode == 2 and "The window is empty" in proc.stderr


def test_the_terminal_shows_also_in_the_news_one_line_each():
    from rich.console import Console

    from bot.render_terminal import render_briefing
    from retrieval.models import Briefing, Citation, NewsItem, Story

    def cite(n: int, quote: str) -> Citation:
        return Citation(
            n,
            f"a{n}",
            f"T{n}",
            "cnn.com",
            "2022-08-04",
            f"https://x.example/{n}",
            quote,
            0,
            len(quote),
        )

    story = Story(
        "Griner sentenced",
        "She was sentenced. [1]",
        [cite(1, "She was sentenced.")],
        ["a1"],
        ["cnn.com"],
    )
    item = NewsItem(
        "Rates rise", cite(2, "The Bank of England raised\nrates."), ["a2"], ["cnn.com"]
    )
    console = Console(record=True, width=200, color_system=None)
    console.print(
        render_briefing(Briefing("2022-08-01", "2022-08-04", None, [story], [], "", [item]))
    )
    shown = console.export_text()
    assert (
        "Also in the news\n• The Bank of England raised rates. [2] — cnn.com · 2022-08-04" in shown
    )
    console = Console(record=True, width=200, color_system=None)
    console.print(render_briefing(Briefing("2022-08-01", "2022-08-04", None, [story])))
    assert "Also in the news" not in console.export_text()


def test_a_data_directory_that_is_a_file_is_named(tmp_path):
    data = tmp_path / "data"
    data.write_text("not a folder")
    proc = run("sources", data=data)
    assert proc.returncode == 2
    assert f"BRIEFBOT_DATA_DIR: {data} is a file, not a folder" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_data_directory_this_user_cannot_write_is_named(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    # Root writes through any mode; an immutable folder stops it too.
    lock, unlock = (["chattr", "+i"], ["chattr", "-i"]) if os.geteuid() == 0 else ([], [])
    if lock:
        subprocess.run([*lock, str(locked)], check=True)
    else:
        locked.chmod(0o500)
    try:
        proc = run("sources", data=locked / "data")
    finally:
        if unlock:
            subprocess.run([*unlock, str(locked)], check=True)
        locked.chmod(0o700)
    assert proc.returncode == 2, proc.stderr
    assert f"BRIEFBOT_DATA_DIR: cannot create {locked / 'data'}" in proc.stderr
    assert "(permission denied)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def not_chroma_server():
    """A local HTTP server that answers everything with an HTML 404 page."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class NotFound(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_error(404)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_unusable_chroma_url_says_why_in_one_line(tmp_path, not_chroma_server):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    for url, reason in [(closed, "Connection refused"), (not_chroma_server, "Error code: 404")]:
        env = {**os.environ, "BRIEFBOT_CHROMA_URL": url, "BRIEFBOT_DATA_DIR": str(tmp_path)}
        proc = subprocess.run(
            [sys.executable, "-m", "bot.cli", "sources"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith("Error: BRIEFBOT_CHROMA_URL: no usable Chroma server")
        assert reason in lines[0] and "<" not in lines[0] and "()" not in lines[0]


def test_what_briefbot_writes_is_private_to_the_user(tmp_path):
    data = tmp_path / "data"
    proc = run("sources", "--json", data=data, check=True)
    assert json.loads(proc.stdout)["articles"] == 0
    from retrieval.feedback import FeedbackStore

    FeedbackStore.in_data_dir(data / "votes")
    for path in [data, *data.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
    assert (data / "votes" / "feedback.sqlite3").stat().st_mode & 0o777 == 0o600


def test_ingest_progress_says_what_it_does_and_the_time_left(make_engine, capsys):
    engine = make_engine()
    seen: list[tuple[str, int, float | None]] = []
    bar = IngestBar("Ingesting")
    lines: list[str] = []

    def record(p):
        seen.append((p.stage, p.articles_done, p.seconds_left))
        lines.append(bar.detail(p))

    report = engine.ingest([FIXTURES / "articles"], on_progress=record)
    assert report.added >= 2
    stages = [s for s, _, _ in seen]
    assert stages[:3] == ["reading", "loading the embedding model", "embedding"]
    assert lines[1] == "loading the embedding model…"
    done = [(n, left) for s, n, left in seen if s == "embedding" and n]
    assert done and all(left is not None for _, left in done)
    assert done[-1][1] == 0 and "left" in lines[-1] and "chunks/s" in lines[-1]


# -- briefbot follow ------------------------------------------------------------------------------
def _jsonl(path: Path, *articles) -> Path:
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": a.id,
                    "title": a.title,
                    "text": a.text,
                    "published": a.published.isoformat(),
                    "source": a.source,
                    "url": a.url,
                }
            )
            + "\n"
            for a in articles
        )
    )
    return path


def test_follow_add_list_remove_and_run_once(tmp_path, numpy_cli):
    from tests.test_follow import FROG, PLEA, TRIAL_OPENS, VERDICT, VERDICT_HERALD

    numpy_cli("ingest", str(_jsonl(tmp_path / "old.jsonl", TRIAL_OPENS)))
    result = numpy_cli("follow", "add", "Griner trial", "--since", "2022-06-01")
    assert result.exit_code == 0, result.output
    assert "Following 'Griner trial' in default." in result.output
    assert "1 indexed article about it now" in result.output
    result = numpy_cli("follow", "add", "volcanoes on Mars", "--channel", "space")
    assert "Nothing indexed is about it yet" in result.output
    result = numpy_cli("follow", "list")
    assert result.exit_code == 0
    assert "Griner trial · since 2022-06-01 · last posted never" in result.output
    assert "Mars" not in result.output  # another channel
    # The article from before the follow, published since its start date, then new ones.
    result = numpy_cli("follow", "run", "--once")
    assert result.exit_code == 0, result.output
    assert "Griner trial · default" in result.output
    assert "“The trial of American basketball star Brittney Griner opened" in result.output
    assert "Griner trial opens in Moscow · Wire Daily · 2022-07-01" in result.output
    assert TRIAL_OPENS.url in result.output
    result = numpy_cli(
        "ingest", str(_jsonl(tmp_path / "new.jsonl", PLEA, FROG, VERDICT, VERDICT_HERALD))
    )
    assert "4 added" in result.output, result.output
    result = numpy_cli("follow", "run", "--once")
    assert result.exit_code == 0, result.output
    assert "pleaded guilty" in result.output and "nine years" in result.output
    assert "also reported by Global Herald" in result.output
    assert "frog" not in result.output.lower()
    result = numpy_cli("follow", "run", "--once")
    assert "Nothing new on the followed topics." in result.output
    result = numpy_cli("follow", "list")
    assert "last posted never" not in result.output
    result = numpy_cli("follow", "remove", "GRINER trial")
    assert result.exit_code == 0 and "No longer following 'Griner trial'" in result.output
    result = numpy_cli("follow", "list")
    assert "default follows no topic" in result.output


def test_follow_bad_input_names_what_is_wrong(numpy_cli):
    from retrieval import FollowError

    result = numpy_cli("follow", "add", "Griner trial", "--digest", "weekly")
    assert isinstance(result.exception, FollowError)
    assert "'weekly' is not a digest: use hourly or daily" in str(result.exception)
    result = numpy_cli("follow", "add", "Griner trial", "--since", "July")
    assert result.exit_code == 2 and "'July' is not a date (YYYY-MM-DD)" in result.output
    result = numpy_cli("follow", "remove", "Griner trial")
    assert isinstance(result.exception, FollowError)
    assert "does not follow 'Griner trial'" in str(result.exception)
    result = numpy_cli("follow", "run", "--once")
    assert result.exit_code == 1 and "No topic is followed" in result.output


def test_follow_errors_exit_non_zero_with_the_message(tmp_path):
    proc = run("follow", "add", "   ", data=tmp_path / "data")
    assert proc.returncode == 2
    assert "Error: The topic is empty" in proc.stderr


def test_follow_run_prints_what_another_process_commits_until_ctrl_c(tmp_path, numpy_encoder):
    """`briefbot follow run` in its own process, as `watch` runs: an article another process
    commits is printed within a few rounds; Ctrl-C stops it cleanly."""
    import signal
    import threading
    import time

    from tests.conftest import make_settings
    from tests.test_follow import FROG, HARBOUR, TRIAL_OPENS

    data = tmp_path / "data"
    engine = Engine(
        make_settings(data), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    engine.ingest_articles([HARBOUR])
    engine.follows.add("cli", "default", "Griner trial")
    env = {**os.environ, "BRIEFBOT_DATA_DIR": str(data), "NO_COLOR": "1", "COLUMNS": "200"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "follow", "run", "--interval", "0.2"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    printed = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Griner" in line and "opened" in line:
                printed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert proc.stderr is not None
        assert "Following 1 topic, every 0.2 s (Ctrl-C to stop)" in proc.stderr.readline()
        engine.ingest_articles([FROG, TRIAL_OPENS])
        committed = time.monotonic()
        assert printed.wait(60), "".join(lines)
        assert time.monotonic() - committed < 30  # bench/follow.py measures the p95 (≤ 5 s)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    text = "".join(lines)
    assert text.count("opened in a court") == 1 and "frog" not in text
    assert "Stopping" in proc.stderr.read()
