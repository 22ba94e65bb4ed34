"""A story's headline: an article's title cleaned of its site's name and of a cut-off tail, or
else a headline made from its key sentence.
"""

from __future__ import annotations

import re

from retrieval.intake.sentences import ABBREVIATIONS

_TRUNCATED = re.compile(r"\s*(?:\.\.\.|…)$")
_SUFFIX = re.compile(r"\s+[-|–—]\s+([^-|–—]{1,40})$")
_CLAUSE = re.compile(r"(?:,|;|:|\s[–—-])\s+")
# Words a cut-off title can't end on: "... killed after ...", "... for Friday, her ...".
_DANGLING = frozenset(
    """a an the of in on at to for from by with about after before over under into onto as
    and or but nor than that which who whom whose while though although if because so since
    his her its their our my your this these those is are was were be been being has have had
    will would can could may might should must not no very more most new says say he she it
    they we i some any all every each many much few several""".split()
)
_PREPOSITIONS = frozenset("of in on at to for from by with about after over into".split())
# A cut-off last clause that starts like this was going somewhere: ", though officials ...".
_CLAUSE_OPENERS = frozenset(
    "though although but while as after before which who when where and or with despite amid"
    " since until because if so".split()
)
_TRAILING = " ,;:|–—-"


def _site_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _names_site(suffix: str, site: str, cut: bool) -> bool:
    """Whether a title's tail ("CNNPolitics", "The Week UK", "The" cut short) names `site`."""
    key = _site_key(suffix)
    host = site.lower().removeprefix("www.")
    name = _site_key(host.split(".")[0] if "." in host and " " not in host else host)
    if not key or not name:
        return False
    return key.startswith(name) or (cut and name.startswith(key))


def _trim_cut(title: str) -> str:
    """A title cut short ("... spell trouble for ...") up to its last whole phrase."""
    text = title
    while True:
        before = text
        words = text.split()
        # A last word that leads into what was cut: "after", "her", a number ("6 ...").
        while words and (_bare(words[-1]) in _DANGLING or _bare(words[-1]).isdigit()):
            words.pop()
        # A phrase of one word after its preposition was cut inside: "in document [probe]".
        whole = text == title and len(words) == len(title.split())
        if whole and len(words) > 4 and _bare(words[-2]) in _PREPOSITIONS:
            words = words[:-2]
        text = " ".join(words).rstrip(_TRAILING)
        # A sentence that was cut after a whole one: "Did Will Smith apologize? Has Chris".
        ends = [e for e in _sentence_ends(text) if len(text[:e].split()) >= 3]
        if ends:
            text = text[: ends[-1]].rstrip(".")
        clauses = list(_CLAUSE.finditer(text))
        if clauses:
            last = text[clauses[-1].end() :].split()
            if len(last) <= 2 or (last and _bare(last[0]) in _CLAUSE_OPENERS):
                text = text[: clauses[-1].start()]  # a last clause that was going somewhere
        text = _before_open_quote(text).rstrip(_TRAILING)
        if text == before:
            return text


def _sentence_ends(text: str) -> list[int]:
    """Where whole sentences end inside a title: after "?" or "!", or "." after a word that
    is no initial or abbreviation ("trouble. Savers", not "Jan. 6" or "U.S. troops")."""
    ends = []
    for m in re.finditer(r"[.?!](?=\s)", text):
        if m.group() == ".":
            word = text[: m.start()].rsplit(None, 1)[-1].lower().strip("\"'“‘(")
            if len(word) < 2 or word in ABBREVIATIONS or not word[-1].isalpha():
                continue
        ends.append(m.end())
    return ends


def _before_open_quote(text: str) -> str:
    """The text before a quotation it opens and never closes (the cut fell inside it)."""
    if text.count("“") > text.count("”"):
        return text[: text.rfind("“")]
    if text.count('"') % 2:
        return text[: text.rfind('"')]
    # A single quote opens at a word's start; an apostrophe sits inside a word ("China's").
    opened = [m.start() for m in re.finditer(r"(?:^|(?<=\s))['‘]", text)]
    closed = re.findall(r"['’](?=[\s,;:.?!]|$)", text)
    if len(opened) > len(closed):
        return text[: opened[-1]]
    return text


def _bare(word: str) -> str:
    return word.lower().strip("'\"‘’“”,;:–—-")


def clean_headline(title: str, site: str) -> tuple[str, bool]:
    """A page title as a headline: without its site's name ("- CNNPolitics", "| The Week UK")
    and, when the title was cut short ("..."), up to its last whole phrase. Also whether the
    title was cut short."""
    text = " ".join(title.split())
    cut = bool(_TRUNCATED.search(text))
    text = _TRUNCATED.sub("", text)
    m = _SUFFIX.search(text)
    if m and _names_site(m.group(1), site, cut):
        text, cut = text[: m.start()], False  # what was cut is the site's name
    return (_trim_cut(text) if cut else text), cut


def headline_from_sentence(sentence: str, max_words: int = 20) -> str:
    """A lead sentence as a headline: itself when short, else up to the last comma that
    leaves a clause long enough to say something ("Saudi officials have cracked down on
    rainbow-colored toys ... in the capital, Riyadh, on Tuesday, saying ...")."""
    text = " ".join(sentence.split()).rstrip(".")
    if len(text.split()) <= max_words:
        return text
    cuts = [m.start() for m in re.finditer(r",\s", text) if 8 <= len(text[: m.start()].split())]
    cuts = [c for c in cuts if len(text[:c].split()) <= max_words]
    return text[: cuts[-1]] if cuts else text
