"""Sending to Discord: embeds grouped into as many messages as its limits need, a scheduled
briefing's post, a followed topic's post (in its thread), a short message only the user sees,
and sends made on the client's loop from the conversation's worker thread. Nothing sent may
ping anyone. Rate limits are discord.py's to wait out: it holds each request until Discord's
bucket allows it, and retries a 429 after Retry-After (counted: bot/discord/client.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import discord

from bot.discord.render import briefing_embeds, follow_embeds, message_groups, plain, thread_name
from retrieval import BriefbotError, Briefing, FollowPost

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


async def channel_of(client: discord.Client, channel_id: str) -> discord.abc.Messageable:
    """A channel (or thread) by id, from the cache or else from Discord; a BriefbotError
    names one that takes no messages."""
    channel = client.get_channel(int(channel_id)) or await client.fetch_channel(int(channel_id))
    if not isinstance(channel, discord.abc.Messageable):
        raise BriefbotError(f"Discord channel {channel_id} takes no messages.")
    return channel


async def post_follow(client: discord.Client, post: FollowPost) -> str | None:
    """Post a followed topic's new developments in its thread. The first post, in the channel,
    starts the thread from its message (whose id is the thread's); where no thread can be
    started (a thread, a DM, a permission missing) the posts go in the channel itself. Returns
    the thread's id (None: no thread)."""
    follow = post.follow
    groups = message_groups(follow_embeds(post))
    if follow.thread is not None:
        try:
            thread = await channel_of(client, follow.thread)
        except discord.NotFound:  # deleted: the next post starts a new one
            log.info("the thread of a followed topic in %s is gone", follow.channel)
        else:
            for group in groups:
                await thread.send(embeds=group, allowed_mentions=NO_MENTIONS)
            return follow.thread
    channel = await channel_of(client, follow.channel)
    first = await channel.send(embeds=groups[0], allowed_mentions=NO_MENTIONS)
    where: discord.abc.Messageable = channel
    started = None
    if isinstance(channel, discord.TextChannel):
        try:
            where = await first.create_thread(name=thread_name(follow.topic))
            started = str(first.id)
        except discord.HTTPException as exc:
            log.warning("could not start a thread in %s (%s): posting in the channel", channel, exc)
    for group in groups[1:]:
        await where.send(embeds=group, allowed_mentions=NO_MENTIONS)
    return started


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
