"""Does a question get the same answer whatever else is indexed? The team questions that have
gold articles, each asked:

- on an index of its first gold article alone (1 article);
- on the team corpus (39 articles);
- on the team corpus added to a cached corpus of real news (corpus-dev: 1,894 articles; the
  2023-24 corpus: 4,565), in a copy of that corpus's index (the copy is made under --work and
  reused; only the team's articles are embedded).

For each larger index it counts the questions whose verdict (answered or declined) and whose
first citation are those of the one-article index (other articles of the same story may
rightly change an answer: a later article corrects a figure), and, for the indexes with real
news added, those that are the team corpus's own (only unrelated articles were added).

    BRIEFBOT_DATA_DIR=/work/evaldata python bench/index_sizes.py [--part heldout|train|all]
        [--work /work/sizes] [--big dev,recent]
"""

from __future__ import annotations

import argparse
import shutil
from collections import defaultdict
from datetime import date
from pathlib import Path

from _answering import DATASETS
from _common import corpus_engine

from retrieval.config import Settings
from retrieval.engine import Engine


def ask(engine: Engine, q: dict) -> tuple[bool, str]:
    a = engine.ask(
        q["question"], now=date.fromisoformat(q["asked_on"]), context=q.get("context", "")
    )
    return a.abstained, a.citations[0].quote if a.citations else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--part", default="heldout", choices=["heldout", "train", "all"])
    ap.add_argument("--work", type=Path, default=Path("/work/sizes"))
    ap.add_argument("--big", default="dev,recent")
    args = ap.parse_args()

    team = DATASETS["team"]
    questions = [q for q in team.read(args.part) if q.get("gold_ids")]
    by_article: dict[str, list[dict]] = defaultdict(list)
    for q in questions:
        by_article[q["gold_ids"][0]].append(q)
    print(f"{len(questions)} questions about {len(by_article)} articles ({args.part})")

    # 1 article: one small index a gold article, in a data dir of its own
    single: dict[str, tuple[bool, str]] = {}
    settings = Settings()
    one_dir = args.work / "one"
    for article, qs in sorted(by_article.items()):
        path = team.corpus / f"{article}.md"
        engine = Engine(
            settings.model_copy(update={"data_dir": one_dir, "collection": f"one-{article}"})
        )
        engine.ingest([path])
        for q in qs:
            single[q["id"]] = ask(engine, q)

    results: dict[str, dict[str, tuple[bool, str]]] = {}
    engine, _, _ = corpus_engine(team.corpus)
    results[f"team ({len(engine.snapshot().articles)} articles)"] = {
        q["id"]: ask(engine, q) for q in questions
    }
    for name in [b for b in args.big.split(",") if b]:
        d = DATASETS[name]
        if not d.available():
            print(f"{name}: not here, skipped")
            continue
        base, _, _ = corpus_engine(d.corpus)  # makes sure the cached index exists
        copy = args.work / f"with-{name}"
        if not copy.exists():
            shutil.copytree(base.settings.data_dir, copy, ignore=shutil.ignore_patterns("*.lock"))
        big = Engine(base.settings.model_copy(update={"data_dir": copy}))
        big.ingest([team.corpus])
        n = len(big.snapshot().articles)
        results[f"team + {name} ({n} articles)"] = {q["id"]: ask(big, q) for q in questions}

    print(f"\n{'index':<36}{'same verdict':>16}{'same first citation':>22}")
    for label, got in results.items():
        verdict = sum(got[i][0] == single[i][0] for i in single)
        first = sum(got[i] == single[i] for i in single)
        print(f"{label:<36}{verdict:>10} / {len(single):<5}{first:>14} / {len(single)}")
    # The team corpus against itself among unrelated news: only distractors were added.
    labels = list(results)
    for label in labels[1:]:
        got, small = results[label], results[labels[0]]
        verdict = sum(got[i][0] == small[i][0] for i in small)
        first = sum(got[i] == small[i] for i in small)
        print(f"{label + ' vs team':<36}{verdict:>10} / {len(small):<5}{first:>14} / {len(small)}")
    for label, got in results.items():
        differ = [i for i in single if got[i][0] != single[i][0]]
        if differ:
            print(f"\nverdicts that differ on {label}:")
            for i in differ:
                q = next(q for q in questions if q["id"] == i)
                alone = "declines" if single[i][0] else "answers"
                print(f"  {i} {q['question']!r}: on its article alone it {alone}")


if __name__ == "__main__":
    main()
