"""Sentence and paragraph spans with character offsets, for chunking and for citing."""

from __future__ import annotations

import re
from collections.abc import Iterator

# Words that end in a period without ending a sentence.
ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof gen sen rep gov lt col capt sgt st jr sr inc corp co ltd vs etc no
    jan feb mar apr jun jul aug sep sept oct nov dec fig approx dept est mt ft rev hon pres
    adm cmdr maj brig supt insp det bros u.s u.k u.n e.g i.e a.m p.m""".split()
)

_PARAGRAPH = re.compile(r"\n\s*\n")
# A candidate boundary: terminal punctuation, optional closing quotes/brackets, then space.
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+)")
_NEXT_START = re.compile(r"\s+[\"'“‘(\[]*[A-Z0-9]")


def paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Spans of non-empty paragraphs (separated by blank lines), trimmed of whitespace."""
    pos = 0
    for m in _PARAGRAPH.finditer(text):
        yield from _trimmed(text, pos, m.start())
        pos = m.end()
    yield from _trimmed(text, pos, len(text))


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield start, end


def _is_abbreviation(text: str, start: int, dot: int) -> bool:
    word_start = dot
    while word_start > start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lstrip("\"'“‘([").lower()
    if not word:
        return False
    if word in ABBREVIATIONS:
        return True
    # Initials and dotted acronyms: "J.", "U.S.", "p.m." (a single letter before the dot).
    return len(word) == 1 and word.isalpha() or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans within text[start:end]; paragraph breaks always end a sentence."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    for p_start, p_end in paragraphs(text[start:end]):
        p_start += start
        p_end += start
        s_start = p_start
        for m in _BOUNDARY.finditer(text, p_start, p_end):
            cut = m.end()
            if not _NEXT_START.match(text, cut, p_end):
                continue
            if (
                text[m.start()] == "."
                and m.end() - m.start() == 1
                and _is_abbreviation(text, s_start, m.start())
            ):
                continue
            spans.extend(_trimmed(text, s_start, cut))
            s_start = cut
        spans.extend(_trimmed(text, s_start, p_end))
    return spans
