"""The extractive answerer: the best sentences of the retrieved passages, each cited."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

import numpy as np

import prompts
from retrieval.answering.attribution import (
    Attribution,
    People,
    asked_speaker,
    asked_words_of,
    attribute_all,
    has_quote,
    name_words,
)
from retrieval.answering.features import Subject, WordMatcher, content_words, subject
from retrieval.answering.features import stem as word_stem
from retrieval.answering.learned import (
    ANSWER_FEATURES,
    SENTENCE_FEATURES,
    SPEAKER_FEATURES,
    models,
)
from retrieval.answering.names import ROLES, TITLES, lower_words
from retrieval.answering.outcome import asks_outcome, looks_ahead, unreported
from retrieval.answering.timewindow import MONTHS
from retrieval.errors import SettingsError
from retrieval.index.lexical import stem, terms
from retrieval.index.search import RankedArticle, Snapshot
from retrieval.intake.pagetext import page_line_kind
from retrieval.models import Answer, Citation


@dataclass(frozen=True)
class Candidate:
    article: int  # index into snap.articles
    article_rank: int
    start: int  # offsets in the article text
    end: int
    text: str
    attribution: Attribution
    chunk_dense: float
    chunk: int  # the snapshot chunk it was read from


@dataclass(frozen=True)
class ComposeOptions:
    max_citations: int = 5
    min_relevance: float = 0.0  # a floor on the best cited passage's cosine (Settings)
    max_articles: int = 4
    chunks_per_article: int = 4
    keep_ratio: float = 0.4  # keep sentences scoring at least this share of the best
    min_overlap: float = 0.20  # share of the question's term weight a cited sentence must hold
    speaker_topic: float = 0.4  # share of the subject's term weight a speaker's article holds
    lead_sentences: int = 2  # nonzero: the best article's first chunk (its lead) is read too
    steps: frozenset[str] = frozenset(
        ("learned_gate", "outcome", "needs_context", "unknown_speaker", "article_rerank")
    )  # the named steps that run


# Every rule left beside the learned scores is a named step that can be switched off
# (ComposeOptions.steps); bench/answers.py --ablate reports each one's effect on the held-out
# split. name -> what it catches, and the data it was fitted on.
STEPS: dict[str, str] = {
    "needs_context": "declines a question that points back ('what did they agree on?', 'who won "
    "it') with at most one word of its own subject, asked with no earlier question: a follow-up "
    "outside its thread; written on the seed questions' follow-ups",
    "learned_gate": "declines when the answerability score (learned.py) is under its threshold; "
    "trained on the train splits (bench/train_answerer.py), threshold chosen on their "
    "cross-validated scores",
    "outcome": "declines a question about how something turned out when the answer would lead "
    "with a preview of it (outcome.py); written on the dev weeks' chat set",
    "off_subject": "declines a short question (at most 4 subject words) whose subject no cited "
    "sentence with its title holds 0.4 of; written on the dev weeks' chat set",
    "article_rerank": "orders the first 30 retrieved articles by the article score (rerank.py): "
    "whether the headline and opening hold the question's subject, by word and by meaning, "
    "with the fused order's own evidence; trained on the train splits' gold articles",
    "unknown_speaker": "declines a question for the words of a person (by name, not by role) "
    "whom none of the articles found names ('what did tedros say about the polio case' when no "
    "article found names Tedros); written on the team and chat train splits",
    "speaker_topic": "cites a person's words only from articles holding 0.4 of the question's "
    "subject; written on the dev weeks' chat set",
}


def answer_steps(names: str) -> frozenset[str]:
    """The steps named in BRIEFBOT_ANSWER_STEPS (comma-separated); an unknown name is refused."""
    steps = frozenset(n.strip() for n in names.split(",") if n.strip())
    if unknown := sorted(steps - set(STEPS)):
        raise SettingsError(
            f"BRIEFBOT_ANSWER_STEPS: unknown step {', '.join(unknown)}; "
            f"the steps are {', '.join(STEPS)}"
        )
    return steps


ABSTAIN = prompts.load("abstain")
UNREPORTED = prompts.load("abstain_outcome")
SHORT_SUBJECT = 4  # a question of at most this many subject words names its subject in each
SHORT_SUBJECT_SHARE = 0.4  # of whose weight a cited sentence (with its title) holds this much


def _abstain_speaker(name: str) -> str:
    return prompts.render("abstain_speaker", speaker=name)


def candidates(
    snap: Snapshot, ranked: list[RankedArticle], options: ComposeOptions
) -> list[Candidate]:
    """Sentences of the best chunks of the best articles, attributed in context, deduplicated."""
    out: dict[tuple[int, int], Candidate] = {}
    for rank, r in enumerate(ranked[: options.max_articles]):
        art = r.article
        chunks = {h.chunk: h.dense for h in r.hits[: options.chunks_per_article]}
        own = snap.article_chunks(art).tolist()
        first = min(own, key=lambda k: snap.chunk_start[k]) if own else None
        if rank == 0 and first is not None and options.lead_sentences:
            # A news story's lead tells its news, whether or not it matched the question best.
            chunks.setdefault(first, min(chunks.values(), default=0.0))
        for chunk in sorted(chunks):
            text = snap.chunk_texts[chunk]
            base = int(snap.chunk_start[chunk])
            spans = snap.chunk_sentences[chunk]
            sents = [text[s - base : e - base] for s, e in spans]
            new_para = [True] + [
                "\n\n" in text[spans[i - 1][1] - base : spans[i][0] - base]
                for i in range(1, len(spans))
            ]
            for (s, e), sent, attr in zip(
                spans, sents, attribute_all(sents, new_para), strict=True
            ):
                key = (art, s)
                old = out.get(key)
                if old is not None and (old.attribution.speaker or not attr.speaker):
                    continue  # keep the attribution made with the most context
                out[key] = Candidate(art, rank, s, e, sent, attr, chunks[chunk], chunk)
    return [c for c in out.values() if _is_prose(c.text)]


_NUMBER = re.compile(
    r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|"
    r"thousand|million|billion|trillion)\b",
    re.I,
)
_DATE = re.compile(
    r"\b(?:19|20)\d\d\b|\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s+\d|"
    r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|today|yesterday)\b"
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")


_ASKS_NUMBER = (
    r"\bhow (?:many|much|long|old|far|big|high)\b|\bapproximately\b"
    r"|\bwhat (?:percent|percentage|number|share|age)\b"
)


def answer_type(question: str) -> str:
    """What kind of thing answers the question: 'number', 'date', 'name' or '' (anything)."""
    q = question.lower()
    if re.search(_ASKS_NUMBER, q):
        return "number"
    if re.search(r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b", q):
        return "date"
    if re.search(r"\b(?:who|whom|whose|where|which)\b", q):
        return "name"
    return ""


def novelty(sentence: str, question_terms: set[str], wants: str) -> float:
    """How much a sentence adds to the question, in (0, 1]: a sentence that restates the
    question answers nothing; one that names something of the kind asked for likely does."""
    new = [t for t in terms(sentence) if t not in question_terms]
    if not new:
        return 0.0
    if wants == "number":
        return 1.0 if _NUMBER.search(sentence) else 0.3
    if wants == "date":
        return 1.0 if _DATE.search(sentence) else 0.3
    if wants == "name":
        names = [m.group(0).lower() for m in _NAME.finditer(sentence)]
        return 1.0 if any(stem(n) not in question_terms for n in names) else 0.3
    return min(1.0, len(new) / 6)


_NUMBER_TOKEN = re.compile(
    r"[$£€]?\d[\d,.]*%?|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"dozen|hundred|thousand|million|billion|trillion)\b",
    re.I,
)


def new_of_kind(sentence: str, question: str, wants: str) -> bool:
    """The sentence names a thing of the kind asked for (a number, a date, a name) that the
    question doesn't: the answer, not a restatement of what was asked."""
    q = question.lower()
    if wants == "number":
        return any(m.group(0).lower() not in q for m in _NUMBER_TOKEN.finditer(sentence))
    if wants == "date":
        return any(m.group(0).lower() not in q for m in _DATE.finditer(sentence))
    if wants == "name":
        return any(m.group(0).lower() not in q for m in _NAME.finditer(sentence))
    return False


