"""The Discord client: it owns its command tree (bot/discord/commands.py) and the buttons'
handlers (bot/discord/presses.py), and hands mentions and DMs to the conversation.

The conversation (and the engine in it) is synchronous and CPU-bound, so it always runs in a
worker thread (`asyncio.to_thread`); its replies come back to the event loop to be sent. The loop
keeps the gateway's heartbeat and other users' requests going meanwhile.

Nothing here needs the privileged message-content intent: Discord sends a message's content to
a bot when the message mentions it and in DMs, which are the only messages the bot reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import aiohttp
import discord

from bot.chat import Outbox
from bot.conversation import Conversation
from bot.discord import PLATFORM
from bot.discord.commands import command_tree
from bot.discord.handling import Handled
from bot.discord.presses import SharePress, VotePress
from bot.discord.registration import register
from bot.discord.replies import MessageReply
from bot.discord.send import NO_MENTIONS, channel_of, post_briefing, post_follow
from bot.discord.settings import DiscordSettings
from bot.discord.translate import addressed, message_of
from retrieval import Briefing, FollowPost, Metrics

log = logging.getLogger(__name__)

# The statuses after which discord.py's HTTP client waits and sends the request again.
RETRIED_STATUSES = frozenset({429, 500, 502, 504, 524})


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
        self.tree = command_tree(self)
        self.handled = Handled()  # the messages and interactions whose handling has ended
        # DISCORD_GUILD_ID: during set-up, sync to that one server at start (instant there).
        self.sync_guild_on_start = settings.discord_guild_id is not None
        self.on_start: Callable[[BriefbotClient], None] | None = None  # e.g. start schedules

    async def setup_hook(self) -> None:
        # Buttons under answers sent before this start (or by another process) work too.
        if self.conversation is not None:
            self.add_dynamic_items(SharePress)
            if self.conversation.feedback is not None:
                self.add_dynamic_items(VotePress)
        guild_id = self.settings.discord_guild_id
        if self.sync_guild_on_start and guild_id is not None:
            names = await register(self.tree, guild_id)
            log.info("synced %s to guild %s", ", ".join(names), guild_id)
        if self.on_start is not None:
            self.on_start(self)

    def threadsafe_poster(self, timeout: float = 120.0) -> Callable[[str, Briefing | str], None]:
        """A function that posts a briefing to a channel id from another thread (the
        scheduler's), running the send on this client's event loop and waiting for it."""
        loop = asyncio.get_running_loop()

        def post(channel_id: str, briefing: Briefing | str) -> None:
            async def send() -> None:
                await post_briefing(await channel_of(self, channel_id), briefing)

            asyncio.run_coroutine_threadsafe(send(), loop).result(timeout)

        return post

    def outbox(self, timeout: float = 120.0) -> Outbox:
        """What the service posts unprompted from its threads (scheduled briefings, followed
        topics), each sent on this client's event loop and waited for."""
        loop = asyncio.get_running_loop()

        def follow(post: FollowPost) -> str | None:
            return asyncio.run_coroutine_threadsafe(post_follow(self, post), loop).result(timeout)

        return Outbox(briefing=self.threadsafe_poster(timeout), follow=follow)

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%s)", self.user, getattr(self.user, "id", "?"))

    async def on_message(self, message: discord.Message) -> None:
        try:
            await self._converse(message)
        finally:
            self.handled.end(message.id)

    async def _converse(self, message: discord.Message) -> None:
        """A mention or a DM to the conversation (answered once, where Discord is allowed)."""
        if message.author.bot or self.user is None or self.conversation is None:
            return
        if message.guild is not None and not addressed(self.user, message):
            return
        reply = MessageReply(self.user, message, asyncio.get_running_loop())
        await asyncio.to_thread(self.conversation.receive, message_of(self.user, message), reply)


def build_client(settings: DiscordSettings, conversation: Conversation | None) -> BriefbotClient:
    """The client, with its commands; without a conversation it only does housekeeping, and
    without a feedback store in the conversation no 👍 / 👎 is counted."""
    return BriefbotClient(settings, conversation)
