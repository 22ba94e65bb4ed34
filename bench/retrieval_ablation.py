"""Each part of retrieval switched off in turn, on the dev set, in one process.

    python bench/retrieval_ablation.py [--markdown]

Uses the harness's cached index of corpus-dev (BRIEFBOT_DATA_DIR; built if missing).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date

from _common import CORPUS, DEV

from retrieval.config import load_settings
from retrieval.engine import Engine
from retrieval.evaluation.evaluate import (
    QuestionResult,
    answer_in,
    corpus_key,
    gold_rank,
    metrics,
    read_jsonl,
)
from retrieval.index.search import SearchOptions

FULL = SearchOptions()
VARIANTS = {
    "all parts on": FULL,
    "dense only (no BM25 fusion)": replace(FULL, hybrid=False),
    "no time awareness": replace(FULL, time_prior=False),
    "no headline weight in BM25": replace(FULL, title_weight=0),
    "no article aggregation": replace(FULL, aggregate=False),
    "no near-duplicate collapse": replace(FULL, collapse=False),
}


def run(engine: Engine, questions: list[dict]) -> dict:
    results = []
    for q in questions:
        a = engine.ask(q["question"], now=date.fromisoformat(q["asked_on"]))
        results.append(
            QuestionResult(
                "briefbot",
                q["id"],
                gold_rank(a.ranked_groups, set(q["gold_ids"])),
                answer_in(q["answer"], [c.quote for c in a.citations]),
                a.abstained,
                a.timing_ms["total"],
                [],
            )
        )
    return metrics(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", help="run only the variants whose name contains this")
    args = ap.parse_args()
    settings = load_settings()
    probe = Engine(settings)
    name = corpus_key(CORPUS, probe.recipe)
    settings = settings.model_copy(update={"collection": name})
    base = Engine(settings)
    if base.is_empty():
        print(f"indexing {CORPUS} into {name} (once)...", flush=True)
        base.ingest([CORPUS])
    questions = read_jsonl(DEV)
    print("| variant | Hit@1 | Hit@5 | MRR@10 | answer in citations | abstain | p95 ms |")
    print("|---|---|---|---|---|---|---|")
    for label, options in VARIANTS.items():
        if args.only and args.only not in label:
            continue
        engine = Engine(settings, search_options=options, query_encoder=base.parts.query_encoder)
        engine.ask(questions[0]["question"])  # load
        m = run(engine, questions)
        print(
            f"| {label} | {m['hit@1']:.3f} | {m['hit@5']:.3f} | {m['mrr@10']:.3f} | "
            f"{m['answer_in_citations']:.3f} | {m['abstain_rate']:.3f} | {m['p95_ms']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