_AMOUNT = re.compile(
    r"[$£€¥]\s?\d|\d\s?(?:million|billion|trillion|bn|m)\b|\b\d[\d,.]*\s?(?:dollars|pounds|euros|"
    r"yen|yuan|rupees|pesos|francs|crowns)\b",
    re.I,
)
_ASKS_MONEY = re.compile(
    r"\bhow much\b|\b(?:cost|costs|price|prices|paid|pay|pays|revenue|profit|profits|earn|"
    r"earned|earnings|make|made|worth|fine|fined|budget|salary|wage|wages|sales|loss)\b",
    re.I,
)


def new_share(sentence: str, question_terms: set[str]) -> float:
    words = terms(sentence)
    return sum(t not in question_terms for t in words) / len(words) if words else 0.0


# A sentence of the story ends on its punctuation (or a closing quote or bracket after it).
_ENDS = re.compile(r"[.!?…][\"'”’)\]]*\s*$")


def _is_prose(sentence: str) -> bool:
    words = sentence.split()
    return (
        len(words) >= 4
        # A short line with no full stop is a headline, a link to another story or a promo
        # ("Tour de France winner is crowned"), not a sentence of this one.
        and (len(words) > 10 or _ENDS.search(sentence) is not None)
        and sum(ch.isalpha() for ch in sentence) >= 15
        and not looks_like_caption(sentence)
        # Furniture the ingest could not cut out because it shares a line with text.
        and page_line_kind(sentence) is None
    )


