"""The conversation's rules, once, in no platform's terms: against the real engine on the seed
article, with a `Reply` (and a `Pressed`) that records what the conversation asks an adapter to
send. Each rule is tested here and nowhere else.

The adapters' own tests (test_slack_app.py, test_discord_app.py) check that each platform's
payloads become these messages and presses, and that what is said is sent on the platform's
real request path; the renderers' tests (test_render_slack.py, test_render_discord.py), how it
looks.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.asked import Asked, AskedStore
from bot.chat import Buttons, Earlier, FollowRequest, Message, Press
from bot.conversation import (
    ALREADY_VOTED,
    APOLOGY,
    BUTTON_GONE,
    DECLINE,
    PREPARING,
    SEARCHING,
    SHARED,
    VOTED,
    Conversation,
    FollowUsage,
    NotHere,
    channel_ids,
    follow_request,
    follow_up,
    followed_text,
    parse_follow,
    window_start,
)
from retrieval.engine import Engine
from retrieval.errors import BriefbotError, QuestionError
from retrieval.events import SeenEvents
from retrieval.feedback import FeedbackStore
from retrieval.models import Answer, Briefing

NOW = datetime(2022, 2, 12, 10, tzinfo=UTC)  # the day after the seed article
QUESTION = "What did Wallace discuss with Shoigu in Moscow?"
FOLLOW_UP = "what did they agree on?"
SEED_ID = "000_0070773c25b31aea"


class Recorder:
    """A Reply that keeps what it is asked to do, in order."""

    def __init__(
        self, earlier: list[Earlier] | None = None, fail: bool = False, bug: bool = False
    ) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.earlier = earlier or []
        self.fail = fail  # the platform refuses every message
        self.bug = bug  # the adapter breaks as work begins

    stream_interval = 0.0

    def _sent(self, kind: str, what: Any) -> None:
        if self.fail:
            raise ConnectionError("the platform is down")
        self.calls.append((kind, what))

    def progress(self, text: str) -> None:
        if self.bug:
            raise RuntimeError("the adapter is on fire")
        self.calls.append(("progress", text))

    def stream(self, text: str) -> None:
        self.calls.append(("stream", text))

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        self._sent("answer", (answer, buttons))

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        self._sent("briefing", (briefing, buttons))

    def notice(self, text: str) -> None:
        self._sent("notice", text)

    def decline(self, text: str) -> None:
        self._sent("decline", text)

    def history(self) -> list[Earlier]:
        self.calls.append(("history", None))
        return self.earlier

    def kinds(self) -> list[str]:
        return [k for k, _ in self.calls]


class Presser:
    """A Pressed that keeps what a button press is told to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def tell(self, text: str) -> None:
        self.calls.append(("tell", text))

    def post(self, item: Answer | Briefing, buttons: Buttons | None, shared_by: str) -> None:
        self.calls.append(("post", (item, buttons, shared_by)))

    def replace(self, text: str) -> None:
        self.calls.append(("replace", text))


def message(text: str, thread: str | None = None, id: str = "m1", **kw: Any) -> Message:
    return Message("chat", kw.pop("channel", "C1"), id, "U1", text, NOW, thread=thread, **kw)


def stores(data: Path) -> dict[str, Any]:
    """The stores a service keeps in its data directory, as another process would open them."""
    return {
        "feedback": FeedbackStore.in_data_dir(data),
        "seen": SeenEvents.in_data_dir(data),
        "asked": AskedStore.in_data_dir(data),
    }


@pytest.fixture
def conversation(seed_engine: Engine, tmp_path) -> Conversation:
    return Conversation(seed_engine, **stores(tmp_path))


# -- a question -----------------------------------------------------------------------------
def test_a_question_gets_progress_then_its_answer_with_votes(conversation):
    reply = Recorder()
    answer = conversation.answer(message(QUESTION), reply)
    assert answer is not None and not answer.abstained
    assert reply.kinds() == ["progress", "answer"]  # no thread: its history is not read
    assert reply.calls[0] == ("progress", SEARCHING)
    sent, buttons = reply.calls[1][1]
    assert sent is answer and conversation.recall(buttons.key) is answer
    # 👍 / 👎 under it; no Share: everyone in the conversation sees it already.
    assert (buttons.vote, buttons.share) == (True, False)
    assert buttons.asked == Asked.question(QUESTION, NOW, "")


