"""Hybrid retrieval over a snapshot of the index: immutable segments, each memory-mapped.

Chroma is the store of record. Each process searches a `Snapshot`: a list of segments
(`retrieval/index/segment.py`) and which article versions in each are live, kept current by
`retrieval/index/live.py`, which applies what changed since it last looked (O(changes), never a
reload). A snapshot holds committed articles only, each whole: the chunks its record names
(see retrieval/index/store.py), so a question asked while an ingest writes never sees half an
article, and a replaced article's old chunks are never searched again.

Search is per segment, merged: dense nearest neighbours (exact, or through a segment's HNSW
graph when it is large) and BM25 (postings with raw counts, weighted at query time with
the idf and length norm of the whole index), fused by reciprocal rank, weighted by a time
prior. A segment published after `now` is skipped, and a large approximate segment whose
publication days can only earn a small prior is searched less deep: old news rarely reaches
the top, so a question touches the recent part of the index most.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np

from retrieval.config import MODEL_DIMENSION
from retrieval.index.lexical import terms
from retrieval.index.segment import ArticleMeta, Draft, Segment, build, term_hash
from retrieval.index.store import NO_DATE, Store, day_number, from_day_number, read_retrying
from retrieval.intake.articles import is_roundup_title
from retrieval.urls import host_of

log = logging.getLogger(__name__)
K1, B = 1.2, 0.75  # BM25
DEPTH = 1000  # ranks fused per list (dense, BM25): beyond this a chunk's rank earns nothing

__all__ = ["ArticleMeta", "Snapshot", "search", "rank_articles"]


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
        out = np.zeros((len(idx), MODEL_DIMENSION), dtype=np.float32)
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


@dataclass(frozen=True)
class Hit:
    chunk: int  # index into the snapshot
    score: float
    dense: float
    lexical: float


@dataclass(frozen=True)
class SearchOptions:
    """Each part of retrieval can be switched off, so the harness can measure what it earns."""

    hybrid: bool = True  # fuse BM25 ranks with dense ranks
    rrf_k: int = 60
    lexical_weight: float = 1.0
    k: int = 40
    time_prior: bool = True  # prefer what was published shortly before now, or in the named window
    recent_days: int = 7  # published within this many days before now: no penalty
    half_life_days: float = 7.0  # beyond that, the prior halves every this many days
    window_slack_days: int = 3  # reports of an event on a named day come out a little later
    outside_window: float = 0.3  # the prior of an article outside a named window
    aggregate: bool = True  # an article's score counts its further matching chunks too
    collapse: bool = True  # fold near-duplicates (one story, several outlets) into one result
    duplicate_cosine: float = 0.88  # mean chunk vectors at least this close ...
    duplicate_days: int = 3  # ... and published at most this many days apart
    title_weight: int = 2  # how many times the headline counts in each chunk's BM25 terms
    roundup_weight: float = 0.8  # share of its score a round-up keeps ("5 things to know ...")


def time_prior(
    days: np.ndarray, now: date | None, window: tuple[date, date] | None, o: SearchOptions
) -> np.ndarray:
    """A weight per chunk in (0, 1] from its publication day; undated chunks get the median."""
    if now is None or not o.time_prior:
        return np.ones(len(days))
    if window is not None:
        lo = day_number(window[0])
        hi = min(day_number(window[1]) + o.window_slack_days, day_number(now))
        prior = np.where((days >= lo) & (days <= hi), 1.0, o.outside_window)
    else:
        age = np.maximum(day_number(now) - days - o.recent_days, 0)
        prior = 0.5 ** (age / o.half_life_days)
        prior = np.maximum(prior, 0.05)
    prior[days == NO_DATE] = 0.5
    return prior


def search(
    snap: Snapshot,
    query_vector: np.ndarray,
    query_text: str,
    now: date | None = None,
    options: SearchOptions = SearchOptions(),
    window: tuple[date, date] | None = None,
) -> list[Hit]:
    """Chunks ranked by reciprocal-rank fusion of dense and BM25 ranks, none published after now."""
    if snap.n_chunks == 0:
        return []
    q = np.asarray(query_vector, dtype=np.float32)
    now_day = day_number(now) if now is not None else None
    stats = snap.bm25
    query: list[tuple[int, np.float32]] = []
    if options.hybrid:
        for t in dict.fromkeys(terms(query_text)):
            df = stats.df(term_hash(t))
            if df:
                query.append((term_hash(t), np.float32(stats.idf(df))))
    dense: list[tuple[np.ndarray, np.ndarray]] = []
    lexical: list[tuple[np.ndarray, np.ndarray]] = []
    for p, part in enumerate(snap.parts):
        if part.after(now_day):
            continue  # published after now, every chunk of it
        allowed = part.allowed(now_day)
        base = snap.chunk_base[p]
        rows, scores = part.seg.nearest(q, _depth(part, now, window, options), allowed)
        dense.append((base + rows, scores))
        if query:
            rows, scores = _bm25(part, query, stats.avgdl, allowed)
            lexical.append((base + rows, scores))
    d_idx, d_rank, _ = _ranked(dense)
    l_idx, l_rank, l_score = _ranked(lexical)
    cand = np.union1d(d_idx, l_idx)
    if not cand.size:
        return []
    fused = np.zeros(cand.size, dtype=np.float64)
    fused[np.searchsorted(cand, d_idx)] += 1.0 / (options.rrf_k + 1 + d_rank)
    if l_idx.size:
        fused[np.searchsorted(cand, l_idx)] += options.lexical_weight / (options.rrf_k + 1 + l_rank)
    fused *= time_prior(snap.chunk_days(cand), now, window, options)
    top = cand[_top(fused, options.k)]
    best = fused[np.searchsorted(cand, top)]
    exact = snap.vectors[top] @ q  # the true cosine, also where a graph found the chunk
    lex = dict(zip(l_idx.tolist(), l_score.tolist(), strict=True))
    return [
        Hit(int(i), float(f), float(d), float(lex.get(int(i), 0.0)))
        for i, f, d in zip(top, best, exact, strict=True)
    ]


def _depth(part: Part, now: date | None, window: tuple[date, date] | None, o: SearchOptions) -> int:
    """How many of a segment's nearest neighbours to fuse. An approximate segment whose days
    can earn at most a small prior is searched less deep: its chunks reach the top only from
    the very first ranks (RRF at rank 1 with prior 0.05 is below rank 100 with prior 1)."""
    seg = part.seg
    if seg.hnsw is None or now is None or not o.time_prior:
        return DEPTH
    days = np.array([seg.min_day, min(seg.max_day, day_number(now))])
    if seg.min_day == NO_DATE:
        bound = 0.5
    else:
        bound = float(time_prior(days, now, window, o).max())
        if seg.undated:
            bound = max(bound, 0.5)
    return DEPTH if bound >= 0.5 else max(100, int(DEPTH * bound))


def _bm25(
    part: Part, query: list[tuple[int, np.float32]], avgdl: float, allowed: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Okapi BM25 of the segment's allowed rows that hold a query term: the DEPTH best rows
    and their scores. Summed in float32, term by term in the query's order, as one sparse
    matrix-vector product over the whole index would: near-ties fall the same way."""
    seg = part.seg
    doc_len = seg.a["doc_len"]
    scores: np.ndarray | None = None
    for h, idf in query:
        post = seg.postings(h)
        if post is None:
            continue
        rows = np.asarray(post[0])
        tf = np.asarray(post[1], dtype=np.float32)
        norm = np.float32(K1) * (
            np.float32(1 - B) + np.float32(B) * doc_len[rows].astype(np.float32) / np.float32(avgdl)
        )
        if scores is None:
            scores = np.zeros(seg.n_rows, dtype=np.float32)
        scores[rows] += tf * np.float32(K1 + 1) / (tf + norm) * idf  # rows are distinct
    if scores is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    if isinstance(allowed, np.ndarray):
        scores[~allowed] = 0
    rows = np.flatnonzero(scores > 0)
    if rows.size > DEPTH:
        rows = rows[np.argpartition(-scores[rows], DEPTH - 1)[:DEPTH]]
    return rows.astype(np.int64), scores[rows]