_MONTH = "(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
# A photo caption: "A firefighter tries to put out a blaze near Athens, Greece, on July 20."
# It describes a picture in the present tense and ends on the day it was taken.
_CAPTION_END = re.compile(rf"\bon (?:\w+day, )?{_MONTH} \d{{1,2}}(?:, \d{{4}})?\.?$", re.IGNORECASE)
_TELLING = re.compile(
    r"\b(?:\w+ed|was|were|had|has|have|is|are|will|would|could|can|did|said|says|told|"
    r"came|took|made|went|began|got|gave|saw|won|lost|left|met|held|spoke|wrote|became|"
    r"ran|fell|brought|found|kept|laid|paid|sent|since|after|before|when|who|which|that)\b",
    re.IGNORECASE,
)


def looks_like_caption(sentence: str) -> bool:
    """A picture's caption rather than a sentence of the story: it ends on a date, quotes
    nobody and tells nothing in the past, the future or with a clause."""
    s = sentence.strip()
    m = _CAPTION_END.search(s)
    return m is not None and not has_quote(s) and not _TELLING.search(s[: m.start()])


def compose(
    question: str,
    snap: Snapshot,
    ranked: list[RankedArticle],
    options: ComposeOptions,
    context: str = "",
    now: date | None = None,
    matcher: WordMatcher | None = None,
    explain: dict | None = None,
) -> Answer:
    """Pick, order and cite the sentences that answer the question, or abstain. `now`: the day
    it is asked; `matcher`: word vectors for matching by meaning; `explain`: filled with the
    features and scores behind the answer (for training and for `--explain`)."""
    if not ranked:
        return Answer(question, ABSTAIN, True)
    best = [r.article for r in ranked[: options.max_articles]]
    people = People(best, lambda a: _article_pieces(snap, a))
    speaker = asked_speaker(question, context, people)
    matcher = matcher or WordMatcher(None)
    if speaker:
        said = _compose_speaker(
            question, speaker, people, snap, ranked, options, matcher, now, explain
        )
        if said is not None:
            return said
        # Nothing in the articles is attributed to them: a role or an organisation the
        # patterns don't give words to ("calder ceo", "brennock"), or someone never quoted.
        # Answered as any question is, the answerability score knowing it asked for words.
    # A role no one in the articles holds ("what did argentina's president say") asks for
    # words too: the answerability score is told so.
    asks_words = speaker or asked_words_of(question)
    if "unknown_speaker" in options.steps and speaker and _unknown(speaker, people):
        return Answer(question, _abstain_speaker(asks_words), True)
    return _compose_learned(
        question, snap, ranked, options, context, now, matcher, explain, asks_words
    )


def _unheld_weight(subj: Subject, snap: Snapshot, article: int) -> float:
    """How much of the subject the article doesn't hold, in word weight (features.weight):
    "the winter olympics" missing weighs much, "getting out" little. /10, at most 1."""
    if not subj.words:
        return 0.0
    text = (
        " ".join(t for _, t in _article_pieces(snap, article))
        + " "
        + (snap.articles[article].title or "")
    )
    held = {word_stem(w) for w in content_words(text)}
    absent = np.array([st not in held for st in subj.stems], dtype=np.float64)
    return min(1.0, float(absent @ subj.weights) / 10)


def _unknown(speaker: str, people: People) -> bool:
    """The asked person is named in none of the articles found. Only a name counts: a role
    ("the minister", "calder ceo", "mission manager") may be written many ways."""
    words = name_words(speaker)
    if not words or any(w in TITLES or w in ROLES for w in lower_words(speaker)):
        return False
    return not any(cast.people(words) for cast in people)


