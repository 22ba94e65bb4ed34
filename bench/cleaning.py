"""What the ingest's page-furniture rules remove from a corpus: lines and characters per rule,
with examples to read, so that each rule can be checked on real pages.

    python bench/cleaning.py ../shared/eval/realtimeqa/corpus-dev.jsonl.gz [--examples 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from collections import Counter, defaultdict
from pathlib import Path

from retrieval.intake.pagetext import normalize_text, page_line_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--examples", type=int, default=5)
    args = parser.parse_args()

    opener = gzip.open if args.corpus.name.endswith(".gz") else open
    lines = chars = articles = emptied = 0
    removed: Counter[str] = Counter()
    removed_chars: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    with opener(args.corpus, "rt", encoding="utf-8") as f:
        for row in map(json.loads, f):
            articles += 1
            kept = 0
            for line in normalize_text(row.get("text") or "").split("\n"):
                if not line.strip():
                    continue
                lines += 1
                chars += len(line)
                kind = page_line_kind(line)
                if kind is None:
                    kept += 1
                    continue
                removed[kind] += 1
                removed_chars[kind] += len(line)
                examples[kind].append(line)
            emptied += kept == 0
    print(f"{articles} articles, {lines} lines, {chars} characters")
    print(f"{'rule':<20} {'lines':>7} {'% lines':>8} {'% chars':>8}")
    for kind, n in removed.most_common():
        print(f"{kind:<20} {n:>7} {n / lines:>8.2%} {removed_chars[kind] / chars:>8.2%}")
    total = sum(removed.values())
    print(
        f"{'all':<20} {total:>7} {total / lines:>8.2%} {sum(removed_chars.values()) / chars:>8.2%}"
    )
    print(f"articles left with no text (refused at ingest): {emptied}")
    rng = random.Random(0)
    for kind in removed:
        print(f"\n{kind}:")
        for line in rng.sample(examples[kind], min(args.examples, len(examples[kind]))):
            print(f"  {line[:150]}")


if __name__ == "__main__":
    main()
