"""The conversation: what the bot does with a message or a button, whatever the chat platform.

An adapter (bot/slack/, bot/discord/) translates its platform's payload into a neutral `Message`
(or a `BriefRequest`, or a `Press` of a button), and implements `Reply` (and `Pressed`), which
render what the conversation says and send it in the platform's own form: the terms of
bot/chat.py. Everything between is
written here once: the question and topic checks, the channels each platform may answer in,
the briefing window's default, the follow-up rule in threads, the memory of recent events
(messages already answered, answers and briefings kept for their buttons), which buttons go
under what (👍 / 👎 under a cited answer; Share under what only its asker sees), asking again
for a button whose answer this process no longer holds (after a restart), where progress is
reported, and the error policy: an error a user can act on is shown in its own words; anything
else is logged with an id and answered with an apology quoting it.

Each adapter still decides when its platform is acknowledged (Slack's 3 seconds, Discord's
deferral): that is the platform's rule, and it calls the checks here before it acknowledges.

When the process is stopped (SIGTERM), `drain` takes no new work (each new message is told to
ask again in a minute, when another replica or the restarted process answers), waits for the
answers under way, and hands back those that do not finish in time: their users are told to
ask again, and anything the abandoned work sends later is dropped (bot/underway.py).

Following a topic (`/follow`, `/following`, `/unfollow`) is a channel-wide act: what it did is
said to the whole channel (`Announce`), a mistake only to whoever typed it. The flags of
`/follow`'s text, the checks of its digest and start date, and every sentence of its replies
are here too; what a topic may be, and the book of follows, are the engine's (`Engine.follows`).

Some 600 lines, one piece: these are the rules both platforms share, and writing each once,
here, is what keeps the platforms alike.
"""

from __future__ import annotations

import argparse
import logging
import re
import shlex
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Generic, NoReturn, TypeVar

from bot.asked import Asked, AskedStore
from bot.chat import (
    Announce,
    BriefRequest,
    Buttons,
    Earlier,
    FollowRequest,
    Message,
    Press,
    Pressed,
    Reply,
)
from bot.underway import HANDED_BACK, RESTARTING, UnderWay  # noqa: F401 (its texts, read here)
from retrieval import (
    Added,
    AlreadyVoted,
    Answer,
    BriefbotError,
    Briefing,
    Engine,
    FeedbackStore,
    Follow,
    SeenEvents,
    UnknownAnswer,
    Vote,
    parse_moment,
)

log = logging.getLogger(__name__)

SEARCHING = "Searching…"
PREPARING = "Preparing the briefing…"
APOLOGY = "Sorry, something went wrong on my side (error `{error_id}`). Please try again later."
DECLINE = "Sorry, I don't answer in this conversation. An admin can enable it for me."
BUTTON_GONE = "This button no longer works. Ask the question again."
NOT_RECORDING = "Votes are not being recorded right now."
VOTED = "Thanks: your {emoji} is recorded."
ALREADY_VOTED = "You have already voted on this answer."
SHARED = "Shared in the channel."
DEFAULT_WINDOW = timedelta(hours=24)  # a briefing's window when none is asked for
FOLLOW_UPS = 3  # the earlier questions a follow-up is read with
RECENT = 1000  # answers and briefings kept in memory for the buttons under them
DIGESTS = ("hourly", "daily")  # a followed topic's posts gathered; none: as it happens
T = TypeVar("T")


class NotHere(BriefbotError):
    """The bot does not answer in this channel (the platform's allow-list)."""


class FollowUsage(BriefbotError):
    """What was typed to follow a topic cannot be read: the message names the flag or value."""


# -- the rules, each once ------------------------------------------------------------------
def clean_text(text: str) -> str:
    """Text from outside (a command line, a chat payload) as the engine can take it: lone
    surrogates (a command line's invalid UTF-8 arrives as one per byte, a JSON payload may
    carry "\\ud800") become U+FFFD, on which the tokenizer no longer raises a TypeError; control
    characters become spaces."""
    return _CONTROL.sub(" ", _SURROGATE.sub("\ufffd", text))


_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def follow_up(earlier: Sequence[Earlier]) -> str:
    """What a follow-up is read with: the thread's last questions to the bot; in a thread the
    bot was only just called into, its opening message, which is what the thread is about."""
    asked = [clean_text(e.text) for e in earlier if e.to_bot]
    chosen = asked[-FOLLOW_UPS:] or [clean_text(e.text) for e in earlier[:1]]
    return " ".join(dict.fromkeys(t for t in chosen if t))


