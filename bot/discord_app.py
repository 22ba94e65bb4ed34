"""Discord: payloads in, neutral messages to the conversation, embeds out; and its lifecycle.

/ask and /brief, mentions answered in a thread, DMs, 👍 / 👎 feedback. What the bot says comes
from the conversation (bot/conversation.py), rendered by `bot.render_discord`.

The conversation (and the engine in it) is synchronous and CPU-bound, so it always runs in a
worker thread (`asyncio.to_thread`); its replies come back to the event loop to be sent. The loop
keeps the gateway's heartbeat and other users' requests going meanwhile. Interactions are
acknowledged first (deferred: Discord's "thinking…") and answered after, because Discord gives
an app 3 seconds to respond.

Nothing here needs the privileged message-content intent: Discord sends a message's content to
a bot when the message mentions it and in DMs, which are the only messages the bot reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from typing import Any, TypeVar

import aiohttp
import discord
from discord import app_commands
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.conversation import Conversation, Earlier, Message, Reply, window_start
from bot.render_discord import (
    answer_embeds,
    briefing_embeds,
    message_groups,
    plain,
    streamed_text,
    thread_name,
)
from retrieval import Answer, BriefbotError, Briefing, Metrics, SettingsError, read_settings

log = logging.getLogger(__name__)

PLATFORM = "discord"
# Article text is untrusted: nothing the bot sends may ping anyone, whatever it contains.
NO_MENTIONS = discord.AllowedMentions.none()
# A vote button's custom id: "briefbot:vote:up:<key>", 33 characters of Discord's 100.
VOTE_PREFIX = "briefbot:vote"
VOTE_TEMPLATE = rf"{VOTE_PREFIX}:(?P<direction>up|down):(?P<key>[0-9a-f]{{16}})"
THREAD_HISTORY = 50  # messages looked back through for a thread's earlier questions
REPLY_TIMEOUT_S = 120.0  # the most a reply may wait for the event loop to send it
# The statuses after which discord.py's HTTP client waits and sends the request again.
RETRIED_STATUSES = frozenset({429, 500, 502, 504, 524})

# Between two edits of an answer streamed as it is written: Discord allows five edits of a
# channel's messages in five seconds.
STREAM_INTERVAL_S = 1.2
T = TypeVar("T")


class DiscordSettings(BaseSettings):
    """Discord's settings, from the environment (and .env). The token is a SecretStr."""

    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", populate_by_name=True, use_attribute_docstrings=True
    )

    discord_token: SecretStr = Field(SecretStr(""), validation_alias="DISCORD_TOKEN")
    """The bot's token (Developer Portal → Bot); empty: Discord is not served."""
    discord_guild_id: int | None = Field(None, validation_alias="DISCORD_GUILD_ID")
    """A server id: the app commands are synced to that one server at start."""

    @property
    def configured(self) -> bool:
        return bool(self.discord_token.get_secret_value().strip())


# -- sending -----------------------------------------------------------------------------------
async def send_groups(
    send: Callable[..., Coroutine[Any, Any, object]],
    embeds: list[discord.Embed],
    view: discord.ui.View | None = None,
) -> None:
    """One message per group of embeds that Discord's limits allow, in order; the buttons go
    under the last. `send` is a channel's or an interaction's follow-up send."""
    groups = message_groups(embeds)
    for k, group in enumerate(groups):
        extra: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
        await send(embeds=group, allowed_mentions=NO_MENTIONS, **extra)


async def replace_with_groups(
    edit: Callable[..., Coroutine[Any, Any, object]],
    send: Callable[..., Coroutine[Any, Any, object]],
    embeds: list[discord.Embed],
    view: discord.ui.View | None = None,
) -> None:
    """Like `send_groups`, but the first group replaces a message already sent (an answer
    streamed as it was written) with `edit`; the buttons go under the last."""
    groups = message_groups(embeds)
    for k, group in enumerate(groups):
        extra: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
        if k == 0:
            await edit(content=None, embeds=group, allowed_mentions=NO_MENTIONS, **extra)
        else:
            await send(embeds=group, allowed_mentions=NO_MENTIONS, **extra)