def _compose_speaker(
    question: str,
    speaker: str,
    people: People,
    snap: Snapshot,
    ranked: list[RankedArticle],
    options: ComposeOptions,
    matcher: WordMatcher,
    now: date | None,
    explain: dict | None,
) -> Answer | None:
    """What the asked person said: their own words first, then what they are reported to have
    said, from articles about what the question asks (if it names a subject); the rest of the
    question only orders them."""
    subj = subject(question, matcher, drop=content_words(speaker))
    every = speaker_candidates(snap, ranked, options)
    asked = _questions_answered(every)
    pool = [
        c
        for c in every
        if people.said_by(speaker, c.article, c.start, c.attribution) and _is_prose(c.text)
    ]
    if not pool:
        return None
    covered: dict[int, float] = {}
    if subj.words:
        covered = {
            a: subj.soft(
                " ".join(t for _, t in _article_pieces(snap, a))
                + " "
                + (snap.articles[a].title or ""),
                matcher,
            )
            for a in {c.article for c in pool}
        }
    if "speaker_topic" in options.steps and subj.words:
        # A person quoted in an article on another subject hasn't said anything on this one.
        pool = [c for c in pool if covered[c.article] >= options.speaker_topic]
    if not pool:
        return Answer(question, _abstain_speaker(speaker), True)

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
        _unheld_weight(subj, snap, best.article),
    ]
    m = models()
    p_right = float(m.speaker.prob(np.array(features))[0])
    if explain is not None:
        explain.update(speaker={"x": features, "p": p_right, "names": list(SPEAKER_FEATURES)})
    if "learned_gate" in options.steps and p_right < m.speaker_threshold:
        return Answer(question, _abstain_speaker(speaker), True)
    # The rest of the asked person's quote joins it ('"This primary is over," Cheney said.
    # "But now the real work begins."').
    neighbours = [
        c
        for c in pool
        if (c.attribution.inherited or subj.exact(c.text) >= options.min_overlap)
        and (c in chosen or c.attribution.speaker)
    ]
    answer = _cite(question, snap, chosen, neighbours)
    answer.confidence = round(p_right, 3)
    return answer


def _questions_answered(every: list[Candidate]) -> dict[tuple[int, int], str]:
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


def same_fact(a: str, b: str) -> bool:
    """Two sentences that say the same thing (one outlet's copy of another's, or a lead that
    a later paragraph repeats): most of the shorter one's content words are in the other."""
    ta, tb = set(terms(a)), set(terms(b))
    small = min(len(ta), len(tb))
    return small >= 3 and len(ta & tb) / small >= 0.7


def _article_pieces(snap: Snapshot, article: int) -> list[tuple[int, str]]:
    """The article's chunks with their offsets: where the people it names are read from."""
    return [
        (int(snap.chunk_start[k]), snap.chunk_texts[k])
        for k in snap.article_chunks(article).tolist()
    ]


def speaker_candidates(
    snap: Snapshot, ranked: list[RankedArticle], options: ComposeOptions
) -> list[Candidate]:
    """Every sentence of the best articles, attributed in the article's order: what a person
    said often sits far from the passages that match the question best, and a pronoun or a
    running quote needs the sentences before it."""
    out: list[Candidate] = []
    for rank, r in enumerate(ranked[: options.max_articles]):
        dense = {h.chunk: h.dense for h in r.hits}
        floor = min(dense.values(), default=0.0)
        where: dict[int, tuple[int, int]] = {}  # sentence start -> (end, first chunk holding it)
        for chunk in snap.article_chunks(r.article).tolist():
            for s, e in snap.chunk_sentences[chunk]:
                where.setdefault(s, (e, int(chunk)))
        starts = sorted(where)
        texts = [_text(snap, where[s][1], s, where[s][0]) for s in starts]
        new_para = [True] + [
            "\n\n" in _text(snap, where[b][1], where[a][0], b, missing="\n\n")
            for a, b in zip(starts, starts[1:], strict=False)
        ]
        attrs = attribute_all(texts, new_para, snap.articles[r.article].title)
        for s, text, attr in zip(starts, texts, attrs, strict=True):
            e, k = where[s]
            out.append(Candidate(r.article, rank, s, e, text, attr, dense.get(k, floor), k))
    return out


def _text(snap: Snapshot, chunk: int, start: int, end: int, missing: str = "") -> str:
    """The article's text from start to end, read from a chunk; `missing` when the chunk does
    not hold all of it."""
    base = int(snap.chunk_start[chunk])
    text = snap.chunk_texts[chunk]
    if start < base or end > base + len(text):
        return missing
    return text[start - base : end - base]


