"""The candidate sentences of an answer, read from the best articles with who said each, and
what kind of thing a sentence says (a number, a date, a name; prose or a caption)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from retrieval.answering.attribution import (
    Attribution,
    attribute_all,
    has_quote,
)
from retrieval.answering.options import ComposeOptions
from retrieval.answering.timewindow import MONTHS
from retrieval.index.lexical import stem, terms
from retrieval.index.search import RankedArticle, Snapshot
from retrieval.intake.pagetext import page_line_kind


@dataclass(frozen=True)
class Candidate:
    article: int  # index into snap.articles
    article_rank: int
    start: int  # offsets in the article text
    end: int
    text: str
    attribution: Attribution
    chunk_dense: float
    chunk: int  # the snapshot chunk it was read from


def candidates(
    snap: Snapshot, ranked: list[RankedArticle], options: ComposeOptions
) -> list[Candidate]:
    """Sentences of the best chunks of the best articles, attributed in context, deduplicated."""
    out: dict[tuple[int, int], Candidate] = {}
    for rank, r in enumerate(ranked[: options.max_articles]):
        art = r.article
        chunks = {h.chunk: h.dense for h in r.hits[: options.chunks_per_article]}
        own = snap.article_chunks(art).tolist()
        first = min(own, key=lambda k: snap.chunk_start[k]) if own else None
        if rank == 0 and first is not None and options.lead_sentences:
            # A news story's lead tells its news, whether or not it matched the question best.
            chunks.setdefault(first, min(chunks.values(), default=0.0))
        for chunk in sorted(chunks):
            text = snap.chunk_texts[chunk]
            base = int(snap.chunk_start[chunk])
            spans = snap.chunk_sentences[chunk]
            sents = [text[s - base : e - base] for s, e in spans]
            new_para = [True] + [
                "\n\n" in text[spans[i - 1][1] - base : spans[i][0] - base]
                for i in range(1, len(spans))
            ]
            for (s, e), sent, attr in zip(
                spans, sents, attribute_all(sents, new_para), strict=True
            ):
                key = (art, s)
                old = out.get(key)
                if old is not None and (old.attribution.speaker or not attr.speaker):
                    continue  # keep the attribution made with the most context
                out[key] = Candidate(art, rank, s, e, sent, attr, chunks[chunk], chunk)
    return [c for c in out.values() if is_prose(c.text)]


NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|"
    r"thousand|million|billion|trillion)\b",
    re.I,
)
_DATE = re.compile(
    r"\b(?:19|20)\d\d\b|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d|"
    r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|today|yesterday)\b"
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")


_ASKS_NUMBER = (
    r"\bhow (?:many|much|long|old|far|big|high)\b|\bapproximately\b"
    r"|\bwhat (?:percent|percentage|number|share|age)\b"
)


def answer_type(question: str) -> str:
    """What kind of thing answers the question: 'number', 'date', 'name' or '' (anything)."""
    q = question.lower()
    if re.search(_ASKS_NUMBER, q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b", q):
        return "date"
    if re.search(r"\b(?:who|whom|whose|where|which)\b", q):
        return "name"
    return ""


def novelty(sentence: str, question_terms: set[str], wants: str) -> float:
    """How much a sentence adds to the question, in (0, 1]: a sentence that restates the
    question answers nothing; one that names something of the kind asked for likely does."""
    new = [t for t in terms(sentence) if t not in question_terms]
    if not new:
        return 0.0
    if wants == "number":
        return 1.0 if NUMBER.search(sentence) else 0.3
    if wants == "date":
        return 1.0 if _DATE.search(sentence) else 0.3
    if wants == "name":
        names = [m.group(0).lower() for m in _NAME.finditer(sentence)]
        return 1.0 if any(stem(n) not in question_terms for n in names) else 0.3
    return min(1.0, len(new) / 6)


_NUMBER_TOKEN = re.compile(
    r"[$£€]?\d[\d,.]*%?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"dozen|hundred|thousand|million|billion|trillion)\b",
    re.I,
)


def new_of_kind(sentence: str, question: str, wants: str) -> bool:
    """The sentence names a thing of the kind asked for (a number, a date, a name) that the
    question doesn't: the answer, not a restatement of what was asked."""
    q = question.lower()
    if wants == "number":
        return any(m.group(0).lower() not in q for m in _NUMBER_TOKEN.finditer(sentence))
    if wants == "date":
        return any(m.group(0).lower() not in q for m in _DATE.finditer(sentence))
    if wants == "name":
        return any(m.group(0).lower() not in q for m in _NAME.finditer(sentence))
    return False


AMOUNT = re.compile(
    r"[$£€¥]\s?\d|\d\s?(?:million|billion|trillion|bn|m)\b|\b\d[\d,.]*\s?(?:dollars|pounds|euros|"
    r"yen|yuan|rupees|pesos|francs|crowns)\b",
    re.I,
)
ASKS_MONEY = re.compile(
    r"\bhow much\b|\b(?:cost|costs|price|prices|paid|pay|pays|revenue|profit|profits|earn|"
    r"earned|earnings|make|made|worth|fine|fined|budget|salary|wage|wages|sales|loss)\b",
    re.I,
)


