"""The answerer's learned scores, read from `answerer.json` (written by
`bench/train_answerer.py`; never edited by hand):

- the sentence score: the probability that a candidate sentence holds the answer;
- the answerability score: the probability that the question is answered by the chosen
  sentences, and the threshold under which the bot declines instead;
- the speaker score: the same for "what did X say" questions, over X's chosen sentences;
- the article score: orders the articles retrieval found (rerank.py).

All are logistic regressions over standardised features (features.py, sentences.py, answer.py,
speaker.py, rerank.py): small, calibrated, and inspectable (docs/retrieval.md lists their
weights' meaning)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

SENTENCE_FEATURES = (
    "exact",  # share of the subject's weight the sentence holds (stems)
    "soft",  # the same, a missing word counting as much as its closest word resembles it
    "titled",  # exact, over the sentence and its article's title
    "article",  # exact, over the whole article and its title
    "context",  # exact for the earlier question's subject (follow-ups), else 0
    "dense",  # cosine of the question and the sentence's chunk
    "kind",  # names something of the kind asked for (a number for "how many"...)
    "position",  # how far into the article, 0 (start) to 1 (2,000 characters on)
    "quote",  # holds a quotation
    "length",  # words / 40, at most 1
    "soft_titled",  # soft, over the sentence and its article's title
    "new_kind",  # holds a thing of the kind asked for that the question doesn't name
    "new_words",  # share of the sentence's words that the question doesn't hold
    "wants_kind",  # the question asks for a number, a date or a name
    "ahead",  # speaks of what is still to come (outcome.looks_ahead)
    "money",  # asked how much (money), the sentence names an amount of it
    "focus",  # exact, for the subject's words its article's title doesn't hold
    "focus_soft",  # the same, soft
    "has_focus",  # the question asks more than its article's headline holds
)

# Every feature is the question's, the sentence's or its own article's: none reads the other
# articles retrieved, nor the day asked, so that the same question about the same article gets
# the same scores on an index of one article or of millions, today or in ten years.
ANSWER_FEATURES = (
    "top",  # the best sentence's score (log-odds)
    "exact",  # the subject share of the best sentence with its title
    "soft",  # the soft subject share of the best sentence
    "article",  # the subject share of the best sentence's article
    "dense",  # the best sentence's chunk cosine
    "subject",  # how much the subject weighs (sum of word weights / 40, at most 1)
    "preview",  # asked how something turned out, the answer looks ahead to it (outcome.py)
    "off_subject",  # a short question whose subject no cited sentence holds (answer.py)
    "asks_kind",  # the question asks for a number, a date or a name
    "followup",  # asked with an earlier question as context
    "missing",  # share of the subject's weight that the best sentence's article doesn't hold
    "heaviest_missing",  # the subject's weightiest word is not in the best sentence's article
    "asks_words",  # asks what someone said, and the articles attribute nothing to them
)


SPEAKER_FEATURES = (
    "fit",  # the best soft subject share of their cited sentences in the best one's article
    # (with the question it answers, for "declined to comment")
    "fit_exact",  # the same, by stems only
    "article",  # the subject share of the best sentence's article
    "own",  # the best is their own quoted words, not reported speech
    "said",  # log(1 + their sentences in that article) / 3
    "subject",  # how much the rest of the question weighs (sum of word weights / 40, at most 1)
    "no_subject",  # "what did X say", nothing more
    "dense",  # the best cited sentence's chunk cosine
    "unheld",  # the weight of the subject's words the best one's article lacks / 10, at most 1
    "topic_dense",  # the best cosine of the subject's words and their chosen words (encoder)
)


# The article score (rerank.py): is this retrieved article the one that answers? Read for
# the first articles of the fused order, to order them.
ARTICLE_FEATURES = (
    "rank",  # log(1 + its place in the fused order)
    "fused",  # its fused score / the best one's
    "dense",  # its best chunk's cosine
    "dense_gap",  # that cosine minus the best article's
    "lexical",  # its best chunk's BM25 / the best one's
    "chunks",  # log(1 + how many of its chunks were found)
    "title_exact",  # share of the subject's weight the headline holds (stems)
    "title_soft",  # the same, by meaning
    "opening_exact",  # share the headline and opening chunks hold (stems)
    "opening_soft",  # the same, by meaning
    "age",  # log(1 + days between publication and the day asked)
    "outlets",  # log(1 + other outlets' copies folded into it)
)


@dataclass(frozen=True)
class Logistic:
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def prob(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit(x)))

    @classmethod
    def from_dict(cls, d: dict, features: tuple[str, ...]) -> Logistic:
        if tuple(d["features"]) != features:
            raise ValueError(
                f"answerer.json was trained on features {d['features']}, the code computes "
                f"{list(features)}: retrain with bench/train_answerer.py"
            )
        return cls(
            features,
            np.array(d["mean"], dtype=np.float64),
            np.array(d["scale"], dtype=np.float64),
            np.array(d["coef"], dtype=np.float64),
            float(d["intercept"]),
        )

    def to_dict(self) -> dict:
        return {
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "intercept": round(float(self.intercept), 6),
        }


@dataclass(frozen=True)
class Models:
    sentence: Logistic
    answer: Logistic
    speaker: Logistic
    cite_floor: float  # a sentence below this probability is not cited (the best always is)
    answer_threshold: float  # below this probability of being right, the bot declines
    speaker_threshold: float  # the same for "what did X say" answers
    notes: dict[str, str]
    article: Logistic | None = None  # orders the retrieved articles (None: the fused order)


_override: list[Models] = []


def use(m: Models | None) -> None:
    """Answer with `m` instead of answerer.json (training; None: back to the file)."""
    _override[:] = [m] if m is not None else []


def models() -> Models:
    return _override[0] if _override else _shipped()


@cache
def _shipped() -> Models:
    raw = json.loads(
        resources.files("retrieval.answering").joinpath("answerer.json").read_text("utf-8")
    )
    return from_dict(raw)


def from_dict(raw: dict) -> Models:
    return Models(
        Logistic.from_dict(raw["sentence"], SENTENCE_FEATURES),
        Logistic.from_dict(raw["answer"], ANSWER_FEATURES),
        Logistic.from_dict(raw["speaker"], SPEAKER_FEATURES),
        float(raw["cite_floor"]),
        float(raw["answer_threshold"]),
        float(raw["speaker_threshold"]),
        dict(raw.get("notes", {})),
        Logistic.from_dict(raw["article"], ARTICLE_FEATURES) if "article" in raw else None,
    )
