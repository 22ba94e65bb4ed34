"""Whom a question asks about the words of: "what did nair say about the quarter", "has X
said", "X's reaction to", "tedros comments on", a follow-up's "what did he say". Names are found
in any case, without accents, and written as the retrieved articles write them."""

from __future__ import annotations

import re
from collections.abc import Iterable

from retrieval.answering.names import (
    OPENERS,
    POSSESSIVE,
    ROLES,
    TITLES,
    lower_words,
    name_words,
    role_word,
)
from retrieval.answering.people import Cast, distinct

# Words that never sit inside a name slot of a question.
_STOP = (
    r"what|whats|why|how|hows|when|where|which|whom|whose|did|does|do|has|have|had|is|are|was|were|be|"
    r"been|say|said|says|about|on|in|at|to|for|with|from|of|by|and|or|but|if|after|before|"
    r"during|since|than|as|into|over|against|not|no|any|many|much|more|most|some|this|that|"
    r"these|those|the|a|an|his|her|their|its|our|your|my|he|she|they|it|i|you|we|him|them|"
    r"us|me|there|here|ever|yet|just|also|really|actually|even|still|could|would|should|can|"
    r"may|might|must|re|regarding|latest|recent|new|first|last|public|official|initial"
)
_W = rf"(?!(?:{_STOP})\b)[^\W_][\w.'-]*"
_DET = r"(?:(?:the|a|an|this|that)\s+)"
_SLOT = rf"(?P<name>{_DET}?(?:{_W}\s+){{0,5}}?{_W})"
_NOUNS = (
    r"reactions?|responses?|statements?|comments?|remarks?|words|quotes?|speech|tweets?|posts?|"
    r"apology|message|testimony|reply|answer|thoughts|take|tribute|eulogy|condolences|"
    r"announcement|interview|views?|stance|position|problem\s+with|objections?|complaints?|"
    r"concerns?\s+(?:about|over|with)|worries|argument|demands?|opinion|feelings"
)
_ASKED = [
    re.compile(
        rf"\bwhat\s+(?:did|does|has|had|do|have|will|would|is|was|were|are)\s+{_SLOT}\s+"
        r"(?:say|said|saying|says|tell|told|telling|claim|claimed|announce|announced|warn|"
        r"warned|write|wrote|writing|argue|argued|state|stated|mean|meant|add|added|reply|"
        r"replied|post|posted|posting|tweet|tweeted|tweeting|respond|responded|think|thought|"
        r"testify|testified|ask|asked|urge|urged|have\s+to\s+say|"
        # a person's wishes, views and fears are what they said of them
        r"want|wanted|feel|felt|fear|feared|hope|hoped|believe|believed|"
        r"propose|proposed|demand|demanded|expect|expected|worry|worried)\b",
        re.I,
    ),
    re.compile(
        rf"\bhow\s+(?:did|does|has|have|is|was|will)\s+{_SLOT}\s+(?:respond|responded|react|"
        r"reacted|reply|replied|explain|explained|answer|answered|justify|justified|defend|"
        r"defended)\b",
        re.I,
    ),
    re.compile(
        rf"\b(?:did|has|have|does|is|was)\s+{_SLOT}\s+(?:say|said|comment|commented|respond|"
        r"responded|react|reacted|speak|spoken|talk|talked|tweet|tweeted|post|posted|mention|"
        r"mentioned|address|addressed|reply|replied|testify|testified|"
        r"(?:make|made|issue|issued|release|released)\s+a\s+statement)\b",
        re.I,
    ),
    re.compile(rf"(?<![\w'])(?:{_SLOT})(?:'s|')?\s+(?:{_NOUNS})\b", re.I),
    re.compile(rf"\b(?:{_NOUNS})\s+(?:from|of|by)\s+{_SLOT}\b", re.I),
    re.compile(
        rf"\baccording\s+to\s+{_SLOT}(?=\s*[,?.!]|\s+(?:what|how|why|when|where|who|is|are|"
        r"was|were|did|does|do|has|have)\b|\s*$)",
        re.I,
    ),
]
# "what did he say", "did she comment", "his reaction": the person named before, in the
# question itself ("desantis on guns, what did he say") or in the one it follows up.
_ASKED_PRONOUN = re.compile(
    r"\b(?:(?:what|how)\s+(?:did|does|has|had|is|was)\s+(?:he|she|they)\s+(?:say|said|saying|"
    r"tell|told|add|mean|respond|react|reply|post|tweet|write)"
    r"|did\s+(?:he|she|they)\s+(?:say|comment|respond|react|speak|talk|tweet|post)"
    rf"|(?:his|her|their)\s+(?:{_NOUNS}))\b",
    re.I,
)
_LEADING_NAME = re.compile(rf"^\s*{_SLOT}\s+(?:on|about|re|regarding|after|to)\b", re.I)
# A question that opens with a person and "on" or "about" what: their words on it.
_NAME_ON = re.compile(rf"^\s*{_SLOT}\s+(?:on|about|re|regarding)\s+\S", re.I)
# Not a person: groups, roles, documents. A question about what they said is answered as any
# other question.
_NOT_PEOPLE = frozenset(
    """i you we it they he she him her them us me people everyone anyone someone somebody
    nobody officials official police experts expert report reports study survey data government
    administration company companies court jury prosecutors prosecution defense lawyers
    attorneys critics analysts economists scientists researchers doctors fans players investors
    lawmakers congress senate house democrats republicans authorities agency ministry statement
    article news media press who fed cdc fbi doj un nato eu spokesperson spokesman spokeswoman
    witnesses residents officers investigators experts""".split()
)


