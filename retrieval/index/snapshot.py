"""A snapshot of the index: the live chunks of immutable segments, numbered across them.

Chroma is the store of record. Each process searches a `Snapshot`: a list of segments
(`retrieval/index/segment.py`) and which article versions in each are live, kept current by
`retrieval/index/live.py`, which applies what changed since it last looked (O(changes), never a
reload). A snapshot holds committed articles only, each whole: the chunks its record names
(see retrieval/index/store.py), so a question asked while an ingest writes never sees half an
article, and a replaced article's old chunks are never searched again. Searching it is
retrieval/index/search.py's.
"""

from __future__ import annotations

import bisect
import logging
from collections import Counter
from collections.abc import Callable
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from retrieval.index.building import Draft, build
from retrieval.index.chroma import read_retrying
from retrieval.index.segment import ArticleMeta, Segment, term_hash
from retrieval.index.store import NO_DATE, Store, from_day_number
from retrieval.urls import host_of

log = logging.getLogger(__name__)


class Part:
    """A segment as one snapshot uses it: which of its articles are live there."""

    def __init__(self, seg: Segment, live: np.ndarray | None = None) -> None:
        self.seg = seg
        # Local indices of the live articles, ascending; None: all of them.
        self.live = None if live is None or len(live) == seg.n_articles else np.sort(live)
        if self.live is None:
            self.alive: np.ndarray | None = None
            self.n_live = seg.n_rows
            self.len_live = int(seg.a["doc_len"].sum())
            self.live_articles = np.arange(seg.n_articles)
        else:
            counts = np.diff(seg.a["art_rows"])
            keep = np.zeros(seg.n_articles, dtype=bool)
            keep[self.live] = True
            self.alive = np.repeat(keep, counts)
            self.n_live = int(counts[self.live].sum())
            self.len_live = int(seg.a["doc_len"][self.alive].sum())
            self.live_articles = self.live
        # local article -> its rank among the live ones (-1: not live)
        self.rank = np.full(seg.n_articles, -1, dtype=np.int64)
        self.rank[self.live_articles] = np.arange(len(self.live_articles))
        self._allowed: dict[int, np.ndarray] = {}

    def after(self, now_day: int | None) -> bool:
        """Whether every chunk of it was published after `now_day`."""
        seg = self.seg
        return now_day is not None and seg.min_day > now_day and not seg.undated

    def allowed(self, now_day: int | None) -> np.ndarray | None:
        """Rows a question as of `now_day` may see: None (all), or a mask."""
        seg = self.seg
        if now_day is None or seg.max_day <= now_day:
            return self.alive
        if now_day not in self._allowed:
            if len(self._allowed) > 64:
                self._allowed.clear()
            mask = (seg.days <= now_day) | (seg.days == NO_DATE)
            self._allowed[now_day] = mask if self.alive is None else mask & self.alive
        return self._allowed[now_day]


class _Rows:
    """snap.chunk_texts[k], snap.chunk_start[k], snap.chunk_sentences[k]: read on demand, and
    the last few thousand kept (composing an answer reads the same chunks many times)."""

    KEEP = 4096

    def __init__(self, snap: Snapshot, what: str) -> None:
        self.snap, self.what = snap, what
        self._kept: dict[int, Any] = {}

    def __getitem__(self, k: Any) -> Any:
        k = int(k)
        got = self._kept.get(k)
        if got is None:
            part, row = self.snap.locate(k)
            if self.what == "text":
                got = part.seg.text(row)
            elif self.what == "start":
                got = int(part.seg.a["starts"][row])
            else:
                got = part.seg.sentences(row)
            if len(self._kept) >= self.KEEP:
                self._kept.clear()
            self._kept[k] = got
        return got

    def __len__(self) -> int:
        return self.snap.n_chunks


class _Vectors:
    """snap.vectors[rows] / snap.article_vectors[articles]: gathered from the segments."""

    def __init__(self, snap: Snapshot, articles: bool) -> None:
        self.snap, self.articles = snap, articles

    def __getitem__(self, idx: Any) -> np.ndarray:
        if isinstance(idx, (int, np.integer)):
            return self[np.array([idx])][0]
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        out = np.zeros((len(idx), self.snap.dimension), dtype=np.float32)
        for i, k in enumerate(idx):
            if self.articles:
                part, local = self.snap.locate_article(int(k))
                out[i] = part.seg.a["art_vectors"][local]
            else:
                part, row = self.snap.locate(int(k))
                out[i] = part.seg.a["vectors"][row]
        return out

    def __matmul__(self, q: np.ndarray) -> np.ndarray:
        """Every live chunk's (or article's) cosine to q, in snapshot order."""
        out = []
        for part in self.snap.parts:
            name = "art_vectors" if self.articles else "vectors"
            scores = np.asarray(part.seg.a[name] @ q.astype(np.float32))
            if self.articles:
                out.append(scores[part.live_articles])
            else:
                out.append(scores if part.alive is None else np.where(part.alive, scores, -2.0))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


