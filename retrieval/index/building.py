"""Making segments (retrieval/index/segment.py): built from article versions (`Draft`s), each
chunk's BM25 terms counted and its vector kept as the encoder made it, or merged from the live
rows of other segments without tokenising or embedding anything again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from retrieval.index.lexical import terms
from retrieval.index.segment import ARRAYS, ArticleMeta, Segment, term_hash
from retrieval.index.store import day_number


@dataclass
class Draft:
    """One article version, as it goes into a segment."""

    meta: ArticleMeta
    content_hash: str
    starts: list[int]
    texts: list[str]
    sentences: list[tuple[tuple[int, int], ...]]
    vectors: np.ndarray  # (chunks, the encoder's dimension), unit length


def doc_terms(text: str, title_terms: list[str], title_weight: int) -> list[str]:
    """A chunk's BM25 terms: its own, and the headline's counted `title_weight` times."""
    return terms(text) + title_terms * title_weight


def build(drafts: Sequence[Draft], title_weight: int, info: dict[str, Any]) -> Segment:
    """A segment (in memory) of these article versions, each one's chunks in order. Their
    vectors are of the encoder's dimension, all of them; a segment of no article has none."""
    dim = _dimension(drafts)
    art_rows = [0]
    starts: list[int] = []
    text_parts: list[bytes] = []
    text_off = [0]
    span_parts: list[tuple[int, int]] = []
    span_off = [0]
    doc_len: list[int] = []
    post_h: list[int] = []
    post_r: list[int] = []
    post_tf: list[int] = []
    vectors: list[np.ndarray] = []
    row = 0
    for d in drafts:
        title_terms = terms(d.meta.title)
        for start, text, sents in zip(d.starts, d.texts, d.sentences, strict=True):
            encoded = text.encode()
            text_parts.append(encoded)
            text_off.append(text_off[-1] + len(encoded))
            span_parts.extend(sents)
            span_off.append(len(span_parts))
            starts.append(start)
            toks = doc_terms(text, title_terms, title_weight)
            doc_len.append(len(toks))
            for t, c in Counter(toks).items():
                post_h.append(term_hash(t))
                post_r.append(row)
                post_tf.append(c)
            row += 1
        vectors.append(np.asarray(d.vectors, dtype=np.float32).reshape(len(d.texts), dim))
        art_rows.append(row)
    h = np.array(post_h, dtype=np.uint64)
    r = np.array(post_r, dtype=np.int32)
    order = np.lexsort((r, h))
    arrays = {
        "art_rows": np.array(art_rows, dtype=np.int64),
        "art_days": np.array([day_number(d.meta.published) for d in drafts], dtype=np.int32),
        "art_vectors": _article_means(vectors, dim),
        "starts": np.array(starts, dtype=np.int32),
        "text_off": np.array(text_off, dtype=np.int64),
        "texts": np.frombuffer(b"".join(text_parts), dtype=np.uint8),
        "span_off": np.array(span_off, dtype=np.int64),
        "spans": np.array(span_parts, dtype=np.int32).reshape(-1, 2),
        "vectors": np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float32),
        "doc_len": np.array(doc_len, dtype=np.int32),
        **_postings(h[order], r[order], np.array(post_tf, dtype=np.uint16)[order]),
    }
    return Segment(arrays, [d.meta for d in drafts], [d.content_hash for d in drafts], info)


def _postings(h: np.ndarray, rows: np.ndarray, tf: np.ndarray) -> dict[str, np.ndarray]:
    """Sorted (term hash, row, count) triples as a CSR-like table: one posting list a term."""
    keys, first = np.unique(h, return_index=True)
    ptr = np.append(first, len(h)).astype(np.int64)
    return {"term_hash": keys, "term_ptr": ptr, "post_row": rows, "post_tf": tf}


def _dimension(drafts: Sequence[Draft]) -> int:
    """The size of the drafts' vectors, as the encoder made them (0 when there are none)."""
    for d in drafts:
        v = np.asarray(d.vectors)
        if v.ndim == 2 and v.shape[0]:
            return int(v.shape[1])
    return 0


def _article_means(vectors: list[np.ndarray], dim: int) -> np.ndarray:
    """The normalised mean of each article's chunk vectors (near-duplicates, briefings)."""
    means = np.zeros((len(vectors), dim), dtype=np.float32)
    for i, v in enumerate(vectors):
        if len(v):
            m = v.mean(axis=0)
            means[i] = m / max(float(np.linalg.norm(m)), 1e-9)
    return means


