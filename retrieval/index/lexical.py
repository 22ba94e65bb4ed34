"""Words as the index counts them: lower-cased terms, stop words out, lightly stemmed (what BM25
search, answer composing and verification share)."""

from __future__ import annotations

import re
from functools import lru_cache

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during
    before after above below to from up down in out on off over under again further then once
    here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don should now is are was were be been
    being have has had having do does did doing i me my we our you your he him his she her it
    its they them their what which who whom this that these those am would could ought i'm
    you're he's she's it's we're they're i've you've we've they've i'd you'd he'd she'd we'd
    they'd i'll you'll he'll she'll we'll they'll isn't aren't wasn't weren't hasn't haven't
    hadn't doesn't don't didn't won't wouldn't shan't shouldn't can't cannot couldn't mustn't
    let's that's who's what's here's there's when's where's why's how's as until while also
    said says say tell told according recently new week weeks year years""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[-'’.,][a-z0-9]+)*")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """A light suffix stripper: enough to meet 'agreements' with 'agreement'."""
    if len(word) <= 3 or word.isdigit():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith(("ss", "us", "is")):
                return word
            stem_ = word[: -len(suffix)] + repl
            # "stopped" -> "stop", "planning" -> "plan"
            if suffix in ("ing", "ed") and stem_[-1] == stem_[-2] and stem_[-1] not in "lsz":
                stem_ = stem_[:-1]
            return stem_
    return word


def terms(text: str) -> list[str]:
    out: list[str] = []
    for w in _WORD.findall(text.lower()):
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        if w in STOPWORDS:
            continue
        out.extend(stem(p) for p in w.split("-") if p and p not in STOPWORDS)
    return out