class _Vocab:
    def __init__(self, stats: LexicalStats) -> None:
        self.stats = stats

    def __contains__(self, term: object) -> bool:
        return isinstance(term, str) and self.stats.df(term_hash(term)) > 0


class LexicalStats:
    """What answer composing asks of BM25 (a term's idf, whether any chunk holds it), over
    the live chunks of the whole snapshot."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap
        self.n_docs = snap.n_chunks
        total = sum(p.len_live for p in snap.parts)
        self.avgdl = total / snap.n_chunks if snap.n_chunks else 1.0
        self.vocab = _Vocab(self)
        self._df: dict[int, int] = {}

    def df(self, h: int) -> int:
        if h not in self._df:
            n = 0
            for part in self.snap.parts:
                if part.alive is None:
                    n += part.seg.df(h)
                elif (post := part.seg.postings(h)) is not None:
                    n += int(part.alive[post[0]].sum())
            if len(self._df) > 100_000:
                self._df.clear()
            self._df[h] = n
        return self._df[h]

    def idf(self, df: int) -> float:
        return float(np.float32(np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))))

    def idf_of(self, term: str) -> float:
        df = self.df(term_hash(term))
        return self.idf(df) if df else float(np.float32(np.log(1 + self.n_docs + 0.5)))


class Snapshot:
    """The live chunks of a list of segments, numbered 0..n-1 across them (dead rows keep
    their numbers but are never returned), and the live articles, numbered 0..m-1."""

    def __init__(
        self,
        parts: list[Part],
        generation: int = 0,
        provisional: bool = False,
        store_counts: tuple[int, int] = (0, 0),
    ) -> None:
        self.parts = [p for p in parts if p.n_live]
        self.generation = generation
        # Read while a write was under way: whole articles, but maybe not all that are committed.
        self.provisional = provisional
        self.store_counts = store_counts
        self.chunk_base = np.cumsum([0] + [p.seg.n_rows for p in self.parts]).tolist()
        self.art_base = np.cumsum([0] + [len(p.live_articles) for p in self.parts]).tolist()
        self.n_chunks = sum(p.n_live for p in self.parts)
        # The encoder's, as the segments' vectors say (0 for a snapshot of nothing).
        self.dimension = self.parts[0].seg.dimension if self.parts else 0
        self.articles: list[ArticleMeta] = [
            p.seg.articles[i] for p in self.parts for i in p.live_articles.tolist()
        ]
        self.bm25 = LexicalStats(self)
        self.chunk_texts = _Rows(self, "text")
        self.chunk_start = _Rows(self, "start")
        self.chunk_sentences = _Rows(self, "sentences")
        self.vectors = _Vectors(self, articles=False)
        self.article_vectors = _Vectors(self, articles=True)
        # With BRIEFBOT_INDEX_MAX_CHUNKS: older articles near a question, from Chroma.
        self.store_tier: Callable[[np.ndarray], Segment | None] | None = None

    # -- what is indexed ----------------------------------------------------------------------
    def newest(self) -> date | None:
        """The newest publication date among the live articles (None: none is dated)."""
        return max((a.published for a in self.articles if a.published), default=None)

    def sources(self) -> dict[str, Any]:
        """What is indexed: articles, chunks, the first and last publication dates, and the
        articles and chunks of each source."""
        dates = [a.published for a in self.articles if a.published]
        per_source = Counter(a.source or "(unknown)" for a in self.articles)
        chunks_per_source: Counter[str] = Counter()
        for i, a in enumerate(self.articles):
            chunks_per_source[a.source or "(unknown)"] += len(self.article_chunks(i))
        return {
            "articles": len(self.articles),
            "chunks": self.n_chunks,
            "first": min(dates).isoformat() if dates else None,
            "last": max(dates).isoformat() if dates else None,
            "sources": [
                {"source": s, "articles": n, "chunks": chunks_per_source[s]}
                for s, n in per_source.most_common()
            ],
        }

    def widened(self, vector: np.ndarray) -> Snapshot:
        """This snapshot, and when this process holds only the newest weeks of the index,
        the older articles nearest to `vector` (read from Chroma), for one question."""
        if self.store_tier is None:
            return self
        try:
            extra = self.store_tier(vector)
        except Exception:
            log.warning("could not search the older articles in the store", exc_info=True)
            return self
        if extra is None:
            return self
        return Snapshot([*self.parts, Part(extra)], self.generation, self.provisional)

    # -- numbering --------------------------------------------------------------------------
    def locate(self, chunk: int) -> tuple[Part, int]:
        p = bisect.bisect_right(self.chunk_base, chunk) - 1
        return self.parts[p], chunk - self.chunk_base[p]

    def locate_article(self, article: int) -> tuple[Part, int]:
        p = bisect.bisect_right(self.art_base, article) - 1
        part = self.parts[p]
        return part, int(part.live_articles[article - self.art_base[p]])

    def article_of(self, chunk: int) -> int:
        p = bisect.bisect_right(self.chunk_base, chunk) - 1
        part = self.parts[p]
        local = int(part.seg.chunk_article[chunk - self.chunk_base[p]])
        return self.art_base[p] + int(part.rank[local])

    def article_chunks(self, article: int) -> np.ndarray:
        """The article's chunks, in order."""
        part, local = self.locate_article(article)
        p = self.parts.index(part)
        return self.chunk_base[p] + part.seg.rows_of(local)

    @cached_property
    def chunk_article(self) -> np.ndarray:
        """The article of every chunk number (-1 for a dead row)."""
        out = []
        for p, part in enumerate(self.parts):
            ranks = part.rank[part.seg.chunk_article]
            out.append(np.where(ranks >= 0, ranks + self.art_base[p], -1))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    @cached_property
    def article_index(self) -> dict[str, int]:
        return {a.id: i for i, a in enumerate(self.articles)}

    def chunk_days(self, chunks: np.ndarray) -> np.ndarray:
        """The publication day (NO_DATE when unknown) of each of these chunk numbers."""
        out = np.zeros(len(chunks), dtype=np.int64)
        which = np.searchsorted(self.chunk_base, chunks, side="right") - 1
        for p in np.unique(which).tolist():
            sel = which == p
            out[sel] = self.parts[p].seg.days[chunks[sel] - self.chunk_base[p]]
        return out

    @property
    def days(self) -> np.ndarray:
        return np.concatenate([p.seg.days for p in self.parts]) if self.parts else np.zeros(0)

    @property
    def chunk_ids(self) -> list[str]:
        from retrieval.index.store import chunk_id

        out = []
        for part in self.parts:
            seg = part.seg
            for local in part.live_articles.tolist():
                aid = seg.articles[local].id
                out += [chunk_id(aid, i, seg.hashes[local]) for i in range(len(seg.rows_of(local)))]
        return out

    def version(self, article_id: str) -> str | None:
        """The content hash of the article's live version here."""
        i = self.article_index.get(article_id)
        if i is None:
            return None
        part, local = self.locate_article(i)
        return part.seg.hashes[local]

    # -- reading the store directly -----------------------------------------------------------
    @classmethod
    def load(cls, store: Store, title_weight: int = 2) -> Snapshot:
        """Everything committed, read from the store itself (no index on disk): the
        reference a test compares with, and what a first start builds its index from."""

        def read() -> Snapshot:
            state = store.state()
            counts = store.count()
            records = {a: r for a, r in store.records().items() if r.n_chunks > 0}
            drafts, _missing = fetch_drafts(store, records)
            seg = build(drafts, title_weight, {"seq": state.generation})
            after = store.state()
            return cls(
                [Part(seg)],
                state.generation,
                provisional=state.writing or state != after,
                store_counts=counts,
            )

        return read_retrying(read)


