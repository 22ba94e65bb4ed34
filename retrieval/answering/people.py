"""The people an article names in full, and where: 'McConnell' at some point of the article is
the Mitch McConnell named before it. People: those of the retrieved articles, each read once."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from retrieval.answering.aliases import aliases_of
from retrieval.answering.features import stem, stems_of
from retrieval.answering.names import (
    OPENERS,
    ROLES,
    TITLES,
    UPPER,
    fits,
    fold,
    lower_words,
    name_words,
    role_word,
    same_speaker,
)
from retrieval.answering.speech import SPEECH_VERBS, Attribution

# A person named in full: two or more capitalised words on one line.
_CAP = rf"[{UPPER}][\w'’.-]*"
_PARTICLE = r"(?:de|van|von|der|den|ten|al|bin|da|del|della|di|le|la|du|dos|das)"
# "Anne-Marie van der Berg": up to two particles between capitalised words
_RUN = re.compile(rf"{_CAP}(?:[ \t]+(?:{_PARTICLE}[ \t]+){{0,2}}{_CAP})+")
_ACRONYM = re.compile(r"[A-Z.&-]{2,}")
_LOWER_WORD = re.compile(r"(?<![\w'’-])[a-z][a-z'’-]+")


def _is_headline(line: str) -> bool:
    words = [w for w in line.split() if w[:1].isalpha()]
    return len(words) >= 4 and sum(w[0].isupper() for w in words) >= 0.7 * len(words)


@dataclass(frozen=True)
class Mention:
    at: int  # offset in the article
    words: tuple[str, ...]  # name_words of the name
    name: str  # as written, titles left out ("Mitch McConnell")
    before: frozenset[str] = frozenset()  # the words just before it: its role, its employer
    lead: frozenset[str] = frozenset()  # the clause before it: "the environment minister,"
    after: frozenset[str] = frozenset()  # an appositive after it: ", the bank's chief economist,"


class Cast:
    """The people one article names in full, and where; and the words it uses in lowercase
    (ordinary words, not names). Resolves 'McConnell' to the Mitch McConnell named before."""

    def __init__(self, pieces: Iterable[tuple[int, str]]) -> None:
        """`pieces`: (offset in the article, text) of its parts, e.g. its chunks."""
        seen: dict[int, Mention] = {}
        self.ordinary: set[str] = set()
        self.pieces = list(pieces)
        for base, text in self.pieces:
            self.ordinary.update(fold(w).replace("’", "'") for w in _LOWER_WORD.findall(text))
            headline: dict[int, bool] = {}  # line start -> is a headline
            for m in _RUN.finditer(text):
                start = text.rfind("\n", 0, m.start()) + 1
                if start not in headline:
                    end = text.find("\n", m.start())
                    headline[start] = _is_headline(text[start : end if end >= 0 else len(text)])
                if headline[start]:
                    continue  # "Trump Slams Cheney After Loss" names no one person
                for at, name in _split_run(m.group(0), m.start()):
                    words = tuple(name_words(name))
                    if 2 <= len(words) <= 4 and base + at not in seen:
                        lead = text[max(start, at - 60) : at]
                        tail = text[at + len(name) : at + len(name) + 90]
                        seen[base + at] = Mention(
                            base + at,
                            words,
                            name,
                            _role_of(lead),
                            _clause_before(lead),
                            _appositive(tail),
                        )
        self.mentions = sorted(seen.values(), key=lambda m: m.at)
        self._fitting: dict[tuple[str, ...], list[Mention]] = {}

    def people(self, asked: list[str]) -> list[Mention]:
        """The mentions of people `asked` may name: by surname when any fits, else by given
        name ('Trump' is Donald Trump before it is the Trump Organization)."""
        key = tuple(asked)
        if key not in self._fitting:
            by_surname = [m for m in self.mentions if fits(asked, list(m.words), given=False)]
            self._fitting[key] = by_surname or [
                m for m in self.mentions if fits(asked, list(m.words))
            ]
        return self._fitting[key]

    def resolve(self, speaker: str, at: int) -> str:
        """The full name `speaker` stands for at offset `at`: the one fitting person named
        before it (else the one in the whole article); `speaker` itself when the article names
        no one fitting, or several ('Trump' with Donald and Melania Trump named before)."""
        words = name_words(speaker)
        fitting = self.people(words) if words else []
        for mentions in ([m for m in fitting if m.at <= at], fitting):
            if mentions:
                persons = distinct(mentions)
                return persons[0].name if len(persons) == 1 else speaker
        return speaker

    @property
    def stems(self) -> frozenset[str]:
        """The stems of the article's content words (features.stems_of, cached per text)."""
        return stems_of(" ".join(t for _, t in self.pieces))

    def holds(self, role: Role, speaker: str, at: int) -> int:
        """Whether `speaker` (as an attribution wrote it, at offset `at`) holds `role`: the
        role's own words are in the speaker's words or around a mention of the person (the
        words before the name, or an appositive after it); a country qualifying it
        ("argentina's") there too, any other qualifier (a company's name) there (2) or
        anywhere in the article (1: "its chief executive" in an article about it). 0: no."""
        words = {role_word(w) for w in lower_words(speaker)}
        name = name_words(self.resolve(speaker, at))
        for m in self.people(name) if name else []:
            words |= m.before | m.lead | m.after
        if {"head", "executive"} <= words:
            words.add("ceo")  # "chief executive" (role_word writes "chief" as "head")
        near = {stem(w) for w in words}
        if not all(stem(w) in near for w in role.head):
            return 0
        level = 2
        for q in role.qualifiers:
            country = aliases_of(q)
            if country:
                # A country's office is given at the person ("Chile's president, X",
                # "Argentine President X"), in any of the country's names.
                if not any(stem(f) in near for f in country | {q}):
                    return 0
            elif stem(q) not in near:
                if stem(q) not in self.stems:
                    return 0
                level = 1
        return level


