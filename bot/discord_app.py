"""The Discord adapter: /ask and /brief, mentions answered in a thread, DMs, 👍 / 👎 feedback.

The engine is synchronous and CPU-bound, so it always runs in a worker thread
(`asyncio.to_thread`): the event loop keeps the gateway's heartbeat and other users' requests
going meanwhile. Interactions are acknowledged first (deferred: Discord's "thinking…") and
answered after, because Discord gives an app 3 seconds to respond.

Nothing here needs the privileged message-content intent: Discord sends a message's content to
a bot when the message mentions it and in DMs, which are the only messages the bot reads.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from bot.render_discord import answer_embeds, briefing_embeds, message_groups, plain, thread_name
from retrieval.errors import BriefbotError, SettingsError
from retrieval.feedback import FeedbackStore
from retrieval.timewindow import parse_moment

if TYPE_CHECKING:
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.models import Answer, Briefing

log = logging.getLogger(__name__)

# Article text is untrusted: nothing the bot sends may ping anyone, whatever it contains.
NO_MENTIONS = discord.AllowedMentions.none()
FEEDBACK_TIMEOUT_S = 24 * 60 * 60  # the 👍 / 👎 buttons work for a day (and not across restarts)
THREAD_HISTORY = 50  # messages looked back through for a thread's earlier question
PLATFORM = "discord"


def new_error_id() -> str:
    return uuid.uuid4().hex[:8]


def apology(error_id: str) -> str:
    return f"Sorry, something went wrong on my side (error `{error_id}`). Please try again later."


def user_message(error: BaseException) -> str:
    """What the user is told: a BriefbotError in its own words, anything else as an apology.

    Anything else is logged here with its traceback and an id the user can quote.
    """
    if isinstance(error, BriefbotError):
        return plain(str(error))
    error_id = new_error_id()
    log.error("error %s: %s", error_id, type(error).__name__, exc_info=error)
    return apology(error_id)


def parse_since(value: str | None, now: datetime) -> datetime:
    """`24h`, `7d`, `2w`, or an ISO date / date-time; the default is the last 24 hours."""
    return parse_moment((value or "").strip() or "24h", now, "since")


# -- feedback -----------------------------------------------------------------------------
class FeedbackView(discord.ui.View):
    """👍 / 👎 under an answer; each vote lands in the store the Slack adapter uses too."""

    def __init__(
        self,
        store: FeedbackStore,
        answer: Answer,
        timeout: float | None = FEEDBACK_TIMEOUT_S,
    ) -> None:
        super().__init__(timeout=timeout)
        self.store = store
        self.question = answer.question
        self.answer = answer.answer
        self.article_ids = list(dict.fromkeys(c.article_id for c in answer.citations))
        self.voters: set[int] = set()

    @discord.ui.button(emoji="👍", style=discord.ButtonStyle.secondary)
    async def helpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.vote(interaction, 1)

    @discord.ui.button(emoji="👎", style=discord.ButtonStyle.secondary)
    async def unhelpful(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.vote(interaction, -1)

    async def vote(self, interaction: discord.Interaction, vote: int) -> None:
        user_id = interaction.user.id
        if user_id in self.voters:
            await interaction.response.send_message(
                "You have already rated this answer.", ephemeral=True
            )
            return
        self.voters.add(user_id)  # before the write, so that a double click counts once
        try:
            await asyncio.to_thread(
                self.store.record,
                platform=PLATFORM,
                user_id=str(user_id),
                vote=vote,
                question=self.question,
                answer=self.answer,
                article_ids=self.article_ids,
            )
        except Exception:
            self.voters.discard(user_id)
            raise
        await interaction.response.send_message(
            "Thanks: noted 👍" if vote > 0 else "Thanks: noted 👎", ephemeral=True
        )

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item[Any]
    ) -> None:
        await send_ephemeral(interaction, user_message(error))


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A short message only the user sees, wherever the interaction has got to.

    After a (public) defer, Discord turns the first follow-up into the "thinking…" message and
    ignores its ephemeral flag; so that message is deleted first, unless an answer is in it.
    """
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


