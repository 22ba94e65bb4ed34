"""What sentence selection and the answerability score read off a question and a sentence.

Every feature is a property of the question, the sentence and its article alone: word weights
come from a fixed background (English word frequencies, `wordfreq`), not from what else is
indexed, and similarity is a cosine, so a question about the one article indexed scores that
article's sentences as it would among a million others.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from anyascii import anyascii

from retrieval.index.lexical import STOPWORDS


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Snowball's English stemmer (Porter 2): "sidelining" and "sideline", "fined" and
    "fine" meet."""
    return str(_stemmer().stemWord(word))


# Words that ask for someone's words or name the time asked about, not the subject: "what did
# X say about ... yesterday", "how many ... did they win".
ASKING = frozenset(
    stem(w)
    for w in (
        "approximately roughly about many much say said says tell told comment comments "
        "commented statement statements reaction react reacted respond responded response "
        "remarks think thought thinks view views word words quote quotes announce announced "
        "speech yesterday today tonight week weekend month year recently recent latest last ago "
        "happened happen happening news update updates know anything whats what's going"
    ).split()
)

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _plain(ch: re.Match[str]) -> str:
    c = ch.group(0)
    if unicodedata.combining(c):
        return ""  # an accent, decomposed off its letter
    return anyascii(c).lower() if c.isalpha() else c


def fold(text: str) -> str:
    """Lowercase without accents: "Errázuriz" and "errazuriz", "Mørch" and "morch" are one
    name (anyascii transliterates what has no decomposition; quotes stay as they are). Only
    the characters outside ASCII are looked at one by one (an article's text is mostly
    ASCII)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return decomposed if decomposed.isascii() else _NON_ASCII.sub(_plain, decomposed)


@lru_cache(maxsize=100_000)
def _words(text: str) -> tuple[str, ...]:
    out: list[str] = []
    for w in _WORD.findall(fold(text)):
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        if w and w not in STOPWORDS:
            out.append(w)
    return tuple(out)


def content_words(text: str) -> tuple[str, ...]:
    """The text's words, folded, without stop words, in order."""
    return _words(text)


@lru_cache(maxsize=50_000)
def stems_of(text: str) -> frozenset[str]:
    """The stems of the text's content words (cached: an article's text is read for several
    features and several questions)."""
    return frozenset(stem(w) for w in _words(text))


@lru_cache(maxsize=20_000)
def _distinct(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(_words(text)))


@lru_cache(maxsize=100_000)
def weight(word: str) -> float:
    """How much a word tells, from how often English uses it (wordfreq's Zipf scale: 'the' is
    about 7.7, 'glacier' 3.3, a name no list has 0): 8 minus that, at least 0.5. Fixed, so
    the same question weighs its words the same on any index."""
    from wordfreq import zipf_frequency

    return max(0.5, 8.0 - zipf_frequency(word, "en"))


Vectors = Callable[[Sequence[str]], np.ndarray]


class WordMatcher:
    """Static word vectors (the embedding model's own, see NumpyEncoder.word_vectors), cached
    per word; without them, words match only when their stems are equal."""

    def __init__(self, vectors: Vectors | None) -> None:
        self._vectors = vectors
        self._cache: dict[str, np.ndarray] = {}
        self._matrices: dict[tuple[str, ...], np.ndarray | None] = {}

    def vectors(self, words: Sequence[str]) -> np.ndarray | None:
        if self._vectors is None:
            return None
        missing = [w for w in dict.fromkeys(words) if w not in self._cache]
        if missing:
            if len(self._cache) > 200_000:
                self._cache.clear()
            for w, v in zip(missing, self._vectors(missing), strict=True):
                self._cache[w] = v
        if not words:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._cache[w] for w in words])

    def matrix(self, words: tuple[str, ...]) -> np.ndarray | None:
        """`vectors(words)`, kept for the last texts read (an article is read for several
        features, and by several questions)."""
        if self._vectors is None:
            return None
        m = self._matrices.get(words)
        if m is None:
            if len(self._matrices) > 2_000:
                self._matrices.clear()
            m = self._matrices[words] = self.vectors(words)
        return m


# Below this cosine two static word vectors are unrelated (random pairs of words score about
# -0.05 to 0.1 with MiniLM's input embeddings; related ones 0.2 to 0.8).
SOFT_FLOOR = 0.15


@dataclass(frozen=True)
class Subject:
    """The words of a question that name what it is about, with their weights."""

    words: tuple[str, ...]
    stems: tuple[str, ...]
    weights: np.ndarray
    vectors: np.ndarray | None

    @property
    def total(self) -> float:
        return float(self.weights.sum())

    def exact(self, text: str) -> float:
        """Share of the subject's weight whose words (by stem) the text holds."""
        if not self.words:
            return 0.0
        held = stems_of(text)
        hit = np.array([s in held for s in self.stems], dtype=np.float32)
        return float(hit @ self.weights / self.total)

    def soft(self, text: str, matcher: WordMatcher) -> float:
        """Like `exact`, but a word the text doesn't hold counts as much as its closest word
        in the text resembles it (0 below SOFT_FLOOR): "factory" finds "plant"."""
        if not self.words:
            return 0.0
        words = _distinct(text)  # each word once: the best match is all that counts
        held = stems_of(text)
        best = np.array([1.0 if s in held else 0.0 for s in self.stems], dtype=np.float32)
        if self.vectors is not None and words and best.min() < 1.0:
            other = matcher.matrix(words)
            assert other is not None
            sims = (self.vectors @ other.T).max(axis=1)
            sims = np.clip((sims - SOFT_FLOOR) / (1 - SOFT_FLOOR), 0.0, 1.0)
            best = np.maximum(best, sims)
        return float(best @ self.weights / self.total)

    def beyond(self, text: str) -> Subject | None:
        """The subject less the words `text` holds (by stem), or None when it holds them all:
        asked of an article, what the question asks beyond the story its headline tells
        ("how much is the *state chipping in* for the tram")."""
        held = stems_of(text)
        keep = [i for i, s in enumerate(self.stems) if s not in held]
        if not keep:
            return None
        return Subject(
            tuple(self.words[i] for i in keep),
            tuple(self.stems[i] for i in keep),
            self.weights[keep],
            self.vectors[keep] if self.vectors is not None else None,
        )


def subject(question: str, matcher: WordMatcher, drop: Sequence[str] = ()) -> Subject:
    """The question's subject: its content words but those that ask (ASKING), the years and
    counts, and `drop` (a speaker's name, already matched by attribution)."""
    gone = {stem(w) for w in drop}
    words = tuple(
        dict.fromkeys(
            w
            for w in content_words(question)
            if stem(w) not in ASKING and stem(w) not in gone and not w.isdigit()
        )
    )
    weights = np.array([weight(w) for w in words], dtype=np.float32)
    vectors = matcher.vectors(words) if words else None
    return Subject(words, tuple(stem(w) for w in words), weights, vectors)
