"""What crash safety costs at scale: the store check, and reading a snapshot.

    python bench/store_check.py                   # 50,000 chunks (about 1-2 minutes to build)
    python bench/store_check.py --chunks 200000   # about 5 minutes to build here

Builds a store of synthetic articles (10 chunks each, random unit vectors, the metadata real
chunks carry) through `Store.write_articles`, then times:
- `Store.check()`, which an ingest runs after a write that did not end: record metadata and
  chunk ids only;
- what it would cost with chunk metadata instead of ids (a listing with `include=["metadatas"]`);
- a snapshot read (`Snapshot.load`), and its Chroma part: records, then chunks fetched by the
  ids the records name, against the offset-paged listing it replaced;
- the per-ingest read an unchanged ingest adds (`Store.state()`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import _common  # noqa: F401  (puts the project on sys.path)
import numpy as np

from retrieval.config import Settings
from retrieval.index.journal import open_store
from retrieval.index.snapshot import Snapshot
from retrieval.index.store import Store, _paged
from retrieval.models import Article, Chunk

PER_ARTICLE = 10
SENTENCE = "The harbour council met on Tuesday and approved the repairs to the north pier. "


def build(store: Store, n_chunks: int) -> float:
    rng = np.random.default_rng(0)
    text = SENTENCE * 40
    t = time.perf_counter()
    group = []
    for a in range(n_chunks // PER_ARTICLE):
        article = Article(
            f"art{a:07d}",
            f"Headline number {a}",
            text,
            date(2022, 6, 1),
            "Gazette",
            "https://x.test",
        )
        chunks = [
            Chunk(article.id, i, i * 300, i * 300 + 800, text[:800], ((0, 80), (81, 160)), "", 200)
            for i in range(PER_ARTICLE)
        ]
        vectors = rng.standard_normal((PER_ARTICLE, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        group.append((article, f"{a:040x}", chunks, vectors))
        if len(group) * PER_ARTICLE >= 1000:
            store.write_articles(group)
            group = []
    store.write_articles(group)
    return time.perf_counter() - t


def timed(label: str, fn, repeat: int = 2) -> None:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    print(f"{label:58s} {best:7.2f} s   {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--chunks", type=int, default=50_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), _env_file=None)
        store = open_store(settings)
        seconds = build(store, args.chunks)
        store.begin_write()
        store.end_write()
        articles, chunks = store.count()
        print(f"store: {articles:,} articles, {chunks:,} chunks (built in {seconds:.0f} s)")

        def check() -> str:
            found = store.check()
            return f"{len(found.broken)} broken, {len(found.orphans)} orphans"

        def count_pages(include: list[str]) -> str:
            return f"{sum(len(p['ids']) for p in _paged(store.chunks, include)):,} rows"

        timed("Store.check() (record metadata + chunk ids)", check)
        timed("  chunk ids alone", lambda: count_pages([]))
        timed("  chunk metadata instead of ids", lambda: count_pages(["metadatas"]), repeat=1)

        def by_ids() -> str:
            records = store.records()
            ids = [i for aid, r in records.items() for i in r.chunk_ids(aid)]
            return f"{sum(len(p['ids']) for p in store.get_chunks(ids)):,} rows"

        timed(
            "Snapshot.load (Chroma read, checks, BM25)",
            lambda: f"{Snapshot.load(store).n_chunks:,} chunks",
            repeat=1,
        )
        timed("  Chroma read: records, then chunks by the ids they name", by_ids, repeat=1)
        timed(
            "  Chroma read as it was: offset-paged listing of chunks",
            lambda: count_pages(["documents", "metadatas", "embeddings"]),
            repeat=1,
        )
        timed("Store.state() (each ingest and each question)", lambda: store.state(), repeat=5)


if __name__ == "__main__":
    main()
