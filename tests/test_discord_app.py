"""The Discord adapter on discord.py's real paths, against the real engine on the seed article.

Discord is played on this machine (tests/fakes/discord.py): dpytest for mentions, threads and
DMs; real `discord.Interaction`s built from payload dicts for commands and buttons, what they
send captured at discord.py's webhook adapter; a local HTTP fake of Discord's API for `sync`,
`clear` and the CLI. What the conversation decides is tested once, in tests/test_conversation.py;
how it looks, in tests/test_render_discord.py. Here: that Discord's events reach the
conversation as they should, and that what it says reaches Discord the way Discord takes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import yarl
from discord.ext.test import callbacks as dpytest_callbacks

from bot import cli
from bot.chat import Buttons
from bot.cli import state as cli_state
from bot.conversation import DECLINE, RESTARTING, SHARED, VOTED
from bot.discord import admin
from bot.discord.adapter import DiscordAdapter
from bot.discord.client import build_client
from bot.discord.errors import TOKEN_REJECTED
from bot.discord.render import SHARE_TEMPLATE, VOTE_TEMPLATE, escape
from bot.discord.replies import InteractionReply
from bot.discord.settings import DiscordSettings, token_of
from retrieval import Development, Follow, FollowPost
from retrieval.config import read_settings
from retrieval.engine import Engine
from retrieval.errors import SettingsError
from retrieval.models import Citation
from tests.fake_llm import FABRICATED_NUMBER, GOOD, KEY, FakeLLM, engine_with_model
from tests.fake_llm import QUESTION as QUESTION_WRITTEN
from tests.fakes.discord import (
    APP_ID,
    EPHEMERAL,
    FakeDiscord,
    FakeDiscordAPI,
    all_text,
    assert_message_within_limits,
    closed_port,
    custom_ids,
    live_markdown,
    quotes_in,
    start_fake_discord,
    stop_fake_discord,
)

SEED_TITLE = "U.K. Defense Official Says Russia Assures They Will 'Not Invade Ukraine'"
QUESTION = "What did Russia assure Ben Wallace?"
FOLLOW_UP = "What about the Minsk agreement?"
SEED_ID = "000_0070773c25b31aea"
COMMANDS = ["ask", "brief", "follow", "following", "unfollow"]
SLASHED = ", ".join(f"/{c}" for c in COMMANDS)


@pytest.fixture
async def fake_discord(seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env = await start_fake_discord(seed_engine, tmp_path, monkeypatch)
    yield env
    await stop_fake_discord(env)


def is_vote(custom_id: str) -> bool:
    return re.fullmatch(VOTE_TEMPLATE, custom_id) is not None


def is_share(custom_id: str) -> bool:
    return re.fullmatch(SHARE_TEMPLATE, custom_id) is not None


def untimed(embeds: list[dict]) -> list[dict]:
    """Embeds without their footers (which say how long the answer took)."""
    return [{k: v for k, v in e.items() if k != "footer"} for e in embeds]


# -- answers written by a language model, streamed as edits ---------------------------------
@pytest.fixture
async def model_discord(seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fake Discord whose engine has a (fake) language model write its answers; the edits
    of messages are recorded too, as (channel id, payload)."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    fake_llm = FakeLLM()
    engine = engine_with_model(seed_engine, fake_llm, tmp_path / "model")
    env = await start_fake_discord(engine, tmp_path, monkeypatch)
    edits: list[tuple[int, dict]] = []

    async def edited(channel: Any, message: Any, fields: dict) -> None:
        edits.append((channel.id, json.loads(json.dumps(fields["params"].payload or {}))))

    dpytest_callbacks.set_callback(edited, "edit_message")
    yield env, fake_llm, edits
    dpytest_callbacks.remove_callback("edit_message")
    await stop_fake_discord(env)
    fake_llm.close()


async def test_a_mention_streams_verified_sentences_then_becomes_the_cited_answer(model_discord):
    env, fake_llm, edits = model_discord
    fake_llm.reply = f"{GOOD[0]} {FABRICATED_NUMBER} {GOOD[1]}"
    question = await env.say(env.mention(QUESTION_WRITTEN))

    thread = env.guild.get_thread(question.id)
    [streamed] = env.sent_to(thread.id)
    assert streamed["content"] == GOOD[0]  # the first verified sentence, at once
    assert streamed["allowed_mentions"] == {"parse": []}
    # The same message then becomes the answer: embeds with the sources, and the buttons.
    final = edits[-1][1]
    assert edits[-1][0] == thread.id and final["content"] is None
    [embed] = final["embeds"]
    assert embed["description"].startswith(" ".join(GOOD))
    assert "*Something was left out: one sentence" in embed["description"]
    assert embed["fields"][0]["value"].startswith(f"**[1]** {escape(SEED_TITLE)}")
    assert len(custom_ids(final)) == 2
    shown = [streamed["content"]] + [p.get("content") or "" for _, p in edits]
    assert all(p.strip() in ("", GOOD[0], " ".join(GOOD)) for p in shown)
    assert not any("200,000" in p for p in shown)


async def test_ask_streams_into_its_deferred_response(model_discord):
    env, fake_llm, _ = model_discord
    fake_llm.reply = f"{GOOD[0]} {FABRICATED_NUMBER} {GOOD[1]}"
    payload = await env.command("ask", question=QUESTION_WRITTEN)

    original = f"/webhooks/{APP_ID}/{payload['token']}/messages/@original"
    edits = [c.payload for c in env.calls if c.method == "PATCH" and c.path == original]
    assert edits[0]["content"] == GOOD[0]
    [embed] = edits[-1]["embeds"]
    assert embed["description"].startswith(" ".join(GOOD)) and len(custom_ids(edits[-1])) == 3
    assert not [c for c in env.calls if c.method == "POST" and c.path.endswith(payload["token"])]
    assert not any("200,000" in (e.get("content") or "") for e in edits)


# -- mentions, threads and DMs (dpytest) --------------------------------------------------
async def test_a_mention_is_answered_in_a_thread_started_from_it(fake_discord: FakeDiscord):
    env = fake_discord
    question = await env.say(env.mention(QUESTION))

    thread = env.guild.get_thread(question.id)
    assert thread is not None and thread.parent_id == env.channel.id
    assert thread.name == QUESTION
    assert env.sent_to(env.channel.id) == []  # nothing in the channel itself
    [payload] = env.sent_to(thread.id)
    assert payload["allowed_mentions"] == {"parse": []}
    [embed] = payload["embeds"]
    assert embed["title"] == QUESTION
    assert "Ben Wallace" in embed["description"] and "[1]" in embed["description"]
    assert embed["fields"][0]["value"].startswith(f"**[1]** {escape(SEED_TITLE)}")
    # 👍 and 👎 (everyone in the thread sees it: nothing to share), one key for the answer.
    ids = custom_ids(payload)
    assert len(ids) == 2 and all(is_vote(i) for i in ids)
    assert len({re.fullmatch(VOTE_TEMPLATE, i)["key"] for i in ids}) == 1
    reply = dpytest.get_message()
    assert reply.channel.id == thread.id and reply.embeds[0].title == QUESTION


async def test_a_mention_in_the_thread_follows_up_on_its_questions(fake_discord: FakeDiscord):
    env = fake_discord
    first = await env.say(env.mention(QUESTION))
    thread = env.guild.get_thread(first.id)

    await env.say(env.mention(FOLLOW_UP), channel=thread)
    await env.say(
        f"And the naval drills? {env.client.user.mention}", channel=thread, member=env.bob
    )
    answers = env.sent_to(thread.id)
    assert len(answers) == 3 and len(env.guild.threads) == 1  # no thread within the thread
    # Read with the thread's first question (the message it was started from), as it was.
    follow_up = answers[1]["embeds"][0]
    assert follow_up["title"] == FOLLOW_UP and "Minsk" in follow_up["description"]
    assert answers[2]["embeds"][0]["title"] == "And the naval drills?"


async def test_messages_not_addressed_to_the_bot_are_ignored(fake_discord: FakeDiscord):
    env = fake_discord
    await env.say(QUESTION)
    await env.say_to_everyone(f"@everyone {QUESTION}")
    await env.say(f"{env.bob.mention} {QUESTION}")
    assert env.sent == [] and list(env.guild.threads) == []


async def test_a_dm_is_answered_directly(fake_discord: FakeDiscord):
    env = fake_discord
    dm = await env.alice.create_dm()
    await env.say(QUESTION, channel=dm)
    [payload] = env.sent_to(dm.id)
    assert payload["embeds"][0]["title"] == QUESTION
    assert "Ben Wallace" in payload["embeds"][0]["description"]
    assert list(env.guild.threads) == []


async def test_an_empty_mention_gets_a_plain_answer(fake_discord: FakeDiscord):
    env = fake_discord
    await env.say(env.client.user.mention)
    [payload] = [s.payload for s in env.sent]
    assert payload["content"] == "The question is empty."
    assert payload["allowed_mentions"] == {"parse": []}


async def test_an_article_cannot_ping_anyone(
    make_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    engine = make_engine()
    article = tmp_path / "articles" / "town-hall.md"
    article.parent.mkdir()
    article.write_text(
        "---\n"
        "title: Town hall <@&123456789012345678> meeting @everyone\n"
        "published: 2022-03-01\n"
        "source: The **Bold** Times\n"
        "url: https://news.example/town-hall\n"
        "---\n\n"
        "At the town hall meeting on Tuesday, the mayor told @everyone and @here that"
        " <@123456789012345678> and <@&123456789012345678> must vote on the library budget.\n\n"
        "The library budget **doubles** to 4 million euros, says the"
        " [official notice](https://evil.example/phish) from the council.\n",
        encoding="utf-8",
    )
    assert engine.ingest([article.parent]).added == 1
    env = await start_fake_discord(engine, tmp_path, monkeypatch)
    try:
        await env.say(env.mention("What did the mayor say about the library budget vote?"))
    finally:
        await stop_fake_discord(env)

    [payload] = [s.payload for s in env.sent]
    assert payload["allowed_mentions"] == {"parse": []}  # no one, whatever the text says
    assert not payload.get("content")
    text = all_text(payload["embeds"])
    assert "@everyone" in text  # shown, as text
    assert "<@" not in text.replace("\\<@", "")  # and no mention syntax left to render
    quotes = quotes_in(payload["embeds"])
    assert any("@everyone and @here" in q and "\\<@&" in q for q in quotes)
    for quote in quotes:
        assert live_markdown(quote) == ""


async def test_outside_the_allowed_channels_it_declines(
    seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """DISCORD_ALLOWED_CHANNELS names the second channel only: there, and in a thread of it,
    the bot answers; in the first, a mention is declined in a reply, a command ephemerally."""
    env = await start_fake_discord(seed_engine, tmp_path, monkeypatch, lambda text: [text[1].id])
    try:
        declined = await env.say(env.mention(QUESTION))
        [reply] = env.sent_to(env.channel.id)
        assert reply["content"] == DECLINE and reply["allowed_mentions"] == {"parse": []}
        assert reply["message_reference"]["message_id"] == declined.id
        assert env.guild.get_thread(declined.id) is None  # nothing was started

        for command, options in (("ask", {"question": QUESTION}), ("brief", {})):
            await env.command(command, **options)
            [refusal] = env.calls
            assert refusal.payload["type"] == 4 and refusal.payload["data"]["flags"] == EPHEMERAL
            assert refusal.payload["data"]["content"] == DECLINE

        asked = await env.say(env.mention(QUESTION), channel=env.other)
        thread = env.guild.get_thread(asked.id)
        assert thread is not None and env.sent_to(thread.id)[0]["embeds"][0]["title"] == QUESTION
        await env.say(env.mention(FOLLOW_UP), channel=thread)
        assert env.sent_to(thread.id)[1]["embeds"][0]["title"] == FOLLOW_UP
        await env.command("ask", channel=env.other, question=QUESTION)
        assert env.calls[0].payload["type"] == 5  # deferred: it is being answered
    finally:
        await stop_fake_discord(env)


# -- app commands (interactions built from payloads) --------------------------------------
async def test_ask_is_answered_privately_with_votes_and_share(fake_discord: FakeDiscord):
    env = fake_discord
    payload = await env.command("ask", question=QUESTION)

    token = payload["token"]
    defer, follow_up = env.calls
    assert (defer.method, defer.path) == ("POST", f"/interactions/{payload['id']}/{token}/callback")
    assert defer.payload == {"type": 5, "data": {"flags": EPHEMERAL}}  # "thinking…", privately
    assert (follow_up.method, follow_up.path) == ("POST", f"/webhooks/{APP_ID}/{token}")
    assert follow_up.payload["allowed_mentions"] == {"parse": []}
    assert follow_up.payload["flags"] & EPHEMERAL
    [embed] = follow_up.payload["embeds"]
    assert embed["title"] == QUESTION and "Ben Wallace" in embed["description"]
    assert embed["fields"][0]["value"].startswith(f"**[1]** {escape(SEED_TITLE)}")
    up, down, share = custom_ids(follow_up.payload)
    assert is_vote(up) and is_vote(down) and is_share(share)


async def test_brief_is_answered_privately_and_can_be_shared(fake_discord: FakeDiscord):
    env = fake_discord
    await env.command("brief", since="2022-02-01", topic="Ukraine")
    defer, follow_up = env.calls
    assert defer.payload == {"type": 5, "data": {"flags": EPHEMERAL}}
    [embed] = follow_up.payload["embeds"]
    assert embed["title"].startswith("Briefing 2022-02-01 → ")
    assert embed["title"].endswith("· Ukraine")
    assert embed["fields"][0]["name"] == f"1. {escape(SEED_TITLE)}"
    assert follow_up.payload["allowed_mentions"] == {"parse": []}
    assert follow_up.payload["flags"] & EPHEMERAL
    [share] = custom_ids(follow_up.payload)
    assert is_share(share)


@pytest.mark.parametrize(
    ("command", "options", "says"),
    [
        ("ask", {"question": "why " * 600}, "the limit is 2,000"),
        ("brief", {"since": "last tuesday"}, "since: 'last tuesday' is not"),
        ("brief", {"topic": "why " * 600}, "the limit is 2,000"),
    ],
)
async def test_what_was_typed_wrong_is_refused_at_once_and_only_to_the_user(
    fake_discord: FakeDiscord, command: str, options: dict[str, str], says: str
):
    await fake_discord.command(command, **options)
    [reply] = fake_discord.calls
    assert reply.payload["type"] == 4 and reply.payload["data"]["flags"] == EPHEMERAL
    assert says in reply.payload["data"]["content"]


async def test_while_stopping_a_command_is_told_privately_to_ask_again(fake_discord):
    fake_discord.client.conversation.close()  # SIGTERM: the service drains the conversation
    await fake_discord.command("ask", question=QUESTION)
    defer, told = fake_discord.calls
    assert defer.payload["type"] == 5
    assert told.payload["content"] == RESTARTING and told.payload["flags"] & EPHEMERAL


async def test_a_long_answer_follows_up_in_order_within_every_limit(
    fake_discord: FakeDiscord, seed_engine: Engine
):
    env = fake_discord
    real = seed_engine.ask(QUESTION, now=datetime(2022, 2, 12, tzinfo=UTC))
    cites = [replace(real.citations[0], n=n) for n in range(1, 21)]
    text = " ".join(f"{real.answer} [{(k % 20) + 1}]" for k in range(150))
    long = replace(real, answer=text, citations=cites)
    payload = env.base_payload(2, env.alice)
    payload["data"] = {"id": "1", "name": "ask", "type": 1, "options": []}
    interaction = discord.Interaction(data=payload, state=env.state)
    await interaction.response.defer(ephemeral=True, thinking=True)  # as /ask does
    reply = InteractionReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(reply.answer, long, Buttons("0" * 16, None, vote=True, share=True))

    defer, *follow_ups = env.calls
    assert defer.payload["type"] == 5 and len(follow_ups) > 1
    for call in follow_ups:
        assert call.method == "POST" and call.payload["allowed_mentions"] == {"parse": []}
        assert call.payload["flags"] & EPHEMERAL
        assert_message_within_limits(call.payload.get("content"), call.payload["embeds"])
    embeds = [e for call in follow_ups for e in call.payload["embeds"]]
    assert embeds[0]["title"] == QUESTION  # the answer starts in the first follow-up
    assert "footer" in embeds[-1]  # and ends in the last, with the buttons under it
    assert [len(custom_ids(c.payload)) for c in follow_ups] == [0] * (len(follow_ups) - 1) + [3]
    assert all(f"**[{n}]**" in all_text(embeds) for n in range(1, 21))


# -- the buttons ----------------------------------------------------------------------------
async def test_a_vote_is_recorded_and_told_privately(fake_discord: FakeDiscord):
    env = fake_discord
    question = await env.say(env.mention(QUESTION))
    [payload] = env.sent_to(question.id)
    up, _ = custom_ids(payload)
    message = env.message_payload(dpytest.get_message(), payload["components"])

    await env.press(message, up, env.bob)
    defer, thanks = env.calls
    assert defer.payload == {"type": 5, "data": {"flags": EPHEMERAL}}
    assert thanks.payload["content"] == VOTED.format(emoji="👍")
    assert thanks.payload["flags"] & EPHEMERAL
    [vote] = env.store.list()
    assert (vote.platform, vote.user_id, vote.vote, vote.question) == (
        "discord",
        str(env.bob.id),
        1,
        QUESTION,
    )
    assert vote.article_ids == (SEED_ID,)


async def test_the_buttons_work_after_a_restart(
    seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A new client on the same data directory, with no view and no answer in memory: a vote
    counts once per person still, and Share asks the answer again and posts it."""
    before = await start_fake_discord(seed_engine, tmp_path, monkeypatch)
    try:
        await before.command("ask", question=QUESTION)
        answered = before.calls[-1].payload
        [message] = [m for m in before.webhook_messages.values() if m["embeds"]]
        up, _, share = custom_ids(answered)
        await before.press(message, up, before.bob)
    finally:
        await stop_fake_discord(before)

    after = await start_fake_discord(seed_engine, tmp_path, monkeypatch)
    try:
        assert after.state._view_store._views == {}
        await after.press(message, up, before.bob)  # the same person as before
        assert after.calls[-1].payload["content"] == "You have already voted on this answer."

        pressed = await after.press(message, share, after.alice)
        defer, public, replaced = after.calls
        assert defer.payload == {"type": 6}  # a button's: nothing shown until the post
        assert (public.method, public.path) == ("POST", f"/webhooks/{APP_ID}/{pressed['token']}")
        assert not public.payload.get("flags", 0) & EPHEMERAL  # for everyone in the channel
        assert public.payload["content"] == f"Shared by <@{after.alice.id}>"
        assert public.payload["allowed_mentions"] == {"parse": []}
        assert untimed(public.payload["embeds"]) == untimed(answered["embeds"])
        assert [is_vote(i) for i in custom_ids(public.payload)] == [True, True]
        token = pressed["token"]
        assert (replaced.method, replaced.path) == (
            "PATCH",
            f"/webhooks/{APP_ID}/{token}/messages/@original",
        )
        assert replaced.payload["content"] == SHARED and replaced.payload["embeds"] == []
    finally:
        await stop_fake_discord(after)
    [vote] = after.store.list()
    assert (vote.user_id, vote.vote, vote.question) == (str(before.bob.id), 1, QUESTION)


