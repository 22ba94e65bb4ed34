"""How the live index scales: stores of 1,000, 10,000 and 25,000 articles (8 chunks each).

    python bench/scale.py                          # 1k, 10k, 25k articles, under /work/scale-data
    python bench/scale.py --sizes 1000 --root /tmp/scale   # quick

Each store is written through `Store` (the same calls an ingest makes: begin_write, groups of
articles with their chunks and vectors, end_write) with random unit vectors, texts made of
the seed articles' words, 20 outlets and 2,000 articles a day up to NOW; a store already
built at the right size is reused. Then, for each size:
- the index's first build (a first start: the writer's journal read and compacted once, then
  HNSW graphs built for large segments, as a serving process does in the background);
- cold start: a new serving process (`serve` below), process start to its first answer;
- warm `ask` p50/p95 (the same process, 60 questions), with the embed/search/compose split;
- memory: the serving process's resident memory above its base (imports, the question
  encoder and Chroma's client loaded, no index), anonymous and file-backed;
- one-article update until the running process answers from it: a one-article write through
  `Store` here, then questions there until one cites it (5 times; the median);
- Chroma write throughput while the store was built (chunks/s, journal included).
Then the growth of each figure, fitted as a power of the number of chunks, and its value
extrapolated to 6 million chunks (a year of a 2,000-article-a-day feed).

The serving process answers with BRIEFBOT_MIN_RELEVANCE=-1 and BRIEFBOT_ANSWER_STEPS empty:
random vectors are not similar to any question, and the answer is still composed and cited as
usual.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (puts the project on sys.path)
import numpy as np
from _common import ROOT, percentile

NOW = date(2024, 6, 30)
PER_DAY = 2000
CHUNKS = 8
OUTLETS = [f"Outlet {c}" for c in "ABCDEFGHIJKLMNOPQRST"]
TARGET_CHUNKS = 6_000_000


# -- synthetic articles -----------------------------------------------------------------------
def vocabulary() -> tuple[list[str], np.ndarray]:
    words: dict[str, int] = {}
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        for w in re.findall(r"[A-Za-z]+", path.read_text()):
            words[w] = words.get(w, 0) + 1
    ranked = sorted(words, key=lambda w: -words[w])
    p = 1.0 / (np.arange(len(ranked)) + 5.0)  # Zipf
    return ranked, p / p.sum()


def make_article(
    i: int, rng: np.random.Generator, vocab: tuple[list[str], np.ndarray], marker: str = ""
) -> Any:
    """Article i: 8 chunks of 8 sentences; `marker` is added to its first sentence."""
    from retrieval.models import Article, Chunk

    words, p = vocab
    day = NOW - timedelta(days=(i // PER_DAY) if not marker else 0)
    title = " ".join(rng.choice(words, size=7, p=p)).capitalize() + f" {i}"
    texts = []
    for _ in range(CHUNKS):
        sentences = [
            " ".join(rng.choice(words, size=int(rng.integers(10, 22)), p=p)).capitalize() + "."
            for _ in range(8)
        ]
        texts.append(" ".join(sentences))
    if marker:
        texts[0] = texts[0].replace(".", f" {marker}.", 1)
    body = "\n\n".join(texts)
    aid = f"s{i:07d}" if not marker else f"update-{marker}"
    article = Article(aid, title, body, day, OUTLETS[i % len(OUTLETS)], f"https://x.test/{i}")
    chunks, start = [], 0
    for k, text in enumerate(texts):
        spans, s = [], start
        for sent in re.findall(r"[^.]+\.", text):
            sent = sent.strip()
            at = body.index(sent, s)
            spans.append((at, at + len(sent)))
            s = at + len(sent)
        chunks.append(Chunk(article.id, k, start, start + len(text), text, tuple(spans), "", 200))
        start += len(text) + 2
    vectors = rng.standard_normal((CHUNKS, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return article, f"{i:040x}", chunks, vectors


def settings_for(folder: Path) -> Any:
    from retrieval.config import Settings

    return Settings(data_dir=folder, _env_file=None, min_relevance=-1.0, answer_steps="")


def build_store(folder: Path, n: int) -> dict[str, float]:
    """Write n articles through Store (skipped when the folder already holds them)."""
    from retrieval.index.journal import open_store

    marker = folder / "built.json"
    if marker.is_file():
        return json.loads(marker.read_text())
    store = open_store(settings_for(folder))
    journal_seconds = [0.0]
    real = store.journal.write

    def timed(*args: Any) -> None:
        t = time.perf_counter()
        real(*args)
        journal_seconds[0] += time.perf_counter() - t

    store.journal.write = timed
    rng, vocab = np.random.default_rng(0), vocabulary()
    t0 = time.perf_counter()
    made = 0.0
    store.begin_write()
    group = []
    for i in range(n):
        t = time.perf_counter()
        group.append(make_article(i, rng, vocab))
        made += time.perf_counter() - t
        if len(group) * CHUNKS >= 1000:
            store.write_articles(group)
            group = []
    store.write_articles(group)
    store.end_write()
    seconds = time.perf_counter() - t0 - made
    out = {
        "chunks": n * CHUNKS,
        "write_s": seconds,
        "chunks_per_s": n * CHUNKS / seconds,
        "journal_s": journal_seconds[0],
    }
    marker.write_text(json.dumps(out))
    return out


# -- the serving process ----------------------------------------------------------------------
def memory() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0]) / 1024
    return out


def serve(folder: str, prepare: bool) -> None:
    """A serving process: answers `ask <question>` lines with one JSON line each."""
    t0 = time.perf_counter()
    from retrieval.engine import Engine

    engine = Engine(settings_for(Path(folder)))
    engine.parts.refresh_seconds = 0.0
    engine.parts.query_encoder.encode(["warm up the encoder"])
    import langchain_core.runnables  # noqa: F401  (the answer path's imports: in the base)

    import retrieval.answering.answer  # noqa: F401

    # Chroma's client, and the caches its first filtered read of the records makes (53 MB
    # at 25,000 records): the store's memory, not the index's, so in the base too.
    before = memory()
    engine.parts.store.state()
    engine.parts.store.records_since(2**62)
    base = memory()
    chroma = base["RssAnon"] - before["RssAnon"]
    imported = time.perf_counter() - t0
    t = time.perf_counter()
    snap = engine.snapshot()
    opened = time.perf_counter() - t
    if prepare:  # what a serving process does in the background: HNSW for large segments
        t = time.perf_counter()
        engine.parts.index.compact(graphs=True)
        graphs = time.perf_counter() - t
        print(json.dumps({"opened": opened, "graphs": graphs}), flush=True)
        return
    t = time.perf_counter()
    answer = engine.ask("What did the council say about the budget?", now=NOW)
    first = time.perf_counter() - t
    print(
        json.dumps(
            {
                "ready": time.perf_counter() - t0,
                "imports_and_encoder": imported,
                "index_open": opened,
                "first_ask": first,
                "chunks": snap.n_chunks,
                "segments": [(p.seg.n_rows, p.seg.hnsw is not None) for p in snap.parts],
                "base": base,
                "chroma_mb": chroma,
                "cited": len(answer.citations),
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "ask":
            t = time.perf_counter()
            answer = engine.ask(arg, now=NOW)
            total = (time.perf_counter() - t) * 1000
            out = {
                "ms": total,
                "timing": answer.timing_ms,
                "cited": sorted({c.article_id for c in answer.citations}),
                "ranked": answer.ranked_article_ids[:3],
            }
            print(json.dumps(out), flush=True)
        elif cmd == "mem":
            print(json.dumps(memory()), flush=True)
        else:
            return


class Server:
    def __init__(self, folder: Path, prepare: bool = False) -> None:
        args = [sys.executable, __file__, "serve", str(folder)] + (["--prepare"] if prepare else [])
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        self.ready = self.read()
        self.wall = time.perf_counter() - self.t0

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"the serving process died ({self.proc.wait()})")
        return json.loads(line)

    def send(self, line: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.read()

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


# -- one size ---------------------------------------------------------------------------------
def questions(k: int) -> list[str]:
    rng = np.random.default_rng(1)
    words, p = vocabulary()
    return [
        "What did " + " ".join(rng.choice(words[20:400], size=int(rng.integers(2, 6)))) + "?"
        for _ in range(k)
    ]


def update_to_answer(folder: Path, server: Server, k: int) -> float:
    """Write one new article through Store here; ask there until the answer cites it."""
    from retrieval.index.journal import open_store

    store = open_store(settings_for(folder))
    word = f"zephyr{k}quokka"
    article, h, chunks, vectors = make_article(
        10_000_000 + k, np.random.default_rng(1000 + k), vocabulary(), marker=word
    )
    t = time.perf_counter()
    store.begin_write()
    store.write_articles([(article, h, chunks, vectors)])
    store.end_write()
    while True:
        got = server.send(f"ask What about {word}?")
        if article.id in got["cited"] or article.id in got["ranked"]:
            return time.perf_counter() - t
        if time.perf_counter() - t > 600:
            raise SystemExit("the update never showed")


def measure(root: Path, n: int) -> dict[str, Any]:
    folder = root / f"a{n}"
    built = build_store(folder, n)
    print(f"\n== {n:,} articles, {n * CHUNKS:,} chunks ==", flush=True)
    print(f"  Chroma write: {built['chunks_per_s']:.0f} chunks/s ({built['write_s']:.0f} s)")
    print(f"    of which the journal: {built['journal_s']:.0f} s")
    out: dict[str, Any] = {"chunks": n * CHUNKS, "write_chunks_per_s": built["chunks_per_s"]}
    prep = folder / "prepared.json"
    if not prep.is_file():
        first = Server(folder, prepare=True)
        prep.write_text(json.dumps({**first.ready, "wall": first.wall}))
        first.stop()
    p = json.loads(prep.read_text())
    print(f"  index, first build from the journal: {p['opened']:.1f} s; graphs {p['graphs']:.1f} s")
    server = Server(folder)
    r = server.ready
    out["cold_s"] = server.wall
    print(
        f"  cold serving process, start to first answer: {server.wall:.2f} s "
        f"(imports+encoder {r['imports_and_encoder']:.2f}, index open {r['index_open']:.2f}, "
        f"first ask {r['first_ask']:.2f}); segments (rows, hnsw): {r['segments']}"
    )
    qs = questions(70)
    for q in qs[:10]:
        server.send(f"ask {q}")
    runs = [server.send(f"ask {q}") for q in qs[10:]]
    ms = [x["ms"] for x in runs]
    parts = {k: [x["timing"].get(k, 0.0) for x in runs] for k in ("embed", "search", "compose")}
    out.update(
        ask_p50=percentile(ms, 50),
        ask_p95=percentile(ms, 95),
        search_p50=percentile(parts["search"], 50),
        search_p95=percentile(parts["search"], 95),
    )
    print(
        f"  warm ask: p50 {out['ask_p50']:.1f} ms, p95 {out['ask_p95']:.1f} ms; "
        + ", ".join(
            f"{k} p50 {percentile(v, 50):.1f} p95 {percentile(v, 95):.1f}" for k, v in parts.items()
        )
    )
    mem = server.send("mem")
    base = r["base"]
    out["mem_mb"] = mem["VmRSS"] - base["VmRSS"]
    out["mem_anon_mb"] = mem["RssAnon"] - base["RssAnon"]
    out["mem_file_mb"] = mem["RssFile"] - base["RssFile"]
    print(f"  Chroma's client in the base: {r['chroma_mb']:.0f} MB")
    print(
        f"  memory above the base process: {out['mem_mb']:.0f} MB "
        f"(anonymous {out['mem_anon_mb']:.0f}, file-backed {out['mem_file_mb']:.0f}); "
        f"{out['mem_mb'] * 1024 / (n * CHUNKS):.2f} KB a chunk"
    )
    updates = [update_to_answer(folder, server, k) for k in range(5)]
    out["update_s"] = float(np.median(updates))
    print(f"  one-article update to answer: median {out['update_s']:.2f} s ({updates})")
    server.stop()
    return out


def fit(results: list[dict[str, Any]]) -> None:
    print("\n== growth (figure ~ chunks^a), extrapolated to 6,000,000 chunks ==")
    xs = np.log([r["chunks"] for r in results])
    for key, unit in (
        ("cold_s", "s"),
        ("update_s", "s"),
        ("ask_p95", "ms"),
        ("search_p95", "ms"),
        ("mem_mb", "MB"),
        ("write_chunks_per_s", "chunks/s"),
    ):
        ys = np.array([max(r[key], 1e-6) for r in results])
        a = float(np.polyfit(xs, np.log(ys), 1)[0]) if len(results) > 1 else float("nan")
        last = results[-1]
        at = ys[-1] * (TARGET_CHUNKS / last["chunks"]) ** a if not math.isnan(a) else ys[-1]
        print(
            f"  {key:20s} a = {a:5.2f}   at {last['chunks']:,}: {ys[-1]:9.2f} {unit:8s} "
            f"6M: {at:9.1f} {unit}"
        )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        serve(sys.argv[2], "--prepare" in sys.argv)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 25_000])
    ap.add_argument("--root", type=Path, default=Path("/work/scale-data"))
    args = ap.parse_args()
    print(f"load average at start: {os.getloadavg()}")
    results = [measure(args.root, n) for n in args.sizes]
    fit(results)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
