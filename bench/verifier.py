"""Measure the verifier of generated sentences (retrieval/answering/verification.py) on two sets.

The realistic set (the result): bench/verifier_set, written by hand, faithful answers in a chat
model's styles and answers with one plausible error each over fictional articles, split by story
before tuning (split.json); figures per kind of error, held out and training part, the checks
alone and with a judge served by the local OpenAI-compatible double with scripted judgements;
the verification time per answer.

The mechanical set (--mechanical): built here, at run time, from the RealTime QA articles (never
committed), as below.

Each item is a sentence citing one passage (a sentence of an article, with its neighbour in the
paragraph, as a citation quotes it):
- supported: a sentence of the passage, or one of its clauses;
- unsupported, made from a supported one: a number changed; a person's name swapped for someone
  of another article on the same story; the speaker swapped for another person the article
  names; a negation added; or a sentence from another article on the same story (the articles
  a question's web search returned), cited with this passage.

Articles are split 70/30 by a hash of their id: the least support score (content-word overlap
and embedding cosine, weighed equally) is chosen on the 70 (see `calibrate`), then measured on
the 30 held out. Goal: precision >= 0.95 at rejecting unsupported sentences and recall >= 0.90
of supported ones.

    python bench/verifier.py [--mechanical] [--articles 400] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from _common import CORPUS, DEV, percentile

from retrieval.answering.attribution import PRONOUN, Cast, attribute, name_words
from retrieval.answering.evidence import Passage, speakers_in, strip_markers
from retrieval.answering.verification import CALIBRATED, Thresholds, Verifier
from retrieval.evaluation.evaluate import read_jsonl
from retrieval.evaluation.verifier_set import ERROR_KINDS
from retrieval.evaluation.verifier_set import load as load_set
from retrieval.evaluation.verifier_set import measure as vs_measure
from retrieval.index.embedding import NumpyEncoder
from retrieval.index.lexical import terms
from retrieval.intake.articles import load_path
from retrieval.intake.sentences import sentences
from retrieval.models import Article

KINDS = (
    "supported",
    "clause",
    "reworded",
    "number",
    "name",
    "speaker",
    "negation",
    "other article",
)
_AUX = re.compile(
    r"\b(is|are|was|were|will|would|could|can|should|has|have|had|did|does|may|might|must)\b"
    r"(?!['’]|\s+(?:not|never)\b)"
)
_NUM = re.compile(r"\b\d[\d,]*\b")


@dataclass
class Item:
    kind: str
    sentence: str  # with its marker
    passage: Passage
    article: str
    supported: bool


def prose(s: str) -> bool:
    words = s.split()
    return 8 <= len(words) <= 60 and s.rstrip()[-1:] in '.!?"”' and "http" not in s


def split_of(article_id: str) -> str:
    return "test" if int(hashlib.md5(article_id.encode()).hexdigest(), 16) % 10 >= 7 else "train"


_SUBJECT_START = re.compile(r"(?:the|a|an|he|she|they|it|this|that|these|those|[A-Z])\b|[A-Z]")


def clauses(s: str) -> list[str]:
    """A clause of the sentence that stands as a sentence: the main one, or one after ", and"
    or ";" that starts with its own subject."""
    parts = re.split(r",\s+(?:and|but|while)\s+|;\s+", s)
    out = []
    for k, p in enumerate(parts):
        p = p.strip().rstrip(".,;")
        if len(p.split()) >= 6 and p != s.rstrip(".") and (k == 0 or _SUBJECT_START.match(p)):
            out.append(p[0].upper() + p[1:] + ".")
    return out[:1]


# Words a writer puts in place of the article's: the verifier must keep such rewordings.
SYNONYMS = {
    "said": "stated",
    "says": "states",
    "about": "around",
    "after": "following",
    "people": "individuals",
    "big": "large",
    "buy": "purchase",
    "help": "assist",
    "start": "begin",
    "started": "began",
    "show": "indicate",
    "shows": "indicates",
    "use": "employ",
    "need": "require",
    "needs": "requires",
    "get": "obtain",
    "more": "additional",
    "also": "additionally",
    "because": "since",
    "but": "however",
    "before": "prior to",
    "told": "informed",
    "expected": "anticipated",
    "increase": "rise",
    "plans": "intends",
    "announced": "declared",
    "percent": "per cent",
    "nearly": "almost",
    "over": "more than",
}
_QUOTE_SAID = re.compile(r"^[\"“](.+?)[,.]?[\"”],? ([A-Z][\w.]*(?: [A-Z][\w.]*)*) said\.$")


def reword(s: str) -> str | None:
    """The sentence as a writer might put it: a direct quote as reported speech, some words
    swapped for synonyms, adverbs in -ly left out."""
    m = _QUOTE_SAID.match(s)
    if m:
        s = f"{m.group(2)} said that {m.group(1)[0].lower()}{m.group(1)[1:]}."
    words = []
    quoted = False  # a quotation is never reworded: that would misquote
    for w in s.split(" "):
        bare = w.strip(".,;:")
        opens = w[:1] in '"“'
        if not quoted and not opens:
            if bare.endswith("ly") and bare.islower() and len(bare) > 5 and bare != "only":
                continue
            w = w.replace(bare, SYNONYMS[bare]) if bare in SYNONYMS else w
        quote_marks = sum(w.count(q) for q in '"“”')
        quoted = quoted != (quote_marks % 2 == 1)
        words.append(w)
    out = " ".join(words)
    return out if out != s or m else None


def change_number(s: str, rng: random.Random) -> str | None:
    nums = list(_NUM.finditer(s))
    if not nums:
        return None
    m = rng.choice(nums)
    value = int(m.group(0).replace(",", ""))
    new = value + rng.choice([1, 2, 3, 7, 10]) if value < 1900 or value > 2100 else value - 1
    text = f"{new:,}" if "," in m.group(0) else str(new)
    return s[: m.start()] + text + s[m.end() :]


def add_negation(s: str) -> str | None:
    m = _AUX.search(s)
    if not m or re.search(r"\b(?:not|never|no)\b", s):
        return None
    return s[: m.end()] + " not" + s[m.end() :]


def people(article: Article) -> list[str]:
    cast = Cast([(0, article.text)])
    names = {" ".join(m.name.split()) for m in cast.mentions if len(m.words) >= 2}
    return sorted(n for n in names if n.replace(" ", "").isalpha())


def swap_name(s: str, passage: str, mine: list[str], others: list[str], rng: random.Random):
    present = [n for n in mine if n in s and n.split()[0] != s.split()[0]]
    strangers = [n for n in others if not set(name_words(n)) & set(terms(passage))]
    if not present or not strangers:
        return None
    return s.replace(rng.choice(present), rng.choice(strangers))


def swap_speaker(s: str, article: Article, mine: list[str], rng: random.Random) -> str | None:
    said = attribute(s)
    if not said.speaker or re.fullmatch(PRONOUN, said.speaker):
        return None
    surname = name_words(said.speaker)[-1:] or [""]
    rivals = [n for n in mine if surname[0] not in name_words(n)]
    if not rivals or said.speaker not in s:
        return None
    rival = rng.choice(rivals)
    # "Wallace said" -> "Shoigu said": the rival as the article calls them.
    return s.replace(said.speaker, rival.split()[-1] if " " not in said.speaker else rival, 1)


def build(articles: dict[str, Article], stories: list[list[str]], limit: int, seed: int = 7):
    rng = random.Random(seed)
    items: list[Item] = []
    story_of: dict[str, list[str]] = {}
    for story in stories:
        for a in story:
            story_of.setdefault(a, story)
    chosen = sorted(story_of)
    rng.shuffle(chosen)
    cast_cache: dict[str, list[str]] = {}

    def cast_of(aid: str) -> list[str]:
        if aid not in cast_cache:
            cast_cache[aid] = people(articles[aid])
        return cast_cache[aid]

    for aid in chosen[:limit]:
        art = articles[aid]
        text = art.text
        spans = [sp for sp in sentences(text) if prose(text[sp[0] : sp[1]])]
        rng.shuffle(spans)
        others = [o for o in story_of[aid] if o != aid and o in articles]
        for s0, e0 in spans[:2]:
            # The citation: the sentence and the next one in its paragraph, if any.
            follow = [sp for sp in sentences(text) if sp[0] > e0 and "\n\n" not in text[e0 : sp[0]]]
            end = follow[0][1] if follow and rng.random() < 0.5 else e0
            passage = Passage(
                1,
                text[s0:end],
                art.title,
                art.source,
                art.published.isoformat() if art.published else None,
                speakers_in(text, s0, end, art.title),
            )
            s = text[s0:e0].strip()

            def add(
                kind: str, sentence: str | None, ok: bool, s=s, passage=passage, aid=aid
            ) -> None:
                if sentence and (sentence.strip() != s or kind == "supported"):
                    items.append(Item(kind, f"{sentence.strip()} [1]", passage, aid, ok))

            add("supported", s, True)
            for c in clauses(s):
                add("clause", c, True)
            add("reworded", reword(s), True)
            add("number", change_number(s, rng), False)
            other_people = [n for o in others[:5] for n in cast_of(o)]
            add("name", swap_name(s, passage.text, cast_of(aid), other_people, rng), False)
            add("speaker", swap_speaker(s, art, cast_of(aid), rng), False)
            add("negation", add_negation(s), False)
            if others:
                o = articles[rng.choice(others)]
                cands = [o.text[a:b] for a, b in sentences(o.text) if prose(o.text[a:b])]
                shared = [c for c in cands if set(terms(c)) & set(terms(s)) and c.strip() != s]
                if shared:
                    add("other article", rng.choice(shared), False)
    return items


def score(verifier: Verifier, items: list[Item]) -> list[tuple[str, float, float]]:
    """Each item's deterministic reason (threshold-free) and its (overlap, cosine)."""
    out = []
    for it in items:
        verdict_reason = verifier.specifics(
            re.sub(r"\s*\[1\]$", "", it.sentence), [it.passage], [it.passage]
        )
        overlap, cosine = verifier.support_parts(
            re.sub(r"\s*\[1\]$", "", it.sentence), [it.passage]
        )
        out.append((verdict_reason, overlap, cosine))
    return out


