"""The app commands, /ask, /brief, /follow, /following and /unfollow, and their command tree.
Each is checked at once (its channel, its question, window or digest: refused ephemerally),
acknowledged by a deferral (Discord gives an app 3 seconds), then answered by the conversation
in a worker thread. /ask's and /brief's deferral is ephemeral: only whoever typed it sees the
answer, which can be shared. Following is a channel-wide act: the follow commands' deferral,
and what they did, are for everyone in the channel; a mistake is still told only to whoever
typed it. An error is told to the user, by the conversation's policy (bot/discord/handling.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
from discord import app_commands

from bot.conversation import DIGESTS, Conversation, follow_request, window_start
from bot.discord.handling import conversation_of, ended, handling, tell_failure
from bot.discord.replies import ChannelReply, InteractionReply
from bot.discord.translate import command_message


class BriefbotTree(app_commands.CommandTree[discord.Client]):
    """The command tree: an error before a command's own handling (an option Discord sent
    that it cannot read, a command it does not know) is told to the user too."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await tell_failure(interaction, getattr(error, "original", error))
        ended(interaction)


def _conversation(interaction: discord.Interaction) -> Conversation:
    conversation = conversation_of(interaction.client)
    if conversation is None:
        raise RuntimeError("this client was built without a conversation")
    return conversation


async def answer_interaction(interaction: discord.Interaction, question: str) -> None:
    conversation = _conversation(interaction)
    message = command_message(interaction, question)
    conversation.check_channel(message)  # refused at once, ephemerally
    message = command_message(interaction, conversation.check_question(question))
    await interaction.response.defer(ephemeral=True, thinking=True)
    reply = InteractionReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.answer, message, reply)


async def brief_interaction(
    interaction: discord.Interaction, topic: str | None, since: str | None
) -> None:
    conversation = _conversation(interaction)
    conversation.check_channel(command_message(interaction, ""))
    now = interaction.created_at
    # Both refused at once, ephemerally: a window that is no window, a topic too long.
    request = conversation.brief_request(topic, window_start(since, now), now)
    await interaction.response.defer(ephemeral=True, thinking=True)
    reply = InteractionReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.brief, request, reply, True)


async def follow_interaction(
    interaction: discord.Interaction, topic: str, digest: str | None, since: str | None
) -> None:
    conversation = _conversation(interaction)
    message = command_message(interaction, "")
    conversation.check_channel(message)
    request = follow_request(topic, digest, since)  # a digest or date it cannot read: at once
    await interaction.response.defer(thinking=True)  # for everyone in the channel
    reply = ChannelReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.follow, message, request, reply)


async def following_interaction(interaction: discord.Interaction) -> None:
    conversation = _conversation(interaction)
    message = command_message(interaction, "")
    conversation.check_channel(message)
    await interaction.response.defer(thinking=True)
    reply = ChannelReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.following, message, reply)


async def unfollow_interaction(interaction: discord.Interaction, topic: str) -> None:
    conversation = _conversation(interaction)
    message = command_message(interaction, "")
    conversation.check_channel(message)
    await interaction.response.defer(thinking=True)
    reply = ChannelReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.unfollow, message, topic, reply)


# -- the app commands: typed coroutines whose docstring is the description -----------------
@app_commands.command(name="ask")
@app_commands.describe(question="What you want to know, in plain words")
async def ask_command(interaction: discord.Interaction, question: str) -> None:
    """Ask a question about the news; the answer cites the passages it rests on."""
    async with handling(interaction):
        await answer_interaction(interaction, question)


@app_commands.command(name="brief")
@app_commands.describe(
    topic="Only stories about this (optional)",
    since="How far back: 24h, 7d, 2w or a date (YYYY-MM-DD); 24h if left out",
)
async def brief_command(
    interaction: discord.Interaction, topic: str | None = None, since: str | None = None
) -> None:
    """A briefing of the latest stories, each with its source."""
    async with handling(interaction):
        await brief_interaction(interaction, topic, since)


@app_commands.command(name="follow")
@app_commands.describe(
    topic="The story, in a few words: Griner trial, UK energy price cap",
    digest="Gather the posts into an hourly or daily digest; as it happens if left out",
    since="Only articles published from this date on (YYYY-MM-DD)",
)
@app_commands.choices(
    digest=[app_commands.Choice(name=d, value=d) for d in DIGESTS],
)
async def follow_command(
    interaction: discord.Interaction,
    topic: str,
    digest: str | None = None,
    since: str | None = None,
) -> None:
    """Follow a story: its new developments are posted in this channel, in a thread."""
    async with handling(interaction):
        await follow_interaction(interaction, topic, digest, since)


@app_commands.command(name="following")
async def following_command(interaction: discord.Interaction) -> None:
    """The stories this channel follows, and when each last posted."""
    async with handling(interaction):
        await following_interaction(interaction)


@app_commands.command(name="unfollow")
@app_commands.describe(topic="The story, as /following lists it")
async def unfollow_command(interaction: discord.Interaction, topic: str) -> None:
    """Stop following a story in this channel."""
    async with handling(interaction):
        await unfollow_interaction(interaction, topic)


COMMANDS: tuple[app_commands.Command[Any, ..., None], ...] = (
    ask_command,
    brief_command,
    follow_command,
    following_command,
    unfollow_command,
)


def command_tree(client: discord.Client) -> BriefbotTree:
    """The client's command tree, with every command of `COMMANDS`."""
    tree = BriefbotTree(client)
    for command in COMMANDS:
        tree.add_command(command)
    return tree
