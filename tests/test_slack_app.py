"""The Slack adapter on Bolt's real request path, against the real engine on the seed article.

The app is served in HTTP mode on localhost and receives signed requests, as Slack sends them;
its WebClient (base_url) talks to a fake Slack Web API on localhost (tests/fakes/slack.py) that
records every call and every response_url post. What the conversation decides is tested once,
in tests/test_conversation.py; how it looks, in tests/test_render_slack.py. Here: that Slack's
payloads reach the conversation as they should, and that what it says reaches Slack the way
Slack takes it.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from slack_bolt.request import BoltRequest

from bot.asked import Asked, AskedStore
from bot.chat import Buttons, Message
from bot.conversation import DECLINE, PREPARING, SEARCHING, SHARED, Conversation
from bot.service import Service
from bot.slack.adapter import SlackAdapter
from bot.slack.app import build_app
from bot.slack.client import make_client
from bot.slack.http_server import serve_http
from bot.slack.listeners import (
    BRIEF_USAGE,
    FOLLOW_USAGE,
    GREETING,
    LISTENER_THREADS,
    SUGGESTED_PROMPTS,
    UNFOLLOW_USAGE,
    WORKERS,
    Listeners,
)
from bot.slack.render import ACTION_SHARE, ACTION_VOTE_DOWN, ACTION_VOTE_UP, escape, render_answer
from bot.slack.replies import MENTION_HINT, ThreadReply, outbox
from bot.slack.settings import SlackSettings, check_settings
from bot.slack.translate import (
    BUTTON_VALUE_LIMIT,
    button_value,
    event_message,
    parse_brief_args,
    plain_text,
    read_button,
)
from retrieval import Development, Follow, FollowPost
from retrieval.config_file import ConfigFile
from retrieval.engine import Engine
from retrieval.errors import BriefbotError, SettingsError
from retrieval.events import SeenEvents
from retrieval.feedback import FeedbackStore
from retrieval.models import Answer, Citation
from tests.conftest import SMALL_CHUNKS
from tests.fake_llm import FABRICATED_NUMBER, GOOD, KEY, QUESTION, FakeLLM, engine_with_model
from tests.fakes.slack import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER,
    SIGNING_SECRET,
    T0,
    TIMEOUT,
    FakeSlack,
    Slack,
    buttons,
    texts,
)
from tests.follow_articles import TRIAL_OPENS, VERDICT, VERDICT_HERALD

ALLOWED = "C1,C2,C3,D1"
SEED_ID = "000_0070773c25b31aea"


def ts(offset: int) -> str:
    return f"{T0 + offset}.000100"


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


def conversation_in(engine: Engine, data: Path, settings: SlackSettings) -> Conversation:
    """The conversation as the service makes it: its stores in the data directory, and Slack's
    allow-list from the settings (SLACK_ALLOWED_CHANNELS)."""
    return Conversation(
        engine,
        FeedbackStore.in_data_dir(data),
        SeenEvents.in_data_dir(data),
        AskedStore.in_data_dir(data),
        allowed={"slack": SlackAdapter(settings).allowed_channels},
    )


class Served:
    """The app served over HTTP on localhost, and Slack sending it requests."""

    def __init__(
        self, fake: FakeSlack, engine: Engine, data: Path, settings: SlackSettings | None = None
    ) -> None:
        settings = settings or slack_settings(fake)
        self.conversation = conversation_in(engine, data, settings)
        self.listeners = Listeners(self.conversation)
        self.app = build_app(settings, self.conversation, listeners=self.listeners)
        self.server = serve_http(self.app, port=0, host="127.0.0.1")
        # A short poll: shutdown() waits for the loop to look (0.5 s by default).
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.slack = Slack(f"http://127.0.0.1:{self.server.server_port}/slack/events", fake)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.listeners.close(wait=False)


@pytest.fixture(scope="module")
def fake_slack():
    fake = FakeSlack()
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def served(fake_slack: FakeSlack, seed_engine: Engine, tmp_path_factory):
    served = Served(fake_slack, seed_engine, tmp_path_factory.mktemp("slack-data"))
    yield served
    served.close()


@pytest.fixture(scope="module")
def slack(served: Served) -> Slack:
    return served.slack


@pytest.fixture
def own(fake_slack: FakeSlack, seed_engine: Engine, tmp_path: Path):
    """An app of the test's own, whose listeners it may close: `listeners.close()` returns once
    everything the requests so far set off is done, so that what did not happen, did not."""
    served = Served(fake_slack, seed_engine, tmp_path)
    yield served
    served.close()


def answer_blocks(answer: Answer) -> list[dict[str, Any]]:
    """The answer's text, "Sources" and the cited passages, as the renderer makes them."""
    return render_answer(answer)[0]["blocks"][: len(answer.citations) + 2]


