"""Work under way, and shutting down: every answer and briefing runs while tracked here, so
that a stopping process can wait for it, and hand back (to its user, who is told to ask again)
what does not finish in time. Used by the conversation (bot/conversation.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from bot.chat import Buttons, Earlier, Reply
from retrieval import Answer, Briefing

log = logging.getLogger(__name__)

RESTARTING = "I'm restarting just now: please ask again in a minute."
HANDED_BACK = "Sorry, I was restarted before I could finish: please ask again."


class Tracked(Reply):
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

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        if self._live():
            self.reply.answer(answer, buttons)

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        if self._live():
            self.reply.briefing(briefing, buttons)

    def notice(self, text: str) -> None:
        if self._live():
            self.reply.notice(text)

    def decline(self, text: str) -> None:
        if self._live():
            self.reply.decline(text)

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


class UnderWay:
    """The replies under way, and whether new work is still taken."""

    def __init__(self, failed: Callable[[BaseException], object]) -> None:
        self.failed = failed  # told of a last word that could not be delivered
        self._replies: set[Tracked] = set()
        self._changed = threading.Condition()
        self.closing = False

    @contextmanager
    def track(self, reply: Reply) -> Iterator[Tracked | None]:
        """The reply, tracked until the work ends; None once closing (the user has then been
        told to ask again)."""
        with self._changed:
            tracked = None if self.closing else Tracked(reply)
            if tracked is not None:
                self._replies.add(tracked)
        if tracked is None:
            self._quietly(reply.notice, RESTARTING)
            yield None
            return
        try:
            yield tracked
        finally:
            with self._changed:
                self._replies.discard(tracked)
                self._changed.notify_all()

    def __len__(self) -> int:
        with self._changed:
            return len(self._replies)

    def close(self) -> None:
        """Take no new work: every message from now on is told to ask again shortly."""
        with self._changed:
            self.closing = True

    def drain(self, timeout: float) -> int:
        """Close, wait up to `timeout` seconds for the work under way, and hand back what is
        still running (its users are asked to ask again). Returns how many were handed back."""
        self.close()
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._replies and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            late = list(self._replies)
        for tracked in late:
            self._quietly(tracked.hand_back)
        if late:
            log.warning("handed back %d answers still under way at shutdown", len(late))
        return len(late)

    def _quietly(self, send: Callable[..., object], *args: object) -> None:
        """A last word to a user, which may not get through: a failure is told to `failed`."""
        try:
            send(*args)
        except Exception as exc:
            self.failed(exc)
