"""Daily briefings: the window's articles grouped into stories, ranked, summarised in cited
key sentences, with the quotes of the day. docs/briefing.md has the measurements.

- Round-ups ("5 things to know") are set aside: an article titled as one, or whose passages
  are each about a different other story, is no story itself; it counts as a mention of the
  stories it covers.
- Stories: articles about one event, from several outlets or as follow-ups, are grouped by
  average-linkage clustering of their vectors (the mean of their chunk vectors). Average
  linkage, unlike single linkage, does not chain two events through one article.
- Ranking: how widely a story was reported (distinct sources, further articles, mentions in
  round-ups), how recently (halving over the window's length), and, with a topic, how well it
  matches it.
- Key sentences: candidates are the opening sentences of the story's most central articles
  (news is written lead first), scored by their similarity to the story and chosen so that no
  two say the same thing; each is cited exactly, `article.text[start:end] == quote`.
- Quotes of the day: direct quotes with a named speaker (`attribution.attribute_all`) in the
  ranked stories, favouring the top stories and people quoted widely.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from retrieval.answering.attribution import attribute_all
from retrieval.index.search import Snapshot, host_of
from retrieval.index.store import day_number
from retrieval.intake.articles import is_roundup_title
from retrieval.intake.sentences import paragraphs, sentences
from retrieval.models import Article, Briefing, Citation, Quote, Story

log = logging.getLogger(__name__)

GetArticles = Callable[[Sequence[str]], dict[str, Article]]


@dataclass(frozen=True)
class BriefingOptions:
    # Two groups of articles are one story when their articles' mean cosine reaches this
    # (article vectors: the mean of their chunk vectors). Measured by bench/briefing.py:
    # lower joins whole subjects (health, US politics) into one "story".
    join_cosine: float = 0.40
    # Round-ups ("5 things to know", a day's news in brief) are no story: an article whose
    # chunks each match a different other article (>= roundup_match, those articles not alike)
    # on roundup_topics or more subjects. Each counts as a mention of the stories it covers.
    roundup_match: float = 0.55
    roundup_topics: int = 3
    roundup_twin: float = 0.7  # articles this alike to it (another day's round-up) don't count
    roundup_dominant: float = 0.5  # ... and no one subject has this share of its passages
    mention_cosine: float = 0.55
    # Ranking: a story's weight is its breadth (sources, articles, mentions) times its recency,
    # which halves every half_life_days; None: the window's length, so the window's first day
    # counts half its last whether the briefing covers a day or a week.
    half_life_days: float | None = None
    article_weight: float = 0.5  # an article from a source already counted adds this much
    mention_weight: float = 0.5  # a round-up that mentions the story adds this much
    # Key sentences.
    key_sentences: int = 3
    lead_sentences: int = 4  # candidates: this many opening sentences of each article
    candidate_articles: int = 3  # of the story's most central articles
    near_duplicate: float = 0.8  # key sentences more alike than this say the same thing
    min_words: int = 8
    max_words: int = 70
    # Topic.
    topic_min: float = 0.30  # a story matches a topic when one of its chunks is this close
    # Quotes of the day.
    quotes: int = 3
    quote_min_words: int = 6


def as_date(moment: date | datetime) -> date:
    if isinstance(moment, datetime):
        return (moment.astimezone(UTC) if moment.tzinfo else moment).date()
    return moment


# -- clustering ---------------------------------------------------------------------------------
def cluster(vectors: np.ndarray, join_cosine: float) -> list[list[int]]:
    """Average-linkage clusters of unit vectors: groups merge while their mean cosine >= join."""
    n = len(vectors)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    distances = np.clip(pdist(vectors.astype(np.float64), metric="cosine"), 0.0, 2.0)
    tree = linkage(distances, method="average")
    labels = fcluster(tree, t=1.0 - join_cosine, criterion="distance")
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return list(groups.values())


# -- the briefing -------------------------------------------------------------------------------
@dataclass
class StoryDraft:
    members: list[int]  # snapshot article indices, most central first
    centroid: np.ndarray
    sources: list[str]  # distinct, most frequent first
    latest: date
    weight: float = 0.0
    match: float = 1.0  # with a topic: the best cosine of a member chunk to it
    score: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def window_articles(
    snap: Snapshot, since: date, until: date, exclude: Collection[str] = ()
) -> list[int]:
    lo, hi = day_number(since), day_number(until)
    return [
        i
        for i, a in enumerate(snap.articles)
        if a.published is not None and lo <= day_number(a.published) <= hi and a.id not in exclude
    ]


def chunks_by_article(snap: Snapshot) -> list[np.ndarray]:
    order = np.argsort(snap.chunk_article, kind="stable")
    bounds = np.searchsorted(snap.chunk_article[order], np.arange(len(snap.articles) + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(len(snap.articles))]


def find_roundups(
    snap: Snapshot, articles: list[int], chunks: list[np.ndarray], o: BriefingOptions
) -> set[int]:
    """The round-ups among `articles`: titled as one, or their passages are about several
    other stories with none of them the article's own (an analysis that ranges over other
    news still spends most of its passages on its one subject)."""
    found = {i for i in articles if is_roundup_title(snap.articles[i].title)}
    if len(articles) < 3:
        return found
    window = np.array(articles)
    vecs = snap.article_vectors[window]
    for i in articles:
        own = chunks[i]
        if i in found or len(own) < o.roundup_topics:
            continue
        sims = snap.vectors[own] @ vecs.T
        sims[:, (vecs @ snap.article_vectors[i]) >= o.roundup_twin] = -1.0  # itself, its twins
        best, score = sims.argmax(axis=1), sims.max(axis=1)
        subjects: list[int] = []
        passages: list[int] = []  # per subject, how many of the article's passages are on it
        for j in window[best[score >= o.roundup_match]]:
            for k, r in enumerate(subjects):
                if float(snap.article_vectors[j] @ snap.article_vectors[r]) >= 0.5:
                    passages[k] += 1
                    break
            else:
                subjects.append(int(j))
                passages.append(1)
        if len(subjects) >= o.roundup_topics and max(passages) < o.roundup_dominant * len(own):
            found.add(i)
    return found


def draft_stories(
    snap: Snapshot, articles: list[int], until: date, options: BriefingOptions, days: int = 1
) -> list[StoryDraft]:
    """The window's articles (`days` long, up to `until`) grouped into stories, each weighted
    by breadth and recency."""
    if not articles:
        return []
    o = options
    half_life = o.half_life_days or max(days, 1)
    chunks = chunks_by_article(snap)
    roundups = find_roundups(snap, articles, chunks, o)
    core = [i for i in articles if i not in roundups] or articles
    roundup_chunks = [chunks[r] for r in roundups if r not in core]
    drafts = []
    for group in cluster(snap.article_vectors[core], o.join_cosine):
        members = [core[g] for g in group]
        centroid = snap.article_vectors[members].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-9)
        central = snap.article_vectors[members] @ centroid
        members = [m for _, m in sorted(zip(-central, members, strict=True))]
        counts = Counter(snap.articles[m].source or "(unknown)" for m in members)
        # Only dated articles reach a briefing's window, so every member has a date.
        latest = max(d for m in members if (d := snap.articles[m].published) is not None)
        mentions = sum(
            float((snap.vectors[c] @ centroid).max()) >= o.mention_cosine for c in roundup_chunks
        )
        breadth = (
            len(counts)
            + o.article_weight * (len(members) - len(counts))
            + o.mention_weight * mentions
        )
        age = (until - latest).days
        recency = 0.5 ** (max(age, 0) / half_life)
        drafts.append(
            StoryDraft(
                members=members,
                centroid=centroid,
                sources=[s for s, _ in counts.most_common()],
                latest=latest,
                weight=breadth * recency,
                extra={"mentions": mentions},
            )
        )
    return drafts


def rank(
    drafts: list[StoryDraft],
    topic_vector: np.ndarray | None,
    snap: Snapshot,
    options: BriefingOptions,
) -> list[StoryDraft]:
    """Stories by weight; with a topic, only those matching it, by weight times match."""
    if topic_vector is not None:
        relevance = snap.vectors @ topic_vector.astype(np.float32)
        best = np.full(len(snap.articles), -1.0)
        np.maximum.at(best, snap.chunk_article, relevance)
        for d in drafts:
            d.match = float(best[d.members].max())
        drafts = [d for d in drafts if d.match >= options.topic_min]
        for d in drafts:
            # The match counts for more than breadth: a strong match ranks before a wide story.
            d.score = d.weight * math.exp(8.0 * (d.match - options.topic_min))
    else:
        for d in drafts:
            d.score = d.weight
    return sorted(drafts, key=lambda d: (-d.score, -d.latest.toordinal(), d.members[0]))


def build_briefing(
    snap: Snapshot,
    get_articles: GetArticles,
    encode: Callable[[list[str]], np.ndarray],
    since: date | datetime,
    until: date | datetime,
    topic: str | None = None,
    max_stories: int = 10,
    options: BriefingOptions | None = None,
    exclude: Collection[str] = (),
) -> Briefing:
    """The briefing for [since, until] (whole days: articles carry a date, not a time)."""
    o = options or BriefingOptions()
    lo, hi = as_date(since), as_date(until)
    briefing = Briefing(since=since.isoformat(), until=until.isoformat(), topic=topic)
    in_window = window_articles(snap, lo, hi, exclude)
    drafts = draft_stories(snap, in_window, hi, o, days=(hi - lo).days + 1)
    topic_vector = encode([topic])[0] if topic and drafts else None
    ranked = rank(drafts, topic_vector, snap, o)[:max_stories]
    if not ranked:
        briefing.note = (
            f"Nothing in the window matches {topic!r}." if topic else "Nothing new in the window."
        )
        return briefing
    needed = [snap.articles[m].id for d in ranked for m in d.members[: o.candidate_articles]]
    texts = get_articles(needed)
    # Every story's candidate sentences in one batch: the encoder is the slow part.
    cands = [_story_candidates(d, snap, texts, o) for d in ranked]
    flat = [c for cs in cands for c in cs]
    vecs = encode([a.text[s:e] for a, s, e, _, _ in flat]) if flat else np.zeros((0, 1))
    numbering = _Numbering()
    lo_ = 0
    for d, cs in zip(ranked, cands, strict=True):
        key = _key_sentences(d, cs, vecs[lo_ : lo_ + len(cs)], o)
        lo_ += len(cs)
        briefing.stories.append(_story(d, snap, key, numbering))
    briefing.quotes = quotes_of_the_day(ranked, snap, texts, numbering, o)
    return briefing


class _Numbering:
    """Citation numbers run on through the briefing, so each [n] is unambiguous."""

    def __init__(self) -> None:
        self.n = 0

    def cite(self, article: Article, start: int, end: int) -> Citation:
        self.n += 1
        return Citation(
            self.n,
            article.id,
            article.title,
            article.source or host_of(article.url),  # as answers and story sources show it
            article.published.isoformat() if article.published else None,
            article.url,
            article.text[start:end],
            start,
            end,
        )


# -- key sentences ------------------------------------------------------------------------------
_BYLINE = re.compile(
    r"^(?:By |Updated |Published |Photo|Image|Video|Watch|Read more|Sign up|Subscribe|"
    r"Story highlights|This story|Copyright|Follow )",
    re.IGNORECASE,
)


def _candidates(article: Article, o: BriefingOptions) -> list[tuple[int, int, int]]:
    """(start, end, position) of the article's opening sentences that can stand alone."""
    out: list[tuple[int, int, int]] = []
    limit = o.lead_sentences
    head = min(len(article.text), 400 * limit)  # the opening is enough; texts can be long
    for pos, (s, e) in enumerate(sentences(article.text, 0, head)):
        if pos >= limit * 2 or len(out) >= limit or e == head < len(article.text):
            break
        text = article.text[s:e]
        words = len(text.split())
        if not o.min_words <= words <= o.max_words or _BYLINE.match(text) or "\n" in text:
            continue
        if text.rstrip()[-1:] not in '.!?"”’)':
            continue  # a headline, caption or list item, not a sentence
        dateline = _DATELINE.match(text)
        out.append((s + (dateline.end() if dateline else 0), e, pos))
    return out