def window_start(since: str | None, now: datetime) -> datetime:
    """A briefing window's start from what the user typed (24h, 7d, 2w, a date); nothing: the
    last 24 hours. A BriefbotError says what "since" accepts."""
    since = (since or "").strip()
    return parse_moment(since, now, "since") if since else now - DEFAULT_WINDOW


def channel_ids(text: str) -> frozenset[str]:
    """A comma-separated allow-list setting as channel ids; empty: every channel."""
    return frozenset(c.strip() for c in text.split(",") if c.strip())


# -- following a topic: what is typed, and what is said ------------------------------------
def parse_follow(text: str) -> FollowRequest:
    """`/follow`'s text: the topic's words, with `--digest hourly|daily` and `--since
    YYYY-MM-DD` anywhere among them (`--digest=daily` too; a topic in double quotes may hold
    what looks like a flag). A FollowUsage names the flag or the value it cannot read."""
    lexer = shlex.shlex(_DASH_FLAG.sub("--", clean_text(text)), posix=True)
    # Only double quotes group words: "Biden's speech" is a topic, not an open quotation.
    lexer.whitespace_split, lexer.quotes, lexer.escape = True, '"', ""
    try:
        words = list(lexer)
    except ValueError:
        raise FollowUsage("A quotation mark is not closed.") from None
    flags, unknown = _follow_flags().parse_known_intermixed_args(words)
    if unknown:
        raise FollowUsage(f"Unknown option {unknown[0]}: /follow takes --digest and --since.")
    topic = " ".join(" ".join(flags.topic).split())
    if not topic:
        raise FollowUsage("The topic is missing.")
    return FollowRequest(topic, flags.digest, flags.since)


def follow_request(
    topic: str, digest: str | None = None, since: str | None = None
) -> FollowRequest:
    """A follow asked for with options (Discord's): the digest and the start date checked as
    `parse_follow` checks its flags."""
    try:
        checked_digest = _digest(digest) if digest else None
    except argparse.ArgumentTypeError as exc:
        raise FollowUsage(f"digest: {exc}.") from None
    try:
        start = _day(since) if since and since.strip() else None
    except argparse.ArgumentTypeError as exc:
        raise FollowUsage(f"since: {exc}.") from None
    return FollowRequest(" ".join(clean_text(topic).split()), checked_digest, start)


_DASH_FLAG = re.compile(r"(?<!\S)[\u2013\u2014](?=[a-z])")  # "—digest": a phone's "--"


class _Flags(argparse.ArgumentParser):
    """argparse, with its complaints raised as a FollowUsage instead of exiting."""

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")
        message = message.replace(": expected one argument", " needs a value")
        raise FollowUsage(message[:1].upper() + message[1:] + ".")


def _digest(value: str) -> str:
    if value.strip().lower() not in DIGESTS:
        raise argparse.ArgumentTypeError(f"{value!r} is not hourly or daily")
    return value.strip().lower()


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def _follow_flags() -> _Flags:
    flags = _Flags(prog="/follow", add_help=False)
    flags.add_argument("topic", nargs="*")
    flags.add_argument("--digest", type=_digest)
    flags.add_argument("--since", type=_day)
    return flags


def _how(follow: Follow) -> str:
    an = "an" if follow.digest == "hourly" else "a"
    posted = f"in {an} {follow.digest} digest" if follow.digest else "as they happen"
    since = f"; articles published before {follow.since} don't count" if follow.since else ""
    return posted + since


def followed_text(added: Added) -> str:
    """What `/follow` tells the channel: what it follows now and how, and whether anything
    indexed is about it yet (nothing: the first post comes when something is)."""
    follow = added.follow
    if not added.created:
        return (
            f"This channel already follows “{follow.topic}”: "
            f"new developments are now posted {_how(follow)}."
        )
    text = (
        f"Following “{follow.topic}” in this channel: new developments are posted in a thread "
        f"of their own, {_how(follow)}."
    )
    n = added.matches
    if n == 0:
        return text + " Nothing indexed matches it yet: the first post comes when something does."
    return text + (
        f" {n:,} indexed article{'s are' if n != 1 else ' is'} about it already;"
        " only what is new from now on is posted."
    )


def following_text(follows: Sequence[Follow]) -> str:
    """What `/following` tells the channel: each topic, how it is posted and when it last
    was ("never" if not yet)."""
    if not follows:
        return "This channel follows no topic yet: /follow TOPIC starts one."
    n = len(follows)
    lines = [f"This channel follows {n} topic{'s' if n != 1 else ''}:"]
    for f in follows:
        how = f"{f.digest} digest" if f.digest else "as it happens"
        if f.since:
            how += f", since {f.since}"
        last = f.last_posted_at
        when = f"{last.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if last else "never"
        lines.append(f"• {f.topic}: {how}; last posted {when}")
    return "\n".join(lines)


