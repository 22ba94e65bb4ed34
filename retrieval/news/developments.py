"""A followed topic's developments: which newly committed articles are about the topic (the
answerer's own relevance, stricter), and which of those tell the channel something new
(retrieval/news/newness.py). The follower (retrieval/news/follow.py) posts them.

Relevance: the answer composer is asked the topic over one article at a time
(`AnswerChain.about`); the article is about the topic when the answer is not an abstention, its
learned answerability (`Answer.confidence`) reaches `min_confidence`, and the topic is what the
article leads with: the share of the topic's subject words (`Subject.soft`, the answerer's own
word matching) found in its title and first chunk reaches `min_headline`. One answerable
sentence is not enough: a Serbia gas analysis that names the NATO bids in one paragraph is not
about them. A development's sentences are that answer's first one or two citations.

Newness: a development is a repeat of a told one when each of its sentences was told
(newness.is_repeat), or when it and a told one are one event (retrieval/news/sameevent.py, a
calibrated pair decision over the two reports' article and sentence vectors, `same_fact` and
the days between them); reports of one event found in the same round fold into one development
"also reported by" the others. A changed figure on a later day, or in a later version of the
same article, is new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from retrieval.answering.features import Subject, subject
from retrieval.models import Answer, Citation
from retrieval.news.followstate import FollowRow, FollowState, Told
from retrieval.news.newness import is_repeat
from retrieval.news.sameevent import Report, SameEvent, lead_of

if TYPE_CHECKING:
    from retrieval.answering.chain import AnswerChain
    from retrieval.index.snapshot import Snapshot
    from retrieval.index.store import Record, WriteState

MATCH_POOL = 20  # what is about a topic now is looked for among the chain's first articles


def headline_text(snap: Snapshot, article: int) -> str:
    """The article's title and first chunk: where a report names what it is about."""
    chunks = snap.article_chunks(article)
    first = snap.chunk_texts[int(chunks[0])] if len(chunks) else ""
    return f"{snap.articles[article].title or ''} {first}"