def _cite(
    question: str,
    snap: Snapshot,
    chosen: list[Candidate],
    neighbours: list[Candidate],
    best_first: bool = False,
) -> Answer:
    """Number the chosen sentences: `best_first`, in the order given (a fact's answer: the
    sentence the score ranks first is the first citation, not the lead it sits behind); else
    by article rank and position (a person's words, in the order they said them). A
    sentence's neighbour joins it in one quote."""
    if not best_first:
        chosen = sorted(chosen, key=lambda c: (c.article_rank, c.start))
    by_start = {(c.article, c.start): c for c in neighbours}
    extended: list[Candidate] = []
    for c in chosen:
        if any(o.article == c.article and o.start < c.end and c.start < o.end for o in extended):
            continue  # already quoted, as a neighbour of an earlier one
        extended.append(c)
        nxt = [n for n in neighbours if n.article == c.article and _adjacent(snap, c, n)]
        if (
            nxt
            and nxt[0] not in chosen
            and (nxt[0].article, nxt[0].start) in by_start
            and not any(same_fact(nxt[0].text, o.text) for o in chosen)
        ):
            extended.append(nxt[0])
    groups: list[list[Candidate]] = []
    for c in extended:
        last = groups[-1][-1] if groups else None
        if (
            last is not None
            and last.article == c.article
            and len(groups[-1]) < 2
            and _adjacent(snap, last, c, paragraphs=True)
        ):
            groups[-1].append(c)
        else:
            groups.append([c])
    # Two sentences joined into one quote may together tell what a third one says: the
    # joined quote (more of the article's own context) is kept, in its place.
    keep: set[int] = set()
    for g in sorted(range(len(groups)), key=lambda g: -len(groups[g])):
        text = " ".join(c.text for c in groups[g])
        if not any(same_fact(text, " ".join(c.text for c in groups[k])) for k in keep):
            keep.add(g)
    kept = [group for g, group in enumerate(groups) if g in keep]
    citations: list[Citation] = []
    parts: list[str] = []
    for n, group in enumerate(kept, start=1):
        meta = snap.articles[group[0].article]
        start, end = group[0].start, group[-1].end
        quote = _slice(snap, group[0], group[-1])
        citations.append(
            Citation(
                n=n,
                article_id=meta.id,
                title=meta.title,
                source=meta.source,
                published=meta.published.isoformat() if meta.published else None,
                url=meta.url,
                quote=quote,
                start=start,
                end=end,
            )
        )
        parts.append(f"{' '.join(quote.split())} [{n}]")
    return Answer(question, " ".join(parts), False, citations)


def _adjacent(snap: Snapshot, a: Candidate, b: Candidate, paragraphs: bool = False) -> bool:
    """b follows a with only whitespace between, inside a's chunk: in the same paragraph, or
    with `paragraphs`, in the next one (news sites give most sentences a paragraph)."""
    base = int(snap.chunk_start[a.chunk])
    text = snap.chunk_texts[a.chunk]
    gap = text[a.end - base : b.start - base]
    return (
        a.end <= b.start
        and b.end <= base + len(text)
        and not gap.strip()
        and gap.count("\n") <= (2 if paragraphs else 0)
    )


def _slice(snap: Snapshot, first: Candidate, last: Candidate) -> str:
    """The article's exact characters from first to last (both within first's chunk)."""
    base = int(snap.chunk_start[first.chunk])
    return snap.chunk_texts[first.chunk][first.start - base : last.end - base]


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
    money = bool(_ASKS_MONEY.search(question))
    whole: dict[int, str] = {}

    def article_text(a: int) -> str:
        if a not in whole:
            whole[a] = (
                " ".join(t for _, t in _article_pieces(snap, a))
                + " "
                + (snap.articles[a].title or "")
            )
        return whole[a]

    rows = []
    for c in pool:
        title = snap.articles[c.article].title or ""
        rows.append(
            [
                subj.exact(c.text),
                subj.soft(c.text, matcher),
                subj.exact(f"{c.text} {title}"),
                subj.exact(article_text(c.article)),
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
                float(money and bool(_AMOUNT.search(c.text))),
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
    off_subject = ctx is None and _off_subject(snap, subj, own, titles, wants, article_text)
    # What the question names that none of the articles found holds: a person, a place or a
    # thing they don't mention (a question about something else, or not in the news indexed).
    best = pool[top]
    held = {word_stem(w) for w in content_words(article_text(best.article))}
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
    declined = _abstain_speaker(asks_words) if asks_words else ABSTAIN
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
    answer = _cite(question, snap, chosen, neighbours, best_first=True)
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
    article_text,
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
        _NUMBER.search(c.text)
        and all(
            h in {word_stem(w) for w in content_words(article_text(c.article))} for h in heaviest
        )
        for c in chosen
    )
