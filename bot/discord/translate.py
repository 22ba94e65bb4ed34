"""Discord's objects in the conversation's terms: a message or an interaction as a `Message`,
whether a message is addressed to the bot, its question, the earlier messages of its thread."""

from __future__ import annotations

import logging
import re

import discord

from bot.chat import Earlier, Message
from bot.discord import PLATFORM
from bot.discord.render import thread_name

log = logging.getLogger(__name__)

THREAD_HISTORY = 50  # messages looked back through for a thread's earlier questions


def message_of(me: discord.abc.User | None, message: discord.Message) -> Message:
    """A mention or a DM as the conversation's `Message` (a thread is a channel of its own on
    Discord: the channel it is in is its `parent_channel`)."""
    channel = message.channel
    in_thread = isinstance(channel, discord.Thread)
    return Message(
        platform=PLATFORM,
        channel=str(channel.id),
        id=str(message.id),
        user=str(message.author.id),
        text=question_in(me, message),
        sent_at=message.created_at,
        thread=str(channel.id) if in_thread else None,
        direct=message.guild is None,
        parent_channel=str(channel.parent_id) if isinstance(channel, discord.Thread) else None,
    )


def command_message(interaction: discord.Interaction, text: str) -> Message:
    """A slash command as the conversation's `Message`: only whoever typed it sees the reply."""
    channel = interaction.channel
    parent = channel.parent_id if isinstance(channel, discord.Thread) else None
    return Message(
        platform=PLATFORM,
        channel=str(interaction.channel_id),
        id=str(interaction.id),
        user=str(interaction.user.id),
        text=text,
        sent_at=interaction.created_at,
        private=True,
        parent_channel=str(parent) if parent else None,
    )


def addressed(me: discord.abc.User | None, message: discord.Message) -> bool:
    """A direct mention of the bot (or of its role), not @everyone or @here."""
    if me is None:
        return False
    if any(u.id == me.id for u in message.mentions):
        return True
    role = message.guild.self_role if message.guild else None
    return role is not None and role in message.role_mentions


def question_in(me: discord.abc.User | None, message: discord.Message) -> str:
    """The message's text without the mention(s) of the bot."""
    ids = [str(me.id)] if me else []
    role = message.guild.self_role if message.guild else None
    text = message.content
    for i in ids:
        text = re.sub(rf"<@!?{i}>", " ", text)
    if role is not None:
        text = text.replace(f"<@&{role.id}>", " ")
    return " ".join(text.split())


async def open_thread(message: discord.Message, question: str) -> discord.abc.Messageable:
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


async def earlier(
    me: discord.abc.User | None, thread: discord.Thread, message: discord.Message
) -> list[Earlier]:
    """The thread's earlier messages from people, oldest first: the one it was started from,
    then up to THREAD_HISTORY before `message`."""
    found: list[Earlier] = []
    starter = thread.starter_message
    if starter is None:
        # The starter shares the thread's id: in the parent channel, or (a forum post) in the
        # thread itself.
        parent = thread.parent
        where = parent if isinstance(parent, discord.TextChannel) else thread
        try:
            starter = await where.fetch_message(thread.id)
        except discord.HTTPException:
            starter = None  # a thread not started from a message, or one deleted since
    if starter is not None and not starter.author.bot:
        found.append(Earlier(question_in(me, starter), addressed(me, starter)))
    later: list[Earlier] = []
    try:
        async for m in thread.history(limit=THREAD_HISTORY, before=message):
            if not m.author.bot and (starter is None or m.id != starter.id):
                later.append(Earlier(question_in(me, m), addressed(me, m)))
    except discord.HTTPException:
        log.warning("could not read the history of thread %s", thread.id, exc_info=True)
    return found + later[::-1]