def decide(parts: tuple[str, float, float], t: Thresholds) -> bool:
    reason, overlap, cosine = parts
    return (
        not reason and t.overlap_weight * overlap + (1 - t.overlap_weight) * cosine >= t.min_support
    )


def measure(items: list[Item], parts: list[tuple[str, float, float]], t: Thresholds) -> dict:
    kept = [decide(p, t) for p in parts]
    sup = [k for it, k in zip(items, kept, strict=True) if it.supported]
    uns = [k for it, k in zip(items, kept, strict=True) if not it.supported]
    rejected = [(it, k) for it, k in zip(items, kept, strict=True) if not k]
    per_kind = defaultdict(list)
    for it, k in zip(items, kept, strict=True):
        per_kind[it.kind].append(k)
    return {
        "precision_rejecting": sum(not it.supported for it, _ in rejected) / max(len(rejected), 1),
        "recall_supported": sum(sup) / max(len(sup), 1),
        "recall_rejecting": sum(not k for k in uns) / max(len(uns), 1),
        "kept_by_kind": {k: round(sum(v) / len(v), 3) for k, v in per_kind.items()},
        "n": dict(Counter(it.kind for it in items)),
    }


def calibrate(
    items, parts, weight: float = 0.5, floor: float = 0.95, slack: float = 0.005
) -> Thresholds:
    """The least support score, with overlap and cosine weighed equally: the lowest (the most
    lenient) that catches within `slack` of the most unsupported sentences any threshold
    catches while keeping `floor` of the supported ones. Real rewordings stray further from
    the passage than this set's, and the checks of numbers, names, quotes, speakers and
    negations catch most unsupported sentences whatever the threshold."""
    found = []
    for t100 in range(20, 96):
        t = Thresholds(weight, t100 / 100)
        m = measure(items, parts, t)
        if m["recall_supported"] >= floor:
            found.append((m["recall_rejecting"], t))
    if not found:
        return CALIBRATED
    best = max(r for r, _ in found)
    return min((t for r, t in found if r >= best - slack), key=lambda t: t.min_support)


