"""The app commands, /ask and /brief, and their command tree: each is checked at once (refused
ephemerally), acknowledged by a deferral (Discord gives an app 3 seconds), then answered by the
conversation in a worker thread. An error in a command is told to the user, by the
conversation's policy."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands

from bot.conversation import Conversation, Message, window_start
from bot.discord import PLATFORM
from bot.discord.replies import InteractionReply
from bot.discord.send import send_ephemeral
from bot.discord.translate import conversation_of


class BriefbotTree(app_commands.CommandTree[discord.Client]):
    """The command tree: an error in a command is told to the user, by the conversation's
    policy."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        conversation = conversation_of(interaction.client)
        text = conversation.failure(original) if conversation else str(original)
        await send_ephemeral(interaction, text)


def _conversation(interaction: discord.Interaction) -> Conversation:
    conversation = conversation_of(interaction.client)
    if conversation is None:
        raise RuntimeError("this client was built without a conversation")
    return conversation


def _message(interaction: discord.Interaction, text: str) -> Message:
    return Message(
        platform=PLATFORM,
        channel=str(interaction.channel_id),
        id=str(interaction.id),
        user=str(interaction.user.id),
        text=text,
        sent_at=interaction.created_at,
    )


async def answer_interaction(interaction: discord.Interaction, question: str) -> None:
    conversation = _conversation(interaction)
    question = conversation.check_question(question)  # refused at once, ephemerally
    await interaction.response.defer(thinking=True)
    reply = InteractionReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.answer, _message(interaction, question), reply)


async def brief_interaction(
    interaction: discord.Interaction, topic: str | None, since: str | None
) -> None:
    conversation = _conversation(interaction)
    now = interaction.created_at
    # Both refused at once, ephemerally: a window that is no window, a topic too long.
    request = conversation.brief_request(topic, window_start(since, now), now)
    await interaction.response.defer(thinking=True)
    reply = InteractionReply(interaction, asyncio.get_running_loop())
    await asyncio.to_thread(conversation.brief, request, reply)


# -- the app commands: typed coroutines whose docstring is the description -----------------
@app_commands.command(name="ask")
@app_commands.describe(question="What you want to know, in plain words")
async def ask_command(interaction: discord.Interaction, question: str) -> None:
    """Ask a question about the news; the answer cites the passages it rests on."""
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
    await brief_interaction(interaction, topic, since)


def command_tree(client: discord.Client) -> BriefbotTree:
    """The client's command tree, with /ask and /brief."""
    tree = BriefbotTree(client)
    tree.add_command(ask_command)
    tree.add_command(brief_command)
    return tree
