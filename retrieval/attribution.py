"""Who said a sentence: direct quotes with a speech verb naming the speaker, reported speech,
"according to X", and quotes or pronouns that continue the previous speaker."""

from __future__ import annotations

import re
from dataclasses import dataclass

SPEECH_VERBS = (
    r"said|says|say|told|tells|added|adds|stated|states|warned|warns|explained|explains|noted|"
    r"notes|argued|argues|claimed|claims|insisted|insists|announced|announces|wrote|writes|"
    r"asserted|asserts|declared|declares|remarked|acknowledged|acknowledges|admitted|admits|"
    r"stressed|stresses|emphasized|emphasised|recalled|replied|responded|continued|urged|"
    r"suggested|suggests|predicted|tweeted|confirmed|confirms|denied|denies"
)
# A name: capitalised words, allowing particles and initials ("Ben Wallace", "Rob Lee",
# "The Moscow Times", "U.K. Defence Secretary Ben Wallace").
NAME = r"(?:[A-Z][\w.'’-]*)(?:\s+(?:(?:of|the|de|van|von|al|bin)\s+)?[A-Z][\w.'’-]*){0,5}"
PRONOUN = r"(?:[Hh]e|[Ss]he|[Tt]hey)"

_QUOTE_CHARS = '"“”'
_VERB = re.compile(rf"\b(?:{SPEECH_VERBS})\b")
_NAME_RE = re.compile(rf"{NAME}|\b{PRONOUN}\b")
# Between a speaker and the verb: nothing, a comma, or an appositive ("Lee, an analyst, said").
_GAP = re.compile(r"\s*,?\s*")
_APPOSITIVE_GAP = re.compile(r"\s*,[^,«»]{0,80},\s*")
# Inversion after a quote: '"...," said Wallace' (only verbs that invert, not "told").
_VERB_THEN_NAME = re.compile(
    rf"[,»]\s*,?\s*(?:said|says|added|adds|wrote|continued|explained)\s+(?P<name>{NAME})"
)
_ACCORDING = re.compile(rf"\b[Aa]ccording to (?:the )?(?P<name>{NAME})")
_LEADING = re.compile(r"^(?:The|A|An|On|In|At|But|And|However|Meanwhile|Earlier|Later)\s+")


@dataclass(frozen=True)
class Attribution:
    speaker: str  # as written ("Wallace", "Rob Lee"); "" when nobody speaks
    direct: bool  # the sentence carries the speaker's own words in quotation marks
    inherited: bool = False  # taken from the previous sentence (a pronoun, a running quote)


NOBODY = Attribution("", False)


def has_quote(sentence: str) -> bool:
    return any(c in sentence for c in _QUOTE_CHARS)


def _outside_quotes(sentence: str) -> str:
    """The sentence with quoted material blanked out, so a name inside a quote is no speaker."""
    out, inside = [], False
    for ch in sentence:
        if ch in _QUOTE_CHARS:
            was = inside
            inside = not inside if ch == '"' else ch == "“"
            if was and not inside:
                out.append("«»")
        elif not inside:
            out.append(ch)
    return "".join(out)


def _clean(name: str) -> str:
    name = _LEADING.sub("", name.strip())
    return name.strip(" ,.")


def _speaker_before(bare: str, verb_start: int) -> str:
    """The name (or pronoun) nearest before a speech verb, across at most an appositive."""
    names = list(_NAME_RE.finditer(bare, max(0, verb_start - 160), verb_start))
    for gap in (_GAP, _APPOSITIVE_GAP):
        for m in reversed(names):
            if gap.fullmatch(bare, m.end(), verb_start):
                return _clean(m.group(0))
    return ""


def attribute(sentence: str) -> Attribution:
    """The speaker named in this sentence, if any."""
    bare = _outside_quotes(sentence)
    direct = has_quote(sentence)
    m = _ACCORDING.search(bare)
    if m and _clean(m.group("name")):
        return Attribution(_clean(m.group("name")), direct)
    for verb in _VERB.finditer(bare):
        name = _speaker_before(bare, verb.start())
        if name:
            return Attribution(name, direct)
    m = _VERB_THEN_NAME.search(bare)
    if m and _clean(m.group("name")):
        return Attribution(_clean(m.group("name")), direct)
    return NOBODY


def attribute_all(sentences: list[str], paragraph_starts: list[bool]) -> list[Attribution]:
    """Attribute each sentence, resolving pronouns and running quotes to the previous speaker."""
    out: list[Attribution] = []
    last = ""
    for sent, new_para in zip(sentences, paragraph_starts, strict=True):
        a = attribute(sent)
        if re.fullmatch(PRONOUN, a.speaker):
            a = Attribution(last, a.direct, inherited=True) if last else NOBODY
        elif not a.speaker and not new_para and last and sent.lstrip()[:1] in '"“':
            a = Attribution(last, True, inherited=True)  # a quote running on from the last one
        if a.speaker:
            last = a.speaker
        out.append(a)
    return out


def same_speaker(asked: str, speaker: str) -> bool:
    """'Wallace' matches 'Ben Wallace' and 'Defence Secretary Ben Wallace'; not 'Lee Smith'."""
    a = [w for w in re.findall(r"[\w'’]+", asked.lower()) if w not in {"the", "mr", "ms", "mrs"}]
    s = [w for w in re.findall(r"[\w'’]+", speaker.lower()) if w not in {"the", "mr", "ms", "mrs"}]
    if not a or not s:
        return False
    # The asked name's last word is the surname; it must be the speaker's last word. When the
    # text names the speaker fully, the asked name's other words must be in it too.
    return a[-1] == s[-1] and (len(s) == 1 or all(w in s for w in a[:-1]))


_ASKED = [
    re.compile(
        rf"\b(?i:what) (?i:did|does|has|had|do|have|will|would) (?P<name>{NAME}) "
        r"(?i:say|said|tell|told|claim|announce|warn|write|argue|state|mean|add|reply)\b"
    ),
    re.compile(rf"\b(?i:how did) (?P<name>{NAME}) (?i:respond|react|reply|explain)\b"),
    re.compile(rf"\b(?i:according to) (?P<name>{NAME})"),
    re.compile(rf"\b(?P<name>{NAME})['’]s? (?i:comments?|remarks?|statements?|words|quotes?)\b"),
]


_ASKED_PRONOUN = re.compile(
    r"\b(?i:what) (?i:did|does|has|had) (?i:he|she|they) (?i:say|said|tell|told|add|mean)\b"
)


def asked_speaker(question: str, context: str = "") -> str:
    """The person a question asks about the words of, or ''. In a follow-up ("and what did he
    say about Belarus?"), a pronoun stands for the speaker of the earlier question."""
    q = question.strip()
    for pattern in _ASKED:
        m = pattern.search(q)
        if m:
            name = _clean(m.group("name"))
            if name and name.lower() not in {"i", "you", "we", "it", "they", "he", "she"}:
                return name
    if context and _ASKED_PRONOUN.search(q):
        return asked_speaker(context)
    return ""
