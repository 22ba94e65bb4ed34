"""Stories: a window's articles grouped into events, ranked by importance, each summed up in
cited key sentences. docs/briefing.md has the measurements.

- Round-ups ("5 things to know") are set aside: an article titled as one, or whose passages
  are each about a different other story, is no story itself; it counts as a mention of the
  stories it covers.
- Events: articles about one event, from several outlets or as follow-ups, are grouped by
  average-linkage clustering. Two articles are as alike as their vectors (the mean of their
  chunk vectors), but never more alike than their two closest passages: long articles that
  share only a country look alike on average although no passage of one matches the other.
  Average linkage, unlike single linkage, does not chain two events through one article.
- Importance: how widely an event was reported (distinct outlets; further articles from one
  outlet count less and less; each round-up that names it counts as an outlet), how recently
  (halving over twice the window's length), and, with a topic, how well it matches it.
- Key sentences (retrieval/news/keysentences.py) and headlines (retrieval/news/headlines.py)
  say what each event is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from retrieval.index.search import SearchOptions, is_roundup_title, same_story
from retrieval.index.snapshot import Snapshot
from retrieval.index.store import day_number


@dataclass(frozen=True)
class StoryOptions:
    # Two groups of articles are one event when their articles' mean similarity reaches this.
    # Measured by bench/briefing.py: lower joins whole subjects (health, US politics).
    join_cosine: float = 0.40
    # Round-ups ("5 things to know", a day's news in brief) are no story: an article whose
    # chunks each match a different other article (>= roundup_match, those articles not alike)
    # on roundup_topics or more subjects. Each counts as a mention of the stories it covers.
    roundup_match: float = 0.55
    roundup_topics: int = 3
    roundup_twin: float = 0.7  # articles this alike to it (another day's round-up) don't count
    roundup_dominant: float = 0.5  # ... and no one subject has this share of its passages
    mention_cosine: float = 0.55
    # Importance: breadth (outlets, articles, mentions) times recency, which halves every
    # half_life_days; None: twice the window's length, so a week's first day counts about
    # three quarters of its last, as a day's first hours do in a daily briefing (Monday's big
    # news still outranks Friday's small news: docs/briefing.md, tests/fixtures/week).
    half_life_days: float | None = None
    article_weight: float = 0.5  # an outlet's second article adds this much, its fourth 2x
    # A round-up ("5 things to know") is its editors' pick of the day's news: naming an event
    # counts as much as another outlet reporting it.
    mention_weight: float = 1.0
    # Key sentences.
    key_sentences: int = 3
    lead_sentences: int = 4  # candidates: this many opening sentences of each article
    candidate_articles: int = 3  # of the story's most central articles
    near_duplicate: float = 0.8  # key sentences more alike than this say the same thing
    # Another article's sentence this alike to a chosen one restates its fact in other words
    # (two outlets' "Griner sentenced to nine years"); sentences of one article follow one
    # another and add to each other, so there only near_duplicate and same_fact count.
    restated: float = 0.6
    min_words: int = 8
    max_words: int = 70
    item_max_words: int = 45  # an "also in the news" line stays one line
    # The lines spread the briefing over the window's days: each entry a day already has (its
    # stories and lines) multiplies the weight of that day's next event by this.
    day_spread: float = 0.5
    # Topic.
    topic_min: float = 0.30  # a story matches a topic when one of its chunks is this close


def as_date(moment: date | datetime) -> date:
    if isinstance(moment, datetime):
        return (moment.astimezone(UTC) if moment.tzinfo else moment).date()
    return moment


# -- events -------------------------------------------------------------------------------------
def window_articles(
    snap: Snapshot, since: date, until: date, exclude: Collection[str] = ()
) -> list[int]:
    """The snapshot's articles published in [since, until], but those in `exclude`."""
    lo, hi = day_number(since), day_number(until)
    return [
        i
        for i, a in enumerate(snap.articles)
        if a.published is not None and lo <= day_number(a.published) <= hi and a.id not in exclude
    ]


def chunks_by_article(snap: Snapshot, articles: Sequence[int]) -> dict[int, np.ndarray]:
    return {i: snap.article_chunks(i) for i in articles}


def article_similarity(
    snap: Snapshot, articles: list[int], chunks: dict[int, np.ndarray]
) -> np.ndarray:
    """Pairwise similarity of `articles`: the cosine of their vectors, capped by the cosine of
    their two closest passages. A mean of many chunk vectors drifts towards what a whole
    subject has in common, so two long articles that share a country can reach the join
    (China's small-bank runs and a Xi speech: 0.40) with no passage alike (0.38)."""
    vecs = snap.article_vectors[articles]
    sim = vecs @ vecs.T
    own = [chunks[a] for a in articles]
    if all(len(c) for c in own) and len(articles) > 1:
        starts = np.cumsum([0] + [len(c) for c in own[:-1]])
        flat = snap.vectors[np.concatenate(own)]
        passages = flat @ flat.T
        best = np.maximum.reduceat(np.maximum.reduceat(passages, starts, axis=0), starts, axis=1)
        sim = np.minimum(sim, best)
    return sim


