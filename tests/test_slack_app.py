"""The Slack adapter, through Bolt's real request path, against the real engine on the seed.

The app is served in HTTP mode on localhost and receives signed requests, as Slack sends
them; its WebClient talks to a fake Slack Web API (a small HTTP server in this module, as
bolt-python's own tests do) that records every call and every response_url post.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.conversation import APOLOGY, SEARCHING, Conversation
from bot.slack.app import LISTENER_THREADS
from bot.slack.http_server import serve_http
from bot.slack.listeners import DECLINE, GREETING, SUGGESTED_PROMPTS, WORKERS
from bot.slack.render import (
    ACTION_SHARE,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    BLOCK_LIMIT,
    MESSAGE_CHARS,
    TEXT_LIMIT,
    escape,
    render_answer,
    render_briefing,
    source_line,
    split_text,
)
from bot.slack.settings import SlackSettings, check_settings
from bot.slack.translate import encode_value, parse_brief_args, plain_text
from retrieval.engine import Engine
from retrieval.errors import SettingsError
from retrieval.events import SeenEvents
from retrieval.feedback import FeedbackStore
from retrieval.models import Answer, Briefing, Citation, NewsItem, Quote, Story
from tests.fake_llm import FABRICATED_NUMBER, GOOD, KEY, QUESTION, FakeLLM, engine_with_model

BOT_TOKEN = "xoxb-test-0000-secret-bot-token"
APP_TOKEN = "xapp-test-0000-secret-app-token"
SIGNING_SECRET = "test-signing-secret-do-not-log"
BOT_USER = "UBOT"
ALLOWED = "C1,C2,C3,D1"
# 2022-02-12 10:00 UTC: the day after the seed article was published.
T0 = 1644660000
TIMEOUT = 30.0


# -- a fake Slack Web API ---------------------------------------------------------------------
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default of 5 reset connections when 20 requests came at once


class FakeSlack:
    """Answers the Web API methods the app calls and records each call, in order.

    `rate_limit()` holds every chat.postMessage unanswered until `lift()`, as a client waiting
    out a 429's Retry-After is held; `held` counts the posts waiting.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.threads: dict[str, list[dict[str, Any]]] = {}  # thread ts -> conversations.replies
        self.refused: set[str] = set()  # methods answered {"ok": false}
        self.held = 0
        self._lifted = threading.Event()
        self._lifted.set()
        self._cond = threading.Condition()
        self._ts = count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                if "json" in (self.headers.get("Content-Type") or ""):
                    payload = json.loads(raw) if raw else {}
                else:
                    payload = {k: v[-1] for k, v in urllib.parse.parse_qs(raw or query).items()}
                if path.startswith("/response/"):
                    fake.record(path, payload)
                    self._reply(200, "ok", "text/plain")
                    return
                method = path.removeprefix("/api/")
                if self.headers.get("Authorization") != f"Bearer {BOT_TOKEN}":
                    self._reply(200, json.dumps({"ok": False, "error": "invalid_auth"}))
                    return
                if method == "chat.postMessage" and not fake._lifted.is_set():
                    fake.hold()
                result = fake.answer(method, payload)
                if "ts" in result and method in ("chat.postMessage", "chat.startStream"):
                    payload["_ts"] = result["ts"]  # so that a test can find its chat.update
                fake.record(method, payload)
                self._reply(200, json.dumps(result))

            def _reply(self, status: int, body: str, kind: str = "application/json") -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def rate_limit(self) -> None:
        self._lifted.clear()

    def lift(self) -> None:
        self._lifted.set()

    def hold(self) -> None:
        with self._cond:
            self.held += 1
            self._cond.notify_all()
        self._lifted.wait(TIMEOUT)
        with self._cond:
            self.held -= 1

    def wait_held(self, n: int) -> None:
        """Until `n` chat.postMessage calls are held by the rate limit."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.held >= n, TIMEOUT):
                raise AssertionError(f"{self.held} of {n} posts held")

    def record(self, method: str, payload: dict[str, Any]) -> None:
        with self._cond:
            self.calls.append((method, payload))
            self._cond.notify_all()

    def answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method in self.refused:
            return {"ok": False, "error": "feature_not_enabled"}
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
                "team_id": "T1",
                "user": "bb",
            }
        if method in ("chat.postMessage", "chat.update"):
            ts = payload.get("ts") or f"{T0 + 1000}.{next(self._ts):06d}"
            return {"ok": True, "channel": payload.get("channel"), "ts": ts}
        if method == "chat.startStream":
            ts = f"{T0 + 2000}.{next(self._ts):06d}"
            return {"ok": True, "channel": payload.get("channel"), "ts": ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{T0 + 1000}.{next(self._ts):06d}"}
        if method == "conversations.replies":
            return {"ok": True, "messages": self.threads.get(payload.get("ts", ""), [])}
        return {"ok": True}

    def where(self, method: str, **match: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [
                p
                for m, p in self.calls
                if m == method and all(p.get(k) == v for k, v in match.items())
            ]

    def wait(self, method: str, n: int = 1, **match: Any) -> list[dict[str, Any]]:
        """The first `n` recorded calls to `method` whose fields equal `match`."""
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while True:
                found = self.where(method, **match)
                if len(found) >= n:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{method} {match}: {len(found)} of {n} calls")
                self._cond.wait(left)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- the app, served over HTTP ----------------------------------------------------------------
def signed(
    body: str, content_type: str, timestamp: int | None = None, signature: str | None = None
) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and its signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature
        or SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body),
    }


def envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API request carrying `event`."""
    return {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("ts", T0))),
        "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}],
    }


class Slack:
    """Sends the app signed requests as Slack would."""

    def __init__(self, url: str, fake: FakeSlack) -> None:
        self.url = url
        self.fake = fake
        self._ids = count(1)

    def post(
        self,
        body: str,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, str]:
        request = urllib.request.Request(
            self.url, body.encode(), signed(body, content_type, timestamp, signature), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def event(self, event: dict[str, Any], **kw: Any) -> tuple[int, str]:
        return self.post(
            json.dumps(envelope(event, f"Ev{next(self._ids)}")), "application/json", **kw
        )

    def mention(self, text: str, ts: str, channel: str = "C1", **extra: Any) -> dict[str, Any]:
        event = {
            "type": "app_mention",
            "user": "U1",
            "text": f"<@{BOT_USER}> {text}",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
            **extra,
        }
        status, _ = self.event(event)
        assert status == 200
        return event

    def command(
        self, command: str, text: str, channel: str = "C1", user: str = "U1"
    ) -> tuple[int, dict[str, Any], str]:
        name = f"{command.strip('/')}-{next(self._ids)}"
        form = {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": channel,
            "channel_name": "news",
            "user_id": user,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.fake.response_url(name),
            "trigger_id": f"trigger-{name}",
        }
        status, body = self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")
        return status, json.loads(body) if body else {}, name

    def click(
        self, button: dict[str, Any], user: str = "U2", channel: str = "C1", **extra: Any
    ) -> str:
        name = f"action-{next(self._ids)}"
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": user},
            "api_app_id": "A1",
            "token": "legacy",
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
            "trigger_id": f"trigger-{name}",
            "response_url": self.fake.response_url(name),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "briefbot_answer",
                    "value": button["value"],
                    "action_ts": str(time.time()),
                }
            ],
            **extra,
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        status, _ = self.post(body, "application/x-www-form-urlencoded")
        assert status == 200
        return name


