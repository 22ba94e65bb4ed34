"""What a followed topic's channel was told already, and whether a development is new to it.

A development is the one or two sentences an answer to the topic cites from one new article.
It is new to a channel unless each of its sentences says what the channel was told (`same_fact`
with a told sentence), or unless it is another outlet's copy of a told event (the article's
vector within the story clustering's join cosine of a told article's, and its lead sentence
told). A sentence that repeats a told one but with another figure (a correction, a new death
toll, a longer sentence) is new: a told sentence covers it only when every figure it carries
was told there too. Figures are the numbers the answer verifier reads (digits and number
words, retrieval/answering/evidence.py), less those that only date the sentence ("on July 7",
"2022"): a date is when it was said, not what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from retrieval.answering.claims import TIME
from retrieval.answering.evidence import numbers_in
from retrieval.answering.sentences import same_fact

_DURATION = re.compile(r"(?:seconds|minutes|hours|days|weeks|months|years)$", re.I)
_CLOCK = re.compile(r"\b\d{1,2}(?::\d\d)?\s*[ap]\.?m\b\.?", re.I)  # "3 p.m." (TIME's \b misses it)


def figures(sentence: str) -> set[str]:
    """The numbers a sentence states ("nine years" -> {"9"}, "1,200 workers" -> {"1200"}),
    not those that only date it ("on July 7, 2022", "at 3 p.m.")."""
    kept = sentence
    for m in TIME.finditer(sentence):
        if not _DURATION.search(m.group(0)):
            kept = kept.replace(m.group(0), " ")
    return numbers_in(_CLOCK.sub(" ", kept))


def covers(told: str, sentence: str) -> bool:
    """`told` says what `sentence` says: the same fact, and no figure of the sentence is new."""
    return same_fact(sentence, told) and not (figures(sentence) - figures(told))


def told_in(sentence: str, told: Sequence[str]) -> bool:
    return any(covers(t, sentence) for t in told)


def changes_a_figure(sentence: str, told: Sequence[str]) -> bool:
    """The sentence restates a told fact with a figure that was not told (a correction)."""
    return any(same_fact(sentence, t) and figures(sentence) - figures(t) for t in told)


@dataclass(frozen=True)
class Seen:
    """An event a channel was told of (or is about to be): its sentences and article vector."""

    sentences: Sequence[str]
    vector: np.ndarray | None


def is_repeat(sentences: Sequence[str], told: Sequence[str]) -> bool:
    """Every sentence of the development was told already."""
    return bool(sentences) and all(told_in(s, told) for s in sentences)


def copy_of(
    sentences: Sequence[str],
    vector: np.ndarray | None,
    seen: Sequence[Seen],
    join_cosine: float,
    similarity: Sequence[float] | None = None,
) -> int | None:
    """Which of `seen` this development is another outlet's report of (its article within
    `join_cosine` of that one's, and its lead sentence told there, no figure of it changed),
    or None. `similarity`: the articles' similarity to each of `seen`, when the caller has a
    better one than the cosine of their vectors."""
    if not sentences:
        return None
    every = [t for s in seen for t in s.sentences]
    if any(changes_a_figure(s, every) for s in sentences):
        return None
    for k, s in enumerate(seen):
        if similarity is not None:
            close = similarity[k] >= join_cosine
        elif vector is None or s.vector is None or len(s.vector) != len(vector):
            close = False
        else:
            close = float(np.dot(vector, s.vector)) >= join_cosine
        if close and told_in(sentences[0], s.sentences):
            return k
    return None
