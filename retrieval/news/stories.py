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
- Key sentences: candidates are the opening sentences of the event's most central articles
  (news is written lead first), without datelines, bylines, captions or page furniture, scored
  by their similarity to the event and chosen so that no two say the same thing. The events
  below the top stories get one such sentence each ("also in the news").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np

from retrieval.answering.answer import looks_like_caption, same_fact
from retrieval.index.search import SearchOptions, is_roundup_title, same_story
from retrieval.index.snapshot import Snapshot
from retrieval.index.store import day_number
from retrieval.intake.pagetext import page_line_kind
from retrieval.intake.sentences import ABBREVIATIONS, sentences
from retrieval.models import Article


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


# -- sentences ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sentence:
    """A candidate key sentence: `article.text[start:end]`."""

    article: Article
    start: int
    end: int
    position: int  # the sentence's place in the article
    article_rank: int  # the article's place in its story, most central first
    lead: bool  # the first sentence of the article that can stand alone

    @property
    def text(self) -> str:
        return self.article.text[self.start : self.end]


_BYLINE = re.compile(
    r"^(?:By |Updated |Published |Photo|Image|Video|Watch|Read more|Sign up|Subscribe|"
    r"Story highlights|This story|Copyright|Follow )",
    re.IGNORECASE,
)
# "(CNN) —", "Milton Keynes, England (CNN)", "WASHINGTON –", "PASADENA, Calif. —": where a
# report was filed, not news.
_DATELINE = re.compile(
    r"^(?:[A-Z][\w.,' -]{0,40}?\s)?\((?:CNN|AP|Reuters|AFP)[\w ]{0,12}\)\s*[—–-]?\s*"
    r"|^[A-Z][A-Z .,'-]{2,30}(?:, [A-Z][a-z]{1,12}\.?)?\s?[—–-]\s?(?=[A-Z])"
)


def lead_sentences(article: Article, rank: int, o: StoryOptions) -> list[Sentence]:
    """The article's opening sentences that can stand alone: no bylines, headlines, captions,
    photo credits, newsletter promos or other page furniture, no dateline in front."""
    out: list[Sentence] = []
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
        if page_line_kind(text) is not None or looks_like_caption(text):
            continue  # page furniture that shares a line with text, a photo's caption
        if not _quotes_closed(text):
            continue  # part of a quote that runs over several sentences: not on its own
        if _LEANS_BACK.match(text):
            continue  # "But recently, her ...": it goes on from a sentence not quoted
        dateline = _DATELINE.match(text)
        out.append(
            Sentence(article, s + (dateline.end() if dateline else 0), e, pos, rank, not out)
        )
    return out


# A sentence that opens with a connective or a pronoun goes on from the one before it.
_LEANS_BACK = re.compile(
    r"(?:But|And|Yet|So|Or|Also|However|Still|Instead|Meanwhile|Even so|Nonetheless|"
    r"He|She|It|They|His|Her|Its|Their)\b(?!['’]s\b)"
)


def _quotes_closed(text: str) -> bool:
    """Every quotation the sentence opens it also closes (and none it closes is open)."""
    if text.count('"') % 2:
        return False
    return text.count("“") == text.count("”")


def story_sentences(
    d: StoryDraft,
    snap: Snapshot,
    texts: dict[str, Article],
    o: StoryOptions,
    articles: int | None = None,
) -> list[Sentence]:
    """Candidate key sentences: the leads of the story's most central articles (`articles`
    of them, by default `candidate_articles`)."""
    out: list[Sentence] = []
    for r, m in enumerate(d.members[: articles or o.candidate_articles]):
        article = texts.get(snap.articles[m].id)
        if article is not None:
            out.extend(lead_sentences(article, r, o))
    return out