def _ranked(lists: list[tuple[np.ndarray, np.ndarray]]) -> tuple[Any, Any, Any]:
    """The DEPTH best of these (chunk number, score) lists: numbers, 0-based ranks, scores.
    Ties go to the lower chunk number."""
    if not lists:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0, dtype=np.float32)
    idx = np.concatenate([i for i, _ in lists])
    scores = np.concatenate([s for _, s in lists])
    order = np.argsort(idx, kind="stable")
    idx, scores = idx[order], scores[order]
    if idx.size > DEPTH:
        sel = np.sort(np.argpartition(-scores, DEPTH - 1)[:DEPTH])
        idx, scores = idx[sel], scores[sel]
    order = np.argsort(-scores, kind="stable")
    return idx[order], np.arange(order.size), scores[order]


def _top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(scores))
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


@dataclass
class RankedArticle:
    article: int  # index into snap.articles
    score: float
    hits: list[Hit]
    duplicates: list[int] = field(default_factory=list)  # the same story from other outlets


def rank_articles(
    snap: Snapshot,
    hits: list[Hit],
    options: SearchOptions = SearchOptions(),
) -> list[RankedArticle]:
    """Aggregate chunk hits per article (best chunk, plus a little for further chunks), then
    fold near-duplicates (the same story syndicated by several outlets) into the first."""
    per: dict[int, list[Hit]] = {}
    for h in hits:
        per.setdefault(snap.article_of(h.chunk), []).append(h)
    ranked = []
    for art, hs in per.items():
        hs.sort(key=lambda h: -h.score)
        score = hs[0].score + (0.1 * sum(h.score for h in hs[1:3]) if options.aggregate else 0.0)
        if options.roundup_weight != 1.0 and is_roundup_title(snap.articles[art].title):
            # A round-up touches many stories; the story's own article answers better.
            score *= options.roundup_weight
        ranked.append(RankedArticle(art, score, hs))
    ranked.sort(key=lambda r: -r.score)
    if not options.collapse or len(ranked) < 2:
        return ranked
    kept: list[RankedArticle] = []
    vecs = snap.article_vectors
    for r in ranked:
        for k in kept:
            if same_story(
                snap, vecs, k.article, r.article, options.duplicate_cosine, options.duplicate_days
            ):
                k.duplicates.append(r.article)
                break
        else:
            kept.append(r)
    return kept


def same_story(snap: Snapshot, vecs: Any, a: int, b: int, cos: float, days: int) -> bool:
    """Articles a and b are one report (syndicated, or lightly rewritten): their vectors at
    least `cos` alike, published at most `days` apart."""
    da, db = snap.articles[a].published, snap.articles[b].published
    if da is None or db is None or abs((da - db).days) > days:
        return False
    return float(vecs[a] @ vecs[b]) >= cos
