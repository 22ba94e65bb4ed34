"""Hybrid retrieval over an in-memory snapshot of the store.

Chroma is the store of record; each process keeps a snapshot of the chunk vectors, their
metadata and a BM25 index, and reloads it when the store's generation changes. Searching the
snapshot is exact and takes milliseconds, and date filters cost nothing (Chroma's numeric
range filter costs 80-95 ms a query on 20k chunks here).

A snapshot holds committed articles only, each whole: the chunks its record names (see
retrieval/index/store.py), so one read while an ingest writes never shows half an article.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from retrieval.config import MODEL_DIMENSION
from retrieval.datadir import private_dir
from retrieval.index.lexical import BM25, terms
from retrieval.index.store import NO_DATE, Store, day_number, from_day_number
from retrieval.intake.articles import is_roundup_title

log = logging.getLogger(__name__)
CACHE_VERSION = 2  # bump when Snapshot's fields change
# Reading Chroma while a writer deletes can fail ("Error finding id"): try again after these.
RETRY_SECONDS = (0.05, 0.2, 0.5)


@dataclass(frozen=True)
class ArticleMeta:
    id: str
    title: str
    source: str
    url: str
    published: date | None


@dataclass
class Snapshot:
    generation: int
    chunk_ids: list[str]
    chunk_article: np.ndarray  # index into articles, per chunk
    chunk_start: np.ndarray
    chunk_texts: list[str]
    chunk_sentences: list[tuple[tuple[int, int], ...]]
    vectors: np.ndarray  # (n_chunks, dim), unit length
    days: np.ndarray  # published day number per chunk (NO_DATE when unknown)
    articles: list[ArticleMeta]
    article_vectors: np.ndarray  # the normalised mean of each article's chunk vectors
    bm25: BM25
    article_index: dict[str, int] = field(default_factory=dict)
    # Read while a write was under way: whole articles, but maybe not all that are committed.
    provisional: bool = False
    store_counts: tuple[int, int] = (0, 0)  # the store's (articles, chunks) when it was read

    @property
    def n_chunks(self) -> int:
        return len(self.chunk_ids)

    @classmethod
    def cached(cls, store: Store, cache_dir: Path, title_weight: int = 2) -> Snapshot:
        """The snapshot for the store's current generation, from a file in the data directory
        when one was saved for it (a cold process then starts in a fraction of a second), else
        loaded from the store and saved, unless a write was under way while it was read (that
        one may lack what the write commits, and the write's process may die before bumping
        the generation again). Files are our own: pickle is safe here."""
        state = store.state()
        key = f"{store.location}|{store.name}|{state.generation}|{title_weight}|{CACHE_VERSION}"
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"snapshot-{store.name}-{digest}.pkl"
        if path.is_file() and not state.writing:
            try:
                with open(path, "rb") as f:
                    snap = pickle.load(f)
                if isinstance(snap, Snapshot) and snap.generation == state.generation:
                    return snap
            except Exception:  # a damaged or outdated file: rebuild it
                log.warning("ignoring unreadable snapshot cache %s", path, exc_info=True)
        snap = cls.load(store, title_weight)
        if snap.generation == state.generation and not snap.provisional:
            private_dir(path.parent)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as f:
                pickle.dump(snap, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)  # readers never see a half-written file
            for old in path.parent.glob(f"snapshot-{store.name}-*.pkl"):
                if old != path:
                    old.unlink(missing_ok=True)
        return snap

    @classmethod
    def load(cls, store: Store, title_weight: int = 2) -> Snapshot:
        """Read the store, trying again when Chroma fails under a concurrent write."""
        for pause in (*RETRY_SECONDS, None):
            try:
                return cls._load(store, title_weight)
            except Exception as exc:
                if pause is None:
                    raise
                log.info("reading the store failed (%s); trying again", exc)
                time.sleep(pause)
        raise AssertionError("unreachable")

    @classmethod
    def _load(cls, store: Store, title_weight: int) -> Snapshot:
        before = store.state()
        counts = store.count()
        records = store.records()
        wanted = {aid: r.chunk_ids(aid) for aid, r in records.items() if r.n_chunks > 0}
        rows: dict[str, tuple[str, dict, np.ndarray]] = {}
        for page in store.get_chunks([i for ids in wanted.values() for i in ids]):
            for i, doc, meta, vec in zip(
                page["ids"], page["documents"], page["metadatas"], page["embeddings"], strict=True
            ):
                rows[i] = (doc, meta, vec)
        after = store.state()
        ids: list[str] = []
        texts: list[str] = []
        metas: list[dict] = []
        vecs: list[np.ndarray] = []
        articles: list[ArticleMeta] = []
        index: dict[str, int] = {}
        owner: list[int] = []
        for aid, chunk_ids in wanted.items():
            if not all(i in rows for i in chunk_ids):
                continue  # superseded while this was read: the write is still under way
            m = records[aid].meta
            index[aid] = len(articles)
            articles.append(
                ArticleMeta(
                    aid,
                    str(m.get("title", "")),
                    str(m.get("source", "")) or host_of(str(m.get("url", ""))),
                    str(m.get("url", "")),
                    from_day_number(int(m.get("day", NO_DATE))),
                )
            )
            for i in chunk_ids:
                doc, meta, vec = rows[i]
                ids.append(i)
                texts.append(doc)
                metas.append(meta)
                vecs.append(vec)
                owner.append(index[aid])
        chunk_article = np.array(owner, dtype=np.int32)
        vectors = (
            np.asarray(vecs, dtype=np.float32)
            if vecs
            else np.zeros((0, MODEL_DIMENSION), dtype=np.float32)
        )
        # The headline is indexed with every chunk, and counts `title_weight` times.
        docs = [
            terms(t) + terms(articles[chunk_article[k]].title) * title_weight
            for k, t in enumerate(texts)
        ]
        return cls(
            generation=before.generation,
            chunk_ids=ids,
            chunk_article=chunk_article,
            chunk_start=np.array([int(m["start"]) for m in metas], dtype=np.int64),
            chunk_texts=texts,
            chunk_sentences=[_spans(str(m.get("sentences", ""))) for m in metas],
            vectors=vectors,
            days=np.array([int(m.get("day", NO_DATE)) for m in metas], dtype=np.int64),
            articles=articles,
            article_vectors=_article_means(vectors, chunk_article, len(articles)),
            bm25=BM25(docs),
            article_index=index,
            provisional=before.writing or before != after,
            store_counts=counts,
        )


def host_of(url: str) -> str:
    """A display source for an article that names none: its site's host ("cnn.com")."""
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    return host.removeprefix("www.")


