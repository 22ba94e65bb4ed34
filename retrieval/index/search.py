"""Hybrid retrieval over a snapshot of the index (retrieval/index/snapshot.py), and ranking
its hits by article.

Search is per segment, merged: dense nearest neighbours (exact, or through a segment's HNSW
graph when it is large) and BM25 (postings with raw counts, weighted at query time with
the idf and length norm of the whole index), fused by reciprocal rank, weighted by a time
prior. A segment published after `now` is skipped, and a large approximate segment whose
publication days can only earn a small prior is searched less deep: old news rarely reaches
the top, so a question touches the recent part of the index most.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np

from retrieval.index.lexical import terms
from retrieval.index.segment import term_hash
from retrieval.index.snapshot import Part, Snapshot
from retrieval.index.store import NO_DATE, day_number

K1, B = 1.2, 0.75  # BM25
DEPTH = 1000  # ranks fused per list (dense, BM25): beyond this a chunk's rank earns nothing

__all__ = ["Snapshot", "search", "rank_articles"]


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


# Titles that only a round-up has: "5 things to know for July 1: …", "Ten Things You Need to
# Know Today: …", "X, Y and Z. It's Wednesday's news.", "… News from around our 50 states".
# "5 things to know about monkeypox" is one subject's explainer, not a round-up.
_ROUNDUP_TITLE = re.compile(
    r"\b(?:\d+|three|five|seven|ten) things (?:you need )?to know\b(?! about)"
    r"|\bit'?s \w+day'?s news\b|\bnews from around\b|^\s*50 states\s*$"
    r"|\b(?:morning|evening|daily|weekly) (?:briefing|digest|round-?up)\b|\bnews in brief\b",
    re.IGNORECASE,
)


def is_roundup_title(title: str) -> bool:
    """A round-up's title: one article that touches many stories."""
    return bool(_ROUNDUP_TITLE.search(title.replace("\u2019", "'")))


def same_story(snap: Snapshot, vecs: Any, a: int, b: int, cos: float, days: int) -> bool:
    """Articles a and b are one report (syndicated, or lightly rewritten): their vectors at
    least `cos` alike, published at most `days` apart."""
    da, db = snap.articles[a].published, snap.articles[b].published
    if da is None or db is None or abs((da - db).days) > days:
        return False
    return float(vecs[a] @ vecs[b]) >= cos