@pytest.fixture(scope="module")
def fake_slack():
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> FeedbackStore:
    return FeedbackStore.in_data_dir(tmp_path_factory.mktemp("slack-data"))


def slack_settings(fake: FakeSlack, **overrides: Any) -> SlackSettings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_app_token": APP_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.api_url,
        "slack_allowed_channels": ALLOWED,
    }
    values.update(overrides)
    return SlackSettings(_env_file=None, **values)


def build_app(settings: SlackSettings, engine: Engine, feedback: FeedbackStore, data_dir: Path):
    """The app as the service builds it: one conversation, its events kept in `data_dir`."""
    from bot.slack.app import build_app

    return build_app(settings, Conversation(engine, feedback, SeenEvents.in_data_dir(data_dir)))


@pytest.fixture(scope="module")
def slack(fake_slack: FakeSlack, seed_engine: Engine, feedback: FeedbackStore):
    settings = slack_settings(fake_slack)
    app = build_app(settings, seed_engine, feedback, feedback.path.parent)
    server = serve_http(app, port=0, host="127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Slack(f"http://127.0.0.1:{server.server_port}/slack/events", fake_slack)
    server.shutdown()
    server.server_close()


def ts(offset: int) -> str:
    return f"{T0 + offset}.000100"


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, n: int = 1) -> None:
    """Until `n` records contain `text`: how a test knows that a handler chose to do nothing."""
    deadline = time.monotonic() + TIMEOUT
    while sum(text in r.getMessage() for r in list(caplog.records)) < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {n} log records with {text!r}")
        time.sleep(0.01)


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["action_id"]: e
        for b in message.get("blocks", [])
        if b["type"] == "actions"
        for e in b["elements"]
    }


def texts(message: dict[str, Any]) -> list[str]:
    out = []
    for b in message.get("blocks", []):
        if b["type"] == "section":
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out.extend(e["text"] for e in b["elements"])
    return out


def expected_answer_blocks(answer: Answer) -> list[dict[str, Any]]:
    """What an answer's text and sources must look like, built from the answer's data."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(answer.answer)}}]
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Sources*"}})
    for c in answer.citations:
        title = escape(c.title)
        head = f"[{c.n}] <{c.url}|{title}>" if c.url else f"[{c.n}] *{title}*"
        meta = " · ".join(x for x in (c.source, c.published) if x)
        quote = escape(" ".join(c.quote.split()))
        text = f"{head} — {meta}\n> {quote}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return blocks


# -- mentions, threads, direct messages -------------------------------------------------------
def test_mention_is_answered_in_its_thread_with_cited_blocks(slack, fake_slack, seed_engine):
    question = "What did Ben Wallace tell reporters in Moscow?"
    event = slack.mention(question, ts(10))

    [searching] = fake_slack.wait("chat.postMessage", channel="C1", thread_ts=event["ts"])
    assert searching == {
        "channel": "C1",
        "thread_ts": event["ts"],
        "text": SEARCHING,
        "team_id": "T1",  # Bolt's client adds the workspace
        "_ts": ANY,
    }
    # The answer replaces the "Searching…" message, in the mention's thread.
    [update] = fake_slack.wait("chat.update", channel="C1", ts=searching["_ts"])
    assert set(update) == {"channel", "ts", "text", "blocks", "team_id"}
    expected = seed_engine.ask(question, now=datetime.fromtimestamp(T0 + 10, UTC))
    assert not expected.abstained and expected.citations
    blocks = update["blocks"]
    n = len(expected.citations)
    assert blocks[: n + 2] == expected_answer_blocks(expected)
    assert re.fullmatch(
        r"1 article searched · \d+(\.\d)? m?s", blocks[n + 2]["elements"][0]["text"]
    )
    actions = buttons(update)
    assert set(actions) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}
    value = json.loads(actions[ACTION_VOTE_UP]["value"])
    assert value["q"] == question
    assert value["ids"] == ["000_0070773c25b31aea"]
    assert update["text"].startswith(escape(expected.answer[:50]))
    assert not fake_slack.where("chat.postMessage", channel="C1", thread_ts=None)


def test_follow_up_in_thread_uses_the_earlier_question(slack, fake_slack, seed_engine):
    first = "What did Wallace discuss with Shoigu in Moscow?"
    follow_up = "what did they agree on?"
    parent, later = ts(20), ts(25)
    fake_slack.threads[parent] = [
        {"type": "message", "user": "U1", "text": f"<@{BOT_USER}> {first}", "ts": parent},
        {"type": "message", "bot_id": "BBOT", "user": BOT_USER, "text": "…", "ts": ts(21)},
        {"type": "message", "user": "U3", "text": "interesting", "ts": ts(22)},
        {"type": "message", "user": "U1", "text": f"<@{BOT_USER}> {follow_up}", "ts": later},
    ]
    slack.mention(follow_up, later, thread_ts=parent)

    fake_slack.wait("conversations.replies", channel="C1", ts=parent)
    [searching] = fake_slack.wait(
        "chat.postMessage", channel="C1", thread_ts=parent, text=SEARCHING
    )
    [update] = fake_slack.wait("chat.update", channel="C1", ts=searching["_ts"])

    now = datetime.fromtimestamp(T0 + 25, UTC)
    with_context = seed_engine.ask(follow_up, now=now, context=first)
    alone = seed_engine.ask(follow_up, now=now)
    assert alone.abstained and not with_context.abstained  # the context is what makes it work
    assert update["blocks"][: len(with_context.citations) + 2] == expected_answer_blocks(
        with_context
    )
    assert json.loads(buttons(update)[ACTION_VOTE_UP]["value"])["c"] == first


def test_direct_message_is_answered_in_the_dm(slack, fake_slack, seed_engine):
    question = "What naval exercises is Russia planning?"
    status, _ = slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U1",
            "text": question,
            "ts": ts(30),
        }
    )
    assert status == 200
    [searching] = fake_slack.wait("chat.postMessage", channel="D1")
    assert searching["text"] == SEARCHING and "thread_ts" not in searching
    [update] = fake_slack.wait("chat.update", channel="D1", ts=searching["_ts"])
    expected = seed_engine.ask(question, now=datetime.fromtimestamp(T0 + 30, UTC))
    assert "Sea of Azov" in expected.answer
    assert update["blocks"][: len(expected.citations) + 2] == expected_answer_blocks(expected)


def test_a_redelivered_event_is_answered_once_by_any_replica(
    fake_slack, seed_engine, feedback, tmp_path, caplog
):
    """Two apps sharing a data directory, as two replicas or one process before and after a
    restart: Slack's retries of an event (same event id) reach either, and one answers."""
    caplog.set_level(logging.DEBUG, logger="bot")
    settings = slack_settings(fake_slack)
    first, second = (build_app(settings, seed_engine, feedback, tmp_path) for _ in range(2))
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> What did Wallace say about the Minsk agreement?",
        "ts": ts(40),
        "channel": "C2",
        "event_ts": ts(40),
    }
    body = json.dumps(envelope(event, "EvRETRIED"))
    for app, retry in ((first, None), (second, "1"), (first, "2")):
        headers = signed(body, "application/json")
        if retry:  # Slack retries when it thinks it was not heard
            headers |= {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=ts(40))
    fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    wait_for_log(caplog, "already answered", n=2)
    assert len(fake_slack.where("chat.postMessage", channel="C2", thread_ts=ts(40))) == 1


