"""`briefbot reindex`: a new collection built beside the serving one, with progress; one switch
that every process follows, and only with the same model and chunking; a kill half-way leaves
the old collection serving, and the next run resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import pytest

from retrieval.config import PROJECT_ROOT
from retrieval.engine import Engine
from retrieval.errors import BriefbotError, SettingsError
from retrieval.index.collections import serving
from retrieval.models import Article
from tests.conftest import FIXTURES, SEEDS, make_settings

WEEK = FIXTURES / "week" / "articles.jsonl"
QUESTION = "What did Wallace say after meeting Shoigu?"
ASKED = date(2022, 2, 12)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def engine_at(data: Path, numpy_encoder):
    """Engines on one data directory (one embedded Chroma), as separate processes would be."""

    def make(**overrides) -> Engine:
        engine = Engine(
            make_settings(data, **overrides),
            query_encoder=numpy_encoder,
            document_encoder=numpy_encoder,
        )
        engine.parts.switch_check_seconds = 0  # look at the pointer at every question
        return engine

    return make


def test_reindex_builds_beside_the_old_collection_and_switches_every_reader(engine_at):
    writer = engine_at()
    writer.ingest([SEEDS, WEEK])
    reader = engine_at()
    before = reader.ask(QUESTION, now=ASKED)
    assert reader.parts.store.name == "briefbot"
    seen: list[tuple[int, int]] = []
    report = engine_at().reindex(lambda p: seen.append((p.articles_done, p.articles_total)))
    assert (report.old, report.new) == ("briefbot", "briefbot.v2")
    assert report.articles == 39 and report.unchanged == 0 and not report.resumed
    assert seen[-1] == (39, 39) and all(t == 39 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)  # progress only goes forward
    new = engine_at()
    assert serving(new.parts.store.client, "briefbot").name == "briefbot.v2"
    assert new.parts.store.count() == writer.parts.store.count()  # the same articles and chunks
    # The reader follows at its next question, and answers as before.
    after = reader.ask(QUESTION, now=ASKED)
    assert reader.parts.store.name == "briefbot.v2"
    assert [c.quote for c in after.citations] == [c.quote for c in before.citations]


def test_a_writer_writes_to_the_new_collection_once_switched(engine_at):
    writer = engine_at()
    writer.ingest([SEEDS])
    assert writer.parts.store.name == "briefbot"  # opened before the switch
    engine_at().reindex()
    late = Article("late-1", "Late news", "A story written after the switch.", date(2022, 2, 12))
    assert writer.ingest_articles([late]).added == 1
    assert writer.parts.store.name == "briefbot.v2"
    assert "late-1" in engine_at().parts.store.get_articles(["late-1"])
    old_articles = writer.parts.store.client.get_collection("briefbot_articles")  # read directly
    assert old_articles.get(ids=["late-1"])["ids"] == []


def test_a_reader_reopens_its_live_index_for_the_new_collection(engine_at):
    """The index on disk is per collection: once switched, a reader searches the new one's,
    and sees what is ingested into it afterwards."""
    writer = engine_at()
    writer.ingest([SEEDS])
    reader = engine_at()
    assert "late-1" not in {a.id for a in reader.snapshot().articles}
    old_folder = reader.parts.index.folder
    engine_at().reindex()
    late = Article("late-1", "Late news", "A story written after the switch.", date(2022, 2, 12))
    assert writer.ingest_articles([late]).added == 1
    assert "late-1" in {a.id for a in reader.snapshot().articles}
    assert (
        reader.parts.index.store is reader.parts.store and reader.parts.store.name == "briefbot.v2"
    )
    assert reader.parts.index.folder != old_folder


def test_a_process_with_another_model_or_chunking_never_follows(engine_at):
    engine_at().ingest([SEEDS])
    reader = engine_at()
    reader.ask(QUESTION, now=ASKED)
    writer = engine_at()
    writer.parts.store  # noqa: B018 (opened before the switch)
    engine_at(chunk_tokens=120).reindex()  # an upgrade across a chunking change
    # A reader whose vectors are made otherwise keeps serving the old collection.
    assert reader.ask(QUESTION, now=ASKED).citations
    assert reader.parts.store.name == "briefbot"
    # A writer refuses to write (its feed items stay pending) rather than mix chunkings.
    with pytest.raises(BriefbotError, match="another model or chunking"):
        writer.ingest_articles([Article("x-1", "X", "Some text here.", date(2022, 2, 12))])
    # A process started with the old settings is told what to set.
    with pytest.raises(SettingsError, match="BRIEFBOT_CHUNK_TOKENS"):
        engine_at().parts.store  # noqa: B018
    # Started with the new ones, it serves the new collection.
    assert engine_at(chunk_tokens=120).parts.store.name == "briefbot.v2"


KILLER = """
import os, signal, sys
from pathlib import Path
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.intake import reindex
from retrieval.index.embedding import NumpyEncoder