def unfollowed_text(follow: Follow) -> str:
    return f"Stopped following “{follow.topic}” in this channel."


class Recent(Generic[T]):
    """A bounded, thread-safe map of recent items: the oldest are forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, T] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, item: T) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def get(self, key: object) -> T | None:
        with self._lock:
            return self._items.get(key) if isinstance(key, str) else None


class Streamed:
    """A generated answer's verified sentences, handed to a reply as the text so far, at most
    every `reply.stream_interval` seconds (the final answer shows whatever was held back). A
    reply that cannot take the text does not stop the answer."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.interval = reply.stream_interval
        self.sentences: list[str] = []
        self._last = float("-inf")

    def add(self, sentence: str) -> None:
        self.sentences.append(sentence)
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        try:
            self.reply.stream(" ".join(self.sentences))
        except Exception:
            log.warning("could not show the answer as it was written", exc_info=True)


class Conversation:
    """Turns messages into answers, requests into briefings and presses into votes and shares,
    for every adapter at once.

    `feedback`: where answers are kept for votes (None: no 👍 / 👎). `seen`: the messages
    already answered, by any process sharing the data directory (None: every one is new).
    `asked`: what each kept answer and briefing was asked with, for the buttons that carry only
    its key (None: such a button works only in the process that sent it). `allowed`: for each
    platform, the channels it answers in (a platform not named, or named with none: every
    channel).
    """

    def __init__(
        self,
        engine: Engine,
        feedback: FeedbackStore | None = None,
        seen: SeenEvents | None = None,
        asked: AskedStore | None = None,
        allowed: Mapping[str, Iterable[str]] | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = engine.metrics
        self.feedback = feedback
        self.seen = seen
        self.asked = asked
        self.allowed = {p: frozenset(c) for p, c in (allowed or {}).items()}
        self.recent: Recent[Answer | Briefing] = Recent(RECENT)
        self.work = UnderWay(self.failure)

    # -- checks, made before an adapter acknowledges ------------------------------------
    def check_question(self, text: str) -> str:
        """The question as asked (cleaned: see `clean_text`), or a QuestionError saying what is
        wrong with it."""
        return self.engine.check_question(clean_text(text))

    def brief_request(self, topic: str | None, since: datetime, now: datetime) -> BriefRequest:
        """A briefing of the window from `since` (see `window_start`) to now, with its topic
        checked as a question is (not too long)."""
        topic = " ".join((topic or "").split()) or None
        return BriefRequest(since, now, self.check_question(topic) if topic else None)

    def allows(self, message: Message) -> bool:
        """Whether the message's platform answers in its channel (or in the thread's channel)."""
        channels = self.allowed.get(message.platform)
        if not channels:
            return True
        return message.channel in channels or message.parent_channel in channels

    def check_channel(self, message: Message) -> None:
        """NotHere (a BriefbotError, in DECLINE's words) outside the platform's channels."""
        if not self.allows(message):
            log.info("not answering in %s/%s: not allowed", message.platform, message.channel)
            raise NotHere(DECLINE)

    # -- the memory of recent events -----------------------------------------------------
    def claim(self, message: Message) -> bool:
        """True the first time a message is seen, by any process; False for a redelivery."""
        if self.seen is None:
            return True
        key = f"{message.platform}/{message.channel}/{message.id}"
        if self.seen.claim(key):
            return True
        log.debug("%s was already answered; not answering it again", key)
        return False

    def admit(self, message: Message, reply: Reply) -> bool:
        """Whether to answer a message: not a redelivery (nothing is said), and in a channel
        its platform answers in (else it is declined, once)."""
        if not self.claim(message):
            return False
        try:
            self.check_channel(message)
        except NotHere as exc:
            with self.guard(lambda _: None):
                reply.decline(str(exc))
            return False
        return True

    def keep_answer(
        self, answer: Answer, asked: Asked | None = None, key: str | None = None
    ) -> str | None:
        """Keep an answer for the buttons to come (in memory; with the feedback store, for
        votes; with `asked`, to ask it again) and return its key: a new one, or `key`. None
        when there is nothing to keep: an abstention, or an answer citing nothing."""
        if answer.abstained or not answer.citations:
            return None
        if self.feedback is not None:
            ids = list(dict.fromkeys(c.article_id for c in answer.citations))
            key = self.feedback.remember(answer.question, answer.answer, ids, key=key)
        key = key or uuid.uuid4().hex[:16]
        self.recent.put(key, answer)
        if asked is not None and self.asked is not None:
            self.asked.put(key, asked)
        return key

    def keep_briefing(self, briefing: Briefing, asked: Asked | None = None) -> str:
        key = uuid.uuid4().hex[:16]
        self.recent.put(key, briefing)
        if asked is not None and self.asked is not None:
            self.asked.put(key, asked)
        return key

    def recall(self, key: str, asked: Asked | None = None) -> Answer | Briefing:
        """The answer or briefing a button refers to. One this process no longer holds (it
        was restarted) is asked again as it was: from what the button carries (`asked`), else
        from what was kept under its key; and kept again under the same key. A BriefbotError
        (BUTTON_GONE) when neither is there."""
        hit = self.recent.get(key)
        if hit is not None:
            return hit
        if asked is None and self.asked is not None:
            asked = self.asked.get(key)
        if asked is None:
            raise BriefbotError(BUTTON_GONE)
        log.info("asking %s again for a button (%s)", asked.kind, key)
        if asked.kind == "brief" and asked.until is not None:
            topic = self.check_question(asked.text) if asked.text else None
            briefing = self.engine.brief(asked.at, asked.until, topic=topic)
            self.recent.put(key, briefing)
            return briefing
        question = self.check_question(asked.text or "")
        answer = self.engine.ask(question, now=asked.at, context=asked.context)
        self.keep_answer(answer, asked, key=key)
        return answer

    def record_vote(self, press: Press, vote: int) -> Vote:
        """A 👍 (1) or 👎 (-1), once per person: AlreadyVoted for a second one. An answer not
        on record (its button outlived its process and store) is asked again as it was
        (`recall`), and kept under the button's key, so that a second vote is still a second
        vote; BUTTON_GONE when it cannot be."""
        if self.feedback is None:
            raise BriefbotError(NOT_RECORDING)
        try:
            return self.feedback.vote_on(
                press.key, platform=press.platform, user_id=press.user, vote=vote
            )
        except UnknownAnswer:
            answer = self.recall(press.key, press.asked)
            if not isinstance(answer, Answer):
                raise BriefbotError(BUTTON_GONE) from None
            self.keep_answer(answer, press.asked, key=press.key)
        try:
            return self.feedback.vote_on(
                press.key, platform=press.platform, user_id=press.user, vote=vote
            )
        except UnknownAnswer:  # asked again, it now cites nothing
            raise BriefbotError(BUTTON_GONE) from None

    # -- the error policy ----------------------------------------------------------------
    def failure(self, error: BaseException) -> str:
        """What the user is told: a BriefbotError in its own words; anything else (a bug) is
        logged with its traceback and an id, which the apology quotes. Both are counted."""
        if isinstance(error, BriefbotError):
            self.metrics.error(type(error).__name__, str(error), keep=False)
            return str(error)
        error_id = uuid.uuid4().hex[:8]
        log.error(
            "error id %s while answering", error_id, exc_info=error, extra={"error_id": error_id}
        )
        self.metrics.error("internal", f"{type(error).__name__}: {error}", error_id)
        return APOLOGY.format(error_id=error_id)

    @contextmanager
    def guard(self, tell: Callable[[str], object]) -> Iterator[None]:
        """Whatever goes wrong inside is told with `tell`, by the policy above; a reply that
        cannot be delivered either is logged."""
        try:
            yield
        except Exception as exc:
            text = self.failure(exc)
            try:
                tell(text)
            except Exception:
                log.exception("could not deliver a reply")

    # -- work under way, and shutting down (bot/underway.py) ----------------------------
    @property
    def under_way(self) -> int:
        return len(self.work)

    @property
    def closing(self) -> bool:
        return self.work.closing

    def close(self) -> None:
        """Take no new work: every message from now on is told to ask again shortly."""
        self.work.close()

    def drain(self, timeout: float) -> int:
        """Close, wait up to `timeout` seconds for the answers and briefings under way, and
        hand back those still running (their users are asked to ask again). Returns how many
        were handed back."""
        return self.work.drain(timeout)

    # -- the flows -----------------------------------------------------------------------
    def receive(self, message: Message, reply: Reply) -> Answer | None:
        """A message as it arrives: answered once (see `admit`), where its platform answers."""
        return self.answer(message, reply) if self.admit(message, reply) else None

    def answer(self, message: Message, reply: Reply) -> Answer | None:
        """Answer a message: progress shown, the question checked, a follow-up read with the
        thread's earlier questions, the answer sent with its buttons (or the error, by the
        policy)."""
        with self.work.track(reply) as tracked:
            if tracked is None:
                return None
            started = time.monotonic()
            with self.guard(tracked.notice):
                tracked.progress(SEARCHING)
                question = self.check_question(message.text)
                context = follow_up(tracked.history()) if message.thread else ""
                if self.engine.generates:  # shown as it is written, sentence by verified sentence
                    answer = self.engine.ask(
                        question,
                        now=message.sent_at,
                        context=context,
                        on_sentence=Streamed(tracked).add,
                    )
                else:
                    answer = self.engine.ask(question, now=message.sent_at, context=context)
                asked = Asked.question(answer.question, message.sent_at, context)
                tracked.answer(answer, self._buttons(answer, asked, message.private))
                self.metrics.answered(
                    message.platform, answer.abstained, time.monotonic() - started
                )
                log.info(
                    "answered on %s: %d citations, %.0f ms",
                    message.platform,
                    len(answer.citations),
                    answer.timing_ms.get("total", 0),
                )
                return answer
        return None

    def brief(self, request: BriefRequest, reply: Reply, private: bool = False) -> Briefing | None:
        """Brief the request's window (and topic), or tell what went wrong. A `private`
        briefing (only its asker sees it) can be shared."""
        with self.work.track(reply) as tracked:
            if tracked is None:
                return None
            with self.guard(tracked.notice):
                tracked.progress(PREPARING)
                briefing = self.engine.brief(request.since, request.until, topic=request.topic)
                asked = Asked.briefing(request.topic, request.since, request.until)
                key = self.keep_briefing(briefing, asked)
                share = private and not briefing.empty
                tracked.briefing(briefing, Buttons(key, asked, share=True) if share else None)
                return briefing
        return None

    def _buttons(self, answer: Answer, asked: Asked | None, private: bool) -> Buttons | None:
        """👍 / 👎 under a cited answer when votes are kept; Share under one only its asker
        sees."""
        key = self.keep_answer(answer, asked)
        if key is None or not (self.feedback is not None or private):
            return None
        return Buttons(key, asked, vote=self.feedback is not None, share=private)

    def vote(self, press: Press, vote: int, pressed: Pressed) -> None:
        """👍 (1) or 👎 (-1) pressed: recorded (see `record_vote`), and the presser told."""
        with self.guard(pressed.tell):
            try:
                self.record_vote(press, vote)
            except AlreadyVoted:
                pressed.tell(ALREADY_VOTED)
                return
            pressed.tell(VOTED.format(emoji="👍" if vote > 0 else "👎"))

    def share(self, press: Press, pressed: Pressed) -> None:
        """Share pressed: the answer or briefing (asked again after a restart) posted for
        everyone, an answer with its 👍 / 👎, and the presser's own copy replaced by SHARED."""
        with self.guard(pressed.tell):
            item = self.recall(press.key, press.asked)
            buttons = None
            if isinstance(item, Answer):
                asked = press.asked or (self.asked.get(press.key) if self.asked else None)
                votes = self.feedback is not None and not item.abstained and item.citations
                buttons = Buttons(press.key, asked, vote=True) if votes else None
            pressed.post(item, buttons, press.user)
            pressed.replace(SHARED)

    # -- following a topic: said to the whole channel ------------------------------------
    def follow(self, message: Message, request: FollowRequest, reply: Announce) -> Added | None:
        """Follow the request's topic in the message's channel and tell the channel (see
        `followed_text`); a mistake (a FollowError: an empty or over-long topic, a start date
        in the future, too many topics) only to whoever typed it."""
        with self.guard(reply.tell):
            self.check_channel(message)
            added = self.engine.follows.add(
                message.platform,
                message.channel,
                request.topic,
                digest=request.digest,
                since=request.since,
                by=message.user or None,
            )
            log.info(
                "%s/%s follows a topic (%d matches)",
                message.platform,
                message.channel,
                added.matches,
            )
            reply.announce(followed_text(added))
            return added
        return None

    def following(self, message: Message, reply: Announce) -> list[Follow] | None:
        """Tell the channel the topics it follows (see `following_text`)."""
        with self.guard(reply.tell):
            self.check_channel(message)
            follows = self.engine.follows.list(message.platform, message.channel)
            reply.announce(following_text(follows))
            return follows
        return None

    def unfollow(self, message: Message, topic: str, reply: Announce) -> Follow | None:
        """Stop following a topic in the message's channel, and tell the channel; a topic it
        does not follow is told, in the FollowError's words, to whoever typed it."""
        with self.guard(reply.tell):
            self.check_channel(message)
            topic = " ".join(clean_text(topic).split())
            removed = self.engine.follows.remove(message.platform, message.channel, topic)
            reply.announce(unfollowed_text(removed))
            return removed
        return None
