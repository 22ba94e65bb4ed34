"""The labelled question sets the answerer is trained and measured on, their frozen splits
(bench/splits/), and the figures reported on them (bench/answers.py, bench/train_answerer.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from _common import EVAL, ROOT

from retrieval.index.lexical import terms
from retrieval.intake.pagetext import page_line_kind


@dataclass(frozen=True)
class Dataset:
    name: str
    corpus: Path
    questions: Path
    split: Path | None  # None: every question is for training (it was tuned on before)

    def available(self) -> bool:
        return self.corpus.exists() and self.questions.exists()

    def read(self, part: str) -> list[dict]:
        """part: 'train', 'heldout' or 'all'."""
        rows = [
            json.loads(line)
            for line in self.questions.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
        if part == "all":
            return rows
        if self.split is None:
            return rows if part == "train" else []
        ids = set(json.loads(self.split.read_text())[part])
        return [r for r in rows if r["id"] in ids]


DEV_CORPUS = EVAL / "realtimeqa" / "corpus-dev.jsonl.gz"
DATASETS = {
    d.name: d
    for d in (
        # The team corpus: fictional articles of our own, questions written blind, split by story.
        Dataset(
            "team",
            ROOT / "bench" / "team" / "articles",
            ROOT / "bench" / "team" / "questions.jsonl",
            ROOT / "bench" / "splits" / "team.json",
        ),
        # The 2023-24 quiz, split by week.
        Dataset(
            "recent",
            EVAL / "realtimeqa-recent" / "corpus-y2023-2024.jsonl.gz",
            EVAL / "realtimeqa-recent" / "y2023-2024.jsonl",
            ROOT / "bench" / "splits" / "recent.json",
        ),
        # Tuned on by earlier rounds: training data only.
        Dataset("chat", DEV_CORPUS, ROOT / "bench" / "questions" / "chat.jsonl", None),
        Dataset("dev", DEV_CORPUS, EVAL / "realtimeqa" / "dev.jsonl", None),
    )
}


def answers_of(q: dict) -> list[str]:
    a = q.get("answer") or []
    return [a] if isinstance(a, str) else list(a)


def answerable(q: dict) -> bool:
    """Quiz questions always are; our own sets say so with a kind and gold articles."""
    return q.get("kind") != "unanswerable" and bool(answers_of(q))


def holds(text: str, answers: list[str]) -> bool:
    t = text.lower().replace("’", "'")
    return any(a.lower().strip("\"'“”").replace("’", "'") in t for a in answers if a)


def same_fact(a: str, b: str) -> bool:
    ta, tb = set(terms(a)), set(terms(b))
    small = min(len(ta), len(tb))
    return small >= 4 and len(ta & tb) / small >= 0.7


def junk(quote: str) -> str | None:
    for line in quote.split("\n"):
        if kind := page_line_kind(line):
            return kind
    return None


def ask_all(engine, questions: list[dict], explain: bool = False) -> list[dict]:
    """Ask every question as of its day; one row of facts per question."""
    rows = []
    for q in questions:
        ex: dict | None = {} if explain else None
        day = date.fromisoformat(q["asked_on"])
        if hasattr(engine, "answerer"):
            a = engine.answerer.invoke(
                engine.check_question(q["question"]),
                " ".join(q.get("context", "").split()),
                day,
                explain=ex,
            )
        else:  # an engine of before the answer chain moved (to measure the old answerer)
            a = engine.ask(q["question"], now=day, context=q.get("context", ""))
        quotes = [c.quote for c in a.citations]
        answers = answers_of(q)
        gold = set(q.get("gold_ids", []))
        ranked = a.ranked_groups[:10]
        rank = next((k for k, g in enumerate(ranked, 1) if gold & set(g)), None)
        rows.append(
            {
                "id": q["id"],
                "kind": q.get("kind", "quiz"),
                "question": q["question"],
                "answerable": answerable(q),
                "abstained": a.abstained,
                "first": bool(quotes) and holds(quotes[0], answers),
                "anywhere": holds(" ".join(quotes), answers),
                "junk": sum(bool(junk(x)) for x in quotes),
                "repeats": sum(
                    same_fact(x, y) for i, x in enumerate(quotes) for y in quotes[i + 1 :]
                ),
                "rank": rank if gold else None,
                "has_gold": bool(gold),
                "answer": a.answer,
                "confidence": getattr(a, "confidence", None),
                "explain": ex,
                "answers": answers,
            }
        )
    return rows


def figures(rows: list[dict]) -> dict[str, str]:
    def rate(sel: list[dict], key: str | Callable[[dict], bool]) -> str:
        f = key if callable(key) else (lambda r: bool(r[key]))
        return f"{sum(f(r) for r in sel) / max(len(sel), 1):.3f} ({len(sel)})" if sel else "–"

    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    spk = [r for r in ans if r["kind"] == "speaker"]
    facts = [r for r in ans if r["kind"] != "speaker"]
    gold = [r for r in rows if r["has_gold"]]
    out = {
        "speaker: the person's words cited": rate(spk, "anywhere"),
        "abstention recall (unanswerable)": rate(una, "abstained"),
        "false abstention (answerable)": rate(ans, "abstained"),
        "answer in first citation (answerable)": rate(ans, "first"),
        "answer in citations (answerable)": rate(ans, "anywhere"),
        "answer in first citation (facts)": rate(facts, "first"),
        "answer in citations (facts)": rate(facts, "anywhere"),
        "answers with junk / a repeated fact": f"{sum(r['junk'] > 0 for r in rows)} / "
        f"{sum(r['repeats'] > 0 for r in rows)}",
    }
    if gold:
        out["Hit@1"] = rate(gold, lambda r: r["rank"] == 1)
        out["MRR@10"] = f"{sum(1 / r['rank'] for r in gold if r['rank']) / len(gold):.3f}"
    return out
