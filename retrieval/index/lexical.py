"""A small BM25 over chunks, with the article's title as a weighted field, and the term
statistics that sentence ranking needs."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once
    here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now is are was were be been
    being have has had having do does did doing i me my we our you your he him his she her it
    its they them their what which who whom this that these those am would could ought i'm
    you're he's she's it's we're they're i've you've we've they've i'd you'd he'd she'd we'd
    they'd i'll you'll he'll she'll we'll they'll isn't aren't wasn't weren't hasn't haven't
    hadn't doesn't don't didn't won't wouldn't shan't shouldn't can't cannot couldn't mustn't
    let's that's who's what's here's there's when's where's why's how's as until while also
    said says say tell told according recently new week weeks year years""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[-'’.,][a-z0-9]+)*")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to meet 'agreements' with 'agreement'."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            stem_ = word[: -len(suffix)] + repl
            # "stopped" -> "stop", "planning" -> "plan"
            if suffix in ("ing", "ed") and stem_[-1] == stem_[-2] and stem_[-1] not in "lsz":
                stem_ = stem_[:-1]
            return stem_
    return word


def terms(text: str) -> list[str]:
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        if w in STOPWORDS:
            continue
        out.extend(stem(p) for p in w.split("-") if p and p not in STOPWORDS)
    return out


class BM25:
    """Okapi BM25 over a fixed set of documents (scipy sparse, built once per snapshot)."""

    def __init__(
        self,
        docs: Sequence[Iterable[str]],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> None:
        from scipy import sparse

        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        lengths = np.zeros(len(docs), dtype=np.float32)
        for d, toks in enumerate(docs):
            n = 0
            for t in toks:
                rows.append(d)
                cols.append(vocab.setdefault(t, len(vocab)))
                n += 1
            lengths[d] = n
        tf = sparse.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(docs), len(vocab))
        )
        tf.sum_duplicates()
        df = np.bincount(tf.indices, minlength=len(vocab)).astype(np.float32)
        self.n_docs = len(docs)
        self.idf = np.log(1 + (self.n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(lengths.mean()) if len(docs) else 1.0
        norm = k1 * (1 - b + b * lengths / max(avg, 1e-9))
        tf = tf.tocoo()
        weights = tf.data * (k1 + 1) / (tf.data + norm[tf.row]) * self.idf[tf.col]
        self.weights = sparse.csc_matrix((weights, (tf.row, tf.col)), shape=tf.shape)
        self.vocab = vocab

    def term_ids(self, query_terms: Iterable[str]) -> list[int]:
        return [self.vocab[t] for t in dict.fromkeys(query_terms) if t in self.vocab]

    def idf_of(self, term: str) -> float:
        i = self.vocab.get(term)
        return float(self.idf[i]) if i is not None else float(np.log(1 + self.n_docs + 0.5))

    def scores(self, query_terms: Iterable[str]) -> np.ndarray:
        ids = self.term_ids(query_terms)
        if not ids:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self.weights[:, ids].sum(axis=1)).ravel()
