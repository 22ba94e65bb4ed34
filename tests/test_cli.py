"""The CLI as a newcomer meets it: a real process, a fresh data directory, the seed article."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import cli
from tests.conftest import FIXTURES, SEED


def run(*args: str, data: Path, check: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "BRIEFBOT_DATA_DIR": str(data), "NO_COLOR": "1", "COLUMNS": "200"}
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
    assert "10/10 passed" in proc.stdout


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


def test_folder_ingest_goes_on_past_bad_files(tmp_path, monkeypatch):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "good.txt").write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "empty.txt").write_text("")
    (folder / "binary.txt").write_bytes(b"\x00\x01\x02garbage")
    (folder / "budget.md").write_text((FIXTURES / "articles" / "council-budget.md").read_text())
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli.State, "settings", None)
    result = CliRunner().invoke(cli.app, ["ingest", str(folder)])
    assert result.exit_code == 1
    assert "empty.txt" in result.output and "binary.txt" in result.output
    assert "2 added" in result.output and "2 failed" in result.output
    result = CliRunner().invoke(cli.app, ["ingest", str(folder / "good.txt")])
    assert result.exit_code == 0 and "1 unchanged" in result.output


def test_unknown_file_type_is_refused(tmp_path, monkeypatch):
    doc = tmp_path / "notes.docx"
    doc.write_bytes(b"PK\x03\x04")
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli.State, "settings", None)
    result = CliRunner().invoke(cli.app, ["ingest", str(doc)])
    assert result.exit_code == 1 and "notes.docx" in result.output
    assert "unsupported file type" in result.output
