"""`briefbot eval`: seed-style questions checked (must_cite / abstain), or a corpus with gold
articles measured against the baselines, with its tables."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from bot.cli import state
from bot.cli.console import err, out
from bot.cli.progress import StageProgress
from retrieval import BriefbotError, check_questions, eval_corpus, shown


def evaluate(
    questions: Annotated[Path, typer.Option(help="Questions (JSON lines)")],
    corpus: Annotated[
        Path | None, typer.Option(help="Articles to evaluate over (default: the index, seeds/)")
    ] = None,
    baseline: Annotated[bool, typer.Option(help="Also run langchain-chroma and bm25")] = False,
    report: Annotated[Path | None, typer.Option(help="Write report.json/.md/.png here")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    llm: Annotated[
        bool, typer.Option("--llm", help="Also answer with the language model (BRIEFBOT_LLM)")
    ] = False,
) -> None:
    """Evaluate: seed-style questions (must_cite / abstain) or a corpus with gold articles."""
    from retrieval import read_jsonl

    rows = read_jsonl(questions)
    if llm and corpus is None:
        raise BriefbotError("--llm: needs --corpus, the questions' articles")
    if corpus is not None or (rows and "gold_ids" in rows[0]):
        if corpus is None:
            raise BriefbotError("--corpus: questions with gold_ids need the corpus they refer to")
        _eval_corpus(corpus, rows, baseline, report, as_json, llm)
    else:
        _eval_checks(rows, as_json)


def _eval_corpus(
    corpus: Path, rows: list, baseline: bool, report: Path | None, as_json: bool, llm: bool
) -> None:
    from rich.table import Table

    if not corpus.is_file():
        raise BriefbotError(f"--corpus: {corpus}: no such file")
    engine = state.make_engine()
    if llm and engine.writer is None:  # a missing package or key is named by the writer
        raise BriefbotError("--llm: set BRIEFBOT_LLM to a model, e.g. openai:gpt-4o-mini.")
    with StageProgress() as stage:
        run = eval_corpus(
            engine,
            corpus,
            rows,
            baseline=baseline,
            on_progress=stage,
            ingest_progress=lambda p: stage(
                "indexing corpus (articles)", p.articles_done, p.articles_total
            ),
            llm=llm,
        )
    if as_json:
        found = {"systems": run.systems} | ({"written": run.written} if run.written else {})
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
    else:
        table = Table(
            "system",
            "hit@1",
            "hit@5",
            "mrr@10",
            "answer in citations",
            "abstain",
            "p50 ms",
            "p95 ms",
            "n",
        )
        for name, m in run.systems.items():
            table.add_row(
                name,
                *(
                    f"{m[k]:.3f}"
                    for k in ("hit@1", "hit@5", "mrr@10", "answer_in_citations", "abstain_rate")
                ),
                f"{m['p50_ms']:.1f}",
                f"{m['p95_ms']:.1f}",
                str(m["n"]),
            )
        out.print(table)
        for name, vals in run.ratios().items() if len(run.systems) > 1 else []:
            out.print(
                f"briefbot / {name}: "
                + " · ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in vals.items())
            )
        if run.written:
            _print_written(run.written)
    if report is not None:
        for p in run.write(report):
            err.print(f"wrote {shown(p)}")


def _print_written(written: dict[str, dict[str, float]]) -> None:
    """The answers with the language model beside the extractive ones."""
    from rich.table import Table

    table = Table("answer", "answer in answer", "sentences kept", "written", "abstain")
    table.add_column("faithful kept")  # the verifier on bench/verifier_set, held out
    table.add_column("errors caught")
    table.add_column("p50 ms")
    table.add_column("p95 ms")
    table.add_column("n")
    for name, m in written.items():
        kept, wrote = m.get("sentences_kept"), m.get("written")
        table.add_row(
            name,
            f"{m['answer_in_answer']:.3f}",
            "–" if kept is None else f"{kept:.3f}",
            "–" if wrote is None else f"{wrote:.3f}",
            f"{m['abstain_rate']:.3f}",
            *(f"{m[k]:.3f}" if k in m else "–" for k in ("faithful_kept", "errors_caught")),
            f"{m['p50_ms']:.1f}",
            f"{m['p95_ms']:.1f}",
            str(m["n"]),
        )
    out.print(table)


def _eval_checks(rows: list, as_json: bool) -> None:
    engine = state.make_engine()
    state.ensure_seeded(engine)
    with StageProgress(transient=True) as stage:
        results = check_questions(engine, rows, lambda k, n: stage("Questions", k, n))
    passed = sum(r.passed for r in results)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "passed": passed,
                    "total": len(results),
                    "failures": [
                        {"id": r.id, "question": r.question, "reasons": r.reasons}
                        for r in results
                        if not r.passed
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    else:
        for r in results:
            mark = ("PASS", "green") if r.passed else ("FAIL", "red")
            why = "" if r.passed else f" — {'; '.join(r.reasons)}"
            out.print(Text.assemble(mark, f" {r.id}: {r.question}{why}"))
        out.print(f"{passed}/{len(results)} passed ({passed / max(len(results), 1):.0%})")
    if passed < len(results):
        raise typer.Exit(1)