def merge(parts: Sequence[tuple[Segment, np.ndarray]], info: dict[str, Any]) -> Segment:
    """One segment of the given articles (local indices) of each part, in that order. Nothing
    is tokenised or embedded again: rows and postings are copied."""
    dim = next((seg.dimension for seg, keep in parts if len(keep)), 0)
    art_rows = [0]
    blocks: dict[str, list[np.ndarray]] = {n: [] for n in ARRAYS}
    post: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    articles: list[ArticleMeta] = []
    hashes: list[str] = []
    text_base = span_base = row_base = 0
    for seg, keep in parts:
        keep = np.asarray(keep, dtype=np.int64)
        if not keep.size:
            continue
        a = seg.arrays()
        rows = (
            np.concatenate([seg.rows_of(int(i)) for i in keep])
            if keep.size
            else np.zeros(0, np.int64)
        )
        counts = np.diff(a["art_rows"])[keep]
        art_rows.extend((row_base + np.cumsum(counts)).tolist())
        articles += [seg.articles[int(i)] for i in keep]
        hashes += [seg.hashes[int(i)] for i in keep]
        blocks["art_days"].append(np.asarray(a["art_days"])[keep])
        blocks["art_vectors"].append(np.asarray(a["art_vectors"][keep]))
        blocks["starts"].append(np.asarray(a["starts"][rows]))
        blocks["vectors"].append(np.asarray(a["vectors"][rows]))
        blocks["doc_len"].append(np.asarray(a["doc_len"][rows]))
        # Texts and spans: the rows' byte ranges, copied and re-based.
        t_off, s_off = a["text_off"], a["span_off"]
        t_len = np.asarray(t_off[rows + 1] - t_off[rows])
        s_len = np.asarray(s_off[rows + 1] - s_off[rows])
        texts = a["texts"]
        blocks["texts"].append(
            np.concatenate([texts[int(t_off[r]) : int(t_off[r + 1])] for r in rows])
            if rows.size
            else np.zeros(0, np.uint8)
        )
        spans = a["spans"]
        blocks["spans"].append(
            np.concatenate([spans[int(s_off[r]) : int(s_off[r + 1])] for r in rows]).reshape(-1, 2)
        )
        blocks["text_off"].append(text_base + np.cumsum(t_len))
        blocks["span_off"].append(span_base + np.cumsum(s_len))
        text_base += int(t_len.sum())
        span_base += int(s_len.sum())
        # Postings: the kept rows' entries, with their new row numbers.
        new_row = np.full(seg.n_rows, -1, dtype=np.int64)
        new_row[rows] = row_base + np.arange(rows.size)
        p_row = np.asarray(a["post_row"])
        p_h = np.repeat(np.asarray(a["term_hash"]), np.diff(np.asarray(a["term_ptr"])))
        mapped = new_row[p_row]
        sel = mapped >= 0
        post.append((p_h[sel], mapped[sel].astype(np.int32), np.asarray(a["post_tf"])[sel]))
        row_base += rows.size
    h = np.concatenate([p[0] for p in post]) if post else np.zeros(0, np.uint64)
    r = np.concatenate([p[1] for p in post]) if post else np.zeros(0, np.int32)
    tf = np.concatenate([p[2] for p in post]) if post else np.zeros(0, np.uint16)
    order = np.lexsort((r, h))

    def cat(name: str, empty: np.ndarray) -> np.ndarray:
        return np.concatenate(blocks[name]) if blocks[name] else empty

    arrays = {
        "art_rows": np.array(art_rows, dtype=np.int64),
        "art_days": cat("art_days", np.zeros(0, np.int32)).astype(np.int32),
        "art_vectors": cat("art_vectors", np.zeros((0, dim), np.float32)),
        "starts": cat("starts", np.zeros(0, np.int32)),
        "text_off": np.concatenate([[0], cat("text_off", np.zeros(0, np.int64))]).astype(np.int64),
        "texts": cat("texts", np.zeros(0, np.uint8)),
        "span_off": np.concatenate([[0], cat("span_off", np.zeros(0, np.int64))]).astype(np.int64),
        "spans": cat("spans", np.zeros((0, 2), np.int32)),
        "vectors": cat("vectors", np.zeros((0, dim), np.float32)),
        "doc_len": cat("doc_len", np.zeros(0, np.int32)),
        **_postings(h[order], r[order], tf[order]),
    }
    return Segment(arrays, articles, hashes, info)
