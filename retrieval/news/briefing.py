"""A briefing: the window's top stories (retrieval/news/stories.py), the events below them in one
line each ("also in the news"), and the quotes of the day (retrieval/news/quotes.py), every
sentence cited exactly (`article.text[start:end] == quote`) and numbered through the whole
briefing. docs/briefing.md has the measurements.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from retrieval.answering.timewindow import check_window
from retrieval.index.snapshot import Snapshot
from retrieval.models import Article, Briefing, Citation, NewsItem, Quote, Story
from retrieval.news.headlines import clean_headline, headline_from_sentence
from retrieval.news.keysentences import (
    Sentence,
    key_sentences,
    story_sentences,
    summary_sentence,
)
from retrieval.news.quotes import QuoteOptions, quotes_of_the_day
from retrieval.news.stories import (
    StoryDraft,
    StoryOptions,
    as_date,
    draft_stories,
    rank,
    spread_over_days,
    window_articles,
)
from retrieval.urls import host_of

log = logging.getLogger(__name__)

GetArticles = Callable[[Sequence[str]], dict[str, Article]]
Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class BriefingOptions:
    stories: StoryOptions = field(default_factory=StoryOptions)
    quotes: QuoteOptions = field(default_factory=QuoteOptions)
    # Events looked at for "also in the news" beyond the count asked for, in case some have
    # no sentence that can stand as their one line.
    item_spare: int = 5


def brief(
    snapshot: Callable[[], Snapshot],
    get_articles: GetArticles,
    encode: Encode,
    since: date | datetime,
    until: date | datetime | None = None,
    topic: str | None = None,
    max_stories: int = 10,
    also_in_the_news: int = 10,
    exclude: Collection[str] = (),
) -> Briefing:
    """The briefing for [since, until] (`until` by default now) from the index `snapshot()`
    gives; an empty window is a QuestionError, before the index is read."""
    until = until or datetime.now(UTC)
    check_window(since, until)
    return build_briefing(
        snapshot(),
        get_articles,
        encode,
        since,
        until,
        topic=topic,
        max_stories=max_stories,
        also_in_the_news=also_in_the_news,
        exclude=exclude,
    )


def build_briefing(
    snap: Snapshot,
    get_articles: GetArticles,
    encode: Encode,
    since: date | datetime,
    until: date | datetime,
    topic: str | None = None,
    max_stories: int = 10,
    also_in_the_news: int = 10,
    options: BriefingOptions | None = None,
    exclude: Collection[str] = (),
) -> Briefing:
    """The briefing for [since, until] (whole days: articles carry a date, not a time): up to
    `max_stories` stories, then up to `also_in_the_news` one-line items."""
    o = options or BriefingOptions()
    so = o.stories
    lo, hi = as_date(since), as_date(until)
    briefing = Briefing(since=since.isoformat(), until=until.isoformat(), topic=topic)
    in_window = window_articles(snap, lo, hi, exclude)
    drafts = draft_stories(snap, in_window, hi, so, days=(hi - lo).days + 1)
    topic_vector = encode([topic])[0] if topic and drafts else None
    ranked = rank(drafts, topic_vector, snap, so)
    top = ranked[:max_stories]
    wanted = also_in_the_news + o.item_spare if also_in_the_news > 0 else 0
    rest = spread_over_days(top, ranked[max_stories:], wanted, so)
    if not top:
        briefing.note = (
            f"Nothing in the window matches {topic!r}." if topic else "Nothing new in the window."
        )
        return briefing
    needed = [snap.articles[m].id for d in top for m in d.members[: so.candidate_articles]]
    texts = get_articles(needed + [snap.articles[d.members[0]].id for d in rest])
    # Every event's candidate sentences in one batch: the encoder is the slow part. A line
    # cites its event's most central article.
    cands = [story_sentences(d, snap, texts, so) for d in top]
    cands += [story_sentences(d, snap, texts, so, articles=1) for d in rest]
    flat = [c.text for cs in cands for c in cs]
    vecs = encode(flat) if flat else np.zeros((0, 1))
    offsets = np.cumsum([0] + [len(cs) for cs in cands])
    per_event = [
        (d, cs, vecs[offsets[k] : offsets[k + 1]])
        for k, (d, cs) in enumerate(zip(top + rest, cands, strict=True))
    ]
    cite = Citations()
    for d, cs, v in per_event[: len(top)]:
        key = key_sentences(d, cs, v, so, limit=so.key_sentences)
        briefing.stories.append(_story(d, snap, texts, key, cite))
    items = per_event[len(top) :]
    # An item's sentence says what its headline says: the headlines are encoded to find it.
    titles = [headline(d, snap, texts, cs[:1]) for d, cs, _ in items]
    title_vecs = encode(titles) if titles else np.zeros((0, 1))
    lines: list[tuple[StoryDraft, Sentence, str]] = []
    for (d, cs, v), title, tv in zip(items, titles, title_vecs, strict=True):
        one = summary_sentence(d, cs, v, tv, so)
        if one is not None and len(lines) < also_in_the_news:
            lines.append((d, one, title))
    lines.sort(key=lambda line: ranked.index(line[0]))  # shown by importance
    briefing.also_in_the_news = [_item(d, snap, one, title, cite) for d, one, title in lines]
    stories = [[texts[i] for i in s.article_ids if i in texts] for s in briefing.stories]
    briefing.quotes = [
        Quote(q.speaker, cite(q.article, q.start, q.end))
        for q in quotes_of_the_day(stories, o.quotes)
    ]
    return briefing


class Citations:
    """Citation numbers run on through the briefing, so each [n] is unambiguous."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, article: Article, start: int, end: int) -> Citation:
        self.n += 1
        return Citation(
            self.n,
            article.id,
            article.title,
            article.source or host_of(article.url),  # as answers and story sources show it
            article.published.isoformat() if article.published else None,
            article.url,
            article.text[start:end],
            start,
            end,
        )


def _story(
    d: StoryDraft,
    snap: Snapshot,
    texts: dict[str, Article],
    key: list[Sentence],
    cite: Citations,
) -> Story:
    citations = [cite(s.article, s.start, s.end) for s in key]
    summary = " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations)
    return Story(
        headline=headline(d, snap, texts, key),
        summary=summary,
        citations=citations,
        article_ids=[snap.articles[m].id for m in d.members + d.folded],
        sources=d.sources,
    )


def _item(d: StoryDraft, snap: Snapshot, one: Sentence, title: str, cite: Citations) -> NewsItem:
    return NewsItem(
        headline=title,
        citation=cite(one.article, one.start, one.end),
        article_ids=[snap.articles[m].id for m in d.members + d.folded],
        sources=d.sources,
    )


def headline(d: StoryDraft, snap: Snapshot, texts: dict[str, Article], key: list[Sentence]) -> str:
    """The story's headline: its most central article's title without the site's name after
    it, and when the title was cut short ("..."), up to its last whole phrase; when that
    leaves too little (or there is no title), the next article's, else the lead sentence."""
    for m in d.members[:3]:
        meta = snap.articles[m]
        text, cut = clean_headline(meta.title, meta.source or host_of(meta.url))
        if len(text.split()) >= (4 if cut else 1):
            return text
    lead = next((s for s in key if s.lead), key[0] if key else None)
    if lead is not None:
        return headline_from_sentence(lead.text)
    first = texts.get(snap.articles[d.members[0]].id)
    return (first.title.strip() if first else "") or "(untitled)"
