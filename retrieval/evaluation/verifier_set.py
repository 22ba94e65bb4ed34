"""The hand-written set of generated sentences (bench/verifier_set): faithful answers in a chat
model's styles and answers with one plausible error each, over fictional articles, split by
story into `train` and `held_out` before the verifier was tuned (split.json).

`measure` runs a check over the set and gives "faithful kept" and "errors caught", overall and
per kind of error."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from retrieval.answering.evidence import Passage
from retrieval.answering.verification import Verifier
from retrieval.config import PROJECT_ROOT

SET_DIR = PROJECT_ROOT / "bench" / "verifier_set"
FAITHFUL = "faithful"
ERROR_KINDS = (
    "added_clause",
    "negation",
    "number_moment",
    "figure_speaker",
    "wrong_speaker",
    "injection",
)


@dataclass(frozen=True)
class Case:
    story: str
    split: str  # "train" or "held_out"
    kind: str  # FAITHFUL, or one of ERROR_KINDS
    style: str  # the faithful sentence's style; the error's kind again
    sentence: str  # with its [n] markers
    question: str
    passages: dict[int, Passage]

    @property
    def faithful(self) -> bool:
        return self.kind == FAITHFUL


def load(directory: Path = SET_DIR) -> list[Case]:
    """Every sentence of the set, with its story's passages, question and split."""
    import yaml  # PyYAML: only the evaluation reads the set

    split = json.loads((directory / "split.json").read_text())
    split_of = {s: name for name in ("train", "held_out") for s in split[name]}
    cases: list[Case] = []
    for path in sorted(directory.glob("stories-*.yaml")):
        for story in yaml.safe_load(path.read_text(encoding="utf-8")):
            passages = {
                p["n"]: Passage(
                    p["n"],
                    " ".join(p["text"].split()),
                    p.get("title", ""),
                    p.get("source", ""),
                    str(p["date"]) if p.get("date") else None,
                    tuple(p.get("speakers") or ()),
                )
                for p in story["passages"]
            }
            name, question = story["story"], story["question"]
            for style, sentence in story["faithful"]:
                cases.append(
                    Case(name, split_of[name], FAITHFUL, style, sentence, question, passages)
                )
            for kind, sentence in story["errors"]:
                cases.append(Case(name, split_of[name], kind, kind, sentence, question, passages))
    return cases


def measure(cases: Iterable[Case], kept: Callable[[Case], bool]) -> dict[str, float]:
    """ "faithful kept" and "errors caught" (dropped), and the share caught of each kind."""
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for case in cases:
        by_kind[case.kind].append(kept(case))
    errors = [not k for kind in ERROR_KINDS for k in by_kind.get(kind, [])]
    faithful = by_kind.get(FAITHFUL, [])
    out = {
        "faithful kept": sum(faithful) / max(len(faithful), 1),
        "errors caught": sum(errors) / max(len(errors), 1),
        "n faithful": float(len(faithful)),
        "n errors": float(len(errors)),
    }
    for kind in ERROR_KINDS:
        got = by_kind.get(kind, [])
        out[f"caught: {kind}"] = sum(not k for k in got) / max(len(got), 1)
    return out


def verifier_figures(verifier: Verifier, split: str = "held_out") -> dict[str, float]:
    """ "faithful kept" and "errors caught" of `verifier` (with its judge, if it has one) on
    the set's `split`; {} when the set is not here (an install without bench/)."""
    if not (SET_DIR / "split.json").is_file():
        return {}
    cases = [c for c in load() if c.split == split]
    m = measure(cases, lambda c: verifier.check(c.sentence, c.passages, c.question).kept)
    return {"faithful_kept": m["faithful kept"], "errors_caught": m["errors caught"]}
