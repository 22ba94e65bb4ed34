"""Ingest idempotency and replacement, against embedded Chroma and a real Chroma server."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from retrieval.engine import Engine
from retrieval.index.store import Store
from retrieval.models import Article
from tests.conftest import SEED, make_settings

SEED_ID = SEED.stem  # the file name is the id


@pytest.fixture(params=["embedded", "server"])
def engine(request, tmp_path, numpy_encoder):
    overrides = {}
    if request.param == "server":
        overrides["chroma_url"] = request.getfixturevalue("chroma_server_url")
        overrides["collection"] = f"t{abs(hash(request.node.name)) % 10**8}"
    settings = make_settings(tmp_path / "data", **overrides)
    return Engine(settings, query_encoder=numpy_encoder, document_encoder=numpy_encoder)


def _article(text: str, id: str = "a1", published: date = date(2022, 6, 1)) -> Article:
    return Article(
        id, "Harbour council budget", text, published, "Test Gazette", "https://x.test/a1"
    )


def _chunk_ids(store: Store, article_id: str) -> set[str]:
    return set(store.chunks.get(where={"article_id": article_id}, include=[])["ids"])


BODY = " ".join(f"The council met on day {i} and approved harbour repairs." for i in range(60))


def test_unchanged_article_is_skipped(engine):
    ing = engine.parts.ingester()
    first = ing.ingest_articles([_article(BODY)])
    second = ing.ingest_articles([_article(BODY)])
    assert (first.added, first.unchanged) == (1, 0)
    assert (second.added, second.updated, second.unchanged, second.chunks) == (0, 0, 1, 0)


def test_changed_article_replaces_all_its_chunks(engine):
    ing = engine.parts.ingester()
    ing.ingest_articles([_article(BODY)])
    before = _chunk_ids(engine.parts.store, "a1")
    assert len(before) >= 3
    short = "The council cancelled the harbour repairs after a long debate on Tuesday."
    report = ing.ingest_articles([_article(short)])
    assert report.updated == 1
    after = engine.parts.store.chunks.get(where={"article_id": "a1"}, include=["documents"])
    assert after["documents"] == [short]  # no stale chunk survives
    assert engine.parts.store.get_articles(["a1"])["a1"].text == short
    answer = engine.ask("What happened to the harbour repairs?", now=date(2022, 6, 2))
    assert all(c.quote in short for c in answer.citations)


def test_interrupted_ingest_is_completed_by_the_next(engine, monkeypatch):
    ing = engine.parts.ingester()
    articles = [_article(BODY, id=f"a{i}") for i in range(3)]
    real_commit = Store._commit
    calls = {"n": 0}

    def dying_commit(self, items):
        calls["n"] += 1
        if calls["n"] == 2:  # die after the second group's chunks are in, before its records
            self.chunks.upsert(
                ids=["a1#0"],
                embeddings=[np.ones(384, dtype=np.float32)],
                documents=["half"],
                metadatas=[{"article_id": "a1"}],
            )
            raise KeyboardInterrupt
        return real_commit(self, items)

    monkeypatch.setattr(Store, "_commit", dying_commit)
    with pytest.raises(KeyboardInterrupt):
        ing.ingest_articles(articles, group_chunks=1)  # one article a group
    monkeypatch.setattr(Store, "_commit", real_commit)
    assert engine.parts.store.count()[0] == 1  # only the first article was committed
    report = engine.parts.ingester().ingest_articles(articles)
    assert report.unchanged == 1 and report.added == 2
    store = engine.parts.store
    docs = store.chunks.get(where={"article_id": "a1"}, include=["documents"])["documents"]
    assert "half" not in docs and len(docs) >= 3
    assert engine.parts.store.count()[0] == 3
    expected = sum(len(ing.chunk(a)) for a in articles)
    assert engine.parts.store.count()[1] == expected  # no stale or duplicate chunk anywhere


def test_dates_are_numbers_so_range_filters_work(engine):
    ing = engine.parts.ingester()
    ing.ingest_articles(
        [
            _article(BODY, id="old", published=date(2021, 1, 5)),
            _article(BODY, id="new", published=date(2022, 7, 1)),
        ]
    )
    got = engine.parts.store.chunks.get(
        where={"day": {"$gte": (date(2022, 1, 1) - date(1970, 1, 1)).days}}, include=["metadatas"]
    )
    assert {m["article_id"] for m in got["metadatas"]} == {"new"}


def test_seed_ingest_and_sources(engine):
    report = engine.ingest([SEED])
    assert report.ok and report.added == 1
    summary = engine.sources()
    assert summary["articles"] == 1 and summary["chunks"] == report.chunks
    assert summary["first"] == summary["last"] == "2022-02-11"


def test_a_second_process_sees_new_articles(engine, numpy_encoder):
    engine.ingest([SEED])
    other = Engine(engine.settings.model_copy(), query_encoder=numpy_encoder)
    assert other.sources()["articles"] == 1
    engine.parts.ingester().ingest_articles([_article(BODY)])
    assert other.sources()["articles"] == 2  # the snapshot reloads when the generation moves


def test_a_new_process_opens_the_index_on_disk_and_catches_up(engine, numpy_encoder, monkeypatch):
    engine.ingest([SEED])
    assert engine.snapshot().n_chunks > 0
    assert engine.parts.index.compact()
    # A new process opens the compacted index instead of reading the store...
    monkeypatch.setattr(Store, "records", lambda self: pytest.fail("read every record"))
    monkeypatch.setattr(Store, "get_chunks", lambda self, ids: pytest.fail("read chunks"))
    cold = Engine(engine.settings.model_copy(), query_encoder=numpy_encoder)
    assert cold.snapshot().n_chunks == engine.snapshot().n_chunks
    # ...and then applies only what was committed since, from the writer's journal.
    engine.parts.ingester().ingest_articles([_article(BODY)])
    fresh = Engine(engine.settings.model_copy(), query_encoder=numpy_encoder)
    assert {a.id for a in fresh.snapshot().articles} == {"a1", SEED_ID}
    assert {a.id for a in cold.snapshot().articles} == {"a1", SEED_ID}


def test_a_snapshot_read_during_a_write_is_whole_and_not_cached(engine, numpy_encoder):
    """A snapshot read while a write is under way holds whole committed articles, and is
    never saved: the writer may die before the generation moves again, and a saved one would
    then hide what it committed later."""
    ing = engine.parts.ingester()
    ing.ingest_articles([_article(BODY, id="a0")])
    assert engine.sources()["articles"] == 1
    store = engine.parts.store

    def write(article: Article) -> None:
        chunks = ing.chunk(article)
        vectors = numpy_encoder.encode([c.embed_text for c in chunks])
        store.write_articles([(article, f"hash-{article.id}", chunks, vectors)])

    store.begin_write()  # a write that never ends: its process is killed after b2
    write(_article(BODY, id="b1"))
    reader = Engine(engine.settings.model_copy(), query_encoder=numpy_encoder)
    reader.parts.refresh_seconds = 0
    early = reader.snapshot()
    assert early.provisional and {a.id for a in early.articles} == {"a0", "b1"}
    write(_article(BODY, id="b2"))
    fresh = Engine(engine.settings.model_copy(), query_encoder=numpy_encoder)
    assert {a.id for a in fresh.snapshot().articles} == {"a0", "b1", "b2"}
    assert {a.id for a in reader.snapshot().articles} == {"a0", "b1", "b2"}  # reread
    n = len(ing.chunk(_article(BODY)))
    assert all(np.sum(early.chunk_article == early.article_index[a]) == n for a in ("a0", "b1"))
