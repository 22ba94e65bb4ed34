from __future__ import annotations

import pytest

from retrieval.config import MODEL_WINDOW, default_model_path
from retrieval.intake.chunking import chunk_article
from retrieval.intake.ingest import token_counter
from retrieval.intake.sentences import sentences
from retrieval.models import Article
from tests.conftest import SEED


@pytest.fixture(scope="module")
def count():
    return token_counter(default_model_path())


def _check(article: Article, chunks, count, limit: int = MODEL_WINDOW) -> None:
    assert chunks
    for c in chunks:
        assert article.text[c.start : c.end] == c.text
        (n,) = count([c.embed_text])
        assert n == c.n_tokens and n <= limit, (n, c.text[:80])
        for s, e in c.sentences:
            assert c.start <= s < e <= c.end
    # Every character of the body is in some chunk (nothing is silently dropped).
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(article.text) if not ch.isspace())


def test_seed_chunks_keep_offsets_and_the_window(count):
    from retrieval.intake.articles import load_path

    (article,) = load_path(SEED)
    chunks = chunk_article(article, count, max_tokens=200, overlap_tokens=40)
    _check(article, chunks, count, 200)
    assert len(chunks) >= 3
    # Consecutive chunks overlap by whole sentences.
    assert any(b.start < a.end for a, b in zip(chunks, chunks[1:], strict=False))


def test_a_400_token_paragraph_is_split_at_sentences(count):
    sentence = "The committee reviewed the harbour budget and approved new funds for repairs. "
    paragraph = (sentence * 34).strip()
    (n,) = count([paragraph])
    assert n > 400
    article = Article(
        "p", "A long paragraph", "Intro line here.\n\n" + paragraph + "\n\nLast words."
    )
    chunks = chunk_article(article, count, max_tokens=256, overlap_tokens=32)
    _check(article, chunks, count)
    sentence_starts = {s for s, _ in sentences(article.text)}
    assert all(c.start in sentence_starts for c in chunks)  # chunks begin at sentences
    assert len(chunks) >= 3


def test_a_single_sentence_over_the_window_is_cut_by_words(count):
    words = " ".join(f"word{i} extraordinarily" for i in range(200))  # one sentence, ~800 pieces
    article = Article("s", "T" * 40, words + ".")
    chunks = chunk_article(article, count, max_tokens=256, overlap_tokens=0)
    _check(article, chunks, count)
    assert len(chunks) >= 3


def test_sentence_splitter_keeps_abbreviations_and_quotes():
    text = 'U.K. officials met Mr. Smith at 3 p.m. on Friday. "We agreed," he said. Next one?'
    spans = sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "U.K. officials met Mr. Smith at 3 p.m. on Friday.",
        '"We agreed," he said.',
        "Next one?",
    ]


def test_a_company_named_bros_is_one_sentence():
    text = "Warner Bros. Discovery cut the film. It had cost $90 million."
    assert [text[s:e] for s, e in sentences(text)] == [
        "Warner Bros. Discovery cut the film.",
        "It had cost $90 million.",
    ]