@dataclass(frozen=True)
class Role:
    """A role a question asks the words of: "argentina's president" is the head `president`
    qualified by `argentina`; "the portuguese prime minister" is `prime minister` qualified by
    `portuguese`; "atlantic gate's ceo" is `ceo` (written "chief executive" too) of `atlantic
    gate`."""

    head: tuple[str, ...]
    qualifiers: tuple[str, ...]

    @property
    def known(self) -> bool:
        """A role by its word ("minister", "ceo", "spokesperson"), not a word that may name
        something else ("what did the regulator say" may be answered by the regulator's
        report; "pay tribute" is no one's words)."""
        return bool(self.head) and self.head[-1] in ROLES

    def speaking(self, sentence: str) -> str:
        """The words naming the role as the subject of a speech verb in `sentence` ("Portugal's
        labour minister said", "said the minister"), or ''."""
        if not self.head or not sentence:
            return ""
        head = r"\s+".join(re.escape(w) for w in self.head)
        for pattern in (
            rf"((?:[\w'’-]+\s+){{0,3}}{head})\s+(?:{SPEECH_VERBS})\b",
            rf"\b(?:{SPEECH_VERBS})\s+((?:the|a|an)\s+(?:[\w'’-]+\s+){{0,3}}{head})\b",
        ):
            m = re.search(pattern, fold(sentence).lower())
            if m:
                return m.group(1)
        return ""

    @classmethod
    def of(cls, phrase: str) -> Role:
        words = [role_word(w) for w in lower_words(phrase) if w not in OPENERS]
        words = [x for w in words for x in (("prime", "minister") if w == "pm" else (w,))]
        if not words:
            return cls((), ())
        k = len(words) - 1  # the last word is the role; titles before it belong to it
        while k > 0 and words[k - 1] in TITLES:
            k -= 1
        return cls(tuple(words[k:]), tuple(words[:k]))


def _clause_before(lead: str) -> frozenset[str]:
    """The words of the clause right before a name, as role_word writes them: "The
    environment minister, Oliver Stanhope-Wright" and '"...," mission manager Oluwaseun
    Adebayo-Kline told' give the role in lowercase, which `_role_of` does not read."""
    lead = re.sub(r",\s*$", "", lead.rstrip())
    clause = re.split(r"[.;:!?()\"“”,]|\s[-–—]\s", lead)[-1]
    words = [role_word(w) for w in lower_words(clause) if w not in OPENERS]
    return frozenset(words[-5:])


