"""The conversation's replies, sent to Discord: to a mention (in a thread started from it) or a
DM (`MessageReply`), to a slash command (`InteractionReply`), or to a command whose outcome
the whole channel shares (`ChannelReply`). The conversation runs in a worker thread; each
reply's sends run on the client's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord

from bot.chat import Announce, Buttons, Earlier, Reply
from bot.discord.presses import buttons_view
from bot.discord.render import (
    CONTENT_LIMIT,
    answer_embeds,
    briefing_embeds,
    escape,
    plain,
    split_text,
    streamed_text,
)
from bot.discord.send import (
    NO_MENTIONS,
    OnLoop,
    replace_with_groups,
    send_ephemeral,
    send_groups,
)
from bot.discord.translate import earlier, open_thread, question_in
from retrieval import Answer, Briefing

log = logging.getLogger(__name__)

# Between two edits of an answer streamed as it is written: Discord allows five edits of a
# channel's messages in five seconds.
STREAM_INTERVAL_S = 1.2
BLANK_LINE = "\u200b"  # a message needs some content


class MessageReply(OnLoop, Reply):
    """Replies to a mention (in a thread started from it) or a DM (in place). A generated
    answer is streamed: one message, edited as sentences pass the verifier, then replaced by
    the answer's embeds."""

    stream_interval = STREAM_INTERVAL_S
    streamed: discord.Message | None = None

    def __init__(
        self,
        me: discord.abc.User | None,
        message: discord.Message,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(loop)
        self.me = me  # the bot
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
        question = question_in(self.me, self.message)
        if self.target is None and question:  # a thread needs a name: none for an empty one
            self.target = await open_thread(self.message, question)
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

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        view = buttons_view(buttons)
        where = self.target or self.message.channel
        if self.streamed is not None:
            edit = self.streamed.edit
            self._on_loop(replace_with_groups(edit, where.send, answer_embeds(answer), view))
            return
        self._on_loop(send_groups(where.send, answer_embeds(answer), view))

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        where = self.target or self.message.channel
        self._on_loop(send_groups(where.send, briefing_embeds(briefing), buttons_view(buttons)))

    def notice(self, text: str) -> None:
        self._on_loop(self._notice(self.target or self.message.channel, text))

    def decline(self, text: str) -> None:
        """A reply to the message, where it was sent (Discord has no message only one person
        sees, outside interactions)."""
        self._on_loop(self._decline(text))

    async def _decline(self, text: str) -> None:
        try:
            await self.message.reply(plain(text), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.exception("could not decline in %s", self.message.channel.id)

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
        return self._on_loop(earlier(self.me, channel, self.message))


class InteractionReply(OnLoop, Reply):
    """Replies to a slash command, seen only by whoever typed it: follow-ups after the
    (ephemeral) deferral, "thinking…", the first of which takes its place. A generated answer is
    streamed into the deferred response, edited as sentences pass the verifier, then replaced by
    the answer's embeds."""

    stream_interval = STREAM_INTERVAL_S
    streamed = False

    def __init__(self, interaction: discord.Interaction, loop: asyncio.AbstractEventLoop) -> None:
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

    async def _follow_up(self, embeds: list[discord.Embed], view: discord.ui.View | None) -> None:
        send = self.interaction.followup.send
        if self.streamed:
            edit = self.interaction.edit_original_response
            await replace_with_groups(edit, send, embeds, view, ephemeral=True)
        else:
            await send_groups(send, embeds, view, ephemeral=True)

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        self._on_loop(self._follow_up(answer_embeds(answer), buttons_view(buttons)))

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        self._on_loop(self._follow_up(briefing_embeds(briefing), buttons_view(buttons)))

    def notice(self, text: str) -> None:
        self._on_loop(send_ephemeral(self.interaction, text))

    def decline(self, text: str) -> None:
        self.notice(text)

    def history(self) -> list[Earlier]:
        return []  # a command has no thread


class ChannelReply(OnLoop, Announce):
    """Replies to a command whose outcome the whole channel shares (`/follow`), deferred for
    everyone to see ("thinking…"): what it did replaces the deferral; a mistake is told to
    whoever typed it alone, the deferral deleted first (its visibility was fixed when it was
    made)."""

    def __init__(self, interaction: discord.Interaction, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.interaction = interaction

    def announce(self, text: str) -> None:
        self._on_loop(self._announce(text))

    async def _announce(self, text: str) -> None:
        first, *rest = split_text(escape(text), CONTENT_LIMIT) or [BLANK_LINE]
        edit = self.interaction.edit_original_response
        await edit(content=first, allowed_mentions=NO_MENTIONS)
        for piece in rest:
            await self.interaction.followup.send(piece, allowed_mentions=NO_MENTIONS)

    def tell(self, text: str) -> None:
        self._on_loop(self._tell(text))

    async def _tell(self, text: str) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.interaction.delete_original_response()
        await send_ephemeral(self.interaction, text)