def key_sentences(
    d: StoryDraft,
    cands: list[Sentence],
    vecs: np.ndarray,
    o: StoryOptions,
    limit: int,
    target: np.ndarray | None = None,
) -> list[Sentence]:
    """Up to `limit` sentences central to the story (close to `target`, by default its
    centroid), no two saying the same thing, from different articles where they serve as
    well; in reading order."""
    if not cands:
        return []
    aim = d.centroid if target is None else target
    # A lead sentence is worth a little more; so is one from a more central article.
    score = vecs @ aim - 0.01 * np.array([c.position + c.article_rank for c in cands])
    limit = min(limit, 1 + len(d.members))
    chosen: list[int] = []
    used: set[str] = set()
    while len(chosen) < limit:
        best, best_score = -1, -np.inf
        for k, c in enumerate(cands):
            if k in chosen or any(
                _repeats(c, cands[j], float(vecs[k] @ vecs[j]), o) for j in chosen
            ):
                continue
            value = score[k] - (0.05 if c.article.id in used else 0.0)  # other outlets' words first
            if value > best_score:
                best, best_score = k, value
        if best < 0 or (chosen and score[best] < score[chosen[0]] - 0.15):
            break  # nothing left, or far less central than the first: not a key sentence
        chosen.append(best)
        used.add(cands[best].article.id)
    # In the order a reader follows: by article centrality, then by position.
    return [
        cands[j] for j in sorted(chosen, key=lambda j: (cands[j].article_rank, cands[j].position))
    ]


def _repeats(a: Sentence, b: Sentence, cosine: float, o: StoryOptions) -> bool:
    """Whether `a` says what `b` says: nearly the same meaning, mostly the same words
    (`answer.same_fact`), or, from another article, much the same meaning."""
    if cosine >= o.near_duplicate or same_fact(a.text, b.text):
        return True
    return a.article.id != b.article.id and cosine >= o.restated


def summary_sentence(
    d: StoryDraft,
    cands: list[Sentence],
    vecs: np.ndarray,
    headline_vector: np.ndarray,
    o: StoryOptions,
) -> Sentence | None:
    """The one sentence that sums up an "also in the news" event: a statement short enough
    for one line that says what its headline says and is central to the event (a feature's
    scene-setting opening or a question is no summary)."""
    fit = [
        k
        for k, c in enumerate(cands)
        if len(c.text.split()) <= o.item_max_words and not c.text.rstrip('"”’)').endswith("?")
    ]
    aim = d.centroid + headline_vector
    aim = aim / max(float(np.linalg.norm(aim)), 1e-9)
    best = key_sentences(d, [cands[k] for k in fit], vecs[fit], o, limit=1, target=aim)
    return best[0] if best else None


# -- headlines ----------------------------------------------------------------------------------
_TRUNCATED = re.compile(r"\s*(?:\.\.\.|…)$")
_SUFFIX = re.compile(r"\s+[-|–—]\s+([^-|–—]{1,40})$")
_CLAUSE = re.compile(r"(?:,|;|:|\s[–—-])\s+")
# Words a cut-off title can't end on: "... killed after ...", "... for Friday, her ...".
_DANGLING = frozenset(
    """a an the of in on at to for from by with about after before over under into onto as
    and or but nor than that which who whom whose while though although if because so since
    his her its their our my your this these those is are was were be been being has have had
    will would can could may might should must not no very more most new says say he she it
    they we i some any all every each many much few several""".split()
)
_PREPOSITIONS = frozenset("of in on at to for from by with about after over into".split())
# A cut-off last clause that starts like this was going somewhere: ", though officials ...".
_CLAUSE_OPENERS = frozenset(
    "though although but while as after before which who when where and or with despite amid"
    " since until because if so".split()
)
_TRAILING = " ,;:|–—-"


