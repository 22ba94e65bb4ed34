"""Checks a generated sentence against the passages it cites, before anyone sees it.

A sentence is kept only if all of these hold:
- it carries at least one `[n]` marker, and each names a passage it was given;
- every number, proper name and quoted phrase in it appears in a passage it cites (names and
  numbers may also come from the passage's title, source and date);
- "X said ..." is backed by a cited passage that the attribution module attributes to X;
- it negates nothing the passage affirms, and affirms nothing the passage negates;
- its support score (content-word overlap with the cited passages, and the embedding model's
  cosine to their sentences) reaches the calibrated threshold.

The thresholds were calibrated by `bench/verifier.py` on a labelled set it builds from the
RealTime QA articles (see docs/llm.md for the figures).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np

from retrieval.answering.attribution import PRONOUN, Cast, attribute, attribute_all, same_speaker
from retrieval.index.lexical import STOPWORDS, terms
from retrieval.intake.sentences import sentences

Encode = Callable[[Sequence[str]], np.ndarray]

MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_NUMBER_WORDS = {
    w: str(k)
    for k, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
# "One of them" is no count; the others, written as words, are numbers to check.
_CHECKED_NUMBER_WORDS = {w: d for w, d in _NUMBER_WORDS.items() if w not in ("zero", "one")}
_CAPITALISED = re.compile(r"(?<![\w'’.&-])[A-Z][\w'’.&-]*")
_QUOTED = re.compile(r"[\"“]([^\"“”]{3,})[\"”]")
_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nor|neither|nobody|nothing|without|cannot|\w+n['’]t)\b", re.I
)
_WORD = re.compile(r"[\w'’.&-]+")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
# Capitalised words that open a sentence without naming anything.
_OPENING_WORDS = frozenset(STOPWORDS) | frozenset(
    """according although amid another as at both despite during earlier even every however
    in instead later meanwhile more moreover most much neither nevertheless on overall since
    still therefore though thus today tomorrow yesterday while yet officials analysts experts
    critics many several some police authorities""".split()
)


@dataclass(frozen=True)
class Passage:
    """A numbered passage the model was given: a citation's quote and what is known of it."""

    n: int
    text: str
    title: str = ""
    source: str = ""
    published: str | None = None  # ISO date
    speakers: tuple[str, ...] = ()  # who speaks in it, as the attribution module reads it


@dataclass(frozen=True)
class Verdict:
    kept: bool
    reason: str = ""  # why it was dropped, in words a log can show
    score: float | None = None  # the support score, when it was reached


@dataclass(frozen=True)
class Thresholds:
    """The support score is `overlap_weight * overlap + (1 - overlap_weight) * cosine`."""

    overlap_weight: float = 0.5
    min_support: float = 0.60


# Calibrated by bench/verifier.py (docs/llm.md): the figures there come from these values.
CALIBRATED = Thresholds(overlap_weight=0.5, min_support=0.42)


def speakers_in(text: str, start: int, end: int, title: str = "") -> tuple[str, ...]:
    """Who speaks in text[start:end] of an article: its sentences attributed in the article's
    context (a pronoun, a running quote), each speaker's name resolved to the person the
    article names in full ('Wallace' -> 'Ben Wallace')."""
    spans = sentences(text)
    if not spans:
        return ()
    texts = [text[s:e] for s, e in spans]
    new_para = [True] + [
        "\n" in text[a_end:b_start]
        for (_, a_end), (b_start, _) in zip(spans, spans[1:], strict=False)
    ]
    cast = Cast([(0, text)])
    found: list[str] = []
    for (s, e), a in zip(spans, attribute_all(texts, new_para, title), strict=True):
        if a.speaker and s < end and e > start and not re.fullmatch(PRONOUN, a.speaker):
            found.append(cast.resolve(a.speaker, s))
    return tuple(dict.fromkeys(found))


def strip_markers(sentence: str) -> str:
    """The sentence without its [n] markers, on one line."""
    return " ".join(MARKER.sub(" ", sentence).split()).replace(" .", ".").replace(" ,", ",")


def markers(sentence: str) -> list[int]:
    return [int(n) for group in MARKER.findall(sentence) for n in group.split(",")]


