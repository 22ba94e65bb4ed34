"""The harness: metric code on ranks known by hand, and a whole run on a corpus made for tests."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import date, timedelta

import pytest

from retrieval.evaluation.evaluate import QuestionResult, answer_in, gold_rank, metrics
from tests.conftest import FIXTURES

EVAL = FIXTURES / "eval"


def test_gold_rank_counts_distinct_articles_and_groups():
    assert gold_rank(["a", "a", "b", "g"], {"g"}) == 3  # a repeated chunk is one article
    assert gold_rank(["a", "b"], {"g"}) is None
    assert gold_rank([f"x{i}" for i in range(10)] + ["g"], {"g"}) is None  # past 10
    assert gold_rank([["a", "g"], ["b"]], {"g"}) == 1  # the gold is a near-duplicate of a
    assert gold_rank([["a"], ["b", "c"], ["g"]], {"g"}) == 3


def test_metrics_on_known_ranks():
    def r(rank, found=False, abstained=False, ms=10.0):
        return QuestionResult("s", "q", rank, found, abstained, ms, [])

    m = metrics([r(1, True), r(2), r(5, True, ms=30), r(None, abstained=True, ms=20)])
    assert m["hit@1"] == 0.25 and m["hit@5"] == 0.75
    assert m["mrr@10"] == pytest.approx((1 + 0.5 + 0.2 + 0) / 4)
    assert m["answer_in_citations"] == 0.5 and m["abstain_rate"] == 0.25
    assert m["p50_ms"] == 15.0 and m["n"] == 4


def test_answer_in_passages_ignores_case_and_quotes():
    assert answer_in("“Squid Game”", ["netflix renews squid game for season 2"])
    assert not answer_in("Apple", ["the EU agreed on chargers"])


def test_nothing_after_now_over_random_dates(make_engine):
    engine = make_engine()
    engine.ingest([EVAL / "corpus.jsonl"])
    published = {
        a.id: a.published
        for a in engine.parts.store.get_articles(
            [m.id for m in engine.snapshot().articles]
        ).values()
    }
    rng = random.Random(7)
    for _ in range(25):
        now = date(2021, 6, 1) + timedelta(days=rng.randrange(0, 420))
        answer = engine.ask("Yellowstone flooding gas prices Squid Game charger", now=now)
        for aid in answer.ranked_article_ids + [c.article_id for c in answer.citations]:
            assert published[aid] <= now


class Counting:
    """An encoder that counts the texts it embeds (the numpy one underneath)."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.texts = 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode(self, texts, batch_size: int = 32):
        self.texts += len(texts)
        return self.encoder.encode(texts, batch_size=batch_size)


def test_harness_end_to_end_with_baselines(tmp_path, monkeypatch, numpy_encoder):
    """`briefbot eval --corpus --baseline --report` in this process; the numpy encoder stands
    in for torch (same vectors), for the engine's documents and the LangChain baseline alike."""
    from typer.testing import CliRunner

    import retrieval.evaluation.baselines as baselines
    from bot import cli
    from bot.cli import state
    from retrieval.engine import Engine
    from retrieval.index.langchain_embeddings import LangchainEmbeddings

    class Baseline(LangchainEmbeddings):
        documents = 0  # embedded for the index (questions are embedded at every run)

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            Baseline.documents += len(texts)
            return super().embed_documents(texts)

    documents = Counting(numpy_encoder)
    monkeypatch.setenv("BRIEFBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(state.State, "settings", None)
    monkeypatch.setattr(
        state,
        "make_engine",
        lambda: Engine(state.settings(), query_encoder=numpy_encoder, document_encoder=documents),
    )
    monkeypatch.setattr(baselines, "huggingface_embeddings", lambda _: Baseline(numpy_encoder))
    report = tmp_path / "report"
    args = [
        "eval",
        "--corpus",
        str(EVAL / "corpus.jsonl"),
        "--questions",
        str(EVAL / "questions.jsonl"),
        "--baseline",
        "--report",
        str(report),
    ]
    result = CliRunner().invoke(cli.app, args)
    assert result.exit_code == 0, result.output
    assert documents.texts and Baseline.documents
    data = json.loads((report / "report.json").read_text())
    assert set(data["systems"]) == {"briefbot", "langchain-chroma", "bm25"}
    for m in data["systems"].values():
        assert set(m) >= {
            "hit@1",
            "hit@5",
            "mrr@10",
            "answer_in_citations",
            "abstain_rate",
            "p50_ms",
            "p95_ms",
            "n",
        }
        assert m["n"] == 5
    assert len(data["questions"]) == 5
    assert data["questions"][0]["gold_title"].startswith("Yellowstone closes")
    mine = data["systems"]["briefbot"]
    assert mine["hit@1"] == 1.0  # the week's flood, not last year's; the syndicated $5 story
    assert (report / "chart.png").read_bytes()[:4] == b"\x89PNG"
    assert "briefbot / bm25" in result.output
    # A second run reuses every cached index: nothing is embedded again.
    documents.texts = Baseline.documents = 0
    again = CliRunner().invoke(cli.app, args)
    assert again.exit_code == 0, again.output
    assert "indexing" not in again.output.lower().replace("indexing corpus (articles)", "")
    assert (documents.texts, Baseline.documents) == (0, 0)


def test_harness_smoke_in_a_process_of_its_own(tmp_path):
    """The command as a user runs it (torch for the documents), without the baselines."""
    report = tmp_path / "report"
    env = {**os.environ, "BRIEFBOT_DATA_DIR": str(tmp_path / "data"), "NO_COLOR": "1"}
    cmd = [
        sys.executable,
        "-m",
        "bot.cli",
        "eval",
        "--corpus",
        str(EVAL / "corpus.jsonl"),
        "--questions",
        str(EVAL / "questions.jsonl"),
        "--report",
        str(report),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((report / "report.json").read_text())
    assert set(data["systems"]) == {"briefbot"} and data["systems"]["briefbot"]["hit@1"] == 1.0
