"""Article -> Chunks: sentence-aware, paragraph-respecting, overlapping, within the model window.

Every chunk is embedded as `prefix + text`; the whole string, counted by the model's own
tokenizer with its special tokens, stays within the window, because the model silently drops
whatever lies past it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from retrieval.config import MODEL_WINDOW
from retrieval.intake.sentences import paragraphs, sentences
from retrieval.models import Article, Chunk

CountTokens = Callable[[Sequence[str]], list[int]]  # word pieces per text, special tokens included


def chunk_prefix(article: Article) -> str:
    """Title first: a headline says what the story is about better than any body sentence."""
    return f"{article.title}\n" if article.title else ""


def chunk_article(
    article: Article,
    count_tokens: CountTokens,
    max_tokens: int = 200,
    overlap_tokens: int = 40,
    window: int = MODEL_WINDOW,
) -> list[Chunk]:
    text = article.text
    prefix = chunk_prefix(article)
    limit = min(max_tokens, window)
    (prefix_tokens,) = count_tokens([prefix]) if prefix else (2,)
    if prefix_tokens > limit // 2:  # an absurdly long title: embed a cut of it
        prefix = prefix[: 2 * (limit // 2)] + "\n"
        (prefix_tokens,) = count_tokens([prefix])
    budget = limit - prefix_tokens  # word pieces left for the body ([CLS]/[SEP] counted in prefix)

    units = _units(text, count_tokens, budget)
    if not units:
        return []
    chunks: list[Chunk] = []
    i = 0
    while i < len(units):
        j, used = i, 0
        while j < len(units) and used + units[j].tokens <= budget:
            used += units[j].tokens
            # Prefer to end at a paragraph break once the chunk is reasonably full.
            if units[j].ends_paragraph and used >= budget * 0.6:
                j += 1
                break
            j += 1
        j = max(j, i + 1)
        chunk, taken = _make_chunk(article, len(chunks), units[i:j], prefix, count_tokens, limit)
        chunks.append(chunk)
        j = i + taken
        if j >= len(units):
            break
        # Step back over trailing units for overlap, but always move forward.
        back, k = 0, j
        while k - 1 > i and back + units[k - 1].tokens <= overlap_tokens:
            k -= 1
            back += units[k].tokens
        i = k
    return chunks


@dataclass(frozen=True)
class _Unit:
    start: int
    end: int
    tokens: int
    ends_paragraph: bool


def _units(text: str, count_tokens: CountTokens, budget: int) -> list[_Unit]:
    """Sentences, with any sentence longer than the budget cut at word boundaries."""
    spans: list[tuple[int, int, bool]] = []
    for p_start, p_end in paragraphs(text):
        sents = sentences(text, p_start, p_end)
        spans.extend((s, e, k == len(sents) - 1) for k, (s, e) in enumerate(sents))
    counts = count_tokens([text[s:e] for s, e, _ in spans])
    units: list[_Unit] = []
    for (s, e, para_end), n in zip(spans, counts, strict=True):
        n -= 2  # [CLS] and [SEP] are counted once, in the prefix
        if n <= budget:
            units.append(_Unit(s, e, n, para_end))
        else:
            pieces = _split_long(text, s, e, count_tokens, budget)
            units.extend(
                _Unit(a, b, m, para_end and k == len(pieces) - 1)
                for k, (a, b, m) in enumerate(pieces)
            )
    return units


def _split_long(
    text: str, start: int, end: int, count_tokens: CountTokens, budget: int
) -> list[tuple[int, int, int]]:
    """Cut an over-long sentence into word-aligned pieces that each fit the budget."""
    words: list[tuple[int, int]] = []
    pos = start
    for part in text[start:end].split():
        w = text.index(part, pos)
        words.append((w, w + len(part)))
        pos = w + len(part)
    counts = [n - 2 for n in count_tokens([text[a:b] for a, b in words])]
    pieces: list[tuple[int, int, int]] = []
    i = 0
    while i < len(words):
        used, j = 0, i
        while j < len(words) and (used + counts[j] <= budget or j == i):
            used += counts[j]
            j += 1
        a, b = words[i][0], words[j - 1][1]
        if used > budget:  # a single "word" longer than the budget: cut it by characters
            b = a + max(1, (b - a) * budget // used)
            words[i] = (b, words[i][1])
            (rest,) = count_tokens([text[b : words[i][1]]])
            counts[i] = rest - 2
            (used,) = count_tokens([text[a:b]])
            pieces.append((a, b, used - 2))
            continue
        pieces.append((a, b, used))
        i = j
    return pieces


def _make_chunk(
    article: Article,
    index: int,
    units: list[_Unit],
    prefix: str,
    count_tokens: CountTokens,
    limit: int,
) -> tuple[Chunk, int]:
    """The chunk made of the first units that fit, and how many units it took."""
    # Summed counts are close to exact; check the real string and shed units if needed.
    while True:
        start, end = units[0].start, units[-1].end
        body = article.text[start:end]
        (n,) = count_tokens([prefix + body])
        if n <= limit or len(units) == 1:
            break
        units = units[:-1]
    if n > limit:  # one unit that tokenizes longer in context: trim characters until it fits
        while n > limit and end > start + 1:
            end = start + (end - start) * (limit - 1) // n
            body = article.text[start:end]
            (n,) = count_tokens([prefix + body])
    spans = tuple((u.start, min(u.end, end)) for u in units if u.start < end)
    return Chunk(article.id, index, start, end, body, spans, prefix, n), len(units)