# "(CNN) —", "Milton Keynes, England (CNN)", "WASHINGTON –": where a report was filed, not news.
_DATELINE = re.compile(
    r"^(?:[A-Z][\w.,' -]{0,40}?\s)?\((?:CNN|AP|Reuters|AFP)[\w ]{0,12}\)\s*[—–-]?\s*"
    r"|^[A-Z][A-Z .,'-]{2,30}\s[—–-]\s"
)


def headline(title: str, source: str) -> str:
    """A title without a trailing " - CNN" or " | The Week UK" naming its own site."""
    m = re.match(r"^(.*\S)\s+[-|–—]\s+([^-|–—]{2,40})$", title.strip())
    if m and m.group(2).split()[0].lower().strip(".") in source.lower():
        return m.group(1)
    return title.strip()


Candidate = tuple[Article, int, int, int, int]  # article, start, end, position, article rank


def _story_candidates(
    d: StoryDraft, snap: Snapshot, texts: dict[str, Article], o: BriefingOptions
) -> list[Candidate]:
    cands: list[Candidate] = []
    for r, m in enumerate(d.members[: o.candidate_articles]):
        article = texts.get(snap.articles[m].id)
        if article is not None:
            cands.extend((article, s, e, pos, r) for s, e, pos in _candidates(article, o))
    return cands


