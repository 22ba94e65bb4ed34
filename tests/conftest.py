"""Shared fixtures: the real model, real Chroma in temporary directories, the seed article."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrieval.config import PROJECT_ROOT, Settings
from retrieval.engine import Engine
from retrieval.models import Answer

SEEDS = PROJECT_ROOT / "seeds"
SEED = SEEDS / "000_0070773c25b31aea.txt"
FIXTURES = Path(__file__).parent / "fixtures"
# Small chunks: articles of a few sentences still have several, and embedding them is quick.
SMALL_CHUNKS = {"chunk_tokens": 48, "chunk_overlap_tokens": 8}


def story(subject: str, verb: str, n: int = 8) -> str:
    """A short article's text: n sentences on one subject (the store and live-index tests)."""
    return " ".join(f"On day {i} the {subject} {verb} near the old quay." for i in range(n))


def verify_citations(engine: Engine, answer: Answer) -> None:
    """The invariant every answer keeps: each quote is exactly the article's text there."""
    if not answer.citations:
        return
    articles = engine.parts.store.get_articles([c.article_id for c in answer.citations])
    for c in answer.citations:
        article = articles[c.article_id]
        assert article.text[c.start : c.end] == c.quote, (c, article.text[c.start : c.end])
        assert c.title == article.title
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


@pytest.fixture(autouse=True)
def _every_answer_cites_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Engine.ask

    def checked(self: Engine, *args, **kwargs) -> Answer:
        answer = original(self, *args, **kwargs)
        verify_citations(self, answer)
        return answer

    monkeypatch.setattr(Engine, "ask", checked)


@pytest.fixture(scope="session")
def numpy_encoder():
    from retrieval.index.embedding import NumpyEncoder

    return NumpyEncoder()


def make_settings(tmp: Path, **overrides) -> Settings:
    return Settings(data_dir=tmp, seeds_dir=SEEDS, _env_file=None, **overrides)


@pytest.fixture
def make_engine(tmp_path: Path, numpy_encoder):
    """A fresh engine on an empty store in a temporary directory (same model, numpy path)."""

    def make(**overrides) -> Engine:
        settings = make_settings(tmp_path / f"data{len(list(tmp_path.iterdir()))}", **overrides)
        return Engine(settings, query_encoder=numpy_encoder, document_encoder=numpy_encoder)

    return make


@pytest.fixture(scope="session")
def seed_engine(tmp_path_factory: pytest.TempPathFactory, numpy_encoder) -> Engine:
    """An engine with the seed article indexed, shared by every test that only reads."""
    settings = make_settings(tmp_path_factory.mktemp("seed-data"))
    engine = Engine(settings, query_encoder=numpy_encoder, document_encoder=numpy_encoder)
    report = engine.ingest([SEEDS])
    assert report.ok and report.added == 1
    return engine


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server_url(tmp_path_factory: pytest.TempPathFactory):
    """A real Chroma server: the one CI started (BRIEFBOT_TEST_CHROMA_URL), or one of our own."""
    url = os.environ.get("BRIEFBOT_TEST_CHROMA_URL")
    if url:
        yield url
        return
    chroma = shutil.which("chroma") or str(Path(sys.executable).parent / "chroma")
    port = _free_port()
    path = tmp_path_factory.mktemp("chroma-server")
    proc = subprocess.Popen(
        [chroma, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("chroma run did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)