def test_the_answer_is_as_of_the_message(conversation, seed_engine):
    answer = conversation.answer(message(f"  {QUESTION}  "), Recorder())
    expected = seed_engine.ask(QUESTION, now=NOW)
    assert answer is not None and answer.question == QUESTION
    assert (answer.answer, answer.citations) == (expected.answer, expected.citations)
    # Asked before the article was published, the same question finds nothing.
    before = Message("chat", "C1", "m0", "U1", QUESTION, datetime(2022, 2, 10, tzinfo=UTC))
    reply = Recorder()
    assert conversation.answer(before, reply).abstained
    assert reply.calls[-1][1][1] is None  # nothing to vote on, nothing to share


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
    assert reply.calls[-1][1][1].asked.context == QUESTION  # what it was read with


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
def test_a_bug_is_an_apology_with_the_id_the_log_carries(conversation, caplog):
    reply = Recorder(bug=True)
    with caplog.at_level(logging.ERROR):
        assert conversation.answer(message(QUESTION), reply) is None
    kind, text = reply.calls[-1]
    pattern = re.escape(APOLOGY).replace(re.escape("{error_id}"), "([0-9a-f]{8})")
    found = re.fullmatch(pattern, text)
    assert kind == "notice" and found and "fire" not in text
    [record] = [r for r in caplog.records if found.group(1) in r.getMessage()]
    assert record.exc_info and "the adapter is on fire" in str(record.exc_info[1])
    assert conversation.failure(QuestionError("Too long.")) == "Too long."  # a user's: as is


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


def test_a_briefing_gets_progress_then_the_briefing_and_share_when_private(conversation):
    request = conversation.brief_request("ukraine", window_start("2022-02-01", NOW), NOW)
    reply = Recorder()
    briefing = conversation.brief(request, reply)
    assert briefing is not None and briefing.stories and briefing.topic == "ukraine"
    assert reply.kinds() == ["progress", "briefing"] and reply.calls[0][1] == PREPARING
    assert reply.calls[1][1] == (briefing, None)  # seen by all: nothing to share

    private = Recorder()
    briefing = conversation.brief(request, private, private=True)
    sent, buttons = private.calls[-1][1]
    assert sent is briefing and conversation.recall(buttons.key) is briefing
    assert (buttons.vote, buttons.share) == (False, True)
    assert buttons.asked == Asked.briefing("ukraine", request.since, NOW)
    # An empty window has nothing to share.
    later = datetime(2023, 2, 12, tzinfo=UTC)  # a day long after the seed article
    empty = conversation.brief_request(None, window_start(None, later), later)
    nothing = Recorder()
    assert conversation.brief(empty, nothing, private=True).empty
    assert nothing.calls[-1][1][1] is None


# -- buttons: which go under what -------------------------------------------------------------
def test_share_goes_under_what_only_its_asker_sees_and_votes_need_a_store(seed_engine):
    private = message(QUESTION, private=True)
    reply = Recorder()
    Conversation(seed_engine).answer(private, reply)  # no feedback store: no votes
    buttons = reply.calls[-1][1][1]
    assert (buttons.vote, buttons.share) == (False, True)
    reply = Recorder()
    Conversation(seed_engine).answer(message(QUESTION), reply)
    assert reply.calls[-1][1][1] is None  # seen by all, and no votes kept
    abstention = seed_engine.ask("How do I bake rye bread?", now=NOW)
    assert abstention.abstained and Conversation(seed_engine).keep_answer(abstention) is None


