"""What a followed topic's channel was told already, and whether a development is new to it.

A development is the one or two sentences an answer to the topic cites from one new article.
It is a repeat when each of its sentences says what the channel was told (`same_fact` with a
told sentence, every figure of it told there too). Whether it is another report of a told
event is retrieval/news/sameevent.py's calibrated decision, which reads `changes_a_figure`
here: a sentence that restates a told one with another figure (a correction, a new death toll)
on a later day is new. Figures are the numbers the answer verifier reads (digits and number
words, retrieval/answering/evidence.py), less those that only date the sentence ("on July 7",
"2022"): a date is when it was said, not what.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

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


def is_repeat(sentences: Sequence[str], told: Sequence[str]) -> bool:
    """Every sentence of the development was told already."""
    return bool(sentences) and all(told_in(s, told) for s in sentences)