@dataclass(frozen=True)
class Development:
    """One new development, from one article: one or two cited sentences."""

    article_id: str
    citations: list[Citation]
    also_reported_by: list[str]  # other outlets' sources carrying the same event, deduped
    committed_at: datetime | None  # when the follower found it committed (within a poll)

    def to_dict(self) -> dict[str, Any]:
        return {
            "article_id": self.article_id,
            "citations": [c.to_dict() for c in self.citations],
            "also_reported_by": self.also_reported_by,
            "committed_at": self.committed_at.isoformat() if self.committed_at else None,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Development:
        at = d.get("committed_at")
        return cls(
            d["article_id"],
            [Citation(**c) for c in d["citations"]],
            list(d.get("also_reported_by", [])),
            datetime.fromisoformat(at) if at else None,
        )


class Counts(Protocol):
    def follow_developments(self, what: str, n: int = 1) -> None: ...


class Thresholds(Protocol):
    """What relevance reads of the follow options (retrieval/news/follow.py, FollowOptions)."""

    @property
    def min_confidence(self) -> float: ...

    @property
    def min_headline(self) -> float: ...


class Relevance:
    """Whether an article is about a topic: the answer chain asked the topic over it alone."""

    def __init__(
        self,
        chain: AnswerChain,
        encode: Callable[[list[str]], np.ndarray],
        options: Callable[[], Thresholds],
    ) -> None:
        self.chain = chain
        self.encode = encode
        self.options = options  # read each time: the options may be replaced
        self._vectors: dict[str, np.ndarray] = {}
        self._subjects: dict[str, Subject] = {}

    def vector(self, topic: str) -> np.ndarray:
        if topic not in self._vectors:
            self._vectors[topic] = self.encode([topic])[0]
        return self._vectors[topic]

    def headline(self, topic: str, snap: Snapshot, article: int) -> float:
        """The share of the topic's subject words that the article's title and first chunk
        hold (or closely resemble)."""
        if topic not in self._subjects:
            self._subjects[topic] = subject(topic, self.chain.matcher)
        return self._subjects[topic].soft(headline_text(snap, article), self.chain.matcher)

    def about(self, topic: str, snap: Snapshot, article: int, now: datetime) -> Answer | None:
        """The answer to the topic from this one article (as of its publication day), if the
        article is about the topic."""
        day = snap.articles[article].published or now.astimezone(UTC).date()
        answer = self.chain.about(topic, [article], day, snap, self.vector(topic))
        if answer.abstained or not answer.citations:
            return None
        o = self.options()
        if (answer.confidence or 0.0) < o.min_confidence:
            return None
        if self.headline(topic, snap, article) < o.min_headline:
            return None  # the topic is named in passing: not what the article is about
        return answer

    def matching(self, topic: str, since: date | None, now: datetime) -> tuple[Snapshot, list[int]]:
        """The indexed articles about the topic now (among the chain's first MATCH_POOL),
        published on or after `since` when given, with the snapshot they are of."""
        snap, top = self.chain.top_articles(topic, now.astimezone(UTC).date(), MATCH_POOL)
        found = []
        for i in top:
            day = snap.articles[i].published
            if since is not None and day is not None and day < since:
                continue
            if self.about(topic, snap, i, now) is not None:
                found.append(i)
        return snap, found


@dataclass
class Found:
    """A relevant article of this round, before it is known to be new."""

    article: int  # in the snapshot
    article_id: str
    version: str
    source: str
    answer: Answer
    vector: np.ndarray
    report: Report
    also: list[str] = field(default_factory=list)

    @property
    def citations(self) -> list[Citation]:
        return [replace(c, n=k) for k, c in enumerate(self.answer.citations[:2], 1)]

    @property
    def sentences(self) -> list[str]:
        return [c.quote for c in self.citations]


def seq_of(rec: Record) -> tuple[int, int]:
    """The commit that wrote a record: (the write's generation, its commit number)."""
    return int(rec.meta.get("seq", -1)), int(rec.meta.get("part", 0))


class Finder:
    """Finds a follow's developments in what was committed after its cursor and records them
    in the follows' state: `pending` (to post) or `told` (a copy or repeat of one told)."""

    def __init__(
        self,
        state: FollowState,
        relevance: Relevance,
        counts: Counts | None,
        same: SameEvent | None = None,
    ) -> None:
        self.state = state
        self.relevance = relevance
        self.counts = counts
        self.same = same or SameEvent.load()
        self._sentence_vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        """Sentence vectors, kept: told sentences are compared again every round."""
        cache = self._sentence_vectors
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            if len(cache) > 20_000:
                cache.clear()
            cache.update(zip(missing, self.relevance.encode(missing), strict=True))
        return np.stack([cache[t] for t in texts])

    def find(
        self,
        row: FollowRow,
        snap: Snapshot,
        read: tuple[WriteState, dict[str, Record]] | None,
        now: datetime,
    ) -> None:
        """Record this round's developments of the follow, then move its cursor past what
        was read (never past a commit this process's view does not hold yet)."""
        if read is None and not row.backfill:
            return
        ws, records = read if read is not None else (None, {})
        mine = {a: r for a, r in records.items() if seq_of(r) > row.cursor and r.n_chunks > 0}
        index = snap.article_index
        behind: list[Record] = []
        todo: dict[int, str] = {}  # article -> version
        for aid, rec in mine.items():
            if aid in index and snap.version(aid) == rec.content_hash:
                todo[index[aid]] = rec.content_hash
            else:
                behind.append(rec)
        if row.backfill and row.since is not None:  # the articles since the start date
            other, older = self.relevance.matching(row.topic, row.since, now)
            for i in older:
                aid = other.articles[i].id
                if aid in index:
                    todo.setdefault(index[aid], snap.version(aid) or "")
        found: list[Found] = []
        for i, version in todo.items():
            meta = snap.articles[i]
            if row.since is not None and meta.published is not None and meta.published < row.since:
                continue
            if self.state.known(row.where, meta.id, version):
                continue
            answer = self.relevance.about(row.topic, snap, i, now)
            if answer is not None:
                vec = snap.article_vectors[i]
                chunks = snap.article_chunks(i)
                lead = lead_of(snap.chunk_texts[int(chunks[0])]) if len(chunks) else ""
                cited = tuple(c.quote for c in answer.citations[:2])
                report = Report(meta.id, cited, lead, vec, meta.published)
                found.append(Found(i, meta.id, version, meta.source, answer, vec, report))
        found.sort(key=lambda f: (snap.articles[f.article].published or date.min, f.article_id))
        self.record(row, snap, found, now)
        self.state.advance(row.where, row.cursor if ws is None else cursor(ws, mine, behind, row))

    def record(self, row: FollowRow, snap: Snapshot, found: list[Found], now: datetime) -> None:
        """Each found article as a new development, a report of one of this round's folded into
        it, or a repeat or a later report of a told one."""
        told = self.state.told(row.where)
        reports = [told_report(t) for t in told]
        every = [s for t in told for s in t.sentences]
        kept: list[Found] = []
        copies: list[Found] = []
        for f in found:
            k = self.same.first(f.report, [m.report for m in kept], self.encode)
            if k is not None:  # another outlet's report of an event of this round
                kept[k].also.append(f.source)
                copies.append(f)
                continue
            if is_repeat(f.sentences, every):
                self._told(row, f, now)
                continue
            j = self.same.first(f.report, reports, self.encode)
            if j is not None:  # a later report of a told event
                self._told(row, f, now)
                self._also(told[j], f.source)
                continue
            kept.append(f)
        for f in kept:
            also = sorted({s for s in f.also if s and s != f.source})
            dev = Development(f.article_id, f.citations, also, now)
            self.state.record(
                row.where,
                f.article_id,
                f.version,
                "pending",
                now,
                f.source,
                f.sentences,
                f.vector,
                {**dev.to_dict(), "report": report_dict(f.report)},
            )
        for f in copies:
            self._told(row, f, now)

    def _told(self, row: FollowRow, f: Found, now: datetime) -> None:
        new = self.state.record(
            row.where,
            f.article_id,
            f.version,
            "told",
            now,
            f.source,
            f.sentences,
            f.vector,
            {"report": report_dict(f.report)},
        )
        if new and self.counts is not None:
            self.counts.follow_developments("told")

    def _also(self, told: Told, source: str) -> None:
        """A copy of a development not posted yet: its post names the other outlet too."""
        if told.status != "pending" or not told.payload or source in ("", told.source):
            return
        also = list(told.payload.get("also_reported_by", []))
        if source not in also:
            self.state.update_payload(
                told.rowid, {**told.payload, "also_reported_by": sorted([*also, source])}
            )


def report_dict(r: Report) -> dict[str, Any]:
    """What a told development keeps of its report beside its sentences and vector."""
    return {"lead": r.lead, "published": r.published.isoformat() if r.published else None}


def told_report(t: Told) -> Report:
    """A told development as compared with a new one (rows of before the report was kept
    compare by their cited sentences and vector alone)."""
    kept = t.payload.get("report") or {}
    day = kept.get("published")
    cited = tuple(t.sentences)
    return Report(t.article_id, cited, kept.get("lead") or "", t.vector, _day(day))


def _day(iso: str | None) -> date | None:
    return date.fromisoformat(iso) if iso else None


def cursor(
    ws: WriteState, read: dict[str, Record], behind: Sequence[Record], row: FollowRow
) -> tuple[int, int]:
    """Past what was read: up to the store's generation when no write was under way; during a
    write, to the commit before its last one seen (it may have shown only some records); never
    past a record this process's view did not hold yet."""
    g = ws.generation
    at = (g, 0)
    if ws.writing:
        parts = [p for s, p in map(seq_of, read.values()) if s == g]
        at = (g, max(parts) - 1 if parts else 0)
    at = max(at, row.cursor)
    for rec in behind:
        s, p = seq_of(rec)
        at = min(at, (s, p - 1))
    return at
