"""What a story says: its key sentences, cited. Candidates are the opening sentences of the
event's most central articles (news is written lead first), without datelines, bylines,
captions or page furniture, scored by their similarity to the event and chosen so that no two
say the same thing; the events below the top stories get one such sentence each ("also in the
news"). The events themselves are retrieval/news/stories.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from retrieval.answering.sentences import looks_like_caption, same_fact
from retrieval.index.snapshot import Snapshot
from retrieval.intake.pagetext import page_line_kind
from retrieval.intake.sentences import sentences
from retrieval.models import Article
from retrieval.news.stories import StoryDraft, StoryOptions


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
