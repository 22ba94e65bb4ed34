"""The Discord adapter against the real engine on the seed article.

Discord itself is replaced at its boundaries only: dpytest plays the gateway and the REST API
for messages, threads and DMs (with two gaps filled in here: threads started from a message,
and a record of the exact payloads sent); app commands and buttons are real `Interaction`s
built from payload dicts and routed by discord.py's own `parse_interaction_create`, and what
they send is captured at discord.py's webhook adapter; `sync` talks HTTP to a local server.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import socket
import sys
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import yarl
from aiohttp import web
from discord.ext.test import backend as dpytest_backend
from discord.ext.test import callbacks as dpytest_callbacks
from discord.ext.test import factories as dpytest_factories
from discord.webhook.async_ import AsyncWebhookAdapter

from bot import cli
from bot.conversation import Conversation
from bot.discord import admin as discord_app
from bot.discord.client import BriefbotClient, build_client
from bot.discord.errors import TOKEN_REJECTED
from bot.discord.presses import vote_buttons
from bot.discord.render import (
    CHARS_PER_MESSAGE,
    CONTENT_LIMIT,
    DESCRIPTION_LIMIT,
    EMBEDS_PER_MESSAGE,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FIELDS_PER_EMBED,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    answer_embeds,
    briefing_embeds,
    escape,
    escape_cited,
    message_groups,
    split_text,
)
from bot.discord.settings import DiscordSettings, token_of
from retrieval.engine import Engine
from retrieval.errors import SettingsError
from retrieval.events import SeenEvents
from retrieval.feedback import FeedbackStore
from retrieval.models import Answer, Briefing, Citation, NewsItem, Quote, Story
from tests.fake_llm import FABRICATED_NUMBER, GOOD, KEY, FakeLLM, engine_with_model
from tests.fake_llm import QUESTION as QUESTION_WRITTEN

SEED_TITLE = "U.K. Defense Official Says Russia Assures They Will 'Not Invade Ukraine'"
QUESTION = "What did Russia assure Ben Wallace?"
FOLLOW_UP = "What about the Minsk agreement?"
APP_ID = 424242424242424242
LIVE_MARKDOWN = set("*_~|`[]<>#")


# -- checking Discord's limits and the escaping, as data ----------------------------------
def embed_dicts(embeds: list[discord.Embed] | list[dict]) -> list[dict]:
    return [e.to_dict() if isinstance(e, discord.Embed) else e for e in embeds]


def embed_chars(e: dict) -> int:
    return (
        len(e.get("title", ""))
        + len(e.get("description", ""))
        + sum(len(f["name"]) + len(f["value"]) for f in e.get("fields", []))
        + len(e.get("footer", {}).get("text", ""))
        + len(e.get("author", {}).get("name", ""))
    )


def assert_message_within_limits(content: str | None, embeds: list[discord.Embed] | list[dict]):
    dicts = embed_dicts(embeds)
    assert len(content or "") <= CONTENT_LIMIT
    assert len(dicts) <= EMBEDS_PER_MESSAGE
    assert sum(embed_chars(e) for e in dicts) <= CHARS_PER_MESSAGE
    for e in dicts:
        assert len(e.get("title", "")) <= TITLE_LIMIT
        assert len(e.get("description", "")) <= DESCRIPTION_LIMIT
        assert len(e.get("footer", {}).get("text", "")) <= FOOTER_LIMIT
        fields = e.get("fields", [])
        assert len(fields) <= FIELDS_PER_EMBED
        for f in fields:
            assert 1 <= len(f["name"]) <= FIELD_NAME_LIMIT
            assert 1 <= len(f["value"]) <= FIELD_VALUE_LIMIT


def live_markdown(text: str) -> str:
    """The markdown characters in `text` that are not escaped by a backslash."""
    live, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] in LIVE_MARKDOWN:
            live.append(text[i])
        i += 1
    return "".join(live)


def quotes_in(embeds: list[dict]) -> list[str]:
    return [
        m
        for e in embeds
        for f in e.get("fields", [])
        for m in re.findall(r"^> “(.*?)”?$", f["value"], re.MULTILINE)
    ]


def all_text(embeds: list[dict]) -> str:
    parts = []
    for e in embeds:
        parts += [e.get("title", ""), e.get("description", "")]
        parts += [f"{f['name']}\n{f['value']}" for f in e.get("fields", [])]
        parts.append(e.get("footer", {}).get("text", ""))
    return "\n".join(parts)


def citation(n: int, **overrides: Any) -> Citation:
    values = dict(
        n=n,
        article_id=f"a{n}",
        title=f"Title {n}",
        source="The Daily Tide",
        published="2022-02-11",
        url=f"https://news.example/{n}",
        quote=f"Quote {n}.",
        start=0,
        end=8,
    )
    values.update(overrides)
    return Citation(**values)


# -- rendering: pure functions, tested as data --------------------------------------------
def test_a_real_answer_renders_as_a_cited_embed(seed_engine: Engine) -> None:
    answer = seed_engine.ask(QUESTION, now=datetime(2022, 2, 12, tzinfo=UTC))
    assert not answer.abstained and answer.citations
    [embed] = embed_dicts(answer_embeds(answer))

    assert embed["title"] == QUESTION
    assert "[1]" in embed["description"] and "Ben Wallace" in embed["description"]
    first = embed["fields"][0]
    assert first["name"] == "Sources"
    source_line, quote_line = first["value"].split("\n")[:2]
    # No source or URL in the seed file: the title is plain text, then the date.
    assert source_line == f"**[1]** {escape(SEED_TITLE)} — 2022-02-11"
    assert quote_line == f"> “{escape(' '.join(answer.citations[0].quote.split()))}”"
    assert re.fullmatch(r"1 article searched · \d+\.\d s", embed["footer"]["text"])
    assert_message_within_limits(None, [embed])


def test_a_source_line_links_the_title_and_names_the_source() -> None:
    answer = Answer(
        "Q?",
        "The budget shrank. [1]",
        False,
        [citation(1, url="https://x.example/a (b)")],
        {"total": 1234.0},
        7,
        {"a1": ["The Harbour Post", "Bay News"]},
    )
    [embed] = embed_dicts(answer_embeds(answer))
    value = embed["fields"][0]["value"]
    assert value.startswith(
        "**[1]** [Title 1](https://x.example/a%20%28b%29) — The Daily Tide · 2022-02-11"
    )
    assert value.endswith("*also reported by The Harbour Post, Bay News*")
    assert embed["footer"]["text"] == "7 articles searched · 1.2 s"


def test_an_abstention_is_a_plain_grey_embed() -> None:
    answer = Answer(
        "Bananas?", "The indexed articles don't answer this question.", True, [], {"total": 5.0}, 1
    )
    [embed] = answer_embeds(answer)
    assert embed.colour == discord.Colour.light_grey()
    assert embed.description == "The indexed articles don't answer this question."
    assert not embed.fields


def test_markdown_and_mentions_in_article_text_stay_literal() -> None:
    hostile = (
        "**Breaking** @everyone @here <@123456789012345678> <@&123456789012345678> <#42> "
        "[click here](https://evil.example) ||spoiler|| `code` ~~gone~~ __under__ > quoted\n"
        "# Heading\n- item\n1. first"
    )
    answer = Answer(
        "Is this **safe**?",
        hostile + " [1]",
        False,
        [
            citation(
                1,
                title="[Fake](https://evil.example) **title**",
                quote=hostile,
                source="<@&1> Times",
            )
        ],
    )
    embeds = embed_dicts(answer_embeds(answer))
    [quote] = quotes_in(embeds)
    assert live_markdown(quote) == ""
    assert live_markdown(embeds[0]["description"]) == "[]"  # only the engine's own [1] marker
    assert live_markdown(embeds[0]["title"]) == ""
    # Lines that would start a heading, a list or a numbered list are escaped too.
    assert "\n\\# Heading\n\\- item\n1\\. first" in embeds[0]["description"]
    # The title is the text of a link, not a link of its own.
    line = embeds[0]["fields"][0]["value"].split("\n")[0]
    assert line.startswith(
        "**[1]** [\\[Fake\\](https://evil.example) \\*\\*title\\*\\*](https://news.example/1)"
    )
    assert "\\<@&1\\> Times" in line


def test_a_long_answer_splits_within_every_limit() -> None:
    sentence = "The council's **budget** of 1.2 billion euros is 3% below last year's. "
    long_quote = ("Libraries keep their hours; two pools close in winter. " * 60).strip()
    citations = [
        citation(
            n,
            title="A very long headline " * 20,
            quote=long_quote,
            url="https://news.example/" + "x" * 300,
            source="Source " * 30,
        )
        for n in range(1, 21)
    ]
    text = " ".join(f"{sentence}[{(k % 20) + 1}]" for k in range(400))
    answer = Answer(
        "Q " * 1500,
        text,
        False,
        citations,
        {"total": 10.0},
        1000,
        {f"a{n}": [f"Outlet {k}" for k in range(40)] for n in range(1, 21)},
    )

    embeds = answer_embeds(answer)
    groups = message_groups(embeds)
    assert len(groups) > 1
    for group in groups:
        assert_message_within_limits(None, group)
    dicts = embed_dicts(embeds)
    # Nothing is lost in the splitting: every marker, every quote in full, the footer last.
    description = "".join(e.get("description", "") for e in dicts)
    assert description.replace(" ", "") == escape_cited(text).replace(" ", "")
    assert all(f"**[{n}]**" in all_text(dicts) for n in range(1, 21))
    assert all_text(dicts).count("two pools close in winter") == 20 * 60
    assert dicts[-1]["footer"]["text"].startswith("1,000 articles searched")
    assert [e for e in dicts if "footer" in e] == [dicts[-1]]


def test_many_short_embeds_group_ten_to_a_message() -> None:
    embeds = [discord.Embed(description="x") for _ in range(23)]
    assert [len(g) for g in message_groups(embeds)] == [10, 10, 3]


def test_split_text_never_cuts_an_escape_or_leaves_a_live_list_marker() -> None:
    text = escape("- a *b* " * 500 + "\n1. c")
    for piece in split_text(text, 100):
        assert len(piece) <= 100
        assert not piece.startswith(("-", "+")) and not re.match(r"\d+\.\s", piece)
        run = len(piece) - len(piece.rstrip("\\"))
        assert run % 2 == 0, piece


def test_a_real_briefing_renders_each_story_with_its_source(seed_engine: Engine) -> None:
    briefing = seed_engine.brief(
        datetime(2022, 2, 1, tzinfo=UTC), datetime(2022, 2, 20, tzinfo=UTC)
    )
    [embed] = embed_dicts(briefing_embeds(briefing))
    assert embed["title"] == "Briefing 2022-02-01 → 2022-02-20"
    story, *quotes = embed["fields"]
    assert story["name"] == f"1. {escape(SEED_TITLE)}"
    assert "Ben Wallace" in story["value"] and story["value"].endswith("— 2022-02-11")
    assert quotes[0]["name"] == "Quotes of the day"
    assert quotes[0]["value"].endswith("— Ben Wallace [2]")
    assert embed["footer"]["text"] == "1 story"


def test_an_empty_briefing_says_so() -> None:
    briefing = Briefing(
        "2022-02-01T00:00:00",
        "2022-02-02T00:00:00",
        "cats",
        note="Nothing in the window matches 'cats'.",
    )
    [embed] = embed_dicts(briefing_embeds(briefing))
    assert embed["title"].endswith("· cats")
    assert embed["description"] == "Nothing in the window matches 'cats'."


def test_a_big_briefing_splits_within_every_limit() -> None:
    stories = [
        Story(
            "Headline " * 40,
            ("Lead sentence goes on. " * 60) + f"[{k}]",
            [citation(k)],
            [f"a{k}"],
            ["A", "B"],
        )
        for k in range(1, 51)
    ]
    quotes = [Quote("Speaker " * 50, citation(k, quote="Said it. " * 200)) for k in range(1, 6)]
    briefing = Briefing("2022-02-01T00:00:00", "2022-02-02T00:00:00", "x" * 400, stories, quotes)
    groups = message_groups(briefing_embeds(briefing))
    for group in groups:
        assert_message_within_limits(None, group)
    text = all_text(embed_dicts([e for g in groups for e in g]))
    assert all(f"\n{k}. Headline" in "\n" + text for k in range(1, 51))
    assert "(2 sources)" in text


def test_ten_stories_and_ten_items_stay_within_discord_limits() -> None:
    long_url = "https://news.example/" + "x" * 480
    stories = [
        Story(
            f"Headline {k} " * 30,
            " ".join(f"A key sentence that goes on and on. [{3 * k + j}]" * 8 for j in range(3)),
            [citation(3 * k + j, url=long_url, title="T " * 120) for j in range(3)],
            [f"a{k}"],
            ["A", "B"],
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
    briefing = Briefing(
        "2022-02-01T00:00:00", "2022-02-08T00:00:00", None, stories, quotes, "", items
    )
    groups = message_groups(briefing_embeds(briefing))
    for group in groups:
        assert_message_within_limits(None, group)
    fields = [f for e in embed_dicts([e for g in groups for e in g]) for f in e.get("fields", [])]
    names = [f["name"] for f in fields]
    assert names.count("Also in the news") == 1
    first = names.index("Also in the news")
    lines = [
        line for f in fields[first:] for line in f["value"].split("\n") if line.startswith("• ")
    ]
    assert len(lines) == 10  # one line each, none split between fields
    for item, line in zip(items, lines, strict=True):
        assert f"[{item.citation.n}] — [The Daily Tide]({long_url}) · 2022-02-11" in line
    assert embed_dicts(groups[-1])[-1]["footer"]["text"] == "10 stories · 10 also in the news"


def test_a_briefing_without_items_has_no_also_in_the_news_field(seed_engine: Engine) -> None:
    briefing = seed_engine.brief(
        datetime(2022, 2, 1, tzinfo=UTC), datetime(2022, 2, 20, tzinfo=UTC)
    )
    assert briefing.also_in_the_news == []
    text = all_text(embed_dicts(briefing_embeds(briefing)))
    assert "Also in the news" not in text


# -- a fake Discord: dpytest for the gateway and REST, a recorder for interactions ---------
@dataclass
class Sent:
    """A message the bot sent to a channel, as the payload discord.py built."""

    channel_id: int
    payload: dict


@dataclass
class Call:
    """A request at discord.py's webhook adapter: interaction responses and follow-ups."""

    method: str
    path: str
    payload: dict | None


