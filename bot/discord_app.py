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
import contextlib
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands

from bot.render_discord import answer_embeds, briefing_embeds, message_groups, plain, thread_name
from retrieval.answering.timewindow import parse_moment
from retrieval.errors import BriefbotError, SettingsError
from retrieval.feedback import FeedbackStore

if TYPE_CHECKING:
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.models import Answer, Briefing

log = logging.getLogger(__name__)

# Article text is untrusted: nothing the bot sends may ping anyone, whatever it contains.
NO_MENTIONS = discord.AllowedMentions.none()
# A vote button's custom id: "briefbot:vote:up:<key>", 33 characters of Discord's 100.
VOTE_PREFIX = "briefbot:vote"
VOTE_TEMPLATE = rf"{VOTE_PREFIX}:(?P<direction>up|down):(?P<key>[0-9a-f]{{16}})"
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
        store = getattr(interaction.client, "feedback_store", None)
        try:
            if store is None:
                raise BriefbotError("Votes are not being recorded right now.")
            await asyncio.to_thread(
                store.vote_on,
                self.key,
                platform=PLATFORM,
                user_id=str(interaction.user.id),
                vote=self.vote,
            )
        except Exception as exc:  # discord.py would only log it: the user hears back here
            await send_ephemeral(interaction, user_message(exc))
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
        # briefbot never joins voice: the warnings that voice libraries are missing are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
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
        if self.feedback_store is not None:
            # Buttons under answers sent before this start (or by another process) work too.
            self.add_dynamic_items(VoteButton)
        guild_id = self.settings.discord_guild_id
        if self.sync_guild_on_start and guild_id is not None:
            names = await register(self, guild_id)
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

    async def feedback_view(self, answer: Answer) -> discord.ui.View | None:
        """👍 / 👎 for `answer`, which is kept in the feedback store for the votes to come."""
        if self.feedback_store is None:
            return None
        article_ids = list(dict.fromkeys(c.article_id for c in answer.citations))
        key = await asyncio.to_thread(
            self.feedback_store.remember, answer.question, answer.answer, article_ids
        )
        return vote_buttons(key)

    # -- app commands ---------------------------------------------------------------------
    async def answer_interaction(self, interaction: discord.Interaction, question: str) -> None:
        question = self._engine().check_question(question)  # refused at once, ephemerally
        await interaction.response.defer(thinking=True)
        answer = await self.ask(question, now=interaction.created_at)
        view = await self.feedback_view(answer)
        await self.send_followups(interaction, answer_embeds(answer), view)

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
            view = await self.feedback_view(answer)
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
        with discord_errors():
            await client.start(token)


@contextlib.asynccontextmanager
async def _logged_in(settings: Settings) -> AsyncIterator[BriefbotClient]:
    """A client logged in over HTTP only (no gateway), for housekeeping such as syncing."""
    token = token_of(settings)
    client = build_client(settings, None, None)
    client.sync_guild_on_start = False  # housekeeping does exactly what it is told to
    async with client:
        with discord_errors():
            await client.login(token)
            yield client


async def sync(
    settings: Settings, engine: Engine | None = None, guild_id: int | None = None
) -> list[str]:
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


async def clear(settings: Settings, places: Sequence[int | None]) -> dict[int | None, list[str]]:
    """Remove the app commands registered in each place (None: the global set, else a
    server's id); returns the names removed from each."""
    removed: dict[int | None, list[str]] = {}
    async with _logged_in(settings) as client:
        for place in places:
            removed[place] = await unregister(client, place)
    return removed