# -- lifecycle: settings, sync, and failing to reach Discord -------------------------------
def test_the_allowed_channels_setting(monkeypatch: pytest.MonkeyPatch):
    """DISCORD_ALLOWED_CHANNELS: channel ids, as SLACK_ALLOWED_CHANNELS is for Slack."""
    settings = DiscordSettings(_env_file=None, DISCORD_ALLOWED_CHANNELS=" 123, 456 ,")
    assert DiscordAdapter(settings).allowed_channels == {"123", "456"}
    assert DiscordAdapter(DiscordSettings(_env_file=None)).allowed_channels == set()
    monkeypatch.setenv("DISCORD_ALLOWED_CHANNELS", "123,general")
    with pytest.raises(SettingsError, match="DISCORD_ALLOWED_CHANNELS: .*each a number"):
        read_settings(DiscordSettings)


async def test_sync_needs_a_token():
    """(Serving without one is refused by the service: tests/test_service.py.)"""
    settings = DiscordSettings(_env_file=None)
    with pytest.raises(SettingsError, match="DISCORD_TOKEN"):
        await admin.sync(settings)


def test_a_token_with_a_space_or_control_character_is_refused(seed_engine: Engine):
    for token in ("abc def", "abc\x01def", "abc…def"):
        settings = DiscordSettings(_env_file=None, DISCORD_TOKEN=token)
        with pytest.raises(SettingsError, match="DISCORD_TOKEN has a space or a character") as e:
            token_of(settings)
        assert token not in str(e.value)


