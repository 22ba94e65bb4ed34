"""Check the team question set against the team corpus (see README.md).

    python bench/team/check.py            # exits 1 and lists every problem, else prints counts

Reads the articles with a plain front-matter split (no embedding, no project imports), then
checks each question: unique ids, valid kinds and fields, gold articles that exist and are dated
on or before `asked_on` (the first within 0-5 days), every answer string verbatim
(case-insensitive) in a gold article's text, speakers named in their gold article, follow-up
contexts that are earlier questions of the same story, and empty answers for unanswerable ones.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARTICLES = HERE / "articles"
QUESTIONS = HERE / "questions.jsonl"

KINDS = {"speaker", "fact", "time", "followup", "unanswerable"}
WHY = {
    "swapped speaker",
    "not yet happened",
    "subject absent",
    "detail absent",
    "person not quoted",
}
FIELDS = {
    "id",
    "story",
    "question",
    "asked_on",
    "kind",
    "context",
    "speaker",
    "gold_ids",
    "answer",
    "why_unanswerable",
}
FRONT = re.compile(r"\A---\n(?P<meta>.*?)\n---\n(?P<body>.*)\Z", re.S)


def load_articles() -> dict[str, dict]:
    out = {}
    for path in sorted(ARTICLES.glob("*.md")):
        match = FRONT.match(path.read_text(encoding="utf-8"))
        if not match:
            sys.exit(f"{path.name}: no front matter")
        meta = {}
        for line in match["meta"].splitlines():
            key, _, value = line.partition(":")
            meta[key.strip()] = value.strip().strip('"')
        for key in ("id", "title", "source", "published", "url"):
            if not meta.get(key):
                sys.exit(f"{path.name}: front matter lacks {key}")
        if meta["id"] != path.stem:
            sys.exit(f"{path.name}: id {meta['id']!r} is not the file stem")
        words = len(match["body"].split())
        if not 190 <= words <= 460:
            print(f"warning: {path.name}: {words} words", file=sys.stderr)
        out[path.stem] = {
            "published": date.fromisoformat(meta["published"]),
            "text": match["body"],
            "story": path.stem.split("-")[0][:-1]
            if path.stem.startswith("s") and not path.stem.startswith("solo")
            else path.stem.split("-")[0],
        }
    return out


def check(articles: dict[str, dict], rows: list[dict]) -> list[str]:
    problems: list[str] = []
    seen: dict[str, dict] = {}
    stories = {a["story"] for a in articles.values()} | {"none"}
    for n, q in enumerate(rows, 1):
        qid = q.get("id", f"line {n}")

        def bad(msg: str, qid: str = qid) -> None:
            problems.append(f"{qid}: {msg}")

        if qid in seen:
            bad("duplicate id")
        extra = set(q) - FIELDS
        if extra:
            bad(f"unknown fields {sorted(extra)}")
        kind = q.get("kind")
        if kind not in KINDS:
            bad(f"kind {kind!r}")
        if q.get("story") not in stories:
            bad(f"story {q.get('story')!r}")
        if not q.get("question", "").strip():
            bad("empty question")
        try:
            asked = date.fromisoformat(q["asked_on"])
        except (KeyError, ValueError):
            bad("asked_on missing or invalid")
            continue
        gold, answers = q.get("gold_ids"), q.get("answer")
        if not isinstance(gold, list) or not isinstance(answers, list):
            bad("gold_ids and answer must be lists")
            continue
        if kind == "unanswerable":
            if gold or answers:
                bad("unanswerable with gold_ids or answer")
            if q.get("why_unanswerable") not in WHY:
                bad(f"why_unanswerable {q.get('why_unanswerable')!r}")
        else:
            if "why_unanswerable" in q:
                bad("why_unanswerable on an answerable question")
            if not gold or not answers:
                bad("answerable without gold_ids or answer")
            for gid in gold:
                if gid not in articles:
                    bad(f"gold id {gid} not an article")
                elif articles[gid]["published"] > asked:
                    bad(f"gold {gid} published {articles[gid]['published']} after asked_on {asked}")
                elif q.get("story") != articles[gid]["story"]:
                    bad(f"gold {gid} is not in story {q.get('story')}")
            if gold and gold[0] in articles:
                lag = (asked - articles[gold[0]]["published"]).days
                if not 0 <= lag <= 5:
                    bad(f"asked {lag} days after main gold {gold[0]}")
            texts = [articles[g]["text"].casefold() for g in gold if g in articles]
            for ans in answers:
                if not any(ans.casefold() in t for t in texts):
                    bad(f"answer {ans!r} not verbatim in any gold article")
                if not 1 <= len(ans.split()) <= 8:
                    bad(f"answer {ans!r} is not 1-8 words")
            if (
                gold
                and gold[0] in articles
                and answers
                and not any(a.casefold() in articles[gold[0]]["text"].casefold() for a in answers)
            ):
                bad(f"no answer string in the main gold {gold[0]}")
        if kind == "speaker":
            speaker = q.get("speaker", "")
            if not speaker:
                bad("speaker question without speaker")
            surname = speaker.split()[-1] if speaker else ""
            for gid in gold:
                if gid in articles and surname.casefold() not in articles[gid]["text"].casefold():
                    bad(f"speaker {speaker!r} not named in {gid}")
        elif "speaker" in q and kind != "unanswerable":
            bad("speaker field on a non-speaker question")
        if kind == "followup":
            ctx = q.get("context", "")
            earlier = [p for p in seen.values() if p["question"] == ctx]
            if not earlier:
                bad("context is not an earlier question")
            elif earlier[0].get("story") != q.get("story"):
                bad("context is from another story")
        elif "context" in q:
            bad("context on a non-followup question")
        seen[qid] = q
    return problems


def main() -> None:
    articles = load_articles()
    rows = [json.loads(x) for x in QUESTIONS.read_text(encoding="utf-8").splitlines() if x.strip()]
    problems = check(articles, rows)
    for p in problems:
        print(p)
    print(
        f"{len(articles)} articles, {len({a['story'] for a in articles.values()})} stories, "
        f"{len(rows)} questions: {dict(sorted(Counter(q['kind'] for q in rows).items()))}"
    )
    why = Counter(q.get("why_unanswerable") for q in rows if q["kind"] == "unanswerable")
    print(f"unanswerable: {dict(sorted(why.items()))}")
    if problems:
        sys.exit(f"{len(problems)} problems")
    print("clean")


if __name__ == "__main__":
    main()
