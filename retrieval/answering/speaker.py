"""What a person said: their words from every sentence of the best articles, scored by the
speaker score (learned.py), or declined."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import date

import numpy as np

import prompts
from retrieval.answering.attribution import (
    People,
    name_words,
)
from retrieval.answering.citing import cite
from retrieval.answering.features import Subject, WordMatcher, content_words, stems_of, subject
from retrieval.answering.learned import (
    SPEAKER_FEATURES,
    models,
)
from retrieval.answering.names import ROLES, TITLES, lower_words
from retrieval.answering.options import ComposeOptions
from retrieval.answering.people import Role
from retrieval.answering.sentences import (
    Candidate,
    article_text,
    is_prose,
    same_fact,
    speaker_candidates,
)
from retrieval.index.search import RankedArticle, Snapshot
from retrieval.models import Answer


def abstain_speaker(name: str) -> str:
    return prompts.render("abstain_speaker", speaker=name)


def unheld_weight(subj: Subject, text: str) -> float:
    """How much of the subject an article's text doesn't hold, in word weight
    (features.weight): "the winter olympics" missing weighs much, "getting out" little. /10,
    at most 1."""
    if not subj.words:
        return 0.0
    held = stems_of(text)
    absent = np.array([st not in held for st in subj.stems], dtype=np.float64)
    return min(1.0, float(absent @ subj.weights) / 10)


def topic_dense(
    subj: Subject, said: Sequence[str], encode: Callable[[Sequence[str]], np.ndarray] | None
) -> float:
    """How near in meaning the closest of a person's chosen sentences is to what they are asked
    about: the cosine of the subject's words ("the cruise ships") and each sentence, by the
    encoder that embeds the index. Word overlap misses a quote on the subject in other words,
    and counts one on another subject that shares a word; held out, this separates answerable
    from unanswerable speaker questions better than the rest (AUC 0.91 vs 0.82, 17 team
    questions). 0 with no subject or no encoder."""
    if not subj.words or not said or encode is None:
        return 0.0
    v = np.asarray(encode([" ".join(subj.words), *said]), dtype=np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True) + 1e-12
    return float((v[1:] @ v[0]).max())


def unnamed(speaker: str, people: People) -> bool:
    """The asked person is named in none of the articles found. Only a name counts: a role
    ("the minister", "calder ceo", "mission manager") may be written many ways."""
    words = name_words(speaker)
    if not words or any(w in TITLES or w in ROLES for w in lower_words(speaker)):
        return False
    return not any(cast.people(words) for cast in people)


def compose_speaker(
    question: str,
    speaker: str,
    people: People,
    snap: Snapshot,
    ranked: list[RankedArticle],
    options: ComposeOptions,
    matcher: WordMatcher,
    now: date | None,
    explain: dict | None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
    role: Role | None = None,
) -> Answer | None:
    """What the asked person said: their own words first, then what they are reported to have
    said, from articles about what the question asks (if it names a subject); the rest of the
    question only orders them. With `role`, the words of whoever holds it ("the minister").
    None: nothing in the articles is theirs."""
    subj = subject(question, matcher, drop=content_words(speaker))
    every = speaker_candidates(snap, ranked, options)
    asked = questions_answered(every)
    if role is None:
        pool = [
            c
            for c in every
            if people.said_by(speaker, c.article, c.start, c.attribution) and is_prose(c.text)
        ]
    else:
        # Whoever holds the role, those named with its qualifiers ("brennock's lawyer") first.
        levels = [people.holds(role, c.article, c.start, c.attribution, c.text) for c in every]
        held = max(levels, default=0)
        pool = [
            c for c, k in zip(every, levels, strict=True) if held and k == held and is_prose(c.text)
        ]
    if not pool:
        return None
    whole = {a: article_text(snap, a) for a in {c.article for c in pool}}
    covered = {a: subj.soft(t, matcher) for a, t in whole.items()} if subj.words else {}
    if "speaker_topic" in options.steps and subj.words:
        # A person quoted in an article on another subject hasn't said anything on this one.
        pool = [c for c in pool if covered[c.article] >= options.speaker_topic]
    if not pool:
        return Answer(question, abstain_speaker(speaker), True)

    def score(c: Candidate) -> float:
        text = f"{asked.get((c.article, c.start), '')} {c.text}"
        fit = subj.soft(text, matcher) if subj.words else 0.0
        a = c.attribution
        # Declining to answer what was asked is the person's answer to it.
        own = a.direct and not a.inherited or a.declined
        return (
            0.3 * c.chunk_dense
            + 0.1 / (1 + c.article_rank)
            + 0.4 * fit
            + (0.6 if own else 0.4 if a.direct else 0.1)
        )

    scored = sorted(((score(c), c) for c in pool), key=lambda sc: -sc[0])
    top = scored[0][0]
    chosen: list[Candidate] = []
    for sc, c in scored:
        if sc < options.keep_ratio * 0.8 * top or len(chosen) == options.max_citations:
            break
        if not any(same_fact(c.text, o.text) for o in chosen):  # never the same fact twice
            chosen.append(c)
    # The verdict reads the best sentence's own article only (see _compose_learned).
    best = chosen[0]
    texts = [
        f"{asked.get((c.article, c.start), '')} {c.text}"
        for c in chosen
        if c.article == best.article
    ]
    features = [
        max(subj.soft(t, matcher) for t in texts) if subj.words else 0.0,
        max(subj.exact(t) for t in texts) if subj.words else 0.0,
        covered.get(best.article, 0.0) if subj.words else 0.0,
        float(best.attribution.direct and not best.attribution.inherited),
        math.log1p(sum(c.article == best.article for c in pool)) / 3,
        min(1.0, subj.total / 40),
        float(not subj.words),
        best.chunk_dense,
        unheld_weight(subj, whole[best.article]),
        topic_dense(subj, [c.text for c in chosen if c.article == best.article], encode),
    ]
    m = models()
    p_right = float(m.speaker.prob(np.array(features))[0])
    if explain is not None:
        explain.update(speaker={"x": features, "p": p_right, "names": list(SPEAKER_FEATURES)})
    if "learned_gate" in options.steps and p_right < m.speaker_threshold:
        return Answer(question, abstain_speaker(speaker), True)
    # The rest of the asked person's quote joins it ('"This primary is over," Cheney said.
    # "But now the real work begins."').
    neighbours = [
        c
        for c in pool
        if (c.attribution.inherited or subj.exact(c.text) >= options.min_overlap)
        and (c in chosen or c.attribution.speaker)
    ]
    answer = cite(question, snap, chosen, neighbours)
    answer.confidence = round(p_right, 3)
    return answer


def questions_answered(every: list[Candidate]) -> dict[tuple[int, int], str]:
    """The question each sentence answers, where the article says: what a person declined to
    answer is the sentence before "X declined to comment"; an interview's answer, every
    sentence of it, answers the interviewer's question before it."""
    asked: dict[tuple[int, int], str] = {}
    open_q, by = "", ""
    for a, b in zip(every, every[1:], strict=False):
        if a.article != b.article:
            open_q, by = "", ""
            continue
        if a.text.rstrip(" \"'”’").endswith("?") and a.attribution.speaker:
            open_q, by = a.text, a.attribution.speaker
        if b.attribution.declined:
            asked[(b.article, b.start)] = a.text
        elif open_q and b.attribution.speaker and b.attribution.speaker != by:
            asked[(b.article, b.start)] = open_q
    return asked
