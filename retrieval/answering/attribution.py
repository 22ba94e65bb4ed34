"""Attribution in three parts, each its own module: who said a sentence (`speech`, with
spaCy's parse where its patterns are unsure, `syntax`), the people an article names (`people`,
with the words of names in `names`), and whom a question asks about (`asked`). The names
other modules import from here stay here."""

from retrieval.answering.asked import asked_speaker, asked_words_of
from retrieval.answering.names import TITLES, fold, name_words, same_speaker
from retrieval.answering.people import Cast, Mention, People
from retrieval.answering.speech import (
    NAME,
    NOBODY,
    PRONOUN,
    SPEECH_VERBS,
    Attribution,
    attribute,
    attribute_all,
    has_quote,
)

__all__ = [
    "NAME",
    "NOBODY",
    "PRONOUN",
    "SPEECH_VERBS",
    "TITLES",
    "Attribution",
    "Cast",
    "Mention",
    "People",
    "asked_speaker",
    "asked_words_of",
    "attribute",
    "attribute_all",
    "fold",
    "has_quote",
    "name_words",
    "same_speaker",
]
