"""Answering speed and memory.

    python bench/ask.py cold     # `briefbot ask` on the seed, process start to printed answer
    python bench/ask.py warm     # warm engine.ask over the 94 dev questions, corpus-dev indexed

`warm` uses the evaluation harness's cached index of corpus-dev (the same collection
`briefbot eval --corpus ...` builds; set BRIEFBOT_DATA_DIR to where it lives), and builds it
if it is missing (about 20 minutes here).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from _common import CORPUS, DEV, ROOT, percentile, summary

FLAGSHIP = "What did Wallace say after meeting Shoigu?"


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds and peak RSS (MB) of one command, via GNU time when it is there."""
    gnu_time = shutil.which("time") or "/usr/bin/time"
    stats = tempfile.NamedTemporaryFile(delete=False)
    t = time.perf_counter()
    proc = subprocess.run(
        [gnu_time, "-f", "%M", "-o", stats.name, *cmd], env=env, capture_output=True, text=True
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.exit(f"{cmd} failed:\n{proc.stderr}")
    rss_mb = int(Path(stats.name).read_text().split()[-1]) / 1024
    os.unlink(stats.name)
    return wall, rss_mb, proc.stdout


def cold(runs: int) -> None:
    briefbot = [sys.executable, "-m", "bot.cli"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "BRIEFBOT_DATA_DIR": str(Path(tmp) / "data"), "NO_COLOR": "1"}
        wall, rss, _ = _timed([*briefbot, "ingest", str(ROOT / "seeds")], env)
        print(f"ingest seeds/        {wall:.2f} s wall · peak RSS {rss:.0f} MB")
        walls, rsss = [], []
        for _ in range(runs):
            wall, rss, out = _timed([*briefbot, "ask", FLAGSHIP], env)
            assert "tragic consequences" in out, out
            walls.append(wall)
            rsss.append(rss)
        print(f"cold `briefbot ask`  {summary(walls)} s   (target p50 <= 3 s)")
        print(f"peak RSS of ask      {max(rsss):.0f} MB")
        code = (
            "import time; t=time.perf_counter(); import sentence_transformers;"
            "print(time.perf_counter()-t)"
        )
        st = float(
            subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        )
        print(f"for scale: `import sentence_transformers` alone takes {st:.2f} s here")


def warm() -> None:
    sys.path.insert(0, str(ROOT))
    from retrieval.config import load_settings
    from retrieval.engine import Engine
    from retrieval.evaluation.evaluate import corpus_key, read_jsonl

    settings = load_settings()
    engine = Engine(settings)
    name = corpus_key(CORPUS, engine.recipe)
    engine = Engine(settings.model_copy(update={"collection": name}))
    if engine.is_empty():
        print(f"indexing {CORPUS} into {name} (once)...", flush=True)
        engine.ingest([CORPUS])
    t = time.perf_counter()
    engine.snapshot()
    print(
        f"snapshot load        {time.perf_counter() - t:.2f} s "
        f"({engine.snapshot().n_chunks} chunks, {len(engine.snapshot().articles)} articles)"
    )
    questions = read_jsonl(DEV)
    engine.ask(questions[0]["question"], now=date.fromisoformat(questions[0]["asked_on"]))
    totals: list[float] = []
    stages: dict[str, list[float]] = {}
    for q in questions:
        a = engine.ask(q["question"], now=date.fromisoformat(q["asked_on"]))
        totals.append(a.timing_ms["total"])
        for k, v in a.timing_ms.items():
            stages.setdefault(k, []).append(v)
    print(f"warm ask (ms)        {summary(totals)}   (target p95 <= 100 ms)")
    for k, v in stages.items():
        if k != "total":
            print(f"  {k:<18} p50 {percentile(v, 50):.1f} · p95 {percentile(v, 95):.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("mode", choices=["cold", "warm"])
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    cold(args.runs) if args.mode == "cold" else warm()


if __name__ == "__main__":
    main()
