"""A fake Discord for the client, on this machine: dpytest plays the gateway and the REST API
for messages, threads and DMs (with two gaps filled in here: threads started from a message,
and a record of the exact payloads sent); app commands and button presses are real
`discord.Interaction`s built from payload dicts and routed by discord.py's own
`parse_interaction_create`, and what they send is captured at discord.py's webhook adapter.
`FakeDiscordAPI` is Discord's REST API and gateway over HTTP on localhost, enough to log in and
register commands (`briefbot discord sync`).

A test knows the bot has done all it does for a message or an interaction by waiting on the
client's own record of it (`client.handled`), not on anything of discord.py's.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from aiohttp import web
from discord.ext.test import backend as dpytest_backend
from discord.ext.test import factories as dpytest_factories
from discord.webhook.async_ import AsyncWebhookAdapter

from bot.asked import AskedStore
from bot.conversation import Conversation
from bot.discord import PLATFORM
from bot.discord.client import BriefbotClient, build_client
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
)
from bot.discord.settings import DiscordSettings
from retrieval.events import SeenEvents
from retrieval.feedback import FeedbackStore

APP_ID = 424242424242424242
TIMEOUT = 30.0
EPHEMERAL = 64  # a message's flag: only its recipient sees it
LIVE_MARKDOWN = set("*_~|`[]<>#")


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
    other: discord.TextChannel  # a second channel of the server
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

    async def handled(self, id: int) -> None:
        """Until the bot has done all it does for the message or interaction `id`."""
        await asyncio.wait_for(self.client.handled.wait(id), TIMEOUT)

    async def say(self, content: str, channel: Any = None, member: discord.Member | None = None):
        """A user's message; returns once the bot has finished with it."""
        message = await dpytest.message(
            content, channel=channel or self.channel, member=member or self.alice
        )
        await self.handled(message.id)
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
        await self.handled(int(data["id"]))

    def mention(self, text: str) -> str:
        return f"{self.client.user.mention} {text}"

    # interactions
    def base_payload(self, type_: int, member: discord.Member, channel: Any = None) -> dict:
        channel = channel or self.channel
        interaction_id = dpytest_factories.make_id()
        token = f"token-{interaction_id}"
        self.channel_of_token[token] = channel.id
        return {
            "id": str(interaction_id),
            "application_id": str(APP_ID),
            "type": type_,
            "token": token,
            "version": 1,
            "guild_id": str(self.guild.id),
            "channel_id": str(channel.id),
            "channel": {
                "id": str(channel.id),
                "type": 0,
                "guild_id": str(self.guild.id),
                "name": channel.name,
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

    async def command(
        self,
        name: str,
        member: discord.Member | None = None,
        channel: Any = None,
        **options: str,
    ) -> dict:
        """Run /name as Discord would deliver it, and wait for everything it does."""
        payload = self.base_payload(2, member or self.alice, channel)
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
        await self.handled(int(payload["id"]))
        return payload

    async def press(self, message: dict, custom_id: str, member: discord.Member) -> dict:
        """Press the button `custom_id` under `message` (a message as an interaction carries
        it), and wait for everything it does."""
        payload = self.base_payload(3, member)
        payload["message"] = message
        payload["data"] = {"custom_id": custom_id, "component_type": 2}
        self.calls.clear()
        self.state.parse_interaction_create(payload)
        await self.handled(int(payload["id"]))
        return payload

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


Allowed = Callable[[list[discord.TextChannel]], Iterable[int]]


def make_fake_discord(
    engine: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch, allowed: Allowed | None = None
) -> FakeDiscord:
    """The client as the service makes it (one conversation, its stores in `data_dir`), on a
    fake server with two text channels and two members. `allowed(channels)`: the channels of
    DISCORD_ALLOWED_CHANNELS, once the fake has made them (None: every channel)."""
    conversation = Conversation(
        engine,
        FeedbackStore.in_data_dir(data_dir),
        SeenEvents.in_data_dir(data_dir),
        AskedStore.in_data_dir(data_dir),
    )
    assert conversation.feedback is not None
    client = build_client(DiscordSettings(_env_file=None), conversation)
    # The bot needs no members intent: Discord puts the mentioned users in the message. dpytest
    # instead looks mentions up in its member cache, which only exists with that intent.
    intents = client.intents
    intents.members = True
    client._connection._intents = intents
    client._connection.member_cache_flags = discord.MemberCacheFlags.from_intents(intents)
    dpytest.configure(client, text_channels=2, members=["alice", "bob"])
    # configure() gives the client a new connection state; the tree had attached itself to the
    # old one, and discord.py routes application commands through the state's tree.
    client._connection._command_tree = client.tree
    config = dpytest.get_config()
    text = [c for c in config.channels if isinstance(c, discord.TextChannel)]
    if allowed is not None:
        conversation.allowed[PLATFORM] = frozenset(str(c) for c in allowed(text))
    env = FakeDiscord(client, conversation.feedback, config.guilds[0], *text[:2], *config.members)
    install_recorders(env, monkeypatch)
    return env


async def start_fake_discord(
    engine: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch, allowed: Allowed | None = None
) -> FakeDiscord:
    env = make_fake_discord(engine, data_dir, monkeypatch, allowed)
    # What login() does around its HTTP calls: bind the client's loop, then the setup hook.
    await env.client._async_setup_hook()
    await env.client.setup_hook()
    return env


async def stop_fake_discord(env: FakeDiscord) -> None:
    await dpytest.run_all_events()
    await dpytest.empty_queue()
    store = env.state._view_store
    for view in {item.view for items in store._views.values() for item in items.values()}:
        if view is not None:
            view.stop()


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


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- what Discord accepts: its limits, and text that renders as nothing but itself ------------
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
