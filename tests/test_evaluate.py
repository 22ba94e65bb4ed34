"""The harness: metric code on ranks known by hand, and a whole run on a corpus made for tests."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import date, timedelta

import pytest

from retrieval.evaluate import QuestionResult, answer_in, gold_rank, metrics
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
        for a in engine.store.get_articles([m.id for m in engine.snapshot().articles]).values()
    }
    rng = random.Random(7)
    for _ in range(25):
        now = date(2021, 6, 1) + timedelta(days=rng.randrange(0, 420))
        answer = engine.ask("Yellowstone flooding gas prices Squid Game charger", now=now)
        for aid in answer.ranked_article_ids + [c.article_id for c in answer.citations]:
            assert published[aid] <= now


def test_harness_end_to_end_with_baselines(tmp_path):
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
        "--baseline",
        "--report",
        str(report),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
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
    assert "briefbot / bm25" in proc.stdout
    # A second run reuses every cached index: nothing is embedded again.
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "indexing" not in again.stderr.lower().replace(
        "indexing corpus (articles)", ""
    )
