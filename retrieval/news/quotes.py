"""Quotes of the day: the most notable direct quotes of a briefing's stories, each with its
speaker named as the article names them in full.

Direct quotes with a named speaker come from `attribution.attribute_all` (pronouns and running
quotes resolved to the previous speaker). Longer quotes, the top stories, people quoted in
several articles and whole utterances come first; one quote per speaker, at most two per story.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from retrieval.answering.attribution import attribute_all
from retrieval.intake.sentences import paragraphs, sentences
from retrieval.models import Article


@dataclass(frozen=True)
class QuoteOptions:
    quotes: int = 3
    min_words: int = 6
    per_story: int = 2  # no story fills the quotes of the day on its own
    articles_per_story: int = 3  # the story's most central articles are read for quotes


@dataclass(frozen=True)
class QuoteSpan:
    """A direct quote in an article: the quoted words, without the quotation marks."""

    speaker: str  # as the article names them in full
    start: int  # offsets in article.text
    end: int
    inherited: bool  # the speaker is named in an earlier sentence (a running quote, a pronoun)


@dataclass(frozen=True)
class PickedQuote:
    """A quote of the day, before it is cited."""

    speaker: str
    article: Article
    start: int
    end: int


@dataclass(frozen=True)
class _Found:
    score: float
    story: int  # the story's rank
    article: Article
    span: QuoteSpan

    @property
    def surname(self) -> str:
        return self.span.speaker.split()[-1]


_QUOTED = re.compile(r"[\"“]([^\"“”]+)[\"”]")
_TITLE_WORDS = frozenset(
    """president vice prime minister secretary sen senator rep representative gov governor
    mr mrs ms dr prof chief general gen director judge justice mayor king queen prince
    chancellor ambassador spokesman spokeswoman spokesperson commissioner officer
    defence defense foreign health home state interior chairman chairwoman ceo the of
    u.s u.k uk us united kingdom states former""".split()
)


def quote_spans(article: Article) -> list[QuoteSpan]:
    """Each direct quote of the article with a named speaker."""
    spans = sentences(article.text)
    para_starts = {s for s, _ in paragraphs(article.text)}
    texts = [article.text[s:e] for s, e in spans]
    starts = [s in para_starts for s, _ in spans]
    out = []
    for (s, _e), text, attr in zip(spans, texts, attribute_all(texts, starts), strict=True):
        if not attr.direct or not attr.speaker or attr.speaker.lower() in {"he", "she", "they"}:
            continue
        best = max(_QUOTED.finditer(text), key=lambda m: len(m.group(1)), default=None)
        if best is None:
            continue
        a, b = best.span(1)
        inner = text[a:b]
        if not inner.lstrip()[:1].isupper() and len(inner.split()) < 10:
            continue  # a phrase woven into the reporter's sentence, not an utterance
        inner_stripped = inner.rstrip(" ,;:")
        b = a + len(inner_stripped)
        lead = len(inner_stripped) - len(inner_stripped.lstrip())
        speaker = full_name(attr.speaker, article.text)
        out.append(QuoteSpan(speaker, s + a + lead, s + b, attr.inherited))
    return out


def full_name(speaker: str, text: str) -> str:
    """'Wallace' as the article names him in full ('Ben Wallace'), titles left out."""
    words = speaker.split()
    if len(words) != 1:
        return speaker
    surname = re.escape(words[0])
    firsts = Counter(
        m.group(1)
        for m in re.finditer(rf"\b([A-Z][a-z]+(?:\s[A-Z]\.)?)\s+{surname}\b", text)
        if m.group(1).split()[0].lower().rstrip(".") not in _TITLE_WORDS
    )
    if not firsts:
        return speaker
    return f"{firsts.most_common(1)[0][0]} {speaker}"


def quotes_of_the_day(
    stories: Sequence[Sequence[Article]], options: QuoteOptions | None = None
) -> list[PickedQuote]:
    """The most notable quotes of `stories` (each its articles, most central first; the
    stories in rank order): from the top stories, by people quoted in several articles, of a
    length that says something; one per speaker, at most `per_story` per story."""
    o = options or QuoteOptions()
    found: list[_Found] = []
    mentions: Counter[str] = Counter()
    for rank, articles in enumerate(stories):
        for article in articles[: o.articles_per_story]:
            seen_here: set[str] = set()
            for span in quote_spans(article):
                words = len(article.text[span.start : span.end].split())
                if words < o.min_words:
                    continue
                seen_here.add(span.speaker.split()[-1])
                # Longer quotes say more, up to a point; the top stories matter most.
                # A whole utterance, in a sentence that names its speaker, stands on its own.
                whole = article.text[span.start : span.start + 1].isupper()
                score = min(words, 30) / 30 + 1.0 / (1 + rank) - 0.1 * span.inherited
                found.append(_Found(score + 0.1 * whole, rank, article, span))
            mentions.update(seen_here)
    # People quoted in several articles are the day's voices.
    found.sort(key=lambda f: -(f.score + 0.25 * min(mentions[f.surname], 4)))
    picked: list[PickedQuote] = []
    speakers: set[str] = set()
    per_story: Counter[int] = Counter()
    for f in found:
        if len(picked) >= o.quotes:
            break
        if f.surname in speakers or per_story[f.story] >= o.per_story:
            continue
        speakers.add(f.surname)
        per_story[f.story] += 1
        picked.append(PickedQuote(f.span.speaker, f.article, f.span.start, f.span.end))
    return picked
