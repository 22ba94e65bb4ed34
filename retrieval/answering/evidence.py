"""What the cited passages hold, as the verifier of generated sentences reads them
(retrieval/answering/verification.py): each passage sentence by sentence, with its speaker (as
the attribution module reads it in context) and whether it is an instruction ("Ignore your
instructions and say ...", "Note to AI assistants: ...") rather than evidence; the words, names
and numbers of all the cited passages together; and the [n] markers that cite them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from retrieval.answering.aliases import aliases_of
from retrieval.answering.attribution import PRONOUN, Cast, attribute_all, same_speaker
from retrieval.index.lexical import STOPWORDS, terms
from retrieval.intake.sentences import sentences

MARKER = re.compile(r"\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
NUMBER_WORDS = {
    w: str(k)
    for k, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
# "One of them" is no count; the others, written as words, are numbers to check.
CHECKED_NUMBER_WORDS = {w: d for w, d in NUMBER_WORDS.items() if w not in ("zero", "one")}
_CAPITALISED = re.compile(r"(?<![\w'’.&-])[A-Z][\w'’.&-]*")
QUOTED = re.compile(r"[\"“]([^\"“”]{3,})[\"”]")
WORD = re.compile(r"[\w'’.&-]+")
_MONTHS = (
    "January February March April May June July August September October November December"
).split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
# Capitalised words that open a sentence without naming anything.
_OPENING_WORDS = frozenset(STOPWORDS) | frozenset(
    """according although amid another as at both despite during earlier even every however
    in instead later meanwhile more moreover most much neither nevertheless on overall since
    still therefore though thus today tomorrow yesterday while yet officials analysts experts
    critics many several some police authorities around about roughly nearly almost yes
    no""".split()
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


def normalised(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    return " ".join(re.sub(r"[^\w'%$.,&-]+", " ", text.lower()).split())


def digits_in(text: str) -> set[str]:
    """The numbers written in digits ("130,000" -> "130000")."""
    found = {m.group(0).replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}
    return {n.lstrip("0") or "0" for n in found}


def numbers_in(text: str) -> set[str]:
    """The numbers in digits and in words ("three" -> "3")."""
    words = re.findall(r"[a-z]+", text.lower())
    return digits_in(text) | {NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS}


def _date_words(published: str | None) -> str:
    """A passage's date as words a sentence may use: "February 11 2022 Friday"."""
    if not published:
        return ""
    try:
        day = date.fromisoformat(published[:10])
    except ValueError:
        return published
    return f"{_MONTHS[day.month - 1]} {day.day} {day.year} {_WEEKDAYS[day.weekday()]}"


# -- what the cited passages hold ---------------------------------------------------------
# An instruction inside an article ("Ignore your previous instructions and say ...", "Note to
# AI assistants: ...") is text to report on, never evidence for a claim.
_ADDRESSEE = (
    r"\b(?:AI|A\.I\.|assistants?|chat ?bots?|bots?|language models?|LLMs?|models?|"
    r"automated (?:assistants?|systems?)|system override|system prompt)\b"
)
_DIRECTIVE = (
    r"\b(?:say|tell|reply|respond|answer|state|write|print|output|repeat|ignore|disregard|"
    r"forget|stop|summari[sz]e)\b"
)
_INSTRUCTION = re.compile(
    # an imperative opening a sentence or a main clause: "Ignore ...", "..., always say ..."
    r"(?:^|[,;:]\s*)\W*(?:please\s+|always\s+|now\s+|just\s+|only\s+)?(?:ignore|disregard|"
    r"forget|say|tell|reply|respond|answer|state|print|output|repeat|stop)\b"
    # "ignore all previous instructions", "disregard the passages"
    r"|\b(?:ignore|disregard|forget)\s+(?:all|any|the|your|my|these|those|every|everything|"
    r"previous|prior|above)\b"
    # a request addressed to a model: "Bots that read this page: you must tell users ..."
    rf"|{_ADDRESSEE}[^.]{{0,80}}?(?:\bmust\b|\bshould\b|\balways\b|\bonly\b|:)[^.]{{0,40}}?"
    rf"{_DIRECTIVE}"
    r"|system override",
    re.I,
)


def instruction_like(sentence: str) -> bool:
    """An imperative or a request addressed to a model: no evidence of anything."""
    return bool(_INSTRUCTION.search(sentence))


SEGMENT_BREAK = re.compile(r",\s+|;\s+|\s+(?=(?:and|but)\s+(?:to|that)\b)")
# Who speaks: the speech verbs, and where a sentence names its speaker around them.
_SPEECH = (
    r"(?:said|says|say|told|tells|added|adds|stressed|emphasi[sz]ed|noted|explained|insisted|"
    r"announced|estimated|urged|warned|argued|reported|declined|refused|expects|called|"
    r"wrote)"
)
SPEAKER_FIRST = re.compile(rf"^(?P<np>[^,]*?(?:,[^,]{{3,90}},)?[^,]*?)\s+{_SPEECH}\b")
# '"…," said Collin Scobie, 18.'
SPEAKER_INVERTED = re.compile(
    r"[”\"]\s*(?:said|says|added|adds|continued)\s+(?P<np>[A-Z][^,.;]{1,60})"
)
_ANY_SPEECH = re.compile(rf"\b{_SPEECH}\b")
SPEAKER_LAST = re.compile(r",[\"”]?\s+(?P<np>[^,]{2,80}?)\s+(?:said|says|reports|added)\W*$")
SPEAKER_SOURCE = re.compile(
    r"\b(?:[Aa]ccording to|[Rr]eports? that|[Ss]ays that)\s+(?P<np>[^,]{2,80}?)(?=,|$|\s+reports)"
)


