"""The conversation's rules, once, in no platform's terms: against the real engine on the seed
article, with a `Reply` that records what the conversation asks an adapter to send.

The adapters' own tests (test_slack_app.py, test_discord_app.py) check that each platform's
payloads become these messages, and that what is sent renders right.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.conversation import (
    APOLOGY,
    PREPARING,
    SEARCHING,
    Conversation,
    Earlier,
    Message,
    follow_up,
    window_start,
)
from retrieval.engine import Engine
from retrieval.errors import BriefbotError, QuestionError
from retrieval.events import SeenEvents
from retrieval.feedback import AlreadyVoted, FeedbackStore, UnknownAnswer
from retrieval.models import Answer, Briefing

NOW = datetime(2022, 2, 12, 10, tzinfo=UTC)  # the day after the seed article
QUESTION = "What did Wallace discuss with Shoigu in Moscow?"
FOLLOW_UP = "what did they agree on?"


class Recorder:
    """A Reply that keeps what it is asked to do, in order."""

    def __init__(self, earlier: list[Earlier] | None = None, fail: bool = False) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.earlier = earlier or []
        self.fail = fail  # the platform refuses every message

    def _sent(self, kind: str, what: Any) -> None:
        if self.fail:
            raise ConnectionError("the platform is down")
        self.calls.append((kind, what))

    def progress(self, text: str) -> None:
        self.calls.append(("progress", text))

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        self._sent("answer", (answer, vote_key, context))

    def briefing(self, briefing: Briefing, key: str) -> None:
        self._sent("briefing", (briefing, key))

    def notice(self, text: str) -> None:
        self._sent("notice", text)

    def history(self) -> list[Earlier]:
        self.calls.append(("history", None))
        return self.earlier

    def kinds(self) -> list[str]:
        return [k for k, _ in self.calls]


def message(text: str, thread: str | None = None, id: str = "m1", **kw: Any) -> Message:
    return Message("chat", "C1", id, "U1", text, NOW, thread=thread, **kw)


@pytest.fixture
def conversation(seed_engine: Engine, tmp_path) -> Conversation:
    return Conversation(
        seed_engine, FeedbackStore.in_data_dir(tmp_path), SeenEvents.in_data_dir(tmp_path)
    )


# -- a question -----------------------------------------------------------------------------
def test_a_question_gets_progress_then_its_answer_with_a_vote_key(conversation):
    reply = Recorder()
    answer = conversation.answer(message(QUESTION), reply)
    assert answer is not None and not answer.abstained
    assert reply.kinds() == ["progress", "answer"]  # no thread: its history is not read
    assert reply.calls[0] == ("progress", SEARCHING)
    sent, key, context = reply.calls[1][1]
    assert sent is answer and context == ""
    assert key is not None and conversation.recall(key) is answer


def test_the_answer_is_as_of_the_message(conversation, seed_engine, monkeypatch):
    asked: list[tuple[str, Any, str]] = []
    original = Engine.ask

    def spy(self: Engine, question: str, now: Any = None, context: str = "") -> Answer:
        asked.append((question, now, context))
        return original(self, question, now=now, context=context)

    monkeypatch.setattr(Engine, "ask", spy)
    conversation.answer(message(f"  {QUESTION}  "), Recorder())
    assert asked == [(QUESTION, NOW, "")]


def test_a_bad_question_is_told_in_its_own_words_after_the_placeholder(conversation):
    """The placeholder comes first: a platform may have shown it before the check."""
    reply = Recorder()
    assert conversation.answer(message("   "), reply) is None
    assert reply.calls == [("progress", SEARCHING), ("notice", "The question is empty.")]
    reply = Recorder()
    conversation.answer(message("why " * 600), reply)
    assert "the limit is 2,000" in reply.calls[-1][1]


def test_a_follow_up_in_a_thread_is_read_with_the_earlier_questions(conversation):
    alone = Recorder()
    conversation.answer(message(FOLLOW_UP), alone)
    assert alone.calls[-1][1][0].abstained  # on its own it answers nothing

    earlier = [Earlier(QUESTION, True), Earlier("interesting", False)]
    reply = Recorder(earlier)
    answer = conversation.answer(message(FOLLOW_UP, thread="T1", id="m2"), reply)
    assert reply.kinds() == ["progress", "history", "answer"]
    assert answer is not None and not answer.abstained
    assert reply.calls[-1][1][2] == QUESTION  # the context it was read with


def test_the_follow_up_rule() -> None:
    q = [Earlier(f"q{k}", True) for k in range(5)]
    chat = Earlier("nice", False)
    assert follow_up([]) == ""
    assert follow_up([q[0], chat, q[1]]) == "q0 q1"
    assert follow_up([*q, chat]) == "q2 q3 q4"  # the last three questions
    # A thread the bot was only just called into: its opening message is what it is about.
    assert follow_up([Earlier("the budget vote", False), chat]) == "the budget vote"
    assert follow_up([q[0], q[0], Earlier("", True)]) == "q0"  # once each, blanks skipped


# -- the error policy -----------------------------------------------------------------------
def test_an_error_for_the_user_is_shown_as_it_is(conversation, monkeypatch):
    def refuse(self: Engine, *args: Any, **kw: Any) -> Answer:
        raise BriefbotError("The index could not be read just now. Try again in a moment.")

    monkeypatch.setattr(Engine, "ask", refuse)
    reply = Recorder()
    conversation.answer(message(QUESTION), reply)
    assert reply.calls[-1] == (
        "notice",
        "The index could not be read just now. Try again in a moment.",
    )


def test_a_bug_is_an_apology_with_the_id_the_log_carries(conversation, monkeypatch, caplog):
    def broken(self: Engine, *args: Any, **kw: Any) -> Answer:
        raise RuntimeError("the index is on fire")

    monkeypatch.setattr(Engine, "ask", broken)
    reply = Recorder()
    with caplog.at_level(logging.ERROR):
        assert conversation.answer(message(QUESTION), reply) is None
    kind, text = reply.calls[-1]
    pattern = re.escape(APOLOGY).replace(re.escape("{error_id}"), "([0-9a-f]{8})")
    found = re.fullmatch(pattern, text)
    assert kind == "notice" and found and "fire" not in text
    [record] = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert record.exc_info and "the index is on fire" in str(record.exc_info[1])


def test_a_reply_that_cannot_be_delivered_is_logged_not_raised(conversation, caplog):
    with caplog.at_level(logging.ERROR):
        assert conversation.answer(message("   "), Recorder(fail=True)) is None
    assert "could not deliver a reply" in caplog.text


# -- briefings ------------------------------------------------------------------------------
def test_the_window_default_and_what_since_accepts() -> None:
    now = datetime(2022, 2, 20, 12, tzinfo=UTC)
    assert window_start(None, now) == datetime(2022, 2, 19, 12, tzinfo=UTC)
    assert window_start("  ", now) == datetime(2022, 2, 19, 12, tzinfo=UTC)
    assert window_start("7d", now) == datetime(2022, 2, 13, 12, tzinfo=UTC)
    assert window_start("2w", now) == datetime(2022, 2, 6, 12, tzinfo=UTC)
    assert window_start("2022-02-01", now) == datetime(2022, 2, 1, tzinfo=UTC)
    with pytest.raises(BriefbotError, match="since: 'yesterday'"):
        window_start("yesterday", now)


def test_a_topic_is_checked_as_a_question_is(conversation) -> None:
    since = window_start("7d", NOW)
    request = conversation.brief_request("  Ukraine   war ", since, NOW)
    assert (request.since, request.until, request.topic) == (since, NOW, "Ukraine war")
    assert conversation.brief_request("   ", since, NOW).topic is None
    with pytest.raises(QuestionError, match="the limit is 2,000"):
        conversation.brief_request("why " * 600, since, NOW)


def test_a_briefing_gets_progress_then_the_briefing_kept_for_its_buttons(conversation) -> None:
    request = conversation.brief_request("ukraine", window_start("2022-02-01", NOW), NOW)
    reply = Recorder()
    briefing = conversation.brief(request, reply)
    assert briefing is not None and briefing.stories and briefing.topic == "ukraine"
    assert reply.kinds() == ["progress", "briefing"] and reply.calls[0][1] == PREPARING
    sent, key = reply.calls[1][1]
    assert sent is briefing and conversation.recall(key) is briefing


# -- the memory of recent events ------------------------------------------------------------
def test_a_message_is_answered_once_by_any_process(seed_engine, tmp_path) -> None:
    """Two conversations sharing a data directory, as two replicas: one claims each message."""
    first, second = (
        Conversation(seed_engine, None, SeenEvents.in_data_dir(tmp_path)) for _ in range(2)
    )
    assert first.claim(message(QUESTION))
    assert not second.claim(message(QUESTION)) and not first.claim(message(QUESTION))
    assert second.claim(message(QUESTION, id="m2"))
    assert second.claim(Message("other", "C1", "m1", "U1", QUESTION, NOW))  # another platform


def test_votes_count_once_per_person_and_only_on_answers_kept(conversation, seed_engine):
    answer = seed_engine.ask(QUESTION, now=NOW)
    key = conversation.keep_answer(answer)
    assert key is not None
    vote = conversation.vote(key, "chat", "U1", 1)
    assert (vote.question, vote.answer, vote.vote) == (QUESTION, answer.answer, 1)
    assert vote.article_ids == ("000_0070773c25b31aea",)
    with pytest.raises(AlreadyVoted):
        conversation.vote(key, "chat", "U1", -1)
    conversation.vote(key, "chat", "U2", -1)
    with pytest.raises(UnknownAnswer):
        conversation.vote("0" * 16, "chat", "U1", 1)
    # An answer asked again for a button that outlived its process keeps the button's key.
    assert conversation.keep_answer(answer, key="0" * 16) == "0" * 16
    conversation.vote("0" * 16, "chat", "U1", 1)
    # Nothing to vote on: an abstention, or no feedback store.
    abstention = seed_engine.ask("How do I bake rye bread?", now=NOW)
    assert abstention.abstained and conversation.keep_answer(abstention) is None
    assert Conversation(seed_engine).keep_answer(answer) is None
    with pytest.raises(BriefbotError, match="not being recorded"):
        Conversation(seed_engine).vote(key, "chat", "U3", 1)
