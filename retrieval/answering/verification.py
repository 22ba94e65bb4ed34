"""Checks a generated sentence against the passages it cites, before anyone sees it.

The cited passages are read sentence by sentence (each with its speaker, as the attribution
module reads it in context); a sentence that is an instruction ("Ignore your instructions and
say ...", "Note to AI assistants: ...") is no evidence of anything. A generated sentence is kept
only if all of these hold:
- it carries at least one `[n]` marker, and each names a passage it was given;
- no word of it comes only from an instruction in a passage;
- every number, proper name and quoted phrase in it is in a passage it cites (or its title,
  source and date; a name also in the passage's speaker label or the question; a country by
  any of its names, from the countryinfo package);
- "X said ..." (also "according to X", "X, ..., said") is backed by the cited sentence that holds
  the words, whose speaker is X; a group ("Russian authorities") must be that sentence's own;
- each number is one a cited sentence gives for the same thing ("30 ships"), the same moment
  ("by Tuesday evening") and, when the claim names a speaker, by that speaker;
- it negates nothing the passage affirms and affirms nothing it negates, negation read from
  the words that carry it ("not", "unable to", "failed to", "declined to", "rather than");
- no clause of it (what "and", "which", "while" join to it) is mostly words no cited passage
  has: an added claim;
- its support score (content-word overlap, and the embedding model's cosine to the cited
  sentences) reaches the calibrated threshold;
- a judge, when one is configured (retrieval/answering/judge.py), does not find it unsupported.

The rules were tuned on the training stories of the hand-written set in bench/verifier_set and
measured on its held-out stories by `bench/verifier.py` (docs/llm.md has the figures).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple, Protocol

import numpy as np

from retrieval.answering.aliases import aliases_of
from retrieval.answering.attribution import PRONOUN, Cast, attribute_all, same_speaker
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
# A clause adds a claim of its own when at least this many of its content words, and this
# share of them, are in no cited passage (chosen on the training stories of
# bench/verifier_set; docs/llm.md).
MIN_UNSUPPORTED = 2
COVERAGE_SHARE = 0.5
# Two words whose embeddings are this close are one word's forms: "held"/"hold" 0.74,
# "won"/"win" 0.75, "published"/"publish" 0.65; "try"/"pursue" 0.21, "said"/"hold" 0.26.
SAME_WORD_COSINE = 0.6


class Judgement(NamedTuple):
    supported: bool
    reason: str = ""


class Judge(Protocol):
    """A second opinion on a sentence the deterministic checks kept (a chat model asked
    whether the cited passages entail it); None when it could not answer."""

    def judge(self, claim: str, cited: Sequence[Passage]) -> Judgement | None: ...


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


# Words a writer uses around what the passages say without saying more: the speech verbs
# (attribution is checked on its own), hedges and connectives.
_FRAME_WORDS = frozenset(
    terms(
        """said says say stated states told tell tells added adds stressed stress emphasised
        emphasized noted
        explained insisted announced estimated urged warned argued called reported according
        expects expected gave give put yes also still yet already however while whereas
        compared roughly around about nearly almost some more less than first next last
        instead rather itself themselves himself herself would could might may will can
        must should reporters reporter asked go goes went back get got make made take took
        come came keep kept""".replace("\n", " ")
    )
)
_TIME = re.compile(
    r"\b(?:(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
    r"(?:\s+(?:morning|afternoon|evening|night))?"
    r"|(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)(?:\s+\d{1,2}\b)?(?:,?\s+(?:19|20)\d\d)?"
    r"|(?:19|20)\d\d"
    r"|\d{1,2}(?::\d\d)?\s*[ap]\.m\."
    r"|(?:this|next|last)\s+(?:week|month|year|weekend|autumn|spring|summer|winter)"
    r"|(?:\d[\d,.]*|two|three|four|five|six|seven|eight|nine|ten|several)\s+"
    r"(?:seconds|minutes|hours|days|weeks|months|years)"
    r"|morning|afternoon|evening|overnight|weekend|today|yesterday|tomorrow)\b",
    re.I,
)
_COUNT_WORDS = "|".join(_CHECKED_NUMBER_WORDS)
# A number, not one in a name ("Meridian-2", "COVID-19").
_NUMBER_TOKEN = re.compile(rf"(?<![A-Za-z]-)(?:\d[\d,.]*\d|\d)|\b(?:{_COUNT_WORDS})\b", re.I)
_PARTICIPLE_PHRASE = re.compile(r"^[A-Z][a-z]+ing\b[^,]{0,90},\s+")
# A clause of a claim: what "and", "which", "while" and their like join into one sentence.
_CLAUSE_BREAK = re.compile(
    r",\s+(?=(?:and|but|while|whereas|which|who|where|with|although|though|after|once|"
    r"until|as|a|an|the|most|some|compared)\b)|;\s+|\s+(?=(?:and|but)\s+(?:that|would|will|"
    r"has|had|have|was|is|said|close|closed|endorsed|signal\w*)\b)|\s+(?=(?:once|until|"
    r"which|although|whereas)\b)",
    re.I,
)
_SEGMENT_BREAK = re.compile(r",\s+|;\s+|\s+(?=(?:and|but)\s+(?:to|that)\b)")
_SPEECH = (
    r"(?:said|says|say|told|tells|added|adds|stressed|emphasi[sz]ed|noted|explained|insisted|"
    r"announced|estimated|urged|warned|argued|reported|declined|refused|expects|called|"
    r"wrote)"
)
_SPEAKER_FIRST = re.compile(rf"^(?P<np>[^,]*?(?:,[^,]{{3,90}},)?[^,]*?)\s+{_SPEECH}\b")
# '"…," said Collin Scobie, 18.'
_SPEAKER_INVERTED = re.compile(
    r"[”\"]\s*(?:said|says|added|adds|continued)\s+(?P<np>[A-Z][^,.;]{1,60})"
)
_ANY_SPEECH = re.compile(rf"\b{_SPEECH}\b")
_SPEAKER_LAST = re.compile(r",[\"”]?\s+(?P<np>[^,]{2,80}?)\s+(?:said|says|reports|added)\W*$")
_SPEAKER_SOURCE = re.compile(
    r"\b(?:[Aa]ccording to|[Rr]eports? that|[Ss]ays that)\s+(?P<np>[^,]{2,80}?)(?=,|$|\s+reports)"
)
_LEADING_PHRASE = re.compile(r"^(?:[A-Z]\w+ing\b|In|On|At|By|After|Before)\b[^,]{0,90},\s+")
_PRONOUNS = frozenset("he she they it his her their its we i".split())
_TITLE_WORDS = frozenset(
    """gov governor dr judge chief executive prime minister finance energy transport premier
    council leader chair chairman chairwoman editor lawyer defence defense president fire
    weather officer engineer organiser economist spokeswoman spokesman director secretary
    general his her their the a an mr mrs ms cllr councilman councilwoman rovers""".split()
)


@dataclass
class _Line:
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
    found += [m.group("np") for m in _SPEAKER_INVERTED.finditer(text)]
    m = _SPEAKER_FIRST.search(text) or _SPEAKER_LAST.search(text)
    found += [m.group("np")] if m else []
    found += [s.group("np") for s in _SPEAKER_SOURCE.finditer(text)]
    return " ".join(found).lower()


def _lines(p: Passage) -> list[_Line]:
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
            _Line(
                p.n,
                text,
                set(terms(text)),
                label or speaker,
                _subject_of(text),
                p.speakers,
                instruction_like(text),
                [seg for seg in _SEGMENT_BREAK.split(text) if seg.strip()],
            )
        )
    whole = set(terms(f"{p.title} {p.text}"))
    for k, line in enumerate(out):
        line.nearby = set().union(*(o.terms for o in out[max(k - 1, 0) : k + 2]))
        line.passage_terms = whole
    return out


@dataclass
class _Evidence:
    """What a sentence's cited passages hold, prepared once per set of passages."""

    text: str  # normalised passage texts
    meta: str  # normalised titles, sources, dates
    words: set[str] = field(default_factory=set)
    caps: set[str] = field(default_factory=set)  # the capitalised words, as names compare
    numbers: set[str] = field(default_factory=set)
    terms: set[str] = field(default_factory=set)  # content words, instructions left out
    instructed: set[str] = field(default_factory=set)  # content words of instructions only
    speakers: tuple[str, ...] = ()
    lines: list[_Line] = field(default_factory=list)


