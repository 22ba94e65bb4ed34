"""Following a story: a channel is told each new development on a topic once, with the sentence
that says so; not an unrelated story nor one that names the topic in passing, not another
outlet's report of the event (in its own words), not again after a restart or from a second
replica; a corrected figure is told; limits, quiet hours and digests hold posts.

The articles are small and written here, in several styles: a trial over several days, a
verdict reported by three outlets, a strike, an unrelated story.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pytest

from retrieval.answering.sentences import same_fact
from retrieval.config_file import ConfigFile, load_config
from retrieval.engine import Engine
from retrieval.errors import FollowError, SettingsError
from retrieval.models import Article
from retrieval.news.follow import FollowOptions, FollowPost
from retrieval.news.newness import covers, figures
from retrieval.news.sameevent import FEATURES, Report, SameEvent, lead_of, new_figure
from tests.conftest import SMALL_CHUNKS, make_settings
from tests.follow_articles import (
    FROG,
    HARBOUR,
    HARBOUR_MENTION,
    PLEA,
    RESIGNS,
    STEPS_DOWN,
    STRIKE,
    TRIAL_OPENS,
    VERDICT,
    VERDICT_CORRECTED,
    VERDICT_HERALD,
    VERDICT_POST,
)

T0 = datetime(2026, 3, 2, 10, 10, tzinfo=UTC)


class Channel:
    """The platform, as the follower sees it: records each post, returns a thread id for the
    first, and fails the next `fail` posts."""

    def __init__(self, fail: int = 0) -> None:
        self.posts: list[FollowPost] = []
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, post: FollowPost) -> str | None:
        with self._lock:
            if self.fail:
                self.fail -= 1
                raise ConnectionError("the platform is down")
            self.posts.append(post)
            return None if post.follow.thread else f"thread-{len(self.posts)}"

    @property
    def articles(self) -> list[str]:
        return [d.article_id for p in self.posts for d in p.developments]


@pytest.fixture
def engine(make_engine) -> Engine:
    engine = make_engine(**SMALL_CHUNKS)
    engine.parts.refresh_seconds = 0
    engine.ingest_articles([HARBOUR])
    return engine


def quote_in(article: Article, post: FollowPost, k: int = 0) -> str:
    c = post.developments[k].citations[0]
    assert c.article_id == article.id
    assert article.text[c.start : c.end] == c.quote  # an exact quote, as every answer's
    assert (c.title, c.source, c.url) == (article.title, article.source, article.url)
    assert c.published == article.published.isoformat()
    return c.quote


# -- what counts as new -------------------------------------------------------------------------
def test_a_relevant_new_article_posts_once_with_its_exact_sentence(engine):
    added = engine.follows.add("cli", "news", "Griner trial", by="U1")
    assert added.created and added.matches == 0  # nothing about it yet: allowed
    engine.follows.add("cli", "trains", "UK rail strike")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    assert follower.tick(T0) == []
    engine.ingest_articles([TRIAL_OPENS, FROG, STRIKE])
    posts = follower.tick(T0)
    by_channel = {p.follow.channel: p for p in posts}
    assert set(by_channel) == {"news", "trains"}  # the frog story is about neither
    griner = by_channel["news"]
    assert "trial of American basketball star Brittney Griner opened" in quote_in(
        TRIAL_OPENS, griner
    )
    assert griner.follow.thread is None and griner.folded == 0
    assert "rail workers walked out" in quote_in(STRIKE, by_channel["trains"])
    assert follower.tick(T0 + timedelta(minutes=1)) == []  # once
    follow = engine.follows.list("cli", "news")[0]
    assert follow.thread == "thread-1" and follow.created_by == "U1"
    assert follow.last_posted_at == T0
    # The next development goes to the topic's thread.
    engine.ingest_articles([PLEA])
    (plea,) = follower.tick(T0 + timedelta(minutes=2))
    assert plea.follow.thread == "thread-1"
    assert "pleaded guilty" in quote_in(PLEA, plea)
    assert engine.follows.list("cli", "news")[0].thread == "thread-1"


def test_a_channel_off_the_allow_list_keeps_its_follows_unposted_until_allowed_again(engine):
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel()
    narrowed = engine.follows.follower("cli", channel, frozenset({"other"}))
    engine.ingest_articles([TRIAL_OPENS])
    assert narrowed.tick(T0) == []
    assert [f.topic for f in engine.follows.list("cli", "news")] == ["Griner trial"]
    (post,) = engine.follows.follower("cli", channel, frozenset({"news", "other"})).tick(T0)
    assert "Griner" in quote_in(TRIAL_OPENS, post)


def test_another_outlets_report_of_the_same_event_is_also_reported_by_not_a_second_post(engine):
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([VERDICT, VERDICT_HERALD])  # one round: folded into one
    (post,) = follower.tick(T0)
    (dev,) = post.developments
    assert dev.article_id == "verdict-a" and dev.also_reported_by == ["Global Herald"]
    assert "nine years in prison" in quote_in(VERDICT, post)
    engine.ingest_articles([VERDICT_POST])  # a later round: told already, not posted
    assert follower.tick(T0 + timedelta(minutes=1)) == []
    assert channel.articles == ["verdict-a"]
    assert engine.metrics.follow_developments_total.labels("told")._value.get() == 2


def test_a_corrected_figure_is_new_and_a_reworded_repeat_is_not(engine):
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([VERDICT])
    assert len(follower.tick(T0)) == 1
    # A new version that changes nothing the post said is not posted again.
    engine.ingest_articles(
        [replace(VERDICT, text=VERDICT.text.replace("President Biden", "US President Joe Biden"))]
    )
    assert follower.tick(T0 + timedelta(minutes=1)) == []
    engine.ingest_articles([VERDICT_CORRECTED])
    (post,) = follower.tick(T0 + timedelta(minutes=2))
    assert "a fine of one million roubles" in quote_in(VERDICT_CORRECTED, post)
    assert channel.articles == ["verdict-a", "verdict-a"]


def test_two_outlets_differently_worded_leads_of_one_event_fold_into_one_post(engine):
    assert not same_fact(lead_of(RESIGNS.text), lead_of(STEPS_DOWN.text))  # few shared words
    engine.follows.add("cli", "news", "Boris Johnson resignation")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([RESIGNS, STEPS_DOWN])
    (post,) = follower.tick(T0)
    (dev,) = post.developments
    assert dev.article_id == "resigns-a" and dev.also_reported_by == ["Global Herald"]


def test_the_other_outlets_lead_a_round_later_is_told_not_posted(engine):
    engine.follows.add("cli", "news", "Boris Johnson resignation")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([RESIGNS])
    assert len(follower.tick(T0)) == 1
    engine.ingest_articles([STEPS_DOWN])
    assert follower.tick(T0 + timedelta(minutes=1)) == []
    assert channel.articles == ["resigns-a"]


def test_a_one_line_mention_of_the_topic_inside_another_story_is_not_posted(engine):
    # The answerer would accept the mention at a low confidence: only aboutness stops it.
    engine.follow_options = replace(engine.follow_options, min_confidence=0.2)
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([HARBOUR_MENTION])
    assert follower.tick(T0) == []
    snap = engine.snapshot()
    i = snap.article_index["harbour-2"]
    relevance = engine.follows.relevance
    assert relevance.headline("Griner trial", snap, i) < FollowOptions().min_headline
    engine.follow_options = replace(engine.follow_options, min_headline=0.0)
    assert relevance.about("Griner trial", snap, i, T0) is not None  # answerable, not about it
    engine.follow_options = replace(engine.follow_options, min_headline=FollowOptions.min_headline)
    engine.ingest_articles([TRIAL_OPENS])  # a report that leads with the topic still posts
    (post,) = follower.tick(T0 + timedelta(minutes=1))
    assert [d.article_id for d in post.developments] == ["trial-1"]


def test_the_same_event_decision_and_its_figure_rule():
    same = SameEvent.load()
    assert len(same.weights) == len(FEATURES) and 0.0 < same.threshold < 1.0
    encode = _bag_of_words
    told = Report("a", ("The death toll from the floods rose to 9 on Tuesday.",), "", None, None)
    day = date(2022, 6, 14)
    later = Report("b", ("The death toll from the floods rose to 12.",), "", None, day)
    told = replace(told, published=day - timedelta(days=1))
    assert new_figure(later, told)  # a new figure, a day later: new
    assert not same(later, told, encode)
    same_day = replace(later, published=told.published)
    assert not new_figure(same_day, told)  # another outlet's figure of the same day: one event
    assert same(same_day, told, encode)
    corrected = replace(same_day, article_id="a")  # a later version of the told article
    assert new_figure(corrected, told)


def _bag_of_words(texts: list[str]) -> np.ndarray:
    """A stand-in encoder: unit vectors of hashed words (the same sentence: cosine 1)."""
    out = np.zeros((len(texts), 64), dtype=np.float32)
    for k, t in enumerate(texts):
        for w in t.lower().split():
            out[k, sum(map(ord, w)) % 64] += 1.0
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_figures_and_what_a_told_sentence_covers():
    assert figures("A court sentenced her to nine years on July 7, 2022.") == {"9"}
    assert figures("The strike involved 1,200 workers at 3 p.m. on Monday.") == {"1200"}
    told = "The death toll from the floods rose to 9 on Tuesday, officials said."
    assert covers(told, "Officials said the flood death toll rose to 9 on Tuesday.")
    assert not covers(told, "The death toll from the floods rose to 12 on Tuesday, officials said.")
    assert not covers(told, "Scientists found a new species of frog in the forests of Peru.")


def test_a_follow_starts_after_the_current_commit_unless_given_a_start_date(engine):
    engine.ingest_articles([TRIAL_OPENS, PLEA])
    added = engine.follows.add("cli", "news", "Griner trial")
    assert added.matches == 2  # both are about it, and indexed already
    assert engine.follows.add("cli", "news", "volcanoes on Mars").matches == 0
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    assert follower.tick(T0) == []  # what was committed before it is not new to it
    since = engine.follows.add("cli", "later", "Griner trial", since=date(2022, 7, 5))
    assert since.created and since.follow.since == date(2022, 7, 5)
    (post,) = follower.tick(T0)
    assert post.follow.channel == "later" and channel.articles == ["trial-2"]  # not July 1
    assert follower.tick(T0 + timedelta(minutes=1)) == []


# -- durable and single ---------------------------------------------------------------------------
def test_a_restart_does_not_post_again_and_keeps_the_thread(engine, numpy_encoder):
    engine.follows.add("cli", "news", "Griner trial")
    engine.ingest_articles([TRIAL_OPENS])
    assert len(engine.follows.follower("cli", Channel()).tick(T0)) == 1
    again = Engine(engine.settings, query_encoder=numpy_encoder, document_encoder=numpy_encoder)
    again.parts.refresh_seconds = 0
    channel = Channel()
    follower = again.follows.follower("cli", channel)
    assert follower.tick(T0 + timedelta(minutes=5)) == []
    again.ingest_articles([PLEA])
    (post,) = follower.tick(T0 + timedelta(minutes=6))
    assert post.follow.thread == "thread-1" and channel.articles == ["trial-2"]


def _replicas(engine: Engine, numpy_encoder, options: FollowOptions) -> list[Engine]:
    other = Engine(engine.settings, query_encoder=numpy_encoder, document_encoder=numpy_encoder)
    for e in (engine, other):
        e.parts.refresh_seconds = 0
        e.follow_options = options
    return [engine, other]


def _at_once(*calls) -> None:
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_two_replicas_ticking_at_once_post_each_development_exactly_once(engine, numpy_encoder):
    engine.follows.add("cli", "news", "Griner trial")
    engine.follows.add("cli", "trains", "UK rail strike")
    channel = Channel()
    replicas = _replicas(engine, numpy_encoder, FollowOptions())
    followers = [e.follows.follower("cli", channel) for e in replicas]
    engine.ingest_articles([TRIAL_OPENS, STRIKE])
    engine.ingest_articles([PLEA])
    start = threading.Barrier(2)

    def run(k: int) -> None:
        start.wait()
        for r in range(4):
            followers[k].tick(T0 + timedelta(seconds=r))

    _at_once(lambda: run(0), lambda: run(1))
    assert sorted(channel.articles) == ["strike-1", "trial-1", "trial-2"]


def test_the_claim_alone_keeps_two_replicas_from_posting_twice(engine, numpy_encoder):
    """Both replicas work the follow at once (no lease), and both read the same developments
    to post before either claims them: each is posted once."""
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel()
    replicas = _replicas(engine, numpy_encoder, FollowOptions(lease_ttl=timedelta(seconds=-1)))
    followers = [e.follows.follower("cli", channel) for e in replicas]
    both_read = threading.Barrier(2, timeout=30)
    for f in followers:
        read = f.state.pending

        def pending(*args, read=read):
            found = read(*args)
            both_read.wait()
            return found

        f.state.pending = pending  # type: ignore[method-assign]
    engine.ingest_articles([TRIAL_OPENS, PLEA])
    _at_once(lambda: followers[0].tick(T0), lambda: followers[1].tick(T0))
    assert sorted(channel.articles) == ["trial-1", "trial-2"]


def test_a_failed_post_is_retried_next_round_and_its_error_is_reported(engine):
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel(fail=1)
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([TRIAL_OPENS])
    assert follower.tick(T0) == []
    last = engine.metrics.last_error
    assert last is not None and last.kind == "follow" and "the platform is down" in last.message
    (post,) = follower.tick(T0 + timedelta(seconds=1))
    assert post.developments[0].article_id == "trial-1" and channel.articles == ["trial-1"]
    text = engine.metrics.exposition()[0].decode()
    assert 'briefbot_follow_posts_total{platform="cli"} 1.0' in text
    assert "briefbot_follows 1.0" in text
    from retrieval.health import health_report

    follows = health_report(engine)["follows"]["cli"]
    assert follows["follows"] == 1 and follows["posts"] == 1
    assert "the platform is down" in follows["last_error"]["message"]


def test_shutdown_finishes_the_post_under_way_and_releases_the_rest(engine):
    engine.follows.add("cli", "news", "Griner trial")
    engine.ingest_articles([TRIAL_OPENS])
    posting, finish = threading.Event(), threading.Event()
    posted: list[FollowPost] = []

    def slow(post: FollowPost) -> str:
        posting.set()
        finish.wait(10)
        posted.append(post)
        return "T"

    follower = engine.follows.follower("cli", slow)
    worker = threading.Thread(target=follower.tick, args=(T0,))
    worker.start()
    assert posting.wait(10)
    stopped: list[bool] = []
    stopper = threading.Thread(target=lambda: stopped.append(follower.shutdown(10)))
    stopper.start()
    finish.set()
    worker.join()
    stopper.join()
    assert stopped == [True] and len(posted) == 1
    assert follower.tick(T0 + timedelta(seconds=1)) == []  # stopped: posts nothing more


# -- where and how often --------------------------------------------------------------------------
def test_the_hourly_limit_holds_posts_and_folds_them_into_the_next(engine):
    engine.follow_options = FollowOptions(max_posts_per_hour=1)
    engine.follows.add("cli", "news", "Griner trial")
    engine.follows.add("cli", "news", "UK rail strike")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([TRIAL_OPENS])
    assert len(follower.tick(T0)) == 1
    engine.ingest_articles([STRIKE])  # another topic, the same channel: over the limit
    assert follower.tick(T0 + timedelta(minutes=1)) == []
    engine.ingest_articles([PLEA])
    assert follower.tick(T0 + timedelta(minutes=2)) == []
    engine.ingest_articles([VERDICT])
    assert follower.tick(T0 + timedelta(minutes=3)) == []
    posts = follower.tick(T0 + timedelta(minutes=61))
    assert len(posts) == 1 and channel.articles[1:] == ["verdict-a"]
    assert posts[0].folded == 1  # the plea: held, counted
    (strike,) = follower.tick(T0 + timedelta(minutes=122))
    assert strike.developments[0].article_id == "strike-1" and strike.folded == 0
    counts = engine.metrics.follow_developments_total
    assert counts.labels("held")._value.get() == 3 and counts.labels("folded")._value.get() == 1


def test_quiet_hours_hold_posts_until_they_end(engine):
    engine.follow_options = FollowOptions(quiet_hours=(time(22), time(7)), timezone="Europe/Paris")
    engine.follows.add("cli", "news", "Griner trial")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([TRIAL_OPENS])
    night = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    assert follower.tick(night) == []
    assert follower.tick(night + timedelta(hours=7)) == []  # 06:30 in Paris
    (post,) = follower.tick(night + timedelta(hours=7, minutes=45))
    assert channel.articles == ["trial-1"] and post.folded == 0


def test_a_digest_batches_a_topics_developments_to_the_end_of_the_period(engine):
    engine.follows.add("cli", "news", "Griner trial", digest="hourly")
    channel = Channel()
    follower = engine.follows.follower("cli", channel)
    engine.ingest_articles([TRIAL_OPENS])
    assert follower.tick(T0) == []
    engine.ingest_articles([PLEA])
    assert follower.tick(T0 + timedelta(minutes=20)) == []
    (post,) = follower.tick(datetime(2026, 3, 2, 11, 0, 1, tzinfo=UTC))
    assert [d.article_id for d in post.developments] == ["trial-1", "trial-2"]
    assert post.folded == 0 and post.follow.digest == "hourly"
    assert follower.tick(datetime(2026, 3, 2, 12, 0, 1, tzinfo=UTC)) == []


def test_a_daily_digest_ends_at_midnight_in_the_time_zone():
    o = FollowOptions(timezone="America/New_York")
    end = o.period_end("daily", datetime(2026, 3, 2, 3, 0, tzinfo=UTC))  # 22:00 on the 1st
    assert end == datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


# -- add, remove, list ----------------------------------------------------------------------------
def test_adding_checks_the_topic_the_digest_and_the_start_date(engine):
    follows = engine.follows
    with pytest.raises(FollowError, match="topic is empty"):
        follows.add("cli", "c", "   ")
    with pytest.raises(FollowError, match="130 characters long; the limit is 120"):
        follows.add("cli", "c", "x" * 130)
    with pytest.raises(FollowError, match="'weekly' is not a digest"):
        follows.add("cli", "c", "Griner trial", digest="weekly")
    with pytest.raises(FollowError, match="start date 2999-01-01 is in the future"):
        follows.add("cli", "c", "Griner trial", since=date(2999, 1, 1))
    for k in range(25):
        follows.add("cli", "full", f"topic {k}")
    with pytest.raises(FollowError, match="follows 25 topics already.*'topic 25'"):
        follows.add("cli", "full", "topic 25")
    assert follows.add("cli", "other", "topic 25").created  # the limit is per channel


def test_a_topic_is_found_whatever_its_case_accents_and_spaces(engine):
    follows = engine.follows
    first = follows.add("slack", "C1", "Griner  trial")
    assert first.follow.topic == "Griner trial" and first.follow.key == "griner trial"
    follows.add("slack", "C1", "Café prices")
    again = follows.add("slack", "C1", "GRINER trial", digest="daily")
    assert not again.created and again.follow.digest == "daily"
    assert [f.topic for f in follows.list("slack", "C1")] == ["Griner trial", "Café prices"]
    assert follows.list("discord", "C1") == []
    assert follows.remove("slack", "C1", "cafe  PRICES").topic == "Café prices"
    with pytest.raises(FollowError) as info:
        follows.remove("slack", "C1", "UK energy price cap")
    assert str(info.value) == (
        "This channel does not follow 'UK energy price cap'. It follows: Griner trial."
    )
    follows.remove("slack", "C1", "griner trial")
    with pytest.raises(FollowError, match="It follows no topic"):
        follows.remove("slack", "C1", "griner trial")
    assert follows.all() == []


# -- the configuration file -----------------------------------------------------------------------
def test_the_follow_section_of_the_configuration_file(tmp_path: Path):
    path = tmp_path / "briefbot.yaml"
    path.write_text(
        'follow:\n  quiet_hours: "22:00-07:00"\n  timezone: Europe/London\n'
        "  max_posts_per_hour: 3\n"
    )
    o = load_config(path).follow_options()
    assert o.quiet_hours == (time(22), time(7)) and o.timezone == "Europe/London"
    assert o.max_posts_per_hour == 3
    assert ConfigFile.parse({}).follow_options() == FollowOptions()
    for text, message in (
        ('follow:\n  quiet_hours: "late"\n', "line 2: follow.quiet_hours: 'late' is not a time"),
        ("follow:\n  timezone: Mars/Olympus\n", "line 2: follow.timezone: 'Mars/Olympus' is not"),
        ("follow:\n  max_posts_per_hour: 0\n", "line 2: follow.max_posts_per_hour: "),
        ("follow:\n  quiet: 1\n", "line 2: follow.quiet: unknown key"),
    ):
        path.write_text(text)
        with pytest.raises(SettingsError) as info:
            load_config(path)
        assert str(info.value).startswith(f"{path}, {message}"), str(info.value)


def test_engines_without_follows_count_none_and_create_nothing(tmp_path, numpy_encoder):
    engine = Engine(make_settings(tmp_path / "d"), query_encoder=numpy_encoder)
    assert "briefbot_follows 0.0" in engine.metrics.exposition()[0].decode()
    assert not (tmp_path / "d" / "follows.sqlite3").exists()