def _key_sentences(
    d: StoryDraft, cands: list[Candidate], vecs: np.ndarray, o: BriefingOptions
) -> list[Candidate]:
    """One to three sentences central to the story (close to its centroid), none a near
    duplicate of another, from different articles where they serve as well."""
    if not cands:
        return []
    # A lead sentence is worth a little more; so is one from a more central article.
    score = vecs @ d.centroid - 0.01 * np.array([c[3] + c[4] for c in cands])
    limit = min(o.key_sentences, 1 + len(d.members))
    chosen: list[int] = []
    used: set[str] = set()
    while len(chosen) < limit:
        best, best_score = -1, -np.inf
        for k, c in enumerate(cands):
            if k in chosen or any(float(vecs[k] @ vecs[j]) >= o.near_duplicate for j in chosen):
                continue
            value = score[k] - (0.05 if c[0].id in used else 0.0)  # other outlets' words first
            if value > best_score:
                best, best_score = k, value
        if best < 0 or (chosen and score[best] < score[chosen[0]] - 0.15):
            break  # nothing left, or far less central than the first: not a key sentence
        chosen.append(best)
        used.add(cands[best][0].id)
    # In the order a reader follows: by article centrality, then by position.
    return [cands[j] for j in sorted(chosen, key=lambda j: (cands[j][4], cands[j][3]))]