def test_mentions_from_other_bots_get_no_reply(slack, fake_slack, caplog):
    """Answering another bot could start two bots answering each other forever."""
    caplog.set_level(logging.DEBUG, logger="bot")
    question = "What did Wallace say about the Minsk agreement?"
    by_bot = [
        slack.mention(question, ts(100), channel="C3", bot_id="B2"),
        slack.mention(question, ts(101), channel="C3", subtype="bot_message", user=None),
        slack.mention(question, ts(102), channel="C3", thread_ts=ts(100), bot_id="B2"),
    ]
    wait_for_log(caplog, "not answering a bot", n=len(by_bot))
    for event in by_bot:
        assert not [p for m, p in fake_slack.calls if p.get("thread_ts") == event["ts"]]
    assert not fake_slack.where("conversations.replies", ts=ts(100))


# -- /ask, the share button, feedback ---------------------------------------------------------
def test_ask_is_acknowledged_at_once_and_answered_privately(slack, fake_slack, seed_engine):
    question = "What did Wallace say about the Minsk agreement?"
    status, ack, name = slack.command("/ask", question)
    assert status == 200
    assert ack == {"text": f"{SEARCHING} _{question}_", "response_type": "ephemeral"}

    [answer] = fake_slack.wait(f"/response/{name}")
    assert answer["response_type"] == "ephemeral"
    assert answer["replace_original"] is True
    expected = seed_engine.ask(question)
    blocks = answer["blocks"]
    assert blocks[0] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": f"You asked: _{question}_"}],
    }
    assert blocks[1 : len(expected.citations) + 3] == expected_answer_blocks(expected)
    assert "clear way forward" in blocks[1]["text"]["text"]
    assert set(buttons(answer)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN, ACTION_SHARE}


def test_share_posts_the_answer_for_everyone(slack, fake_slack, seed_engine):
    question = "What do the new satellite images show?"
    _, _, name = slack.command("/ask", question, user="U7")
    [private] = fake_slack.wait(f"/response/{name}")
    share = buttons(private)[ACTION_SHARE]

    action = slack.click(share, user="U7")
    shared = fake_slack.wait(f"/response/{action}", n=2)
    public, confirmation = shared
    assert public["response_type"] == "in_channel" and public["replace_original"] is False
    assert public["blocks"][0]["elements"][0]["text"] == f"<@U7> asked: _{question}_"
    # The same answer the asker saw, with 👍 / 👎 for everyone and no share button.
    assert public["blocks"][1:-1] == private["blocks"][1:-1]
    assert set(buttons(public)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}
    assert confirmation == {
        "text": "Shared in the channel.",
        "response_type": "ephemeral",
        "replace_original": True,
    }


def test_votes_are_recorded_with_the_answer(slack, fake_slack, feedback, seed_engine):
    question = "What naval exercises is Russia planning?"
    event = slack.mention(question, ts(50), channel="C3")
    [searching] = fake_slack.wait("chat.postMessage", channel="C3", thread_ts=event["ts"])
    [update] = fake_slack.wait("chat.update", channel="C3", ts=searching["_ts"])
    message = {"type": "message", "ts": searching["_ts"], "thread_ts": event["ts"], **update}

    up = slack.click(buttons(update)[ACTION_VOTE_UP], user="U5", channel="C3", message=message)
    [thanks] = fake_slack.wait(f"/response/{up}")
    assert thanks == {
        "text": "Thanks: your 👍 is recorded.",
        "response_type": "ephemeral",
        "replace_original": False,
        "thread_ts": event["ts"],
    }
    down = slack.click(buttons(update)[ACTION_VOTE_DOWN], user="U6", channel="C3", message=message)
    fake_slack.wait(f"/response/{down}")
    again = slack.click(buttons(update)[ACTION_VOTE_UP], user="U5", channel="C3", message=message)
    [repeat] = fake_slack.wait(f"/response/{again}")
    assert repeat["text"] == "You have already voted on this answer."

    expected = seed_engine.ask(question, now=datetime.fromtimestamp(T0 + 50, UTC))
    rows = [v for v in feedback.list() if v.question == question]
    votes = {v.user_id: v for v in rows}
    assert len(rows) == 2 and votes["U5"].vote == 1 and votes["U6"].vote == -1
    for v in votes.values():
        assert v.platform == "slack"
        assert v.answer == expected.answer
        assert v.article_ids == ("000_0070773c25b31aea",)
        assert datetime.now(UTC) - datetime.fromisoformat(v.created_at) < timedelta(minutes=5)


def test_a_vote_after_a_restart_asks_again(fake_slack, seed_engine, feedback, tmp_path):
    """Buttons outlive the process: the value alone finds the answer again."""
    question = "What did the agreements signed in 2014 and 2015 stop?"
    moment = datetime.fromtimestamp(T0, UTC)
    answer = seed_engine.ask(question, now=moment)
    value = encode_value({"k": "gone", "kind": "ask", "t": T0, "ids": ["x"], "q": question})
    app = build_app(slack_settings(fake_slack), seed_engine, feedback, tmp_path)
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U8"},
        "channel": {"id": "C1"},
        "response_url": fake_slack.response_url("restart"),
        "actions": [{"action_id": ACTION_VOTE_DOWN, "value": value, "type": "button"}],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": stamp,
        "x-slack-signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
            timestamp=stamp, body=body
        ),
    }
    assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    fake_slack.wait("/response/restart")
    [vote] = [v for v in feedback.list() if v.user_id == "U8"]
    assert (vote.vote, vote.question, vote.answer) == (-1, question, answer.answer)


