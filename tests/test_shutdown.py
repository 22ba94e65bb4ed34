"""Stopping gracefully (SIGTERM): answers under way finish or are handed back; a briefing
being built is left to the next process, one being posted is finished; no claim is left
behind, so a restart posts every briefing, and none twice.

tests/test_operations.py does the same to real processes; these pin each step down.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.chat import Buttons, Earlier, Message
from bot.conversation import HANDED_BACK, RESTARTING, Conversation
from retrieval.models import Answer, Briefing
from tests.test_schedule import Clock, Recorder, scheduler

NOW = datetime(2022, 2, 12, 10, tzinfo=UTC)


class SlowReply:
    """A platform whose answer is sent only once `go` is set."""

    def __init__(self) -> None:
        self.go = threading.Event()
        self.sending = threading.Event()
        self.answers: list[Answer] = []
        self.notices: list[str] = []

    def progress(self, text: str) -> None:
        pass

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        self.sending.set()
        self.go.wait(30)
        self.answers.append(answer)

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        pass

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def history(self) -> list[Earlier]:
        return []


def message(n: int = 1) -> Message:
    return Message("chat", "C1", f"m{n}", "U1", "What did Wallace say after meeting Shoigu?", NOW)


def answering(conversation: Conversation, reply: SlowReply) -> threading.Thread:
    thread = threading.Thread(target=conversation.answer, args=(message(), reply))
    thread.start()
    assert reply.sending.wait(30)
    return thread


def test_an_answer_under_way_finishes_and_new_ones_are_asked_again(seed_engine):
    conversation = Conversation(seed_engine)
    reply = SlowReply()
    thread = answering(conversation, reply)
    drained: list[int] = []
    drainer = threading.Thread(target=lambda: drained.append(conversation.drain(30)))
    drainer.start()
    late = SlowReply()
    while conversation.under_way and not conversation.closing:
        time.sleep(0.01)  # until drain has closed the conversation
    assert conversation.answer(message(2), late) is None
    assert late.notices == [RESTARTING] and not late.sending.is_set()
    reply.go.set()
    drainer.join(30)
    thread.join(30)
    assert drained == [0]
    assert len(reply.answers) == 1 and reply.notices == []


def test_an_answer_that_cannot_finish_in_time_is_handed_back(seed_engine):
    conversation = Conversation(seed_engine)
    reply = SlowReply()
    thread = answering(conversation, reply)
    assert conversation.drain(0.2) == 1
    assert reply.notices == [HANDED_BACK]
    reply.go.set()  # the abandoned work ends after all: nothing more reaches the user
    thread.join(30)
    assert reply.notices == [HANDED_BACK]
    assert conversation.under_way == 0


class BlockingRecorder(Recorder):
    """The scheduler's engine and platform, with a briefing whose build or post waits."""

    def __init__(self, block: str) -> None:
        super().__init__()
        self.block = block
        self.started = threading.Event()
        self.go = threading.Event()

    def _wait(self, step: str) -> None:
        if step == self.block:
            self.started.set()
            self.go.wait(30)

    def build(self, *args: Any) -> Briefing:
        self._wait("build")
        return super().build(*args)

    def post(self, channel: Any, briefing: Briefing | str) -> None:
        self._wait("post")
        super().post(channel, briefing)


def run_tick(s: Any) -> tuple[threading.Thread, list]:
    done: list = []
    thread = threading.Thread(target=lambda: done.append(s.tick()))
    thread.start()
    return thread, done


def test_a_briefing_being_built_at_shutdown_is_posted_by_the_next_process(tmp_path: Path):
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(NOW).at("2024-03-01T07:00:00")
    first = scheduler(db, Recorder(), clock)
    first.tick()  # the schedule is seen: from now on its fire times are owed
    clock.at("2024-03-01T08:00:05")
    rec = BlockingRecorder("build")
    s = scheduler(db, rec, clock)
    thread, done = run_tick(s)
    assert rec.started.wait(30)
    assert s.shutdown(5) is True  # nothing was being posted: at once
    assert s.state.history("morning", "slack") == []  # the claim is released
    rec.go.set()
    thread.join(30)
    assert done == [[]] and rec.posted == []  # it stopped before posting
    nxt = Recorder()
    assert [p.until for p in scheduler(db, nxt, clock).tick()] == [
        datetime(2024, 3, 1, 8, tzinfo=UTC)
    ]
    assert len(nxt.posted) == 1


def test_a_briefing_being_posted_at_shutdown_is_finished_and_not_posted_again(tmp_path: Path):
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(NOW).at("2024-03-01T07:00:00")
    scheduler(db, Recorder(), clock).tick()
    clock.at("2024-03-01T08:00:05")
    rec = BlockingRecorder("post")
    s = scheduler(db, rec, clock)
    thread, _ = run_tick(s)
    assert rec.started.wait(30)
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(s.shutdown(30)))
    stopper.start()
    rec.go.set()  # the post goes through while the shutdown waits for it
    stopper.join(30)
    thread.join(30)
    assert stopped == [True] and len(rec.posted) == 1
    assert [r["status"] for r in s.state.history("morning", "slack")] == ["posted"]
    nxt = Recorder()
    assert scheduler(db, nxt, clock).tick() == [] and nxt.posted == []


def test_a_post_that_outlasts_the_grace_period_keeps_its_claim(tmp_path: Path):
    """It may still go through: the claim is left to expire (claim_ttl), not released, so that
    the next process does not post it a second time meanwhile."""
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(NOW).at("2024-03-01T07:00:00")
    scheduler(db, Recorder(), clock).tick()
    clock.at("2024-03-01T08:00:05")
    rec = BlockingRecorder("post")
    s = scheduler(db, rec, clock)
    thread, _ = run_tick(s)
    assert rec.started.wait(30)
    assert s.shutdown(0.1) is False
    assert [r["status"] for r in s.state.history("morning", "slack")] == ["claimed"]
    assert scheduler(db, Recorder(), clock).tick() == []  # another process waits for it
    rec.go.set()
    thread.join(30)
    assert [r["status"] for r in s.state.history("morning", "slack")] == ["posted"]
