"""The terms between the conversation (bot/conversation.py) and a chat platform's adapter: what
an adapter hands in (a `Message`, a `BriefRequest`, a `FollowRequest`, a `Press` of a button),
what it implements (`Reply` for a message or a command, `Announce` for a command the whole
channel sees, `Pressed` for a button), and what the conversation hands out (the `Buttons` under
an answer). The service (bot/service.py) takes from a connected adapter its `Outbox`: what it
posts unprompted. None of it is in any platform's terms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from bot.asked import Asked
from retrieval import Answer, Briefing, FollowPost


@dataclass(frozen=True)
class Message:
    """A message to the bot, in no platform's terms."""

    platform: str  # an opaque key ("slack", "discord"): votes, claims, allow-lists go by it
    channel: str
    id: str  # the message's own id in the channel: what a redelivery repeats
    user: str
    text: str  # plain text, the bot's mention taken out
    sent_at: datetime  # answers are as of this moment
    thread: str | None = None  # the thread it was posted in, if any
    direct: bool = False  # a direct message: everything in it is said to the bot
    private: bool = False  # only its sender sees the reply (a slash command): it gets Share
    # The channel the thread is in, where a platform's threads are channels of their own
    # (Discord's): the channel allow-list counts a thread as its channel.
    parent_channel: str | None = None


@dataclass(frozen=True)
class Earlier:
    """An earlier message of the thread (from a person, not a bot), as the follow-up rule sees
    it."""

    text: str
    to_bot: bool  # it mentioned the bot, or it is in a direct conversation with it


@dataclass(frozen=True)
class BriefRequest:
    """A briefing asked for: the window and an optional topic, both checked."""

    since: datetime
    until: datetime
    topic: str | None = None


@dataclass(frozen=True)
class FollowRequest:
    """A topic to follow, as typed, with its digest ("hourly", "daily"; None: as it happens)
    and its start date, both checked; what the topic may be is the engine's to say."""

    topic: str
    digest: str | None = None
    since: date | None = None


@dataclass(frozen=True)
class Buttons:
    """The buttons under an answer or a briefing. Each press refers to `key`; `asked` is what a
    platform whose buttons hold enough (Slack's) carries in them, to ask again anywhere."""

    key: str
    asked: Asked | None
    vote: bool = False  # 👍 / 👎
    share: bool = False  # "Share in channel"


@dataclass(frozen=True)
class Press:
    """A button pressed, in no platform's terms."""

    platform: str
    user: str
    key: str  # the answer or briefing it is under
    asked: Asked | None = None  # what the button carries (Slack's); None: what is kept here


class Reply(Protocol):
    """The adapter's side of one message or command: where and how the answer goes."""

    def progress(self, text: str) -> None:
        """Work has begun: a placeholder such as "Searching…"."""

    def stream(self, text: str) -> None:
        """The answer as a language model writes it, in the sentences that passed the
        verifier so far: the whole text each time, shown in place of the placeholder. Called
        only when the engine generates, at most every `stream_interval` seconds; `answer`
        then shows it all, with its citations. A platform that cannot show it leaves it."""

    @property
    def stream_interval(self) -> float:
        """The least time between two `stream` calls: the platform's rate limit for edits."""
        ...

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        """Render and send the answer, with these buttons under it (None: none)."""

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        """Render and send the briefing, with these buttons under it (None: none)."""

    def notice(self, text: str) -> None:
        """A short plain message: a refusal or an error, in words meant for the user."""

    def decline(self, text: str) -> None:
        """The bot does not answer here: said to the sender alone where the platform can."""

    def history(self) -> Sequence[Earlier]:
        """The earlier messages of the message's thread, oldest first; none if they can't be
        read (a follow-up is then answered on its own)."""


class Pressed(Protocol):
    """The adapter's side of a button press."""

    def tell(self, text: str) -> None:
        """A short message only the presser sees."""

    def post(self, item: Answer | Briefing, buttons: Buttons | None, shared_by: str) -> None:
        """The answer or briefing, for everyone in the conversation, shared by `shared_by`."""

    def replace(self, text: str) -> None:
        """The presser's own copy (the message the button is on) replaced by `text`."""


class Announce(Protocol):
    """The adapter's side of a command whose outcome the whole channel shares (following a
    topic): what it did is said to everyone there, a mistake only to whoever typed it."""

    def announce(self, text: str) -> None:
        """Plain text (its lines kept) for everyone in the channel."""

    def tell(self, text: str) -> None:
        """A short plain message only whoever typed the command sees."""


@dataclass(frozen=True)
class Outbox:
    """What a connected platform posts unprompted, from the service's threads: a scheduled
    briefing (or a one-line notice) to a channel, and a followed topic's post, which returns
    the id of the message its thread hangs from (`retrieval.PostFollow`). Each returns once
    the post is sent, rate limits waited out, and raises if it was not."""

    briefing: Callable[[str, Briefing | str], None]
    follow: Callable[[FollowPost], str | None]