reindex.PAGE = 5  # pages of five articles: the kill comes after some are committed
encoder = NumpyEncoder()
settings = Settings(data_dir=Path(sys.argv[1]), _env_file=None)
engine = Engine(settings, query_encoder=encoder, document_encoder=encoder)

def progress(p):
    if p.articles_done >= 10:
        os.kill(os.getpid(), signal.SIGKILL)

engine.reindex(progress)
"""


def test_a_reindex_killed_half_way_leaves_the_old_collection_serving(engine_at, data):
    engine_at().ingest([SEEDS, WEEK])
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(data)], env=env, capture_output=True, timeout=300
    )
    assert proc.returncode == -9, proc.stderr.decode()
    engine = engine_at()
    assert engine.parts.store.name == "briefbot"  # no switch: the old collection serves
    assert engine.ask(QUESTION, now=ASKED).citations
    half = engine.parts.store.client.get_collection("briefbot.v2_articles").count()
    assert 0 < half < 39  # what the killed run had committed is there, unserved
    report = engine_at().reindex()  # run again: it resumes
    assert report.resumed and report.new == "briefbot.v2"
    assert report.unchanged == half and report.articles == 39 - half
    assert engine.ask(QUESTION, now=ASKED).citations and engine.parts.store.name == "briefbot.v2"


def test_reindex_command_reports_and_can_drop_the_old_collection(engine_at, data, tmp_path):
    engine_at().ingest([SEEDS])
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "BRIEFBOT_DATA_DIR": str(data),
        "HF_HUB_OFFLINE": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "reindex", "--drop-old"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "briefbot → briefbot.v2: 1 articles embedded" in proc.stderr
    assert "briefbot deleted." in proc.stderr
    names = {c.name for c in engine_at().parts.store.client.list_collections()}
    assert {"briefbot.v2", "briefbot.v2_articles", "briefbot_active"} <= names
    assert not {"briefbot", "briefbot_articles"} & names
    health = subprocess.run(
        [sys.executable, "-m", "bot.cli", "health"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    report = json.loads(health.stdout)
    assert report["store"]["collection"] == "briefbot.v2" and report["store"]["articles"] == 1


def test_an_embedded_index_moves_to_a_server_by_export_and_ingest(
    engine_at, chroma_server_url, tmp_path, numpy_encoder
):
    """docs/operations.md: `briefbot export` from embedded Chroma, `briefbot ingest` into the
    server; the articles come back whole, and answer the same."""
    embedded = engine_at()
    embedded.ingest([SEEDS, WEEK])
    path = tmp_path / "articles.jsonl.gz"
    assert embedded.export(path) == 39
    server = Engine(
        make_settings(
            tmp_path / "server-data",
            chroma_url=chroma_server_url,
            collection=f"moved-{uuid.uuid4().hex[:8]}",
        ),
        query_encoder=numpy_encoder,
        document_encoder=numpy_encoder,
    )
    report = server.ingest([path])
    assert report.ok and report.added == 39
    ids = [a.id for a in embedded.snapshot().articles]
    assert server.parts.store.get_articles(ids) == embedded.parts.store.get_articles(ids)
    before, after = embedded.ask(QUESTION, now=ASKED), server.ask(QUESTION, now=ASKED)
    assert [c.quote for c in after.citations] == [c.quote for c in before.citations]