# -- mentions, threads, direct messages -------------------------------------------------------
def test_a_mention_is_answered_in_its_thread(slack, fake_slack, seed_engine):
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
    assert update["blocks"][: len(expected.citations) + 2] == answer_blocks(expected)
    assert set(buttons(update)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}
    # The buttons carry what was asked: the mention's text, as of its time.
    _, asked = read_button(buttons(update)[ACTION_VOTE_UP]["value"])
    assert asked == Asked.question(question, datetime.fromtimestamp(float(ts(10)), UTC))
    assert not fake_slack.where("chat.postMessage", channel="C1", thread_ts=None)


def test_a_follow_up_reads_the_questions_earlier_in_the_thread(slack, fake_slack, seed_engine):
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
    # Read with the first question only: not the bot's message, not the remark, not itself.
    _, asked = read_button(buttons(update)[ACTION_VOTE_UP]["value"])
    assert asked is not None and asked.context == first
    with_context = seed_engine.ask(follow_up, now=asked.at, context=first)
    assert update["blocks"][: len(with_context.citations) + 2] == answer_blocks(with_context)


def test_a_direct_message_is_answered_in_the_dm(slack, fake_slack, seed_engine):
    question = "What naval exercises is Russia planning?"
    slack.dm(question, ts(30))
    [searching] = fake_slack.wait("chat.postMessage", channel="D1", text=SEARCHING)
    assert "thread_ts" not in searching
    [update] = fake_slack.wait("chat.update", channel="D1", ts=searching["_ts"])
    expected = seed_engine.ask(question, now=datetime.fromtimestamp(T0 + 30, UTC))
    assert "Sea of Azov" in expected.answer
    assert update["blocks"][: len(expected.citations) + 2] == answer_blocks(expected)


def test_mentions_from_other_bots_get_no_reply(own, fake_slack):
    """Answering another bot could start two bots answering each other forever."""
    question = "What did Wallace say about the Minsk agreement?"
    own.slack.mention(question, ts(100), channel="C2", bot_id="B2")
    own.slack.mention(question, ts(101), channel="C2", subtype="bot_message", user=None)
    own.slack.mention(question, ts(102), channel="C2", thread_ts=ts(100), bot_id="B2")
    own.listeners.close()
    sent = [p for _, p in fake_slack.calls if p.get("thread_ts") in (ts(100), ts(101), ts(102))]
    assert sent == [] and not fake_slack.where("conversations.replies", ts=ts(100))


def test_a_message_and_its_redelivery_are_the_same_message():
    """Slack redelivers an event it thinks went unheard, with another event id: the message's
    own timestamp is what the conversation claims, once (tests/test_conversation.py)."""
    event = {"type": "app_mention", "user": "U1", "text": "<@UBOT> hi", "ts": ts(40)}
    first = event_message({**event, "channel": "C2", "event_id": "Ev1"}, BOT_USER, False)
    again = event_message({**event, "channel": "C2", "event_id": "Ev2"}, BOT_USER, False)
    assert first == again and first.id == ts(40) and first.text == "hi"


# -- /ask, /brief and the buttons --------------------------------------------------------------
def test_ask_is_acknowledged_at_once_and_answered_privately(slack, fake_slack, seed_engine):
    question = "What did Wallace say about the Minsk agreement?"
    status, ack, name = slack.command("/ask", question)
    assert status == 200
    assert ack == {"text": f"{SEARCHING} _{question}_", "response_type": "ephemeral"}

    [answer] = fake_slack.wait(f"/response/{name}")
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is True
    expected = seed_engine.ask(question)
    assert texts(answer)[0] == f"You asked: _{question}_"
    assert answer["blocks"][1 : len(expected.citations) + 3] == answer_blocks(expected)
    assert set(buttons(answer)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN, ACTION_SHARE}


def test_share_after_a_restart_posts_the_answer_for_everyone(
    slack, fake_slack, seed_engine, tmp_path
):
    """The button is pressed in another process, with no memory of the answer: it asks again
    from what the button carries and posts it for the channel, the private copy replaced."""
    question = "What do the new satellite images show?"
    _, _, name = slack.command("/ask", question, user="U7")
    [private] = fake_slack.wait(f"/response/{name}")

    restarted = Served(fake_slack, seed_engine, tmp_path)
    try:
        action = restarted.slack.click(buttons(private)[ACTION_SHARE], user="U7")
        public, confirmation = fake_slack.wait(f"/response/{action}", n=2)
    finally:
        restarted.close()
    assert public["response_type"] == "in_channel" and public["replace_original"] is False
    assert texts(public)[0] == f"<@U7> asked: _{question}_"
    # The same answer the asker saw, with 👍 / 👎 for everyone and no Share.
    assert public["blocks"][1:-2] == private["blocks"][1:-2]
    assert set(buttons(public)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}
    assert confirmation == {
        "text": SHARED,
        "response_type": "ephemeral",
        "replace_original": True,
    }