def test_slash_command_text_is_decoded_once(slack, fake_slack, monkeypatch):
    """Slack sends a command's text with &, < and > escaped, as it sends message text."""
    asked: list[str] = []
    topics: list[str | None] = []
    ask, brief = Engine.ask, Engine.brief

    def spy_ask(self: Engine, question: str, **kw: Any) -> Answer:
        asked.append(question)
        return ask(self, question, **kw)

    def spy_brief(self: Engine, *args: Any, topic: str | None = None, **kw: Any) -> Briefing:
        topics.append(topic)
        return brief(self, *args, topic=topic, **kw)

    monkeypatch.setattr(Engine, "ask", spy_ask)
    monkeypatch.setattr(Engine, "brief", spy_brief)

    _, ack, name = slack.command("/ask", "Did AT&amp;T say &lt;anything&gt; about Wallace?")
    shown = "Did AT&amp;T say &lt;anything&gt; about Wallace?"
    assert ack["text"] == f"{SEARCHING} _{shown}_"
    [answer] = fake_slack.wait(f"/response/{name}")
    assert texts(answer)[0] == f"You asked: _{shown}_"
    assert [q for q in asked if "AT" in q] == ["Did AT&T say <anything> about Wallace?"]

    _, _, name = slack.command("/brief", "AT&amp;T 2022-02-01")
    [briefing] = fake_slack.wait(f"/response/{name}")
    assert texts(briefing)[0].endswith(" · _AT&amp;T_")
    assert "AT&T" in topics and not [t for t in topics if t and "&amp;" in t]


# -- /brief -----------------------------------------------------------------------------------
def test_brief_lists_the_window_with_citations(slack, fake_slack, seed_engine):
    status, ack, name = slack.command("/brief", "2022-02-01")
    assert status == 200
    assert ack == {"text": "Preparing the briefing…", "response_type": "ephemeral"}
    [briefing] = fake_slack.wait(f"/response/{name}")
    assert briefing["response_type"] == "ephemeral"
    lines = texts(briefing)
    assert re.fullmatch(r"\*Briefing\* · 2022-02-01 → \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[0])
    title = "U.K. Defense Official Says Russia Assures They Will 'Not Invade Ukraine'"
    assert lines[1] == (
        f"*1. {title}*\nUnited Kingdom Defence Secretary Ben Wallace says Russia assures they "
        'will "not invade Ukraine." [1]'
    )
    assert lines[2] == f"[1] *{title}* — 2022-02-11"
    assert lines[3] == "*Quotes*" and lines[4].startswith("> “")
    assert lines[4].endswith("” — Ben Wallace [2]")
    assert lines[-1] == "1 story"

    action = slack.click(buttons(briefing)[ACTION_SHARE], user="U4")
    public, _ = fake_slack.wait(f"/response/{action}", n=2)
    assert public["response_type"] == "in_channel"
    assert texts(public)[0] == "Shared by <@U4>"
    assert texts(public)[1:] == lines


def test_brief_with_a_topic_and_the_default_window(slack, fake_slack):
    _, _, name = slack.command("/brief", "ukraine 2022-02-01")
    [with_topic] = fake_slack.wait(f"/response/{name}")
    assert texts(with_topic)[0].endswith(" · _ukraine_")
    assert "Not Invade Ukraine" in texts(with_topic)[1]

    _, _, name = slack.command("/brief", "")  # the last 24 hours: the seed is from 2022
    [recent] = fake_slack.wait(f"/response/{name}")
    assert texts(recent)[1] == "Nothing new in the window."
    assert not buttons(recent)

    status, ack, _ = slack.command("/brief", "ukraine 2022-13-45")
    assert status == 200 and ack["text"].startswith("since: '2022-13-45' is not 24h, 7d")


def test_parse_brief_args():
    now = datetime(2022, 2, 12, 10, tzinfo=UTC)
    assert parse_brief_args("", now) == (None, datetime(2022, 2, 11, 10, tzinfo=UTC))
    assert parse_brief_args("7d", now) == (None, datetime(2022, 2, 5, 10, tzinfo=UTC))
    assert parse_brief_args("russia ukraine 2w", now)[0] == "russia ukraine"
    assert parse_brief_args("48h navy", now) == ("navy", datetime(2022, 2, 10, 10, tzinfo=UTC))
    assert parse_brief_args("navy 2022-02-01", now)[1] == datetime(2022, 2, 1, tzinfo=UTC)


# -- operating it -----------------------------------------------------------------------------
def test_forged_or_stale_requests_get_401_and_reach_no_handler(slack, fake_slack):
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> What did Wallace say?",
        "ts": ts(60),
        "channel": "C9",
        "event_ts": ts(60),
    }
    forged = slack.event(event, signature="v0=" + "0" * 64)
    stale = slack.event(event, timestamp=int(time.time()) - 6 * 60)
    form = urllib.parse.urlencode({"command": "/ask", "text": "hi", "channel_id": "C9"})
    forged_command = slack.post(form, "application/x-www-form-urlencoded", signature="v0=bad")
    assert [forged[0], stale[0], forged_command[0]] == [401, 401, 401]
    time.sleep(0.5)
    assert not [p for m, p in fake_slack.calls if p.get("channel") == "C9"]


def test_url_verification(slack):
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    status, text = slack.post(body, "application/json")
    assert status == 200 and json.loads(text) == {"challenge": "abc123"}


def test_outside_the_allowed_channels_it_declines(slack, fake_slack, monkeypatch):
    asked: list[str] = []
    original = Engine.ask
    monkeypatch.setattr(
        Engine, "ask", lambda self, q, **kw: asked.append(q) or original(self, q, **kw)
    )
    event = slack.mention("What did Wallace say?", ts(70), channel="C5")
    [declined] = fake_slack.wait("chat.postEphemeral", channel="C5")
    assert declined["user"] == "U1" and declined["thread_ts"] == event["ts"]
    assert declined["text"] == DECLINE
    status, ack, _ = slack.command("/ask", "What did Wallace say?", channel="C5")
    assert status == 200 and ack == {"text": DECLINE, "response_type": "ephemeral"}
    time.sleep(0.3)
    assert not asked and not fake_slack.where("chat.postMessage", channel="C5")