def _evidence(passages: Sequence[Passage]) -> _Evidence:
    lines = [line for p in passages for line in _lines(p)]
    facts = [line.text for line in lines if not line.instruction]
    text = _norm(" ".join(facts))
    meta = _norm(" ".join(f"{p.title} {p.source} {_date_words(p.published)}" for p in passages))
    labels = " ".join(s for p in passages for s in p.speakers)
    words = {_name_word(w) for w in _WORD.findall(f"{text} {meta} {_norm(labels)}")}
    caps = {
        _name_word(m.group(0))
        for m in _CAPITALISED.finditer(" ".join([*facts, labels, *(p.title for p in passages)]))
    }
    fact_terms = set(terms(" ".join(facts))) | set(terms(meta)) | set(terms(labels))
    instructed = {t for line in lines if line.instruction for t in line.terms} - fact_terms
    return _Evidence(
        text,
        meta,
        words,
        caps,
        _numbers(" ".join([*facts, *(p.title for p in passages)]))
        | _numbers(" ".join(_date_words(p.published) for p in passages)),
        fact_terms,
        instructed,
        tuple(s for p in passages for s in p.speakers),
        lines,
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


def _alias_known(word: str, ev: _Evidence) -> bool:
    """A country by another of its names ("Britain" for a passage's "U.K.")."""
    forms = aliases_of(word)
    return any(f in ev.caps or (" " in f and f in ev.text) for f in forms)


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def _names(claim: str) -> list[list[str]]:
    """Runs of capitalised words ("Ben Wallace", "NATO"), lowercased; a sentence's first word
    only when it is no ordinary opener ("The", "However") nor a participle ("Speaking")."""
    runs: list[list[str]] = []
    last_end = -2
    for m in _CAPITALISED.finditer(claim):
        word = _name_word(m.group(0))
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


# Negation, read from the words that carry it: "not", "never", but also "unable to", "failed
# to", "declined to", "refused to", "unlikely to", "yet to".
_NEGATION_CUES = re.compile(
    r"\b(?:not|no|never|none|nor|neither|nobody|nothing|without|cannot|\w+n['’]t|unable|"
    r"unlikely|fail(?:s|ed)?\s+to|declin(?:e|es|ed)\s+to|refus(?:e|es|ed)\s+to|yet\s+to|"
    r"no\s+longer|rather\s+than|instead\s+of)\b",
    re.I,
)
# A negation and the rest of its clause.
_NEGATED_TEXT = re.compile(rf"(?:{_NEGATION_CUES.pattern})[^,.;:!?\"“”]{{0,60}}", re.I)
# Words between a negation and what it governs: "not yet published", "would not intervene
# directly", "not ruled out" reads as "rule".
_NEGATION_SKIP = frozenset(terms("yet even ever always directly immediately quite fully also"))


SameWord = Callable[[str, str], bool]


def _exact(a: str, b: str) -> bool:
    return a == b


def _polarity_conflict(claim: str, passage_text: str, same: SameWord = _exact) -> str:
    """A negation the sentence adds ("would invade" -> "would not invade") or drops, read as
    the content word it governs; '' when the two agree. `same` says whether two content words
    are one word's forms ("held", "hold")."""

    def negated(text: str, reach: int) -> list[list[str]]:
        """The (up to) `reach` content words after each negation, in its clause: what it
        governs."""
        spans = []
        for m in _NEGATION_CUES.finditer(text):
            clause = re.split(r"[,.;:!?](?=\s|$)", text[m.end() : m.end() + 60])[0]
            following = [t for t in terms(clause) if t not in _NEGATION_SKIP]
            if following[:reach]:
                spans.append(following[:reach])
        return spans

    # What the passage negates may reach further ("would not lend the club any money" for
    # "would lend the club no money").
    c_neg, p_neg = negated(claim, 2), negated(passage_text, 3)
    c_terms, p_terms = set(terms(claim)), set(terms(passage_text))
    p_negated = {t for span in p_neg for t in span}
    # What the passage also says without a negation ("talks over pay" beside "patience has
    # not paid the rent").
    p_affirmed = set(terms(_NEGATED_TEXT.sub(" ", passage_text)))
    for span in c_neg:
        governed = any(same(w, n) for w in span for n in p_negated)
        if not governed and any(same(span[0], t) for t in p_terms):
            return f"it negates '{span[0]}', which the passage affirms"
    if not c_neg:
        for span in p_neg:
            if any(same(span[0], t) and t not in p_affirmed for t in c_terms):
                return f"it affirms '{span[0]}', which the passage negates"
    return ""


# -- a claim's parts ----------------------------------------------------------------------
def _clauses(claim: str) -> list[str]:
    """The claim cut where a writer joins a second statement to the first."""
    cuts = [0] + [m.end() for m in _CLAUSE_BREAK.finditer(claim)] + [len(claim)]
    parts = [claim[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    out: list[str] = []
    for p in parts:
        if out and len(terms(p)) < 2:
            out[-1] += p  # a fragment is its neighbour's ("…, a spokesman said")
        elif p.strip():
            out.append(p)
    return [p.strip(" ,.;") for p in out]


def _speaker_phrase(clause: str) -> tuple[str, str]:
    """Who the clause says spoke ("Gov. Roy Castellano", "Russian authorities") and what they
    said; ('', clause) when nobody is said to."""
    body = _LEADING_PHRASE.sub("", clause, count=1)
    for pattern in (_SPEAKER_SOURCE, _SPEAKER_LAST, _SPEAKER_INVERTED, _SPEAKER_FIRST):
        m = pattern.search(body)
        if not m or not 0 < len(m.group("np").split()) <= 12:
            continue
        np_ = m.group("np").strip(" .")
        if pattern is _SPEAKER_LAST:
            np_ = np_.lstrip('"”“ ')  # '"…," Tepper said'
        if pattern is _SPEAKER_FIRST and "," in np_ and not np_.endswith(","):
            np_ = np_.rsplit(",", 1)[1]  # "After the worst week, the service said"
        np_ = re.sub(r"^(?:still|while|whereas|and|but|as|though|although)\s+", "", np_.strip())
        if np_[:1] in '“"' or re.search(r"\b(?:is|are|was|were|be|been|being)$", np_):
            continue  # a quotation, or the passive ("people are urged")
        said = (body[: m.start()] + " " + body[m.end() :]).strip()
        return np_.strip(" ,"), said
    return "", clause


def _time_keys(text: str, skip: tuple[int, int]) -> list[tuple[int, int, frozenset[str]]]:
    out = []
    for m in _TIME.finditer(text):
        if m.start() < skip[1] and m.end() > skip[0]:
            continue  # the number's own date or duration
        words = frozenset(_numbers_or_words(m.group(0)))
        out.append((m.start(), m.end(), words))
    return out


def _numbers_or_words(text: str) -> list[str]:
    return [_NUMBER_WORDS.get(w.lower(), w.lower().replace(",", "")) for w in text.split()]


def _bound_times(text: str, number: re.Match[str]) -> list[frozenset[str]]:
    """The time words bound to this number in its sentence: each time expression belongs to
    the nearest number before it in its segment (between commas), else the nearest after it
    there, else the first number after it in the sentence, else the last before it. An
    opening participle phrase ("Speaking on Tuesday, ...") dates the speaking, not the
    numbers."""
    lead = _PARTICIPLE_PHRASE.match(text)
    start = lead.end() if lead else 0
    stamps = _time_keys(text, (-1, -1))
    numbers = [
        m
        for m in _NUMBER_TOKEN.finditer(text, start)
        if not any(a <= m.start() < b for a, b, _ in stamps)
    ]
    cuts = [0] + [m.end() for m in re.finditer(r"[,;]\s+", text)] + [len(text) + 1]

    def segment(i: int) -> int:
        return max(k for k, c in enumerate(cuts) if c <= i)

    out = []
    for a, b, words in _time_keys(text, (number.start(), number.end())):
        if a < start:
            continue
        same = [m for m in numbers if segment(m.start()) == segment(a)]
        before = [m for m in same if m.end() <= a]
        after = [m for m in same if m.start() >= b]
        # A segment without a number ("By Saturday morning, more than 50 …", "In April,
        # Netflix reported that it lost 200,000 …") dates the first number after it.
        later = [m for m in numbers if m.start() >= b]
        earlier = [m for m in numbers if m.end() <= a]
        owner = (
            before[-1]
            if before
            else after[0]
            if after
            else later[0]
            if later
            else earlier[-1]
            if earlier
            else None
        )
        if owner is not None and owner.start() == number.start():
            out.append(words)
    return out


_FUNCTION_WORDS = frozenset(
    """a an the of on in at by to from for and or but that who which had has have was were is
    are will would could may might be been being than as up down out over with per""".split()
)


# People counted by any of their general names ("1,000 people", "1,000 individuals").
_PEOPLE = frozenset("people person individual resident".split())


def _count_noun(word: str) -> str:
    return "people" if word in _PEOPLE else word


def _unit(text: str, number: re.Match[str]) -> tuple[str, ...]:
    """The words that say what the number counts ("30 ships", "18 months", "14-year", "1,200
    late ballots"); () when the text leaves it unsaid ("up from 12 on Monday", "130,000
    deployed")."""
    out: list[str] = []
    for word in re.findall(r"[A-Za-z]+", text[number.end() : number.end() + 30].lower())[:3]:
        if word in _FUNCTION_WORDS or re.fullmatch(r"[a-z]+(?:ed|ing)", word):
            break
        out.append(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return tuple(out)


def _segment_of(text: str, number: re.Match[str]) -> str:
    """The part of the sentence between commas (or "and to") that holds the number."""
    at = 0
    for seg in _SEGMENT_BREAK.split(text):
        start = text.find(seg, at)
        if start <= number.start() < start + len(seg):
            return seg
        at = max(start, 0) + len(seg)
    return text


def _own_time(text: str, number: re.Match[str]) -> str:
    """The date or duration the number is part of ("August 2029"), or ''."""
    for m in _TIME.finditer(text):
        if m.start() <= number.start() and number.end() <= m.end():
            return m.group(0)
    return ""


def _in_date(text: str, number: re.Match[str]) -> bool:
    return any(
        m.start() <= number.start()
        and number.end() <= m.end()
        and not re.match(r"\d", m.group(0))
        or m.group(0) == number.group(0)
        for m in _TIME.finditer(text)
    )


def _key_of(token: str) -> str:
    token = token.lower().replace(",", "").rstrip(".")
    return _NUMBER_WORDS.get(token, token.lstrip("0") or "0")


def _terms_known(words: set[str], known: set[str]) -> set[str]:
    """The words of `words` that are in `known`, or a form of one ("rescu" for "rescue")."""
    return {w for w in words if _word_known(w, known)}


def _speaker_matches(np: str, line: _Line) -> bool:
    """The line is the words of who `np` names: a person by any of their names, or a group in
    the line's own words for its speaker."""
    names = [
        " ".join(run)
        for run in _names(np)
        if not aliases_of(" ".join(run)) and any(w not in _TITLE_WORDS for w in run)
    ]
    subject = f"{line.subject} {line.speaker.lower()}"
    if names:
        for name in names:
            if line.speaker and same_speaker(name, line.speaker):
                return True
            if any(same_speaker(name, s) for s in line.labels) and (
                not line.speaker or not line.subject
            ):
                return True
            words = [w for w in name.split() if w not in _TITLE_WORDS]
            said_by = {_name_word(w) for w in _WORD.findall(subject)}
            if words and all(w in said_by for w in words[-1:]):
                return True
        return False
    countries = [" ".join(run) for run in _names(np) if aliases_of(" ".join(run))]
    country_terms = set(terms(" ".join(countries)))
    group = {t for t in terms(np) if t not in _TITLE_WORDS and t not in country_terms}
    if countries and not group:
        # A country speaks ("the United States said"): the sentence's speaker is it, by any
        # of its names.
        in_words = f" {_norm(subject)} "
        forms = {f for c in countries for f in aliases_of(c)}
        return any(f" {f} " in in_words.replace(".", "") for f in forms)
    # A group ("the operator", "the bank") speaks for the passage that names it so: "the
    # operator" for its chief executive, in an article on the port's operator.
    return not group - set(terms(subject)) - line.passage_terms


class Verifier:
    """Keeps or drops generated sentences; `encode` embeds (the engine's query encoder).

    `judge`, when given, is asked about each sentence the deterministic checks kept (see
    retrieval/answering/judge.py): it can drop a sentence, never keep one they dropped."""

    cache_size = 4096  # vectors of passages and sentences kept between checks
    cosine_lines = 3  # the cited sentences a claim's embedding is compared with

    def __init__(
        self, encode: Encode, thresholds: Thresholds = CALIBRATED, judge: Judge | None = None
    ) -> None:
        self.encode = encode
        self.thresholds = thresholds
        self.judge = judge
        self._vectors: dict[str, np.ndarray] = {}
        self._evidence: dict[tuple[Passage, ...], _Evidence] = {}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if todo:
            for t, v in zip(todo, self.encode(todo), strict=True):
                self._vectors[t] = v
            if len(self._vectors) > self.cache_size:  # a long-running process: the newest
                for old in list(self._vectors)[: self.cache_size // 2]:
                    del self._vectors[old]
        return np.stack([self._vectors[t] for t in texts])

    def _polarity(self, claim: str, ev: _Evidence) -> str:
        """`_polarity` with `same_word`, the words it will compare embedded in one batch
        first (one call of the model, not one per pair)."""
        wanted: set[str] = set()

        def record(a: str, b: str) -> bool:
            if a != b and a[:1] == b[:1] and not a[:1].isdigit():
                wanted.update((a, b))
            return a == b

        _polarity(claim, ev, record)
        todo = [w for w in wanted if w not in self._vectors]
        if todo:
            self._embed(todo)
        return _polarity(claim, ev, self.same_word)

    def same_word(self, a: str, b: str) -> bool:
        """Two content words are forms of one ("held", "hold"; "won", "win"): equal, or their
        embeddings close (SAME_WORD_COSINE); synonyms are not ("try", "pursue": 0.21)."""
        if a == b:
            return True
        if a[:1] != b[:1] or a[:1].isdigit() or b[:1].isdigit():
            return False
        va, vb = self._embed([a, b])
        return float(va @ vb) >= SAME_WORD_COSINE

    def evidence(self, cited: Sequence[Passage]) -> _Evidence:
        key = tuple(cited)
        if key not in self._evidence:
            if len(self._evidence) > 256:
                self._evidence.clear()
            self._evidence[key] = _evidence(cited)
        return self._evidence[key]

    def check(self, sentence: str, passages: Mapping[int, Passage], question: str = "") -> Verdict:
        """Whether `sentence` (with its [n] markers) says only what the passages it cites say.
        `question`: the question asked, whose names a sentence may use."""
        cited_n = markers(sentence)
        if not cited_n:
            return Verdict(False, "it cites no passage")
        unknown = [n for n in cited_n if n not in passages]
        if unknown:
            return Verdict(False, f"[{unknown[0]}] names no passage it was given")
        cited = [passages[n] for n in dict.fromkeys(cited_n)]
        claim = strip_markers(sentence)
        reason = self.specifics(claim, cited, list(passages.values()), question)
        if reason:
            return Verdict(False, reason)
        score = self.support(claim, cited)
        if score < self.thresholds.min_support:
            floor = self.thresholds.min_support
            return Verdict(False, f"support {score:.2f} is below {floor}", score)
        if self.judge is not None:
            judged = self.judge.judge(claim, cited)
            if judged is not None and not judged.supported:
                return Verdict(False, f"the judge: {judged.reason or 'not supported'}", score)
        return Verdict(True, "", score)

    def specifics(
        self,
        claim: str,
        cited: Sequence[Passage],
        given: Sequence[Passage],
        question: str = "",
    ) -> str:
        """Why the claim's numbers, names, quotes, speakers, negations or clauses are not the
        cited passages'; '' when they are."""
        ev = self.evidence(cited)
        clauses = _clauses(claim)
        for check in (
            lambda: _instructed(claim, ev),
            lambda: _quotes_and_numbers(claim, ev),
            lambda: _names_known(claim, ev, given, question),
            lambda: _speakers_bound(clauses, ev),
            lambda: _numbers_bound(clauses, ev),
            lambda: self._polarity(claim, ev),
            lambda: _clauses_covered(clauses, ev, question),
        ):
            reason = check()
            if reason:
                return reason
        return ""

    def support(self, claim: str, cited: Sequence[Passage]) -> float:
        """How much of the claim the cited passages hold, weighted (see Thresholds). When the
        overlap alone reaches the threshold, the cosine (not negative between a sentence and
        passages that share its words) cannot change the verdict: it is not computed, and the
        score given is the overlap's part, a lower bound. The embedding is most of the
        verifier's time."""
        w = self.thresholds.overlap_weight
        overlap = self.overlap(claim, cited)
        if w * overlap >= self.thresholds.min_support:
            return w * overlap
        return w * overlap + (1 - w) * self.cosine(claim, cited)

    def support_parts(self, claim: str, cited: Sequence[Passage]) -> tuple[float, float]:
        """The share of the claim's content words in the cited passages, and the best cosine
        between the claim and a cited passage or one of its sentences (instructions left
        out)."""
        return self.overlap(claim, cited), self.cosine(claim, cited)

    def overlap(self, claim: str, cited: Sequence[Passage]) -> float:
        ev = self.evidence(cited)
        claim_terms = set(terms(claim))
        return len(claim_terms & ev.terms) / len(claim_terms) if claim_terms else 1.0

    def cosine(self, claim: str, cited: Sequence[Passage]) -> float:
        ev = self.evidence(cited)
        # The sentences that share most of the claim's words (the best cosine is one of
        # theirs; embedding every sentence, or whole passages, took most of the time).
        wanted = set(terms(claim))
        lines = sorted(
            (line for line in ev.lines if not line.instruction),
            key=lambda line: -len(wanted & line.terms),
        )[: self.cosine_lines]
        pieces = [line.text for line in lines] or [" "]
        vectors = self._embed([claim, *pieces])
        return float(np.max(vectors[1:] @ vectors[0]))


# -- the checks, each a reason or '' --------------------------------------------------------
def _instructed(claim: str, ev: _Evidence) -> str:
    """Words that only an instruction in a passage holds: the sentence obeyed it."""
    names = set(terms(" ".join(" ".join(run) for run in _names(claim))))
    taken = {
        t
        for t in terms(claim)
        if t in ev.instructed and t not in names and not _word_known(t, ev.terms)
    }
    if taken:
        return f"'{sorted(taken)[0]}' is only in an instruction in a passage: no evidence"
    return ""


def _quotes_and_numbers(claim: str, ev: _Evidence) -> str:
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
    return ""


def _names_known(claim: str, ev: _Evidence, given: Sequence[Passage], question: str) -> str:
    """Each name is the cited passages' (or their speakers', or the question's), a country by
    any of its names; a surname may cite a passage when another passage gives the full name."""
    given_text = _norm(" ".join(f"{p.text} {p.title} {' '.join(p.speakers)}" for p in given))
    asked = {_name_word(w) for w in _WORD.findall(question)}
    for run in _names(claim):
        unknown = [
            w
            for w in run
            if not _word_known(w, ev.words) and w not in asked and not _alias_known(w, ev)
        ]
        if not unknown:
            continue
        # "Ben Wallace" citing a passage that says "Wallace": the full name is another
        # passage's, and the surname this one's.
        if _word_known(run[-1], ev.words) and " ".join(run) in given_text:
            continue
        return f"the name '{unknown[0]}' is in no cited passage"
    return ""


def _support_lines(said: str, ev: _Evidence) -> list[_Line]:
    """The cited sentences that hold most of what the clause says."""
    wanted = set(terms(said)) - _FRAME_WORDS
    scored = [
        (len(_terms_known(wanted, line.terms)), line) for line in ev.lines if not line.instruction
    ]
    best = max((s for s, _ in scored), default=0)
    return [line for s, line in scored if s == best and s > 0]


def _speakers_bound(clauses: list[str], ev: _Evidence) -> str:
    """Who the claim says spoke is who the cited sentence that holds the words gives."""
    for clause in clauses:
        np_, said = _speaker_phrase(clause)
        if not np_ or np_.lower().split()[0] in _PRONOUNS or not said.strip():
            continue
        lines = _support_lines(said, ev)
        if lines and not any(_speaker_matches(np_, line) for line in lines):
            return f"no cited passage has {np_} saying it"
    return ""


def _numbers_bound(clauses: list[str], ev: _Evidence) -> str:
    """Each number is one a cited sentence gives for the same thing, the same moment and, when
    the claim names a speaker, the same speaker."""
    for clause in clauses:
        np_, _ = _speaker_phrase(clause)
        named = bool(np_) and np_.lower().split()[0] not in _PRONOUNS
        for number in _NUMBER_TOKEN.finditer(clause):
            key = _key_of(number.group(0))
            if number.group(0).lower() in ("one",):
                continue
            dated = _in_date(clause, number)
            own = _segment_of(clause, number) if dated else clause
            unit = () if dated else _unit(clause, number)
            times = _bound_times(clause, number)
            context = (
                set(terms(own))
                - _FRAME_WORDS
                - set(terms(np_))
                - set(unit)
                - {t for t in terms(clause) if t[:1].isdigit()}
                - set(terms(" ".join(" ".join(w) for w in times)))
                - set(terms(_own_time(clause, number)))
            )
            found = ""
            for line in ev.lines:
                if line.instruction:
                    continue
                for m in _NUMBER_TOKEN.finditer(line.text):
                    if _key_of(m.group(0)) != key:
                        continue
                    why = _binding(line, m, unit, times, context, np_ if named else "", dated)
                    if not why:
                        break
                    found = found or why
                else:
                    continue
                found = ""
                break
            if found:
                return f"the number '{number.group(0)}' {found}"
            if re.fullmatch(r"(?:19|20)\d\d", key) and not any(
                key in {_key_of(m.group(0)) for m in _NUMBER_TOKEN.finditer(line.text)}
                for line in ev.lines
            ):
                # A year only the passage's date gives, for what the passage dates to another
                # year ("hired too quickly during 2026" for "during 2024").
                for line in ev.lines:
                    years = re.findall(r"\b(?:19|20)\d\d\b", line.text)
                    if years and _terms_known(context, line.terms):
                        return f"the year '{key}' is not the one the passage gives ({years[0]})"
    return ""


def _binding(
    line: _Line,
    m: re.Match[str],
    unit: tuple[str, ...],
    times: list[frozenset[str]],
    context: set[str],
    speaker: str,
    dated: bool,
) -> str:
    # A passage that leaves unsaid what it counts ("130,000 deployed") gives no other thing.
    theirs = {_count_noun(t) for t in _unit(line.text, m)}
    if unit and theirs and not any(_word_known(_count_noun(u), theirs) for u in unit):
        return f"counts something else in the passage ('{min(theirs)}', not '{unit[0]}')"
    line_times = _bound_times(line.text, m)
    for t in times:
        if any(t <= lt for lt in line_times):
            continue
        # A moment the sentence gives for another count of another thing ("41C in Lyon on
        # Monday, and ... 61 gigawatts") dates the whole sentence; the same thing's count at
        # another moment ("30 ships by Tuesday evening, up from 12 on Monday morning") does not.
        others = [
            o
            for o in _NUMBER_TOKEN.finditer(line.text)
            if o.start() != m.start() and any(t <= lt for lt in _bound_times(line.text, o))
        ]
        counted = _unit(line.text, m)
        if (
            not others
            or not counted
            or any(
                not _unit(line.text, o) or set(_unit(line.text, o)) & set(counted) for o in others
            )
        ):
            return "is given for another moment in the passage"
    segment = _segment_of(line.text, m)
    if len(context) >= 2 and not _terms_known(context, line.nearby):
        return "is given for something else in the passage"
    if dated and context:
        # A date belongs to its segment of the sentence: what the claim dates, the sentence
        # may date otherwise ("to start building in the autumn and to play its first match
        # there in August 2029").
        mine = len(_terms_known(context, set(terms(segment))))
        for other in line.segments:
            if other != segment and _TIME.search(other) and mine == 0:
                if _terms_known(context, set(terms(other))):
                    return "is given for something else in the passage"
    if speaker and not _speaker_matches(speaker, line):
        return f"is not {speaker}'s in the passage"
    return ""


def _polarity(claim: str, ev: _Evidence, same: SameWord = _exact) -> str:
    """A negation the claim adds or drops against every cited passage."""
    by_passage: dict[int, list[str]] = {}
    for line in ev.lines:
        if not line.instruction:
            by_passage.setdefault(line.passage, []).append(line.text)
    facts = [" ".join(texts) for texts in by_passage.values()]
    for text in facts:
        conflict = _polarity_conflict(claim, text, same)
        if conflict and not any(not _polarity_conflict(claim, o, same) for o in facts):
            return conflict
    return ""


def _clauses_covered(clauses: list[str], ev: _Evidence, question: str) -> str:
    """Each clause says what the passages say: a clause whose content words are mostly in no
    cited passage adds a claim of its own."""
    names = {w for run in _names(" ".join(clauses)) for w in run}
    for clause in clauses:
        # "Addressing reporters, X said": the participle tells how X said it.
        lead = re.match(r"[A-Z][a-z]+ing\b", clause)
        body = clause[lead.end() :] if lead else clause
        wanted = [
            t
            for t in dict.fromkeys(terms(body))
            if t not in _FRAME_WORDS and not t[:1].isdigit() and t not in names
        ]
        missing = [t for t in wanted if not _word_known(t, ev.terms)]
        if len(missing) >= MIN_UNSUPPORTED and len(missing) >= COVERAGE_SHARE * len(wanted):
            return f"the clause “{clause}” is in no cited passage ({', '.join(missing[:3])})"
    return ""
