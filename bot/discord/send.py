"""Sending to Discord: embeds grouped into as many messages as its limits need, a scheduled
briefing's post, and a short message only the user sees. Nothing sent may ping anyone."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

import discord

from bot.discord.render import briefing_embeds, message_groups, plain
from retrieval import Briefing

log = logging.getLogger(__name__)

# Article text is untrusted: nothing the bot sends may ping anyone, whatever it contains.
NO_MENTIONS = discord.AllowedMentions.none()


async def send_groups(
    send: Callable[..., Coroutine[Any, Any, object]],
    embeds: list[discord.Embed],
    view: discord.ui.View | None = None,
) -> None:
    """One message per group of embeds that Discord's limits allow, in order; the buttons go
    under the last. `send` is a channel's or an interaction's follow-up send."""
    groups = message_groups(embeds)
    for k, group in enumerate(groups):
        extra: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
        await send(embeds=group, allowed_mentions=NO_MENTIONS, **extra)


async def replace_with_groups(
    edit: Callable[..., Coroutine[Any, Any, object]],
    send: Callable[..., Coroutine[Any, Any, object]],
    embeds: list[discord.Embed],
    view: discord.ui.View | None = None,
) -> None:
    """Like `send_groups`, but the first group replaces a message already sent (an answer
    streamed as it was written) with `edit`; the buttons go under the last."""
    groups = message_groups(embeds)
    for k, group in enumerate(groups):
        extra: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
        if k == 0:
            await edit(content=None, embeds=group, allowed_mentions=NO_MENTIONS, **extra)
        else:
            await send(embeds=group, allowed_mentions=NO_MENTIONS, **extra)


async def post_briefing(channel: discord.abc.Messageable, briefing: Briefing | str) -> None:
    """Post a scheduled briefing to a channel; a string ("Nothing new…") is one plain line."""
    if isinstance(briefing, str):
        await channel.send(plain(briefing), allowed_mentions=NO_MENTIONS)
        return
    await send_groups(channel.send, briefing_embeds(briefing))


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A short message only the user sees, wherever the interaction has got to.

    After a (public) defer, Discord turns the first follow-up into the "thinking…" message and
    ignores its ephemeral flag; so that message is deleted first, unless an answer is in it.
    """
    text = plain(text)
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
