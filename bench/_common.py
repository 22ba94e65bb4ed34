"""Helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
EVAL = ROOT.parent / "shared" / "eval"
CORPUS = EVAL / "realtimeqa" / "corpus-dev.jsonl.gz"
DEV = EVAL / "realtimeqa" / "dev.jsonl"


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50):.1f} · p95 {percentile(values, 95):.1f} · "
        f"mean {statistics.fmean(values):.1f} · max {max(values):.1f} (n={len(values)})"
    )


def corpus_engine(corpus: Path):
    """The engine on `corpus`'s own collection, indexed as the evaluation harness indexes it
    (cached in $BRIEFBOT_DATA_DIR: unchanged articles are skipped), with its articles and the
    ingest report."""
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.evaluation.evaluate import corpus_key
    from retrieval.intake.articles import load_path
    from retrieval.intake.files import iter_paths

    settings = Settings()
    probe = Engine(settings)
    if corpus.is_dir():  # a folder of articles: keyed on every file's name and content
        import hashlib

        digest = hashlib.sha1()
        for f in sorted(p for p in corpus.rglob("*") if p.is_file()):
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
        recipe = hashlib.sha1(probe.recipe.encode()).hexdigest()[:8]
        key = f"eval-{digest.hexdigest()[:12]}-{recipe}"
    else:
        key = corpus_key(corpus, probe.recipe)
    engine = Engine(settings.model_copy(update={"collection": key}))
    articles = [
        a
        for f in iter_paths([corpus])
        for a in load_path(f, on_error=lambda e: print(f"skipped {e}"))
    ]
    report = engine.parts.ingester().ingest_articles(articles)
    return engine, articles, report
