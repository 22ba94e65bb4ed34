"""A generated sentence's parts, as the verifier (retrieval/answering/verification.py) reads
them: its clauses (what "and", "which", "while" join into one sentence), who each says spoke,
the numbers in it with what each counts and the moment it is given for, the negations and what
they govern; and whether a cited sentence's speaker is the one a clause names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from retrieval.answering.aliases import aliases_of
from retrieval.answering.attribution import same_speaker
from retrieval.answering.evidence import (
    CHECKED_NUMBER_WORDS,
    NUMBER_WORDS,
    SEGMENT_BREAK,
    SPEAKER_FIRST,
    SPEAKER_INVERTED,
    SPEAKER_LAST,
    SPEAKER_SOURCE,
    WORD,
    Line,
    name_runs,
    name_word,
    normalised,
    word_known,
)
from retrieval.index.lexical import terms

# Words a writer uses around what the passages say without saying more: the speech verbs
# (attribution is checked on its own), hedges and connectives.
FRAME_WORDS = frozenset(
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
TIME = re.compile(
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
_COUNT_WORDS = "|".join(CHECKED_NUMBER_WORDS)
# A number, not one in a name ("Meridian-2", "COVID-19").
NUMBER_TOKEN = re.compile(rf"(?<![A-Za-z]-)(?:\d[\d,.]*\d|\d)|\b(?:{_COUNT_WORDS})\b", re.I)
_PARTICIPLE_PHRASE = re.compile(r"^[A-Z][a-z]+ing\b[^,]{0,90},\s+")
# A clause of a claim: what "and", "which", "while" and their like join into one sentence.
_CLAUSE_BREAK = re.compile(
    r",\s+(?=(?:and|but|while|whereas|which|who|where|with|although|though|after|once|"
    r"until|as|a|an|the|most|some|compared)\b)|;\s+|\s+(?=(?:and|but)\s+(?:that|would|will|"
    r"has|had|have|was|is|said|close|closed|endorsed|signal\w*)\b)|\s+(?=(?:once|until|"
    r"which|although|whereas)\b)",
    re.I,
)
_LEADING_PHRASE = re.compile(r"^(?:[A-Z]\w+ing\b|In|On|At|By|After|Before)\b[^,]{0,90},\s+")
PRONOUNS = frozenset("he she they it his her their its we i".split())
_TITLE_WORDS = frozenset(
    """gov governor dr judge chief executive prime minister finance energy transport premier
    council leader chair chairman chairwoman editor lawyer defence defense president fire
    weather officer engineer organiser economist spokeswoman spokesman director secretary
    general his her their the a an mr mrs ms cllr councilman councilwoman rovers""".split()
)


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


def exact(a: str, b: str) -> bool:
    return a == b


def polarity_conflict(claim: str, passage_text: str, same: SameWord = exact) -> str:
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
def clauses_of(claim: str) -> list[str]:
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


def speaker_phrase(clause: str) -> tuple[str, str]:
    """Who the clause says spoke ("Gov. Roy Castellano", "Russian authorities") and what they
    said; ('', clause) when nobody is said to."""
    body = _LEADING_PHRASE.sub("", clause, count=1)
    for pattern in (SPEAKER_SOURCE, SPEAKER_LAST, SPEAKER_INVERTED, SPEAKER_FIRST):
        m = pattern.search(body)
        if not m or not 0 < len(m.group("np").split()) <= 12:
            continue
        np_ = m.group("np").strip(" .")
        if pattern is SPEAKER_LAST:
            np_ = np_.lstrip('"”“ ')  # '"…," Tepper said'
        if pattern is SPEAKER_FIRST and "," in np_ and not np_.endswith(","):
            np_ = np_.rsplit(",", 1)[1]  # "After the worst week, the service said"
        np_ = re.sub(r"^(?:still|while|whereas|and|but|as|though|although)\s+", "", np_.strip())
        if np_[:1] in '“"' or re.search(r"\b(?:is|are|was|were|be|been|being)$", np_):
            continue  # a quotation, or the passive ("people are urged")
        said = (body[: m.start()] + " " + body[m.end() :]).strip()
        return np_.strip(" ,"), said
    return "", clause


def _time_keys(text: str, skip: tuple[int, int]) -> list[tuple[int, int, frozenset[str]]]:
    out = []
    for m in TIME.finditer(text):
        if m.start() < skip[1] and m.end() > skip[0]:
            continue  # the number's own date or duration
        words = frozenset(_numbers_or_words(m.group(0)))
        out.append((m.start(), m.end(), words))
    return out


def _numbers_or_words(text: str) -> list[str]:
    return [NUMBER_WORDS.get(w.lower(), w.lower().replace(",", "")) for w in text.split()]


def bound_times(text: str, number: re.Match[str]) -> list[frozenset[str]]:
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
        for m in NUMBER_TOKEN.finditer(text, start)
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


def count_noun(word: str) -> str:
    return "people" if word in _PEOPLE else word


def unit_of(text: str, number: re.Match[str]) -> tuple[str, ...]:
    """The words that say what the number counts ("30 ships", "18 months", "14-year", "1,200
    late ballots"); () when the text leaves it unsaid ("up from 12 on Monday", "130,000
    deployed")."""
    out: list[str] = []
    for word in re.findall(r"[A-Za-z]+", text[number.end() : number.end() + 30].lower())[:3]:
        if word in _FUNCTION_WORDS or re.fullmatch(r"[a-z]+(?:ed|ing)", word):
            break
        out.append(word[:-1] if word.endswith("s") and len(word) > 3 else word)
    return tuple(out)


def segment_of(text: str, number: re.Match[str]) -> str:
    """The part of the sentence between commas (or "and to") that holds the number."""
    at = 0
    for seg in SEGMENT_BREAK.split(text):
        start = text.find(seg, at)
        if start <= number.start() < start + len(seg):
            return seg
        at = max(start, 0) + len(seg)
    return text


def own_time(text: str, number: re.Match[str]) -> str:
    """The date or duration the number is part of ("August 2029"), or ''."""
    for m in TIME.finditer(text):
        if m.start() <= number.start() and number.end() <= m.end():
            return m.group(0)
    return ""


def in_date(text: str, number: re.Match[str]) -> bool:
    return any(
        m.start() <= number.start()
        and number.end() <= m.end()
        and not re.match(r"\d", m.group(0))
        or m.group(0) == number.group(0)
        for m in TIME.finditer(text)
    )


def number_key(token: str) -> str:
    token = token.lower().replace(",", "").rstrip(".")
    return NUMBER_WORDS.get(token, token.lstrip("0") or "0")


def terms_known(words: set[str], known: set[str]) -> set[str]:
    """The words of `words` that are in `known`, or a form of one ("rescu" for "rescue")."""
    return {w for w in words if word_known(w, known)}


def speaker_matches(np: str, line: Line) -> bool:
    """The line is the words of who `np` names: a person by any of their names, or a group in
    the line's own words for its speaker."""
    names = [
        " ".join(run)
        for run in name_runs(np)
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
            said_by = {name_word(w) for w in WORD.findall(subject)}
            if words and all(w in said_by for w in words[-1:]):
                return True
        return False
    countries = [" ".join(run) for run in name_runs(np) if aliases_of(" ".join(run))]
    country_terms = set(terms(" ".join(countries)))
    group = {t for t in terms(np) if t not in _TITLE_WORDS and t not in country_terms}
    if countries and not group:
        # A country speaks ("the United States said"): the sentence's speaker is it, by any
        # of its names.
        in_words = f" {normalised(subject)} "
        forms = {f for c in countries for f in aliases_of(c)}
        return any(f" {f} " in in_words.replace(".", "") for f in forms)
    # A group ("the operator", "the bank") speaks for the passage that names it so: "the
    # operator" for its chief executive, in an article on the port's operator.
    return not group - set(terms(subject)) - line.passage_terms
