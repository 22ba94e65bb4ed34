"""Two processes on one index: an ingester in a child process, and a running engine here that
keeps answering, without a restart, from what the other one commits.

Each test runs against embedded Chroma (both processes on one data directory), a real Chroma
server with both processes on one machine (the reader finds new versions in the writer's
journal), and a server with the reader "elsewhere" (its own data directory: it reads new
versions from Chroma).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.index.building import Draft, build, merge
from retrieval.index.search import SearchOptions, search
from retrieval.index.segment import ArticleMeta
from retrieval.index.snapshot import Part, Snapshot
from retrieval.index.store import Store
from retrieval.models import Article
from tests.conftest import SMALL_CHUNKS, make_settings, story

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2022, 6, 1)
TEXTS = {
    "harbour": story("harbour council", "approved pier repairs"),
    "harbour-v2": story("harbour council", "cancelled the pier repairs", 3),
    "mayor": story("mayor", "campaigned for re-election"),
    "rail": story("rail workers", "went on strike"),
}


def _article(aid: str, key: str) -> Article:
    return Article(aid, f"Story {aid}", TEXTS[key], DAY, "Test Gazette", f"https://x.test/{aid}")


# -- the other process ----------------------------------------------------------------------
def child(settings_json: str, articles_json: str, steps: str) -> None:
    """Ingest these articles, one a commit. With `steps` (a folder), after each commit write
    `<n>.done` there and wait for `<n>.go` before going on."""
    from retrieval.index.embedding import NumpyEncoder

    encoder = NumpyEncoder()
    engine = Engine(
        Settings(_env_file=None, **json.loads(settings_json)),
        query_encoder=encoder,
        document_encoder=encoder,
    )
    if steps:
        folder, real, n = Path(steps), engine.parts.store.articles.upsert, [0]

        def commit(*args: Any, **kwargs: Any) -> Any:
            out = real(*args, **kwargs)
            n[0] += 1
            (folder / f"{n[0]}.done").touch()
            deadline = time.monotonic() + 120
            while not (folder / f"{n[0]}.go").exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            return out

        engine.parts.store.articles.upsert = commit  # type: ignore[method-assign]
    articles = [_article(aid, key) for aid, key in json.loads(articles_json)]
    engine.parts.ingester().ingest_articles(articles, group_chunks=1)


def _command(settings: Settings, articles: dict[str, str], steps: Path | None) -> list[str]:
    fields = settings.model_dump(
        mode="json", include={"data_dir", "collection", "chroma_url", *SMALL_CHUNKS}
    )
    code = "import sys; from tests.test_live import child; child(*sys.argv[1:])"
    return [
        sys.executable,
        "-c",
        code,
        json.dumps(fields),
        json.dumps(list(articles.items())),
        str(steps or ""),
    ]


def ingest_elsewhere(settings: Settings, articles: dict[str, str]) -> None:
    proc = subprocess.run(
        _command(settings, articles, None), cwd=ROOT, capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


# -- fixtures -------------------------------------------------------------------------------
@pytest.fixture(params=["embedded", "server", "server-elsewhere"])
def pair(request, tmp_path) -> tuple[Settings, Settings]:
    """Settings of the writer and of the reader."""
    overrides: dict[str, Any] = {}
    if request.param != "embedded":
        overrides["chroma_url"] = request.getfixturevalue("chroma_server_url")
        overrides["collection"] = f"l{abs(hash(request.node.name)) % 10**8}"
    writer = make_settings(tmp_path / "data", **SMALL_CHUNKS, **overrides)
    if request.param == "server-elsewhere":
        return writer, make_settings(tmp_path / "elsewhere", **SMALL_CHUNKS, **overrides)
    return writer, writer


def _reader(settings: Settings, encoder: Any) -> Engine:
    engine = Engine(settings.model_copy(), query_encoder=encoder, document_encoder=encoder)
    engine.parts.refresh_seconds = 0
    return engine


def _texts(engine: Engine, aid: str) -> list[str]:
    snap = engine.snapshot()
    return [snap.chunk_texts[k] for k in snap.article_chunks(snap.article_index[aid])]


def _every_text(snap: Snapshot) -> list[str]:
    return [snap.chunk_texts[k] for i in range(len(snap.articles)) for k in snap.article_chunks(i)]


def _chunked(engine: Engine, aid: str, key: str) -> list[str]:
    return [c.text for c in engine.parts.ingester().chunk(_article(aid, key))]


def _cited(engine: Engine, question: str) -> set[str]:
    return {c.article_id for c in engine.ask(question, now=DAY).citations}


# -- the tests ------------------------------------------------------------------------------
def test_an_article_ingested_by_another_process_is_answered_without_restart(
    pair, numpy_encoder, monkeypatch
):
    """...reading only what changed: no record but the new one, no chunk but its own."""
    writer, reading = pair
    ingest_elsewhere(writer, {"a0": "harbour"})
    reader = _reader(reading, numpy_encoder)
    assert _cited(reader, "What did the harbour council approve?") == {"a0"}
    ingest_elsewhere(writer, {"b1": "rail"})
    fetched: list[str] = []
    real = reader.parts.store.get_chunks
    monkeypatch.setattr(
        reader.parts.store, "get_chunks", lambda ids: real(fetched.extend(ids) or ids)
    )
    monkeypatch.setattr(reader.parts.store, "records", lambda: pytest.fail("read every record"))
    assert "b1" in _cited(reader, "Why did the rail workers strike?")
    assert _texts(reader, "b1") == _chunked(reader, "b1", "rail")
    n = len(_chunked(reader, "b1", "rail"))
    assert len(fetched) == (n if reading != writer else 0)  # else: from the writer's journal


def test_a_replaced_article_is_never_cited_in_its_old_words(pair, numpy_encoder):
    writer, reading = pair
    ingest_elsewhere(writer, {"a0": "harbour", "b1": "mayor"})
    reader = _reader(reading, numpy_encoder)
    answer = reader.ask("What did the harbour council do about the pier repairs?", now=DAY)
    assert any("approved" in c.quote for c in answer.citations)
    ingest_elsewhere(writer, {"a0": "harbour-v2"})
    for engine in (reader, _reader(reading, numpy_encoder)):  # running, and started anew
        answer = engine.ask("What did the harbour council do about the pier repairs?", now=DAY)
        assert answer.citations and all("cancelled" in c.quote for c in answer.citations)
        assert not any("approved" in t for t in _every_text(engine.snapshot()))


def test_a_deleted_chunk_never_comes_back(pair, numpy_encoder):
    """A shorter version deletes the article's last chunks: not in the running engine, nor
    after its index is compacted, nor in a process started after that."""
    writer, reading = pair
    ingest_elsewhere(writer, {"a0": "harbour", "b1": "mayor"})
    reader = _reader(reading, numpy_encoder)
    before = _texts(reader, "a0")
    ingest_elsewhere(writer, {"a0": "harbour-v2"})
    after = _chunked(reader, "a0", "harbour-v2")
    assert len(after) < len(before)
    assert _texts(reader, "a0") == after
    assert reader.parts.index.compact()
    assert _texts(reader, "a0") == after
    cold = _reader(reading, numpy_encoder)
    assert _texts(cold, "a0") == after
    assert len(cold.snapshot().articles) == 2
    n_chunks = len(after) + len(_chunked(reader, "b1", "mayor"))
    assert reader.snapshot().n_chunks == cold.snapshot().n_chunks == n_chunks


def test_a_question_during_an_ingest_gets_a_complete_answer(pair, numpy_encoder, tmp_path):
    """The other process pauses after each commit; here, each time, every article is whole
    (one version's chunks, all of them) and the question is answered."""
    writer, reading = pair
    ingest_elsewhere(writer, {"a0": "harbour", "b1": "mayor"})
    reader = _reader(reading, numpy_encoder)
    versions = {
        "a0": [_chunked(reader, "a0", "harbour"), _chunked(reader, "a0", "harbour-v2")],
        "b1": [_chunked(reader, "b1", "mayor")],
        "c2": [_chunked(reader, "c2", "rail")],
    }
    steps = tmp_path / "steps"
    steps.mkdir()
    proc = subprocess.Popen(
        _command(writer, {"a0": "harbour-v2", "c2": "rail"}, steps),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = []
    try:
        for n in (1, 2):
            deadline = time.monotonic() + 120
            while not (steps / f"{n}.done").exists():
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
            snap = reader.snapshot()
            for aid in snap.article_index:
                assert _texts(reader, aid) in versions[aid], aid
            seen.append({aid: _texts(reader, aid) for aid in snap.article_index})
            assert _cited(reader, "What did the mayor campaign for?") == {"b1"}
            (steps / f"{n}.go").touch()
        assert proc.wait(timeout=120) == 0
    finally:
        proc.kill()
    assert seen[0]["a0"] == versions["a0"][1]  # committed first: seen at once
    assert "c2" in seen[1] or "c2" in reader.snapshot().article_index
    assert _cited(reader, "Why did the rail workers strike?") == {"c2"}


# -- search over segments ---------------------------------------------------------------------
def _drafts(n: int, seed: int = 0) -> list[Draft]:
    rng = np.random.default_rng(seed)
    words = "harbour council pier repairs mayor rail strike budget vote school bridge".split()
    out = []
    for a in range(n):
        texts = [
            " ".join(rng.choice(words, size=int(rng.integers(5, 30)))) + f" item{a}x{i}."
            for i in range(int(rng.integers(1, 5)))
        ]
        vectors = rng.standard_normal((len(texts), 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        day = 19000 + int(rng.integers(0, 40))
        out.append(
            Draft(
                ArticleMeta(f"a{a}", f"Title {rng.choice(words)}", "src", "", _day(day)),
                f"h{a}",
                [i * 100 for i in range(len(texts))],
                texts,
                [((i * 100, i * 100 + len(t)),) for i, t in enumerate(texts)],
                vectors,
            )
        )
    return out


def _day(n: int) -> date:
    return date.fromordinal(date(1970, 1, 1).toordinal() + n)


def test_search_over_segments_with_dead_rows_equals_search_over_one(tmp_path):
    """The same live chunks, spread over segments that also hold dead versions, rank exactly
    as in one segment: BM25's idf and length norm are the whole index's, ranks are global."""
    drafts = _drafts(60)
    one = Snapshot([Part(build(drafts, 2, {}))])
    stale = _drafts(20, seed=1)  # old versions of a0..a19, dead everywhere below
    first = build(stale[:10] + drafts[:30], 2, {}).save(tmp_path / "s1")
    second = build(drafts[30:] + stale[10:], 2, {})
    split = Snapshot(
        [Part(first, np.arange(10, 40)), Part(second, np.arange(0, 30)), Part(merge([], {}))]
    )
    assert split.n_chunks == one.n_chunks and len(split.articles) == len(one.articles)
    rng = np.random.default_rng(2)
    for query in ("harbour pier repairs", "mayor vote", "rail strike budget school", "zzz"):
        q = rng.standard_normal(384).astype(np.float32)
        q /= np.linalg.norm(q)
        for now in (None, _day(19020)):
            a = search(one, q, query, now, SearchOptions())
            b = search(split, q, query, now, SearchOptions())
            assert _named(one, a) == _named(split, b)
            assert np.allclose([h.score for h in a], [h.score for h in b])
    assert split.bm25.idf_of("harbour") == pytest.approx(one.bm25.idf_of("harbour"))


def _named(snap: Snapshot, hits: list) -> list[tuple[str, str]]:
    return [(snap.articles[snap.article_of(h.chunk)].id, snap.chunk_texts[h.chunk]) for h in hits]


def test_an_hnsw_segment_finds_what_an_exact_one_does(tmp_path):
    drafts = _drafts(300)
    exact = build(drafts, 2, {})
    graph = exact.with_hnsw().save(tmp_path / "g")
    assert graph.hnsw is not None
    q = np.asarray(drafts[7].vectors[0])  # a chunk's own vector: its nearest is itself
    rows, scores = graph.nearest(q, 5, None)
    want, _ = exact.nearest(q, 5, None)
    assert rows[0] == want[0] and scores[0] == pytest.approx(1.0, abs=1e-5)
    allowed = np.zeros(graph.n_rows, dtype=bool)
    allowed[::2] = True
    rows, _ = graph.nearest(q, 5, allowed)
    assert allowed[rows].all()


def test_compaction_keeps_the_answers_and_builds_graphs_for_large_weeks(
    tmp_path, numpy_encoder, monkeypatch
):
    settings = make_settings(tmp_path / "data", **SMALL_CHUNKS, index_exact_chunks=4)
    engine = _reader(settings, numpy_encoder)
    assert engine.snapshot().n_chunks == 0  # a first start writes the (empty) index
    for aid, key in (("a0", "harbour"), ("b1", "mayor"), ("c2", "rail")):
        engine.parts.ingester().ingest_articles([_article(aid, key)])
    questions = ["What did the harbour council approve?", "Why did the rail workers strike?"]
    before = [_cited(engine, q) for q in questions]
    assert len(engine.snapshot().parts) == 3  # one journal segment a commit
    assert engine.parts.index.needs_compaction() is False
    assert engine.parts.index.compact()
    snap = engine.snapshot()
    assert len(snap.parts) == 1 and snap.parts[0].seg.hnsw is not None  # one week, > 4 rows
    assert [_cited(engine, q) for q in questions] == before
    monkeypatch.setattr(Store, "records", lambda self: pytest.fail("read every record"))
    cold = _reader(settings, numpy_encoder)
    assert [_cited(cold, q) for q in questions] == before
    assert cold.snapshot().parts[0].seg.hnsw is not None


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_a_process_holds_no_more_than_its_bound_and_asks_the_store_for_older_news(
    where, request, tmp_path, numpy_encoder
):
    """BRIEFBOT_INDEX_MAX_CHUNKS: a process opens only the newest weeks that fit. With a
    Chroma server, a question about older news is answered from Chroma's own search."""
    overrides: dict[str, Any] = {"index_exact_chunks": 2}  # one segment a week here
    if where == "server":
        overrides["chroma_url"] = request.getfixturevalue("chroma_server_url")
        overrides["collection"] = f"b{abs(hash(request.node.name)) % 10**8}"
    settings = make_settings(tmp_path / "data", **SMALL_CHUNKS, **overrides)
    writer = _reader(settings, numpy_encoder)
    old = Article("old", "Harbour council", TEXTS["harbour"], date(2022, 1, 5), "Gazette", "")
    new = Article("new", "Rail strike", TEXTS["rail"], DAY, "Gazette", "")
    writer.parts.ingester().ingest_articles([old, new])
    assert writer.parts.index.compact()
    bound = len(_chunked(writer, "new", "rail"))
    reader = _reader(settings.model_copy(update={"index_max_chunks": bound}), numpy_encoder)
    snap = reader.snapshot()
    assert {a.id for a in snap.articles} == {"new"} and snap.n_chunks <= bound
    cited = _cited(reader, "What did the harbour council approve?")
    assert cited == ({"old"} if where == "server" else set())
    assert reader.snapshot().n_chunks <= bound  # read for the question, not kept


def test_a_journal_entry_is_opened_once_however_many_of_its_articles_are_new(
    tmp_path, numpy_encoder, monkeypatch
):
    """(Opening it once per article held one copy of the entry per article: 22 GB for an
    ingest of 10,000 articles.)"""
    from retrieval.index.segment import Segment

    settings = make_settings(tmp_path / "data", **SMALL_CHUNKS)
    reader = _reader(settings, numpy_encoder)
    assert reader.snapshot().n_chunks == 0
    _reader(settings, numpy_encoder).parts.ingester().ingest_articles(
        [_article("a0", "harbour"), _article("b1", "mayor"), _article("c2", "rail")]
    )
    opened: list[str] = []
    real = Segment.open.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(
        Segment, "open", classmethod(lambda cls, folder: opened.append(folder) or real(cls, folder))
    )
    assert len(reader.snapshot().articles) == 3
    assert len(opened) == 1


class Doubled:
    """An encoder of another size than the model's: each of its vectors twice over (768
    numbers), so that cosines, and so the answers, are still the model's."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @property
    def dimension(self) -> int:
        return 2 * self.model.dimension

    @property
    def max_seq_length(self) -> int:
        return self.model.max_seq_length

    def encode(self, texts: Any, batch_size: int = 64) -> np.ndarray:
        v = self.model.encode(texts, batch_size=batch_size)
        return (np.hstack([v, v]) / np.float32(np.sqrt(2))).astype(np.float32)

    def count_tokens(self, text: str) -> int:
        return self.model.count_tokens(text)

    def count_tokens_batch(self, texts: Any) -> list[int]:
        return self.model.count_tokens_batch(texts)


def test_the_index_takes_the_vectors_size_from_the_encoder(tmp_path, numpy_encoder):
    """Nothing in the index assumes the model's 384: with an encoder of 768 it writes, searches,
    compacts (an HNSW graph too), opens cold from disk and reads the store itself."""
    encoder = Doubled(numpy_encoder)
    settings = make_settings(tmp_path / "data", **SMALL_CHUNKS, index_exact_chunks=4)
    engine = _reader(settings, encoder)
    assert engine.snapshot().n_chunks == 0
    engine.parts.ingester().ingest_articles(
        [_article("a0", "harbour"), _article("b1", "mayor"), _article("c2", "rail")]
    )
    question = "Why did the rail workers strike?"
    assert engine.snapshot().dimension == encoder.dimension == 768
    assert _cited(engine, question) == {"c2"}
    assert engine.parts.index.compact()
    assert engine.snapshot().parts[0].seg.hnsw is not None
    assert _cited(engine, question) == {"c2"}
    cold = _reader(settings, encoder)
    assert cold.snapshot().parts[0].seg.dimension == 768
    assert _cited(cold, question) == {"c2"}
    assert Snapshot.load(cold.parts.store).dimension == 768
