"""Who said a sentence: direct quotes with a speech verb naming the speaker, reported speech,
"according to X", declines to comment, and quotes or pronouns that continue the previous
speaker. Also: which person a question asks about the words of, and whether a sentence's
speaker is that person, with names matched the way people type them ("mcconnell", "tedros",
"serena") against the people each article names in full."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

from retrieval.answering import syntax

SPEECH_VERBS = (
    r"said|says|say|told|tells|added|adds|stated|states|warned|warns|explained|explains|noted|"
    r"notes|argued|argues|claimed|claims|insisted|insists|announced|announces|wrote|writes|"
    r"asserted|asserts|declared|declares|remarked|acknowledged|acknowledges|admitted|admits|"
    r"stressed|stresses|emphasized|emphasised|recalled|replied|responded|continued|urged|"
    r"suggested|suggests|predicted|tweeted|tweets|confirmed|confirms|denied|denies|posted|posts|"
    r"testified|conceded|vowed|pledged|promised|praised|criticized|criticised|slammed|blasted|"
    r"accused|thanked|apologized|apologised|congratulated|joked|quipped|reiterated|lamented|"
    r"complained|maintained|countered|contended|alleged|answered|called|described"
)
# A name: capitalised words, allowing particles and initials ("Ben Wallace", "Rob Lee",
# "The Moscow Times", "U.K. Defence Secretary Ben Wallace").
UPPER = "A-ZÀ-ÖØ-Þ"  # capitals, with Latin-1's accented ones ("Ángel", "Émilie")
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
_TITLE = "|".join(sorted(TITLES, key=len, reverse=True))
# Inversion after a quote: '"...," said Wallace' (only verbs that invert, not "told"); a title
# in lowercase there is no part of the name ("said councillor Tom Berg").
_VERB_THEN_NAME = re.compile(
    rf"[,»]\s*,?\s*(?:said|says|added|adds|wrote|continued|explained)\s+"
    rf"(?:(?:{_TITLE})\.?\s+){{0,3}}(?P<name>{NAME})"
)
_ACCORDING = re.compile(rf"\b[Aa]ccording to (?:the )?(?P<name>{NAME})")
# "McConnell's statement said", "Trump's post read".
_THEIR_WORDS = re.compile(
    rf"(?P<name>{NAME})['’]s (?:\w+ )?(?:statement|post|tweet|message|letter|remarks|speech)"
    r"\s+(?:said|says|read|reads|added|stated|continued)\b"
)
# Verbs that are acts when a thing is all that follows ("Marsh declared a state of emergency",
# "Calder posted a loss"), and speech when words follow: a clause, a colon, a quote, or
# nothing ('"...," Marsh declared').
_ACT_VERB = re.compile(r"declared|declares|posted|posts")
_WORDS_FOLLOW = re.compile(rf"\s*(?:(?:,\s*)?(?:{_WHEN})\s*,?\s*)?(?:that\b|:|«|[,.;!?]?\s*$)")
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
        if (
            _ACT_VERB.fullmatch(verb.group(0))
            and not direct
            and not _WORDS_FOLLOW.match(bare, verb.end())
        ):
            continue  # "Marsh declared a state of emergency": an act, not words
        name = _speaker_before(bare, verb.start())
        if name:
            return Attribution(name, direct)
    # "Kraft paid his respects, saying ...": the sentence's subject speaks.
    if _SAYING.search(bare) and (subject := _SUBJECT.match(bare)):
        name = _clean(subject.group("name"))
        if name and name.split()[0].lower() not in _NOT_SUBJECTS | _OPENERS:
            return Attribution(name, direct)
    # The reporter's source comes last: in '"...," Coe said, according to the Times', Coe
    # speaks.
    for pattern in (_VERB_THEN_NAME, _THEIR_WORDS, _ACCORDING):
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
        or first in _NOT_SUBJECTS | _OPENERS
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
    out: list[Attribution] = []
    last = ""  # the last speaker
    person = _headline_subject(headline)  # the last person named as a speaker or a subject
    surnames: set[str] = set()  # of the people named so far
    gender: dict[str, int] = {}  # surname -> 'he' minus 'she' in the sentences naming them
    for k, new_para in enumerate(paragraph_starts):
        a = raw[k]
        prev = out[-1] if out else NOBODY
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


def _parsed_subject(k: int, raw: list[Attribution], bares: list[str]) -> str:
    """The person sentence k is about, read from its parse, when the next sentence's speaker
    is 'he' or 'she' (the only time it matters, so the only time it is parsed)."""
    nxt = raw[k + 1].speaker.lower() if k + 1 < len(raw) else ""
    if nxt not in ("he", "she") or len(bares[k].split()) < 4:
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


_ROLES = (TITLES - {"mr", "mrs", "ms", "miss", "dr", "sir", "dame", "former", "late"}) | {
    "spokesperson",
    "lawyer",
    "head",
    "official",
}
_SUFFIXES = frozenset(
    "jr sr ii iii monday tuesday wednesday thursday friday saturday sunday".split()
)
_OPENERS = frozenset(
    """the a an but and when after before while if as in on at for with by from to of
    however meanwhile earlier later then so since because although though yet also this that
    these those his her their its our my dear another every each some any no other both what
    who why how where""".split()
)


def fold(text: str) -> str:
    """`text` without its accents, so that "Errázuriz", "Errazuriz" and "errazuriz" are one
    name: Unicode's compatibility decomposition, less the combining marks."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _words(name: str) -> list[str]:
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
    words = _words(name)
    while words and words[0] in _OPENERS:
        words = words[1:]
    titled = [k for k, w in enumerate(words) if w in TITLES]
    if titled and titled[-1] + 1 < len(words):
        words = words[titled[-1] + 1 :]
    while words and words[-1] in _SUFFIXES:
        words = words[:-1]
    return words


