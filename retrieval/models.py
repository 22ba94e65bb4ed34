"""The engine's data: articles and the chunks the index stores of them (intake makes both),
answers and briefings (plain dataclasses that every front end renders in its own way)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class Article:
    id: str
    title: str
    text: str
    published: date | None = None
    source: str = ""
    url: str = ""
    authors: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A passage of an article as the index stores it: chunking makes it, the store keeps it."""

    article_id: str
    index: int
    start: int  # offsets into article.text
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # absolute spans of the sentences in this chunk
    prefix: str
    n_tokens: int  # of prefix + text, special tokens included

    @property
    def id(self) -> str:
        return f"{self.article_id}#{self.index}"

    @property
    def embed_text(self) -> str:
        return self.prefix + self.text


@dataclass(frozen=True)
class Citation:
    """One cited passage: `quote == article.text[start:end]` always holds."""

    n: int
    article_id: str
    title: str
    source: str
    published: str | None  # ISO date
    url: str
    quote: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Answer:
    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    timing_ms: dict[str, float] = field(default_factory=dict)
    articles_searched: int = 0
    also_reported_by: dict[str, list[str]] = field(default_factory=dict)  # article id -> sources
    ranked_article_ids: list[str] = field(default_factory=list)  # retrieval order, for evaluation
    ranked_groups: list[list[str]] = field(default_factory=list)  # each with its near-duplicates
    # A language model's answer (retrieval/answering/llm.py): a one-line notice for the reader
    # (something was left out, the model failed), and its sentences kept and dropped.
    notice: str = ""
    # The answerability score: the learned probability that this answer is right (None for
    # abstentions and for "what did X say" answers, which attribution decides).
    confidence: float | None = None
    sentences_kept: int = 0
    sentences_dropped: int = 0

    @property
    def generated(self) -> bool:
        """The text is a language model's, every sentence of it verified."""
        return self.sentences_kept > 0

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "citations": [c.to_dict() for c in self.citations],
            "timing_ms": self.timing_ms,
            "articles_searched": self.articles_searched,
            "also_reported_by": self.also_reported_by,
            "generated": self.generated,
            "notice": self.notice,
            "confidence": self.confidence,
        }


@dataclass
class Story:
    """One event, possibly reported by several outlets."""

    headline: str
    summary: str  # key sentences, each followed by its [n] marker
    citations: list[Citation]
    article_ids: list[str]
    sources: list[str]

    def to_dict(self) -> dict:
        return {
            "headline": self.headline,
            "summary": self.summary,
            "citations": [c.to_dict() for c in self.citations],
            "article_ids": self.article_ids,
            "sources": self.sources,
        }


@dataclass
class NewsItem:
    """An "also in the news" line: an event below the top stories, in one cited sentence."""

    headline: str
    citation: Citation  # the sentence that sums it up
    article_ids: list[str]
    sources: list[str]

    def to_dict(self) -> dict:
        return {
            "headline": self.headline,
            "citation": self.citation.to_dict(),
            "article_ids": self.article_ids,
            "sources": self.sources,
        }


@dataclass
class Quote:
    speaker: str
    citation: Citation

    def to_dict(self) -> dict:
        return {"speaker": self.speaker, "citation": self.citation.to_dict()}


@dataclass
class Briefing:
    since: str  # ISO datetime (see moment_label)
    until: str
    topic: str | None
    stories: list[Story] = field(default_factory=list)
    quotes: list[Quote] = field(default_factory=list)
    note: str = ""  # e.g. "Nothing in the window matches 'X'."
    also_in_the_news: list[NewsItem] = field(default_factory=list)  # below the stories

    @property
    def empty(self) -> bool:
        return not self.stories

    def to_dict(self) -> dict:
        return {
            "since": self.since,
            "until": self.until,
            "topic": self.topic,
            "stories": [s.to_dict() for s in self.stories],
            "also_in_the_news": [i.to_dict() for i in self.also_in_the_news],
            "quotes": [q.to_dict() for q in self.quotes],
            "note": self.note,
        }


def moment_label(iso: str) -> str:
    """An ISO moment as a reader wants it: a date alone at midnight (briefings cover whole
    days), else the date and time, "UTC" when it is in UTC."""
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    if len(iso) <= 10 or (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.date().isoformat()
    offset = moment.utcoffset()
    suffix = " UTC" if offset is not None and not offset else ""
    return moment.strftime("%Y-%m-%d %H:%M") + suffix
