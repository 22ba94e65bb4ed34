"""The app commands, /ask and /brief, and their command tree. Each is checked at once (its
channel, its question or window: refused ephemerally), acknowledged by an ephemeral deferral
(Discord gives an app 3 seconds; only whoever typed it sees the answer, which can be shared),
then answered by the conversation in a worker thread. An error is told to the user, by the
conversation's policy (bot/discord/handling.py).
"""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands

from bot.conversation import Conversation, window_start
from bot.discord.handling import conversation_of, ended, handling, tell_failure
from bot.discord.replies import InteractionReply
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


def command_tree(client: discord.Client) -> BriefbotTree:
    """The client's command tree, with /ask and /brief."""
    tree = BriefbotTree(client)
    tree.add_command(ask_command)
    tree.add_command(brief_command)
    return tree