def _fits(small: list[str], big: list[str], given: bool = True) -> bool:
    """`small` names the same person as `big`: its words are big's, ending with big's surname
    or (`given`) starting with its given name ('McConnell', 'Tedros' in 'Tedros Adhanom
    Ghebreyesus')."""
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
    return _fits(a, s) or _fits(s, a)


# A person named in full: two or more capitalised words on one line.
_CAP = rf"[{UPPER}][\w'’.-]*"
_RUN = re.compile(rf"{_CAP}(?:[ \t]+(?:(?:de|van|von|al|bin|da|del|di|le|la|du)[ \t]+)?{_CAP})+")
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


class Cast:
    """The people one article names in full, and where; and the words it uses in lowercase
    (ordinary words, not names). Resolves 'McConnell' to the Mitch McConnell named before."""

    def __init__(self, pieces: Iterable[tuple[int, str]]) -> None:
        """`pieces`: (offset in the article, text) of its parts, e.g. its chunks."""
        seen: dict[int, Mention] = {}
        self.ordinary: set[str] = set()
        for base, text in pieces:
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
                        seen[base + at] = Mention(base + at, words, name, _role_of(lead))
        self.mentions = sorted(seen.values(), key=lambda m: m.at)
        self._fitting: dict[tuple[str, ...], list[Mention]] = {}

    def people(self, asked: list[str]) -> list[Mention]:
        """The mentions of people `asked` may name: by surname when any fits, else by given
        name ('Trump' is Donald Trump before it is the Trump Organization)."""
        key = tuple(asked)
        if key not in self._fitting:
            by_surname = [m for m in self.mentions if _fits(asked, list(m.words), given=False)]
            self._fitting[key] = by_surname or [
                m for m in self.mentions if _fits(asked, list(m.words))
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
                persons = _distinct(mentions)
                return persons[0].name if len(persons) == 1 else speaker
        return speaker


def _distinct(mentions: list[Mention]) -> list[Mention]:
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
        word = _role_word(tok)
        # A capitalised word, a role, or a lowercase word before a role ("press secretary").
        if not (tok[0].isupper() or word in _ROLES or (role and role[-1] in _ROLES)):
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
            part[0][1].lower().strip(".,") in _OPENERS | TITLES or _ACRONYM.fullmatch(part[0][1])
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

    def said_by(self, asked: str, article: int, at: int, attribution: Attribution) -> bool:
        """Whether the sentence at `at` of `article` is `asked`'s words (or decline)."""
        if not attribution.speaker:
            return False
        return same_speaker(asked, self.cast(article).resolve(attribution.speaker, at))


# --- Which person a question asks about the words of --------------------------------------

# Words that never sit inside a name slot of a question.
_STOP = (
    r"what|why|how|when|where|which|whom|whose|did|does|do|has|have|had|is|are|was|were|be|"
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
    r"announcement|interview|views?|stance|position"
)
_ASKED = [
    re.compile(
        rf"\bwhat\s+(?:did|does|has|had|do|have|will|would|is|was|were|are)\s+{_SLOT}\s+"
        r"(?:say|said|saying|says|tell|told|telling|claim|claimed|announce|announced|warn|"
        r"warned|write|wrote|writing|argue|argued|state|stated|mean|meant|add|added|reply|"
        r"replied|post|posted|posting|tweet|tweeted|tweeting|respond|responded|think|thought|"
        r"testify|testified|have\s+to\s+say)\b",
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
    if any(_POSSESSIVE.search(w) for w in words[:-1]):
        return ""  # "amazon's spokesperson": a role (see _slot_role)
    words = words[:-1] + [_POSSESSIVE.sub("", words[-1])] if words else words
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


_POSSESSIVE = re.compile(r"'s?$")
# Words for one role written several ways.
_ROLE_WORDS = {
    "spokesman": "spokesperson",
    "spokeswoman": "spokesperson",
    "attorney": "lawyer",
    "defence": "defense",
    "chief": "head",
    "director-general": "head",
}


def _role_word(word: str) -> str:
    word = _POSSESSIVE.sub("", word.lower().strip(".,"))
    return _ROLE_WORDS.get(word, word)


def _slot_role(slot: str) -> tuple[str, tuple[str, ...]] | None:
    """A role a slot names, as (whose, role words): "amazon's spokesperson" -> ("amazon",
    ("spokesperson",)), "the fbi director" -> ("", ("fbi", "director")); None for no role."""
    words = slot.replace("’", "'").lower().split()
    if words and words[0] in {"the", "a", "an", "this", "that"}:
        words = words[1:]
    org = ""
    owner = [k for k, w in enumerate(words[:-1]) if _POSSESSIVE.search(w)]
    if owner:
        org, words = _role_word(words[owner[-1]]), words[owner[-1] + 1 :]
    role = tuple(_role_word(w) for w in words)
    if not role or not 1 <= len(role) <= 4 or role[-1] not in _ROLES:
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
    persons = _distinct(holders)
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
    persons = _distinct(fitting)
    if len(persons) == 1:
        return persons[0].name
    if not fitting and casts and all(any(w in c.ordinary for c in casts) for w in words):
        return ""
    return _display(name)


def _person_in(text: str, people: Iterable[Cast]) -> str:
    """The first person of the articles named in `text` (any case), or ''."""
    casts = list(people)
    words = _words(text)
    for k in range(len(words)):
        for n in (4, 3, 2, 1):
            phrase = words[k : k + n]
            if len(phrase) < n or any(w in TITLES or w in _OPENERS for w in phrase):
                continue
            if n == 1 and any(phrase[0] in c.ordinary for c in casts):
                continue  # "will" alone is a word; "will smith" is a name
            if any(c.people(phrase) for c in casts):
                return _confirm(" ".join(phrase), casts)
    return ""


# Words of speaking, for questions of no usual shape ("whats okafor saying", "nair said what
# about...", "how did okafor describe margins", "anything from okafor on margins").
_SPEAKING = re.compile(
    r"\b(?:say|says|said|saying|tell|tells|told|telling|comment|comments|commented|react|"
    r"reacts|reacted|reacting|respond|responds|responded|reply|replied|describe|describes|"
    r"described|describing|think|thinks|thought|claim|claims|claimed|argue|argues|argued|"
    r"warn|warns|warned|explain|explains|explained|announce|announced|speak|spoke|talk|talks|"
    r"talked|talking|mean|meant)\b|(?P<from>\b(?:anything|something|word|news|quotes?|"
    r"comments?)\s+from\b)",
    re.I,
)


def _speaking_person(q: str, people: Iterable[Cast]) -> str:
    """The person of the articles who speaks in a question of no usual shape: named in the
    few words before a word of speaking, or right after "anything from"; '' when a person is
    only talked about ("what was said about okafor's margins")."""
    for m in _SPEAKING.finditer(q):
        if m.group("from"):
            name = _person_in(" ".join(q[m.end() :].split()[:4]), people)
        else:
            name = _person_in(" ".join(q[: m.start()].split()[-4:]), people)
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