def mechanical(args: argparse.Namespace) -> dict:
    """The mechanical perturbations of RealTime QA's articles (the second set)."""
    t0 = time.perf_counter()
    articles = {a.id: a for a in load_path(CORPUS, on_error=lambda e: None)}
    stories = [
        [i for i in dict.fromkeys(q.get("gold_ids", []) + q.get("search_ids", [])) if i in articles]
        for q in read_jsonl(DEV)
    ]
    items = build(articles, [s for s in stories if len(s) >= 2], args.articles)
    verifier = Verifier(NumpyEncoder().encode)
    verifier.cache_size = 1 << 20
    parts = score(verifier, items)
    train = [k for k, it in enumerate(items) if split_of(it.article) == "train"]
    test = [k for k, it in enumerate(items) if split_of(it.article) == "test"]
    pick = lambda idx, xs: [xs[k] for k in idx]  # noqa: E731
    chosen = calibrate(pick(train, items), pick(train, parts))
    report = {
        "chosen_on_train": chosen.__dict__,
        "in_use": CALIBRATED.__dict__,
        "train": measure(pick(train, items), pick(train, parts), CALIBRATED),
        "held_out": measure(pick(test, items), pick(test, parts), CALIBRATED),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if args.json:
        return report
    print("== the mechanical set (RealTime QA articles, perturbed) ==")
    print(f"thresholds chosen on the training part: {chosen}")
    print(f"thresholds in use (verification.CALIBRATED): {CALIBRATED}")
    for name in ("train", "held_out"):
        m = report[name]
        print(
            f"{name}: precision at rejecting unsupported {m['precision_rejecting']:.3f} · "
            f"recall of supported {m['recall_supported']:.3f} · "
            f"unsupported caught {m['recall_rejecting']:.3f}"
        )
        print(
            "  kept, by kind: "
            + " · ".join(
                f"{k} {m['kept_by_kind'].get(k, float('nan')):.3f} (n={m['n'].get(k, 0)})"
                for k in KINDS
            )
        )
    print(f"{report['seconds']} s")
    return report


def _answers(cases: list) -> list[list]:
    """The set's sentences as answers a model might write: per story, runs of three faithful
    sentences, each with one of the story's errors or none (1 to 4 sentences)."""
    by_story: dict[str, list] = defaultdict(list)
    for c in cases:
        by_story[c.story].append(c)
    out = []
    for story in by_story.values():
        good = [c for c in story if c.faithful]
        bad = [c for c in story if not c.faithful]
        runs = [good[k : k + 3] for k in range(0, len(good), 3)]
        for k, run in enumerate(runs):
            out.append(run + bad[k : k + 1])
        out += [[b] for b in bad[len(runs) :]]
    return out


def _verify_answers(verifier_for, answers: list[list]) -> tuple[dict[int, bool], list[float]]:
    """Each sentence's verdict, and each answer's verification time (ms), a fresh verifier
    per answer: its passages are new to it, as a new question's are."""
    kept: dict[int, bool] = {}
    times = []
    for answer in answers:
        verifier = verifier_for()
        t = time.perf_counter()
        for c in answer:
            kept[id(c)] = verifier.check(c.sentence, c.passages, c.question).kept
        times.append((time.perf_counter() - t) * 1000)
    return kept, times


def _figures(cases: list, kept: dict[int, bool]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in vs_measure(cases, lambda c: kept[id(c)]).items()}


def realistic(args: argparse.Namespace) -> dict:
    """The hand-written set (bench/verifier_set): the checks alone, then with a judge served by
    the local OpenAI-compatible double (tests/fake_llm.py) with scripted judgements."""
    import os

    from retrieval.answering.chat_model import make_chat_model
    from retrieval.answering.judge import ModelJudge
    from retrieval.config import Settings
    from tests.fake_llm import FakeLLM

    cases = load_set()
    encoder = NumpyEncoder()
    encoder.encode(["warm"])
    report: dict = {}
    for split in ("train", "held_out"):
        part = [c for c in cases if c.split == split]
        kept, times = _verify_answers(lambda: Verifier(encoder.encode), _answers(part))
        report[split] = {"checks": _figures(part, kept)}
        report[split]["checks"]["ms per answer p50"] = round(percentile(times, 50), 1)
        report[split]["checks"]["ms per answer p95"] = round(percentile(times, 95), 1)
        report[split]["checks"]["answers"] = len(times)

    # The judge, through the real LLM path (LangChain's ChatOpenAI, structured output) to the
    # local double, which answers from a script.
    fake = FakeLLM()
    os.environ.setdefault("OPENAI_API_KEY", "unused")
    settings = Settings(llm="openai:judge", llm_base_url=fake.url, _env_file=None)
    by_sentence = {strip_markers(c.sentence): c for c in cases}
    rng = random.Random(22)
    scripts = {
        "an exact judge": lambda c: c.faithful,
        "a judge wrong one time in ten": lambda c: c.faithful != (rng.random() < 0.1),
        "a judge that finds everything supported": lambda c: True,
    }
    try:
        for name, script in scripts.items():

            def answer(body: dict, script=script) -> dict:
                case = by_sentence[FakeLLM.judged_sentence(body)]
                return {"supported": script(case), "reason": "scripted"}

            fake.judge = answer
            for split in ("train", "held_out"):
                part = [c for c in cases if c.split == split]
                judge = ModelJudge(make_chat_model(settings), settings.llm)
                kept, times = _verify_answers(
                    lambda judge=judge: Verifier(encoder.encode, judge=judge), _answers(part)
                )
                fig = _figures(part, kept)
                fig["ms per answer p95"] = round(percentile(times, 95), 1)
                fig["judge calls"] = judge.calls
                fig["judge ms per call"] = round(1000 * judge.seconds / max(judge.calls, 1), 1)
                report[split][name] = fig
    finally:
        fake.close()
    if args.json:
        return report
    print("== the hand-written set (bench/verifier_set; split by story before tuning) ==")
    for split in ("held_out", "train"):
        for name, fig in report[split].items():
            kinds = " · ".join(f"{k} {fig[f'caught: {k}']:.2f}" for k in ERROR_KINDS)
            print(
                f"{split:8} {name}: faithful kept {fig['faithful kept']:.3f} "
                f"(n={fig['n faithful']:.0f}) · errors caught {fig['errors caught']:.3f} "
                f"(n={fig['n errors']:.0f}) · by kind: {kinds} · "
                f"p95 {fig['ms per answer p95']:.1f} ms per answer"
                + (
                    f" · {fig['judge calls']} judge calls, {fig['judge ms per call']} ms each"
                    if "judge calls" in fig
                    else f" (p50 {fig['ms per answer p50']:.1f}, n={fig['answers']} answers)"
                )
            )
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--articles", type=int, default=400, help="articles to draw sentences from")
    ap.add_argument(
        "--mechanical", action="store_true", help="also the mechanical set (about 3 minutes)"
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    report = {"realistic": realistic(args)}
    if args.mechanical:
        report["mechanical"] = mechanical(args)
    if args.json:
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