@pytest.fixture(autouse=True)
def _no_real_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client connects to a fixed gateway address, not one the REST API names: make it a
    closed local port, so that no test can reach the real one."""
    closed = yarl.URL(f"ws://127.0.0.1:{closed_port()}/")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", closed)


@pytest.fixture
def discord_api(monkeypatch: pytest.MonkeyPatch):
    api = FakeDiscordAPI()
    api.start()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{api.port}/api/v10")
    gateway = yarl.URL(f"ws://127.0.0.1:{api.port}/gateway")
    monkeypatch.setattr(discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", gateway)
    yield api
    api.stop()


def discord_settings(engine: Engine, **env: Any) -> DiscordSettings:
    return DiscordSettings(_env_file=None, **env)


async def test_sync_registers_every_command_in_one_guild(
    discord_api: FakeDiscordAPI, seed_engine: Engine, caplog: pytest.LogCaptureFixture
):
    token = "test-token-not-a-secret-but-never-logged"
    settings = discord_settings(seed_engine, DISCORD_TOKEN=token)
    with caplog.at_level(logging.DEBUG):
        names = await admin.sync(settings, guild_id=987654321)
    assert names == COMMANDS
    [(method, path, auth, body)] = [r for r in discord_api.requests if r[0] == "PUT"]
    assert (method, path) == ("PUT", f"/api/v10/applications/{APP_ID}/guilds/987654321/commands")
    assert auth == f"Bot {token}"
    commands = {c["name"]: c for c in body}
    assert commands["ask"]["description"].startswith("Ask a question about the news")
    assert [o["name"] for o in commands["ask"]["options"]] == ["question"]
    assert [o["name"] for o in commands["brief"]["options"]] == ["topic", "since"]
    follow = {o["name"]: o for o in commands["follow"]["options"]}
    assert list(follow) == ["topic", "digest", "since"] and follow["topic"]["required"]
    assert [c["value"] for c in follow["digest"]["choices"]] == ["hourly", "daily"]
    assert commands["following"].get("options", []) == []
    assert [o["name"] for o in commands["unfollow"]["options"]] == ["topic"]
    assert token not in caplog.text


async def test_sync_without_a_guild_is_global(discord_api: FakeDiscordAPI, seed_engine: Engine):
    settings = discord_settings(seed_engine, DISCORD_TOKEN="t")
    assert await admin.sync(settings) == COMMANDS
    assert discord_api.puts() == [("global", COMMANDS)]


async def test_a_global_sync_is_refused_while_a_guild_id_is_set(
    discord_api: FakeDiscordAPI, seed_engine: Engine
):
    settings = discord_settings(seed_engine, DISCORD_TOKEN="t", DISCORD_GUILD_ID=555)
    with pytest.raises(SettingsError, match=r"DISCORD_GUILD_ID is set \(555\)"):
        await admin.sync(settings)
    assert discord_api.requests == []  # refused before anything is sent


async def test_a_start_with_a_guild_id_after_a_global_sync_shows_each_command_once(
    discord_api: FakeDiscordAPI, seed_engine: Engine, caplog: pytest.LogCaptureFixture
):
    await admin.sync(discord_settings(seed_engine, DISCORD_TOKEN="t"))
    assert [c["name"] for c in discord_api.commands["global"]] == COMMANDS

    discord_api.requests.clear()
    with_guild = discord_settings(seed_engine, DISCORD_TOKEN="t", DISCORD_GUILD_ID=555)
    with caplog.at_level(logging.WARNING, logger="bot"):
        async with build_client(with_guild, None) as client:
            await client.login("t")  # login runs setup_hook
    # In the server, and the global ones (which would show there too) overwritten with none.
    assert discord_api.puts() == [("555", COMMANDS), ("global", [])]
    assert discord_api.commands["global"] == []
    assert "removed the global commands (ask, brief, follow, following, unfollow)" in caplog.text

    discord_api.requests.clear()  # the next start: nothing global left, so nothing to remove
    async with build_client(with_guild, None) as client:
        await client.login("t")
    assert discord_api.puts() == [("555", COMMANDS)]


async def test_a_start_without_a_guild_id_registers_nothing(discord_api, seed_engine):
    without = discord_settings(seed_engine, DISCORD_TOKEN="t")
    async with build_client(without, None) as client:
        await client.login("t")
    assert discord_api.puts() == []  # commands are registered on purpose only


# -- the CLI: `briefbot discord sync` and `briefbot serve discord` ---------------------------
@dataclass
class Exit:
    code: int
    out: str
    err: str  # rich wraps at the console's width: compare with " ".join(err.split())


def briefbot(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
    settings: DiscordSettings,
    engine: Engine,
    *args: str,
) -> Exit:
    """`briefbot ARGS` through the CLI's own entry point, with Discord's settings in the
    environment (where the CLI reads them) and this engine."""
    for name, value in (
        ("DISCORD_TOKEN", settings.discord_token.get_secret_value()),
        ("DISCORD_GUILD_ID", settings.discord_guild_id),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, str(value))
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cli_state.State, "settings", engine.settings)
    monkeypatch.setattr(cli_state, "make_engine", lambda: engine)
    monkeypatch.setattr(sys, "argv", ["briefbot", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    captured = capsys.readouterr()
    return Exit(int(stopped.value.code or 0), captured.out, captured.err)


def test_discord_sync_to_a_guild_and_clearing_either_set(
    discord_api: FakeDiscordAPI, seed_engine: Engine, monkeypatch, capsys
):
    settings = discord_settings(seed_engine, DISCORD_TOKEN="t")
    done = briefbot(monkeypatch, capsys, settings, seed_engine, "discord", "sync")
    assert done.code == 0 and f"Synced {SLASHED} to all servers" in " ".join(done.out.split())

    done = briefbot(monkeypatch, capsys, settings, seed_engine, "discord", "sync", "--guild", "77")
    assert done.code == 0 and f"Synced {SLASHED} to server 77." in " ".join(done.out.split())
    assert discord_api.commands["global"] == []  # moved, not copied
    assert [c["name"] for c in discord_api.commands["77"]] == COMMANDS

    discord_api.requests.clear()
    done = briefbot(
        monkeypatch, capsys, settings, seed_engine, "discord", "sync", "--clear-guild", "77"
    )
    assert done.code == 0 and f"Removed {SLASHED} from server 77." in " ".join(done.out.split())
    assert discord_api.puts() == [("77", [])]

    discord_api.requests.clear()
    done = briefbot(monkeypatch, capsys, settings, seed_engine, "discord", "sync", "--clear-global")
    assert done.code == 0
    assert "Removed nothing (none were registered) from the global set." in done.out
    assert discord_api.puts() == []  # nothing registered there: nothing sent

    done = briefbot(
        monkeypatch,
        capsys,
        settings,
        seed_engine,
        *("discord", "sync", "--guild", "77", "--clear-global"),
    )
    assert done.code == 2 and "--guild registers" in done.err


@pytest.mark.parametrize("command", [("serve", "discord"), ("discord", "sync")])
def test_no_network_is_one_line_naming_the_host(
    command, seed_engine: Engine, monkeypatch, capsys, caplog
):
    token = "secret-token-never-shown"
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):  # the DNS, which is not on this machine
        if host == "discord.invalid":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(discord.http.Route, "BASE", "http://discord.invalid/api/v10")
    settings = discord_settings(seed_engine, DISCORD_TOKEN=token)
    with caplog.at_level(logging.DEBUG):
        done = briefbot(monkeypatch, capsys, settings, seed_engine, *command)
    assert done.code == 2
    assert " ".join(done.err.split()) == (
        "Error: Discord: cannot reach discord.invalid (DNS lookup failed) — check the network."
    )
    assert token not in done.out + done.err + caplog.text


def test_a_closed_port_is_one_line_naming_the_address(
    seed_engine: Engine, monkeypatch, capsys, caplog
):
    port = closed_port()
    monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
    settings = discord_settings(seed_engine, DISCORD_TOKEN="secret-token-never-shown")
    with caplog.at_level(logging.DEBUG):
        done = briefbot(monkeypatch, capsys, settings, seed_engine, "serve", "discord")
    assert done.code == 2
    assert " ".join(done.err.split()) == (
        f"Error: Discord: cannot reach 127.0.0.1:{port} (connection refused) — check the network."
    )
    assert "secret-token-never-shown" not in done.out + done.err + caplog.text


@pytest.mark.parametrize("where", ["login", "gateway"])
def test_a_rejected_token_is_one_line_naming_it(
    where, discord_api: FakeDiscordAPI, seed_engine: Engine, monkeypatch, capsys, caplog
):
    token = "secret-token-never-shown"
    discord_api.token_ok = where != "login"  # else the gateway closes with 4004
    settings = discord_settings(seed_engine, DISCORD_TOKEN=token)
    with caplog.at_level(logging.DEBUG):
        done = briefbot(monkeypatch, capsys, settings, seed_engine, "serve", "discord")
    assert done.code == 2
    assert " ".join(done.err.split()) == "Error: " + TOKEN_REJECTED
    assert token not in done.out + done.err + caplog.text


# -- following a story -------------------------------------------------------------------
async def test_follow_following_and_unfollow_are_said_to_the_channel(fake_discord: FakeDiscord):
    """Following is a channel-wide act: the deferral and what each command did are for the
    channel; a topic it does not follow is told only to whoever typed it."""
    env = fake_discord

    async def said(command: str, **options: str) -> str:
        payload = await env.command(command, **options)
        defer, edit = env.calls
        assert defer.path.endswith("/callback") and defer.payload["type"] == 5
        assert not defer.payload.get("data", {}).get("flags")  # "thinking…", for everyone
        assert (edit.method, edit.path) == (
            "PATCH",
            f"/webhooks/{APP_ID}/{payload['token']}/messages/@original",
        )
        assert edit.payload["allowed_mentions"] == {"parse": []}
        return edit.payload["content"]

    wallace = await said(
        "follow", topic="Ben Wallace in Moscow", digest="daily", since="2022-02-01"
    )
    assert wallace.startswith(
        "Following “Ben Wallace in Moscow” in this channel: new developments are posted in a "
        "thread of their own, in a daily digest; articles published before 2022-02-01 don't count."
        " 1 indexed article is about it already"
    )
    griner = await said("follow", topic="Griner trial")
    assert griner.endswith(
        "Nothing indexed matches it yet: the first post comes when something does."
    )
    assert await said("following") == (
        "This channel follows 2 topics:\n"
        "• Ben Wallace in Moscow: daily digest, since 2022-02-01; last posted never\n"
        "• Griner trial: as it happens; last posted never"
    )
    assert await said("unfollow", topic="griner TRIAL") == (
        "Stopped following “Griner trial” in this channel."
    )
    payload = await env.command("unfollow", topic="Griner trial")
    defer, deleted, told = env.calls
    original = f"/webhooks/{APP_ID}/{payload['token']}/messages/@original"
    assert (deleted.method, deleted.path) == ("DELETE", original)
    assert (told.method, told.path) == ("POST", f"/webhooks/{APP_ID}/{payload['token']}")
    assert told.payload["flags"] & EPHEMERAL
    assert "Griner trial" in told.payload["content"]
    assert "Ben Wallace in Moscow" in told.payload["content"]


@pytest.mark.parametrize(
    ("options", "said"),
    [
        ({"digest": "weekly"}, "digest: 'weekly' is not hourly or daily."),
        ({"since": "last tuesday"}, "since: 'last tuesday' is not a date (YYYY-MM-DD)."),
    ],
)
async def test_a_digest_or_date_it_cannot_read_is_refused_at_once_privately(
    fake_discord: FakeDiscord, options: dict[str, str], said: str
):
    await fake_discord.command("follow", topic="Griner trial", **options)
    [refusal] = fake_discord.calls
    assert refusal.payload["type"] == 4 and refusal.payload["data"]["flags"] == EPHEMERAL
    assert refusal.payload["data"]["content"] == said


async def test_a_topic_the_engine_refuses_is_told_only_to_whoever_typed_it(fake_discord):
    env = fake_discord
    for topic in ("strike " * 30, "   "):
        await env.command("follow", topic=topic)
        defer, deleted, told = env.calls
        assert defer.payload["type"] == 5 and deleted.method == "DELETE"
        assert told.payload["flags"] & EPHEMERAL and told.payload["content"]
    assert env.client.conversation.engine.follows.list("discord", str(env.channel.id)) == []


async def test_following_outside_the_allowed_channels_is_declined(
    seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    env = await start_fake_discord(seed_engine, tmp_path, monkeypatch, lambda text: [text[1].id])
    try:
        for command, options in (
            ("follow", {"topic": "Griner trial"}),
            ("following", {}),
            ("unfollow", {"topic": "Griner trial"}),
        ):
            await env.command(command, **options)
            [refusal] = env.calls
            data = refusal.payload["data"]
            assert (refusal.payload["type"], data["flags"], data["content"]) == (
                4,
                EPHEMERAL,
                DECLINE,
            )
        assert seed_engine.follows.list("discord", str(env.channel.id)) == []
        await env.command("follow", channel=env.other, topic="Griner trial")
        assert env.calls[0].payload["type"] == 5  # allowed there
    finally:
        await stop_fake_discord(env)


def follow_post(channel: int, thread: str | None = None) -> FollowPost:
    follow = Follow(
        platform="discord",
        channel=str(channel),
        topic="Wallace in Moscow",
        key="wallace in moscow",
        digest=None,
        since=None,
        created_at=datetime(2022, 2, 11, tzinfo=UTC),
        created_by="1",
        last_posted_at=None,
        thread=thread,
    )
    quote = "Wallace said he had a constructive and frank discussion with Shoigu."
    cited = Citation(
        1, "a1", SEED_TITLE, "Tide", "2022-02-11", "https://tide.example/1", quote, 0, len(quote)
    )
    return FollowPost(follow, [Development("a1", [cited], ["Harbour Herald"], None)], folded=2)


async def test_a_follow_post_starts_a_thread_from_its_message_and_the_next_goes_in_it(
    fake_discord: FakeDiscord,
):
    env = fake_discord
    post = env.client.outbox(timeout=10).follow  # as the follower's thread calls it
    thread_id = await asyncio.to_thread(post, follow_post(env.channel.id))
    [first] = env.sent_to(env.channel.id)
    assert first["allowed_mentions"] == {"parse": []}
    [embed] = first["embeds"]
    assert embed["title"] == "Wallace in Moscow"
    assert embed["fields"] == [
        {
            "name": "Tide · 2022-02-11",
            "value": "> “Wallace said he had a constructive and frank discussion with Shoigu.”\n"
            f"— [{escape(SEED_TITLE)}](https://tide.example/1)\n"
            "*also reported by Harbour Herald*",
            "inline": False,
        }
    ]
    assert embed["footer"] == {"text": "and 2 more since the last post"}
    thread = env.guild.get_thread(int(thread_id))
    assert thread is not None and thread.parent_id == env.channel.id
    assert thread.name == "Wallace in Moscow" and thread_id == str(thread.id)

    assert await asyncio.to_thread(post, follow_post(env.channel.id, thread_id)) == thread_id
    assert len(env.sent_to(env.channel.id)) == 1  # the channel itself hears nothing more
    [second] = env.sent_to(thread.id)
    assert second["embeds"] == first["embeds"]


async def test_a_follow_made_in_a_thread_posts_in_that_thread(fake_discord: FakeDiscord):
    env = fake_discord
    question = await env.say(env.mention(QUESTION))
    thread = env.guild.get_thread(question.id)
    before = len(env.sent_to(thread.id))
    post = env.client.outbox(timeout=10).follow
    assert await asyncio.to_thread(post, follow_post(thread.id)) is None  # no thread in a thread
    assert len(env.sent_to(thread.id)) == before + 1 and len(env.guild.threads) == 1
