"""The names one country goes by: "U.K.", "Britain", "British", "United Kingdom".

From the countryinfo package (its name, alternative spellings and demonym of each country),
so that the list is maintained elsewhere. Two forms are derived from its spellings: the last
word of "Great Britain" and of "... of America" ("Britain", "America"). Names are compared as
the verifier compares them: lowercased, without dots or a possessive ("U.S." -> "us").
"""

from __future__ import annotations

import re
from functools import cache

_WORD = re.compile(r"[A-Za-z][\w'’.-]*")


def _key(name: str) -> str:
    name = name.lower().replace("’", "'").strip("'.,-")
    return re.sub(r"'s?$", "", name).replace(".", "")


def _forms(name: str, alt: list[str], demonym: str | None) -> set[str]:
    forms = {name, *alt}
    if demonym:
        forms.add(demonym)
    for a in alt + [name]:
        words = a.split()
        if len(words) == 2 and words[0] == "Great":
            forms.add(words[1])
        if len(words) >= 3 and words[-2] == "of":
            forms.add(words[-1])
    # Latin letters only: a native spelling is no English writer's alias.
    return {_key(f) for f in forms if f.isascii() and _WORD.fullmatch(f.replace(" ", "_"))}


@cache
def country_aliases() -> dict[str, frozenset[str]]:
    """Each form (lowercased: "us", "britain", "british") -> every form of its country."""
    from countryinfo import all_countries

    out: dict[str, tuple[int, frozenset[str]]] = {}
    for country in all_countries():
        try:
            name, alt, demonym = country.name(), country.alt_spellings(), country.demonym()
            population = int(country.population() or 0)
        except (KeyError, AttributeError, TypeError, ValueError):
            continue
        if not name:
            continue
        forms = frozenset(_forms(name, list(alt or []), demonym))
        # "French" is also Martinique's demonym: a form shared by several belongs to the most
        # populous of them.
        for f in forms:
            if f not in out or out[f][0] < population:
                out[f] = (population, forms)
    return {f: forms for f, (_, forms) in out.items()}


def aliases_of(word: str) -> frozenset[str]:
    """The other forms of the country `word` names ("britain" -> "uk", "united kingdom",
    "british", ...); empty when it names none."""
    return country_aliases().get(_key(word), frozenset())
