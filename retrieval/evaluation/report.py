"""The harness's run and its report: report.json, report.md and a chart comparing the systems."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRICS = [
    "hit@1",
    "hit@5",
    "mrr@10",
    "answer_in_citations",
    "abstain_rate",
    "p50_ms",
    "p95_ms",
    "n",
]
QUALITY = ["hit@1", "hit@5", "mrr@10", "answer_in_citations"]


@dataclass
class EvalRun:
    """What the harness measured of each system, and of each question."""

    systems: dict[str, dict[str, float]]
    questions: list[dict[str, Any]]
    # With a language model (`briefbot eval --llm`): its answers beside the extractive ones.
    written: dict[str, dict[str, float]] | None = None

    def ratios(self, engine: str = "briefbot") -> dict[str, dict[str, float | None]]:
        """The engine's figure divided by each other system's, metric by metric."""
        return ratios(self, engine)

    def write(self, folder: Path) -> list[Path]:
        """report.json, report.md and chart.png in `folder`; returns their paths."""
        return write(self, folder)


def ratios(run: EvalRun, engine: str = "briefbot") -> dict[str, dict[str, float | None]]:
    """The engine's figure divided by each other system's, metric by metric."""
    mine = run.systems[engine]
    out: dict[str, dict[str, float | None]] = {}
    for name, theirs in run.systems.items():
        if name == engine:
            continue
        out[name] = {
            m: (mine[m] / theirs[m] if theirs.get(m) else None) for m in METRICS if m != "n"
        }
    return out


def markdown(run: EvalRun) -> str:
    lines = [
        "# Evaluation report",
        "",
        "| system | " + " | ".join(METRICS) + " |",
        "|---" * (len(METRICS) + 1) + "|",
    ]
    for name, m in run.systems.items():
        cells = [
            f"{m[k]:.3f}"
            if isinstance(m[k], float) and k not in ("p50_ms", "p95_ms")
            else str(m[k])
            for k in METRICS
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    r = ratios(run)
    if r:
        lines += [
            "",
            "Ratio of briefbot to each baseline:",
            "",
            "| baseline | " + " | ".join(k for k in METRICS if k != "n") + " |",
            "|---" * len(METRICS) + "|",
        ]
        for name, vals in r.items():
            lines.append(
                f"| {name} | "
                + " | ".join("–" if v is None else f"{v:.2f}" for v in vals.values())
                + " |"
            )
    systems = list(run.systems)
    lines += [
        "",
        "## Questions",
        "",
        "| question | gold title | "
        + " | ".join(f"rank ({s})" for s in systems)
        + " | briefbot top 3 |",
        "|---" * (len(systems) + 3) + "|",
    ]
    for q in run.questions:
        ranks = " | ".join(str(q[s]["rank"] or "–") for s in systems)
        top3 = "<br>".join(t.replace("|", "\\|")[:70] for t in q["briefbot"]["top3"])
        lines.append(
            f"| {q['question'].replace('|', '/')} | {q['gold_title'].replace('|', '/')[:70]} "
            f"| {ranks} | {top3} |"
        )
    return "\n".join(lines) + "\n"


def chart(run: EvalRun, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    systems = list(run.systems)
    x = np.arange(len(QUALITY))
    width = 0.8 / len(systems)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for k, name in enumerate(systems):
        vals = [run.systems[name][m] for m in QUALITY]
        bars = ax.bar(x + k * width - 0.4 + width / 2, vals, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(x, QUALITY)
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Retrieval and answers on {run.systems[systems[0]]['n']} questions")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write(run: EvalRun, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "report.json", folder / "report.md", folder / "chart.png"]
    paths[0].write_text(
        json.dumps(
            {
                "systems": run.systems,
                "ratios": ratios(run) if len(run.systems) > 1 else {},
                "questions": run.questions,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    paths[1].write_text(markdown(run))
    chart(run, paths[2])
    return paths
