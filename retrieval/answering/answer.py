"""The extractive answerer: the best sentences of the retrieved passages, each cited."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import prompts
from retrieval.answering.attribution import (
    Attribution,
    People,
    asked_speaker,
    attribute_all,
    has_quote,
)
from retrieval.answering.outcome import holds, unreported
from retrieval.answering.timewindow import MONTHS
from retrieval.index.lexical import stem, terms
from retrieval.index.search import LexicalStats, RankedArticle, Snapshot
from retrieval.intake.articles import page_line_kind
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
    lead: bool = False  # one of the first sentences of the article, which tell its news


@dataclass(frozen=True)
class ComposeOptions:
    max_citations: int = 5
    min_relevance: float = 0.20
    max_articles: int = 4
    chunks_per_article: int = 4
    keep_ratio: float = 0.4  # keep sentences scoring at least this share of the best
    min_overlap: float = 0.20  # share of the question's term weight a cited sentence must hold
    novelty_weight: float = 0.3  # how much a sentence's new, fitting information counts
    speaker_topic: float = 0.4  # share of the subject's term weight a speaker's article holds
    lead_sentences: int = 2  # the best article's first sentences, which hold its news...
    lead_weight: float = 0.2  # ...count this much more


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
            leads = 0
            for (s, e), sent, attr in zip(
                spans, sents, attribute_all(sents, new_para), strict=True
            ):
                lead = chunk == first and leads < options.lead_sentences and _is_prose(sent)
                leads += lead
                key = (art, s)
                old = out.get(key)
                if old is not None and (old.attribution.speaker or not attr.speaker):
                    continue  # keep the attribution made with the most context
                out[key] = Candidate(art, rank, s, e, sent, attr, chunks[chunk], chunk, lead)
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


def _overlap(q_terms: list[str], sentence: str, bm25: LexicalStats) -> float:
    """Share of the question's term weight (idf) that the sentence contains."""
    # A term found nowhere in the index can't tell sentences apart: leave it out.
    q = [t for t in dict.fromkeys(q_terms) if t in bm25.vocab]
    if not q:
        return 0.0
    s = set(terms(sentence))
    total = sum(bm25.idf_of(t) for t in q)
    return sum(bm25.idf_of(t) for t in q if t in s) / total if total else 0.0


def compose(
    question: str,
    snap: Snapshot,
    ranked: list[RankedArticle],
    options: ComposeOptions,
    context: str = "",
    now: date | None = None,
) -> Answer:
    """Pick, order and cite the sentences that answer the question, or abstain. `now`: the day
    it is asked."""
    best_dense = max((h.dense for r in ranked for h in r.hits), default=-1.0)
    if best_dense < options.min_relevance:
        return Answer(question, ABSTAIN, True)
    q_terms = terms(question)
    c_terms = [t for t in terms(context) if t not in q_terms]
    best = [r.article for r in ranked[: options.max_articles]]
    people = People(best, lambda a: _article_pieces(snap, a))
    speaker = asked_speaker(question, context, people)
    pool = [] if speaker else candidates(snap, ranked, options)
    asked: dict[tuple[int, int], str] = {}
    if speaker:
        speaker_terms = set(terms(speaker))
        q_terms = [t for t in q_terms if t not in speaker_terms]
        every = speaker_candidates(snap, ranked, options)
        # What a person declined to answer is the sentence before "X declined to comment".
        asked = {
            (b.article, b.start): a.text
            for a, b in zip(every, every[1:], strict=False)
            if a.article == b.article and b.attribution.declined
        }
        pool = [
            c
            for c in every
            if people.said_by(speaker, c.article, c.start, c.attribution) and _is_prose(c.text)
        ]
        pool = _on_topic(snap, pool, q_terms, options.speaker_topic)
        if not pool:
            return Answer(question, _abstain_speaker(speaker), True)

    def lexical(c: Candidate) -> float:
        text = f"{asked.get((c.article, c.start), '')} {c.text}"
        lex = _overlap(q_terms, text, snap.bm25) if q_terms else 0.0
        return lex + (0.5 * _overlap(c_terms, text, snap.bm25) if c_terms else 0.0)

    q_set = set(q_terms) | set(c_terms)
    wants = answer_type(question)

    def score(c: Candidate, lex: float) -> float:
        s = 0.3 * (c.chunk_dense / best_dense) + 0.1 / (1 + c.article_rank)
        if not speaker:
            s += options.lead_weight * (c.lead and c.article_rank == 0)
            return s + lex + options.novelty_weight * novelty(c.text, q_set, wants)
        # The speaker's own words first, then what they are reported to have said; the rest
        # of the question only orders them.
        # Declining to answer what was asked is the person's answer to it.
        a = c.attribution
        own = a.direct and not a.inherited or a.declined
        return s + 0.4 * lex + (0.6 if own else 0.4 if a.direct else 0.1)

    lexes = {id(c): lexical(c) for c in pool}
    best_lex = max(lexes.values(), default=0.0)
    if not speaker and best_lex == 0:
        return Answer(question, ABSTAIN, True)
    # A sentence must share enough of the question's words to be cited at all: nothing is
    # cited for padding. Questions about what someone said are answered by their words.
    floor = 0.0 if speaker else max(options.min_overlap, options.keep_ratio * best_lex)
    scored = sorted(
        (
            (score(c, lexes[id(c)]), c)
            for c in pool
            if lexes[id(c)] >= (min(floor, options.min_overlap) if c.lead else floor)
        ),
        key=lambda sc: -sc[0],
    )
    if not scored:  # nothing shares enough of the question to be cited
        return Answer(question, ABSTAIN, True)
    top = scored[0][0]
    ratio = options.keep_ratio * (0.8 if speaker else 1.0)
    chosen: list[Candidate] = []
    for s, c in scored:
        if s < ratio * top or len(chosen) == options.max_citations:
            break
        if not any(same_fact(c.text, o.text) for o in chosen):  # never the same fact twice
            chosen.append(c)
    if not speaker and not c_terms and not _about_subject(snap, chosen, q_terms, wants):
        return Answer(question, ABSTAIN, True)
    if not speaker and unreported(
        question,
        [
            (c.text, snap.articles[c.article].title, snap.articles[c.article].published)
            for c in chosen
        ],
        _subject(q_terms, snap.bm25),
        now,
    ):
        return Answer(question, UNREPORTED, True)
    # A sentence right after a chosen one, in the same paragraph, that shares enough of the
    # question joins its quote ("...signed in 2014 and 2015. These agreements stopped..."); so
    # does the rest of the asked person's quote ('"This primary is over," Cheney said. "But
    # now the real work begins."').
    neighbours = [
        c
        for c in pool
        if (lexes[id(c)] >= options.min_overlap or (speaker and c.attribution.inherited))
        and (not speaker or c in chosen or c.attribution.speaker)
    ]
    return _cite(question, snap, chosen, neighbours)


