"""Whether the chosen passages report the outcome a question asks about.

A question about how something ended ("who won the Italian election?", "how did the Kansas
vote turn out?") is not answered by articles written before it happened, however many of the
question's words they share: a preview speaks of the event in the future ("voters will
decide", "the Open begins Thursday"), and a story on the race names no winner. Both checks
read the sentences the answer would cite, nothing else.
"""

from __future__ import annotations

import re
from datetime import date

from retrieval.answering.timewindow import days_named
from retrieval.index.lexical import terms

# The question asks how something went: "how did … turn out", "how far / how much did …",
# "why did …", or a verb of ending. Not "what did X call it" or "who did X meet": those ask
# about an act, which a sentence saying what will follow from it may well report.
_ASKS_OUTCOME = re.compile(
    r"\b(?:how|why)\b(?:\s+\w+)?\s+did\b|\bturn(?:ed)? out\b|"
    r"\b(?:won|lost|ended|finished)\b",
    re.I,
)
_ASKS_WINNER = re.compile(
    r"\b(?:who|which \w+|what \w+) (?:won|wins|has won|came first|finished first)\b|"
    r"\bwho (?:is|was) the winner\b|\bwinner of\b",
    re.I,
)
# A win: not "won praise" or "won the backing of", which are no contest's result.
_WIN = re.compile(
    r"\b(?:won|wins?|winners?|winning)\b(?! (?:the |their |his |her )?(?:praise|support|backing|"
    r"approval|plaudits|acclaim|respect|favou?r|sympathy|admiration|attention|trust|hearts?)\b)|"
    r"\b(?:victory|victorious|champions?|clinch\w*|triumph\w*|beat|defeat(?:s|ed)|elected|"
    r"crowned|title)\b",
    re.I,
)
# Said of what is still to come. Not "could", "might" or "may", which mostly say what is
# possible ("the leak could be the biggest ever"), nor "would", which reports a hypothesis.
_FUTURE = re.compile(
    r"\b(?:[Ww]ill|[Ss]hall|won't)\b(?! have\b)|'ll\b|"
    r"\b(?:is|are|was|were) (?:set|expected|scheduled|due|slated|poised|likely|going|about) to\b|"
    r"\b(?:begins?|starts?|upcoming|ahead of|is targeting|are targeting|plans? to|hopes? to)\b"
)


def asks_outcome(question: str) -> bool:
    return bool(_ASKS_OUTCOME.search(question))


def asks_winner(question: str) -> bool:
    return bool(_ASKS_WINNER.search(question))


def looks_ahead(sentence: str) -> bool:
    """The sentence speaks of what is still to come."""
    return bool(_FUTURE.search(sentence))


def unreported(
    question: str,
    cited: list[tuple[str, str, date | None]],
    subject: dict[str, float],
    now: date | None = None,
) -> bool:
    """The question asks how something turned out and the cited sentences (with their
    articles' titles and dates, best first) don't say: the best looks ahead to it, or, asked
    who won, none names a win of the subject (holding WINNER_SUBJECT of its term weight,
    `subject`: term -> idf) in an article of this edition of it: not one EDITION_DAYS older
    than the newest article cited (2019's leadership race did not elect 2022's leader)."""
    if not cited:
        return False
    if asks_winner(question):
        dates = [d for _, _, d in cited if d is not None]
        newest = max(dates, default=None)
        if not any(
            _WIN.search(s)
            and holds(f"{s} {t}", subject) >= WINNER_SUBJECT
            and (d is None or newest is None or (newest - d).days <= EDITION_DAYS)
            for s, t, d in cited
        ):
            return True
    if not asks_outcome(question):
        return False
    # The answer would lead with a preview ...
    if looks_ahead(cited[0][0]):
        return True
    # ... or a preview of the subject names the day it was to happen, that day has come by
    # `now`, and nothing cited was written since ("the US Open, which starts on 29 August, will
    # be her farewell", asked in September).
    newest = max((d for _, _, d in cited if d is not None), default=None)
    return now is not None and any(
        d is not None
        and newest is not None
        and looks_ahead(s)
        and holds(f"{s} {t}", subject) >= WINNER_SUBJECT
        and any(d < day <= now and newest < day for day in days_named(s, d))
        for s, t, d in cited
    )


EDITION_DAYS = 180
WINNER_SUBJECT = 0.5  # share of the subject's weight a sentence naming the winner holds


def holds(text: str, subject: dict[str, float]) -> float:
    """The share of the subject's weight (term -> idf) whose terms the text holds."""
    total = sum(subject.values())
    held = set(terms(text))
    return sum(w for t, w in subject.items() if t in held) / total if total else 1.0
