"""Citing the chosen sentences: numbered, a neighbour joined to its sentence in one quote,
each quote the article's exact characters."""

from __future__ import annotations

from retrieval.answering.sentences import Candidate, same_fact
from retrieval.index.search import Snapshot
from retrieval.models import Answer, Citation


def cite(
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
