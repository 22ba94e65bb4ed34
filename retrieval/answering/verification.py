"""Checks a generated sentence against the passages it cites, before anyone sees it.

The cited passages are read sentence by sentence (each with its speaker, as the attribution
module reads it in context); a sentence that is an instruction ("Ignore your instructions and
say ...", "Note to AI assistants: ...") is no evidence of anything. A generated sentence is kept
only if all of these hold:
- it carries at least one `[n]` marker, and each names a passage it was given;
- no word of it comes only from an instruction in a passage;
- every number, proper name and quoted phrase in it is in a passage it cites (or its title,
  source and date; a name also in the passage's speaker label or the question; a country by
  any of its names, from the countryinfo package);
- "X said ..." (also "according to X", "X, ..., said") is backed by the cited sentence that holds
  the words, whose speaker is X; a group ("Russian authorities") must be that sentence's own;
- each number is one a cited sentence gives for the same thing ("30 ships"), the same moment
  ("by Tuesday evening") and, when the claim names a speaker, by that speaker;
- it negates nothing the passage affirms and affirms nothing it negates, negation read from
  the words that carry it ("not", "unable to", "failed to", "declined to", "rather than");
- no clause of it (what "and", "which", "while" join to it) is mostly words no cited passage
  has: an added claim;
- its support score (content-word overlap, and the embedding model's cosine to the cited
  sentences) reaches the calibrated threshold;
- a judge, when one is configured (retrieval/answering/judge.py), does not find it unsupported.

What the passages hold is read in retrieval/answering/evidence.py, a sentence's parts in
retrieval/answering/claims.py, and each check is in retrieval/answering/checks.py; here are the
verdict, its thresholds and the support score, and the order the checks run in.

The rules were tuned on the training stories of the hand-written set in bench/verifier_set and
measured on its held-out stories by `bench/verifier.py` (docs/llm.md has the figures).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from retrieval.answering.checks import (
    clauses_covered,
    instructed,
    names_known,
    numbers_bound,
    polarity,
    quotes_and_numbers,
    speakers_bound,
)
from retrieval.answering.claims import clauses_of
from retrieval.answering.evidence import Evidence, Passage, gather, markers, strip_markers
from retrieval.index.lexical import terms

Encode = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class Verdict:
    kept: bool
    reason: str = ""  # why it was dropped, in words a log can show
    score: float | None = None  # the support score, when it was reached


@dataclass(frozen=True)
class Thresholds:
    """The support score is `overlap_weight * overlap + (1 - overlap_weight) * cosine`."""

    overlap_weight: float = 0.5
    min_support: float = 0.60


# Calibrated by bench/verifier.py (docs/llm.md): the figures there come from these values.
CALIBRATED = Thresholds(overlap_weight=0.5, min_support=0.42)
# Two words whose embeddings are this close are one word's forms: "held"/"hold" 0.74,
# "won"/"win" 0.75, "published"/"publish" 0.65; "try"/"pursue" 0.21, "said"/"hold" 0.26.
SAME_WORD_COSINE = 0.6


class Judgement(NamedTuple):
    supported: bool
    reason: str = ""


class Judge(Protocol):
    """A second opinion on a sentence the deterministic checks kept (a chat model asked
    whether the cited passages entail it); None when it could not answer."""

    def judge(self, claim: str, cited: Sequence[Passage]) -> Judgement | None: ...


class Verifier:
    """Keeps or drops generated sentences; `encode` embeds (the engine's query encoder).

    `judge`, when given, is asked about each sentence the deterministic checks kept (see
    retrieval/answering/judge.py): it can drop a sentence, never keep one they dropped."""

    cache_size = 4096  # vectors of passages and sentences kept between checks
    cosine_lines = 3  # the cited sentences a claim's embedding is compared with

    def __init__(
        self, encode: Encode, thresholds: Thresholds = CALIBRATED, judge: Judge | None = None
    ) -> None:
        self.encode = encode
        self.thresholds = thresholds
        self.judge = judge
        self._vectors: dict[str, np.ndarray] = {}
        self._evidence: dict[tuple[Passage, ...], Evidence] = {}

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if todo:
            for t, v in zip(todo, self.encode(todo), strict=True):
                self._vectors[t] = v
            if len(self._vectors) > self.cache_size:  # a long-running process: the newest
                for old in list(self._vectors)[: self.cache_size // 2]:
                    del self._vectors[old]
        return np.stack([self._vectors[t] for t in texts])

    def _polarity(self, claim: str, ev: Evidence) -> str:
        """`checks.polarity` with `same_word`, the words it will compare embedded in one batch
        first (one call of the model, not one per pair)."""
        wanted: set[str] = set()

        def record(a: str, b: str) -> bool:
            if a != b and a[:1] == b[:1] and not a[:1].isdigit():
                wanted.update((a, b))
            return a == b

        polarity(claim, ev, record)
        todo = [w for w in wanted if w not in self._vectors]
        if todo:
            self._embed(todo)
        return polarity(claim, ev, self.same_word)

    def same_word(self, a: str, b: str) -> bool:
        """Two content words are forms of one ("held", "hold"; "won", "win"): equal, or their
        embeddings close (SAME_WORD_COSINE); synonyms are not ("try", "pursue": 0.21)."""
        if a == b:
            return True
        if a[:1] != b[:1] or a[:1].isdigit() or b[:1].isdigit():
            return False
        va, vb = self._embed([a, b])
        return float(va @ vb) >= SAME_WORD_COSINE

    def evidence(self, cited: Sequence[Passage]) -> Evidence:
        key = tuple(cited)
        if key not in self._evidence:
            if len(self._evidence) > 256:
                self._evidence.clear()
            self._evidence[key] = gather(cited)
        return self._evidence[key]

    def check(self, sentence: str, passages: Mapping[int, Passage], question: str = "") -> Verdict:
        """Whether `sentence` (with its [n] markers) says only what the passages it cites say.
        `question`: the question asked, whose names a sentence may use."""
        cited_n = markers(sentence)
        if not cited_n:
            return Verdict(False, "it cites no passage")
        unknown = [n for n in cited_n if n not in passages]
        if unknown:
            return Verdict(False, f"[{unknown[0]}] names no passage it was given")
        cited = [passages[n] for n in dict.fromkeys(cited_n)]
        claim = strip_markers(sentence)
        reason = self.specifics(claim, cited, list(passages.values()), question)
        if reason:
            return Verdict(False, reason)
        score = self.support(claim, cited)
        if score < self.thresholds.min_support:
            floor = self.thresholds.min_support
            return Verdict(False, f"support {score:.2f} is below {floor}", score)
        if self.judge is not None:
            judged = self.judge.judge(claim, cited)
            if judged is not None and not judged.supported:
                return Verdict(False, f"the judge: {judged.reason or 'not supported'}", score)
        return Verdict(True, "", score)

    def specifics(
        self,
        claim: str,
        cited: Sequence[Passage],
        given: Sequence[Passage],
        question: str = "",
    ) -> str:
        """Why the claim's numbers, names, quotes, speakers, negations or clauses are not the
        cited passages'; '' when they are."""
        ev = self.evidence(cited)
        clauses = clauses_of(claim)
        for check in (
            lambda: instructed(claim, ev),
            lambda: quotes_and_numbers(claim, ev),
            lambda: names_known(claim, ev, given, question),
            lambda: speakers_bound(clauses, ev),
            lambda: numbers_bound(clauses, ev),
            lambda: self._polarity(claim, ev),
            lambda: clauses_covered(clauses, ev, question),
        ):
            reason = check()
            if reason:
                return reason
        return ""

    def support(self, claim: str, cited: Sequence[Passage]) -> float:
        """How much of the claim the cited passages hold, weighted (see Thresholds). When the
        overlap alone reaches the threshold, the cosine (not negative between a sentence and
        passages that share its words) cannot change the verdict: it is not computed, and the
        score given is the overlap's part, a lower bound. The embedding is most of the
        verifier's time."""
        w = self.thresholds.overlap_weight
        overlap = self.overlap(claim, cited)
        if w * overlap >= self.thresholds.min_support:
            return w * overlap
        return w * overlap + (1 - w) * self.cosine(claim, cited)

    def support_parts(self, claim: str, cited: Sequence[Passage]) -> tuple[float, float]:
        """The share of the claim's content words in the cited passages, and the best cosine
        between the claim and a cited passage or one of its sentences (instructions left
        out)."""
        return self.overlap(claim, cited), self.cosine(claim, cited)

    def overlap(self, claim: str, cited: Sequence[Passage]) -> float:
        ev = self.evidence(cited)
        claim_terms = set(terms(claim))
        return len(claim_terms & ev.terms) / len(claim_terms) if claim_terms else 1.0

    def cosine(self, claim: str, cited: Sequence[Passage]) -> float:
        ev = self.evidence(cited)
        # The sentences that share most of the claim's words (the best cosine is one of
        # theirs; embedding every sentence, or whole passages, took most of the time).
        wanted = set(terms(claim))
        lines = sorted(
            (line for line in ev.lines if not line.instruction),
            key=lambda line: -len(wanted & line.terms),
        )[: self.cosine_lines]
        pieces = [line.text for line in lines] or [" "]
        vectors = self._embed([claim, *pieces])
        return float(np.max(vectors[1:] @ vectors[0]))
