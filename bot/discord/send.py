"""Sending to Discord: embeds grouped into as many messages as its limits need, a scheduled
briefing's post, a short message only the user sees, and sends made on the client's loop from
the conversation's worker thread. Nothing sent may ping anyone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import discord

from bot.discord.render import briefing_embeds, message_groups, plain
from retrieval import Briefing

log = logging.getLogger(__name__)

# Article text is untrusted: nothing the bot sends may ping anyone, whatever it contains.
NO_MENTIONS = discord.AllowedMentions.none()
REPLY_TIMEOUT_S = 120.0  # the most a reply may wait for the event loop to send it
T = TypeVar("T")


async def send_groups(
    send: Callable[..., Coroutine[Any, Any, object]],
    embeds: list[discord.Embed],
    view: discord.ui.View | None = None,
    content: str | None = None,
    **extra: Any,
) -> None:
    """One message per group of embeds that Discord's limits allow, in order: `content` above
    the first, the buttons under the last, `extra` (ephemeral=True) with each. `send` is a
    channel's or an interaction's follow-up send."""
    groups = message_groups(embeds)
    for k, group in enumerate(groups):
        more = dict(extra)
        if view and k == len(groups) - 1:
            more["view"] = view
        if content and k == 0:
            more["content"] = content
        await send(embeds=group, allowed_mentions=NO_MENTIONS, **more)


async def replace_with_groups(
    edit: Callable[..., Coroutine[Any, Any, object]],
    send: Callable[..., Coroutine[Any, Any, object]],
    embeds: list[discord.Embed],
    view: discord.ui.View | None = None,
    **extra: Any,
) -> None:
    """Like `send_groups`, but the first group replaces a message already sent (an answer
    streamed as it was written) with `edit`; the buttons go under the last."""
    groups = message_groups(embeds)
    for k, group in enumerate(groups):
        buttons: dict[str, Any] = {"view": view} if view and k == len(groups) - 1 else {}
        if k == 0:
            await edit(content=None, embeds=group, allowed_mentions=NO_MENTIONS, **buttons)
        else:
            await send(embeds=group, allowed_mentions=NO_MENTIONS, **buttons, **extra)


async def post_briefing(channel: discord.abc.Messageable, briefing: Briefing | str) -> None:
    """Post a scheduled briefing to a channel; a string ("Nothing new…") is one plain line."""
    if isinstance(briefing, str):
        await channel.send(plain(briefing), allowed_mentions=NO_MENTIONS)
        return
    await send_groups(channel.send, briefing_embeds(briefing))


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """A short message only the user sees, wherever the interaction has got to: its response,
    or a follow-up (the first after a deferral takes the place of "thinking…")."""
    text = plain(text)
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.exception("could not tell the user about an error")


class OnLoop:
    """Runs a reply's sends on the client's event loop, from the conversation's worker thread,
    and waits for them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def _on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(REPLY_TIMEOUT_S)