def fetch_drafts(store: Store, records: dict[str, Any]) -> tuple[list[Draft], list[str]]:
    """The committed versions these records name, read from Chroma (texts, metadata and
    vectors, by chunk id); and the articles some of whose chunks are gone (superseded while
    this read: their write is still under way)."""
    wanted = {aid: r.chunk_ids(aid) for aid, r in records.items()}
    rows: dict[str, tuple[str, dict, np.ndarray]] = {}
    for page in store.get_chunks([i for ids in wanted.values() for i in ids]):
        for i, doc, meta, vec in zip(
            page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True
        ):
            rows[i] = (doc, meta, vec)
    drafts, missing = [], []
    for aid, ids in wanted.items():
        if not all(i in rows for i in ids):
            missing.append(aid)
            continue
        m = records[aid].meta
        got = [rows[i] for i in ids]
        drafts.append(
            Draft(
                meta=ArticleMeta(
                    aid,
                    str(m.get("title", "")),
                    str(m.get("source", "")) or host_of(str(m.get("url", ""))),
                    str(m.get("url", "")),
                    from_day_number(int(m.get("day", NO_DATE))),
                ),
                content_hash=records[aid].content_hash,
                starts=[int(meta["start"]) for _, meta, _ in got],
                texts=[doc for doc, _, _ in got],
                sentences=[_spans(str(meta.get("sentences", ""))) for _, meta, _ in got],
                vectors=np.asarray([vec for _, _, vec in got], dtype=np.float32),
            )
        )
    return drafts, missing


def _spans(s: str) -> tuple[tuple[int, int], ...]:
    out = []
    for pair in s.split(";"):
        if pair:
            a, b = pair.split(",")
            out.append((int(a), int(b)))
    return tuple(out)
