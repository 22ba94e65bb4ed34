"""The buttons under an answer or briefing, pressed: 👍 / 👎, and Share. Each is a
`discord.ui.DynamicItem` found by its custom id (rendered in bot/discord/render.py), so that a
press works in any process with the same data directory, after restarts too. What a press does
is the conversation's (`vote`, `share`); `PressReply` carries out what it says.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import discord

from bot.chat import Buttons, Press, Pressed
from bot.conversation import NOT_RECORDING
from bot.discord import PLATFORM
from bot.discord.handling import conversation_of, handling
from bot.discord.render import (
    SHARE_TEMPLATE,
    VOTE_TEMPLATE,
    answer_embeds,
    briefing_embeds,
    share_button,
    shared_line,
    vote_button,
)
from bot.discord.send import NO_MENTIONS, OnLoop, send_ephemeral, send_groups
from retrieval import Answer, BriefbotError, Briefing

Button = discord.ui.Button[discord.ui.View]


class VotePress(discord.ui.DynamicItem[Button], template=VOTE_TEMPLATE):
    """👍 or 👎 pressed: recorded once per person in the feedback store (Slack's votes go there
    too), and the presser told."""

    def __init__(self, button: Button) -> None:
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> VotePress:
        return cls(vote_button(match["key"], 1 if match["direction"] == "up" else -1))

    async def callback(self, interaction: discord.Interaction) -> None:
        async with handling(interaction):
            match = self.template.fullmatch(self.custom_id)
            assert match is not None  # it was found by this template
            conversation = conversation_of(interaction.client)
            if conversation is None:
                raise BriefbotError(NOT_RECORDING)
            # Only the presser sees what follows; a vote on an answer this process no longer
            # holds may ask the engine again, which can take longer than Discord's 3 seconds.
            await interaction.response.defer(ephemeral=True, thinking=True)
            press = Press(PLATFORM, str(interaction.user.id), match["key"])
            vote = 1 if match["direction"] == "up" else -1
            reply = PressReply(interaction, asyncio.get_running_loop())
            await asyncio.to_thread(conversation.vote, press, vote, reply)


class SharePress(discord.ui.DynamicItem[Button], template=SHARE_TEMPLATE):
    """Share pressed: the answer or briefing posted for everyone in the channel, and the
    presser's own copy replaced by a word that it was."""

    def __init__(self, button: Button) -> None:
        super().__init__(button)

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> SharePress:
        return cls(share_button(match["key"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async with handling(interaction):
            match = self.template.fullmatch(self.custom_id)
            assert match is not None
            conversation = conversation_of(interaction.client)
            if conversation is None:
                raise BriefbotError("Sharing is not possible right now.")
            await interaction.response.defer()  # a button's: no "thinking…", nothing sent yet
            press = Press(PLATFORM, str(interaction.user.id), match["key"])
            reply = PressReply(interaction, asyncio.get_running_loop())
            await asyncio.to_thread(conversation.share, press, reply)


def buttons_view(buttons: Buttons | None) -> discord.ui.View | None:
    """The buttons the conversation put under an answer or briefing, each handled by its
    press (above) in whatever process receives it: no timeout, fixed custom ids."""
    if buttons is None or not (buttons.vote or buttons.share):
        return None
    view = discord.ui.View(timeout=None)
    if buttons.vote:
        view.add_item(VotePress(vote_button(buttons.key, 1)))
        view.add_item(VotePress(vote_button(buttons.key, -1)))
    if buttons.share:
        view.add_item(SharePress(share_button(buttons.key)))
    return view


class PressReply(OnLoop, Pressed):
    """Replies to a button press (deferred): a word only the presser sees, a share posted for
    the channel through the interaction's follow-up, and the message with the button edited."""

    def __init__(self, interaction: discord.Interaction, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.interaction = interaction

    def tell(self, text: str) -> None:
        self._on_loop(send_ephemeral(self.interaction, text))

    def post(self, item: Answer | Briefing, buttons: Buttons | None, shared_by: str) -> None:
        embeds = briefing_embeds(item) if isinstance(item, Briefing) else answer_embeds(item)
        send = self.interaction.followup.send
        view = buttons_view(buttons)
        self._on_loop(send_groups(send, embeds, view, content=shared_line(shared_by)))

    def replace(self, text: str) -> None:
        self._on_loop(
            self.interaction.edit_original_response(
                content=text, embeds=[], view=None, allowed_mentions=NO_MENTIONS
            )
        )