def _appositive(tail: str) -> frozenset[str]:
    """The role words of an appositive right after a name: "Gwen Llewellyn-Price, the
    regulator's chief inspector, said" -> regulator, head, inspector (as role_word writes
    them); nothing when the name is not followed by a comma."""
    m = re.match(r"\s*,\s*([^,.;:()\"“”]{3,80})[,.;:]", tail)
    if not m:
        return frozenset()
    clause = re.split(r"\b(?:who|which|whose|that|where)\b", m.group(1))[0].split()
    if not clause or (clause[0].islower() and clause[0].endswith("ed")):
        return frozenset()  # ", visited the town", ", who met the president": no appositive
    return frozenset(role_word(w) for w in lower_words(" ".join(clause)) if w not in OPENERS)


def distinct(mentions: list[Mention]) -> list[Mention]:
    """One mention per person: 'Donald Trump' and 'Donald J. Trump' are one person."""
    sets = {frozenset(m.words): m for m in mentions}
    return [m for k, m in sets.items() if not any(k < o for o in sets)]


def _role_of(lead: str) -> frozenset[str]:
    """The role words right before a name: "China's Defense Minister", "Amazon spokesperson",
    "White House press secretary"; not the words of another clause ("Without mentioning
    China, Japanese Prime Minister ...")."""
    role: list[str] = []
    for tok in reversed(lead.split()):
        if tok[-1] in ',.;:()"“”' or tok[0] in '("“”':
            break
        word = role_word(tok)
        # A capitalised word, a role, or a lowercase word before a role ("press secretary").
        if not (tok[0].isupper() or word in ROLES or (role and role[-1] in ROLES)):
            break
        role.append(word)
        if len(role) == 6:
            break
    return frozenset(role)


def _split_run(run: str, start: int) -> Iterator[tuple[int, str]]:
    """A run of capitalised words cut at sentence ends ('Trump. Biden'), openers and titles
    stripped ('But Sen. Mitch McConnell' -> 'Mitch McConnell'), with its offset."""
    tokens = [(m.start(), m.group(0)) for m in re.finditer(r"\S+", run)]
    parts: list[list[tuple[int, str]]] = [[]]
    for at, tok in tokens:
        parts[-1].append((at, tok))
        bare = tok.rstrip(".").lower()
        if tok.endswith(".") and len(tok) > 3 and bare not in TITLES and "." not in bare:
            parts.append([])  # a sentence ends: "... Trump. Biden said"
        elif re.search(r"['’]s?$", tok):
            parts.append([])  # a possessive ends a name: "Trump's Doral"
    for part in parts:
        while part and (
            part[0][1].lower().strip(".,") in OPENERS | TITLES or _ACRONYM.fullmatch(part[0][1])
        ):
            part = part[1:]
        titled = [k for k, (_, t) in enumerate(part) if t.lower().strip(".,") in TITLES]
        if titled:
            part = part[titled[-1] + 1 :]
        if len(part) >= 2:
            at = part[0][0]
            name = " ".join(t for _, t in part).rstrip(".,")
            yield start + at, re.sub(r"['’]s?$", "", name)


class People:
    """The people named in the retrieved articles; each article is read on first use."""

    def __init__(
        self, articles: Iterable[int], pieces: Callable[[int], Iterable[tuple[int, str]]]
    ) -> None:
        self._articles = list(dict.fromkeys(articles))
        self._pieces = pieces
        self._casts: dict[int, Cast] = {}

    def cast(self, article: int) -> Cast:
        if article not in self._casts:
            self._casts[article] = Cast(self._pieces(article))
        return self._casts[article]

    def __iter__(self) -> Iterator[Cast]:
        return (self.cast(a) for a in self._articles)

    def holds(
        self, role: Role, article: int, at: int, attribution: Attribution, text: str = ""
    ) -> int:
        """Whether the sentence `text` at `at` of `article` is the words of someone in `role`:
        2 with its qualifiers at the person, 1 with a company's only in the article, 0 not. A
        sentence whose speech verb has the role itself for subject ("the mayor told residents
        that ...", "said a spokesperson") is theirs too: attribution names only people."""
        if not role.head:
            return 0
        if attribution.speaker:
            return self.cast(article).holds(role, attribution.speaker, at)
        said = role.speaking(text)
        return self.cast(article).holds(role, said, at) if said else 0

    def said_by(self, asked: str, article: int, at: int, attribution: Attribution) -> bool:
        """Whether the sentence at `at` of `article` is `asked`'s words (or decline)."""
        if not attribution.speaker:
            return False
        return same_speaker(asked, self.cast(article).resolve(attribution.speaker, at))
