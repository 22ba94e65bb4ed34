"""Dev retrieval with the live index's segments approximate (HNSW graphs), not exact.

    BRIEFBOT_DATA_DIR=<a copy of the eval data dir> python bench/approximate.py --exact-chunks 1000

Compacts the corpus-dev index into segments of about `--exact-chunks` chunks, each larger one
with its HNSW graph, then asks the 94 dev questions as of their `asked_on` and prints Hit@1 and
MRR@10 as the evaluation harness counts them. Use a copy of the data directory: the compacted
index stays there, and later runs on it search approximately too.
"""

from __future__ import annotations

import argparse
import json
from datetime import date

from _common import CORPUS, DEV


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--exact-chunks", type=int, default=1000)
    args = ap.parse_args()
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.evaluation.evaluate import corpus_key, gold_rank

    settings = Settings(index_exact_chunks=args.exact_chunks)
    name = corpus_key(CORPUS, Engine(settings).recipe)
    engine = Engine(settings.model_copy(update={"collection": name}))
    engine.snapshot()
    engine.parts.index.compact(graphs=True)
    parts = engine.snapshot().parts
    graphs = sum(p.seg.hnsw is not None for p in parts)
    print(f"{len(parts)} segments, {graphs} with an HNSW graph")
    questions = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    rr, hit1 = [], []
    for q in questions:
        answer = engine.ask(q["question"], now=date.fromisoformat(q["asked_on"]))
        rank = gold_rank(answer.ranked_groups, set(q["gold_ids"]))
        rr.append(1 / rank if rank else 0.0)
        hit1.append(rank == 1)
    print(
        f"exact up to {args.exact_chunks} chunks: Hit@1 {sum(hit1) / len(hit1):.3f}, "
        f"MRR@10 {sum(rr) / len(rr):.3f} (n={len(rr)})"
    )


if __name__ == "__main__":
    main()