# Words that ask for someone's words or name the time asked about, not the subject: "what did
# X say about ... yesterday".
_ASKING_FOR_WORDS = frozenset(
    terms(
        "approximately roughly about many much "
        "say said says tell told comment comments commented statement statements reaction react "
        "reacted respond responded response remarks think thought thinks view views word words "
        "quote quotes announce announced speech yesterday today tonight week weekend month year "
        "recently recent latest last ago"
    )
)


def _about_subject(snap: Snapshot, chosen: list[Candidate], q_terms: list[str], wants: str) -> bool:
    """Whether a short question (at most SHORT_SUBJECT words of subject) is answered about its
    own subject. Every word of a short question names it, so a cited sentence with its
    article's title must hold SHORT_SUBJECT_SHARE of the words' weight (other strikes share
    "rail" and "strike" but not "uk"); asked how many or how much, a number must come from an
    article that holds the two rarest words (37 killed in Kentucky's floods don't count
    Seoul's). A long question describes its subject in words an article may paraphrase
    ("astonishing", "catapulted"): it is not held to this."""
    subject = _subject(q_terms, snap.bm25)
    if not subject or len(subject) > SHORT_SUBJECT:
        return True
    titled = [f"{c.text} {snap.articles[c.article].title}" for c in chosen]
    if max((holds(text, subject) for text in titled), default=0.0) < SHORT_SUBJECT_SHARE:
        return False
    if wants != "number":
        return True
    rarest = sorted(subject, key=lambda t: -subject[t])[:2]
    return any(
        _NUMBER.search(c.text) and all(t in _article_terms(snap, c.article) for t in rarest)
        for c in chosen
    )


def _article_terms(snap: Snapshot, article: int) -> set[str]:
    held = {t for _, text in _article_pieces(snap, article) for t in terms(text)}
    return held | set(terms(snap.articles[article].title))


# Verbs that ask how something went, not what it is about: "how many golds did England win".
_ASKING_HOW_IT_WENT = frozenset(terms("win wins won get gets got go goes went gone end ended"))


def _subject(q_terms: list[str], bm25: LexicalStats) -> dict[str, float]:
    """The words of the question that name its subject, with their weights (idf). A word no
    article holds weighs as much as the rarest one that some article holds."""
    # A year or a count says when or how much, not what.
    words = [
        t
        for t in dict.fromkeys(q_terms)
        if t not in _ASKING_FOR_WORDS and t not in _ASKING_HOW_IT_WENT and not t.isdigit()
    ]
    known = [bm25.idf_of(t) for t in words if t in bm25.vocab]
    return {t: bm25.idf_of(t) if t in bm25.vocab else max(known, default=1.0) for t in words}


def _on_topic(
    snap: Snapshot, pool: list[Candidate], q_terms: list[str], share: float
) -> list[Candidate]:
    """The person's sentences from articles about what the question asks about: a person
    quoted in a retrieved article on another subject hasn't said anything on this one. The
    article must hold `share` of the subject's term weight (idf)."""
    subject = [t for t in dict.fromkeys(q_terms) if t not in _ASKING_FOR_WORDS]
    # A word found nowhere in the index weighs as much as the subject's rarest known word (a
    # paraphrase may stand for it); a subject of such words only is covered by no article.
    known = [snap.bm25.idf_of(t) for t in subject if t in snap.bm25.vocab]
    weight = {
        t: snap.bm25.idf_of(t) if t in snap.bm25.vocab else max(known, default=1.0) for t in subject
    }
    total = sum(weight.values())
    if not total:
        return pool  # "what did X say?": any of their words answer
    covered: dict[int, float] = {}
    for article in {c.article for c in pool}:
        held = {t for _, text in _article_pieces(snap, article) for t in terms(text)}
        held |= set(terms(snap.articles[article].title))
        covered[article] = sum(w for t, w in weight.items() if t in held) / total
    return [c for c in pool if covered[c.article] >= share]


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
    question: str, snap: Snapshot, chosen: list[Candidate], neighbours: list[Candidate]
) -> Answer:
    """Number the chosen sentences by article rank and position (a story's lead, which holds
    its news, before its details); adjacent ones merge into one quote."""
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
    # Two sentences joined into one quote may together tell what a third one says.
    kept: list[list[Candidate]] = []
    for group in groups:
        text = " ".join(c.text for c in group)
        if not any(same_fact(text, " ".join(c.text for c in k)) for k in kept):
            kept.append(group)
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
