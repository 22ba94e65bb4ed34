"""Do answers answer? One run over the chat-style set (bench/questions/chat.jsonl) and dev.jsonl,
on corpus-dev indexed (cached in $BRIEFBOT_DATA_DIR, as the evaluation harness indexes it):

- speaker: on "what did X say" questions, the share whose citations hold X's words (an answer
  phrase of X's); and the citations of those answers whose quoted words the attribution module
  gives to someone else (should be 0);
- abstention: recall on the unanswerable questions, false abstention on the answerable ones
  (chat set and dev.jsonl apart);
- answer strings: in the first cited sentence and anywhere in the citations (dev.jsonl, chat set);
- junk: citations that hold page furniture, and answers that cite the same fact twice;
- offsets: citations whose quote is not the stored article's text at its offsets (must be 0);
- retrieval on dev.jsonl: Hit@1, MRR@10 of the answers' ranked articles.

    BRIEFBOT_DATA_DIR=/work/evaldata python bench/answers.py [--show] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
from datetime import date
from pathlib import Path

from _common import CORPUS, DEV, ROOT, corpus_engine

from retrieval.index.lexical import terms
from retrieval.intake.articles import page_line_kind

CHAT = ROOT / "bench" / "questions" / "chat.jsonl"


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def holds(text: str, answers: list[str]) -> bool:
    t = text.lower().replace("’", "'")
    return any(a.lower().strip("\"'“”").replace("’", "'") in t for a in answers if a)


def same_fact(a: str, b: str) -> bool:
    """Two quotes that say the same: most of the shorter one's content words are in the other."""
    ta, tb = set(terms(a)), set(terms(b))
    small = min(len(ta), len(tb))
    return small >= 4 and len(ta & tb) / small >= 0.7


def junk(quote: str) -> str | None:
    for line in quote.split("\n"):
        if kind := page_line_kind(line):
            return kind
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--chat", type=Path, default=CHAT)
    ap.add_argument("--dev", type=Path, default=DEV)
    ap.add_argument("--show", action="store_true", help="print every answer that misses")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    engine, _, _ = corpus_engine(args.corpus)
    engine.snapshot()

    from retrieval.answering.attribution import attribute_all, same_speaker

    rows = []
    for name, questions in (("chat", read(args.chat)), ("dev", read(args.dev))):
        for q in questions:
            a = engine.ask(
                q["question"], now=date.fromisoformat(q["asked_on"]), context=q.get("context", "")
            )
            quotes = [c.quote for c in a.citations]
            stored = engine.store.get_articles([c.article_id for c in a.citations])
            off = sum(stored[c.article_id].text[c.start : c.end] != c.quote for c in a.citations)
            answers = q.get("answer") or []
            if isinstance(answers, str):
                answers = [answers]
            wrong_speaker = 0
            if q.get("kind") == "speaker" and not a.abstained:
                for quote in quotes:
                    said = attribute_all([quote], [True])[0].speaker
                    if said and not same_speaker(q["speaker"], said) and '"' in quote:
                        wrong_speaker += 1
            gold = set(q.get("gold_ids", []))
            ranked = a.ranked_groups[:10]
            rank = next((k for k, g in enumerate(ranked, 1) if gold & set(g)), None)
            rows.append(
                {
                    "set": name,
                    "id": q["id"],
                    "kind": q.get("kind", "dev"),
                    "question": q["question"],
                    "answerable": bool(gold) if name == "chat" else True,
                    "abstained": a.abstained,
                    "first": bool(quotes) and holds(quotes[0], answers),
                    "anywhere": holds(" ".join(quotes), answers),
                    "junk": [k for k in map(junk, quotes) if k],
                    "repeats": sum(
                        same_fact(x, y) for i, x in enumerate(quotes) for y in quotes[i + 1 :]
                    ),
                    "wrong_speaker": wrong_speaker,
                    "offsets_wrong": off,
                    "rank": rank,
                    "answer": a.answer,
                }
            )

    def rate(sel: list[dict], key: str) -> str:
        return f"{sum(bool(r[key]) for r in sel) / max(len(sel), 1):.3f} ({len(sel)})"

    chat = [r for r in rows if r["set"] == "chat"]
    dev = [r for r in rows if r["set"] == "dev"]
    speaker = [r for r in chat if r["kind"] == "speaker"]
    unanswerable = [r for r in chat if not r["answerable"]]
    answerable = [r for r in chat if r["answerable"]]
    figures = {
        "speaker: X's words cited": rate(speaker, "anywhere"),
        "speaker: others' quotes cited as X's": sum(r["wrong_speaker"] for r in speaker),
        "abstention recall (unanswerable)": rate(unanswerable, "abstained"),
        # of the answers that abstain, the share that should (chat; chat and dev together)
        "abstention precision (chat / chat+dev)": " / ".join(
            f"{sum(not r['answerable'] for r in a) / max(len(a), 1):.3f} ({len(a)})"
            for a in (
                [r for r in chat if r["abstained"]],
                [r for r in rows if r["abstained"]],
            )
        ),
        "false abstention (chat answerable)": rate(answerable, "abstained"),
        "false abstention (dev)": rate(dev, "abstained"),
        "answer in first citation (dev)": rate(dev, "first"),
        "answer in citations (dev)": rate(dev, "anywhere"),
        "answer in first citation (chat answerable)": rate(answerable, "first"),
        "answer in citations (chat answerable)": rate(answerable, "anywhere"),
        "answers with junk": sum(bool(r["junk"]) for r in rows if not r["abstained"]),
        "answers with a repeated fact": sum(bool(r["repeats"]) for r in rows if not r["abstained"]),
        "citations whose offsets miss their quote": sum(r["offsets_wrong"] for r in rows),
        "dev Hit@1": f"{sum(r['rank'] == 1 for r in dev) / len(dev):.3f}",
        "dev MRR@10": f"{sum(1 / r['rank'] for r in dev if r['rank']) / len(dev):.3f}",
    }
    if args.json:
        print(json.dumps({"figures": figures, "rows": rows}, indent=2))
        return
    for k, v in figures.items():
        print(f"{k:<45} {v}")
    if args.show:
        for r in rows:
            miss = (
                r["abstained"] != (not r["answerable"])
                or (r["answerable"] and not r["abstained"] and not r["anywhere"])
                or r["junk"]
                or r["repeats"]
                or r["wrong_speaker"]
            )
            if miss:
                print(f"\n[{r['set']} {r['id']} {r['kind']}] {r['question']}")
                flags = {k: r[k] for k in ("abstained", "first", "anywhere", "junk", "repeats")}
                print(f"  {flags}")
                print("  " + re.sub(r"\s+", " ", r["answer"])[:600])


if __name__ == "__main__":
    main()