def test_a_vote_is_recorded_and_acknowledged_in_its_thread(slack, fake_slack, served):
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
    [vote] = [v for v in served.conversation.feedback.list() if v.user_id == "U5"]
    assert (vote.platform, vote.vote, vote.question, vote.article_ids) == (
        "slack",
        1,
        question,
        (SEED_ID,),
    )
    assert datetime.now(UTC) - datetime.fromisoformat(vote.created_at) < timedelta(minutes=5)


def test_slash_command_text_is_decoded_once(slack, fake_slack):
    """Slack sends a command's text with &, < and > escaped, as it sends message text: decoded
    once, the question is `AT&T … <anything>`, and shown escaped once."""
    _, ack, name = slack.command("/ask", "Did AT&amp;T say &lt;anything&gt; about Wallace?")
    shown = "Did AT&amp;T say &lt;anything&gt; about Wallace?"
    assert ack["text"] == f"{SEARCHING} _{shown}_"
    [answer] = fake_slack.wait(f"/response/{name}")
    assert texts(answer)[0] == f"You asked: _{shown}_"

    _, _, name = slack.command("/brief", "AT&amp;T 2022-02-01")
    [briefing] = fake_slack.wait(f"/response/{name}")
    assert texts(briefing)[0].endswith(" · _AT&amp;T_")