def _slot_name(slot: str) -> str:
    """The person's name in a question's name slot ('the who chief tedros' -> 'tedros'), or ''
    when the slot holds no person ('the report', 'officials', 'the president')."""
    words = slot.replace("’", "'").split()
    if any(POSSESSIVE.search(w) for w in words[:-1]):
        return ""  # "amazon's spokesperson": a role (see _slot_role)
    words = words[:-1] + [POSSESSIVE.sub("", words[-1])] if words else words
    det = bool(words) and words[0].lower() in {"the", "a", "an", "this", "that"}
    words = words[1:] if det else words
    low = [w.lower().strip(".") for w in words]
    titled = [k for k, w in enumerate(low) if w in TITLES]
    if titled and titled[-1] + 1 < len(words):
        words = words[titled[-1] + 1 :]
    elif det or (titled and len(titled) == len(words)):
        return ""  # "the report", "the president": a thing or a role, no one's name
    if not 1 <= len(words) <= 4 or any(w.lower().strip(".'") in _NOT_PEOPLE for w in words):
        return ""
    return " ".join(words).strip(" .'")


def _slot_role(slot: str) -> tuple[str, tuple[str, ...]] | None:
    """A role a slot names, as (whose, role words): "amazon's spokesperson" -> ("amazon",
    ("spokesperson",)), "the fbi director" -> ("", ("fbi", "director")); None for no role."""
    words = slot.replace("’", "'").lower().split()
    if words and words[0] in {"the", "a", "an", "this", "that"}:
        words = words[1:]
    org = ""
    owner = [k for k, w in enumerate(words[:-1]) if POSSESSIVE.search(w)]
    if owner:
        org, words = role_word(words[owner[-1]]), words[owner[-1] + 1 :]
    role = tuple(role_word(w) for w in words)
    if not role or not 1 <= len(role) <= 4 or role[-1] not in ROLES:
        return None
    return org, role


def _role_holder(org: str, role: tuple[str, ...], people: Iterable[Cast]) -> str:
    """The one person the articles name with this role ("Amazon spokesperson Kelly Nantel",
    "China's Defense Minister Wei Fenghe"), or ''."""
    holders = [
        m
        for cast in people
        for m in cast.mentions
        if set(role) <= m.before
        and (not org or any(w[:4] == org[:4] for w in m.before))  # "china" and "chinese"
    ]
    persons = distinct(holders)
    return persons[0].name if len(persons) == 1 else ""


def _display(name: str) -> str:
    return " ".join(w[:1].upper() + w[1:] for w in name.split()) if name.islower() else name


def _confirm(name: str, people: Iterable[Cast]) -> str:
    """The asked name as the retrieved articles write it ('mcconnell' -> 'Mitch McConnell'
    when that is the one person it fits), or '' when it is an ordinary word there, used in
    lowercase and naming no one ('officials', 'investigators')."""
    words = name_words(name)
    if not words:
        return ""
    casts = list(people)
    fitting = [m for cast in casts for m in cast.people(words)]
    persons = distinct(fitting)
    if len(persons) == 1:
        return persons[0].name
    if not fitting and casts and all(any(w in c.ordinary for c in casts) for w in words):
        return ""
    return _display(name)


def _known(name: str, people: Iterable[Cast]) -> str:
    """The one person of the articles the name fits, as they write it, or ''."""
    persons = distinct([m for cast in people for m in cast.people(name_words(name))])
    return persons[0].name if len(persons) == 1 else ""


