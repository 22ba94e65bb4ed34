"""The conversation: what the bot does with a message, whatever the chat platform.

An adapter (bot/slack/, bot/discord/) translates its platform's payload into a
neutral `Message` (or a `BriefRequest`), and implements `Reply`, which renders what the
conversation says and sends it in the platform's own form. Everything between is written here
once: the question and topic checks, the briefing window's default, the follow-up rule in
threads, the memory of recent events (messages already answered, answers kept for votes), where
progress is reported, and the error policy: an error a user can act on is shown in its own
words; anything else is logged with an id and answered with an apology quoting it.

Each adapter still decides when its platform is acknowledged (Slack's 3 seconds, Discord's
deferral): that is the platform's rule, and it calls the checks here before it acknowledges.

When the process is stopped (SIGTERM), `drain` takes no new work (each new message is told to
ask again in a minute, when another replica or the restarted process answers), waits for the
answers under way, and hands back those that do not finish in time: their users are told to
ask again, and anything the abandoned work sends later is dropped.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from retrieval import (
    Answer,
    BriefbotError,
    Briefing,
    Engine,
    FeedbackStore,
    SeenEvents,
    Vote,
    parse_moment,
)

log = logging.getLogger(__name__)

SEARCHING = "Searching…"
PREPARING = "Preparing the briefing…"
APOLOGY = "Sorry, something went wrong on my side (error `{error_id}`). Please try again later."
RESTARTING = "I'm restarting just now: please ask again in a minute."
HANDED_BACK = "Sorry, I was restarted before I could finish: please ask again."
DEFAULT_WINDOW = timedelta(hours=24)  # a briefing's window when none is asked for
FOLLOW_UPS = 3  # the earlier questions a follow-up is read with
RECENT = 1000  # answers and briefings kept in memory for the buttons under them
T = TypeVar("T")


# -- what the adapters hand in -------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    """A message to the bot, in no platform's terms."""

    platform: str  # an opaque key ("slack", "discord"): votes and claims are kept under it
    channel: str
    id: str  # the message's own id in the channel: what a redelivery repeats
    user: str
    text: str  # plain text, the bot's mention taken out
    sent_at: datetime  # answers are as of this moment
    thread: str | None = None  # the thread it was posted in, if any
    direct: bool = False  # a direct message: everything in it is said to the bot


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

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        """Render and send the answer; with `vote_key`, the 👍 / 👎 under it carry the key.
        `context`: the earlier questions it was read with (to ask it again, as it was)."""

    def briefing(self, briefing: Briefing, key: str) -> None:
        """Render and send the briefing; `key` finds it again (see Conversation.recall)."""

    def notice(self, text: str) -> None:
        """A short plain message: a refusal or an error, in words meant for the user."""

    def history(self) -> Sequence[Earlier]:
        """The earlier messages of the message's thread, oldest first; none if they can't be
        read (a follow-up is then answered on its own)."""


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