def _story(d: StoryDraft, snap: Snapshot, key: list[Candidate], numbering: _Numbering) -> Story:
    members = [snap.articles[m] for m in d.members]
    citations = [numbering.cite(article, s, e) for article, s, e, _, _ in key]
    summary = " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations)
    title = next((headline(m.title, m.source) for m in members if m.title.strip()), "")
    if not title:
        title = _short(citations[0].quote) if citations else "(untitled)"
    return Story(
        headline=title,
        summary=summary,
        citations=citations,
        article_ids=[m.id for m in members],
        sources=d.sources,
    )


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


# -- quotes of the day --------------------------------------------------------------------------
_QUOTED = re.compile(r"[\"“]([^\"“”]+)[\"”]")
_TITLE_WORDS = frozenset(
    """president vice prime minister secretary sen senator rep representative gov governor
    mr mrs ms dr prof chief general gen director judge justice mayor king queen prince
    chancellor ambassador spokesman spokeswoman spokesperson commissioner officer
    defence defense foreign health home state interior chairman chairwoman ceo the of
    u.s u.k uk us united kingdom states former""".split()
)


def quote_spans(article: Article) -> list[tuple[str, int, int, bool]]:
    """(speaker, start, end, inherited) of each direct quote with a named speaker; the span is
    the quoted words themselves, without the quotation marks. `inherited`: the speaker is
    named in an earlier sentence (a running quote, a pronoun)."""
    spans = sentences(article.text)
    para_starts = {s for s, _ in paragraphs(article.text)}
    texts = [article.text[s:e] for s, e in spans]
    starts = [s in para_starts for s, _ in spans]
    out = []
    for (s, _e), text, attr in zip(spans, texts, attribute_all(texts, starts), strict=True):
        if not attr.direct or not attr.speaker or attr.speaker.lower() in {"he", "she", "they"}:
            continue
        best = max(_QUOTED.finditer(text), key=lambda m: len(m.group(1)), default=None)
        if best is None:
            continue
        a, b = best.span(1)
        inner = text[a:b]
        if not inner.lstrip()[:1].isupper() and len(inner.split()) < 10:
            continue  # a phrase woven into the reporter's sentence, not an utterance
        inner_stripped = inner.rstrip(" ,;:")
        b = a + len(inner_stripped)
        lead = len(inner_stripped) - len(inner_stripped.lstrip())
        out.append((full_name(attr.speaker, article.text), s + a + lead, s + b, attr.inherited))
    return out