def test_an_engine_error_gets_an_apology_with_an_id(slack, fake_slack, monkeypatch, caplog):
    original = Engine.ask

    def failing(self: Engine, question: str, **kw: Any) -> Answer:
        if "explode" in question:
            raise RuntimeError("the engine broke")
        return original(self, question, **kw)

    monkeypatch.setattr(Engine, "ask", failing)
    event = slack.mention("please explode", ts(80), channel="C2")
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
    [apology] = fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    pattern = re.escape(APOLOGY).replace(re.escape("{error_id}"), "([0-9a-f]{8})")
    error_id = re.fullmatch(pattern, apology["text"])
    assert error_id, apology["text"]
    [record] = [r for r in caplog.records if error_id.group(1) in r.getMessage()]
    assert record.exc_info and "the engine broke" in str(record.exc_info[1])

    # The app is still up: the next question is answered.
    event = slack.mention("What did Wallace say about the Minsk agreement?", ts(81), channel="C2")
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
    [update] = fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    assert "clear way forward" in update["blocks"][0]["text"]["text"]


def test_a_question_error_is_shown_as_it_is(slack, fake_slack):
    event = slack.mention("", ts(85), channel="C2")
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
    [reply] = fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    assert reply["text"].startswith("The question is empty. Mention me with a question")
    status, ack, _ = slack.command("/ask", "   ")
    assert status == 200 and ack["text"].startswith("The question is empty. Usage: `/ask")


def test_twenty_asks_at_once_are_each_acknowledged_and_answered(slack, fake_slack):
    """How fast the acknowledgements are is measured by bench/slack_ack.py."""
    questions = [
        "What did Ben Wallace tell reporters in Moscow?",
        "What did Wallace say about the Minsk agreement?",
        "What naval exercises is Russia planning?",
        "What do the new satellite images show?",
        "How do I bake a loaf of rye bread?",
    ]
    with ThreadPoolExecutor(20) as pool:
        results = list(
            pool.map(lambda i: slack.command("/ask", questions[i % 5], user=f"U{i}"), range(20))
        )
    for status, ack, _ in results:
        assert status == 200 and ack["text"].startswith(SEARCHING)
    for i, (_, _, name) in enumerate(results):
        [answer] = fake_slack.wait(f"/response/{name}")
        assert answer["response_type"] == "ephemeral"
        if i % 5 == 4:
            assert texts(answer)[1] == "The indexed articles don't answer this question."
        else:
            assert "*Sources*" in texts(answer)


