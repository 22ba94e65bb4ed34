"""Who said a sentence: direct quotes with a speech verb naming the speaker, reported speech,
"according to X", declines to comment, and quotes or pronouns that continue the previous
speaker. Patterns first (25–40 µs a sentence); where they are unsure, spaCy's parse
(`syntax`).

One piece, a little over 400 lines: reading one sentence (`attribute`) and carrying its speaker
on through the next ones (`attribute_all`) share the same patterns, and each needs the other's
cases (a quote that continues, a pronoun that refers back)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from retrieval.answering import syntax
from retrieval.answering.names import OPENERS, TITLES, UPPER, name_words

SPEECH_VERBS = (
    r"said|says|say|told|tells|added|adds|stated|states|warned|warns|explained|explains|noted|"
    r"notes|argued|argues|claimed|claims|insisted|insists|announced|announces|wrote|writes|"
    r"asserted|asserts|declared|declares|remarked|acknowledged|acknowledges|admitted|admits|"
    r"stressed|stresses|emphasized|emphasised|recalled|replied|responded|continued|urged|urges|"
    r"asked|asks|appealed|pleaded|"
    r"suggested|suggests|predicted|tweeted|tweets|confirmed|confirms|denied|denies|posted|posts|"
    r"testified|conceded|vowed|pledged|promised|praised|criticized|criticised|slammed|blasted|"
    r"accused|thanked|apologized|apologised|congratulated|joked|quipped|reiterated|lamented|"
    r"complained|maintained|countered|contended|alleged|answered|called|described"
)
# A name: capitalised words, allowing particles and initials ("Ben Wallace", "Rob Lee",
# "The Moscow Times", "U.K. Defence Secretary Ben Wallace").
NAME = (
    rf"(?:[{UPPER}][\w.'’-]*)(?:\s+(?:(?:of|the|de|van|von|al|bin)\s+)?[{UPPER}][\w.'’-]*){{0,5}}"
)
PRONOUN = r"(?:[Hh]e|[Ss]he|[Tt]hey)"

_QUOTE_CHARS = '"“”'
_QUOTE_MARK = re.compile('["“”]')
_VERB = re.compile(rf"\b(?:{SPEECH_VERBS})\b")
_NAME_RE = re.compile(rf"{NAME}|\b{PRONOUN}\b")
_WHEN = (
    r"(?:on\s+|late\s+|early\s+|this\s+|last\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|"
    r"Saturday|Sunday)(?:\s+(?:morning|afternoon|evening|night))?|in\s+a\s+(?:statement|tweet|"
    r"post|video|interview)|on\s+(?:Twitter|Truth\s+Social|Instagram|Facebook)"
)
# A name after "on", "in", "at" is a time or a place ("Putin on Friday said", "Officials in
# Kyiv said"), not the speaker.
_NOT_SPEAKERS = re.compile(
    rf"(?:\b(?:on|in|at|during|since|until|near)\s+{NAME}|\b(?:Monday|Tuesday|Wednesday|"
    r"Thursday|Friday|Saturday|Sunday))$"
)
# Between a speaker and the verb: nothing, or when or where they said it ("Putin on Friday
# criticized", "McConnell in a statement said"); or, for a name set off by commas ("An expert,
# Rob Lee, told"), a comma; or an appositive ("Lee, an analyst, said"). A name inside the
# appositive ("Terwilliger, an attorney for Meadows, said") is not the speaker.
# Reported speech puts auxiliaries and adverbs there too ("Nair has said", "Okafor had
# previously said", "Berg has repeatedly argued").
_AUX = (
    r"(?:(?:has|have|had|also|previously|repeatedly|long|already|often|publicly|privately|"
    r"earlier|again|once|since|later|then|would|will|could|may|might)\s+){0,3}"
)
_GAP = re.compile(rf"\s*(?:(?:,\s*)?(?:{_WHEN})\s*,?\s*)?{_AUX}")
_COMMA_GAP = re.compile(r"\s*,\s*")
_APPOSITIVE_GAP = re.compile(r"\s*,[^,«»]{0,120},\s*")
_TITLE = "|".join(sorted(TITLES, key=len, reverse=True))
# Inversion after a quote: '"...," said Wallace' (only verbs that invert, not "told"); a title
# or a description in lowercase there is no part of the name ("said councillor Tom Berg",
# "said mission manager Ada Kline", "said the agency's director Ingrid Baum").
_VERB_THEN_NAME = re.compile(
    rf"[,»]\s*,?\s*(?:said|says|added|adds|wrote|continued|explained)\s+"
    rf"(?:(?:{_TITLE}|[a-z][\w'’-]*)\.?,?\s+){{0,4}}(?P<name>{NAME})"
)
_ACCORDING = re.compile(
    rf"\b[Aa]ccording to (?:(?:{_TITLE}|[a-z][\w'’-]*)\.?,?\s+){{0,4}}(?P<name>{NAME})"
)
# A relative clause: "Among them was the music teacher, Gabriel Okonkwo, who said the
# orchestra would not survive".
_WHO_SAID = re.compile(rf"(?P<name>{NAME}),?\s+who\s+{_AUX}(?:{SPEECH_VERBS})\b")
# "McConnell's statement said", "Trump's post read".
_THEIR_WORDS = re.compile(
    rf"(?P<name>{NAME})['’]s (?:\w+ )?(?:statement|post|tweet|message|letter|remarks|speech)"
    r"\s+(?:said|says|read|reads|added|stated|continued)\b"
)
# Verbs that are acts when a thing is all that follows ("Marsh declared a state of emergency",
# "Calder posted a loss"), and speech when words follow: a clause, a colon, a quote, or
# nothing ('"...," Marsh declared'). After "has", "added" is one too ("The Kings have added
# Malik Monk"). On 600 corpus-dev articles these took 'Cincy posted a 6-10 record' and 'The
# Board of Supervisors declared a state of emergency' from the speakers.
_ACT_VERB = re.compile(r"declared|declares|posted|posts|maintained|maintains")
_ACT_AFTER_HAS = re.compile(r"added|adds")
_HAS = re.compile(r"\b(?:has|have|had)\s+(?:\w+ly\s+|also\s+|already\s+)?$")
_WORDS_FOLLOW = re.compile(rf"\s*(?:(?:,\s*)?(?:{_WHEN})\s*,?\s*)?(?:that\b|:|,?\s*«|[,.;!?]?\s*$)")


def _an_act(bare: str, verb: re.Match[str], direct: bool) -> bool:
    """Whether the speech verb is used of an act here ("declared a state of emergency")."""
    word = verb.group(0)
    acting = _ACT_VERB.fullmatch(word) or (
        _ACT_AFTER_HAS.fullmatch(word) and _HAS.search(bare, 0, verb.start())
    )
    return bool(acting) and not direct and not _WORDS_FOLLOW.match(bare, verb.end())


_LEADING = re.compile(r"^(?:The|A|An|On|In|At|But|And|However|Meanwhile|Earlier|Later)\s+")

# Declining to answer: "declined to comment", "did not (immediately) respond to a request for
# comment", "refused to say", "could not be reached". "did not respond" alone is a decline only
# when it ends the sentence or is about a request, so "did not respond to treatment" is not.
_ASKING = (
    r"[^.;]{0,60}?\b(?:comment|request|question|inquir|message|e-?mail|call|voicemail|phone|"
    r"letter|interview)"
)
_DECLINE = re.compile(
    r"\b(?:(?:also|again|repeatedly|previously|has|have|had)\s+)?"
    r"(?:declined|declines|refused|refuses|declining|refusing)\s+"
    r"(?:to\s+(?:comment|say|discuss|answer|elaborate|respond|speak|talk|address|confirm|"
    r"specify|disclose|reveal|detail|name|identify|provide|give)|(?:further\s+)?comment)\b"
    r"|\b(?:did\s+not|didn['’]t|has\s+not|hasn['’]t|have\s+not|haven['’]t|had\s+not|"
    r"would\s+not|wouldn['’]t|could\s+not|couldn['’]t)\s+(?:immediately\s+|yet\s+|directly\s+)?"
    rf"(?:(?:respond|reply|answer)(?=\s*[.;]|\s*$|{_ASKING})|return(?={_ASKING})|comment\b"
    r"|be\s+reached)"
    r"|\bwas\s+not\s+(?:immediately\s+)?available\s+(?:for|to)\s+comment"
)
# Whoever answers for X declines for X: "X's office", "his spokesman", "a lawyer for X" (the
# last is found as the name right before the verb).
_PROXY = re.compile(
    rf"(?:(?P<name>{NAME})['’]s|\b(?P<pron>[Hh]is|[Hh]er|[Tt]heir))\s+(?:\w+\s+)?"
    r"(?:office|spokes(?:man|woman|person|people)|representatives?|reps?|attorneys?|lawyers?|"
    r"campaign|publicist|agent|aides?|team|press secretary)\s*(?:,[^,«»]{0,80},\s*)?$"
)


@dataclass(frozen=True)
class Attribution:
    speaker: str  # as written ("Wallace", "Rob Lee"); "" when nobody speaks
    direct: bool  # the sentence carries the speaker's own words in quotation marks
    inherited: bool = False  # taken from the previous sentence (a pronoun, a running quote)
    declined: bool = False  # the speaker declined to comment or did not respond


NOBODY = Attribution("", False)


def has_quote(sentence: str) -> bool:
    return any(c in sentence for c in _QUOTE_CHARS)


def _quotes(sentence: str, inside: bool = False) -> tuple[str, bool]:
    """The sentence with quoted words blanked out («»), so a name inside a quote is no speaker;
    and whether a quote is still open at its end. `inside`: the sentence starts inside a quote
    (one sentence of a longer quote). A straight quote opens after a space and closes before
    one; a closing quote with none open means the sentence began inside a quote."""
    if not inside and not has_quote(sentence):
        return sentence, False
    out: list[str] = []
    pos, n = 0, len(sentence)
    for m in _QUOTE_MARK.finditer(sentence):
        i, ch = m.start(), m.group(0)
        if not inside:
            out.append(sentence[pos:i])
        pos = i + 1
        if ch == '"':
            before = sentence[i - 1] if i else " "
            after = sentence[i + 1] if i + 1 < n else " "
            opens = before.isspace() or before in "([{—–-:"
            closes = after.isspace() or after in ".,;:!?)]—–-"
            opening = not inside if opens == closes else opens
        else:
            opening = ch == "“"
        if opening:
            inside = True
        elif inside:
            inside = False
            out.append("«»")
        else:
            out = ["«»"]  # what came before was quoted: the quote began in an earlier sentence
    if not inside:
        out.append(sentence[pos:])
    return "".join(out), inside


def _clean(name: str) -> str:
    name = _LEADING.sub("", name.strip())
    return name.strip(" ,.")


def _speaker_before(bare: str, verb_start: int) -> str:
    """The name (or pronoun) nearest before a speech verb, across at most an appositive."""
    names = [
        m
        for m in _NAME_RE.finditer(bare, max(0, verb_start - 160), verb_start)
        if not _NOT_SPEAKERS.search(bare, max(0, m.start() - 8), m.end())
        and (m.group(0).lower() not in _NOT_SUBJECTS or re.fullmatch(PRONOUN, m.group(0)))
    ]
    for m in reversed(names):
        if _GAP.fullmatch(bare, m.end(), verb_start):
            return _clean(m.group(0))
    for m in reversed(names):
        set_off = bare[: m.start()].rstrip()[-1:] in (",", "")  # "An expert, Rob Lee, told"
        if set_off and _COMMA_GAP.fullmatch(bare, m.end(), verb_start):
            return _clean(m.group(0))
    for k in range(len(names) - 1, -1, -1):
        m = names[k]
        if _APPOSITIVE_GAP.fullmatch(bare, m.end(), verb_start):
            if k and (parsed := syntax.speaker_of(bare, verb_start)):
                # Another name before it: the parse tells whose appositive holds which
                # ("Kara Whitfield, a lawyer for the Alliance, which brought the case, called").
                return _clean(parsed)
            return _clean(m.group(0))
    return ""


def _decliner(bare: str) -> str:
    """Who declines to comment in this sentence, or ''."""
    m = _DECLINE.search(bare)
    if not m:
        return ""
    proxy = _PROXY.search(bare, max(0, m.start() - 160), m.start())
    if proxy and proxy.group("pron"):
        who = {"his": "he", "her": "she", "their": "they"}[proxy.group("pron").lower()]
    elif proxy:
        who = _clean(proxy.group("name"))
    else:
        who = _speaker_before(bare, m.start())
    if re.fullmatch(PRONOUN, who):
        # "Kelly said ..., but he declined to say": the pronoun is the speaker named before.
        for verb in _VERB.finditer(bare, 0, m.start()):
            name = _speaker_before(bare, verb.start())
            if name and not re.fullmatch(PRONOUN, name):
                return name
    return who


def attribute(sentence: str, inside: bool = False) -> Attribution:
    """The speaker named in this sentence, if any. `inside`: it starts inside a quote."""
    return _attribute(_quotes(sentence, inside)[0], inside or has_quote(sentence))


def _attribute(bare: str, direct: bool) -> Attribution:
    declined = _decliner(bare)
    if declined:
        return Attribution(declined, direct, declined=True)
    for verb in _VERB.finditer(bare):
        if _an_act(bare, verb, direct):
            continue  # "Marsh declared a state of emergency": an act, not words
        name = _speaker_before(bare, verb.start())
        if name:
            return Attribution(name, direct)
    # "Kraft paid his respects, saying ...": the sentence's subject speaks.
    if _SAYING.search(bare) and (subject := _SUBJECT.match(bare)):
        name = _clean(subject.group("name"))
        if name and name.split()[0].lower() not in _NOT_SUBJECTS | OPENERS:
            return Attribution(name, direct)
    # The reporter's source comes last: in '"...," Coe said, according to the Times', Coe
    # speaks.
    for pattern in (_VERB_THEN_NAME, _THEIR_WORDS, _WHO_SAID, _ACCORDING):
        m = pattern.search(bare)
        if m and _clean(m.group("name")) and not _NOT_SPEAKERS.search(bare, 0, m.end()):
            return Attribution(_clean(m.group("name")), direct)
    return NOBODY


# Capitalised words that start a sentence without naming anyone who could be "he" or "she".
_NOT_SUBJECTS = frozenset(
    """the a an it its this that these those there here we i you they he she his her their
    our my what when where why how who which if as after before while since so yet still
    now then also some many most all both each other another no one two three four five
    six seven eight nine ten in on at for with by from to of but and or however meanwhile
    earlier later today yesterday monday tuesday wednesday thursday friday saturday sunday
    although though whether because unless once until despite like unlike according
    amid""".split()
)
# A person who starts a sentence as its subject ("Mitch McConnell released a statement."),
# not an epithet or an institution ("The Wyoming Republican lost", "The FBI searched").
_SUBJECT = re.compile(
    rf"^\W*(?:{NAME}\s+(?:owner|coach|chief|president|spokes\w+|director|secretary|minister|"
    r"leader|attorney|lawyer|ceo|founder|chairman|chairwoman|star|player|manager)\s+)?"
    rf"(?P<name>{NAME})(?:,[^,«»]{{0,80}},)?\s+(?:[a-z]+ly\s+)?[a-z]"
)
_SAYING = re.compile(r",\s+(?:saying|adding|writing|noting|telling|arguing|calling|tweeting)\b")


def _subject(bare: str, surnames: set[str]) -> str:
    """The person a sentence of the story starts with as its subject: a full name ('Mitch
    McConnell released a statement'), or a surname already used for someone ('Cheney lost')."""
    if len(bare.split()) < 6 or bare.rstrip(" «»'’)")[-1:] not in ".!?":
        return ""  # a headline or a caption, not a sentence of the story
    m = _SUBJECT.match(bare)
    if not m:
        return ""
    name = _clean(m.group("name"))
    first = re.split(r"['’]", name.split()[0].lower().strip(".,"))[0] if name else ""
    if (
        not name
        or first in _NOT_SUBJECTS | OPENERS
        or name.endswith(("'s", "’s"))
        or re.search(r"-[a-z]|\s[a-z]", name)  # "Never-before-seen", "Over the July Fourth"
    ):
        return ""
    words = name_words(name)
    if 2 <= len(words) <= 4 or (len(words) == 1 and words[0] in surnames):
        return name
    return ""


def _headline_subject(headline: str) -> str:
    """The person a headline starts with, named in full ('Tom Brady announces ...')."""
    m = _SUBJECT.match(headline)
    name = _clean(m.group("name")) if m else ""
    return name if 2 <= len(name_words(name)) <= 4 and "'" not in name else ""


def attribute_all(
    sentences: list[str], paragraph_starts: list[bool], headline: str = ""
) -> list[Attribution]:
    """Attribute each sentence in its context. 'He' or 'she' stands for the person last named
    as a speaker or as a sentence's subject (before anyone is, the person the headline starts
    with: "Tom Brady announces ..." then "The 44-year-old ... '...,' he said"), 'they' for the
    last speaker. A quoted sentence with no speaker of its own is the speaker's who closes the
    quote later in the paragraph ('"They care about the bottom line. They care about money,"
    said Buzbee.'), else the last speaker's in the paragraph, or in the paragraph before when
    that ended in their quote."""
    raw: list[Attribution] = []
    bares: list[str] = []
    quoted: list[bool] = []  # the sentence starts inside a quote or with one
    # A paragraph that opens with a quote mark while the one before ended inside a quote goes
    # on with that quote (news style leaves the first paragraph's quote open).
    runs_on: list[bool] = []
    inside = False
    for sent, new_para in zip(sentences, paragraph_starts, strict=True):
        runs_on.append(new_para and inside and sent.lstrip()[:1] in _QUOTE_CHARS)
        inside = inside and not new_para  # a new paragraph reopens a continuing quote itself
        bare, after = _quotes(sent, inside)
        raw.append(_attribute(bare, inside or has_quote(sent)))
        bares.append(bare)
        quoted.append(inside or sent.lstrip()[:1] in _QUOTE_CHARS)
        inside = after
    # Parsed together, sentences cost 1.4 ms each rather than 3.4 ms one at a time: those the
    # loop below will likely ask about (no speaker of their own, no subject the patterns see).
    syntax.parse_subjects(
        [
            b
            for k, b in enumerate(bares)
            if not raw[k].speaker and _unsure_subject(k, raw, bares) and not _subject(b, set())
        ]
    )
    labels = _transcript_labels(sentences, paragraph_starts)
    out: list[Attribution] = []
    last = ""  # the last speaker
    label = ""  # the speaker an interview's paragraph is labelled with ("Errázuriz: ...")
    person = _headline_subject(headline)  # the last person named as a speaker or a subject
    surnames: set[str] = set()  # of the people named so far
    gender: dict[str, int] = {}  # surname -> 'he' minus 'she' in the sentences naming them
    for k, new_para in enumerate(paragraph_starts):
        a = raw[k]
        prev = out[-1] if out else NOBODY
        if new_para:
            label = labels.get(k, "")
        if label and not a.speaker:
            # A transcript's answer: the whole paragraph is the labelled speaker's own words.
            a = Attribution(label, True, inherited=k not in labels)
        if not a.speaker and quoted[k]:
            a = _quote_speaker(k, raw, quoted, paragraph_starts, runs_on)
            if not a.speaker and prev.speaker and (not new_para or prev.direct):
                a = Attribution(prev.speaker, True, inherited=True)  # a quote running on
        named = bool(raw[k].speaker) and not re.fullmatch(PRONOUN, raw[k].speaker)
        if re.fullmatch(PRONOUN, a.speaker):
            pron = a.speaker.lower()
            who = last if pron == "they" else person
            # 'she said' after a man was named is someone else's words (an unnamed speaker)
            votes = gender.get((name_words(who) or [""])[-1], 0)
            if (pron == "he" and votes < 0) or (pron == "she" and votes > 0):
                who = ""
            elif who and pron != "they":  # the pronoun itself tells who they are
                key = (name_words(who) or [""])[-1]
                gender[key] = gender.get(key, 0) + (1 if pron == "he" else -1)
            a = replace(a, speaker=who, inherited=True) if who else NOBODY
        if a.speaker:
            last = person = a.speaker
        elif subject := _subject(bares[k], surnames) or _parsed_subject(k, raw, bares):
            person, named = subject, True
        key = (name_words(person) or [""])[-1]
        if key:
            surnames.add(key)
        if key and named:  # "Brady confirmed the news ... in his announcement"
            votes = len(_HIS.findall(bares[k])) - len(_HER.findall(bares[k]))
            gender[key] = gender.get(key, 0) + votes
        out.append(a)
    return out


# A paragraph of an interview or a transcript opens with who speaks: "Errázuriz: Some of
# them, probably, yes." A name of one to four capitalised words, then a colon.
_LABEL = re.compile(rf"^\s*(?P<name>{NAME})\s*:\s+\S")


def _transcript_labels(sentences: list[str], paragraph_starts: list[bool]) -> dict[int, str]:
    """The paragraphs (by first sentence) that open with a speaker's label. Only labels that
    open two paragraphs or more count: a transcript names its speakers again and again, while
    "Update:" or "Correction:" opens one paragraph once."""
    found: dict[int, str] = {}
    for k, (sent, new_para) in enumerate(zip(sentences, paragraph_starts, strict=True)):
        if new_para and (m := _LABEL.match(sent)) and 1 <= len(m.group("name").split()) <= 4:
            found[k] = _clean(m.group("name"))
    counts: dict[str, int] = {}
    for name in found.values():
        counts[name] = counts.get(name, 0) + 1
    return {k: name for k, name in found.items() if counts[name] >= 2}


# A name past a sentence's first words, followed by what it does ("At the shelter, Maria
# Delgado sat") or by a description ("Among them was Eileen Mørch, a retired teacher").
_NAME_INSIDE = re.compile(
    rf"(?:\b[a-z][\w'’-]*[,;]?|,)\s+(?:{NAME})(?:\s+[a-z]|,\s+(?:a|an|the)\s)"
)
# How far a 'he' or 'she' may follow the sentence that names its person: a paragraph of two
# sentences, then a quote of up to three that ends on "she said" (news style).
_PRONOUN_REACH = 5


def _unsure_subject(k: int, raw: list[Attribution], bares: list[str]) -> bool:
    """Whether sentence k's subject is worth a parse: the next speaker, within _PRONOUN_REACH
    sentences, is 'he' or 'she' (the only time it matters), and sentence k names someone past
    its first words."""
    nxt = next((a.speaker.lower() for a in raw[k + 1 : k + 1 + _PRONOUN_REACH] if a.speaker), "")
    bare = bares[k]
    return (
        nxt in ("he", "she")
        and bool(_NAME_INSIDE.search(bare))  # else the patterns have read it already
        and len(bare.split()) >= 6
        and bare.rstrip(" «»'’)")[-1:] in ".!?"  # not a headline or a caption
    )


def _parsed_subject(k: int, raw: list[Attribution], bares: list[str]) -> str:
    """The person sentence k is about, read from its parse, when that is worth a parse."""
    if not _unsure_subject(k, raw, bares):
        return ""
    return syntax.person_subject(bares[k]) or ""


# A sentence's possessives and reflexives are mostly its subject's.
_HIS = re.compile(r"\b(?:[Hh]is|[Hh]imself)\b")
_HER = re.compile(r"\b(?:[Hh]er|[Hh]erself)\b")


def _quote_speaker(
    k: int,
    raw: list[Attribution],
    quoted: list[bool],
    paragraph_starts: list[bool],
    runs_on: list[bool],
) -> Attribution:
    """The speaker of quoted sentence k named later in the same quote: in the same paragraph,
    or in the next ones while the quote runs on into them."""
    for j in range(k + 1, len(raw)):
        if (paragraph_starts[j] and not runs_on[j]) or not quoted[j]:
            break
        if raw[j].speaker:
            return Attribution(raw[j].speaker, True, inherited=True)
    return NOBODY
