"""A store that a killed ingest leaves behind, and reads while an ingest writes.

Each crash test runs a real ingest in a child process that kills itself (SIGKILL) right after
one real step has completed, then checks that a fresh engine shows exactly the committed
articles, each whole, and that the next ingest repairs what the dead one left.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from chromadb.api.client import Client as ChromaClient
from chromadb.errors import InternalError

from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.errors import BriefbotError
from retrieval.index.snapshot import Snapshot
from retrieval.models import Article
from tests.conftest import SMALL_CHUNKS, make_settings, story

ROOT = Path(__file__).resolve().parent.parent
DAY = date(2022, 6, 1)
TEXTS = {
    "harbour": story("harbour council", "approved pier repairs"),
    "harbour-v2": story("harbour council", "cancelled the pier repairs", 5),
    "mayor": story("mayor", "campaigned for re-election"),
    "rail": story("rail workers", "went on strike"),
}
QUESTIONS = {
    "harbour": "What did the harbour council do about the pier repairs?",
    "harbour-v2": "What did the harbour council do about the pier repairs?",
    "mayor": "What did the mayor campaign for?",
    "rail": "Why did the rail workers strike?",
}


def _article(aid: str, key: str) -> Article:
    return Article(aid, f"Story {aid}", TEXTS[key], DAY, "Test Gazette", f"https://x.test/{aid}")


# -- the child: a real ingest that dies at a named step -----------------------------------------
def child(settings_json: str, articles_json: str, point: str) -> None:
    """Ingest, and SIGKILL this process right after the first call of `point` completes:
    `chunks.write` (chunks added or upserted), `journal` (the group's journal entry),
    `articles.upsert` (the records), `chunks.delete`, `begin_write`; or `end_write` just
    before the write is marked finished."""
    from retrieval.index.embedding import NumpyEncoder

    encoder = NumpyEncoder()
    engine = Engine(
        Settings(_env_file=None, **json.loads(settings_json)),
        query_encoder=encoder,
        document_encoder=encoder,
    )
    store = engine.parts.store

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    def after(obj: Any, name: str) -> None:
        real = getattr(obj, name)

        def step(*args: Any, **kwargs: Any) -> Any:
            out = real(*args, **kwargs)
            die()
            return out

        setattr(obj, name, step)

    if point == "chunks.write":
        after(store.chunks, "add")
        after(store.chunks, "upsert")
    elif point in ("articles.upsert", "chunks.delete"):
        collection, method = point.split(".")
        after(getattr(store, collection), method)
    elif point == "begin_write":
        after(store, "begin_write")
    elif point == "journal":  # the group's chunks are in the journal, its records not yet
        after(store.journal, "write")
    elif point == "end_write":
        store.end_write = die  # type: ignore[method-assign]
    articles = [_article(aid, key) for aid, key in json.loads(articles_json)]
    engine.parts.ingester().ingest_articles(articles, group_chunks=1)  # one article a group
    sys.exit(3)  # the crash point was never reached


def _ingest_and_die(settings: Settings, articles: dict[str, str], point: str) -> None:
    fields = settings.model_dump(
        mode="json", include={"data_dir", "collection", "chroma_url", *SMALL_CHUNKS}
    )
    code = "import sys; from tests.test_store_crash import child; child(*sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(fields), json.dumps(list(articles.items())), point],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]


# -- checks ------------------------------------------------------------------------------------
def _chunk_texts(snap: Snapshot, aid: str) -> list[str]:
    rows = np.flatnonzero(snap.chunk_article == snap.article_index[aid])
    return [snap.chunk_texts[k] for k in rows]


def _assert_shows_exactly(engine: Engine, expected: dict[str, str], snap: Snapshot) -> None:
    """`snap` holds exactly these articles (id -> key of TEXTS), every chunk of each."""
    assert {a.id for a in snap.articles} == set(expected)
    chunker = engine.parts.ingester()
    for aid, key in expected.items():
        whole = [c.text for c in chunker.chunk(_article(aid, key))]
        assert _chunk_texts(snap, aid) == whole, aid


def _assert_answers_from(engine: Engine, expected: dict[str, str]) -> None:
    """A fresh engine's snapshot (cached or not), a direct read, `sources` and answers agree."""
    _assert_shows_exactly(engine, expected, engine.snapshot())
    _assert_shows_exactly(engine, expected, Snapshot.load(engine.parts.store))  # past any cache
    assert engine.sources()["articles"] == len(expected)
    for aid, key in expected.items():
        answer = engine.ask(QUESTIONS[key], now=DAY)
        assert aid in {c.article_id for c in answer.citations}, (aid, answer.text)
        stored = engine.parts.store.get_articles([aid])[aid].text
        assert stored == TEXTS[key]


def _assert_no_leftovers(engine: Engine, expected: dict[str, str]) -> None:
    chunker = engine.parts.ingester()
    n = sum(len(chunker.chunk(_article(aid, key))) for aid, key in expected.items())
    assert engine.parts.store.count() == (len(expected), n)


@pytest.fixture(params=["embedded", "server"])
def settings(request, tmp_path) -> Settings:
    overrides = {}
    if request.param == "server":
        overrides["chroma_url"] = request.getfixturevalue("chroma_server_url")
        overrides["collection"] = f"c{abs(hash(request.node.name)) % 10**8}"
    return make_settings(tmp_path / "data", **SMALL_CHUNKS, **overrides)


@pytest.fixture
def embedded(tmp_path) -> Settings:
    return make_settings(tmp_path / "data", **SMALL_CHUNKS)


def _engine(settings: Settings, encoder: Any) -> Engine:
    return Engine(settings.model_copy(), query_encoder=encoder, document_encoder=encoder)


def _fresh(settings: Settings, encoder: Any) -> Engine:
    """An engine as a new process has it. Embedded Chroma keeps one client per folder and
    process, whose vectors never include what another process wrote since it opened
    (chroma-core/chroma#3792): so a new one is made here, as a new process would."""
    if not settings.chroma_url:
        ChromaClient.clear_system_cache()
    return _engine(settings, encoder)


def _start(settings: Settings, encoder: Any, articles: dict[str, str]) -> Engine:
    """A store holding these articles, and an engine that has read and cached it."""
    engine = _fresh(settings, encoder)
    engine.parts.ingester().ingest_articles([_article(aid, key) for aid, key in articles.items()])
    assert engine.sources()["articles"] == len(articles)
    engine.parts.refresh_seconds = 0  # this engine lives on through the crash, like a running bot
    return engine


# -- crash points ------------------------------------------------------------------------------
def test_killed_before_the_write_ends(settings, numpy_encoder):
    """Issue item 1: records written, the change counter not yet moved. The cached snapshot
    of the old generation must not hide the committed articles, and nothing is left to do."""
    running = _start(settings, numpy_encoder, {"a0": "harbour"})
    _ingest_and_die(settings, {"b1": "mayor", "b2": "rail"}, "end_write")
    committed = {"a0": "harbour", "b1": "mayor", "b2": "rail"}
    _assert_answers_from(_fresh(settings, numpy_encoder), committed)
    if settings.chroma_url:  # embedded Chroma: the engine that was open cannot see them (above)
        _assert_shows_exactly(running, committed, running.snapshot())
    report = (
        _fresh(settings, numpy_encoder)
        .parts.ingester()
        .ingest_articles([_article(aid, key) for aid, key in committed.items()])
    )
    assert (report.added, report.unchanged, report.repaired) == (0, 3, [])
    _assert_no_leftovers(running, committed)


def test_killed_after_one_article_of_several_is_committed(embedded, numpy_encoder):
    _start(embedded, numpy_encoder, {"a0": "harbour"})
    _ingest_and_die(embedded, {"b1": "mayor", "b2": "rail"}, "articles.upsert")
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": "harbour", "b1": "mayor"})
    engine = _fresh(embedded, numpy_encoder)
    report = engine.parts.ingester().ingest_articles(
        [_article("b1", "mayor"), _article("b2", "rail")]
    )
    assert (report.added, report.unchanged) == (1, 1)
    everything = {"a0": "harbour", "b1": "mayor", "b2": "rail"}
    _assert_answers_from(_fresh(embedded, numpy_encoder), everything)
    _assert_no_leftovers(engine, everything)


def test_killed_after_an_edit_deleted_old_chunks(settings, numpy_encoder):
    """Issue item 2: the process dies once an edited article's old chunks are deleted. Then
    the article is whole (its new version), and ingesting its old text again restores that."""
    _start(settings, numpy_encoder, {"a0": "harbour", "b1": "mayor"})
    _ingest_and_die(settings, {"a0": "harbour-v2"}, "chunks.delete")
    _assert_answers_from(_fresh(settings, numpy_encoder), {"a0": "harbour-v2", "b1": "mayor"})
    engine = _fresh(settings, numpy_encoder)
    report = engine.parts.ingester().ingest_articles([_article("a0", "harbour")])
    assert report.updated == 1
    _assert_answers_from(_fresh(settings, numpy_encoder), {"a0": "harbour", "b1": "mayor"})
    _assert_no_leftovers(engine, {"a0": "harbour", "b1": "mayor"})


@pytest.mark.parametrize(
    ("point", "committed"),
    [
        ("begin_write", "harbour"),
        ("chunks.write", "harbour"),  # the new version's chunks are in, not its record
        ("journal", "harbour"),  # ... and in the journal beside the index
        ("articles.upsert", "harbour-v2"),  # the record is in, the old chunks not yet deleted
    ],
)
def test_killed_during_an_edit(embedded, numpy_encoder, point, committed):
    """Whichever step the edit died after, the article is whole, in one version; the next
    ingest of that version says unchanged and removes the chunks the other one left."""
    _start(embedded, numpy_encoder, {"a0": "harbour", "b1": "mayor"})
    _ingest_and_die(embedded, {"a0": "harbour-v2"}, point)
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": committed, "b1": "mayor"})
    engine = _fresh(embedded, numpy_encoder)
    report = engine.parts.ingester().ingest_articles([_article("a0", committed)])
    assert (report.unchanged, report.updated, report.added) == (1, 0, 0)
    assert bool(report.repaired) == (point != "begin_write")  # leftover chunks removed
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": committed, "b1": "mayor"})
    _assert_no_leftovers(engine, {"a0": committed, "b1": "mayor"})


@pytest.mark.parametrize("point", ["chunks.write", "journal"])
def test_killed_before_a_new_articles_record(embedded, numpy_encoder, point):
    """Chunks without a record are never shown (nor a journal entry no record names), and are
    removed by the next ingest even if that one does not bring the article."""
    running = _start(embedded, numpy_encoder, {"a0": "harbour"})
    _ingest_and_die(embedded, {"b1": "mayor"}, point)
    assert {a.id for a in running.snapshot().articles} == {"a0"}
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": "harbour"})
    engine = _fresh(embedded, numpy_encoder)
    report = engine.parts.ingester().ingest_articles([_article("a0", "harbour")])
    assert report.unchanged == 1
    assert any("chunks that no article's record names" in r for r in report.repaired)
    _assert_no_leftovers(engine, {"a0": "harbour"})


def test_an_article_missing_chunks_is_embedded_again_from_its_stored_text(embedded, numpy_encoder):
    """A store damaged before this version (a record whose chunks are gone, as an edit killed
    after deleting them left it) is checked once by the next ingest, which re-embeds the
    article from its stored text, though that ingest does not bring it."""
    engine = _start(embedded, numpy_encoder, {"a0": "harbour", "b1": "mayor"})
    store = engine.parts.store
    lost = store.chunks.get(where={"article_id": "b1"}, include=[])["ids"]
    store.chunks.delete(ids=lost[1:])
    col = store.client.get_collection(store.name, embedding_function=None)
    col.modify(metadata={"generation": 7})  # no "writing": as a store written before the check
    shutil.rmtree(embedded.data_dir / "index")  # nor the index beside it, with b1 whole
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": "harbour"})  # never half
    report = (
        _fresh(embedded, numpy_encoder)
        .parts.ingester()
        .ingest_articles([_article("a0", "harbour")])
    )
    assert report.unchanged == 1
    assert report.repaired == [f"b1: 1 of its {len(lost)} chunks are in the store; embedded again"]
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": "harbour", "b1": "mayor"})
    _assert_no_leftovers(engine, {"a0": "harbour", "b1": "mayor"})


def test_a_store_with_chunk_ids_of_the_earlier_layout_is_read_and_rewritten(
    embedded, numpy_encoder
):
    """Chunks named "<article>#<i>" (before ids named their version) are still read."""
    engine = _start(embedded, numpy_encoder, {"a0": "harbour"})
    store = engine.parts.store
    got = store.chunks.get(include=["documents", "metadatas", "embeddings"])
    store.chunks.delete(ids=got["ids"])
    store.chunks.add(
        ids=[f"a0#{m['chunk_index']}" for m in got["metadatas"]],
        embeddings=got["embeddings"],
        documents=got["documents"],
        metadatas=got["metadatas"],
    )
    store.articles.update(ids=["a0"], metadatas=[{"layout": 1}])
    store.begin_write()
    store.end_write()
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": "harbour"})
    engine.parts.ingester().ingest_articles([_article("a0", "harbour-v2")])
    _assert_answers_from(_fresh(embedded, numpy_encoder), {"a0": "harbour-v2"})
    _assert_no_leftovers(engine, {"a0": "harbour-v2"})


# -- reads during writes -----------------------------------------------------------------------
def _grown(aid: str, k: int) -> Article:
    """Version k of an article that an editor keeps extending (so a quote of any earlier
    version is still the live text at its place, and the citation check holds)."""
    extra = " ".join(f"Update {j}: the {aid} story moved on again today." for j in range(k))
    return Article(aid, f"Story {aid}", f"{TEXTS['harbour']} {extra}".strip(), DAY, "Gazette", "")


def _new(k: int) -> Article:
    return Article(f"n{k}", "Rail strike", TEXTS["rail"], DAY, "Gazette", "")


class _Reader:
    """Asks, lists sources and checks that each article in the snapshot is whole: the chunks
    of one version of it. `rounds` is how many rounds of edits may have been committed."""

    def __init__(self, engine: Engine, base: list[str]) -> None:
        self.engine, self.base = engine, base
        self.chunker = engine.parts.ingester()
        self.rail = [c.text for c in self.chunker.chunk(_new(0))]  # what every new one says
        self.versions: dict[tuple[str, int], list[str]] = {}
        self.reads = 0

    def whole(self, snap: Snapshot, aid: str, rounds: int) -> bool:
        got = _chunk_texts(snap, aid)
        for k in range(rounds + 1):
            if (aid, k) not in self.versions:
                self.versions[aid, k] = [c.text for c in self.chunker.chunk(_grown(aid, k))]
            if got == self.versions[aid, k]:
                return True
        return False

    def check(self, rounds: int, engine: Engine | None = None) -> None:
        engine = engine or self.engine
        self.reads += 1
        summary = engine.sources()
        assert summary["articles"] >= len(self.base)
        assert summary["chunks"] == sum(s["chunks"] for s in summary["sources"])
        snap = engine.snapshot()
        assert set(self.base) <= set(snap.article_index)
        assert all(self.whole(snap, aid, rounds) for aid in self.base)
        assert all(_chunk_texts(snap, a.id) == self.rail for a in snap.articles if a.id[0] == "n")
        answer = engine.ask("What did the harbour council approve?", now=DAY)
        assert answer.citations


def _round(k: int, base: list[str]) -> list[Article]:
    return [_grown(aid, k) for aid in base] + [_new(k)]


def test_a_reader_at_each_step_of_an_ingest_sees_whole_articles(embedded, numpy_encoder):
    """Issue item 3, step by step: after each of its Chroma writes the writer thread waits
    while the reader thread asks, lists sources and checks every article is whole, both in an
    engine that runs on and in a new one (a process started mid-ingest), then goes on."""
    base = [f"s{i}" for i in range(3)]
    writer = _fresh(embedded, numpy_encoder)
    writer.parts.ingester().ingest_articles(_round(0, base))
    running = _engine(embedded, numpy_encoder)  # the same process: the same Chroma client
    running.parts.refresh_seconds = 0
    reader = _Reader(running, base)
    reader.check(0)
    reader_turn, writer_turn = threading.Semaphore(0), threading.Semaphore(0)
    store = writer.parts.store

    stopped = threading.Event()  # the reader failed: the writer goes on alone

    def pausing(real: Any) -> Any:
        def step(*args: Any, **kwargs: Any) -> Any:
            out = real(*args, **kwargs)
            if not stopped.is_set():
                reader_turn.release()
                writer_turn.acquire(timeout=120)
            return out

        return step

    for collection, name in [
        (store.chunks, "add"),
        (store.chunks, "upsert"),
        (store.chunks, "delete"),
        (store.articles, "upsert"),
    ]:
        setattr(collection, name, pausing(getattr(collection, name)))
    failed: list[BaseException] = []
    finished = threading.Event()

    def write() -> None:
        try:
            for k in (1, 2):
                writer.parts.ingester().ingest_articles(_round(k, base), group_chunks=3)
        except BaseException as exc:  # reported by the main thread
            failed.append(exc)
        finally:
            finished.set()
            reader_turn.release()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while True:
            assert reader_turn.acquire(timeout=120)
            if finished.is_set():
                break
            reader.check(2)
            reader.check(2, _engine(embedded, numpy_encoder))
            writer_turn.release()
    finally:
        stopped.set()
        writer_turn.release()
        thread.join()
    assert not failed, failed
    assert reader.reads > 10  # a read at every step
    reader.check(2)
    assert {a.id for a in running.snapshot().articles} == {*base, "n0", "n1", "n2"}


def test_questions_while_an_ingest_writes_always_get_whole_answers(embedded, numpy_encoder):
    """Issue item 3: one thread ingests edits and new articles round after round; another asks
    and lists sources meanwhile, as often as it can. Every call succeeds, every article whole."""
    base = [f"s{i}" for i in range(3)]
    writer = _fresh(embedded, numpy_encoder)
    writer.parts.ingester().ingest_articles(_round(0, base))
    running = _engine(embedded, numpy_encoder)  # the same process: the same Chroma client
    # Reload whenever the store has changed: as many reads as can be.
    running.parts.refresh_seconds = 0
    reader = _Reader(running, base)
    done = [0]  # rounds written
    failed: list[BaseException] = []

    def write() -> None:
        try:
            for k in range(1, 4):
                writer.parts.ingester().ingest_articles(_round(k, base), group_chunks=3)
                done[0] = k
        except BaseException as exc:  # reported by the main thread
            failed.append(exc)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while thread.is_alive() or reader.reads < 5:
            reader.check(done[0] + 1)  # the round being written may be committed already
    finally:
        thread.join()
    assert not failed, failed
    assert {a.id for a in running.snapshot().articles} == {*base, "n0", "n1", "n2", "n3"}


def _failing(collection: Any, times: int, filtered_only: bool = False) -> None:
    """Chroma's reads of `collection` fail `times` times as they did under a writer's deletes
    (only those with a `where` filter, with `filtered_only`)."""
    real, left = collection.get, [times]

    def get(*args: Any, **kwargs: Any) -> Any:
        if left[0] > 0 and (kwargs.get("where") or not filtered_only):
            left[0] -= 1
            raise InternalError("Error executing plan: Internal error: Error finding id")
        return real(*args, **kwargs)

    collection.get = get


def test_a_read_that_fails_once_is_tried_again(embedded, numpy_encoder):
    _start(embedded, numpy_encoder, {"a0": "harbour"})
    shutil.rmtree(embedded.data_dir / "index")  # nothing on disk: the store must be read
    engine = _engine(embedded, numpy_encoder)
    _failing(engine.parts.store.chunks, times=1)
    assert engine.sources()["articles"] == 1
    answer = engine.ask(QUESTIONS["harbour"], now=DAY)
    assert {c.article_id for c in answer.citations} == {"a0"}


def test_a_read_that_keeps_failing_keeps_the_snapshot_in_hand(
    embedded, numpy_encoder, caplog, monkeypatch
):
    monkeypatch.setattr("retrieval.index.chroma.RETRY_SECONDS", (0, 0, 0))
    engine = _start(embedded, numpy_encoder, {"a0": "harbour"})
    _engine(embedded, numpy_encoder).parts.ingester().ingest_articles([_article("b1", "mayor")])
    _failing(engine.parts.store.articles, times=1000, filtered_only=True)  # what changed: unread
    assert engine.sources()["articles"] == 1  # the snapshot in hand, not a traceback
    answer = engine.ask(QUESTIONS["harbour"], now=DAY)
    assert {c.article_id for c in answer.citations} == {"a0"}
    assert "could not reload the index" in caplog.text
    del engine.parts.store.articles.get  # Chroma reads again
    assert engine.sources()["articles"] == 2

    shutil.rmtree(embedded.data_dir / "index")  # a new process, with no index on disk either
    cold = _engine(embedded, numpy_encoder)
    _failing(cold.parts.store.chunks, times=1000)
    with pytest.raises(BriefbotError, match="could not be read"):
        cold.sources()
