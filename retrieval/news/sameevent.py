"""Whether two reports on a followed topic tell of one event: a small logistic regression over a
few features of the pair, calibrated on labelled pairs.

A report is what the follower knows of one development: its cited sentences, the article's lead
sentence, the article's vector and its publication day. The features of a pair (`FEATURES`):
the cosine of the two article vectors; the best encoder cosine between a sentence of one and a
sentence of the other (cited or lead: two outlets' leads of one event rarely share 70% of their
words, but the encoder reads them alike); whether any two of them are the `same_fact`; and the
days between them (log(1 + days)).

A changed figure is not a feature but a rule (`new_figure`), read off the same tune pairs: a
report that restates a told sentence with a figure the told one did not carry is one event with
it when published the same day (8 of 8 such tune pairs: "$3.99 a gallon" after "below $4"), and
a new development when published on a later day (7 of 9) or as a later version of the same
article (a correction).

The weights (same_event.json, beside this module) were fitted by bench/follow_fit.py on every
pair of on-topic labelled articles within each *tune* topic of bench/follow/labels.jsonl (same
event id: one event), and the decision threshold chosen there, on tune only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np

from retrieval.answering.sentences import same_fact
from retrieval.intake.sentences import sentences as spans
from retrieval.news.newness import changes_a_figure

WEIGHTS = Path(__file__).with_name("same_event.json")
FEATURES = ("article_cosine", "sentence_cosine", "same_fact", "log_days_apart")
LEAD_MIN_WORDS = 8  # a byline, a dateline or a caption is not the lead


def lead_of(text: str) -> str:
    """The article's first sentence of some length (of its first chunk's text), or ""."""
    for s, e in spans(text, 0, min(len(text), 1200)):
        sentence = " ".join(text[s:e].split())
        if len(sentence.split()) >= LEAD_MIN_WORDS:
            return sentence
    return ""


@dataclass(frozen=True)
class Report:
    """One development as compared: cited sentences first, then the article's lead."""

    article_id: str
    cited: tuple[str, ...]
    lead: str
    vector: np.ndarray | None  # the article's
    published: date | None

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s for s in (*self.cited, self.lead) if s))


Encode = Callable[[list[str]], np.ndarray]


def features(new: Report, old: Report, encode: Encode) -> np.ndarray:
    """The pair's features, in `FEATURES` order; `new` is the later report."""
    a, b = new.sentences, old.sentences
    art = 0.0
    if new.vector is not None and old.vector is not None and len(new.vector) == len(old.vector):
        art = float(np.dot(new.vector, old.vector))
    sent = 0.0
    if a and b:
        va, vb = encode(list(a)), encode(list(b))
        sent = float((va @ vb.T).max())
    fact = any(same_fact(x, y) for x in a for y in b)
    return np.array([art, sent, float(fact), np.log1p(_days(new, old))], dtype=np.float64)


def _days(new: Report, old: Report) -> int:
    if new.published is None or old.published is None:
        return 0
    return abs((new.published - old.published).days)


def new_figure(new: Report, old: Report) -> bool:
    """`new` restates a sentence of `old` with a figure `old` did not carry, and is a later
    report (a later day) or a later version of the same article (a correction)."""
    later = new.article_id == old.article_id or (
        new.published is not None and old.published is not None and new.published > old.published
    )
    return later and any(changes_a_figure(s, old.sentences) for s in new.cited)


@dataclass(frozen=True)
class SameEvent:
    """P(one event) = sigmoid(intercept + weights . features); one event when >= threshold."""

    weights: tuple[float, ...]
    intercept: float
    threshold: float

    @classmethod
    def load(cls, path: Path = WEIGHTS) -> SameEvent:
        return _load(path)

    def probability(self, x: np.ndarray) -> float:
        z = self.intercept + float(np.dot(self.weights, x))
        return float(1.0 / (1.0 + np.exp(-z)))

    def __call__(self, new: Report, old: Report, encode: Encode) -> bool:
        """One event, and not a new figure of it."""
        if new_figure(new, old):
            return False
        return self.probability(features(new, old, encode)) >= self.threshold

    def first(self, new: Report, olds: Sequence[Report], encode: Encode) -> int | None:
        """The most likely of `olds` to be `new`'s event (not a new figure of it), if any
        reaches the threshold."""
        best, at = self.threshold, None
        for k, old in enumerate(olds):
            if new_figure(new, old):
                continue
            p = self.probability(features(new, old, encode))
            if p >= best:
                best, at = p, k
        return at


@lru_cache(maxsize=4)
def _load(path: Path) -> SameEvent:
    d = json.loads(path.read_text(encoding="utf-8"))
    assert tuple(d["features"]) == FEATURES, f"{path}: features {d['features']} != {FEATURES}"
    return SameEvent(tuple(float(w) for w in d["weights"]), float(d["intercept"]), d["threshold"])
