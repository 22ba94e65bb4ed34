"""NumpyEncoder against TorchEncoder: same vectors? How fast to start, to answer, in bulk?

    python bench/embedding_equivalence.py

Prints figures only; nothing here asserts.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.index.embedding import NumpyEncoder  # noqa: E402
from retrieval.index.torch_encoder import TorchEncoder  # noqa: E402

SENTENCES = [
    "What happened with the rail strike?",
    "hi",
    "Fed",
    "Who won the election in Portugal?",
    "Why did oil prices fall this week?",
    "The European Central Bank held its deposit rate at 2.0% on Thursday.",
    '"We are not out of the woods yet," the finance minister told reporters in Brussels.',
    "Shares of Nvidia rose 4.3% to $131.27 in early trading after the results.",
    "Unemployment fell to 3.9 per cent in the three months to March, the ONS said.",
    "Ärzte in München warnen vor einer Grippewelle; die Zahl der Fälle stieg um 17 %.",
    "Le gouvernement français a présenté un budget « de responsabilité » pour 2025.",
    "東京証券取引所の日経平均株価は3日続伸した。",
    "Президент подписал указ о повышении пенсий на 7,5%.",
    "São Paulo's mayor said the café owners' protest was “perfectly legitimate”.",
    "Emoji reactions 🚀🔥 flooded the company's post after the IPO priced at ¥2,400.",
    "COVID-19 cases rose 12% week-on-week, per the WHO's dashboard (data as of 14/06/2024).",
    "The storm, named Hurricane Beryl, made landfall near Matagorda at 4 a.m. CDT.",
    "BREAKING: Parliament votes 312–289 to approve the bill.",
    "The CEO — who joined in 2019 — will step down on Jan. 1, the board said.",
    "Temperatures reached 47.6°C in Seville, breaking a record set in 2017.",
    "A spokesperson declined to comment on 'speculation about the merger'.",
    "The deal values the start-up at roughly €1.2bn, including debt.",
    "Inflation in Argentina slowed to 2.7% a month, the lowest since 2020.",
    "Scientists at CERN reported a 5-sigma signal at 125.3 GeV.",
    "The court's 6-3 ruling overturned a decades-old precedent on agency deference.",
    "Flights at Heathrow were cancelled after a fire at a nearby substation.",
    "Q3 revenue: $24.2B (+18% YoY); EPS $1.29 vs. $1.20 expected.",
    "The minister's résumé lists stints at the IMF, the OECD and Goldman Sachs.",
    "“I don’t think anyone expected this,” said Ms O’Neill, 54, a teacher from Cork.",
    "Police said a 23-year-old man had been arrested on suspicion of arson.",
    "The index closed at 5,431.60, up 0.8 percent, its 31st record close this year.",
    "Wildfires have burned more than 150,000 hectares across Canada's west.",
    "The negotiations in Geneva broke down late on Tuesday night.",
    "Coffee futures hit $3.45/lb as drought hurt Brazil's arabica crop.",
    "The new iPhone 16 Pro starts at $999 and ships on September 20.",
    "Kenya's parliament passed the finance bill despite days of protests.",
    "Ελλάδα: ο τουρισμός σημείωσε ρεκόρ το 2024.",
    "The ship, flagged in Liberia, was carrying 22,000 tonnes of grain.",
    "Pope Francis called for a ceasefire in his Easter address.",
    "Strikes by junior doctors in England will continue into next month.",
    "The WHO declared mpox a public health emergency of international concern.",
    "Tesla recalled 2.2 million vehicles over a warning-light font size.",
    "A magnitude 7.4 earthquake struck off Hualien, Taiwan's east coast.",
    "Bitcoin topped $70,000 for the first time since March.",
    "The report found that 1 in 5 children lived in relative poverty.",
]

_FRAGMENTS = [
    "Officials said the measure would take effect on 1 July",
    "analysts at JPMorgan expect two more cuts before December",
    "the company declined to give guidance for the fourth quarter",
    "residents were told to boil water until further notice",
    "the opposition called the vote “a betrayal of the electorate”",
    "exports to China fell 8.1% year on year in May",
    "the regulator fined the bank £42m for failings in its controls",
    "rescue teams reached the village after a 14-hour trek",
    "the minister said talks would resume in Nairobi next week",
    "prices for the benchmark 10-year bond rose, pushing yields to 4.21%",
    "the union said 93% of members backed the offer",
    "the museum reopened after a €25 million renovation",
]


def _generated(rng: random.Random, count: int, low: int, high: int) -> list[str]:
    texts = []
    for _ in range(count):
        parts = rng.sample(_FRAGMENTS, rng.randint(low, high))
        texts.append("; ".join(parts).capitalize() + ".")
    return texts


def corpus() -> list[str]:
    rng = random.Random(20240614)
    texts = list(SENTENCES)
    texts += _generated(rng, 100 - len(texts) - 3, 1, 6)
    article = " ".join(SENTENCES[5:40])
    texts.append(article)  # ~700 word pieces: past 512, so past the position table too
    texts.append(" ".join(_generated(rng, 12, 3, 5)))  # ~400 word pieces
    texts.append("Zürich " * 300)  # 302 pieces: repeats, just over the window
    return texts


def process_time(code: str, runs: int = 3) -> list[float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def throughput(encode, texts: list[str], runs: int = 3) -> float:
    encode(texts[:8])  # warm up
    best = min(_timed(encode, texts) for _ in range(runs))
    return len(texts) / best


def _timed(encode, texts: list[str]) -> float:
    start = time.perf_counter()
    encode(texts)
    return time.perf_counter() - start


def fmt(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (runs: {', '.join(f'{t:.2f}' for t in times)})"


def question_latency(encoder: NumpyEncoder, runs: int = 50) -> str:
    question = ["What did the central bank say about interest rates?"]
    encoder.encode(question)
    latencies = []
    for _ in range(runs):
        start = time.perf_counter()
        encoder.encode(question)
        latencies.append((time.perf_counter() - start) * 1000)
    p95 = statistics.quantiles(latencies, n=20)[18]
    return f"p50 {statistics.median(latencies):.1f} ms  p95 {p95:.1f} ms  ({runs} runs)"


def main() -> None:
    texts = corpus()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")

    # Everything about NumpyEncoder alone comes first, before torch is in the process.
    numpy_encoder = NumpyEncoder()
    lengths = [numpy_encoder.count_tokens(t) for t in texts]
    over = sum(n > numpy_encoder.max_seq_length for n in lengths)
    print(
        f"corpus: {len(texts)} texts, {min(lengths)}-{max(lengths)} word pieces "
        f"(median {statistics.median(lengths):.0f}), {over} over {numpy_encoder.max_seq_length}"
    )
    print(f"NumpyEncoder, one short question: {question_latency(numpy_encoder)}")
    numpy_rate = throughput(numpy_encoder.encode, texts)

    print("import + construct in a fresh python process (interpreter start-up included):")
    imp = (
        "from retrieval.index.embedding import NumpyEncoder;"
        " from retrieval.index.torch_encoder import TorchEncoder"
    )
    print(f"  NumpyEncoder:  {fmt(process_time(f'{imp}; NumpyEncoder()'))}")
    print(f"  TorchEncoder:  {fmt(process_time(f'{imp}; TorchEncoder()'))}")
    print(f"  (import only:  {fmt(process_time(imp))})")
    print(f"  (bare python:  {fmt(process_time('pass'))})")
    start = time.perf_counter()
    NumpyEncoder()
    print(f"  NumpyEncoder() construct only, warm: {(time.perf_counter() - start) * 1000:.0f} ms")

    torch_encoder = TorchEncoder()
    agree = sum(numpy_encoder.count_tokens(t) == torch_encoder.count_tokens(t) for t in texts)
    print(f"count_tokens agrees with the sentence-transformers tokenizer: {agree}/{len(texts)}")
    a = numpy_encoder.encode(texts)
    b = torch_encoder.encode(texts)
    cos = (a * b).sum(axis=1)
    worst = int(np.argmin(cos))
    print(
        f"cosine numpy vs torch: min {cos.min():.7f}  mean {cos.mean():.7f}  "
        f"(worst: text {worst}, {lengths[worst]} pieces)"
    )
    print(f"max |component difference|: {np.abs(a - b).max():.2e}")
    long_cos = [f"{c:.7f}" for c, n in zip(cos, lengths, strict=True) if n > 256]
    print(f"cosine on the texts over 256 pieces: {', '.join(long_cos)}")

    print(f"throughput on the {len(texts)} texts (best of 3):")
    print(f"  NumpyEncoder (batch 32, 1 BLAS thread): {numpy_rate:.1f} texts/s")
    print(f"  TorchEncoder (batch 64): {throughput(torch_encoder.encode, texts):.1f} texts/s")
    print(f"NumpyEncoder question latency with torch loaded too: {question_latency(numpy_encoder)}")
    print(f"machine load average at end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