def _norm(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(re.sub(r"[^\w'%$.,&-]+", " ", text.lower()).split())


def _digits(text: str) -> set[str]:
    """The numbers written in digits ("130,000" -> "130000")."""
    found = {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    return {n.lstrip("0") or "0" for n in found}


def _numbers(text: str) -> set[str]:
    """The numbers in digits and in words ("three" -> "3")."""
    words = re.findall(r"[a-z]+", text.lower())
    return _digits(text) | {_NUMBER_WORDS[w] for w in words if w in _NUMBER_WORDS}


def _date_words(published: str | None) -> str:
    """A passage's date as words a sentence may use: "February 11 2022 Friday"."""
    if not published:
        return ""
    try:
        day = date.fromisoformat(published[:10])
    except ValueError:
        return published
    return f"{_MONTHS[day.month - 1]} {day.day} {day.year} {_WEEKDAYS[day.weekday()]}"


@dataclass
class _Evidence:
    """What a sentence's cited passages hold, prepared once per set of passages."""

    text: str  # normalised passage texts
    meta: str  # normalised titles, sources, dates
    words: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)
    speakers: tuple[str, ...] = ()


def _evidence(passages: Sequence[Passage]) -> _Evidence:
    text = _norm(" ".join(p.text for p in passages))
    meta = _norm(" ".join(f"{p.title} {p.source} {_date_words(p.published)}" for p in passages))
    words = {_name_word(w) for w in _WORD.findall(f"{text} {meta}")}
    return _Evidence(
        text,
        meta,
        words,
        _numbers(" ".join(f"{p.text} {p.title}" for p in passages))
        | _numbers(" ".join(_date_words(p.published) for p in passages)),
        set(terms(" ".join(p.text for p in passages))),
        tuple(s for p in passages for s in p.speakers),
    )


def _name_word(word: str) -> str:
    """A word as names are compared: lowercased, without possessive or dots ("U.S." -> "us")."""
    word = word.lower().replace("’", "'").strip("'.,-&")
    return re.sub(r"'s?$", "", word).replace(".", "")


def _word_known(word: str, known: set[str]) -> bool:
    """The word, or a form of it ("Russian" for "Russia", "Ukrainian" for "Ukraine")."""
    if word in known:
        return True
    for k in known:
        if len(k) >= 4 and k[:4] == word[:4]:
            common = len(_common_prefix(k, word))
            if common >= 4 and common >= min(len(k), len(word)) - 2:
                return True
    return False


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _names(claim: str) -> list[list[str]]:
    """Runs of capitalised words ("Ben Wallace", "NATO"), lowercased; a sentence's first word
    only when it is no ordinary opener ("The", "However")."""
    runs: list[list[str]] = []
    last_end = -2
    for m in _CAPITALISED.finditer(claim):
        word = _name_word(m.group(0))
        at_start = not claim[: m.start()].strip(" \"“'(")
        before = claim[: m.start()].rstrip(" \"“'(")
        after_stop = before.endswith((".", "!", "?", ":"))
        opener = m.group(0).lower().replace("’", "'").rstrip(".,")
        if (at_start or after_stop) and (word in _OPENING_WORDS or opener in _OPENING_WORDS):
            continue
        if not word or word in ("i",):
            continue
        gap = claim[last_end : m.start()]
        if runs and last_end >= 0 and re.fullmatch(r"\s+", gap):
            runs[-1].append(word)
        else:
            runs.append([word])
        last_end = m.end()
    return runs


def _polarity_conflict(claim: str, passage_text: str) -> str:
    """A negation the sentence adds ("would invade" -> "would not invade") or drops, read as
    the content word it governs; '' when the two agree."""

    def negated(text: str) -> list[list[str]]:
        """The (up to) two content words after each negation: what it governs."""
        spans = [terms(text[m.end() : m.end() + 60])[:2] for m in _NEGATION.finditer(text)]
        return [s for s in spans if s]

    c_neg, p_neg = negated(claim), negated(passage_text)
    c_terms, p_terms = set(terms(claim)), set(terms(passage_text))
    p_negated = {t for span in p_neg for t in span}
    for span in c_neg:
        if not set(span) & p_negated and span[0] in p_terms:
            return f"it negates '{span[0]}', which the passage affirms"
    if not c_neg:
        for span in p_neg:
            if span[0] in c_terms:
                return f"it affirms '{span[0]}', which the passage negates"
    return ""


class Verifier:
    """Keeps or drops generated sentences; `encode` embeds (the engine's query encoder)."""

    cache_size = 4096  # vectors of passages and sentences kept between checks

    def __init__(self, encode: Encode, thresholds: Thresholds = CALIBRATED) -> None:
        self.encode = encode
        self.thresholds = thresholds
        self._vectors: dict[str, np.ndarray] = {}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if todo:
            for t, v in zip(todo, self.encode(todo), strict=True):
                self._vectors[t] = v
            if len(self._vectors) > self.cache_size:  # a long-running process: the newest
                for old in list(self._vectors)[: self.cache_size // 2]:
                    del self._vectors[old]
        return np.stack([self._vectors[t] for t in texts])

    def check(self, sentence: str, passages: Mapping[int, Passage]) -> Verdict:
        """Whether `sentence` (with its [n] markers) says only what the passages it cites say."""
        cited_n = markers(sentence)
        if not cited_n:
            return Verdict(False, "it cites no passage")
        unknown = [n for n in cited_n if n not in passages]
        if unknown:
            return Verdict(False, f"[{unknown[0]}] names no passage it was given")
        cited = [passages[n] for n in dict.fromkeys(cited_n)]
        claim = strip_markers(sentence)
        reason = self.specifics(claim, cited, list(passages.values()))
        if reason:
            return Verdict(False, reason)
        score = self.support(claim, cited)
        if score < self.thresholds.min_support:
            floor = self.thresholds.min_support
            return Verdict(False, f"support {score:.2f} is below {floor}", score)
        return Verdict(True, "", score)

    def specifics(self, claim: str, cited: Sequence[Passage], given: Sequence[Passage]) -> str:
        """Why the claim's numbers, names, quotes, speaker or negations are not the cited
        passages'; '' when they are."""
        ev = _evidence(cited)
        for quote in _QUOTED.findall(claim):
            parts = [p for p in re.split(r"\.\.\.|…", quote) if len(p.split()) >= 1]
            for part in parts:
                if _norm(part).strip(" .,") not in ev.text:
                    return f"the quote “{quote.strip()}” is in no cited passage"
        for word, digit in _CHECKED_NUMBER_WORDS.items():
            if re.search(rf"\b{word}\b", claim, re.I) and digit not in ev.numbers:
                return f"the number '{word}' is in no cited passage"
        for n in _digits(claim):
            if n not in ev.numbers and n.replace(".", "") not in ev.numbers:
                return f"the number '{n}' is in no cited passage"
        given_text = _norm(" ".join(f"{p.text} {p.title}" for p in given))
        for run in _names(claim):
            if all(_word_known(w, ev.words) for w in run):
                continue
            # "Ben Wallace" citing a passage that says "Wallace": the full name is another
            # passage's, and the surname this one's.
            if _word_known(run[-1], ev.words) and " ".join(run) in given_text:
                continue
            missing = next(w for w in run if not _word_known(w, ev.words))
            return f"the name '{missing}' is in no cited passage"
        said = attribute(claim)
        if said.speaker:
            # "he said" names nobody: no one is misquoted by it.
            if not re.fullmatch(PRONOUN, said.speaker) and not any(
                same_speaker(said.speaker, s) for s in ev.speakers
            ):
                return f"no cited passage has {said.speaker} saying it"
        for p in cited:
            conflict = _polarity_conflict(claim, p.text)
            if conflict and not any(not _polarity_conflict(claim, o.text) for o in cited):
                return conflict
        return ""

    def support(self, claim: str, cited: Sequence[Passage]) -> float:
        """How much of the claim the cited passages hold, weighted (see Thresholds)."""
        overlap, cosine = self.support_parts(claim, cited)
        w = self.thresholds.overlap_weight
        return w * overlap + (1 - w) * cosine

    def support_parts(self, claim: str, cited: Sequence[Passage]) -> tuple[float, float]:
        """The share of the claim's content words in the cited passages, and the best cosine
        between the claim and a cited passage or one of its sentences."""
        claim_terms = set(terms(claim))
        ev_terms = set(terms(" ".join(p.text for p in cited)))
        overlap = len(claim_terms & ev_terms) / len(claim_terms) if claim_terms else 1.0
        pieces = [p.text for p in cited]
        for p in cited:
            pieces += [p.text[s:e] for s, e in sentences(p.text)]
        vectors = self._embed([claim, *pieces])
        return overlap, float(np.max(vectors[1:] @ vectors[0]))