def test_votes_count_once_per_person(conversation, seed_engine):
    reply = Recorder()
    answer = conversation.answer(message(QUESTION), reply)
    key = reply.calls[-1][1][1].key
    pressed = Presser()
    conversation.vote(Press("chat", "U1", key), 1, pressed)
    conversation.vote(Press("chat", "U1", key), -1, pressed)  # a second vote, the other way
    conversation.vote(Press("chat", "U2", key), -1, pressed)
    assert pressed.calls == [
        ("tell", VOTED.format(emoji="👍")),
        ("tell", ALREADY_VOTED),
        ("tell", VOTED.format(emoji="👎")),
    ]
    votes = {v.user_id: v for v in conversation.feedback.list()}
    assert (votes["U1"].vote, votes["U2"].vote) == (1, -1)
    assert (votes["U1"].question, votes["U1"].answer) == (QUESTION, answer.answer)
    assert votes["U1"].article_ids == (SEED_ID,) and votes["U1"].platform == "chat"
    # Without a feedback store, nothing is counted, and the presser is told so.
    unrecorded = Presser()
    Conversation(seed_engine).vote(Press("chat", "U3", key), 1, unrecorded)
    assert unrecorded.calls == [("tell", "Votes are not being recorded right now.")]


def test_share_posts_for_everyone_with_votes_and_replaces_the_private_copy(conversation):
    reply = Recorder()
    answer = conversation.answer(message(QUESTION, private=True), reply)
    key = reply.calls[-1][1][1].key
    pressed = Presser()
    conversation.share(Press("chat", "U7", key), pressed)
    [(kind, (item, buttons, shared_by)), replaced] = pressed.calls
    assert (kind, item, shared_by) == ("post", answer, "U7")
    assert (buttons.key, buttons.vote, buttons.share) == (key, True, False)
    assert replaced == ("replace", SHARED)


# -- after a restart: a button whose answer this process no longer holds ----------------------
def test_a_button_asks_again_from_what_it_carries(seed_engine, tmp_path):
    """Slack's buttons carry what was asked: a new process, with stores of its own, asks it
    again, keeps it under the button's key, and a second vote is still a second vote."""
    moment = datetime(2022, 2, 12, tzinfo=UTC)
    asked = Asked.question("What did the agreements signed in 2014 and 2015 stop?", moment)
    expected = seed_engine.ask(asked.text, now=moment)
    restarted = Conversation(seed_engine, **stores(tmp_path / "new"))
    pressed = Presser()
    restarted.vote(Press("chat", "U8", "gone", asked), -1, pressed)
    restarted.vote(Press("chat", "U8", "gone", asked), 1, pressed)
    assert pressed.calls == [("tell", VOTED.format(emoji="👎")), ("tell", ALREADY_VOTED)]
    [vote] = restarted.feedback.list()
    assert (vote.vote, vote.question, vote.answer) == (-1, asked.text, expected.answer)
    # And a briefing's Share asks its window again.
    window = Asked.briefing(None, datetime(2022, 2, 1, tzinfo=UTC), moment)
    restarted.share(Press("chat", "U8", "brief-key", window), pressed)
    [_, _, (kind, (briefing, buttons, _)), replaced] = pressed.calls
    assert kind == "post" and isinstance(briefing, Briefing) and briefing.stories
    assert buttons is None and replaced == ("replace", SHARED)


def test_a_button_asks_again_from_what_was_kept_under_its_key(seed_engine, tmp_path):
    """Discord's buttons carry only the key: a process sharing the data directory finds what
    was asked in it (a follow-up with the context it was read with)."""
    first = Conversation(seed_engine, **stores(tmp_path))
    reply = Recorder([Earlier(QUESTION, True)])
    answer = first.answer(message(FOLLOW_UP, thread="T1", private=True), reply)
    key = reply.calls[-1][1][1].key

    restarted = Conversation(seed_engine, **stores(tmp_path))
    assert restarted.recent.get(key) is None
    pressed = Presser()
    restarted.share(Press("chat", "U7", key), pressed)
    shared = pressed.calls[0][1][0]
    assert (shared.answer, shared.citations) == (answer.answer, answer.citations)
    assert restarted.recall(key) is shared  # kept again, under the same key


def test_a_button_with_nothing_to_ask_again_says_it_no_longer_works(conversation, seed_engine):
    pressed = Presser()
    conversation.share(Press("chat", "U1", "0" * 16), pressed)
    conversation.vote(Press("chat", "U1", "0" * 16), 1, pressed)
    assert pressed.calls == [("tell", BUTTON_GONE), ("tell", BUTTON_GONE)]
    with pytest.raises(BriefbotError, match="no longer works"):
        Conversation(seed_engine).recall("0" * 16)  # no store: only what is in memory