def cluster(similarity: np.ndarray, join_cosine: float) -> list[list[int]]:
    """Average-linkage clusters: groups merge while their members' mean similarity >= join."""
    n = len(similarity)
    if n == 0:
        return []
    if n == 1:
        return [[0]]
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    distances = np.clip(1.0 - similarity.astype(np.float64), 0.0, 2.0)
    distances = (distances + distances.T) / 2  # exactly symmetric, as squareform requires
    np.fill_diagonal(distances, 0.0)
    tree = linkage(squareform(distances, checks=False), method="average")
    labels = fcluster(tree, t=1.0 - join_cosine, criterion="distance")
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        groups.setdefault(int(label), []).append(i)
    return list(groups.values())


def find_roundups(
    snap: Snapshot, articles: list[int], chunks: dict[int, np.ndarray], o: StoryOptions
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


@dataclass
class StoryDraft:
    """An event of the window, before its sentences are chosen."""

    members: list[int]  # snapshot article indices, most central first
    centroid: np.ndarray
    sources: list[str]  # distinct, most frequent first
    latest: date
    mentions: int = 0  # round-ups that mention it
    weight: float = 0.0  # importance: breadth times recency
    match: float = 1.0  # with a topic: the best cosine of a member chunk to it
    score: float = 0.0  # what it is ranked by
    folded: list[int] = field(default_factory=list)  # near-duplicates of its articles elsewhere


def breadth(per_source: Counter[str], mentions: int, o: StoryOptions) -> float:
    """How widely an event was reported: each outlet counts 1, an outlet's further articles
    less and less (its second `article_weight`, its fourth twice that: one desk's live updates
    are not more outlets), each round-up that mentions it `mention_weight`."""
    further = sum(math.log2(n) for n in per_source.values())
    return len(per_source) + o.article_weight * further + o.mention_weight * mentions


def draft_stories(
    snap: Snapshot, articles: list[int], until: date, options: StoryOptions, days: int = 1
) -> list[StoryDraft]:
    """The window's articles (`days` long, up to `until`) grouped into events, each weighted
    by breadth and recency."""
    if not articles:
        return []
    o = options
    half_life = o.half_life_days or 2 * max(days, 1)
    chunks = chunks_by_article(snap, articles)
    roundups = find_roundups(snap, articles, chunks, o)
    core = [i for i in articles if i not in roundups] or articles
    roundup_chunks = [chunks[r] for r in roundups if r not in core]
    drafts = []
    for group in cluster(article_similarity(snap, core, chunks), o.join_cosine):
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
        recency = 0.5 ** (max((until - latest).days, 0) / half_life)
        drafts.append(
            StoryDraft(
                members=members,
                centroid=centroid,
                sources=[s for s, _ in counts.most_common()],
                latest=latest,
                mentions=mentions,
                weight=breadth(counts, mentions, o) * recency,
            )
        )
    return drafts


def rank(
    drafts: list[StoryDraft],
    topic_vector: np.ndarray | None,
    snap: Snapshot,
    options: StoryOptions,
) -> list[StoryDraft]:
    """Events by weight; with a topic, only those matching it, by weight times match. An event
    holding a near-duplicate of a higher one's article (one report syndicated, as answers fold
    them) is folded into it, so that no event shows twice."""
    if topic_vector is not None:
        topic = topic_vector.astype(np.float32)
        for d in drafts:
            own = np.concatenate([snap.article_chunks(m) for m in d.members])
            d.match = float((snap.vectors[own] @ topic).max())
        drafts = [d for d in drafts if d.match >= options.topic_min]
        for d in drafts:
            # The match counts for more than breadth: a strong match ranks before a wide story.
            d.score = d.weight * math.exp(8.0 * (d.match - options.topic_min))
    else:
        for d in drafts:
            d.score = d.weight
    ranked = sorted(drafts, key=lambda d: (-d.score, -d.latest.toordinal(), d.members[0]))
    return fold_duplicates(ranked, snap)


def spread_over_days(
    top: list[StoryDraft], rest: list[StoryDraft], count: int, o: StoryOptions
) -> list[StoryDraft]:
    """`count` of the `rest` for the "also in the news" lines, in the order they are taken:
    each the weightiest event once the days the briefing already covers weigh less. Recency
    rightly ranks the top stories, but the lines are the rest of the window: a weekly
    briefing's lines would otherwise all come from its last two days."""
    per_day = Counter(d.latest for d in top)
    left = list(rest)
    taken: list[StoryDraft] = []
    while left and len(taken) < count:
        best = max(left, key=lambda d: d.score * o.day_spread ** per_day[d.latest])
        left.remove(best)
        taken.append(best)
        per_day[best.latest] += 1
    return taken


def fold_duplicates(ranked: list[StoryDraft], snap: Snapshot) -> list[StoryDraft]:
    """Each event that holds a near-duplicate of an article of a higher-ranked one joins it."""
    search = SearchOptions()
    kept: list[StoryDraft] = []
    for d in ranked:
        home = next(
            (
                k
                for k in kept
                if any(
                    same_story(
                        snap,
                        snap.article_vectors,
                        a,
                        b,
                        search.duplicate_cosine,
                        search.duplicate_days,
                    )
                    for a in k.members
                    for b in d.members
                )
            ),
            None,
        )
        if home is None:
            kept.append(d)
        else:
            home.folded.extend(d.members)
            home.sources += [s for s in d.sources if s not in home.sources]
    return kept