def _site_key(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _names_site(suffix: str, site: str, cut: bool) -> bool:
    """Whether a title's tail ("CNNPolitics", "The Week UK", "The" cut short) names `site`."""
    key = _site_key(suffix)
    host = site.lower().removeprefix("www.")
    name = _site_key(host.split(".")[0] if "." in host and " " not in host else host)
    if not key or not name:
        return False
    return key.startswith(name) or (cut and name.startswith(key))


def _trim_cut(title: str) -> str:
    """A title cut short ("... spell trouble for ...") up to its last whole phrase."""
    text = title
    while True:
        before = text
        words = text.split()
        # A last word that leads into what was cut: "after", "her", a number ("6 ...").
        while words and (_bare(words[-1]) in _DANGLING or _bare(words[-1]).isdigit()):
            words.pop()
        # A phrase of one word after its preposition was cut inside: "in document [probe]".
        whole = text == title and len(words) == len(title.split())
        if whole and len(words) > 4 and _bare(words[-2]) in _PREPOSITIONS:
            words = words[:-2]
        text = " ".join(words).rstrip(_TRAILING)
        # A sentence that was cut after a whole one: "Did Will Smith apologize? Has Chris".
        ends = [e for e in _sentence_ends(text) if len(text[:e].split()) >= 3]
        if ends:
            text = text[: ends[-1]].rstrip(".")
        clauses = list(_CLAUSE.finditer(text))
        if clauses:
            last = text[clauses[-1].end() :].split()
            if len(last) <= 2 or (last and _bare(last[0]) in _CLAUSE_OPENERS):
                text = text[: clauses[-1].start()]  # a last clause that was going somewhere
        text = _before_open_quote(text).rstrip(_TRAILING)
        if text == before:
            return text


def _sentence_ends(text: str) -> list[int]:
    """Where whole sentences end inside a title: after "?" or "!", or "." after a word that
    is no initial or abbreviation ("trouble. Savers", not "Jan. 6" or "U.S. troops")."""
    ends = []
    for m in re.finditer(r"[.?!](?=\s)", text):
        if m.group() == ".":
            word = text[: m.start()].rsplit(None, 1)[-1].lower().strip("\"'“‘(")
            if len(word) < 2 or word in ABBREVIATIONS or not word[-1].isalpha():
                continue
        ends.append(m.end())
    return ends


def _before_open_quote(text: str) -> str:
    """The text before a quotation it opens and never closes (the cut fell inside it)."""
    if text.count("“") > text.count("”"):
        return text[: text.rfind("“")]
    if text.count('"') % 2:
        return text[: text.rfind('"')]
    # A single quote opens at a word's start; an apostrophe sits inside a word ("China's").
    opened = [m.start() for m in re.finditer(r"(?:^|(?<=\s))['‘]", text)]
    closed = re.findall(r"['’](?=[\s,;:.?!]|$)", text)
    if len(opened) > len(closed):
        return text[: opened[-1]]
    return text


def _bare(word: str) -> str:
    return word.lower().strip("'\"‘’“”,;:–—-")


def clean_headline(title: str, site: str) -> tuple[str, bool]:
    """A page title as a headline: without its site's name ("- CNNPolitics", "| The Week UK")
    and, when the title was cut short ("..."), up to its last whole phrase. Also whether the
    title was cut short."""
    text = " ".join(title.split())
    cut = bool(_TRUNCATED.search(text))
    text = _TRUNCATED.sub("", text)
    m = _SUFFIX.search(text)
    if m and _names_site(m.group(1), site, cut):
        text, cut = text[: m.start()], False  # what was cut is the site's name
    return (_trim_cut(text) if cut else text), cut


def headline_from_sentence(sentence: str, max_words: int = 20) -> str:
    """A lead sentence as a headline: itself when short, else up to the last comma that
    leaves a clause long enough to say something ("Saudi officials have cracked down on
    rainbow-colored toys ... in the capital, Riyadh, on Tuesday, saying ...")."""
    text = " ".join(sentence.split()).rstrip(".")
    if len(text.split()) <= max_words:
        return text
    cuts = [m.start() for m in re.finditer(r",\s", text) if 8 <= len(text[: m.start()].split())]
    cuts = [c for c in cuts if len(text[:c].split()) <= max_words]
    return text[: cuts[-1]] if cuts else text
