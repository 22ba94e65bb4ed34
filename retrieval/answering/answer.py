"""The extractive answerer: the best sentences of the retrieved passages, each cited."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from datetime import date

import numpy as np

import prompts
from retrieval.answering.attribution import (
    People,
    asked_speaker,
    asked_words_of,
    has_quote,
    name_words,
)
from retrieval.answering.citing import cite
from retrieval.answering.features import Subject, WordMatcher, stems_of, subject
from retrieval.answering.learned import (
    ANSWER_FEATURES,
    SENTENCE_FEATURES,
    models,
)
from retrieval.answering.options import ComposeOptions
from retrieval.answering.outcome import asks_outcome, looks_ahead, unreported
from retrieval.answering.people import Role
from retrieval.answering.sentences import (
    AMOUNT,
    ASKS_MONEY,
    NUMBER,
    Candidate,
    answer_type,
    article_pieces,
    article_text,
    candidates,
    new_of_kind,
    new_share,
    novelty,
    same_fact,
)
from retrieval.answering.speaker import abstain_speaker, compose_speaker, unnamed
from retrieval.index.lexical import stem, terms
from retrieval.index.search import RankedArticle, Snapshot
from retrieval.models import Answer

ABSTAIN = prompts.load("abstain")
UNREPORTED = prompts.load("abstain_outcome")
SHORT_SUBJECT = 4  # a question of at most this many subject words names its subject in each
SHORT_SUBJECT_SHARE = 0.4  # of whose weight a cited sentence (with its title) holds this much


def compose(
    question: str,
    snap: Snapshot,
    ranked: list[RankedArticle],
    options: ComposeOptions,
    context: str = "",
    now: date | None = None,
    matcher: WordMatcher | None = None,
    explain: dict | None = None,
    encode: Callable[[Sequence[str]], np.ndarray] | None = None,
) -> Answer:
    """Pick, order and cite the sentences that answer the question, or abstain. `now`: the day
    it is asked; `matcher`: word vectors for matching by meaning; `explain`: filled with the
    features and scores behind the answer (for training and for `--explain`); `encode`: the
    index's encoder, for what a person is asked about set against their words."""
    if not ranked:
        return Answer(question, ABSTAIN, True)
    best = [r.article for r in ranked[: options.max_articles]]
    people = People(best, lambda a: article_pieces(snap, a))
    speaker = asked_speaker(question, context, people)
    matcher = matcher or WordMatcher(None)
    # A role or an organisation asked for its words ("what did the minister say", "atlantic
    # gate's ceo", "what did nordvik say"): nobody the articles name.
    asks_words = speaker or asked_words_of(question)
    role = None
    if asks_words and "role_words" in options.steps:
        if not any(cast.people(name_words(asks_words)) for cast in people):
            role = Role.of(asks_words)
    if speaker or role is not None:
        said = compose_speaker(
            question,
            asks_words,
            people,
            snap,
            ranked,
            options,
            matcher,
            now,
            explain,
            encode,
            role,
        )
        if said is not None:
            return said
        if role is not None and role.known:  # nobody in that role is quoted in the articles
            return Answer(question, abstain_speaker(asks_words), True)
        # Nothing in the articles is attributed to them: someone named but never quoted, or
        # quoted in a way the patterns miss. Answered as any question is, the answerability
        # score knowing it asked for words.
    if "unknown_speaker" in options.steps and speaker and unnamed(speaker, people):
        return Answer(question, abstain_speaker(asks_words), True)
    return _compose_learned(
        question, snap, ranked, options, context, now, matcher, explain, asks_words
    )


