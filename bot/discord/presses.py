"""The buttons under an answer, pressed: 👍 / 👎 recorded in the feedback store. Each is a
`discord.ui.DynamicItem` found by its custom id, so that a press works in any process with the
same data directory, after restarts too."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord

from bot.discord import PLATFORM
from bot.discord.send import send_ephemeral
from bot.discord.translate import conversation_of
from retrieval import BriefbotError

# A vote button's custom id: "briefbot:vote:up:<key>", 33 characters of Discord's 100.
VOTE_PREFIX = "briefbot:vote"
VOTE_TEMPLATE = rf"{VOTE_PREFIX}:(?P<direction>up|down):(?P<key>[0-9a-f]{{16}})"


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
        conversation = conversation_of(interaction.client)
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