def test_what_was_asked_is_kept_for_a_while_then_forgotten(tmp_path):
    store = AskedStore(tmp_path / "asked.sqlite3", keep=timedelta(days=1))
    asked = Asked.question("q", NOW, "earlier q")
    store.put("k1", asked, now=0.0)
    assert store.get("k1", now=3600.0) == asked
    assert store.get("k1", now=2 * 86400.0) is None
    assert (tmp_path / "asked.sqlite3").stat().st_mode & 0o077 == 0  # the owner's alone


# -- the memory of recent events ------------------------------------------------------------
def test_a_message_is_answered_once_by_any_process(seed_engine, tmp_path) -> None:
    """Two conversations sharing a data directory, as two replicas: one claims each message,
    and a redelivery gets nothing at all."""
    first, second = (
        Conversation(seed_engine, None, SeenEvents.in_data_dir(tmp_path)) for _ in range(2)
    )
    assert first.receive(message(QUESTION), Recorder()) is not None
    again = Recorder()
    assert second.receive(message(QUESTION), again) is None and again.calls == []
    assert not first.claim(message(QUESTION))
    assert second.claim(message(QUESTION, id="m2"))
    assert second.claim(Message("other", "C1", "m1", "U1", QUESTION, NOW))  # another platform


# -- where each platform answers --------------------------------------------------------------
def test_outside_its_platforms_channels_a_message_is_declined_once(seed_engine, tmp_path):
    conversation = Conversation(
        seed_engine, seen=SeenEvents.in_data_dir(tmp_path), allowed={"chat": {"C1", "C2"}}
    )
    reply = Recorder()
    assert conversation.receive(message(QUESTION, channel="C9"), reply) is None
    assert reply.calls == [("decline", DECLINE)]  # nothing searched, nothing answered
    again = Recorder()
    assert conversation.receive(message(QUESTION, channel="C9"), again) is None
    assert again.calls == []  # a redelivery is not declined twice
    # In an allowed channel, in a thread of one (a channel of its own on some platforms), and
    # on a platform with no list, it answers.
    assert conversation.receive(message(QUESTION, channel="C2", id="m2"), Recorder())
    in_thread = message(QUESTION, channel="T5", id="m3", thread="T5", parent_channel="C1")
    assert conversation.receive(in_thread, Recorder())
    elsewhere = Message("other", "C9", "m4", "U1", QUESTION, NOW)
    assert conversation.receive(elsewhere, Recorder())


def test_a_command_outside_the_channels_is_refused_before_it_is_acknowledged(seed_engine):
    conversation = Conversation(seed_engine, allowed={"chat": ["C1"], "other": []})
    with pytest.raises(NotHere, match=re.escape(DECLINE)):
        conversation.check_channel(message(QUESTION, channel="C9", private=True))
    conversation.check_channel(message(QUESTION, channel="C1", private=True))
    conversation.check_channel(Message("other", "C9", "m1", "U1", QUESTION, NOW))  # none: all
    assert channel_ids(" C1, ,C2 ,") == {"C1", "C2"} and channel_ids("") == frozenset()


