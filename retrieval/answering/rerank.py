"""The learned article order: the articles retrieval found, re-ranked by the article score
(learned.py, trained by bench/train_answerer.py on the train splits' gold articles).

Retrieval fuses dense and BM25 ranks with a time prior (index/search.py); that order misses
what a reader sees at once: whether the headline and the story's opening hold what the
question asks about, by word and by meaning (features.Subject). The score reads both, with
the fused order's own evidence, for the first RERANK_DEPTH articles; the rest keep their
order behind them."""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from retrieval.answering.features import Subject, WordMatcher
from retrieval.answering.learned import Logistic
from retrieval.index.search import RankedArticle, Snapshot

# How many of the fused order's articles are re-ranked. On the train splits, re-ranking the
# first 20 or the first 30 gives the same MRR@10 (2023-24 quiz 0.808, team 0.898); 20 keeps
# warm `ask` p95 under 100 ms on corpus-dev (bench/ask.py warm: 89.7 ms, 104.8 with 30).
RERANK_DEPTH = 20
# How much of an article is read for its subject: its first chunks (the headline is apart).
OPENING_CHUNKS = 3


def article_rows(
    snap: Snapshot,
    ranked: list[RankedArticle],
    subj: Subject,
    matcher: WordMatcher,
    now: date | None,
) -> np.ndarray:
    """One row of ARTICLE_FEATURES per article of ranked[:RERANK_DEPTH]."""
    top = ranked[:RERANK_DEPTH]
    if not top:
        return np.zeros((0, 12))
    best_score = max(r.score for r in top) or 1.0
    best_dense = max(max(h.dense for h in r.hits) for r in top)
    best_lexical = max(max(h.lexical for h in r.hits) for r in top) or 1.0
    rows = []
    for k, r in enumerate(top):
        meta = snap.articles[r.article]
        title = meta.title or ""
        chunks = snap.article_chunks(r.article).tolist()[:OPENING_CHUNKS]
        text = " ".join(snap.chunk_texts[c] for c in chunks) + " " + title
        dense = max(h.dense for h in r.hits)
        age = (now - meta.published).days if now and meta.published else 30
        rows.append(
            [
                math.log1p(k),
                r.score / best_score,
                dense,
                dense - best_dense,
                max(h.lexical for h in r.hits) / best_lexical,
                math.log1p(len(r.hits)),
                subj.exact(title),
                subj.soft(title, matcher),
                subj.exact(text),
                subj.soft(text, matcher),
                math.log1p(max(age, 0)),
                math.log1p(len(r.duplicates)),
            ]
        )
    return np.array(rows, dtype=np.float64)


def rerank(ranked: list[RankedArticle], rows: np.ndarray, model: Logistic) -> list[RankedArticle]:
    """ranked[:len(rows)] in the order of the article score, best first; the rest after."""
    if len(rows) < 2:
        return ranked
    order = np.argsort(-model.logit(rows), kind="stable")
    return [ranked[int(i)] for i in order] + ranked[len(rows) :]