def full_name(speaker: str, text: str) -> str:
    """'Wallace' as the article names him in full ('Ben Wallace'), titles left out."""
    words = speaker.split()
    if len(words) != 1:
        return speaker
    surname = re.escape(words[0])
    firsts = Counter(
        m.group(1)
        for m in re.finditer(rf"\b([A-Z][a-z]+(?:\s[A-Z]\.)?)\s+{surname}\b", text)
        if m.group(1).split()[0].lower().rstrip(".") not in _TITLE_WORDS
    )
    if not firsts:
        return speaker
    return f"{firsts.most_common(1)[0][0]} {speaker}"


def quotes_of_the_day(
    ranked: list[StoryDraft],
    snap: Snapshot,
    texts: dict[str, Article],
    numbering: _Numbering,
    o: BriefingOptions,
) -> list[Quote]:
    """The most notable quotes: from the top stories, by people quoted in several articles,
    of a length that says something; one per speaker, at most two per story."""
    found: list[tuple[float, int, str, Article, int, int]] = []
    mentions: Counter[str] = Counter()
    for rank_, d in enumerate(ranked):
        for m in d.members[: o.candidate_articles]:
            article = texts.get(snap.articles[m].id)
            if article is None:
                continue
            seen_here: set[str] = set()
            for speaker, s, e, inherited in quote_spans(article):
                words = len(article.text[s:e].split())
                if words < o.quote_min_words:
                    continue
                seen_here.add(speaker.split()[-1])
                # Longer quotes say more, up to a point; the top stories matter most.
                # A whole utterance, in a sentence that names its speaker, stands on its own.
                whole = article.text[s : s + 1].isupper()
                score = min(words, 30) / 30 + 1.0 / (1 + rank_) - 0.1 * inherited + 0.1 * whole
                found.append((score, rank_, speaker, article, s, e))
            mentions.update(seen_here)
    for k, (score, r, speaker, article, s, e) in enumerate(found):
        found[k] = (score + 0.25 * min(mentions[speaker.split()[-1]], 4), r, speaker, article, s, e)
    found.sort(key=lambda f: -f[0])
    quotes: list[Quote] = []
    speakers: set[str] = set()
    per_story: Counter[int] = Counter()
    for _score, r, speaker, article, s, e in found:
        if len(quotes) >= o.quotes:
            break
        who = speaker.split()[-1]
        if who in speakers or per_story[r] >= 2:
            continue
        speakers.add(who)
        per_story[r] += 1
        quotes.append(Quote(speaker, numbering.cite(article, s, e)))
    return quotes