@dataclass
class FakeDiscord:
    client: BriefbotClient
    store: FeedbackStore
    guild: discord.Guild
    channel: discord.TextChannel
    alice: discord.Member
    bob: discord.Member
    sent: list[Sent] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    webhook_messages: dict[int, dict] = field(default_factory=dict)
    channel_of_token: dict[str, int] = field(default_factory=dict)

    @property
    def state(self) -> Any:
        return self.client._connection

    def sent_to(self, channel_id: int) -> list[dict]:
        return [s.payload for s in self.sent if s.channel_id == channel_id]

    async def say(self, content: str, channel: Any = None, member: discord.Member | None = None):
        """A user's message; returns once the bot has finished answering it."""
        message = await dpytest.message(
            content, channel=channel or self.channel, member=member or self.alice
        )
        await settle()
        return message

    async def say_to_everyone(self, content: str) -> None:
        """A message that pings @everyone (dpytest's own messages never set that flag)."""
        data = dpytest_factories.make_message_dict(
            self.channel,
            self.alice,
            content=content,
            mention_everyone=True,
            guild_id=self.guild.id,
        )
        self.state.parse_message_create(data)
        await settle()

    def mention(self, text: str) -> str:
        return f"{self.client.user.mention} {text}"

    # interactions
    def base_payload(self, type_: int, member: discord.Member) -> dict:
        interaction_id = dpytest_factories.make_id()
        token = f"token-{interaction_id}"
        self.channel_of_token[token] = self.channel.id
        return {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": type_,
            "token": token,
            "version": 1,
            "guild_id": str(self.guild.id),
            "channel_id": str(self.channel.id),
            "channel": {
                "id": str(self.channel.id),
                "type": 0,
                "guild_id": str(self.guild.id),
                "name": self.channel.name,
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            },
            "member": {
                "user": {
                    "id": str(member.id),
                    "username": member.name,
                    "discriminator": member.discriminator,
                    "avatar": None,
                },
                "roles": [],
                "joined_at": "2022-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
                "flags": 0,
                "permissions": "309237730304",
            },
            "locale": "en-GB",
            "guild_locale": "en-US",
            "app_permissions": "309237730304",
            "attachment_size_limit": 8 * 1024 * 1024,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(self.guild.id)},
            "context": 0,
        }

    async def command(self, name: str, member: discord.Member | None = None, **options: str):
        """Run /name as Discord would deliver it, and wait for everything it does."""
        payload = self.base_payload(2, member or self.alice)
        command = self.client.tree.get_command(name)
        assert command is not None
        payload["data"] = {
            "id": str(hash(command)),
            "name": name,
            "type": 1,
            "options": [{"type": 3, "name": k, "value": v} for k, v in options.items()],
        }
        self.calls.clear()
        self.state.parse_interaction_create(payload)
        await settle()
        return payload

    async def press(self, message: dict, custom_id: str, member: discord.Member):
        payload = self.base_payload(3, member)
        payload["message"] = message
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        self.calls.clear()
        self.state.parse_interaction_create(payload)
        await settle()

    def message_payload(self, message: discord.Message, components: list[dict]) -> dict:
        """A message as an interaction carries it (for a button under it), with the components
        the bot sent (dpytest's messages keep none)."""
        return {
            "id": str(message.id),
            "channel_id": str(message.channel.id),
            "author": dpytest_factories.dict_from_user(message.author),
            "content": message.content,
            "timestamp": message.created_at.isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [e.to_dict() for e in message.embeds],
            "components": components,
            "pinned": False,
            "type": 0,
        }


