"""The offline evaluation harness: it drives an engine from outside, through its public methods
(a corpus indexed in a collection of its own, every question asked as of its date), and
compares it with the baselines (retrieval/evaluation/baselines.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.errors import LoadError
from retrieval.evaluation.report import EvalRun
from retrieval.models import Answer, Article

if TYPE_CHECKING:
    from langchain_core.embeddings import Embeddings

    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.evaluation.baselines import Retrieved
    from retrieval.intake.ingest import ProgressCallback

log = logging.getLogger(__name__)


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
    """Why an answer fails a seed-style question (must_cite, must_not_cite, abstain)."""
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
    engine: Engine,
    questions: list[dict[str, Any]],
    on_progress: Callable[[int, int], None] | None = None,
) -> list[CheckResult]:
    """Seed-style questions (must_cite / must_not_cite / abstain) asked of the engine's index,
    each as of its `asked_on` date (default: today)."""
    results = []
    for k, q in enumerate(questions, start=1):
        asked_on = date.fromisoformat(q["asked_on"]) if q.get("asked_on") else None
        answer = engine.ask(q["question"], now=asked_on)
        reasons = check_answer(q, answer)
        results.append(
            CheckResult(q.get("id", str(k)), q["question"], not reasons, tuple(reasons), answer)
        )
        if on_progress:
            on_progress(k, len(questions))
    return results


def corpus_key(corpus: Path, recipe: str) -> str:
    """A collection name for a corpus, keyed on its content and the embedding recipe (model
    and chunking), not on its file name: an unchanged corpus is never embedded twice."""
    import hashlib

    digest = hashlib.sha1()
    with open(corpus, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return f"eval-{digest.hexdigest()[:12]}-{hashlib.sha1(recipe.encode()).hexdigest()[:8]}"


# -- retrieval metrics ------------------------------------------------------------------------
def distinct(ids: list[str], k: int | None = None) -> list[str]:
    out = list(dict.fromkeys(ids))
    return out[:k] if k else out


def gold_rank(ranked: list[str] | list[list[str]], gold: set[str], k: int = 10) -> int | None:
    """1-based rank of the first gold article among the first k distinct results. A result is
    an article id, or a group of ids: one story and its near-duplicates from other outlets."""
    groups = [[g] if isinstance(g, str) else g for g in ranked]
    seen: set[str] = set()
    r = 0
    for group in groups:
        if group[0] in seen:
            continue
        seen.update(group)
        r += 1
        if r > k:
            return None
        if gold & set(group):
            return r
    return None


def normalise_answer(s: str) -> str:
    return " ".join(s.lower().strip().strip("\"'“”‘’").split())


def answer_in(answer: str, passages: list[str]) -> bool:
    needle = normalise_answer(answer)
    return bool(needle) and needle in normalise_answer(" ".join(passages))


@dataclass
class QuestionResult:
    system: str
    id: str
    rank: int | None
    answer_found: bool
    abstained: bool
    ms: float
    top_ids: list[str]


def metrics(results: list[QuestionResult]) -> dict[str, float]:
    from statistics import fmean

    n = len(results)
    if not n:
        return {"n": 0}
    lat = sorted(r.ms for r in results)

    def pct(p: float) -> float:
        k = (n - 1) * p
        lo = int(k)
        hi = min(lo + 1, n - 1)
        return lat[lo] + (lat[hi] - lat[lo]) * (k - lo)

    return {
        "hit@1": fmean(r.rank == 1 for r in results),
        "hit@5": fmean(r.rank is not None and r.rank <= 5 for r in results),
        "mrr@10": fmean(1 / r.rank if r.rank else 0.0 for r in results),
        "answer_in_citations": fmean(r.answer_found for r in results),
        "abstain_rate": fmean(r.abstained for r in results),
        "p50_ms": round(pct(0.50), 1),
        "p95_ms": round(pct(0.95), 1),
        "n": n,
    }


# -- the corpus harness -----------------------------------------------------------------------
HarnessProgress = Callable[[str, int, int], None]  # (stage, done, total)


# What the harness asks each system: ranked ids (or groups), passages, abstained, ms.
Ranked = list[str] | list[list[str]]
SystemAnswer = tuple[Ranked, list[str], bool, float]


def eval_corpus(
    engine: Engine,
    corpus: Path,
    questions: list[dict[str, Any]],
    baseline: bool = False,
    on_progress: HarnessProgress | None = None,
    ingest_progress: ProgressCallback | None = None,
    baseline_embeddings: Embeddings | None = None,
    llm: bool = False,
) -> EvalRun:
    """Index the corpus (cached, in a collection of its own beside `engine`'s) and ask every
    question as of its asked_on date. `baseline_embeddings`: the langchain-chroma baseline's
    (default: the model through langchain-huggingface). With `llm`, every question is asked
    again with the language model writing the answer (see `written_metrics`)."""
    from retrieval.intake.articles import load_path

    engine = engine.for_collection(corpus_key(corpus, engine.recipe))
    # A line with no article in it (a page of photo captions only) is skipped, and said so.
    articles = load_path(corpus, on_error=lambda e: log.warning("skipped %s", e))
    titles = {a.id: a.title for a in articles}
    engine.ingest_articles(articles, on_progress=ingest_progress)  # cached: skips
    engine.snapshot()

    systems: dict[str, Callable[[dict[str, Any]], SystemAnswer]] = {}

    def ask_engine(q: dict[str, Any]) -> SystemAnswer:
        a = engine.ask(q["question"], now=date.fromisoformat(q["asked_on"]), llm=False)
        return (
            a.ranked_groups,  # a story and its near-duplicates from other outlets rank once
            [c.quote for c in a.citations],
            a.abstained,
            a.timing_ms["total"],
        )

    systems["briefbot"] = ask_engine
    if baseline:
        systems.update(
            _baselines(
                engine.settings, corpus, articles, engine.recipe, on_progress, baseline_embeddings
            )
        )

    per: dict[str, list[QuestionResult]] = {name: [] for name in systems}
    rows: list[dict[str, Any]] = []
    for name, ask in systems.items():
        ask(questions[0])  # warm
        for k, q in enumerate(questions, start=1):
            ranked, passages, abstained, ms = ask(q)
            gold = set(q.get("gold_ids", []))
            per[name].append(
                QuestionResult(
                    name,
                    q["id"],
                    gold_rank(ranked, gold),
                    answer_in(q["answer"], passages),
                    abstained,
                    ms,
                    _top_ids(ranked, 3),
                )
            )
            if on_progress:
                on_progress(f"questions · {name}", k, len(questions))
    for k, q in enumerate(questions):
        gold = q.get("gold_ids", [])
        row = {
            "id": q["id"],
            "question": q["question"],
            "asked_on": q["asked_on"],
            "answer": q["answer"],
            "gold_title": titles.get(gold[0], "") if gold else "",
        }
        for name, results in per.items():
            r = results[k]
            row[name] = {
                "rank": r.rank,
                "answer_found": r.answer_found,
                "abstained": r.abstained,
                "top3": [titles.get(i, i) for i in r.top_ids],
            }
        rows.append(row)
    written = _written(engine, questions, on_progress) if llm else None
    return EvalRun({name: metrics(results) for name, results in per.items()}, rows, written)


def _written(
    engine: Engine, questions: list[dict[str, Any]], on_progress: HarnessProgress | None
) -> dict[str, dict[str, float]]:
    """Every question asked with and without the language model."""
    pairs: list[tuple[dict[str, Any], Answer, Answer]] = []
    for k, q in enumerate(questions, start=1):
        now = date.fromisoformat(q["asked_on"])
        plain = engine.ask(q["question"], now=now, llm=False)
        pairs.append((q, plain, engine.ask(q["question"], now=now, llm=True)))
        if on_progress:
            on_progress("questions · with the language model", k, len(questions))
    written = written_metrics(pairs)
    if engine.writer is not None:
        # The verifier (and its judge) on the hand-written set's held-out stories.
        from retrieval.evaluation.verifier_set import verifier_figures

        written["with the model"].update(verifier_figures(engine.writer.verifier))
    return written


def written_metrics(
    pairs: list[tuple[dict[str, Any], Answer, Answer]],
) -> dict[str, dict[str, float]]:
    """For (question, extractive answer, answer with the model): per system, answer-in-answer
    (the gold answer string in the answer's text), abstentions and latency p50/p95 (the model
    included); for the model, the share of its sentences the verifier kept, and the share of
    answers it wrote (the rest fell back to the extractive answer)."""
    out: dict[str, dict[str, float]] = {}
    for name, k in (("extractive", 1), ("with the model", 2)):
        answers = [p[1] if k == 1 else p[2] for p in pairs]
        base = metrics(
            [
                QuestionResult(
                    name,
                    q["id"],
                    None,
                    answer_in(q["answer"], [a.answer]),
                    a.abstained,
                    a.timing_ms["total"],
                    [],
                )
                for q, a in zip([p[0] for p in pairs], answers, strict=True)
            ]
        )
        row = {
            "answer_in_answer": base["answer_in_citations"],
            "abstain_rate": base["abstain_rate"],
            "p50_ms": base["p50_ms"],
            "p95_ms": base["p95_ms"],
            "n": base["n"],
        }
        if k == 2:
            kept = sum(a.sentences_kept for a in answers)
            total = kept + sum(a.sentences_dropped for a in answers)
            row["sentences_kept"] = kept / total if total else 0.0
            row["written"] = sum(a.generated for a in answers) / max(len(answers), 1)
        out[name] = row
    return out


def _top_ids(ranked: Ranked, k: int) -> list[str]:
    return distinct([g if isinstance(g, str) else g[0] for g in ranked], k)


def _baselines(
    settings: Settings,
    corpus: Path,
    articles: list[Article],
    recipe: str,
    on_progress: HarnessProgress | None,
    embeddings: Embeddings | None,
) -> dict[str, Callable[[dict[str, Any]], SystemAnswer]]:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    from retrieval.evaluation.baselines import (
        CHUNK_OVERLAP,
        CHUNK_SIZE,
        BM25Baseline,
        LangchainChroma,
        huggingface_embeddings,
        split,
    )

    chunks = split(articles)
    model_fp = recipe.split("/")[0]
    key = corpus_key(corpus, f"langchain/{CHUNK_SIZE}/{CHUNK_OVERLAP}/{model_fp}")
    # A Chroma of its own: baselines never touch the engine's collections.
    client = chromadb.PersistentClient(
        path=str(Path(settings.data_dir) / "baselines" / "chroma"),
        settings=ChromaSettings(anonymized_telemetry=False),
    )
    embeddings = embeddings or huggingface_embeddings(settings.resolved_model_path)
    lc = LangchainChroma(client, key, embeddings)
    lc.build(
        chunks, (lambda d, n: on_progress("langchain-chroma index", d, n)) if on_progress else None
    )
    bm25 = BM25Baseline(Path(settings.data_dir) / "baselines" / f"bm25-{key}", chunks)

    def wrap(retrieve: Callable[[str], Retrieved]) -> Callable[[dict[str, Any]], SystemAnswer]:
        def ask(q: dict[str, Any]) -> SystemAnswer:
            r = retrieve(q["question"])
            return [aid for aid, _ in r.chunks], [t for _, t in r.chunks[:5]], False, r.ms

        return ask

    return {"langchain-chroma": wrap(lc.retrieve), "bm25": wrap(bm25.retrieve)}
