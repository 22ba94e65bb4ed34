"""The words of people's names, and when two name one person: titles, openers and suffixes are
no part of a name ("Senate Minority Leader Mitch McConnell" is mitch mcconnell), accents do
not count ("Errázuriz" is "errazuriz"), and a surname or a given name names the person named
in full ("McConnell", "Tedros")."""

from __future__ import annotations

import re

from anyascii import anyascii

UPPER = "A-ZÀ-ÖØ-Þ"  # capitals, with Latin-1's accented ones ("Ángel", "Émilie")

# Words before a name that are no part of it: titles, roles, parties, sentence openers.
TITLES = frozenset(
    """mr mrs ms miss dr prof sir dame lord lady president vice prime minister secretary sen
    senator rep representative congressman congresswoman gov governor mayor chief director
    director-general ceo chair chairman chairwoman leader speaker judge justice attorney general
    gen commissioner spokesman spokeswoman spokesperson king queen prince princess pope coach
    ambassador chancellor premier former late deputy founder sheriff prosecutor captain
    minority majority republican democrat democratic gop administrator lt col sgt capt sens
    senators reps representatives govs governors councillor councilor councilman councilwoman
    councilmember alderman alderwoman assemblyman assemblywoman assemblymember""".split()
)

ROLES = (TITLES - {"mr", "mrs", "ms", "miss", "dr", "sir", "dame", "former", "late"}) | {
    "spokesperson",
    "lawyer",
    "head",
    "official",
}
_SUFFIXES = frozenset(
    "jr sr ii iii monday tuesday wednesday thursday friday saturday sunday".split()
)
OPENERS = frozenset(
    """the a an but and when after before while if as in on at for with by from to of
    however meanwhile earlier later then so since because although though yet also this that
    these those his her their its our my dear another every each some any no other both what
    who why how where""".split()
)


def fold(text: str) -> str:
    """`text` in ASCII, so that "Errázuriz", "Errazuriz" and "errazuriz" are one name, and so
    are "Søren" and "soren", "Łukasz" and "lukasz" (letters Unicode does not decompose, which is
    why this is anyascii's transliteration and not NFKD less the combining marks)."""
    return text if text.isascii() else anyascii(text)


def lower_words(name: str) -> list[str]:
    out = []
    for w in fold(name).replace("’", "'").lower().split():
        w = w.strip(",.;:()\"“”'")
        if w.endswith("'s"):
            w = w[:-2].strip(".'")
        if w:
            out.append(w)
    return out


def name_words(name: str) -> list[str]:
    """A name's own words, lowercased: 'Senate Minority Leader Mitch McConnell' -> mitch,
    mcconnell; 'Dr. Tedros' -> tedros. Titles count only before the name."""
    words = lower_words(name)
    while words and words[0] in OPENERS:
        words = words[1:]
    titled = [k for k, w in enumerate(words) if w in TITLES]
    if titled and titled[-1] + 1 < len(words):
        words = words[titled[-1] + 1 :]
    while words and words[-1] in _SUFFIXES:
        words = words[:-1]
    return words


def _parts(words: list[str]) -> list[str]:
    """A hyphenated name is its parts: people type "corrigan ward" and "sorlie vance" for
    Corrigan-Ward and Sørlie-Vance."""
    return [p for w in words for p in w.split("-") if p]


def fits(small: list[str], big: list[str], given: bool = True) -> bool:
    """`small` names the same person as `big`: its words are big's, ending with big's surname
    or (`given`) starting with its given name ('McConnell', 'Tedros' in 'Tedros Adhanom
    Ghebreyesus')."""
    small, big = _parts(small), _parts(big)
    return (
        bool(small)
        and len(small) <= len(big)
        and set(small) <= set(big)
        and (small[-1] == big[-1] or (given and small[0] == big[0]))
    )


def same_speaker(asked: str, speaker: str) -> bool:
    """'Wallace' matches 'Ben Wallace' and 'Defence Secretary Ben Wallace'; 'Tedros' matches
    'Tedros Adhanom Ghebreyesus'; 'Ben Wallace' does not match 'Tom Wallace'."""
    a, s = name_words(asked), name_words(speaker)
    if not a or not s:
        return False
    return fits(a, s) or fits(s, a)


POSSESSIVE = re.compile(r"'s?$")
# Words for one role written several ways.
_ROLE_WORDS = {
    "spokesman": "spokesperson",
    "spokeswoman": "spokesperson",
    "attorney": "lawyer",
    "solicitor": "lawyer",
    "barrister": "lawyer",
    "boss": "head",
    "defence": "defense",
    "chief": "head",
    "director-general": "head",
}


def role_word(word: str) -> str:
    word = POSSESSIVE.sub("", word.lower().strip(".,"))
    return _ROLE_WORDS.get(word, word)