# -- following a topic -----------------------------------------------------------------------
class Channel:
    """An Announce that keeps what the channel is told, and what only the typist is."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def announce(self, text: str) -> None:
        self.calls.append(("announce", text))

    def tell(self, text: str) -> None:
        self.calls.append(("tell", text))


def test_follow_flags_are_read_anywhere_and_a_bad_one_is_named() -> None:
    assert parse_follow("Griner trial") == FollowRequest("Griner trial")
    assert parse_follow("--digest=hourly Griner --since 2022-07-01  trial") == FollowRequest(
        "Griner trial", "hourly", date(2022, 7, 1)
    )
    assert parse_follow("Griner trial —digest DAILY --dig daily") == FollowRequest(
        "Griner trial", "daily"
    )  # a phone's dash; an abbreviation
    assert parse_follow("Biden's speech").topic == "Biden's speech"  # no open quotation
    assert parse_follow('"--digest in the news"').topic == "--digest in the news"
    for text, said in [
        ("x --digest weekly", "--digest: 'weekly' is not hourly or daily."),
        ("x --digest", "--digest needs a value."),
        ("x --since 2022-13-45", "--since: '2022-13-45' is not a date (YYYY-MM-DD)."),
        ("x --every day", "Unknown option --every: /follow takes --digest and --since."),
        ('x "open', "A quotation mark is not closed."),
        ("--digest daily", "The topic is missing."),
    ]:
        with pytest.raises(FollowUsage) as caught:
            parse_follow(text)
        assert str(caught.value) == said


def test_follow_options_are_checked_as_the_flags_are() -> None:
    assert follow_request(" Griner \n trial ", "daily", "2022-07-01") == FollowRequest(
        "Griner trial", "daily", date(2022, 7, 1)
    )
    assert follow_request("Griner trial", None, " ") == FollowRequest("Griner trial")
    with pytest.raises(FollowUsage, match=r"^digest: 'weekly' is not hourly or daily\.$"):
        follow_request("x", "weekly")
    with pytest.raises(FollowUsage, match=r"^since: 'tomorrow' is not a date \(YYYY-MM-DD\)\.$"):
        follow_request("x", since="tomorrow")


def test_following_is_told_to_the_channel_and_mistakes_to_whoever_typed(conversation):
    here = message("", channel="F1")
    channel = Channel()
    added = conversation.follow(
        here, FollowRequest("Ben Wallace in Moscow", "daily", date(2022, 2, 1)), channel
    )
    assert added is not None and added.created and added.matches == 1
    assert added.follow.created_by == "U1"
    assert channel.calls == [("announce", followed_text(added))]
    assert followed_text(added) == (
        "Following “Ben Wallace in Moscow” in this channel: new developments are posted in a "
        "thread of their own, in a daily digest; articles published before 2022-02-01 don't "
        "count. 1 indexed article is about it already; only what is new from now on is posted."
    )
    griner = conversation.follow(here, FollowRequest("Griner trial"), Channel())
    assert griner is not None and griner.matches == 0
    assert followed_text(griner).endswith(
        "as they happen. Nothing indexed matches it yet: the first post comes when something does."
    )
    again = conversation.follow(here, FollowRequest("GRINER  trial", "hourly"), Channel())
    assert again is not None and not again.created
    assert followed_text(again) == (
        "This channel already follows “Griner trial”: new developments are now posted in an "
        "hourly digest."
    )
    for topic in ("", "strike " * 30):
        told = Channel()
        assert conversation.follow(here, FollowRequest(topic), told) is None
        [(kind, text)] = told.calls
        assert kind == "tell" and text.startswith("The topic ")

    listed = Channel()
    follows = conversation.following(here, listed)
    assert [f.topic for f in follows or []] == ["Ben Wallace in Moscow", "Griner trial"]
    assert listed.calls == [
        (
            "announce",
            "This channel follows 2 topics:\n"
            "• Ben Wallace in Moscow: daily digest, since 2022-02-01; last posted never\n"
            "• Griner trial: hourly digest; last posted never",
        )
    ]
    gone = Channel()
    assert conversation.unfollow(here, " griner\ttrial ", gone) is not None
    assert gone.calls == [("announce", "Stopped following “Griner trial” in this channel.")]
    unknown = Channel()
    assert conversation.unfollow(here, "Griner trial", unknown) is None
    assert unknown.calls == [
        (
            "tell",
            "This channel does not follow 'Griner trial'. It follows: Ben Wallace in Moscow.",
        )
    ]
    conversation.unfollow(here, "Ben Wallace in Moscow", Channel())
    empty = Channel()
    conversation.following(here, empty)
    assert empty.calls == [
        ("announce", "This channel follows no topic yet: /follow TOPIC starts one.")
    ]


def test_a_follow_outside_the_platforms_channels_is_declined(seed_engine):
    conversation = Conversation(seed_engine, allowed={"chat": {"C1"}})
    elsewhere = message("", channel="F9")
    for act in (
        lambda told: conversation.follow(elsewhere, FollowRequest("Griner trial"), told),
        lambda told: conversation.following(elsewhere, told),
        lambda told: conversation.unfollow(elsewhere, "Griner trial", told),
    ):
        told = Channel()
        assert act(told) is None and told.calls == [("tell", DECLINE)]
    assert seed_engine.follows.list("chat", "F9") == []