async def settle() -> None:
    """Wait until every event handler, command and button callback has finished."""
    names = ("CommandTree-invoker", "discord-ui-view-dispatch", "discord-ui-dynamic-item")
    while True:
        await dpytest.run_all_events()
        pending = [
            t
            for t in asyncio.all_tasks()
            if t is not asyncio.current_task() and not t.done() and t.get_name().startswith(names)
        ]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


def custom_ids(payload: dict) -> list[str]:
    return [c["custom_id"] for row in payload.get("components", []) for c in row["components"]]


def install_recorders(env: FakeDiscord, monkeypatch: pytest.MonkeyPatch) -> None:
    state = env.state
    backend = dpytest_backend.FakeHttp
    original_send = backend.send_message

    async def send_message(self, channel_id, *, params):
        env.sent.append(Sent(int(channel_id), json.loads(json.dumps(params.payload or {}))))
        # dpytest reads `channel` from its caller's frame: this frame is now the caller.
        channel = state.get_channel(int(channel_id)) or state._get_private_channel(int(channel_id))
        assert channel is not None
        return await original_send(self, channel_id, params=params)

    async def start_thread_with_message(
        self,
        channel_id,
        message_id,
        *,
        name,
        auto_archive_duration,
        rate_limit_per_user=None,
        reason=None,
    ):
        # dpytest has no threads; Discord answers with the thread and sends THREAD_CREATE.
        parent = state.get_channel(int(channel_id))
        data = {
            "id": str(message_id),
            "guild_id": str(parent.guild.id),
            "parent_id": str(channel_id),
            "owner_id": str(state.user.id),
            "name": name,
            "type": 11,
            "last_message_id": None,
            "rate_limit_per_user": rate_limit_per_user or 0,
            "message_count": 0,
            "member_count": 1,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration,
                "archive_timestamp": datetime.now(UTC).isoformat(),
                "locked": False,
            },
        }
        state.parse_thread_create(data)
        return data

    monkeypatch.setattr(backend, "send_message", send_message)
    monkeypatch.setattr(
        backend, "start_thread_with_message", start_thread_with_message, raising=False
    )

    async def webhook_request(
        adapter, route, session=None, *, payload=None, multipart=None, files=None, **kwargs
    ):
        if multipart:
            payload = json.loads(multipart[0]["value"])
        path = route.url.split("/api/v10", 1)[1]
        env.calls.append(Call(route.method, path, payload))
        if path.endswith("/callback"):
            return {"interaction": {"id": str(route.webhook_id), "type": 2}}
        if route.method == "DELETE":
            return None
        message_id = dpytest_factories.make_id()
        message = {
            "id": str(message_id),
            "channel_id": str(env.channel_of_token[route.webhook_token]),
            "author": dpytest_factories.dict_from_user(state.user),
            "webhook_id": str(APP_ID),
            "content": (payload or {}).get("content") or "",
            "timestamp": datetime.now(UTC).isoformat(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": (payload or {}).get("embeds", []),
            "components": (payload or {}).get("components", []),
            "pinned": False,
            "type": 0,
            "flags": (payload or {}).get("flags", 0),
        }
        env.webhook_messages[message_id] = message
        return message

    monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook_request)


