"""The offline evaluation harness."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from retrieval.errors import LoadError
from retrieval.models import Answer


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    import gzip

    path = Path(path)
    if not path.is_file():
        raise LoadError(f"{path}: no such file")
    opener = gzip.open if path.name.endswith(".gz") else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise LoadError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
    return rows


@dataclass(frozen=True)
class CheckResult:
    id: str
    question: str
    passed: bool
    reasons: tuple[str, ...]
    answer: Answer


def check_answer(q: dict[str, Any], answer: Answer) -> list[str]:
    """Why an answer fails a seed-style question (must_cite, must_not_cite, abstain); [] if it passes."""
    reasons = []
    expect_abstain = q.get("expect") == "abstain"
    if expect_abstain and not answer.abstained:
        reasons.append("answered where it should abstain")
    if not expect_abstain and answer.abstained:
        reasons.append("abstained where it should answer")
    cited = "\n".join(c.quote for c in answer.citations)
    for s in q.get("must_cite", []):
        if s not in cited:
            reasons.append(f"did not cite {s!r}")
    for s in q.get("must_not_cite", []):
        if s in cited:
            reasons.append(f"cited {s!r}")
    return reasons


def check_questions(
    ask: Callable[[str, date | None], Answer],
    questions: list[dict[str, Any]],
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CheckResult]:
    results = []
    for k, q in enumerate(questions, start=1):
        asked_on = date.fromisoformat(q["asked_on"]) if q.get("asked_on") else None
        answer = ask(q["question"], asked_on)
        reasons = check_answer(q, answer)
        results.append(CheckResult(q.get("id", str(k)), q["question"], not reasons, tuple(reasons), answer))
        if on_progress:
            on_progress(k, len(questions))
    return results