def test_brief_lists_the_window_privately_and_shares_it(slack, fake_slack):
    status, ack, name = slack.command("/brief", "2022-02-01")
    assert status == 200
    assert ack == {"text": PREPARING, "response_type": "ephemeral"}
    [briefing] = fake_slack.wait(f"/response/{name}")
    assert briefing["response_type"] == "ephemeral"
    lines = texts(briefing)
    assert re.fullmatch(r"\*Briefing\* · 2022-02-01 → \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[0])
    assert "Not Invade Ukraine" in lines[1] and lines[-1] == "1 story"

    action = slack.click(buttons(briefing)[ACTION_SHARE], user="U4")
    public, _ = fake_slack.wait(f"/response/{action}", n=2)
    assert public["response_type"] == "in_channel"
    assert texts(public)[0] == "Shared by <@U4>"
    assert texts(public)[1:] == lines


def test_what_was_typed_wrong_is_said_with_how_to_ask(slack, fake_slack):
    event = slack.mention("", ts(85), channel="C2")
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
    [reply] = fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    assert reply["text"] == f"The question is empty. {escape(MENTION_HINT)}"
    status, ack, _ = slack.command("/ask", "   ")
    assert status == 200 and ack["text"].startswith("The question is empty. Usage: `/ask")
    status, ack, _ = slack.command("/brief", "ukraine 2022-13-45")
    assert status == 200 and ack["text"].startswith("since: '2022-13-45' is not 24h, 7d")
    assert ack["text"].endswith(BRIEF_USAGE)


def test_outside_the_allowed_channels_it_declines(own, fake_slack):
    event = own.slack.mention("What did Wallace say?", ts(70), channel="C5")
    [declined] = fake_slack.wait("chat.postEphemeral", channel="C5")
    assert (declined["user"], declined["thread_ts"], declined["text"]) == (
        "U1",
        event["ts"],
        DECLINE,
    )
    own.slack.dm("What did Wallace say?", ts(71), channel="D5")
    [in_dm] = fake_slack.wait("chat.postMessage", channel="D5")
    assert in_dm["text"] == DECLINE and "thread_ts" not in in_dm
    for command in ("/ask", "/brief"):
        status, ack, _ = own.slack.command(command, "What did Wallace say?", channel="C5")
        assert (status, ack) == (200, {"text": DECLINE, "response_type": "ephemeral"})
    own.listeners.close()
    sent = [(m, p.get("text")) for m, p in fake_slack.calls if p.get("channel") in ("C5", "D5")]
    assert sent == [("chat.postEphemeral", DECLINE), ("chat.postMessage", DECLINE)]


# -- operating it -----------------------------------------------------------------------------
def test_forged_or_stale_requests_get_401_and_reach_no_handler(own, fake_slack):
    event = {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> What did Wallace say?",
        "ts": ts(60),
        "channel": "C9",
        "event_ts": ts(60),
    }
    forged = own.slack.event(event, signature="v0=" + "0" * 64)
    stale = own.slack.event(event, timestamp=int(time.time()) - 6 * 60)
    form = urllib.parse.urlencode({"command": "/ask", "text": "hi", "channel_id": "C9"})
    forged_command = own.slack.post(form, "application/x-www-form-urlencoded", signature="v0=bad")
    assert [forged, stale, forged_command[0]] == [401, 401, 401]
    own.listeners.close()
    assert not [p for _, p in fake_slack.calls if p.get("channel") == "C9"]


def test_url_verification(slack):
    body = json.dumps({"token": "legacy", "challenge": "abc123", "type": "url_verification"})
    status, text = slack.post(body, "application/json")
    assert status == 200 and json.loads(text) == {"challenge": "abc123"}


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


def test_acknowledgements_never_wait_behind_rate_limited_posts(seed_engine, tmp_path):
    """While chat.postMessage is rate-limited, more mentions than Bolt has listener threads
    wait for their "Searching…" posts; an /ask is still acknowledged, and every post waits."""
    fake = FakeSlack()
    served = Served(fake, seed_engine, tmp_path)
    try:
        fake.hold(lambda method, _: method == "chat.postMessage")
        question = "What did Wallace say about the Minsk agreement?"
        mentions = [
            served.slack.mention(question, ts(200 + i)) for i in range(LISTENER_THREADS + 4)
        ]
        fake.wait_held(WORKERS)  # every worker waits on the rate limit

        status, ack, name = served.slack.command("/ask", question)
        assert status == 200 and ack["text"] == f"{SEARCHING} _{question}_"
        assert not fake.where("chat.postMessage")  # acknowledged while no post got through

        fake.release()
        for event in mentions:
            [searching] = fake.wait("chat.postMessage", thread_ts=event["ts"])
            fake.wait("chat.update", ts=searching["_ts"])
        [answer] = fake.wait(f"/response/{name}")
        assert "*Sources*" in texts(answer)
    finally:
        fake.release()
        served.close()
        fake.close()


def test_a_burst_of_connections_waits_in_the_servers_queue(served):
    """Slack's requests arrive in bursts; a short listen queue turns them away."""
    server = serve_http(served.app, port=0, host="127.0.0.1")  # not serving: nothing accepted
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


def test_a_slow_reply_delays_no_one_else(slack, fake_slack):
    """One reply held at Slack holds a worker: the next /ask is answered meanwhile."""
    fake_slack.hold(lambda method, p: method.startswith("/response/") and "slowly" in str(p))
    try:
        _, _, slow = slack.command("/ask", "Answer slowly: what did Wallace say?")
        fake_slack.wait_held(1)
        status, _, quick = slack.command("/ask", "What naval drills are planned?")
        assert status == 200
        fake_slack.wait(f"/response/{quick}")
        assert not fake_slack.where(f"/response/{slow}")
    finally:
        fake_slack.release()
    fake_slack.wait(f"/response/{slow}")


def test_a_long_answer_is_posted_over_several_messages(fake_slack, seed_engine):
    """The first part replaces "Searching…", the others follow it in the thread, and the
    buttons come under the last."""
    real = seed_engine.ask(
        "What did Ben Wallace tell reporters?", now=datetime.fromtimestamp(T0, UTC)
    )
    long = replace(real, answer=" ".join([real.answer] * (12_000 // len(real.answer) + 1)))
    client = make_client(slack_settings(fake_slack))
    message = Message("slack", "C7", ts(95), "U1", long.question, datetime.now(UTC))
    reply = ThreadReply(client, message, ts(95), BOT_USER)
    reply.progress(SEARCHING)
    reply.answer(long, Buttons("k1", None, vote=True))
    [searching, rest] = fake_slack.where("chat.postMessage", channel="C7", thread_ts=ts(95))
    [first] = fake_slack.where("chat.update", channel="C7", ts=searching["_ts"])
    assert texts(first)[0].startswith(escape(real.answer[:40]))
    assert not buttons(first) and set(buttons(rest)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}


def test_tokens_never_reach_the_logs(slack, fake_slack, caplog):
    caplog.set_level(logging.DEBUG)
    event = slack.mention("What did Wallace say about the Minsk agreement?", ts(90), channel="C2")
    [searching] = fake_slack.wait("chat.postMessage", channel="C2", thread_ts=event["ts"])
    fake_slack.wait("chat.update", channel="C2", ts=searching["_ts"])
    _, _, name = slack.command("/ask", "What naval exercises is Russia planning?")
    fake_slack.wait(f"/response/{name}")
    assert caplog.records  # debug logging was on
    # Bolt sets the level of the logger named after its app: not the command line's.
    assert logging.getLogger("briefbot").level == logging.NOTSET
    for secret in (BOT_TOKEN, APP_TOKEN, SIGNING_SECRET):
        assert secret not in caplog.text
    settings = slack_settings(fake_slack)
    assert BOT_TOKEN not in repr(settings) and BOT_TOKEN not in str(settings.model_dump())


def test_no_misleading_warning_when_the_token_is_in_the_environment(
    fake_slack, seed_engine, tmp_path, monkeypatch, caplog
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)  # as in a container
    settings = slack_settings(fake_slack)
    build_app(settings, conversation_in(seed_engine, tmp_path, settings))
    assert "unused" not in caplog.text


def test_socket_mode_requests_reach_the_same_handlers(served, fake_slack):
    payload = {
        "command": "/ask",
        "text": "What did Wallace say about the Minsk agreement?",
        "channel_id": "C1",
        "user_id": "U1",
        "team_id": "T1",
        "response_url": fake_slack.response_url("socket"),
    }
    # Socket Mode requests arrive over the app's own websocket: unsigned, and accepted.
    response = served.app.dispatch(BoltRequest(body=payload, mode="socket_mode"))
    assert response.status == 200 and json.loads(response.body)["text"].startswith(SEARCHING)
    [answer] = fake_slack.wait("/response/socket")
    assert "clear way forward" in texts(answer)[1]


def test_the_settings_missing_or_wrong_are_named(fake_slack):
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
    # SLACK_ALLOWED_CHANNELS: the channels the conversation answers in on Slack.
    allowed = SlackAdapter(slack_settings(fake_slack, slack_allowed_channels=" C1, D2 ,"))
    assert allowed.allowed_channels == {"C1", "D2"}
    assert (
        SlackAdapter(slack_settings(fake_slack, slack_allowed_channels="")).allowed_channels
        == set()
    )


def test_the_manifest_asks_for_what_the_app_handles():
    import yaml

    from retrieval.config import PROJECT_ROOT

    manifest = yaml.safe_load((PROJECT_ROOT / "deploy" / "slack-manifest.yml").read_text())
    features, settings = manifest["features"], manifest["settings"]
    assert {c["command"] for c in features["slash_commands"]} == {
        "/ask",
        "/brief",
        "/follow",
        "/following",
        "/unfollow",
    }
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
        "chat:write.public",  # a followed story's posts, where briefbot was not invited
        "commands",
        "im:history",
        "channels:history",
        "assistant:write",
    } <= scopes


def test_run_serves_the_events_api_over_http(fake_slack, seed_engine, tmp_path):
    """What `briefbot serve slack --http` runs: serve until stopped."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = slack_settings(fake_slack)
    adapter = SlackAdapter(settings, http=True, port=port, host="127.0.0.1")
    started = threading.Event()
    thread = threading.Thread(
        target=adapter.run,
        args=(conversation_in(seed_engine, tmp_path, settings), lambda post: started.set()),
        daemon=True,
    )
    thread.start()
    assert started.wait(TIMEOUT)  # Slack accepted the token, and the server listens
    client = Slack(f"http://127.0.0.1:{port}/slack/events", fake_slack)
    body = json.dumps({"token": "legacy", "challenge": "run", "type": "url_verification"})
    assert client.post(body, "application/json") == (200, '{"challenge": "run"}')
    assert client.post(body, "application/json", signature="v0=forged")[0] == 401
    adapter.stop()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


# -- translation: Slack's text, arguments and button values ----------------------------------
def test_plain_text_and_brief_arguments():
    assert plain_text(
        f"<@{BOT_USER}> what did <@U9|bob> say about <https://x.example|this> &amp; <#C1|news>?",
        BOT_USER,
    ) == ("what did @bob say about this & news?")
    now = datetime(2022, 2, 12, 10, tzinfo=UTC)
    assert parse_brief_args("", now) == (None, datetime(2022, 2, 11, 10, tzinfo=UTC))
    assert parse_brief_args("7d", now) == (None, datetime(2022, 2, 5, 10, tzinfo=UTC))
    assert parse_brief_args("russia ukraine 2w", now)[0] == "russia ukraine"
    assert parse_brief_args("48h navy", now) == ("navy", datetime(2022, 2, 10, 10, tzinfo=UTC))
    assert parse_brief_args("navy 2022-02-01", now)[1] == datetime(2022, 2, 1, tzinfo=UTC)


def test_button_values_carry_what_was_asked_within_slacks_limit():
    moment = datetime(2022, 2, 12, 10, tzinfo=UTC)
    for asked in (
        Asked.question("What did Wallace say?", moment, "earlier question"),
        Asked.briefing("ukraine", datetime(2022, 2, 1, tzinfo=UTC), moment),
        Asked.briefing(None, datetime(2022, 2, 1, tzinfo=UTC), moment),
    ):
        value = button_value(Buttons("k1", asked, vote=True))
        assert read_button(value) == ("k1", asked)
    # Too long for a value: the key alone (the conversation kept the rest under it).
    long = Asked.question("q" * 1500, moment, "c" * 1500)
    value = button_value(Buttons("k2", long, share=True))
    assert len(value) <= BUTTON_VALUE_LIMIT and read_button(value) == ("k2", None)
    # A value of the version before, which carried the cited article ids too.
    old = {"k": "k3", "kind": "ask", "t": T0, "ids": ["a"], "q": "q?", "c": ""}
    assert read_button(json.dumps(old)) == ("k3", Asked.question("q?", moment))
    with pytest.raises(BriefbotError, match="no longer works"):
        read_button("not json")


# -- answers written by a language model, streamed; Slack's assistant pane --------------------
@pytest.fixture
def model_slack(fake_slack, seed_engine, tmp_path, monkeypatch):
    """The app with an engine whose answers a (fake) language model writes."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_llm = FakeLLM()
    engine = engine_with_model(seed_engine, fake_llm, tmp_path / "model")
    served = Served(fake_slack, engine, tmp_path)
    yield served.slack, fake_llm
    served.close()
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
    text = "\n".join(texts(stop))
    assert "Something was left out: one sentence" in text and "*Sources*" in text
    assert "[1] *U.K. Defense Official Says Russia Assures" in text
    # "Searching…" made way for the stream; no other answer was posted.
    [searching] = fake_slack.where("chat.postMessage", channel="C3", thread_ts=event["ts"])
    fake_slack.wait("chat.delete", channel="C3", ts=searching["_ts"])
    assert not fake_slack.where("chat.update", channel="C3", ts=searching["_ts"])


def test_the_assistant_greets_a_new_thread_with_suggested_prompts(slack, fake_slack):
    thread = ts(400)
    status = slack.event(
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


def test_the_assistant_shows_a_status_titles_the_thread_and_answers_in_it(
    slack, fake_slack, seed_engine
):
    thread, at = ts(410), ts(411)
    slack.dm(QUESTION, at, thread_ts=thread)
    [answer] = fake_slack.wait("chat.postMessage", channel="D1", thread_ts=thread)
    [status] = fake_slack.where("assistant.threads.setStatus", thread_ts=thread)
    assert (status["channel_id"], status["status"]) == ("D1", SEARCHING)
    [title] = fake_slack.where("assistant.threads.setTitle", thread_ts=thread)
    assert title["title"] == QUESTION
    expected = seed_engine.ask(QUESTION, now=datetime.fromtimestamp(T0 + 411, UTC))
    assert answer["blocks"][: len(expected.citations) + 2] == answer_blocks(expected)

    # A follow-up in the same thread: read with the first question, and no new title.
    fake_slack.threads[thread] = [{"type": "message", "user": "U1", "text": QUESTION, "ts": at}]
    slack.dm("and what about the Minsk agreement?", ts(412), thread_ts=thread)
    fake_slack.wait("chat.postMessage", n=2, channel="D1", thread_ts=thread)
    assert len(fake_slack.where("assistant.threads.setTitle", thread_ts=thread)) == 1


def test_the_assistants_brief_me_prompt_gives_a_briefing(slack, fake_slack):
    thread = ts(420)
    slack.dm("What changed since yesterday?", ts(421), thread_ts=thread)
    [briefing] = fake_slack.wait("chat.postMessage", channel="D1", thread_ts=thread)
    head = texts(briefing)[0]
    assert head.startswith("*Briefing* · 2022-02-11 10:07 UTC → 2022-02-12 10:07 UTC")


def test_the_assistant_streams_a_generated_answer(model_slack, fake_slack):
    slack, fake_llm = model_slack
    fake_llm.reply = " ".join(GOOD)
    thread = ts(430)
    slack.dm(QUESTION, ts(431), thread_ts=thread)
    [start] = fake_slack.wait("chat.startStream", channel="D1", thread_ts=thread)
    fake_slack.wait("chat.stopStream", channel="D1", ts=start["_ts"])
    assert "".join(streamed(fake_slack, "D1", thread)) == " ".join(GOOD)
    assert fake_slack.where("assistant.threads.setStatus", thread_ts=thread)
    assert not fake_slack.where("chat.postMessage", channel="D1", thread_ts=thread)


def test_a_direct_message_grows_into_the_generated_answer_in_place(model_slack, fake_slack):
    slack, fake_llm = model_slack
    fake_llm.reply = f"{GOOD[0]} {FABRICATED_NUMBER} {GOOD[1]}"
    before = len(fake_slack.where("chat.postMessage", channel="D1", text=SEARCHING))
    slack.dm(QUESTION, ts(440))
    searching = fake_slack.wait("chat.postMessage", before + 1, channel="D1", text=SEARCHING)[-1]
    updates = fake_slack.wait("chat.update", n=2, channel="D1", ts=searching["_ts"])
    assert updates[0] == {
        "channel": "D1",
        "ts": searching["_ts"],
        "text": GOOD[0],
        "team_id": "T1",
    }
    assert texts(updates[-1])[0] == escape(" ".join(GOOD))
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


# -- following a story -------------------------------------------------------------------------
def test_follow_following_and_unfollow_are_said_to_the_channel(slack, fake_slack):
    """Following is a channel-wide act: what each command did is posted for the channel (the
    acknowledgement says nothing); a topic it does not follow is told only to whoever typed."""

    def said(command: str, text: str) -> dict[str, Any]:
        status, ack, name = slack.command(command, text, channel="C2")
        assert (status, ack) == (200, {})
        [reply] = fake_slack.wait(f"/response/{name}")
        return reply

    wallace = said("/follow", "Ben Wallace in Moscow --digest daily --since 2022-02-01")
    assert wallace["response_type"] == "in_channel"
    assert texts(wallace)[0].startswith(
        "Following “Ben Wallace in Moscow” in this channel: new developments are posted in a "
        "thread of their own, in a daily digest; articles published before 2022-02-01 don't count."
        " 1 indexed article is about it already"
    )
    griner = said("/follow", "Griner trial")
    assert texts(griner)[0].endswith(
        "as they happen. Nothing indexed matches it yet: the first post comes when something does."
    )
    again = said("/follow", "griner   TRIAL --digest=hourly")
    assert texts(again) == [
        "This channel already follows “Griner trial”: new developments are now posted in an "
        "hourly digest."
    ]
    listed = said("/following", "")
    assert listed["response_type"] == "in_channel"
    assert texts(listed) == [
        "This channel follows 2 topics:\n"
        "• Ben Wallace in Moscow: daily digest, since 2022-02-01; last posted never\n"
        "• Griner trial: hourly digest; last posted never"
    ]
    gone = said("/unfollow", "GRINER trial")
    assert (gone["response_type"], texts(gone)) == (
        "in_channel",
        ["Stopped following “Griner trial” in this channel."],
    )
    unknown = said("/unfollow", "Griner trial")
    assert unknown["response_type"] == "ephemeral"
    assert "Griner trial" in texts(unknown)[0] and "Ben Wallace in Moscow" in texts(unknown)[0]


def test_what_was_typed_wrong_after_follow_is_told_privately(slack, fake_slack):
    for text, said in [
        ("Griner trial --digest weekly", "--digest: 'weekly' is not hourly or daily."),
        ("Griner trial --since 2022-13-45", "--since: '2022-13-45' is not a date (YYYY-MM-DD)."),
        ("Griner trial --every day", "Unknown option --every: /follow takes --digest and --since."),
        ("--digest daily", "The topic is missing."),
        ("   ", "The topic is missing."),
    ]:
        status, ack, _ = slack.command("/follow", text, channel="C3")
        assert status == 200 and ack["response_type"] == "ephemeral"
        assert ack["text"] == f"{said} {FOLLOW_USAGE}"
    status, ack, _ = slack.command("/unfollow", "", channel="C3")
    assert ack["text"] == f"The topic is missing. {UNFOLLOW_USAGE}"
    # What only the engine can say (a topic over 120 characters) comes after the acknowledgement.
    status, ack, name = slack.command("/follow", "strike " * 30, channel="C3")
    assert (status, ack) == (200, {})
    [refused] = fake_slack.wait(f"/response/{name}")
    assert refused["response_type"] == "ephemeral" and "120" in refused["text"]
    _, _, name = slack.command("/following", "", channel="C3")
    [listed] = fake_slack.wait(f"/response/{name}")
    assert texts(listed) == ["This channel follows no topic yet: /follow TOPIC starts one."]


def test_following_outside_the_allowed_channels_is_declined(own, fake_slack, seed_engine):
    for command, text in (("/follow", "Griner trial"), ("/following", ""), ("/unfollow", "x")):
        status, ack, _ = own.slack.command(command, text, channel="C5")
        assert (status, ack) == (200, {"text": DECLINE, "response_type": "ephemeral"})
    own.listeners.close()
    assert seed_engine.follows.list("slack", "C5") == []
    assert not [p for m, p in fake_slack.calls if m.startswith("/response/") and "C5" in str(p)]


def follow_post(channel: str, thread: str | None = None) -> FollowPost:
    follow = Follow(
        platform="slack",
        channel=channel,
        topic="Wallace in Moscow",
        key="wallace in moscow",
        digest=None,
        since=None,
        created_at=datetime(2022, 2, 11, tzinfo=UTC),
        created_by="U1",
        last_posted_at=None,
        thread=thread,
    )
    quote = "Wallace said he had a constructive and frank discussion with Shoigu."
    cited = Citation(
        1, "a1", "Wallace <!here> in Moscow", "Tide", "2022-02-11", "https://tide.example/1",
        quote, 0, len(quote),
    )  # fmt: skip
    return FollowPost(follow, [Development("a1", [cited], ["Harbour Herald"], None)])


def test_a_follow_post_starts_its_topics_thread_and_the_next_goes_in_it(fake_slack):
    post = outbox(make_client(slack_settings(fake_slack))).follow
    thread = post(follow_post("CF7"))
    [first] = fake_slack.wait("chat.postMessage", channel="CF7")
    assert "thread_ts" not in first and thread == first["_ts"]
    assert texts(first) == [
        "*Wallace in Moscow* · new development",
        "> Wallace said he had a constructive and frank discussion with Shoigu.\n"
        "— <https://tide.example/1|Wallace &lt;!here&gt; in Moscow> · Tide · 2022-02-11",
        "_also reported by Harbour Herald_",
    ]
    assert post(follow_post("CF7", thread)) == thread
    [second] = fake_slack.wait("chat.postMessage", channel="CF7", thread_ts=thread)
    assert texts(second) == texts(first)


def test_a_follow_post_waits_out_slacks_rate_limit_as_briefings_do(fake_slack):
    fake_slack.rate_limit("chat.postMessage")
    thread = outbox(make_client(slack_settings(fake_slack))).follow(follow_post("CF8"))
    assert fake_slack.where("chat.postMessage:429", channel="CF8")
    [posted] = fake_slack.where("chat.postMessage", channel="CF8")
    assert posted["_ts"] == thread


def test_the_service_posts_a_followed_stories_developments_in_its_thread(fake_slack, make_engine):
    """End to end: `briefbot serve slack --http` as the service runs it; a channel follows a
    story with /follow (a signed request through Bolt); new articles are committed to the
    engine; the service's follower posts the first development to the channel, which starts the
    story's thread, and the next in that thread; stopping the service stops the follower."""
    engine = make_engine(**SMALL_CHUNKS)
    engine.parts.refresh_seconds = 0  # each commit is read at once
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = slack_settings(fake_slack, slack_allowed_channels="C40")
    adapter = SlackAdapter(settings, http=True, port=port, host="127.0.0.1")
    service = Service(engine, ConfigFile.parse({}), [adapter])
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while "briefbot-slack-follows" not in {t.name for t in threading.enumerate()}:
            assert time.monotonic() < deadline, "the follower did not start"
            time.sleep(0.05)
        slack = Slack(f"http://127.0.0.1:{port}/slack/events", fake_slack)
        status, ack, name = slack.command("/follow", "Griner trial", channel="C40")
        assert (status, ack) == (200, {})
        [followed] = fake_slack.wait(f"/response/{name}")
        assert "Nothing indexed matches it yet" in texts(followed)[0]

        engine.ingest_articles([TRIAL_OPENS])
        [first] = fake_slack.wait("chat.postMessage", channel="C40")
        assert "thread_ts" not in first  # the story's first post starts its thread
        head, development = texts(first)[:2]
        assert head == "*Griner trial* · new development"
        assert "trial of American basketball star Brittney Griner opened" in development
        assert "— <https://wire.test/trial-1|Griner trial opens in Moscow> · Wire Daily · " in (
            development
        )

        engine.ingest_articles([VERDICT, VERDICT_HERALD])
        [second] = fake_slack.wait("chat.postMessage", channel="C40", thread_ts=first["_ts"])
        assert "nine years in prison" in texts(second)[1]
        assert texts(second)[2] == "_also reported by Global Herald_"
        [follow] = engine.follows.list("slack", "C40")
        assert follow.thread == first["_ts"] and follow.last_posted_at is not None
    finally:
        service.stop()
        runner.join(TIMEOUT)
    assert not runner.is_alive()
    for thread in [t for t in threading.enumerate() if t.name == "briefbot-slack-follows"]:
        thread.join(TIMEOUT)  # the follower ends at its next wait
        assert not thread.is_alive()
    assert len(fake_slack.where("chat.postMessage", channel="C40")) == 2  # each once