async def post_briefing(channel: discord.abc.Messageable, briefing: Briefing | str) -> None:
    """Post a scheduled briefing to a channel; a string ("Nothing new…") is one plain line."""
    if isinstance(briefing, str):
        await channel.send(plain(briefing), allowed_mentions=NO_MENTIONS)
        return
    await send_groups(channel.send, briefing_embeds(briefing))


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A short message only the user sees, wherever the interaction has got to.

    After a (public) defer, Discord turns the first follow-up into the "thinking…" message and
    ignores its ephemeral flag; so that message is deleted first, unless an answer is in it.
    """
    text = plain(text)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if not interaction.extras.get("answered"):
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.warning("could not delete the deferred response", exc_info=True)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.exception("could not tell the user about an error")


# -- feedback -----------------------------------------------------------------------------
class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=VOTE_TEMPLATE,
):
    """👍 or 👎 under an answer, working after restarts and for as long as the message lasts.

    Its custom id carries all a press needs: the direction and the key under which the answer
    is kept in the feedback store (the store Slack's votes go to too). Any client with a
    feedback store handles it, not only the one that sent it.
    """

    def __init__(self, key: str, vote: int) -> None:
        direction = "up" if vote > 0 else "down"
        super().__init__(
            discord.ui.Button(
                emoji="👍" if vote > 0 else "👎",
                style=discord.ButtonStyle.secondary,
                custom_id=f"{VOTE_PREFIX}:{direction}:{key}",
            )
        )
        self.key = key
        self.vote = vote

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> VoteButton:
        return cls(match["key"], 1 if match["direction"] == "up" else -1)

    async def callback(self, interaction: discord.Interaction) -> None:
        # Any client may receive the press (persistent items): only a briefbot one records it.
        client = interaction.client
        conversation = client.conversation if isinstance(client, BriefbotClient) else None
        try:
            if conversation is None:
                raise BriefbotError("Votes are not being recorded right now.")
            user = str(interaction.user.id)
            await asyncio.to_thread(conversation.vote, self.key, PLATFORM, user, self.vote)
        except Exception as exc:  # discord.py would only log it: the user hears back here
            text = conversation.failure(exc) if conversation else str(exc)
            await send_ephemeral(interaction, text)
            return
        await interaction.response.send_message(
            "Thanks: noted 👍" if self.vote > 0 else "Thanks: noted 👎", ephemeral=True
        )


def vote_buttons(key: str) -> discord.ui.View:
    """The 👍 / 👎 buttons for the answer kept under `key`: no timeout, fixed custom ids."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(key, 1))
    view.add_item(VoteButton(key, -1))
    return view


# -- replies: the conversation's Reply, sent from its worker thread on the client's loop --------
class _LoopReply:
    """Runs a reply's sends on the event loop, from the conversation's worker thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(REPLY_TIMEOUT_S)


class MessageReply(_LoopReply, Reply):
    """Replies to a mention (in a thread started from it) or a DM (in place). A generated
    answer is streamed: one message, edited as sentences pass the verifier, then replaced by
    the answer's embeds."""

    stream_interval = STREAM_INTERVAL_S
    streamed: discord.Message | None = None

    def __init__(
        self, client: BriefbotClient, message: discord.Message, loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(loop)
        self.client = client
        self.message = message
        # In a server's channel the answer goes in a new thread; in a thread or a DM, in place.
        self.target: discord.abc.Messageable | None = (
            None
            if message.guild is not None and not isinstance(message.channel, discord.Thread)
            else message.channel
        )

    def progress(self, text: str) -> None:
        self._on_loop(self._start())

    async def _start(self) -> None:
        question = self.client.question_in(self.message)
        if self.target is None and question:  # a thread needs a name: none for an empty one
            self.target = await self.client.open_thread(self.message, question)
        # One typing indicator: it ends with the next message, or after 10 s.
        with contextlib.suppress(discord.HTTPException):
            await (self.target or self.message.channel).typing()

    def stream(self, text: str) -> None:
        self._on_loop(self._stream(text))

    async def _stream(self, text: str) -> None:
        content = streamed_text(text)
        if self.streamed is None:
            where = self.target or self.message.channel
            self.streamed = await where.send(content, allowed_mentions=NO_MENTIONS)
        else:
            await self.streamed.edit(content=content, allowed_mentions=NO_MENTIONS)

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        view = vote_buttons(vote_key) if vote_key else None
        where = self.target or self.message.channel
        if self.streamed is not None:
            edit = self.streamed.edit
            self._on_loop(replace_with_groups(edit, where.send, answer_embeds(answer), view))
            return
        self._on_loop(send_groups(where.send, answer_embeds(answer), view))

    def briefing(self, briefing: Briefing, key: str) -> None:
        self._on_loop(post_briefing(self.target or self.message.channel, briefing))

    def notice(self, text: str) -> None:
        self._on_loop(self._notice(self.target or self.message.channel, text))

    @staticmethod
    async def _notice(target: discord.abc.Messageable, text: str) -> None:
        try:
            await target.send(plain(text), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.exception("could not send a message to %s", getattr(target, "id", target))

    def history(self) -> list[Earlier]:
        channel = self.message.channel
        if not isinstance(channel, discord.Thread):
            return []
        return self._on_loop(self.client.earlier(channel, self.message))


class InteractionReply(_LoopReply, Reply):
    """Replies to a slash command: follow-ups after the deferral ("thinking…"). A generated
    answer is streamed into the deferred response, edited as sentences pass the verifier,
    then replaced by the answer's embeds."""

    stream_interval = STREAM_INTERVAL_S
    streamed = False

    def __init__(
        self, interaction: discord.Interaction[BriefbotClient], loop: asyncio.AbstractEventLoop
    ) -> None:
        super().__init__(loop)
        self.interaction = interaction

    def progress(self, text: str) -> None:
        pass  # the deferral shows "thinking…"

    def stream(self, text: str) -> None:
        self._on_loop(
            self.interaction.edit_original_response(
                content=streamed_text(text), allowed_mentions=NO_MENTIONS
            )
        )
        self.streamed = True
        self.interaction.extras["answered"] = True  # an error now must not delete it

    async def _follow_up(self, embeds: list[discord.Embed], view: discord.ui.View | None) -> None:
        if self.streamed:
            edit = self.interaction.edit_original_response
            await replace_with_groups(edit, self.interaction.followup.send, embeds, view)
        else:
            await send_groups(self.interaction.followup.send, embeds, view)
        self.interaction.extras["answered"] = True

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        view = vote_buttons(vote_key) if vote_key else None
        self._on_loop(self._follow_up(answer_embeds(answer), view))

    def briefing(self, briefing: Briefing, key: str) -> None:
        self._on_loop(self._follow_up(briefing_embeds(briefing), None))

    def notice(self, text: str) -> None:
        self._on_loop(send_ephemeral(self.interaction, text))

    def history(self) -> list[Earlier]:
        return []  # a command has no thread


# -- the client ---------------------------------------------------------------------------
class BriefbotTree(app_commands.CommandTree["BriefbotClient"]):
    """The command tree: an error in a command is told to the user, by the conversation's
    policy."""

    async def on_error(
        self,
        interaction: discord.Interaction[BriefbotClient],
        error: app_commands.AppCommandError,
    ) -> None:
        original = getattr(error, "original", error)
        conversation = interaction.client.conversation
        text = conversation.failure(original) if conversation else str(original)
        await send_ephemeral(interaction, text)


def retry_counter(metrics: Metrics) -> aiohttp.TraceConfig:
    """Counts discord.py's retries: every response it answers by trying again (a rate limit,
    a server error) is seen here, at the HTTP boundary, whatever the call."""
    trace = aiohttp.TraceConfig()

    async def on_end(session: Any, context: Any, params: aiohttp.TraceRequestEndParams) -> None:
        if params.response.status in RETRIED_STATUSES:
            metrics.retried(PLATFORM)

    trace.on_request_end.append(on_end)
    return trace


class BriefbotClient(discord.Client):
    """A Discord client that owns its command tree and hands messages to the conversation."""

    def __init__(self, settings: DiscordSettings, conversation: Conversation | None) -> None:
        # briefbot never joins voice: the warnings that voice libraries are missing are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Default intents: guilds, guild and DM messages. No privileged intent is needed.
        # Retries are counted for the metrics (a client without a conversation only syncs).
        metrics = conversation.metrics if conversation else Metrics()
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=NO_MENTIONS,
            http_trace=retry_counter(metrics),
        )
        self.settings = settings
        self.conversation = conversation
        self.tree = BriefbotTree(self)
        self.tree.add_command(ask_command)
        self.tree.add_command(brief_command)
        # DISCORD_GUILD_ID: during set-up, sync to that one server at start (instant there).
        self.sync_guild_on_start = settings.discord_guild_id is not None
        self.on_start: Callable[[BriefbotClient], None] | None = None  # e.g. start schedules

    async def setup_hook(self) -> None:
        if self.conversation is not None and self.conversation.feedback is not None:
            # Buttons under answers sent before this start (or by another process) work too.
            self.add_dynamic_items(VoteButton)
        guild_id = self.settings.discord_guild_id
        if self.sync_guild_on_start and guild_id is not None:
            names = await register(self, guild_id)
            log.info("synced %s to guild %s", ", ".join(names), guild_id)
        if self.on_start is not None:
            self.on_start(self)

    def threadsafe_poster(self, timeout: float = 120.0) -> Callable[[str, Briefing | str], None]:
        """A function that posts a briefing to a channel id from another thread (the
        scheduler's), running the send on this client's event loop and waiting for it."""
        loop = asyncio.get_running_loop()

        def post(channel_id: str, briefing: Briefing | str) -> None:
            async def send() -> None:
                channel = self.get_channel(int(channel_id)) or await self.fetch_channel(
                    int(channel_id)
                )
                if not isinstance(channel, discord.abc.Messageable):
                    raise BriefbotError(f"Discord channel {channel_id} takes no messages.")
                await post_briefing(channel, briefing)

            asyncio.run_coroutine_threadsafe(send(), loop).result(timeout)

        return post

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%s)", self.user, getattr(self.user, "id", "?"))

    def _conversation(self) -> Conversation:
        if self.conversation is None:
            raise RuntimeError("this client was built without a conversation")
        return self.conversation

    # -- app commands ---------------------------------------------------------------------
    def _message(self, interaction: discord.Interaction[BriefbotClient], text: str) -> Message:
        return Message(
            platform=PLATFORM,
            channel=str(interaction.channel_id),
            id=str(interaction.id),
            user=str(interaction.user.id),
            text=text,
            sent_at=interaction.created_at,
        )

    async def answer_interaction(
        self, interaction: discord.Interaction[BriefbotClient], question: str
    ) -> None:
        conversation = self._conversation()
        question = conversation.check_question(question)  # refused at once, ephemerally
        await interaction.response.defer(thinking=True)
        reply = InteractionReply(interaction, asyncio.get_running_loop())
        await asyncio.to_thread(conversation.answer, self._message(interaction, question), reply)

    async def brief_interaction(
        self,
        interaction: discord.Interaction[BriefbotClient],
        topic: str | None,
        since: str | None,
    ) -> None:
        conversation = self._conversation()
        now = interaction.created_at
        # Both refused at once, ephemerally: a window that is no window, a topic too long.
        request = conversation.brief_request(topic, window_start(since, now), now)
        await interaction.response.defer(thinking=True)
        reply = InteractionReply(interaction, asyncio.get_running_loop())
        await asyncio.to_thread(conversation.brief, request, reply)

    # -- mentions and DMs -----------------------------------------------------------------
    def addressed(self, message: discord.Message) -> bool:
        """A direct mention of the bot (or of its role), not @everyone or @here."""
        me = self.user
        if me is None:
            return False
        if any(u.id == me.id for u in message.mentions):
            return True
        role = message.guild.self_role if message.guild else None
        return role is not None and role in message.role_mentions

    def question_in(self, message: discord.Message) -> str:
        """The message's text without the mention(s) of the bot."""
        ids = [str(self.user.id)] if self.user else []
        role = message.guild.self_role if message.guild else None
        text = message.content
        for i in ids:
            text = re.sub(rf"<@!?{i}>", " ", text)
        if role is not None:
            text = text.replace(f"<@&{role.id}>", " ")
        return " ".join(text.split())

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None or self.conversation is None:
            return
        direct = message.guild is None
        if not direct and not self.addressed(message):
            return
        channel = message.channel
        neutral = Message(
            platform=PLATFORM,
            channel=str(channel.id),
            id=str(message.id),
            user=str(message.author.id),
            text=self.question_in(message),
            sent_at=message.created_at,
            thread=str(channel.id) if isinstance(channel, discord.Thread) else None,
            direct=direct,
        )
        if not await asyncio.to_thread(self.conversation.claim, neutral):
            return
        reply = MessageReply(self, message, asyncio.get_running_loop())
        await asyncio.to_thread(self.conversation.answer, neutral, reply)

    async def open_thread(self, message: discord.Message, question: str) -> discord.abc.Messageable:
        """A thread started from the question; where threads are impossible, the channel."""
        try:
            return await message.create_thread(name=thread_name(question))
        except discord.HTTPException as exc:
            log.warning(
                "could not start a thread in %s (%s): answering in the channel",
                message.channel.id,
                exc,
            )
            return message.channel

    async def earlier(self, thread: discord.Thread, message: discord.Message) -> list[Earlier]:
        """The thread's earlier messages from people, oldest first: the one it was started
        from, then up to THREAD_HISTORY before `message`."""
        found: list[Earlier] = []
        starter = thread.starter_message
        if starter is None:
            # The starter shares the thread's id: in the parent channel, or (a forum post) in
            # the thread itself.
            parent = thread.parent
            where = parent if isinstance(parent, discord.TextChannel) else thread
            try:
                starter = await where.fetch_message(thread.id)
            except discord.HTTPException:
                starter = None  # a thread not started from a message, or one deleted since
        if starter is not None and not starter.author.bot:
            found.append(Earlier(self.question_in(starter), self.addressed(starter)))
        later: list[Earlier] = []
        try:
            async for m in thread.history(limit=THREAD_HISTORY, before=message):
                if not m.author.bot and (starter is None or m.id != starter.id):
                    later.append(Earlier(self.question_in(m), self.addressed(m)))
        except discord.HTTPException:
            log.warning("could not read the history of thread %s", thread.id, exc_info=True)
        return found + later[::-1]


# -- the app commands: typed coroutines whose docstring is the description -----------------
@app_commands.command(name="ask")
@app_commands.describe(question="What you want to know, in plain words")
async def ask_command(interaction: discord.Interaction[BriefbotClient], question: str) -> None:
    """Ask a question about the news; the answer cites the passages it rests on."""
    await interaction.client.answer_interaction(interaction, question)


@app_commands.command(name="brief")
@app_commands.describe(
    topic="Only stories about this (optional)",
    since="How far back: 24h, 7d, 2w or a date (YYYY-MM-DD); 24h if left out",
)
async def brief_command(
    interaction: discord.Interaction[BriefbotClient],
    topic: str | None = None,
    since: str | None = None,
) -> None:
    """A briefing of the latest stories, each with its source."""
    await interaction.client.brief_interaction(interaction, topic, since)


# -- lifecycle ----------------------------------------------------------------------------
def build_client(settings: DiscordSettings, conversation: Conversation | None) -> BriefbotClient:
    """The client, with its commands; without a conversation it only does housekeeping, and
    without a feedback store in the conversation there are no 👍 / 👎 buttons."""
    return BriefbotClient(settings, conversation)


def token_of(settings: DiscordSettings) -> str:
    token = settings.discord_token.get_secret_value().strip()
    if not token:
        raise SettingsError(
            "DISCORD_TOKEN is not set: create a bot in the Discord developer portal and set it"
            " (see docs/discord.md)."
        )
    if not token.isascii() or not token.isprintable() or " " in token:
        # Else aiohttp refuses the header with a traceback, or Discord says only "401".
        raise SettingsError(
            "DISCORD_TOKEN has a space or a character no Discord token has:"
            " copy it again from the developer portal."
        )
    return token


TOKEN_REJECTED = (
    "DISCORD_TOKEN was rejected by Discord: reset the bot's token in the developer portal"
    " and set the new one."
)
GATEWAY_AUTH_FAILED = 4004  # the gateway's close code for a token it does not accept


class DiscordUnavailable(BriefbotError):
    """Discord could not be reached, or failed to answer; the message says which and why."""


@contextlib.contextmanager
def discord_errors() -> Iterator[None]:
    """Failures to reach Discord or to log in, as one line naming the cause (never the token).

    Used around logging in and the first connection: once connected, discord.py reconnects
    by itself after a network failure.
    """
    try:
        yield
    except discord.LoginFailure:
        raise SettingsError(TOKEN_REJECTED) from None
    except discord.ConnectionClosed as exc:
        if exc.code == GATEWAY_AUTH_FAILED:
            raise SettingsError(TOKEN_REJECTED) from None
        raise DiscordUnavailable(
            f"Discord: the connection was closed (code {exc.code}): try again later."
        ) from None
    except aiohttp.ClientConnectorDNSError as exc:
        log.debug("DNS lookup failed", exc_info=True)
        raise DiscordUnavailable(
            f"Discord: cannot reach {exc.host} (DNS lookup failed) — check the network."
        ) from None
    except aiohttp.ClientConnectorError as exc:
        log.debug("could not connect", exc_info=True)
        errno = exc.os_error.errno
        reason = os.strerror(errno).lower() if errno else type(exc.os_error).__name__
        raise DiscordUnavailable(
            f"Discord: cannot reach {exc.host}:{exc.port} ({reason}) — check the network."
        ) from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.debug("the connection failed", exc_info=True)
        raise DiscordUnavailable(
            f"Discord: the connection failed ({type(exc).__name__}) — check the network."
        ) from None
    except discord.DiscordServerError as exc:
        raise DiscordUnavailable(
            f"Discord: its servers answered HTTP {exc.status}: try again later."
        ) from None
    except discord.HTTPException as exc:  # e.g. a server the bot is not in (403 Missing Access)
        raise DiscordUnavailable(
            f"Discord refused a request: HTTP {exc.status} {exc.text or ''}".rstrip() + "."
        ) from None


async def register(client: BriefbotClient, guild_id: int | None) -> list[str]:
    """Register the app commands in one server or globally, never both: registering in a
    server removes the global ones, which would show there twice. Returns the names."""
    if guild_id is None:
        synced = await client.tree.sync()
    else:
        guild = discord.Object(id=guild_id)
        client.tree.copy_global_to(guild=guild)
        synced = await client.tree.sync(guild=guild)
        removed = await unregister(client, None)
        if removed:
            log.warning(
                "removed the global commands (%s), which showed twice in server %s;"
                " to register globally, unset DISCORD_GUILD_ID and run `briefbot discord sync`",
                ", ".join(removed),
                guild_id,
            )
    return [c.name for c in synced]


async def unregister(client: BriefbotClient, guild_id: int | None) -> list[str]:
    """Remove every app command registered globally (None) or in one server; returns their
    names (none: nothing was registered there, and nothing is sent)."""
    http, app_id = client.http, client.application_id
    assert app_id is not None  # set by login
    if guild_id is None:
        existing = await http.get_global_commands(app_id)
        if existing:
            await http.bulk_upsert_global_commands(app_id, [])
    else:
        existing = await http.get_guild_commands(app_id, guild_id)
        if existing:
            await http.bulk_upsert_guild_commands(app_id, guild_id, [])
    return [c["name"] for c in existing]


async def run(
    settings: DiscordSettings,
    conversation: Conversation,
    on_start: Callable[[BriefbotClient], None] | None = None,
) -> None:
    """Connect to Discord and answer until stopped (Ctrl-C). The settings were checked, and the
    engine warmed, by whoever calls this (bot/service.py). `on_start(client)` runs once logged
    in, on the event loop (the service starts the scheduled briefings there)."""
    client = build_client(settings, conversation)
    client.on_start = on_start
    async with client:
        with discord_errors():
            await client.start(settings.discord_token.get_secret_value().strip())


@contextlib.asynccontextmanager
async def _logged_in(settings: DiscordSettings) -> AsyncIterator[BriefbotClient]:
    """A client logged in over HTTP only (no gateway), for housekeeping such as syncing."""
    token = token_of(settings)
    client = build_client(settings, None)
    client.sync_guild_on_start = False  # housekeeping does exactly what it is told to
    async with client:
        with discord_errors():
            await client.login(token)
            yield client


async def sync(settings: DiscordSettings, guild_id: int | None = None) -> list[str]:
    """Register the app commands with Discord: in one server (at once, and removed from the
    global set) or globally. Returns the names of the commands synced.

    Global registration is refused while DISCORD_GUILD_ID is set, since every start would
    then move the commands back to that server. Global changes can take a while to show.
    """
    if guild_id is None and settings.discord_guild_id is not None:
        raise SettingsError(
            f"DISCORD_GUILD_ID is set ({settings.discord_guild_id}), so every start keeps the"
            " commands in that server only: unset it to register them globally, or pass --guild."
        )
    async with _logged_in(settings) as client:
        names = await register(client, guild_id)
    log.info("synced %s %s", ", ".join(names), f"to guild {guild_id}" if guild_id else "globally")
    return names


async def clear(
    settings: DiscordSettings, places: Sequence[int | None]
) -> dict[int | None, list[str]]:
    """Remove the app commands registered in each place (None: the global set, else a
    server's id); returns the names removed from each."""
    removed: dict[int | None, list[str]] = {}
    async with _logged_in(settings) as client:
        for place in places:
            removed[place] = await unregister(client, place)
    return removed


class DiscordAdapter:
    """Discord, as bot/service.py runs it."""

    platform = PLATFORM

    def __init__(self, settings: DiscordSettings | None = None) -> None:
        self.settings = settings or read_settings(DiscordSettings)
        self._client: BriefbotClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped = False

    @property
    def configured(self) -> bool:
        return self.settings.configured

    def check(self) -> None:
        token_of(self.settings)

    def channel(self, value: str) -> str:
        """A schedule's channel: a Discord channel id, a number."""
        if not value.isdigit():
            raise ValueError("a channel id (a number)")
        return value

    def run(
        self,
        conversation: Conversation,
        on_start: Callable[[Callable[[str, Briefing | str], None]], None],
    ) -> None:
        def started(client: BriefbotClient) -> None:
            self._client, self._loop = client, asyncio.get_running_loop()
            if self._stopped:  # stopped while connecting
                self._loop.create_task(client.close())
            on_start(client.threadsafe_poster())

        try:
            asyncio.run(run(self.settings, conversation, started))
        except KeyboardInterrupt:
            pass

    def stop(self) -> None:
        """Close the client on its own loop: `run` then returns."""
        self._stopped = True
        if self._client is not None and self._loop is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(10.0)
