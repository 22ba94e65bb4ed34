"""Logs: JSON lines when stderr is not a terminal, with the error ids users see in chat, and
never a secret, traceback included."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from bot import logs
from bot.conversation import Conversation
from bot.slack.settings import SlackSettings
from retrieval.config import read_settings
from retrieval.health import health_report

TOKEN = "xoxb-1234-5678-very-secret-token"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _root_logger_restored():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def stream():
    out = io.StringIO()
    logs.setup("INFO", "auto", out)
    return out


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_when_not_a_terminal_text_on_one(stream):
    logging.getLogger("briefbot.test").info("loaded %d chunks", 42)
    [entry] = lines(stream)
    assert entry["message"] == "loaded 42 chunks" and entry["level"] == "INFO"
    assert entry["logger"] == "briefbot.test" and entry["time"].endswith("+00:00")
    tty = Tty()
    logs.setup("INFO", "auto", tty)
    logging.getLogger("briefbot.test").info("loaded %d chunks", 7)
    assert tty.getvalue().rstrip().endswith("INFO briefbot.test: loaded 7 chunks")
    assert not stream.getvalue().count("\n") > 1  # one handler at a time: replaced, not added


def test_an_internal_error_is_logged_with_the_id_the_user_saw(stream, seed_engine):
    conversation = Conversation(seed_engine)
    try:
        raise RuntimeError("the index fell over")
    except RuntimeError as exc:
        told = conversation.failure(exc)
    error_id = re.search(r"error `([0-9a-f]{8})`", told)[1]
    [entry] = [e for e in lines(stream) if e["level"] == "ERROR"]
    assert entry["error_id"] == error_id and error_id in entry["message"]
    assert "RuntimeError: the index fell over" in entry["traceback"]
    # The health report's last error is the same one.
    last = health_report(seed_engine)["last_error"]
    assert last["error_id"] == error_id and last["kind"] == "internal"
    assert "the index fell over" in last["message"]


def test_secrets_never_reach_the_logs(stream, monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "plain-words-secret")
    read_settings(SlackSettings, _env_file=None)  # read once: its secrets are known
    log = logging.getLogger("briefbot.test")
    log.warning("calling Slack with %s and plain-words-secret", TOKEN)
    try:
        raise ValueError(f"Authorization: Bearer {TOKEN}")
    except ValueError:
        log.exception("the call failed")
    log.warning("a pasted token: xapp-1-A0000-1111-abcdef0123456789")
    out = stream.getvalue()
    assert TOKEN not in out and "plain-words-secret" not in out
    assert "xapp-1-A0000" not in out
    assert out.count("***") >= 4
    assert all(json.loads(line) for line in out.splitlines())  # still valid JSON


def test_text_logs_are_redacted_too(monkeypatch):
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    read_settings(SlackSettings, _env_file=None)
    tty = Tty()
    logs.setup("INFO", "text", tty)
    logging.getLogger("briefbot.test").error("bad token %s", TOKEN, extra={"error_id": "abcd1234"})
    assert TOKEN not in tty.getvalue() and "[error abcd1234]" in tty.getvalue()