def make_fake_discord(engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeDiscord:
    store = FeedbackStore(tmp_path / "feedback.sqlite3")
    conversation = Conversation(engine, store, SeenEvents.in_data_dir(tmp_path))
    client = build_client(DiscordSettings(_env_file=None), conversation)
    # The bot needs no members intent: Discord puts the mentioned users in the message. dpytest
    # instead looks mentions up in its member cache, which only exists with that intent.
    intents = client.intents
    intents.members = True
    client._connection._intents = intents
    client._connection.member_cache_flags = discord.MemberCacheFlags.from_intents(intents)
    dpytest.configure(client, members=["alice", "bob"])
    # configure() gives the client a new connection state; the tree had attached itself to the
    # old one, and discord.py routes application commands through the state's tree.
    client._connection._command_tree = client.tree
    config = dpytest.get_config()
    env = FakeDiscord(client, store, config.guilds[0], config.channels[0], *config.members)
    install_recorders(env, monkeypatch)
    return env


@pytest.fixture
async def fake_discord(seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env = await start_fake_discord(seed_engine, tmp_path, monkeypatch)
    yield env
    await stop_fake_discord(env)


async def start_fake_discord(engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    env = make_fake_discord(engine, tmp_path, monkeypatch)
    # What login() does around its HTTP calls: bind the client's loop, then the setup hook.
    await env.client._async_setup_hook()
    await env.client.setup_hook()
    return env


async def stop_fake_discord(env: FakeDiscord) -> None:
    await settle()
    await dpytest.empty_queue()
    store = env.state._view_store
    for view in {item.view for items in store._views.values() for item in items.values()}:
        if view is not None:
            view.stop()


class Spy:
    """The real engine, with a note of each question it was asked (and the context)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.asked: list[tuple[str, Any, str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def ask(self, question: str, now: Any = None, context: str = "") -> Answer:
        self.asked.append((question, now, context))
        return self.engine.ask(question, now=now, context=context)


class Verbose(Spy):
    """The real answer, made very long: twenty sources and the text many times over."""

    def ask(self, question: str, now: Any = None, context: str = "") -> Answer:
        real = super().ask(question, now, context)
        cites = [replace(real.citations[0], n=n) for n in range(1, 21)]
        text = " ".join(f"{real.answer} [{(k % 20) + 1}]" for k in range(150))
        return Answer(real.question, text, False, cites, real.timing_ms, real.articles_searched)


class Broken(Spy):
    def ask(self, question: str, now: Any = None, context: str = "") -> Answer:
        raise RuntimeError("the index is on fire")


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
    assert embed["description"].startswith(" ".join(GOOD)) and len(custom_ids(edits[-1])) == 2
    assert not [c for c in env.calls if c.method == "POST" and c.path.endswith(payload["token"])]
    assert not any("200,000" in (e.get("content") or "") for e in edits)


# -- mentions, threads and DMs (dpytest) --------------------------------------------------
async def test_a_mention_is_answered_in_a_thread_started_from_it(fake_discord: FakeDiscord):
    env = fake_discord
    spy = env.client.conversation.engine = Spy(env.client.conversation.engine)
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
    assert len(custom_ids(payload)) == 2  # 👍 and 👎
    [(asked, now, context)] = spy.asked
    assert (asked, now, context) == (QUESTION, question.created_at, "")
    reply = dpytest.get_message()
    assert reply.channel.id == thread.id and reply.embeds[0].title == QUESTION


async def test_a_mention_in_the_thread_follows_up_on_its_question(fake_discord: FakeDiscord):
    env = fake_discord
    spy = env.client.conversation.engine = Spy(env.client.conversation.engine)
    first = await env.say(env.mention(QUESTION))
    thread = env.guild.get_thread(first.id)

    await env.say(env.mention(FOLLOW_UP), channel=thread)
    await env.say(
        f"And the naval drills? {env.client.user.mention}", channel=thread, member=env.bob
    )

    assert [(q, c) for q, _, c in spy.asked] == [
        (QUESTION, ""),
        (FOLLOW_UP, QUESTION),
        ("And the naval drills?", f"{QUESTION} {FOLLOW_UP}"),
    ]
    answers = env.sent_to(thread.id)
    assert len(answers) == 3 and len(env.guild.threads) == 1  # no thread within the thread
    follow_up = answers[1]["embeds"][0]
    assert follow_up["title"] == FOLLOW_UP
    assert "Minsk" in follow_up["description"]


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


async def test_an_engine_error_in_a_thread_is_an_apology_with_an_id(
    fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture
):
    env = fake_discord
    env.client.conversation.engine = Broken(env.client.conversation.engine)
    with caplog.at_level(logging.ERROR, logger="bot"):
        question = await env.say(env.mention(QUESTION))
    [payload] = env.sent_to(question.id)  # in the thread
    error_id = re.search(r"error `([0-9a-f]{8})`", payload["content"]).group(1)
    assert payload["content"].startswith("Sorry, something went wrong")
    assert "fire" not in payload["content"]
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert record.exc_info and "the index is on fire" in str(record.exc_info[1])


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


async def test_feedback_buttons_write_to_the_store(fake_discord: FakeDiscord):
    env = fake_discord
    question = await env.say(env.mention(QUESTION))
    [payload] = env.sent_to(question.id)
    helpful, unhelpful = custom_ids(payload)
    message = env.message_payload(dpytest.get_message(), payload["components"])

    await env.press(message, helpful, env.bob)
    [callback] = env.calls
    assert callback.payload["type"] == 4  # a message in reply to the button
    assert callback.payload["data"]["flags"] == 64  # ephemeral
    assert callback.payload["data"]["content"].startswith("Thanks")

    await env.press(message, unhelpful, env.bob)  # a second vote by the same person
    assert "already rated" in env.calls[0].payload["data"]["content"]
    await env.press(message, unhelpful, env.alice)

    votes = env.store.list()
    assert [(v.platform, v.user_id, v.vote) for v in reversed(votes)] == [
        ("discord", str(env.bob.id), 1),
        ("discord", str(env.alice.id), -1),
    ]
    assert votes[0].question == QUESTION
    assert "Ben Wallace" in votes[0].answer
    assert votes[0].article_ids == ("000_0070773c25b31aea",)


VOTE_ID = re.compile(r"briefbot:vote:(up|down):([0-9a-f]{16})")


async def test_the_buttons_under_an_answer_are_persistent(fake_discord: FakeDiscord):
    env = fake_discord
    conversation = env.client.conversation
    answer = conversation.engine.ask(QUESTION, now=datetime(2022, 2, 12, tzinfo=UTC))
    key = conversation.keep_answer(answer)
    assert key is not None
    view = vote_buttons(key)
    assert view.timeout is None and view.is_persistent()  # no day's limit, no random ids
    ids = [item.custom_id for item in view.children]  # type: ignore[attr-defined]
    matches = [VOTE_ID.fullmatch(i) for i in ids]
    assert [m.group(1) for m in matches] == ["up", "down"]
    assert len({m.group(2) for m in matches}) == 1  # one key for the answer
    assert all(len(i) <= 100 for i in ids)  # Discord's limit for a custom id

    question = await env.say(env.mention(QUESTION))
    [payload] = env.sent_to(question.id)
    assert all(VOTE_ID.fullmatch(i) for i in custom_ids(payload))


async def test_the_buttons_work_for_a_client_that_did_not_send_them(
    seed_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    before = await start_fake_discord(seed_engine, tmp_path, monkeypatch)
    try:
        question = await before.say(before.mention(QUESTION))
        [payload] = before.sent_to(question.id)
        helpful, unhelpful = custom_ids(payload)
        message = before.message_payload(dpytest.get_message(), payload["components"])
        await before.press(message, helpful, before.bob)
    finally:
        await stop_fake_discord(before)

    # A restart: a new client and a new store object on the same database, no views in memory.
    after = await start_fake_discord(seed_engine, tmp_path, monkeypatch)
    try:
        assert after.state._view_store._views == {}
        await after.press(message, unhelpful, before.bob)  # the same person as before
        [again] = after.calls
        assert again.payload["data"]["content"] == "You have already rated this answer."
        assert again.payload["data"]["flags"] == 64
        await after.press(message, unhelpful, after.alice)
        [thanks] = after.calls
        assert thanks.payload["type"] == 4 and thanks.payload["data"]["flags"] == 64
        assert thanks.payload["data"]["content"] == "Thanks: noted 👎"
    finally:
        await stop_fake_discord(after)

    votes = after.store.list()
    assert [(v.user_id, v.vote) for v in reversed(votes)] == [
        (str(before.bob.id), 1),
        (str(after.alice.id), -1),
    ]
    assert votes[0].question == QUESTION and "Ben Wallace" in votes[0].answer
    assert votes[0].article_ids == ("000_0070773c25b31aea",)


async def test_a_button_for_an_answer_not_on_record_says_so(fake_discord: FakeDiscord):
    env = fake_discord
    question = await env.say(env.mention(QUESTION))
    [payload] = env.sent_to(question.id)
    message = env.message_payload(dpytest.get_message(), payload["components"])
    unknown = "briefbot:vote:up:" + "0" * 16
    for row in message["components"]:
        row["components"][0]["custom_id"] = unknown
    await env.press(message, unknown, env.bob)
    [reply] = env.calls
    assert reply.payload["data"]["flags"] == 64
    assert "no longer on record" in reply.payload["data"]["content"]
    assert env.store.list() == []


# -- app commands (interactions built from payloads) --------------------------------------
async def test_ask_defers_then_follows_up_with_the_cited_answer(fake_discord: FakeDiscord):
    env = fake_discord
    spy = env.client.conversation.engine = Spy(env.client.conversation.engine)
    payload = await env.command("ask", question=QUESTION)

    token = payload["token"]
    defer, follow_up = env.calls
    assert (defer.method, defer.path) == ("POST", f"/interactions/{payload['id']}/{token}/callback")
    assert defer.payload == {"type": 5}  # "thinking…", in public
    assert (follow_up.method, follow_up.path) == ("POST", f"/webhooks/{APP_ID}/{token}")
    assert follow_up.payload["allowed_mentions"] == {"parse": []}
    assert "flags" not in follow_up.payload or not follow_up.payload["flags"] & 64
    [embed] = follow_up.payload["embeds"]
    assert embed["title"] == QUESTION and "Ben Wallace" in embed["description"]
    assert embed["fields"][0]["value"].startswith(f"**[1]** {escape(SEED_TITLE)}")
    assert len(custom_ids(follow_up.payload)) == 2
    interaction_time = discord.utils.snowflake_time(int(payload["id"]))
    assert spy.asked == [(QUESTION, interaction_time, "")]


async def test_ask_feedback_buttons_work_under_a_follow_up(fake_discord: FakeDiscord):
    env = fake_discord
    await env.command("ask", question=QUESTION)
    follow_up = env.calls[-1]
    message_id = next(iter(env.webhook_messages))
    helpful, _ = custom_ids(follow_up.payload)
    await env.press(env.webhook_messages[message_id], helpful, env.bob)
    [vote] = env.store.list()
    assert (vote.platform, vote.user_id, vote.vote, vote.question) == (
        "discord",
        str(env.bob.id),
        1,
        QUESTION,
    )


async def test_a_long_answer_follows_up_in_order_within_every_limit(fake_discord: FakeDiscord):
    env = fake_discord
    env.client.conversation.engine = Verbose(env.client.conversation.engine)
    await env.command("ask", question=QUESTION)

    defer, *follow_ups = env.calls
    assert defer.payload == {"type": 5}
    assert len(follow_ups) > 1
    for call in follow_ups:
        assert call.method == "POST" and call.payload["allowed_mentions"] == {"parse": []}
        assert_message_within_limits(call.payload.get("content"), call.payload["embeds"])
    embeds = [e for call in follow_ups for e in call.payload["embeds"]]
    assert embeds[0]["title"] == QUESTION  # the answer starts in the first follow-up
    assert "footer" in embeds[-1]  # and ends in the last
    assert [bool(custom_ids(c.payload)) for c in follow_ups] == [False] * (len(follow_ups) - 1) + [
        True
    ]
    assert all(f"**[{n}]**" in all_text(embeds) for n in range(1, 21))


async def test_brief_follows_up_with_the_stories_in_the_window(fake_discord: FakeDiscord):
    env = fake_discord
    await env.command("brief", since="2022-02-01", topic="Ukraine")
    defer, follow_up = env.calls
    assert defer.payload == {"type": 5}
    [embed] = follow_up.payload["embeds"]
    assert embed["title"].startswith("Briefing 2022-02-01 → ")
    assert embed["title"].endswith("· Ukraine")
    assert embed["fields"][0]["name"] == f"1. {escape(SEED_TITLE)}"
    assert follow_up.payload["allowed_mentions"] == {"parse": []}
    assert not custom_ids(follow_up.payload)


async def test_brief_with_nothing_in_the_window(fake_discord: FakeDiscord):
    env = fake_discord
    await env.command("brief")  # the last 24 hours: the seed article is from 2022
    [embed] = env.calls[-1].payload["embeds"]
    assert embed["description"] == "Nothing new in the window."


async def test_a_bad_since_is_refused_at_once_and_only_to_the_user(fake_discord: FakeDiscord):
    env = fake_discord
    await env.command("brief", since="last tuesday")
    [reply] = env.calls
    assert reply.payload["type"] == 4 and reply.payload["data"]["flags"] == 64
    assert reply.payload["data"]["content"].startswith("since: 'last tuesday' is not")


async def test_a_too_long_question_is_refused_at_once_and_only_to_the_user(
    fake_discord: FakeDiscord,
):
    env = fake_discord
    await env.command("ask", question="why " * 600)
    [reply] = env.calls
    assert reply.payload["type"] == 4 and reply.payload["data"]["flags"] == 64
    assert "the limit is 2,000" in reply.payload["data"]["content"]


async def test_a_too_long_topic_is_refused_at_once_and_only_to_the_user(
    fake_discord: FakeDiscord,
):
    """/brief checks its topic as /ask checks its question (it used not to, unlike Slack's)."""
    env = fake_discord
    await env.command("brief", topic="why " * 600)
    [reply] = env.calls
    assert reply.payload["type"] == 4 and reply.payload["data"]["flags"] == 64
    assert "the limit is 2,000" in reply.payload["data"]["content"]


async def test_an_engine_error_gives_the_ephemeral_apology(
    fake_discord: FakeDiscord, caplog: pytest.LogCaptureFixture
):
    env = fake_discord
    env.client.conversation.engine = Broken(env.client.conversation.engine)
    with caplog.at_level(logging.ERROR, logger="bot"):
        payload = await env.command("ask", question=QUESTION)

    token = payload["token"]
    defer, delete, apology = env.calls
    assert defer.payload == {"type": 5}
    # The public "thinking…" goes, so that the apology can be ephemeral.
    assert (delete.method, delete.path) == (
        "DELETE",
        f"/webhooks/{APP_ID}/{token}/messages/@original",
    )
    assert (apology.method, apology.path) == ("POST", f"/webhooks/{APP_ID}/{token}")
    assert apology.payload["flags"] & 64
    content = apology.payload["content"]
    error_id = re.search(r"error `([0-9a-f]{8})`", content).group(1)
    assert len(content) < 200 and "fire" not in content
    [record] = [r for r in caplog.records if error_id in r.getMessage()]
    assert "the index is on fire" in str(record.exc_info[1])


# -- lifecycle: settings, sync, and failing to reach Discord -------------------------------
async def test_sync_needs_a_token():
    """(Serving without one is refused by the service: tests/test_service.py.)"""
    settings = DiscordSettings(_env_file=None)
    with pytest.raises(SettingsError, match="DISCORD_TOKEN"):
        await discord_app.sync(settings)


def test_a_token_with_a_space_or_control_character_is_refused(seed_engine: Engine):
    for token in ("abc def", "abc\x01def", "abc…def"):
        settings = DiscordSettings(_env_file=None, DISCORD_TOKEN=token)
        with pytest.raises(SettingsError, match="DISCORD_TOKEN has a space or a character") as e:
            token_of(settings)
        assert token not in str(e.value)


class FakeDiscordAPI:
    """A local stand-in for Discord's REST API (enough to log in and to register commands,
    which it keeps per place) and for its gateway, which closes at once with
    `gateway_close_code` (4004: "Authentication failed").

    It runs on its own event loop in a thread, so that the CLI's own asyncio.run can use it.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str | None, Any]] = []
        self.commands: dict[str, list[dict]] = {}  # "global" or a guild id: what is registered
        self.gateway_close_code = 4004
        self.token_ok = True
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def puts(self) -> list[tuple[str, list[str]]]:
        """The bulk overwrites made: (where, names of the commands sent)."""
        return [
            (self.place(path), [c["name"] for c in body])
            for method, path, _, body in self.requests
            if method == "PUT"
        ]

    @staticmethod
    def place(path: str) -> str:
        found = re.search(r"/guilds/(\d+)/commands$", path)
        return found.group(1) if found else "global"

    @staticmethod
    def reply(data: Any, status: int = 200) -> web.Response:
        # Exactly "application/json", as Discord sends it: discord.py compares the whole header.
        return web.Response(
            body=json.dumps(data).encode(), status=status, content_type="application/json"
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/gateway":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await ws.close(code=self.gateway_close_code, message=b"Authentication failed.")
            return ws
        body = await request.json() if request.can_read_body else None
        auth = request.headers.get("Authorization")
        self.requests.append((request.method, request.path, auth, body))
        path = request.path.removeprefix("/api/v10")
        if not self.token_ok:
            return self.reply({"message": "401: Unauthorized", "code": 0}, status=401)
        if path == "/users/@me":
            user = {"id": str(APP_ID), "username": "briefbot", "discriminator": "0"}
            return self.reply({**user, "avatar": None, "bot": True})
        if path == "/oauth2/applications/@me":
            return self.reply(
                {
                    "id": str(APP_ID),
                    "name": "briefbot",
                    "description": "",
                    "icon": None,
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "k",
                    "owner": {"id": "1", "username": "owner", "discriminator": "0", "avatar": None},
                    "flags": 0,
                }
            )
        if path.endswith("/commands"):
            where = self.place(path)
            if request.method == "PUT":
                self.commands[where] = [
                    {**c, "id": str(k + 1), "application_id": str(APP_ID), "version": "1"}
                    for k, c in enumerate(body)
                ]
            return self.reply(self.commands.get(where, []))
        return self.reply({"message": "not found", "code": 0}, status=404)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        self.port = self.runner.addresses[0][1]

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


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


async def test_sync_registers_both_commands_in_one_guild(
    discord_api: FakeDiscordAPI, seed_engine: Engine, caplog: pytest.LogCaptureFixture
):
    token = "test-token-not-a-secret-but-never-logged"
    settings = discord_settings(seed_engine, DISCORD_TOKEN=token)
    with caplog.at_level(logging.DEBUG):
        names = await discord_app.sync(settings, guild_id=987654321)
    assert names == ["ask", "brief"]
    [(method, path, auth, body)] = [r for r in discord_api.requests if r[0] == "PUT"]
    assert (method, path) == ("PUT", f"/api/v10/applications/{APP_ID}/guilds/987654321/commands")
    assert auth == f"Bot {token}"
    commands = {c["name"]: c for c in body}
    assert commands["ask"]["description"].startswith("Ask a question about the news")
    assert [o["name"] for o in commands["ask"]["options"]] == ["question"]
    assert [o["name"] for o in commands["brief"]["options"]] == ["topic", "since"]
    assert token not in caplog.text


async def test_sync_without_a_guild_is_global(discord_api: FakeDiscordAPI, seed_engine: Engine):
    settings = discord_settings(seed_engine, DISCORD_TOKEN="t")
    assert await discord_app.sync(settings) == ["ask", "brief"]
    assert discord_api.puts() == [("global", ["ask", "brief"])]


async def test_a_global_sync_is_refused_while_a_guild_id_is_set(
    discord_api: FakeDiscordAPI, seed_engine: Engine
):
    settings = discord_settings(seed_engine, DISCORD_TOKEN="t", DISCORD_GUILD_ID=555)
    with pytest.raises(SettingsError, match=r"DISCORD_GUILD_ID is set \(555\)"):
        await discord_app.sync(settings)
    assert discord_api.requests == []  # refused before anything is sent


async def test_a_start_with_a_guild_id_after_a_global_sync_shows_each_command_once(
    discord_api: FakeDiscordAPI, seed_engine: Engine, caplog: pytest.LogCaptureFixture
):
    await discord_app.sync(discord_settings(seed_engine, DISCORD_TOKEN="t"))
    assert [c["name"] for c in discord_api.commands["global"]] == ["ask", "brief"]

    discord_api.requests.clear()
    with_guild = discord_settings(seed_engine, DISCORD_TOKEN="t", DISCORD_GUILD_ID=555)
    with caplog.at_level(logging.WARNING, logger="bot"):
        async with build_client(with_guild, None) as client:
            await client.login("t")  # login runs setup_hook
    # In the server, and the global ones (which would show there too) overwritten with none.
    assert discord_api.puts() == [("555", ["ask", "brief"]), ("global", [])]
    assert discord_api.commands["global"] == []
    assert "removed the global commands (ask, brief)" in caplog.text

    discord_api.requests.clear()  # the next start: nothing global left, so nothing to remove
    async with build_client(with_guild, None) as client:
        await client.login("t")
    assert discord_api.puts() == [("555", ["ask", "brief"])]


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
    monkeypatch.setattr(cli.State, "settings", engine.settings)
    monkeypatch.setattr(cli, "make_engine", lambda: engine)
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
    assert done.code == 0 and "Synced /ask, /brief to all servers" in done.out

    done = briefbot(monkeypatch, capsys, settings, seed_engine, "discord", "sync", "--guild", "77")
    assert done.code == 0 and "Synced /ask, /brief to server 77." in done.out
    assert discord_api.commands["global"] == []  # moved, not copied
    assert [c["name"] for c in discord_api.commands["77"]] == ["ask", "brief"]

    discord_api.requests.clear()
    done = briefbot(
        monkeypatch, capsys, settings, seed_engine, "discord", "sync", "--clear-guild", "77"
    )
    assert done.code == 0 and "Removed /ask, /brief from server 77." in done.out
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


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
