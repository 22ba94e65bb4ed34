"""Calibrates the follower's two learned decisions on the *tune* topics of bench/follow (issue 24),
and reports them on the held-out topics without refitting.

    BRIEFBOT_DATA_DIR=/work/evaldata python bench/follow_fit.py [--write]
        [--corpus ../shared/eval/realtimeqa/corpus-dev.jsonl.gz]

Each labelled (topic, article) of bench/follow/labels.jsonl is read from the evaluation
harness's cached corpus-dev index ($BRIEFBOT_DATA_DIR) and asked the topic alone, as the
follower asks it (`AnswerChain.about`): the answer's confidence and first two citations, the
article's lead sentence and vector.

1. **Same event** (retrieval/news/sameevent.py): every pair of on-topic articles within a tune
   topic is an example (one event id: positive). A logistic regression (sklearn, C=1) over the
   pair's features (a changed figure is a rule, printed here: sameevent.new_figure); its
   threshold is the one with the best F1 on the tune pairs' leave-one-topic-
   out probabilities (each topic scored by a model fitted on the other nine). `--write` saves the
   weights (fitted on all tune pairs) and the threshold to retrieval/news/same_event.json.
2. **Aboutness** (retrieval/news/developments.py, `FOLLOW_MIN_HEADLINE`): the share of the
   topic's subject words (Subject.soft, with the engine's WordMatcher) found in the title and
   first chunk. Of the values that keep every tune gold article, the most precise on the tune
   labels' on_topic (among articles the answerer accepts at confidence >= 0.5); ties: the lowest.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from datetime import date
from pathlib import Path

import _common
import numpy as np
from _common import ROOT

from retrieval.answering.features import subject
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.evaluation.evaluate import corpus_key
from retrieval.news.developments import headline_text
from retrieval.news.newness import changes_a_figure
from retrieval.news.sameevent import FEATURES, WEIGHTS, Report, features, lead_of

HERE = ROOT / "bench" / "follow"


def items(engine: Engine) -> list[dict]:
    snap = engine.snapshot()
    chain, enc, m = engine.answerer, engine.parts.query_encoder, engine.answerer.matcher
    split = {
        t["topic"]: t["split"] for t in json.loads((HERE / "topics.json").read_text())["topics"]
    }
    rows = [json.loads(x) for x in (HERE / "labels.jsonl").read_text().splitlines() if x.strip()]
    out, tv, subj = [], {}, {}
    for r in rows:
        i = snap.article_index.get(r["article"])
        if i is None:
            sys.exit(f"{r['article']} is not in the corpus-dev index")
        t = r["topic"]
        if t not in tv:
            tv[t], subj[t] = enc.encode([t])[0], subject(t, m)
        day = snap.articles[i].published
        ans = chain.about(t, [i], day, snap, tv[t])
        ok = not ans.abstained and bool(ans.citations)
        chunks = snap.article_chunks(i).tolist()
        first = snap.chunk_texts[chunks[0]] if chunks else ""
        out.append(
            dict(
                r,
                split=split[t],
                conf=(ans.confidence or 0.0) if ok else 0.0,
                headline=subj[t].soft(headline_text(snap, i), m),
                report=Report(
                    r["article"],
                    tuple(c.quote for c in ans.citations[:2]) if ok else (),
                    lead_of(first),
                    np.asarray(snap.article_vectors[[i]][0]),
                    day,
                ),
            )
        )
    return out


def pairs_of(rows: list[dict]) -> list[tuple[Report, Report, bool]]:
    """Every pair of on-topic articles within a topic, the later first, and whether they share
    the labelled event."""
    out = []
    by_topic: dict[str, list[dict]] = {}
    for r in rows:
        if r["on_topic"]:
            by_topic.setdefault(r["topic"], []).append(r)
    for mine in by_topic.values():
        for a, b in itertools.combinations(mine, 2):
            if (a["report"].published or date.min) < (b["report"].published or date.min):
                a, b = b, a
            out.append((a["report"], b["report"], a["event"] == b["event"]))
    return out


def _later(new: Report, old: Report) -> bool:
    return (new.published or date.min) > (old.published or date.min)


def pairs(rows: list[dict], encode) -> tuple[np.ndarray, np.ndarray, list[str]]:
    xs, ys, topics = [], [], []
    for r, (new, old, same) in zip(_on_topic_pairs_topics(rows), pairs_of(rows), strict=True):
        xs.append(features(new, old, encode))
        ys.append(int(same))
        topics.append(r)
    return np.array(xs), np.array(ys), topics


def _on_topic_pairs_topics(rows: list[dict]) -> list[str]:
    """The topic of each of pairs_of(rows), in its order."""
    by_topic: dict[str, int] = {}
    for r in rows:
        if r["on_topic"]:
            by_topic[r["topic"]] = by_topic.get(r["topic"], 0) + 1
    return [t for t, n in by_topic.items() for _ in range(n * (n - 1) // 2)]


def f1(y: np.ndarray, p: np.ndarray, th: float) -> tuple[float, float, float]:
    pred = p >= th
    tp = int((pred & (y == 1)).sum())
    prec = tp / max(1, int(pred.sum()))
    rec = tp / max(1, int((y == 1).sum()))
    return (2 * prec * rec / (prec + rec) if prec + rec else 0.0), prec, rec


def main() -> None:
    from sklearn.linear_model import LogisticRegression

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--corpus", type=Path, default=_common.CORPUS)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    data = Path(os.environ.get("BRIEFBOT_DATA_DIR", "/work/evaldata"))
    probe = Engine(Settings(data_dir=data))
    engine = probe.for_collection(corpus_key(args.corpus, probe.recipe))
    rows = items(engine)
    cache: dict[str, np.ndarray] = {}
    enc = engine.parts.query_encoder

    def encode(texts: list[str]) -> np.ndarray:
        miss = [t for t in dict.fromkeys(texts) if t not in cache]
        if miss:
            cache.update(zip(miss, enc.encode(miss), strict=True))
        return np.stack([cache[t] for t in texts])

    tune = [r for r in rows if r["split"] == "tune"]
    held = [r for r in rows if r["split"] == "heldout"]
    x, y, topics = pairs(tune, encode)
    xh, yh, _ = pairs(held, encode)
    print(f"pairs: tune {len(y)} ({y.sum()} one event), heldout {len(yh)} ({yh.sum()} one event)")
    # leave one tune topic out: the threshold is chosen on probabilities no model saw fitted
    loo = np.zeros(len(y))
    for t in sorted(set(topics)):
        own = np.array([u == t for u in topics])
        loo[own] = (
            LogisticRegression(C=1.0, max_iter=1000)
            .fit(x[~own], y[~own])
            .predict_proba(x[own])[:, 1]
        )
    grid = [round(v, 2) for v in np.arange(0.2, 0.81, 0.05)]
    scores = [(f1(y, loo, th), th) for th in grid]
    for (f, p, r), th in scores:
        print(f"  threshold {th:.2f}: tune (leave-one-topic-out) F1 {f:.3f} P {p:.3f} R {r:.3f}")
    threshold = max(scores, key=lambda s: (s[0][0], -s[1]))[1]
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    ph = model.predict_proba(xh)[:, 1]
    f, p, r = f1(yh, ph, threshold)
    print(
        f"same event: threshold {threshold:.2f} (best leave-one-topic-out F1 on tune); weights "
        + ", ".join(f"{n} {w:+.3f}" for n, w in zip(FEATURES, model.coef_[0], strict=True))
        + f", intercept {model.intercept_[0]:+.3f}\n  heldout pairs: F1 {f:.3f} P {p:.3f} R {r:.3f}"
    )
    for split, ps in (("tune", pairs_of(tune)), ("heldout", pairs_of(held))):
        for name, later in (("the same day", False), ("a later day", True)):
            sel = [
                same
                for new, old, same in ps
                if any(changes_a_figure(s, old.sentences) for s in new.cited)
                and (_later(new, old) == later)
            ]
            print(
                f"  {split} pairs restating a sentence with a new figure on {name}: {len(sel)}, "
                f"one event {sum(sel)}"
            )

    # aboutness: the headline share, among articles the answerer accepts
    cands = [r for r in tune if r["conf"] >= 0.5]
    gold_min = min(r["headline"] for r in cands if r["gold"])
    best = None
    print("aboutness (tune, confidence >= 0.5):")
    for h in [round(v, 2) for v in np.arange(0.0, 0.81, 0.05)]:
        kept = [r for r in cands if r["headline"] >= h]
        prec = sum(r["on_topic"] for r in kept) / max(1, len(kept))
        rec = sum(r["on_topic"] for r in kept) / max(1, sum(r["on_topic"] for r in cands))
        print(f"  {h:.2f}: kept {len(kept)} precision {prec:.3f} recall {rec:.3f}")
        if h <= gold_min and (best is None or prec > best[0] + 1e-9):
            best = (prec, h)
    assert best is not None
    hc = [r for r in held if r["conf"] >= 0.5]
    kept = [r for r in hc if r["headline"] >= best[1]]
    print(
        f"headline threshold {best[1]:.2f} (tune: most precise keeping every gold article); "
        f"heldout: precision {sum(r['on_topic'] for r in kept) / max(1, len(kept)):.3f} "
        f"(from {sum(r['on_topic'] for r in hc) / max(1, len(hc)):.3f}), gold kept "
        f"{sum(r['gold'] for r in kept)}/{sum(r['gold'] for r in hc)}"
    )
    if args.write:
        WEIGHTS.write_text(
            json.dumps(
                {
                    "fitted_by": "bench/follow_fit.py on the tune topics' labelled pairs",
                    "features": list(FEATURES),
                    "weights": [round(float(w), 4) for w in model.coef_[0]],
                    "intercept": round(float(model.intercept_[0]), 4),
                    "threshold": threshold,
                    "pairs": int(len(y)),
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {WEIGHTS}")


if __name__ == "__main__":
    main()
