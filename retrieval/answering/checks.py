"""The verifier's checks of a generated sentence against its cited passages, each a reason to
drop it or '': words only an instruction holds, quotes and numbers, names, who is said to speak,
what each number counts and when, negations, and clauses no passage holds (the list is in
retrieval/answering/verification.py, which runs them).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from retrieval.answering.claims import (
    FRAME_WORDS,
    NUMBER_TOKEN,
    PRONOUNS,
    TIME,
    SameWord,
    bound_times,
    count_noun,
    exact,
    in_date,
    number_key,
    own_time,
    polarity_conflict,
    segment_of,
    speaker_matches,
    speaker_phrase,
    terms_known,
    unit_of,
)
from retrieval.answering.evidence import (
    CHECKED_NUMBER_WORDS,
    QUOTED,
    WORD,
    Evidence,
    Line,
    Passage,
    alias_known,
    digits_in,
    name_runs,
    name_word,
    normalised,
    word_known,
)
from retrieval.index.lexical import terms

# A clause adds a claim of its own when at least this many of its content words, and this
# share of them, are in no cited passage (chosen on the training stories of
# bench/verifier_set; docs/llm.md).
MIN_UNSUPPORTED = 2
COVERAGE_SHARE = 0.5


# -- the checks, each a reason or '' --------------------------------------------------------
def instructed(claim: str, ev: Evidence) -> str:
    """Words that only an instruction in a passage holds: the sentence obeyed it."""
    names = set(terms(" ".join(" ".join(run) for run in name_runs(claim))))
    taken = {
        t
        for t in terms(claim)
        if t in ev.instructed and t not in names and not word_known(t, ev.terms)
    }
    if taken:
        return f"'{sorted(taken)[0]}' is only in an instruction in a passage: no evidence"
    return ""


def quotes_and_numbers(claim: str, ev: Evidence) -> str:
    for quote in QUOTED.findall(claim):
        parts = [p for p in re.split(r"\.\.\.|…", quote) if len(p.split()) >= 1]
        for part in parts:
            if normalised(part).strip(" .,") not in ev.text:
                return f"the quote “{quote.strip()}” is in no cited passage"
    for word, digit in CHECKED_NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", claim, re.I) and digit not in ev.numbers:
            return f"the number '{word}' is in no cited passage"
    for n in digits_in(claim):
        if n not in ev.numbers and n.replace(".", "") not in ev.numbers:
            return f"the number '{n}' is in no cited passage"
    return ""


def names_known(claim: str, ev: Evidence, given: Sequence[Passage], question: str) -> str:
    """Each name is the cited passages' (or their speakers', or the question's), a country by
    any of its names; a surname may cite a passage when another passage gives the full name."""
    given_text = normalised(" ".join(f"{p.text} {p.title} {' '.join(p.speakers)}" for p in given))
    asked = {name_word(w) for w in WORD.findall(question)}
    for run in name_runs(claim):
        unknown = [
            w
            for w in run
            if not word_known(w, ev.words) and w not in asked and not alias_known(w, ev)
        ]
        if not unknown:
            continue
        # "Ben Wallace" citing a passage that says "Wallace": the full name is another
        # passage's, and the surname this one's.
        if word_known(run[-1], ev.words) and " ".join(run) in given_text:
            continue
        return f"the name '{unknown[0]}' is in no cited passage"
    return ""


def _support_lines(said: str, ev: Evidence) -> list[Line]:
    """The cited sentences that hold most of what the clause says."""
    wanted = set(terms(said)) - FRAME_WORDS
    scored = [
        (len(terms_known(wanted, line.terms)), line) for line in ev.lines if not line.instruction
    ]
    best = max((s for s, _ in scored), default=0)
    return [line for s, line in scored if s == best and s > 0]


def speakers_bound(clauses: list[str], ev: Evidence) -> str:
    """Who the claim says spoke is who the cited sentence that holds the words gives."""
    for clause in clauses:
        np_, said = speaker_phrase(clause)
        if not np_ or np_.lower().split()[0] in PRONOUNS or not said.strip():
            continue
        lines = _support_lines(said, ev)
        if lines and not any(speaker_matches(np_, line) for line in lines):
            return f"no cited passage has {np_} saying it"
    return ""


def numbers_bound(clauses: list[str], ev: Evidence) -> str:
    """Each number is one a cited sentence gives for the same thing, the same moment and, when
    the claim names a speaker, the same speaker."""
    for clause in clauses:
        np_, _ = speaker_phrase(clause)
        named = bool(np_) and np_.lower().split()[0] not in PRONOUNS
        for number in NUMBER_TOKEN.finditer(clause):
            key = number_key(number.group(0))
            if number.group(0).lower() in ("one",):
                continue
            dated = in_date(clause, number)
            own = segment_of(clause, number) if dated else clause
            unit = () if dated else unit_of(clause, number)
            times = bound_times(clause, number)
            context = (
                set(terms(own))
                - FRAME_WORDS
                - set(terms(np_))
                - set(unit)
                - {t for t in terms(clause) if t[:1].isdigit()}
                - set(terms(" ".join(" ".join(w) for w in times)))
                - set(terms(own_time(clause, number)))
            )
            found = ""
            for line in ev.lines:
                if line.instruction:
                    continue
                for m in NUMBER_TOKEN.finditer(line.text):
                    if number_key(m.group(0)) != key:
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
                key in {number_key(m.group(0)) for m in NUMBER_TOKEN.finditer(line.text)}
                for line in ev.lines
            ):
                # A year only the passage's date gives, for what the passage dates to another
                # year ("hired too quickly during 2026" for "during 2024").
                for line in ev.lines:
                    years = re.findall(r"\b(?:19|20)\d\d\b", line.text)
                    if years and terms_known(context, line.terms):
                        return f"the year '{key}' is not the one the passage gives ({years[0]})"
    return ""


def _binding(
    line: Line,
    m: re.Match[str],
    unit: tuple[str, ...],
    times: list[frozenset[str]],
    context: set[str],
    speaker: str,
    dated: bool,
) -> str:
    # A passage that leaves unsaid what it counts ("130,000 deployed") gives no other thing.
    theirs = {count_noun(t) for t in unit_of(line.text, m)}
    if unit and theirs and not any(word_known(count_noun(u), theirs) for u in unit):
        return f"counts something else in the passage ('{min(theirs)}', not '{unit[0]}')"
    line_times = bound_times(line.text, m)
    for t in times:
        if any(t <= lt for lt in line_times):
            continue
        # A moment the sentence gives for another count of another thing ("41C in Lyon on
        # Monday, and ... 61 gigawatts") dates the whole sentence; the same thing's count at
        # another moment ("30 ships by Tuesday evening, up from 12 on Monday morning") does not.
        others = [
            o
            for o in NUMBER_TOKEN.finditer(line.text)
            if o.start() != m.start() and any(t <= lt for lt in bound_times(line.text, o))
        ]
        counted = unit_of(line.text, m)
        if (
            not others
            or not counted
            or any(
                not unit_of(line.text, o) or set(unit_of(line.text, o)) & set(counted)
                for o in others
            )
        ):
            return "is given for another moment in the passage"
    segment = segment_of(line.text, m)
    if len(context) >= 2 and not terms_known(context, line.nearby):
        return "is given for something else in the passage"
    if dated and context:
        # A date belongs to its segment of the sentence: what the claim dates, the sentence
        # may date otherwise ("to start building in the autumn and to play its first match
        # there in August 2029").
        mine = len(terms_known(context, set(terms(segment))))
        for other in line.segments:
            if other != segment and TIME.search(other) and mine == 0:
                if terms_known(context, set(terms(other))):
                    return "is given for something else in the passage"
    if speaker and not speaker_matches(speaker, line):
        return f"is not {speaker}'s in the passage"
    return ""


def polarity(claim: str, ev: Evidence, same: SameWord = exact) -> str:
    """A negation the claim adds or drops against every cited passage."""
    by_passage: dict[int, list[str]] = {}
    for line in ev.lines:
        if not line.instruction:
            by_passage.setdefault(line.passage, []).append(line.text)
    facts = [" ".join(texts) for texts in by_passage.values()]
    for text in facts:
        conflict = polarity_conflict(claim, text, same)
        if conflict and not any(not polarity_conflict(claim, o, same) for o in facts):
            return conflict
    return ""


def clauses_covered(clauses: list[str], ev: Evidence, question: str) -> str:
    """Each clause says what the passages say: a clause whose content words are mostly in no
    cited passage adds a claim of its own."""
    names = {w for run in name_runs(" ".join(clauses)) for w in run}
    for clause in clauses:
        # "Addressing reporters, X said": the participle tells how X said it.
        lead = re.match(r"[A-Z][a-z]+ing\b", clause)
        body = clause[lead.end() :] if lead else clause
        wanted = [
            t
            for t in dict.fromkeys(terms(body))
            if t not in FRAME_WORDS and not t[:1].isdigit() and t not in names
        ]
        missing = [t for t in wanted if not word_known(t, ev.terms)]
        if len(missing) >= MIN_UNSUPPORTED and len(missing) >= COVERAGE_SHARE * len(wanted):
            return f"the clause “{clause}” is in no cited passage ({', '.join(missing[:3])})"
    return ""