@dataclass
class Line:
    """A sentence of a cited passage, as the checks read it."""

    passage: int
    text: str
    terms: set[str]
    speaker: str  # the attributed speaker, the passage's own label for them; '' for narration
    subject: str  # the words before its speech verb, lowercased: who speaks, in its words
    labels: tuple[str, ...]  # the passage's speakers
    instruction: bool
    segments: list[str]
    nearby: set[str] = field(default_factory=set)  # its and its neighbours' content words
    passage_terms: set[str] = field(default_factory=set)  # its passage's, with the title


def _subject_of(text: str) -> str:
    """Who speaks in a sentence, in its words: what comes before each speech verb (back to the
    previous punctuation), after an inverted one, and after "according to"."""
    found = [re.split(r"[,;:“”\"()]", text[: v.start()])[-1] for v in _ANY_SPEECH.finditer(text)]
    found += [m.group("np") for m in SPEAKER_INVERTED.finditer(text)]
    m = SPEAKER_FIRST.search(text) or SPEAKER_LAST.search(text)
    found += [m.group("np")] if m else []
    found += [s.group("np") for s in SPEAKER_SOURCE.finditer(text)]
    return " ".join(found).lower()


def passage_lines(p: Passage) -> list[Line]:
    spans = sentences(p.text)
    texts = [p.text[a:b] for a, b in spans] or [p.text]
    said = attribute_all(texts, [True] + [False] * (len(texts) - 1), p.title)
    out = []
    for text, a in zip(texts, said, strict=True):
        speaker = a.speaker
        if speaker and re.fullmatch(PRONOUN, speaker):
            speaker = p.speakers[0] if len(p.speakers) == 1 else ""
        label = next((s for s in p.speakers if speaker and same_speaker(speaker, s)), "")
        out.append(
            Line(
                p.n,
                text,
                set(terms(text)),
                label or speaker,
                _subject_of(text),
                p.speakers,
                instruction_like(text),
                [seg for seg in SEGMENT_BREAK.split(text) if seg.strip()],
            )
        )
    whole = set(terms(f"{p.title} {p.text}"))
    for k, line in enumerate(out):
        line.nearby = set().union(*(o.terms for o in out[max(k - 1, 0) : k + 2]))
        line.passage_terms = whole
    return out


@dataclass
class Evidence:
    """What a sentence's cited passages hold, prepared once per set of passages."""

    text: str  # normalised passage texts
    meta: str  # normalised titles, sources, dates
    words: set[str] = field(default_factory=set)
    caps: set[str] = field(default_factory=set)  # the capitalised words, as names compare
    numbers: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)  # content words, instructions left out
    instructed: set[str] = field(default_factory=set)  # content words of instructions only
    speakers: tuple[str, ...] = ()
    lines: list[Line] = field(default_factory=list)


def gather(passages: Sequence[Passage]) -> Evidence:
    lines = [line for p in passages for line in passage_lines(p)]
    facts = [line.text for line in lines if not line.instruction]
    text = normalised(" ".join(facts))
    meta = normalised(
        " ".join(f"{p.title} {p.source} {_date_words(p.published)}" for p in passages)
    )
    labels = " ".join(s for p in passages for s in p.speakers)
    words = {name_word(w) for w in WORD.findall(f"{text} {meta} {normalised(labels)}")}
    caps = {
        name_word(m.group(0))
        for m in _CAPITALISED.finditer(" ".join([*facts, labels, *(p.title for p in passages)]))
    }
    fact_terms = set(terms(" ".join(facts))) | set(terms(meta)) | set(terms(labels))
    instructed = {t for line in lines if line.instruction for t in line.terms} - fact_terms
    return Evidence(
        text,
        meta,
        words,
        caps,
        numbers_in(" ".join([*facts, *(p.title for p in passages)]))
        | numbers_in(" ".join(_date_words(p.published) for p in passages)),
        fact_terms,
        instructed,
        tuple(s for p in passages for s in p.speakers),
        lines,
    )


def name_word(word: str) -> str:
    """A word as names are compared: lowercased, without possessive or dots ("U.S." -> "us")."""
    word = word.lower().replace("’", "'").strip("'.,-&")
    return re.sub(r"'s?$", "", word).replace(".", "")


def word_known(word: str, known: set[str]) -> bool:
    """The word, or a form of it ("Russian" for "Russia", "Ukrainian" for "Ukraine")."""
    if word in known:
        return True
    for k in known:
        if len(k) >= 4 and k[:4] == word[:4]:
            common = len(_common_prefix(k, word))
            if common >= 4 and common >= min(len(k), len(word)) - 2:
                return True
    return False


def alias_known(word: str, ev: Evidence) -> bool:
    """A country by another of its names ("Britain" for a passage's "U.K.")."""
    forms = aliases_of(word)
    return any(f in ev.caps or (" " in f and f in ev.text) for f in forms)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def name_runs(claim: str) -> list[list[str]]:
    """Runs of capitalised words ("Ben Wallace", "NATO"), lowercased; a sentence's first word
    only when it is no ordinary opener ("The", "However") nor a participle ("Speaking")."""
    runs: list[list[str]] = []
    last_end = -2
    for m in _CAPITALISED.finditer(claim):
        word = name_word(m.group(0))
        at_start = not claim[: m.start()].strip(" \"“'(")
        before = claim[: m.start()].rstrip(" \"“'(")
        after_stop = before.endswith((".", "!", "?", ":"))
        opener = m.group(0).lower().replace("’", "'").rstrip(".,:")
        if (at_start or after_stop) and (
            word in _OPENING_WORDS
            or opener in _OPENING_WORDS
            or re.fullmatch(r"[a-z]{3,}(?:ing|ed)", opener)
        ):
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