def _compose_learned(
    question: str,
    snap: Snapshot,
    ranked: list[RankedArticle],
    options: ComposeOptions,
    context: str,
    now: date | None,
    matcher: WordMatcher,
    explain: dict | None,
    asks_words: str = "",
) -> Answer:
    """The sentences the sentence score ranks first (each over the learned citation floor),
    unless the answerability score says the answer would not be right."""
    m = models()
    subj = subject(question, matcher)
    ctx = subject(context, matcher) if context else None
    if "needs_context" in options.steps and ctx is None and points_back(question, subj):
        return Answer(question, ABSTAIN, True)
    pool = candidates(snap, ranked, options)
    if not pool:
        return Answer(question, ABSTAIN, True)
    q_set = set(terms(question)) | set(terms(context))
    wants = answer_type(question)
    money = bool(ASKS_MONEY.search(question))
    whole: dict[int, str] = {}

    def text_of(a: int) -> str:
        if a not in whole:
            whole[a] = article_text(snap, a)
        return whole[a]

    # what the question asks beyond each article's title
    focus_of = {a: subj.beyond(snap.articles[a].title or "") for a in {c.article for c in pool}}

    rows = []
    for c in pool:
        title = snap.articles[c.article].title or ""
        focus = focus_of[c.article]
        rows.append(
            [
                subj.exact(c.text),
                subj.soft(c.text, matcher),
                subj.exact(f"{c.text} {title}"),
                subj.exact(text_of(c.article)),
                ctx.exact(f"{c.text} {title}") if ctx is not None else 0.0,
                c.chunk_dense,
                novelty(c.text, q_set, wants),
                min(1.0, c.start / 2000),
                float(has_quote(c.text)),
                min(1.0, len(c.text.split()) / 40),
                subj.soft(f"{c.text} {title}", matcher),
                float(new_of_kind(c.text, question, wants)),
                new_share(c.text, q_set),
                float(bool(wants)),
                float(looks_ahead(c.text)),
                float(money and bool(AMOUNT.search(c.text))),
                focus.exact(c.text) if focus is not None else 0.0,
                focus.soft(c.text, matcher) if focus is not None else 0.0,
                float(focus is not None),
            ]
        )
    x = np.array(rows, dtype=np.float64)
    p = m.sentence.prob(x)
    order = np.argsort(-p, kind="stable")
    lead = pool[int(order[0])]
    if "outcome" in options.steps and asks_outcome(question) and looks_ahead(lead.text):
        # Asked how something turned out, the best sentence looks ahead to it: a later report's
        # sentence that doesn't leads instead (if there is none, the step below declines).
        def day(c: Candidate) -> date:
            return snap.articles[c.article].published or date.min

        later = [
            int(i)
            for i in order
            if not looks_ahead(pool[int(i)].text) and day(pool[int(i)]) > day(lead)
        ]
        order = np.array(later + [int(i) for i in order if int(i) not in later])
    chosen: list[Candidate] = []
    for i in order:
        c = pool[int(i)]
        if (chosen and p[i] < m.cite_floor) or len(chosen) == options.max_citations:
            break
        if not any(same_fact(c.text, o.text) for o in chosen):
            chosen.append(c)
    top = int(order[0])
    # The verdict reads the best sentence's own article only (what it cites from it), so that
    # other articles retrieved beside it don't change it.
    own = [c for c in chosen if c.article == pool[top].article]
    titles = [snap.articles[c.article].title or "" for c in own]
    preview = unreported(
        question,
        [(c.text, t, snap.articles[c.article].published) for c, t in zip(own, titles, strict=True)],
        # outcome.holds reads the index's terms: the same words, stemmed as the index does
        dict(zip(map(stem, subj.words), map(float, subj.weights), strict=True)),
        now,
    )
    off_subject = ctx is None and _off_subject(snap, subj, own, titles, wants, text_of)
    # What the question names that none of the articles found holds: a person, a place or a
    # thing they don't mention (a question about something else, or not in the news indexed).
    best = pool[top]
    held = stems_of(text_of(best.article))
    absent = np.array([st not in held for st in subj.stems], dtype=np.float64)
    missing = float(absent @ subj.weights / subj.total) if subj.words else 0.0
    heaviest_missing = float(bool(subj.words) and absent[int(np.argmax(subj.weights))] > 0)
    features = [
        _logit(float(p[top])),
        x[top, 2],
        x[top, 1],
        x[top, 3],
        x[top, 5],
        min(1.0, subj.total / 40),
        float(preview),
        float(off_subject),
        float(bool(wants)),
        float(ctx is not None),
        missing,
        heaviest_missing,
        float(bool(asks_words)),
    ]
    p_right = float(m.answer.prob(np.array(features))[0])
    if explain is not None:
        explain.update(
            candidates=[
                {"text": c.text, "article": snap.articles[c.article].id, "p": float(pi), "x": row}
                for c, pi, row in zip(pool, p, rows, strict=True)
            ],
            answer={"x": features, "p": p_right, "names": list(ANSWER_FEATURES)},
            sentence_names=list(SENTENCE_FEATURES),
            chosen=[c.text for c in chosen],
        )
    declined = abstain_speaker(asks_words) if asks_words else ABSTAIN
    if "learned_gate" in options.steps and p_right < m.answer_threshold:
        return Answer(question, UNREPORTED if preview else declined, True)
    if chosen[0].chunk_dense < options.min_relevance:
        return Answer(question, declined, True)
    if "outcome" in options.steps and preview:
        return Answer(question, UNREPORTED, True)
    if "off_subject" in options.steps and off_subject:
        return Answer(question, declined, True)
    # A sentence joins its cited neighbour when it scores over the floor too, or when it opens
    # by pointing back at it ("These agreements stopped the fighting"): it finishes what the
    # cited one began.
    neighbours = [
        c
        for c, pi in zip(pool, p, strict=True)
        if pi >= m.cite_floor or _POINTS_BACK_AT.match(c.text)
    ]
    answer = cite(question, snap, chosen, neighbours, best_first=True)
    answer.confidence = round(p_right, 3)
    return answer


_POINTS_BACK_AT = re.compile(r"\s*[\"“]?(?:This|These|That|Those|It|They|Such)\b")
_POINTS_BACK = re.compile(r"\b(?:they|them|he|him|she|it|those|these)\b", re.I)


def points_back(question: str, subj: Subject) -> bool:
    """The question names what it is about only by a pronoun: 'what did they agree on?'."""
    return len(subj.words) <= 1 and bool(_POINTS_BACK.search(question))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def _off_subject(
    snap: Snapshot,
    subj: Subject,
    chosen: list[Candidate],
    titles: list[str],
    wants: str,
    text_of: Callable[[int], str],
) -> bool:
    """A short question (at most SHORT_SUBJECT words of subject) names its subject in each
    word, so a cited sentence with its title must hold SHORT_SUBJECT_SHARE of their weight
    (other strikes share "rail" and "strike" but not "uk"); asked how many or how much, a
    number must come from an article holding the two heaviest words (Kentucky's flood deaths
    don't count Seoul's). Weights are the fixed background ones (features.weight)."""
    if not subj.words or len(subj.words) > SHORT_SUBJECT:
        return False
    best = max(subj.exact(f"{c.text} {t}") for c, t in zip(chosen, titles, strict=True))
    if best < SHORT_SUBJECT_SHARE:
        return True
    if wants != "number":
        return False
    heaviest = [subj.stems[i] for i in np.argsort(-subj.weights)[:2]]
    return not any(
        NUMBER.search(c.text) and all(h in stems_of(text_of(c.article)) for h in heaviest)
        for c in chosen
    )