def _person_in(text: str, people: Iterable[Cast]) -> str:
    """The first person of the articles named in `text` (any case), or ''."""
    casts = list(people)
    words = lower_words(text)
    for k in range(len(words)):
        for n in (4, 3, 2, 1):
            phrase = words[k : k + n]
            if len(phrase) < n or any(w in TITLES or w in OPENERS for w in phrase):
                continue
            if n == 1 and any(phrase[0] in c.ordinary for c in casts):
                continue  # "will" alone is a word; "will smith" is a name
            if any(c.people(phrase) for c in casts):
                return _confirm(" ".join(phrase), casts)
    return ""


# Words of speaking, for questions of no usual shape ("whats okafor saying", "nair said what
# about...", "how did okafor describe margins", "anything from okafor on margins"). Not
# "mean" or "think": "what does griner's sentence mean" asks about no one's words.
_SPEAKING = re.compile(
    r"\b(?:say|says|said|saying|tell|tells|told|telling|comment|commented|commenting|react|"
    r"reacts|reacted|reacting|respond|responds|responded|reply|replied|describe|describes|"
    r"described|describing|claim|claimed|argue|argues|argued|warn|warned|explain|explained|"
    r"announce|announced|speak|spoke|talking)\b|(?P<from>\b(?:anything|something|word|"
    r"quotes?|comments?)\s+from\b)",
    re.I,
)
# What may stand between the speaker and the word of speaking: "okafor has said", "nair then
# told", "did okafor describe".
_BETWEEN = frozenset(
    "has have had is was be been also then just ever really actually already publicly did "
    "does do will would".split()
)


def _speaking_person(q: str, people: Iterable[Cast]) -> str:
    """The person of the articles who speaks in a question of no usual shape: named right
    before a word of speaking, or right after "anything from"; '' when a person is only
    talked about ("what was said about okafor's margins", "nair's plan, what does it say")."""
    for m in _SPEAKING.finditer(q):
        if m.group("from"):
            name = _person_in(" ".join(q[m.end() :].split()[:4]), people)
        else:
            before = q[: m.start()].split()
            while before and before[-1].lower() in _BETWEEN:
                before.pop()
            if not before or POSSESSIVE.search(before[-1]):
                continue
            name = _person_in(" ".join(before[-3:]), people)
            if name and lower_words(before[-1])[-1:] != name_words(name)[-1:]:
                name = ""  # the name is not what comes right before: "nair's plan says"
        if name:
            return name
    return ""


def asked_speaker(question: str, context: str = "", people: Iterable[Cast] = ()) -> str:
    """The person a question asks about the words of, or ''. Names are found in any case;
    with `people` (those the retrieved articles name) a name is written as the articles write
    it, and an ordinary word is no name. In a follow-up ("and what did he say about Belarus?"),
    a pronoun stands for the person named before it or in the earlier question."""
    q = question.replace("’", "'").strip()
    shaped = False  # the question has the shape of one about someone's words
    for pattern in _ASKED:
        for m in pattern.finditer(q):
            shaped = True
            name = _slot_name(m.group("name"))
            if name and (name := _confirm(name, people)):
                return name
            role = None if name else _slot_role(m.group("name"))
            if role and (name := _role_holder(*role, people)):
                return name  # "china's defense minister": the one the articles name so
    if not shaped and (lead := _NAME_ON.match(q)):
        # Chat shorthand: "kowalska-reis on the union's fatigue worries" asks what she said.
        # Only a person the articles name counts here: "inflation on the rise" is no one's.
        if (name := _slot_name(lead.group("name"))) and (name := _known(name, people)):
            return name
    pron = _ASKED_PRONOUN.search(q)
    if not pron:
        return "" if shaped else _speaking_person(q, people)
    lead = _LEADING_NAME.match(q[: pron.start()])
    if lead and (name := _slot_name(lead.group("name"))) and (name := _confirm(name, people)):
        return name
    return (
        _person_in(q[: pron.start()], people)
        or (asked_speaker(context, "", people) if context else "")
        or _person_in(context, people)
    )


def asked_words_of(question: str) -> str:
    """The person or role a question asks the words of, as typed, whether or not anyone the
    articles name fits ("what did argentina's president say" -> "argentina's president"); ''
    when it asks no one's words, or a group's ("what did officials say")."""
    q = question.replace("’", "'").strip()
    for pattern in _ASKED:
        for m in pattern.finditer(q):
            slot = m.group("name")
            if _slot_name(slot) or _slot_role(slot):
                return " ".join(slot.split())
    return ""
