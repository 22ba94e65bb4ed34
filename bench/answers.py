"""Do answers answer? The answerer's figures on the held-out splits it was never trained or
tuned on (bench/splits/), one table per question set:

- team: the project's own fictional articles and chat questions (bench/team/), by story;
- recent: the 2023-24 quiz (../shared/eval/realtimeqa-recent/), by week;
- chat, dev: the dev weeks' chat set and quiz, tuned on by earlier rounds: `--part train` only.

Figures: speaker (the person's words cited), abstention recall, false abstention, answer in
the first citation and anywhere in the citations, junk and repeated facts, Hit@1 / MRR@10.
`--ablate` runs each named step of the answerer (options.py STEPS) switched off (or, for one
off by default, on), to show what it earns on the same questions. bench/index_sizes.py asks
the same questions on indexes of other sizes.

    BRIEFBOT_DATA_DIR=/work/evaldata python bench/answers.py [--sets team,recent] [--part heldout]
        [--ablate] [--show] [--json] [--ids FIRST-LAST]

`--ids t001-t296` keeps the questions whose ids sort between the two (the team set's first
batch; its second batch, t297 on, was written after the third round of tuning).
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import replace

from _answering import DATASETS, ask_all, figures
from _common import corpus_engine

from retrieval.answering.options import STEPS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sets", default="team,recent")
    ap.add_argument("--part", default="heldout", choices=["heldout", "train", "all"])
    ap.add_argument("--ablate", action="store_true", help="each named step off, in turn")
    ap.add_argument("--show", action="store_true", help="print every answer that misses")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--ids", help="FIRST-LAST: only the questions whose ids sort between them")
    args = ap.parse_args()

    report: dict[str, dict] = {}
    for name in args.sets.split(","):
        d = DATASETS[name]
        if not d.available():
            print(f"{name}: not here ({d.corpus}), skipped")
            continue
        questions = d.read(args.part)
        if args.ids:
            first, _, last = args.ids.partition("-")
            questions = [q for q in questions if first <= q["id"] <= last]
        if not questions:
            print(f"{name}: no {args.part} questions (tuned on before: use --part train)")
            continue
        engine, _, _ = corpus_engine(d.corpus)
        engine.snapshot()
        base = engine.compose_options
        runs = {"answerer": base.steps}
        if args.ablate:
            runs |= {f"without {s}": base.steps - {s} for s in sorted(base.steps)}
            runs |= {f"with {s}": base.steps | {s} for s in STEPS if s not in base.steps}
        for label, steps in runs.items():
            engine.compose_options = replace(base, steps=steps)
            rows = ask_all(engine, questions)
            report.setdefault(name, {})[label] = figures(rows)
            if args.show and label == "answerer":
                for r in rows:
                    miss = r["abstained"] == r["answerable"] or (
                        r["answerable"] and not r["anywhere"]
                    )
                    if miss:
                        print(f"\n[{name} {r['id']} {r['kind']}] {r['question']}  {r['answers']}")
                        print(f"  abstained={r['abstained']} confidence={r['confidence']}")
                        print("  " + re.sub(r"\s+", " ", r["answer"])[:500])
        engine.compose_options = base
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for name, runs_ in report.items():
        print(f"\n## {name} ({args.part})")
        labels = list(runs_)
        keys = list(runs_[labels[0]])
        print(f"{'':<42}" + "".join(f"{lab[:22]:>24}" for lab in labels))
        for k in keys:
            print(f"{k:<42}" + "".join(f"{runs_[lab][k]:>24}" for lab in labels))
    if args.ablate:
        print("\nsteps:")
        for s, note in STEPS.items():
            print(f"  {s}: {note}")


if __name__ == "__main__":
    main()