def test_acknowledgements_never_wait_behind_rate_limited_posts(seed_engine, feedback, tmp_path):
    """While chat.postMessage is rate-limited, more mentions than Bolt has listener threads
    wait for their "Searching…" posts; an /ask is still acknowledged, and every post waits."""
    fake = FakeSlack()
    server = serve_http(
        build_app(slack_settings(fake), seed_engine, feedback, tmp_path), port=0, host="127.0.0.1"
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slack = Slack(f"http://127.0.0.1:{server.server_port}/slack/events", fake)
    try:
        fake.rate_limit()
        question = "What did Wallace say about the Minsk agreement?"
        mentions = [slack.mention(question, ts(200 + i)) for i in range(LISTENER_THREADS + 4)]
        fake.wait_held(WORKERS)  # every worker waits on the rate limit

        status, ack, name = slack.command("/ask", question)
        assert status == 200 and ack["text"] == f"{SEARCHING} _{question}_"
        assert not fake.where("chat.postMessage")  # acknowledged while no post got through

        fake.lift()
        for event in mentions:
            [searching] = fake.wait("chat.postMessage", thread_ts=event["ts"])
            fake.wait("chat.update", ts=searching["_ts"])
        [answer] = fake.wait(f"/response/{name}")
        assert "*Sources*" in texts(answer)
    finally:
        fake.lift()
        server.shutdown()
        server.server_close()
        fake.close()


def test_a_burst_of_connections_waits_in_the_servers_queue(fake_slack, seed_engine, feedback):
    """Slack's requests arrive in bursts; a short listen queue turns them away."""
    app = build_app(slack_settings(fake_slack), seed_engine, feedback, feedback.path.parent)
    server = serve_http(app, port=0, host="127.0.0.1")  # not serving yet: nothing is accepted
    connections = []
    try:
        for _ in range(50):
            connections.append(
                socket.create_connection(("127.0.0.1", server.server_port), timeout=TIMEOUT)
            )
    finally:
        for c in connections:
            c.close()
        server.server_close()
    assert len(connections) == 50


def test_a_slow_answer_delays_no_one_else(slack, fake_slack, monkeypatch):
    release = threading.Event()
    original = Engine.ask

    def slow(self: Engine, question: str, **kw: Any) -> Answer:
        if "slowly" in question:
            release.wait(TIMEOUT)
        return original(self, question, **kw)

    monkeypatch.setattr(Engine, "ask", slow)
    try:
        _, _, slow_name = slack.command("/ask", "Answer slowly: what did Wallace say?")
        status, _, quick_name = slack.command("/ask", "What naval drills are planned?")
        assert status == 200
        fake_slack.wait(f"/response/{quick_name}")
        assert not fake_slack.where(f"/response/{slow_name}")
    finally:
        release.set()
    fake_slack.wait(f"/response/{slow_name}")


def test_tokens_never_reach_the_logs(slack, fake_slack, caplog):
    caplog.set_level(logging.DEBUG)
    event = slack.mention("What did Wallace say about the Minsk agreement?", ts(90), channel="C2")
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
    fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    _, _, name = slack.command("/ask", "What naval exercises is Russia planning?")
    fake_slack.wait(f"/response/{name}")
    assert caplog.records  # debug logging was on
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in caplog.text
    settings = slack_settings(fake_slack)
    assert BOT_TOKEN not in repr(settings) and BOT_TOKEN not in str(settings.model_dump())


def test_no_misleading_warning_when_the_token_is_in_the_environment(
    fake_slack, seed_engine, feedback, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # as in a container
    build_app(slack_settings(fake_slack), seed_engine, feedback, tmp_path)
    assert "unused" not in caplog.text


def test_socket_mode_requests_reach_the_same_handlers(fake_slack, seed_engine, feedback, tmp_path):
    app = build_app(slack_settings(fake_slack), seed_engine, feedback, tmp_path)
    payload = {
        "command": "/ask",
        "text": "What did Wallace say about the Minsk agreement?",
        "channel_id": "C1",
        "user_id": "U1",
        "team_id": "T1",
        "response_url": fake_slack.response_url("socket"),
    }
    # Socket Mode requests arrive over the app's own websocket: unsigned, and accepted.
    response = app.dispatch(BoltRequest(body=payload, mode="socket_mode"))
    assert response.status == 200 and json.loads(response.body)["text"].startswith(SEARCHING)
    [answer] = fake_slack.wait("/response/socket")
    assert "clear way forward" in texts(answer)[1]


def test_missing_settings_are_named(fake_slack, tmp_path):
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN"):
        check_settings(slack_settings(fake_slack, slack_app_token=""), http=False)
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        check_settings(slack_settings(fake_slack, slack_signing_secret=""), http=True)
    with pytest.raises(SettingsError, match="SLACK_BOT_TOKEN"):
        check_settings(slack_settings(fake_slack, slack_bot_token=""), http=True)
    with pytest.raises(SettingsError, match="xapp-"):
        check_settings(slack_settings(fake_slack, slack_app_token="xoxb-1"), http=False)
    check_settings(slack_settings(fake_slack), http=False)
    check_settings(slack_settings(fake_slack), http=True)


# -- rendering, as data -----------------------------------------------------------------------
def citation(n: int, **kw: Any) -> Citation:
    values: dict[str, Any] = {
        "n": n,
        "article_id": f"a{n}",
        "title": f"Title {n}",
        "source": "The Daily Tide",
        "published": "2023-03-14",
        "url": f"https://dailytide.example/{n}",
        "quote": f"Quote number {n}.",
        "start": 0,
        "end": 10,
    }
    values.update(kw)
    return Citation(**values)


def all_text_objects(message: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                found.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(message["blocks"])
    return found


def test_article_text_is_escaped():
    evil = citation(
        1,
        title="Breaking <!channel> & <@U123>",
        source="<!here>",
        quote="Everyone <!channel> look: <https://evil.example|click> & more.",
        url="https://x.example/a?b=1&c=<2>|3",
    )
    answer = Answer("q <!everyone>", "Everyone <!channel> look [1]", False, [evil])
    [message] = render_answer(answer, show_question=True, vote_value="v")
    dump = json.dumps(message)
    for raw in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<https://evil"):
        assert raw not in dump
    assert message["blocks"][1]["text"]["text"] == "Everyone &lt;!channel&gt; look [1]"
    assert source_line(evil) == (
        "[1] <https://x.example/a?b=1&amp;c=&lt;2&gt;%7C3|Breaking &lt;!channel&gt; &amp; "
        "&lt;@U123&gt;> — &lt;!here&gt; · 2023-03-14"
    )
    assert (
        "> Everyone &lt;!channel&gt; look: &lt;https://evil.example|click&gt; &amp; more."
        in (message["blocks"][3]["text"]["text"])
    )
    assert source_line(citation(2, url="javascript:alert(1)")).startswith("[2] *Title 2*")


def test_an_article_with_a_channel_ping_pings_nobody(make_engine, tmp_path):
    engine = make_engine()
    article = tmp_path / "ping.md"
    article.write_text(
        "---\ntitle: Harbour <!channel> reopens\npublished: 2023-03-14\nsource: Tide\n"
        "url: https://tide.example/harbour\n---\n\n"
        "The harbour reopened on Monday after the storm, <!channel> said the harbour master "
        "<@U123>, and ferries to the islands run again on the usual timetable.\n"
    )
    report = engine.ingest([article])
    assert report.ok, report.failures
    answer = engine.ask("When did the harbour reopen after the storm?")
    assert not answer.abstained and "<!channel>" in answer.citations[0].quote
    dump = json.dumps(render_answer(answer, vote_value="v"))
    assert "<!channel>" not in dump and "<@U123>" not in dump
    assert "&lt;!channel&gt;" in dump and "Harbour &lt;!channel&gt; reopens" in dump


def test_a_12000_character_answer_is_split_within_slack_limits():
    sentences = [
        f"Sentence {i} says something notable about the harbour & the <ferries>."
        for i in range(200)
    ]
    text = " ".join(f"{s} [{i % 20 + 1}]" for i, s in enumerate(sentences))
    text = (text * 2)[:12_000]
    cites = [citation(n, quote="A long quoted passage. " * 150) for n in range(1, 21)]
    answer = Answer("q", text, False, cites, {"total": 12.0}, 1)
    messages = render_answer(answer, vote_value="v", share_value="v")
    assert len(messages) > 1
    for message in messages:
        assert len(message["blocks"]) <= BLOCK_LIMIT
        assert all(0 < len(t) <= TEXT_LIMIT for t in all_text_objects(message))
        assert len(message["text"]) <= TEXT_LIMIT
    blocks = [b for m in messages for b in m["blocks"]]
    sources = blocks.index({"type": "section", "text": {"type": "mrkdwn", "text": "*Sources*"}})
    shown = " ".join(b["text"]["text"] for b in blocks[:sources])
    assert shown.split() == escape(text).split()  # nothing lost, nothing cut mid-word
    assert blocks[-1]["type"] == "actions"  # the buttons come last, once
    assert sum(b["type"] == "actions" for b in blocks) == 1


def test_a_long_answer_is_posted_over_several_messages(slack, fake_slack, monkeypatch):
    original = Engine.ask

    def verbose(self: Engine, question: str, **kw: Any) -> Answer:
        answer = original(self, question, **kw)
        if "at length" in question.lower():
            answer.answer = " ".join([answer.answer] * (12_000 // len(answer.answer) + 1))
        return answer

    monkeypatch.setattr(Engine, "ask", verbose)
    event = slack.mention("At length: what did Ben Wallace tell reporters?", ts(95), channel="C3")
    [searching] = fake_slack.wait("chat.postMessage", channel="C3", thread_ts=event["ts"])
    [first] = fake_slack.wait("chat.update", channel="C3", ts=searching["_ts"])
    [_, rest] = fake_slack.wait("chat.postMessage", n=2, channel="C3", thread_ts=event["ts"])
    for message in (first, rest):
        assert len(message["blocks"]) <= BLOCK_LIMIT
        assert all(len(t) <= TEXT_LIMIT for t in all_text_objects(message))
    assert not buttons(first) and set(buttons(rest)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}


def test_an_abstention_is_a_short_plain_sentence():
    answer = Answer(
        "How do I bake rye bread?", "The indexed articles don't answer this question.", True
    )
    assert render_answer(answer, vote_value="v", share_value="v") == [
        {
            "text": "The indexed articles don't answer this question.",
            "blocks": [
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "The indexed articles don't answer this question.",
                    },
                }
            ],
        }
    ]


def test_briefing_with_several_sources_and_quotes():
    c1, c2 = citation(1), citation(2, source="Harbour News", url="")
    story = Story(
        "Council <cuts> budget",
        "The council cut it. [1] Pools close. [2]",
        [c1, c2],
        ["a1", "a2"],
        ["The Daily Tide", "Harbour News"],
    )
    quote = Quote("Maria Okafor", citation(3, quote="We had no choice."))
    briefing = Briefing(
        "2023-03-13T00:00:00+00:00", "2023-03-14T12:30:00+00:00", "council", [story], [quote]
    )
    [message] = render_briefing(briefing, share_value="v")
    assert texts(message) == [
        "*Briefing* · 2023-03-13 → 2023-03-14 12:30 UTC · _council_",
        "*1. Council &lt;cuts&gt; budget* (2 sources)\nThe council cut it. [1] Pools close. [2]",
        "[1] <https://dailytide.example/1|Title 1> — The Daily Tide · 2023-03-14\n"
        "[2] *Title 2* — Harbour News · 2023-03-14",
        "*Quotes*",
        "> “We had no choice.” — Maria Okafor [3]",
        "1 story",
    ]
    assert set(buttons(message)) == {ACTION_SHARE}


def big_briefing() -> Briefing:
    """Ten stories of three long cited sentences and ten long one-line items: the most a
    default briefing shows."""
    long_url = "https://dailytide.example/" + "x" * 900
    stories = [
        Story(
            f"Headline {k} & <more> " * 8,
            " ".join(f"A key sentence that goes on & on. [{3 * k + j}]" * 8 for j in range(3)),
            [citation(3 * k + j, url=long_url, title="T <" * 60) for j in range(3)],
            [f"a{k}"],
            ["The Daily Tide", "Harbour News"],
        )
        for k in range(10)
    ]
    items = [
        NewsItem(
            f"Item {k}",
            citation(31 + k, quote="A one-line summary of what else happened. " * 6, url=long_url),
            [f"b{k}"],
            ["The Daily Tide"],
        )
        for k in range(10)
    ]
    quotes = [
        Quote("Maria Okafor", citation(41 + k, quote="We had no choice. " * 30)) for k in range(3)
    ]
    return Briefing(
        "2023-03-13T00:00:00+00:00", "2023-03-14T00:00:00+00:00", None, stories, quotes, "", items
    )


def test_ten_stories_and_ten_items_stay_within_slack_limits():
    briefing = big_briefing()
    messages = render_briefing(briefing, share_value="v")
    for message in messages:
        assert len(message["blocks"]) <= BLOCK_LIMIT
        assert all(0 < len(t) <= TEXT_LIMIT for t in all_text_objects(message))
        assert sum(len(t) for t in all_text_objects(message)) <= MESSAGE_CHARS
    lines = [line for m in messages for t in texts(m) for line in t.split("\n")]
    assert "*Also in the news*" in lines
    items = [line for line in lines if line.startswith("• ")]
    assert len(items) == 10  # one line each, none cut in two
    for item, line in zip(briefing.also_in_the_news, items, strict=True):
        assert f"[{item.citation.n}] — <{item.citation.url}|The Daily Tide> · 2023-03-14" in line
    assert texts(messages[-1])[-1] == "10 stories · 10 also in the news"


def test_a_briefing_without_items_has_no_also_in_the_news_heading():
    briefing = big_briefing()
    briefing.also_in_the_news = []
    messages = render_briefing(briefing)
    assert not any("Also in the news" in t for m in messages for t in texts(m))


def test_split_text_never_cuts_an_entity():
    text = escape("&" * 5000)
    pieces = split_text(text, 3000)
    assert "".join(pieces) == text
    assert all(len(p) <= 3000 and p.endswith("&amp;") for p in pieces)


def test_plain_text_and_button_values():
    assert plain_text(
        f"<@{BOT_USER}> what did <@U9|bob> say about <https://x.example|this> &amp; <#C1|news>?",
        BOT_USER,
    ) == ("what did @bob say about this & news?")
    value = encode_value(
        {"k": "abc", "kind": "ask", "t": T0, "ids": ["a"] * 5, "q": "q" * 3000, "c": "c" * 3000}
    )
    assert len(value) <= 2000
    fields = json.loads(value)
    assert fields["k"] == "abc" and fields["ids"] == ["a"] * 5 and fields["c"] == ""
    assert fields["q"].startswith("qqq")


def test_the_manifest_asks_for_what_the_app_handles():
    import yaml

    from retrieval.config import PROJECT_ROOT

    manifest = yaml.safe_load((PROJECT_ROOT / "deploy" / "slack-manifest.yml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert {c["command"] for c in features["slash_commands"]} == {"/ask", "/brief"}
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_mention",
        "message.im",
        "assistant_thread_started",
        "assistant_thread_context_changed",
    }
    assert features["assistant_view"]["suggested_prompts"] == [
        {"title": p["title"], "message": p["message"]} for p in SUGGESTED_PROMPTS[:2]
    ]
    assert settings["interactivity"]["is_enabled"] and settings["socket_mode_enabled"]
    assert features["app_home"]["messages_tab_enabled"]
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {
        "app_mentions:read",
        "chat:write",
        "commands",
        "im:history",
        "channels:history",
        "assistant:write",
    } <= scopes


def test_run_serves_the_events_api_over_http(fake_slack, seed_engine, tmp_path, monkeypatch):
    """What `briefbot serve slack --http` runs: serve until stopped."""
    import bot.slack.adapter as slack_server

    servers: list[Any] = []

    def serve(app: Any, port: int, host: str) -> Any:
        servers.append(serve_http(app, port, host))
        return servers[-1]

    monkeypatch.setattr(slack_server, "serve_http", serve)
    settings = slack_settings(fake_slack)
    conversation = Conversation(seed_engine, FeedbackStore.in_data_dir(tmp_path))
    thread = threading.Thread(
        target=slack_server.run,
        args=(settings, conversation, True, 0, "127.0.0.1"),
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + TIMEOUT
    while not servers and time.monotonic() < deadline:
        time.sleep(0.05)
    client = Slack(f"http://127.0.0.1:{servers[0].server_port}/slack/events", fake_slack)
    body = json.dumps({"token": "legacy", "challenge": "run", "type": "url_verification"})
    assert client.post(body, "application/json")[:2] == (200, '{"challenge": "run"}')
    assert client.post(body, "application/json", signature="v0=forged")[0] == 401
    servers[0].shutdown()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


# -- answers written by a language model, streamed; Slack's assistant pane --------------------
@pytest.fixture
def model_slack(fake_slack, seed_engine, feedback, tmp_path, monkeypatch):
    """The app with an engine whose answers a (fake) language model writes."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_llm = FakeLLM()
    engine = engine_with_model(seed_engine, fake_llm, tmp_path / "model")
    app = build_app(slack_settings(fake_slack), engine, feedback, tmp_path)
    server = serve_http(app, port=0, host="127.0.0.1")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Slack(f"http://127.0.0.1:{server.server_port}/slack/events", fake_slack), fake_llm
    server.shutdown()
    server.server_close()
    fake_llm.close()


def streamed(fake: FakeSlack, channel: str, thread: str) -> list[str]:
    """The text of every chunk streamed to the thread, in order (one stream)."""
    with fake._cond:
        calls = list(fake.calls)
    [stream_ts] = [
        p["_ts"]
        for m, p in calls
        if m == "chat.startStream" and p.get("channel") == channel and p["thread_ts"] == thread
    ]
    out = []
    for method, payload in calls:
        same = payload.get("_ts") == stream_ts or payload.get("ts") == stream_ts
        if method in ("chat.startStream", "chat.appendStream", "chat.stopStream") and same:
            chunks = payload.get("chunks") or []
            chunks = json.loads(chunks) if isinstance(chunks, str) else chunks
            out += [c["text"] for c in chunks if c.get("type") == "markdown_text"]
    return out


def test_a_generated_answer_streams_in_verified_sentences_then_carries_its_sources(
    model_slack, fake_slack
):
    slack, fake_llm = model_slack
    fake_llm.reply = f"{GOOD[0]} {FABRICATED_NUMBER} {GOOD[1]}"
    event = slack.mention(QUESTION, ts(300), channel="C3")

    [start] = fake_slack.wait("chat.startStream", channel="C3", thread_ts=event["ts"])
    [stop] = fake_slack.wait("chat.stopStream", channel="C3", ts=start["_ts"])
    assert (start["thread_ts"], start["recipient_team_id"], start["recipient_user_id"]) == (
        event["ts"],
        "T1",
        "U1",
    )
    chunks = streamed(fake_slack, "C3", event["ts"])
    # Sentence by sentence, each whole and verified; the fabricated one never shown.
    assert chunks[0] == GOOD[0] and "".join(chunks) == " ".join(GOOD)
    assert all(c.strip() in GOOD for c in chunks)
    blocks = json.loads(stop["blocks"]) if isinstance(stop["blocks"], str) else stop["blocks"]
    text = "\n".join(t for b in blocks for t in texts({"blocks": [b]}))
    assert "Something was left out: one sentence" in text and "*Sources*" in text
    assert "[1] *U.K. Defense Official Says Russia Assures" in text
    # "Searching…" made way for the stream; no other answer was posted.
    [searching] = fake_slack.where("chat.postMessage", channel="C3", thread_ts=event["ts"])
    fake_slack.wait("chat.delete", channel="C3", ts=searching["_ts"])
    assert not fake_slack.where("chat.update", channel="C3", ts=searching["_ts"])


def test_the_assistant_greets_a_new_thread_with_suggested_prompts(slack, fake_slack):
    thread = ts(400)
    status, _ = slack.event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {"user_id": "U1", "channel_id": "D1", "thread_ts": thread},
            "event_ts": thread,
        }
    )
    assert status == 200
    [prompts] = fake_slack.wait("assistant.threads.setSuggestedPrompts", thread_ts=thread)
    sent = prompts["prompts"]
    sent = json.loads(sent) if isinstance(sent, str) else sent
    assert sent == SUGGESTED_PROMPTS and prompts["channel_id"] == "D1"
    [greeting] = fake_slack.wait("chat.postMessage", channel="D1", thread_ts=thread)
    assert greeting["text"] == GREETING


def assistant_message(slack: Slack, text: str, thread: str, at: str) -> None:
    status, _ = slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U1",
            "text": text,
            "ts": at,
            "thread_ts": thread,
        }
    )
    assert status == 200


def test_the_assistant_shows_a_status_titles_the_thread_and_answers_in_it(
    slack, fake_slack, seed_engine
):
    thread, at = ts(410), ts(411)
    assistant_message(slack, QUESTION, thread, at)
    [answer] = fake_slack.wait("chat.postMessage", channel="D1", thread_ts=thread)
    [status] = fake_slack.where("assistant.threads.setStatus", thread_ts=thread)
    assert (status["channel_id"], status["status"]) == ("D1", SEARCHING)
    [title] = fake_slack.where("assistant.threads.setTitle", thread_ts=thread)
    assert title["title"] == QUESTION
    expected = seed_engine.ask(QUESTION, now=datetime.fromtimestamp(T0 + 411, UTC))
    n = len(expected.citations)
    assert answer["blocks"][: n + 2] == expected_answer_blocks(expected)

    # A follow-up in the same thread: read with the first question, and no new title.
    fake_slack.threads[thread] = [
        {"type": "message", "user": "U1", "text": QUESTION, "ts": at},
    ]
    assistant_message(slack, "and what about the Minsk agreement?", thread, ts(412))
    fake_slack.wait("chat.postMessage", n=2, channel="D1", thread_ts=thread)
    assert len(fake_slack.where("assistant.threads.setTitle", thread_ts=thread)) == 1


def test_the_assistants_brief_me_prompt_gives_a_briefing(slack, fake_slack):
    thread = ts(420)
    assistant_message(slack, "What changed since yesterday?", thread, ts(421))
    [briefing] = fake_slack.wait("chat.postMessage", channel="D1", thread_ts=thread)
    head = texts(briefing)[0]
    assert head.startswith("*Briefing* · 2022-02-11 10:07 UTC → 2022-02-12 10:07 UTC")


def test_the_assistant_streams_a_generated_answer(model_slack, fake_slack):
    slack, fake_llm = model_slack
    fake_llm.reply = " ".join(GOOD)
    thread = ts(430)
    assistant_message(slack, QUESTION, thread, ts(431))
    [start] = fake_slack.wait("chat.startStream", channel="D1", thread_ts=thread)
    fake_slack.wait("chat.stopStream", channel="D1", ts=start["_ts"])
    assert "".join(streamed(fake_slack, "D1", thread)) == " ".join(GOOD)
    assert fake_slack.where("assistant.threads.setStatus", thread_ts=thread)
    assert not fake_slack.where("chat.postMessage", channel="D1", thread_ts=thread)


def test_a_direct_message_grows_into_the_generated_answer_in_place(model_slack, fake_slack):
    slack, fake_llm = model_slack
    fake_llm.reply = f"{GOOD[0]} {FABRICATED_NUMBER} {GOOD[1]}"
    before = len(fake_slack.where("chat.postMessage", channel="D1", text=SEARCHING))
    status, _ = slack.event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "user": "U1",
            "text": QUESTION,
            "ts": ts(440),
        }
    )
    assert status == 200
    searching = fake_slack.wait("chat.postMessage", before + 1, channel="D1", text=SEARCHING)[-1]
    updates = fake_slack.wait("chat.update", n=2, channel="D1", ts=searching["_ts"])
    assert updates[0] == {
        "channel": "D1",
        "ts": searching["_ts"],
        "text": GOOD[0],
        "team_id": "T1",
    }
    final = updates[-1]
    assert texts(final)[0] == escape(" ".join(GOOD))
    assert not any("200,000" in u["text"] for u in updates)


def test_where_streaming_is_refused_the_answer_is_posted_whole(model_slack, fake_slack):
    slack, fake_llm = model_slack
    fake_llm.reply = " ".join(GOOD)
    fake_slack.refused.add("chat.startStream")
    try:
        event = slack.mention(QUESTION, ts(450), channel="C2")
        [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
        [update] = fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    finally:
        fake_slack.refused.clear()
    assert texts(update)[0] == escape(" ".join(GOOD)) and "*Sources*" in texts(update)
    assert not fake_slack.where("chat.delete", channel="C2", ts=searching["_ts"])