# -- the client ---------------------------------------------------------------------------
class BriefbotClient(discord.Client):
    """A Discord client that owns its command tree and answers with the engine."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine | None,
        feedback_store: FeedbackStore | None,
    ) -> None:
        # Default intents: guilds, guild and DM messages. No privileged intent is needed.
        super().__init__(intents=discord.Intents.default(), allowed_mentions=NO_MENTIONS)
        self.settings = settings
        self.engine = engine
        self.feedback_store = feedback_store
        self.tree = app_commands.CommandTree(self)
        self.tree.on_error = self.on_app_command_error  # type: ignore[method-assign]
        self.tree.add_command(ask_command)
        self.tree.add_command(brief_command)
        # DISCORD_GUILD_ID: during set-up, sync to that one server at start (instant there).
        self.sync_guild_on_start = settings.discord_guild_id is not None
        self.on_start: Callable[[BriefbotClient], None] | None = None  # e.g. start schedules

    async def setup_hook(self) -> None:
        guild_id = self.settings.discord_guild_id
        if self.sync_guild_on_start and guild_id is not None:
            names = await sync_tree(self.tree, guild_id)
            log.info("synced %s to guild %s", ", ".join(names), guild_id)
        if self.on_start is not None:
            self.on_start(self)

    def threadsafe_poster(self, timeout: float = 120.0) -> Callable[[Any, Briefing | str], None]:
        """A function that posts a briefing to a channel id from another thread (the
        scheduler's), running the send on this client's event loop and waiting for it."""
        loop = asyncio.get_running_loop()

        def post(channel_id: Any, briefing: Briefing | str) -> None:
            async def send() -> None:
                channel = self.get_channel(int(channel_id)) or await self.fetch_channel(
                    int(channel_id)
                )
                await post_briefing(channel, briefing)  # type: ignore[arg-type]

            asyncio.run_coroutine_threadsafe(send(), loop).result(timeout)

        return post

    async def on_ready(self) -> None:
        log.info("connected to Discord as %s (%s)", self.user, getattr(self.user, "id", "?"))

    # -- running the engine ---------------------------------------------------------------
    def _engine(self) -> Engine:
        if self.engine is None:
            raise RuntimeError("this client was built without an engine")
        return self.engine

    async def ask(self, question: str, now: datetime, context: str = "") -> Answer:
        return await asyncio.to_thread(self._engine().ask, question, now=now, context=context)

    def feedback_view(self, answer: Answer) -> discord.ui.View | None:
        if self.feedback_store is None:
            return None
        return FeedbackView(self.feedback_store, answer)

    # -- app commands ---------------------------------------------------------------------
    async def answer_interaction(self, interaction: discord.Interaction, question: str) -> None:
        question = self._engine().check_question(question)  # refused at once, ephemerally
        await interaction.response.defer(thinking=True)
        answer = await self.ask(question, now=interaction.created_at)
        await self.send_followups(interaction, answer_embeds(answer), self.feedback_view(answer))

    async def brief_interaction(
        self, interaction: discord.Interaction, topic: str | None, since: str | None
    ) -> None:
        now = interaction.created_at
        start = parse_since(since, now)
        topic = " ".join(topic.split()) if topic else None
        await interaction.response.defer(thinking=True)
        briefing = await asyncio.to_thread(self._engine().brief, start, now, topic=topic or None)
        await self.send_followups(interaction, briefing_embeds(briefing), None)

    async def send_followups(
        self,
        interaction: discord.Interaction,
        embeds: list[discord.Embed],
        view: discord.ui.View | None,
    ) -> None:
        """One follow-up per group of embeds, in order; the buttons go under the last."""
        groups = message_groups(embeds)
        for k, group in enumerate(groups):
            extra: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
            await interaction.followup.send(embeds=group, allowed_mentions=NO_MENTIONS, **extra)
            interaction.extras["answered"] = True

    async def on_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        await send_ephemeral(interaction, user_message(original))

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
        if message.author.bot or self.user is None:
            return
        if message.guild is None:
            await self.answer_message(message, message.channel, context="")
        elif self.addressed(message):
            if isinstance(message.channel, discord.Thread):
                context = await self.earlier_questions(message.channel, message)
                await self.answer_message(message, message.channel, context)
            else:
                await self.answer_message(message, None, context="")

    async def answer_message(
        self,
        message: discord.Message,
        target: discord.abc.Messageable | None,
        context: str,
    ) -> None:
        """Answer in `target`, or (None) in a new thread started from the message."""
        try:
            question = self._engine().check_question(self.question_in(message))
            if target is None:
                target = await self.open_thread(message, question)
            async with target.typing():
                answer = await self.ask(question, now=message.created_at, context=context)
            groups = message_groups(answer_embeds(answer))
            view = self.feedback_view(answer)
            for k, group in enumerate(groups):
                extra: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
                await target.send(embeds=group, allowed_mentions=NO_MENTIONS, **extra)
        except Exception as exc:  # shown to the user; logged with a traceback unless theirs
            await self._send_quietly(target or message.channel, user_message(exc))

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

    async def _send_quietly(
        self,
        target: discord.abc.Messageable,
        text: str,
    ) -> None:
        try:
            await target.send(plain(text), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.exception("could not send an error message to %s", getattr(target, "id", target))

    async def earlier_questions(self, thread: discord.Thread, message: discord.Message) -> str:
        """The thread's earlier question(s): the one it was started from, and the latest since."""
        found: list[str] = []
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
        if starter is not None and not starter.author.bot and self.addressed(starter):
            found.append(self.question_in(starter))
        try:
            async for earlier in thread.history(limit=THREAD_HISTORY, before=message):
                if not earlier.author.bot and self.addressed(earlier):
                    found.append(self.question_in(earlier))
                    break
        except discord.HTTPException:
            log.warning("could not read the history of thread %s", thread.id, exc_info=True)
        return " ".join(dict.fromkeys(q for q in found if q))


async def post_briefing(channel: discord.abc.Messageable, briefing: Briefing | str) -> None:
    """Post a scheduled briefing to a channel; a string ("Nothing new…") is one plain line."""
    if isinstance(briefing, str):
        await channel.send(plain(briefing), allowed_mentions=NO_MENTIONS)
        return
    for group in message_groups(briefing_embeds(briefing)):
        await channel.send(embeds=group, allowed_mentions=NO_MENTIONS)


# -- the app commands: typed coroutines whose docstring is the description -----------------
@app_commands.command(name="ask")
@app_commands.describe(question="What you want to know, in plain words")
async def ask_command(interaction: discord.Interaction, question: str) -> None:
    """Ask a question about the news; the answer cites the passages it rests on."""
    client: BriefbotClient = interaction.client  # type: ignore[assignment]
    await client.answer_interaction(interaction, question)


@app_commands.command(name="brief")
@app_commands.describe(
    topic="Only stories about this (optional)",
    since="How far back: 24h, 7d, 2w or a date (YYYY-MM-DD); 24h if left out",
)
async def brief_command(
    interaction: discord.Interaction, topic: str | None = None, since: str | None = None
) -> None:
    """A briefing of the latest stories, each with its source."""
    client: BriefbotClient = interaction.client  # type: ignore[assignment]
    await client.brief_interaction(interaction, topic, since)


# -- lifecycle ----------------------------------------------------------------------------
def build_client(
    settings: Settings,
    engine: Engine | None,
    feedback_store: FeedbackStore | None,
) -> BriefbotClient:
    """The client, with its commands; without a feedback store there are no 👍 / 👎 buttons."""
    return BriefbotClient(settings, engine, feedback_store)


def token_of(settings: Settings) -> str:
    token = settings.discord_token.get_secret_value().strip()
    if not token:
        raise SettingsError(
            "DISCORD_TOKEN is not set: create a bot in the Discord developer portal and set it"
            " (see docs/discord.md)."
        )
    return token


async def sync_tree(tree: app_commands.CommandTree, guild_id: int | None) -> list[str]:
    if guild_id is None:
        synced = await tree.sync()
    else:
        guild = discord.Object(id=guild_id)
        tree.copy_global_to(guild=guild)
        synced = await tree.sync(guild=guild)
    return [c.name for c in synced]


def _warm_up(engine: Engine) -> None:
    """Index the seeds if nothing is indexed, and load the index before the first question."""
    engine.ensure_seeded()
    engine.snapshot()


async def run(
    settings: Settings,
    engine: Engine,
    on_start: Callable[[BriefbotClient], None] | None = None,
) -> None:
    """Connect to Discord and answer until stopped (Ctrl-C). `on_start(client)` runs once
    logged in, on the event loop (the CLI starts the scheduled briefings there)."""
    token = token_of(settings)
    store = FeedbackStore.in_data_dir(settings.data_dir)
    await asyncio.to_thread(_warm_up, engine)
    client = build_client(settings, engine, store)
    client.on_start = on_start
    async with client:
        try:
            await client.start(token)
        except discord.LoginFailure:
            raise SettingsError("DISCORD_TOKEN: Discord rejected this token.") from None


async def sync(
    settings: Settings, engine: Engine | None = None, guild_id: int | None = None
) -> list[str]:
    """Register the app commands with Discord: in one server (at once) or globally.

    Returns the names of the commands synced. Global changes can take a while to show.
    """
    token = token_of(settings)
    client = build_client(settings, engine, None)
    client.sync_guild_on_start = False  # this call syncs exactly where it is told to
    async with client:
        try:
            await client.login(token)
        except discord.LoginFailure:
            raise SettingsError("DISCORD_TOKEN: Discord rejected this token.") from None
        names = await sync_tree(client.tree, guild_id)
    log.info("synced %s %s", ", ".join(names), f"to guild {guild_id}" if guild_id else "globally")
    return names
