"""How the client handles each message and interaction: an error is told to the user by the
conversation's policy, and the end of the handling is recorded (`Handled`), so that whoever
needs to know that everything the bot does for one event has been done (a test, a check) waits
on that, and on nothing of discord.py's.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator

import discord

from bot.conversation import Conversation
from bot.discord.send import send_ephemeral

log = logging.getLogger(__name__)

KEPT = 1000  # handled ids remembered


def conversation_of(client: discord.Client) -> Conversation | None:
    """A briefbot client's conversation; None for any other client, or one built for
    housekeeping only (any client may receive a press of a persistent button)."""
    conversation = getattr(client, "conversation", None)
    return conversation if isinstance(conversation, Conversation) else None


class Handled:
    """The ids of the messages and interactions whose handling has ended, the latest KEPT."""

    def __init__(self) -> None:
        self._ended: OrderedDict[int, asyncio.Event] = OrderedDict()

    def _event(self, id: int) -> asyncio.Event:
        event = self._ended.get(id)
        if event is None:
            event = self._ended[id] = asyncio.Event()
            while len(self._ended) > KEPT:
                self._ended.popitem(last=False)
        return event

    def end(self, id: int) -> None:
        self._event(id).set()

    async def wait(self, id: int) -> None:
        """Until the handling of the message or interaction `id` has ended."""
        await self._event(id).wait()


def handled_of(client: discord.Client) -> Handled | None:
    handled = getattr(client, "handled", None)
    return handled if isinstance(handled, Handled) else None


@contextlib.asynccontextmanager
async def handling(interaction: discord.Interaction) -> AsyncIterator[None]:
    """Around all the bot does for an interaction: whatever goes wrong is told to the user,
    ephemerally, by the conversation's policy; then its end is recorded."""
    try:
        yield
    except Exception as exc:
        await tell_failure(interaction, exc)
    finally:
        ended(interaction)


async def tell_failure(interaction: discord.Interaction, error: BaseException) -> None:
    conversation = conversation_of(interaction.client)
    await send_ephemeral(interaction, conversation.failure(error) if conversation else str(error))


def ended(interaction: discord.Interaction) -> None:
    handled = handled_of(interaction.client)
    if handled is not None:
        handled.end(interaction.id)