def _article_means(vectors: np.ndarray, chunk_article: np.ndarray, n: int) -> np.ndarray:
    means = np.zeros(
        (n, vectors.shape[1] if vectors.ndim == 2 else MODEL_DIMENSION), dtype=np.float32
    )
    if n and len(vectors):
        np.add.at(means, chunk_article, vectors)
        means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-9)
    return means


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
    dense = snap.vectors @ query_vector.astype(np.float32)
    lexical = snap.bm25.scores(terms(query_text)) if options.hybrid else np.zeros_like(dense)
    allowed = np.ones(snap.n_chunks, dtype=bool)
    if now is not None:
        allowed &= snap.days <= day_number(now)  # undated chunks (-1) are always allowed
    fused = _rrf(dense, allowed, options.rrf_k)
    if options.hybrid:
        fused += options.lexical_weight * _rrf(lexical, allowed & (lexical > 0), options.rrf_k)
    fused *= time_prior(snap.days, now, window, options)
    fused[~allowed] = -np.inf
    top = _top(fused, options.k)
    return [
        Hit(int(i), float(fused[i]), float(dense[i]), float(lexical[i]))
        for i in top
        if np.isfinite(fused[i])
    ]


def _rrf(scores: np.ndarray, mask: np.ndarray, k: int, depth: int = 1000) -> np.ndarray:
    """Reciprocal-rank scores of the `depth` best allowed items; the rest score 0."""
    out = np.zeros(len(scores), dtype=np.float64)
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return out
    if idx.size > depth:
        idx = idx[np.argpartition(-scores[idx], depth - 1)[:depth]]
    order = idx[np.argsort(-scores[idx], kind="stable")]
    out[order] = 1.0 / (k + 1 + np.arange(order.size))
    return out


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
        per.setdefault(int(snap.chunk_article[h.chunk]), []).append(h)
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


def same_story(snap: Snapshot, vecs: np.ndarray, a: int, b: int, cos: float, days: int) -> bool:
    """Articles a and b are one report (syndicated, or lightly rewritten): their vectors at
    least `cos` alike, published at most `days` apart."""
    da, db = snap.articles[a].published, snap.articles[b].published
    if da is None or db is None or abs((da - db).days) > days:
        return False
    return float(vecs[a] @ vecs[b]) >= cos