class _Tracked(Reply):
    """A reply under way, which `Conversation.drain` may hand back: once it has, whatever the
    abandoned work sends is dropped, so the user sees the apology and nothing after it."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.handed_back = False

    def _live(self) -> bool:
        if self.handed_back:
            log.info("dropped a reply handed back at shutdown")
        return not self.handed_back

    def progress(self, text: str) -> None:
        if self._live():
            self.reply.progress(text)

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        if self._live():
            self.reply.answer(answer, vote_key, context)

    def briefing(self, briefing: Briefing, key: str) -> None:
        if self._live():
            self.reply.briefing(briefing, key)

    def notice(self, text: str) -> None:
        if self._live():
            self.reply.notice(text)

    @property
    def stream_interval(self) -> float:
        return self.reply.stream_interval

    def stream(self, text: str) -> None:
        if self._live():
            self.reply.stream(text)

    def history(self) -> Sequence[Earlier]:
        return self.reply.history()

    def hand_back(self) -> None:
        self.handed_back = True
        self.reply.notice(HANDED_BACK)


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
    """Turns messages into answers and requests into briefings, for every adapter at once.

    `feedback`: where answers are kept for votes (None: no 👍 / 👎). `seen`: the messages
    already answered, by any process sharing the data directory (None: every one is new).
    """

    def __init__(
        self,
        engine: Engine,
        feedback: FeedbackStore | None = None,
        seen: SeenEvents | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = engine.metrics
        self.feedback = feedback
        self.seen = seen
        self.recent: Recent[Answer | Briefing] = Recent(RECENT)
        self._under_way: set[_Tracked] = set()
        self._changed = threading.Condition()
        self._closing = False

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

    def keep_answer(self, answer: Answer, key: str | None = None) -> str | None:
        """Keep an answer for the votes to come and return its key; None when there is
        nothing to vote on (an abstention, or no feedback store)."""
        if self.feedback is None or answer.abstained or not answer.citations:
            return None
        ids = list(dict.fromkeys(c.article_id for c in answer.citations))
        key = self.feedback.remember(answer.question, answer.answer, ids, key=key)
        self.recent.put(key, answer)
        return key

    def keep_briefing(self, briefing: Briefing) -> str:
        key = uuid.uuid4().hex[:16]
        self.recent.put(key, briefing)
        return key

    def recall(self, key: object) -> Answer | Briefing | None:
        """An answer or briefing kept in this process (see keep_answer, keep_briefing)."""
        return self.recent.get(key)

    def vote(self, key: str, platform: str, user: str, vote: int) -> Vote:
        """A 👍 (1) or 👎 (-1) on a kept answer, once per person: AlreadyVoted for a second
        one, UnknownAnswer for an answer not on record."""
        if self.feedback is None:
            raise BriefbotError("Votes are not being recorded right now.")
        return self.feedback.vote_on(key, platform=platform, user_id=user, vote=vote)

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

    # -- work under way, and shutting down -------------------------------------------------
    @contextmanager
    def _under_way_as(self, reply: Reply) -> Iterator[_Tracked | None]:
        """The reply, tracked until the work ends; None once the conversation is closing
        (the user has then been told to ask again)."""
        with self._changed:
            tracked = None if self._closing else _Tracked(reply)
            if tracked is not None:
                self._under_way.add(tracked)
        if tracked is None:
            with self.guard(lambda _: None):
                reply.notice(RESTARTING)
            yield None
            return
        try:
            yield tracked
        finally:
            with self._changed:
                self._under_way.discard(tracked)
                self._changed.notify_all()

    @property
    def under_way(self) -> int:
        with self._changed:
            return len(self._under_way)

    def close(self) -> None:
        """Take no new work: every message from now on is told to ask again shortly."""
        with self._changed:
            self._closing = True

    def drain(self, timeout: float) -> int:
        """Close, wait up to `timeout` seconds for the answers and briefings under way, and
        hand back those still running (their users are asked to ask again). Returns how many
        were handed back."""
        self.close()
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._under_way and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            late = list(self._under_way)
        for tracked in late:
            with self.guard(lambda _: None):
                tracked.hand_back()
        if late:
            log.warning("handed back %d answers still under way at shutdown", len(late))
        return len(late)

    # -- the flows -----------------------------------------------------------------------
    def answer(self, message: Message, reply: Reply) -> Answer | None:
        """Answer a message: progress shown, the question checked, a follow-up read with the
        thread's earlier questions, the answer sent (or the error, by the policy)."""
        with self._under_way_as(reply) as tracked:
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
                tracked.answer(answer, self.keep_answer(answer), context)
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

    def brief(self, request: BriefRequest, reply: Reply) -> Briefing | None:
        """Brief the request's window (and topic), or tell what went wrong."""
        with self._under_way_as(reply) as tracked:
            if tracked is None:
                return None
            with self.guard(tracked.notice):
                tracked.progress(PREPARING)
                briefing = self.engine.brief(request.since, request.until, topic=request.topic)
                tracked.briefing(briefing, self.keep_briefing(briefing))
                return briefing
        return None