def new_share(sentence: str, question_terms: set[str]) -> float:
    words = terms(sentence)
    return sum(t not in question_terms for t in words) / len(words) if words else 0.0


# A sentence of the story ends on its punctuation (or a closing quote or bracket after it).
_ENDS = re.compile(r"[.!?…][\"'”’)\]]*\s*$")


def is_prose(sentence: str) -> bool:
    words = sentence.split()
    return (
        len(words) >= 4
        # A short line with no full stop is a headline, a link to another story or a promo
        # ("Tour de France winner is crowned"), not a sentence of this one.
        and (len(words) > 10 or _ENDS.search(sentence) is not None)
        and sum(ch.isalpha() for ch in sentence) >= 15
        and not looks_like_caption(sentence)
        # Furniture the ingest could not cut out because it shares a line with text.
        and page_line_kind(sentence) is None
    )


_MONTH = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
# A photo caption: "A firefighter tries to put out a blaze near Athens, Greece, on July 20."
# It describes a picture in the present tense and ends on the day it was taken.
_CAPTION_END = re.compile(rf"\bon (?:\w+day, )?{_MONTH} \d{{1,2}}(?:, \d{{4}})?\.?$", re.IGNORECASE)
_TELLING = re.compile(
    r"\b(?:\w+ed|was|were|had|has|have|is|are|will|would|could|can|did|said|says|told|"
    r"came|took|made|went|began|got|gave|saw|won|lost|left|met|held|spoke|wrote|became|"
    r"ran|fell|brought|found|kept|laid|paid|sent|since|after|before|when|who|which|that)\b",
    re.IGNORECASE,
)


def looks_like_caption(sentence: str) -> bool:
    """A picture's caption rather than a sentence of the story: it ends on a date, quotes
    nobody and tells nothing in the past, the future or with a clause."""
    s = sentence.strip()
    m = _CAPTION_END.search(s)
    return m is not None and not has_quote(s) and not _TELLING.search(s[: m.start()])


def same_fact(a: str, b: str) -> bool:
    """Two sentences that say the same thing (one outlet's copy of another's, or a lead that
    a later paragraph repeats): most of the shorter one's content words are in the other."""
    ta, tb = set(terms(a)), set(terms(b))
    small = min(len(ta), len(tb))
    return small >= 3 and len(ta & tb) / small >= 0.7


def article_text(snap: Snapshot, article: int) -> str:
    """The article's chunks and its title, as one text: what the subject is looked for in."""
    pieces = " ".join(t for _, t in article_pieces(snap, article))
    return f"{pieces} {snap.articles[article].title or ''}"


def article_pieces(snap: Snapshot, article: int) -> list[tuple[int, str]]:
    """The article's chunks with their offsets: where the people it names are read from."""
    return [
        (int(snap.chunk_start[k]), snap.chunk_texts[k])
        for k in snap.article_chunks(article).tolist()
    ]


def speaker_candidates(
    snap: Snapshot, ranked: list[RankedArticle], options: ComposeOptions
) -> list[Candidate]:
    """Every sentence of the best articles, attributed in the article's order: what a person
    said often sits far from the passages that match the question best, and a pronoun or a
    running quote needs the sentences before it."""
    out: list[Candidate] = []
    for rank, r in enumerate(ranked[: options.max_articles]):
        dense = {h.chunk: h.dense for h in r.hits}
        floor = min(dense.values(), default=0.0)
        where: dict[int, tuple[int, int]] = {}  # sentence start -> (end, first chunk holding it)
        for chunk in snap.article_chunks(r.article).tolist():
            for s, e in snap.chunk_sentences[chunk]:
                where.setdefault(s, (e, int(chunk)))
        starts = sorted(where)
        texts = [_text(snap, where[s][1], s, where[s][0]) for s in starts]
        new_para = [True] + [
            "\n\n" in _text(snap, where[b][1], where[a][0], b, missing="\n\n")
            for a, b in zip(starts, starts[1:], strict=False)
        ]
        attrs = attribute_all(texts, new_para, snap.articles[r.article].title)
        for s, text, attr in zip(starts, texts, attrs, strict=True):
            e, k = where[s]
            out.append(Candidate(r.article, rank, s, e, text, attr, dense.get(k, floor), k))
    return out


def _text(snap: Snapshot, chunk: int, start: int, end: int, missing: str = "") -> str:
    """The article's text from start to end, read from a chunk; `missing` when the chunk does
    not hold all of it."""
    base = int(snap.chunk_start[chunk])
    text = snap.chunk_texts[chunk]
    if start < base or end > base + len(text):
        return missing
    return text[start - base : end - base]
