"""Briefings measured against news editors' picks: RealTime QA's weekly quiz questions.

    BRIEFBOT_DATA_DIR=/work/evaldata python bench/briefing.py
    python bench/briefing.py --json               # per week and overall, as JSON

For each of the 10 dev weeks, the briefing of the 7 days up to the week's latest `asked_on`
(both ends included: articles carry a date, not a time) over corpus-dev, with 10 stories and
10 "also in the news" items. A story or item lists all its member articles as its sources.

- coverage: a question is covered when one of the 10 stories has its gold article among its
  members; whole-briefing coverage counts the items too. Baselines, in the same run: the 10
  (and the 20) most recent articles of the window (ties by id), as one-article stories.
- purity: each question's `search_ids` label the articles a web search returned for it. For each
  story, the share of its labelled members that carry its most common label, averaged over the
  stories that have a labelled member. Labels come from the week's own questions; `purity (all
  weeks' labels)` uses every dev question's, which splits a topic asked about in two weeks.
- length: items (stories + also-in-the-news lines) and words (headlines, key sentences, item
  lines and quotes), so that coverage is never bought with length.
- duplicates: pairs of entries (stories and items) that are one event: they share an article,
  hold near-duplicate articles (as answers fold them: `search.same_story`), or their sentences
  say the same thing (`answer.same_fact`). It should be 0.

`--ceiling` shows why coverage stops where it does: for each week, how many stories the window
holds (all of them, not just the 10 shown), how many are one article, how many gold articles
are the only article on their event, and where the gold articles' stories rank.

The corpus is indexed into the evaluation harness's cached collection (`corpus_key`): built
on the first run, reused after.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

from _common import CORPUS, DEV, corpus_engine, percentile

import retrieval  # noqa: F401
from retrieval.answering.sentences import same_fact
from retrieval.evaluation.evaluate import read_jsonl
from retrieval.index.search import SearchOptions, same_story
from retrieval.index.store import day_number
from retrieval.models import Briefing
from retrieval.news.briefing import BriefingOptions, build_briefing
from retrieval.news.stories import StoryOptions, draft_stories, rank, window_articles


def purity(stories: list[list[str]], labels: dict[str, set[str]]) -> float | None:
    """Mean over stories (with a labelled member) of the share carrying the commonest label."""
    shares = []
    for members in stories:
        labelled = [labels[m] for m in members if labels.get(m)]
        if not labelled:
            continue
        counts = Counter(label for ls in labelled for label in ls)
        top = counts.most_common(1)[0][0]
        shares.append(sum(top in ls for ls in labelled) / len(labelled))
    return fmean(shares) if shares else None


def weighted_purity(stories: list[list[str]], labels: dict[str, set[str]]) -> float | None:
    """Purity over labelled members rather than stories: a big mixed story weighs its size."""
    top = total = 0
    for members in stories:
        labelled = [labels[m] for m in members if labels.get(m)]
        if labelled:
            label = Counter(x for ls in labelled for x in ls).most_common(1)[0][0]
            top += sum(label in ls for ls in labelled)
            total += len(labelled)
    return top / total if total else None


def covered(stories: list[list[str]], question: dict[str, Any]) -> bool:
    gold = set(question["gold_ids"])
    return any(gold & set(members) for members in stories)


def words(briefing: Briefing) -> int:
    """What a reader reads: headlines, key sentences, item lines and quotes."""
    texts = [s.headline + " " + s.summary for s in briefing.stories]
    texts += [i.citation.quote for i in briefing.also_in_the_news]
    texts += [q.citation.quote for q in briefing.quotes]
    return sum(len(t.split()) for t in texts)


def duplicates(briefing: Briefing, snap: Any) -> list[tuple[str, str]]:
    """Pairs of entries (stories, items) that are one event: a shared article, near-duplicate
    articles (as answers fold them), or sentences that say the same thing."""
    entries = [
        (s.headline, s.article_ids, [c.quote for c in s.citations]) for s in briefing.stories
    ]
    entries += [(i.headline, i.article_ids, [i.citation.quote]) for i in briefing.also_in_the_news]
    o = SearchOptions()
    found = []
    for k, (head_a, ids_a, says_a) in enumerate(entries):
        for head_b, ids_b, says_b in entries[k + 1 :]:
            arts_a = [snap.article_index[i] for i in ids_a]
            arts_b = [snap.article_index[i] for i in ids_b]
            if (
                set(ids_a) & set(ids_b)
                or any(
                    same_story(
                        snap, snap.article_vectors, a, b, o.duplicate_cosine, o.duplicate_days
                    )
                    for a in arts_a
                    for b in arts_b
                )
                or any(same_fact(x, y) for x in says_a for y in says_b)
            ):
                found.append((head_a, head_b))
    return found


def ceiling(
    snap: Any, since: date, until: date, qs: list[dict[str, Any]], options: StoryOptions
) -> dict[str, Any]:
    """All the window's stories, ranked as the briefing ranks them; where the golds fall."""
    drafts = rank(
        draft_stories(
            snap,
            window_articles(snap, since, until),
            until,
            options,
            days=(until - since).days + 1,
        ),
        None,
        snap,
        options,
    )
    members = [{snap.articles[m].id for m in d.members} for d in drafts]
    ranks = [
        next((k + 1 for k, ids in enumerate(members) if ids & set(q["gold_ids"])), None) for q in qs
    ]
    return {
        "stories": len(drafts),
        "one_article": sum(len(ids) == 1 for ids in members),
        "gold_alone": sum(r is not None and len(members[r - 1]) == 1 for r in ranks),
        "gold_ranks": sorted(r for r in ranks if r is not None),
    }


def print_ceiling(rows: list[dict[str, Any]], n: int) -> None:
    print(f"\n{'week':10} {'stories':>7} {'1-article':>9} {'gold alone':>10}  gold stories' ranks")
    for r in rows:
        c = r["ceiling"]
        print(
            f"{r['week']:10} {c['stories']:>7} {c['one_article']:>9} "
            f"{c['gold_alone']:>7}/{r['questions']:<2}  {c['gold_ranks']}"
        )
    alone = sum(r["ceiling"]["gold_alone"] for r in rows)
    stories = fmean(r["ceiling"]["stories"] for r in rows)
    single = fmean(r["ceiling"]["one_article"] for r in rows)
    print(
        f"{alone} of {n} gold articles are the only article on their event; a week holds "
        f"{stories:.0f} stories, {single:.0f} of them one article"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--questions", type=Path, default=DEV)
    ap.add_argument("--stories", type=int, default=10)
    ap.add_argument("--items", type=int, default=10, help="also-in-the-news items")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--join", type=float, help="StoryOptions.join_cosine")
    ap.add_argument("--half-life", type=float, help="StoryOptions.half_life_days")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--show", action="store_true", help="print each week's stories")
    ap.add_argument("--ceiling", action="store_true", help="where the gold articles' stories rank")
    args = ap.parse_args()

    engine, articles, report = corpus_engine(args.corpus)
    snap = engine.snapshot()
    titles = {a.id: a.title for a in articles}

    story_options = StoryOptions()
    if args.join is not None:
        story_options = replace(story_options, join_cosine=args.join)
    if args.half_life is not None:
        story_options = replace(story_options, half_life_days=args.half_life)
    options = BriefingOptions(stories=story_options)

    questions = read_jsonl(args.questions)
    weeks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in questions:
        weeks[q["id"].split("_")[0]].append(q)
    all_labels: dict[str, set[str]] = defaultdict(set)
    for q in questions:
        for i in q["search_ids"]:
            all_labels[i].add(q["id"])

    engine.parts.query_encoder.encode(["warm up"])
    rows = []
    ms: list[float] = []
    for week, qs in sorted(weeks.items()):
        until = max(date.fromisoformat(q["asked_on"]) for q in qs)
        since = until - timedelta(days=args.days - 1)
        labels: dict[str, set[str]] = defaultdict(set)
        for q in qs:
            for i in q["search_ids"]:
                labels[i].add(q["id"])
        t = time.perf_counter()
        briefing = build_briefing(
            snap,
            engine.parts.store.get_articles,
            engine.parts.query_encoder.encode,
            since,
            until,
            max_stories=args.stories,
            also_in_the_news=args.items,
            options=options,
        )
        ms.append((time.perf_counter() - t) * 1000)
        stories = [s.article_ids for s in briefing.stories]
        whole = stories + [i.article_ids for i in briefing.also_in_the_news]
        lo, hi = day_number(since), day_number(until)
        window = [
            a
            for a in snap.articles
            if a.published is not None and lo <= day_number(a.published) <= hi
        ]
        recent = sorted(window, key=lambda a: (a.published, a.id), reverse=True)
        baseline = [[a.id] for a in recent[: args.stories]]
        baseline_whole = [[a.id] for a in recent[: args.stories + args.items]]
        dups = duplicates(briefing, snap)
        row = {
            "week": week,
            "since": since.isoformat(),
            "until": until.isoformat(),
            "questions": len(qs),
            "window_articles": len(window),
            "covered": sum(covered(stories, q) for q in qs),
            "covered_whole": sum(covered(whole, q) for q in qs),
            "baseline_covered": sum(covered(baseline, q) for q in qs),
            "baseline_whole_covered": sum(covered(baseline_whole, q) for q in qs),
            "purity": purity(stories, labels),
            "purity_whole": purity(whole, labels),
            "items": len(whole),
            "words": words(briefing),
            "duplicates": len(dups),
            "duplicate_pairs": dups,
            "purity_all_labels": purity(stories, all_labels),
            "weighted_purity": weighted_purity(stories, labels),
            "window_share": sum(map(len, stories)) / max(len(window), 1),
            "story_sizes": [len(s) for s in stories],
            "ms": round(ms[-1], 1),
        }
        if args.ceiling:
            row["ceiling"] = ceiling(snap, since, until, qs, story_options)
        row["coverage"] = row["covered"] / len(qs)
        row["coverage_whole"] = row["covered_whole"] / len(qs)
        row["baseline_coverage"] = row["baseline_covered"] / len(qs)
        row["baseline_whole_coverage"] = row["baseline_whole_covered"] / len(qs)
        rows.append(row)
        if args.show:
            print(f"\n== {week} ({since} … {until}), {len(window)} articles")
            entries = [(s.headline, s.article_ids) for s in briefing.stories]
            entries += [(i.headline, i.article_ids) for i in briefing.also_in_the_news]
            for k, (head, ids) in enumerate(entries, 1):
                hit = [q["id"][-1] for q in qs if set(q["gold_ids"]) & set(ids)]
                mark = "" if k <= len(briefing.stories) else "  +"
                print(f"{k:2}.{mark} [{len(ids)}] {head[:80]}  gold:{','.join(hit)}")
            for a, b in dups:
                print(f"    duplicate: {a[:50]} / {b[:50]}")
            for q in qs:
                if not covered(whole, q):
                    print(f"    missed {q['id']}: {titles.get(q['gold_ids'][0], '')[:70]}")

    n = len(questions)
    purities = [r["purity"] for r in rows if r["purity"] is not None]
    overall = {
        "coverage": sum(r["covered"] for r in rows) / n,
        "coverage_whole": sum(r["covered_whole"] for r in rows) / n,
        "baseline_coverage": sum(r["baseline_covered"] for r in rows) / n,
        "baseline_whole_coverage": sum(r["baseline_whole_covered"] for r in rows) / n,
        "purity": fmean(purities),
        "purity_whole": fmean(r["purity_whole"] for r in rows if r["purity_whole"] is not None),
        "items": fmean(r["items"] for r in rows),
        "max_items": max(r["items"] for r in rows),
        "words": fmean(r["words"] for r in rows),
        "duplicates": sum(r["duplicates"] for r in rows),
        "purity_all_labels": fmean(
            [r["purity_all_labels"] for r in rows if r["purity_all_labels"] is not None]
        ),
        "weighted_purity": fmean(
            [r["weighted_purity"] for r in rows if r["weighted_purity"] is not None]
        ),
        "window_share": fmean(r["window_share"] for r in rows),
        "questions": n,
        "mean_story_size": fmean(x for r in rows for x in r["story_sizes"]),
        "p50_ms": round(percentile(ms, 50), 1),
        "max_ms": round(max(ms), 1),
        "options": {**story_options.__dict__, **options.quotes.__dict__},
        "index": {"added": report.added, "unchanged": report.unchanged},
    }
    if args.json:
        print(json.dumps({"weeks": rows, "overall": overall}, indent=2))
        return
    print(
        f"{'week':10} {'window':>6} {'n':>3} {'top 10':>7} {'base 10':>7} {'whole':>6} "
        f"{'base 20':>7} {'purity':>7} {'whole':>6} {'purity*':>8} {'items':>5} {'words':>6} "
        f"{'dups':>4} {'ms':>6}"
    )
    for r in rows:
        print(
            f"{r['week']:10} {r['window_articles']:>6} {r['questions']:>3} "
            f"{r['coverage']:>7.3f} {r['baseline_coverage']:>7.3f} {r['coverage_whole']:>6.3f} "
            f"{r['baseline_whole_coverage']:>7.3f} {r['purity']:>7.3f} {r['purity_whole']:>6.3f} "
            f"{r['purity_all_labels']:>8.3f} {r['items']:>5} {r['words']:>6} "
            f"{r['duplicates']:>4} {r['ms']:>6.0f}"
        )
    print(
        f"{'overall':10} {'':>6} {n:>3} {overall['coverage']:>7.3f} "
        f"{overall['baseline_coverage']:>7.3f} {overall['coverage_whole']:>6.3f} "
        f"{overall['baseline_whole_coverage']:>7.3f} {overall['purity']:>7.3f} "
        f"{overall['purity_whole']:>6.3f} {overall['purity_all_labels']:>8.3f} "
        f"{overall['items']:>5.1f} {overall['words']:>6.0f} {overall['duplicates']:>4} "
        f"{overall['p50_ms']:>6.0f}"
    )
    print(
        f"weighted purity {overall['weighted_purity']:.3f} · the 10 stories hold "
        f"{overall['window_share']:.0%} of the window's articles · mean story "
        f"{overall['mean_story_size']:.1f} articles · at most {overall['max_items']} items"
    )
    if args.ceiling:
        print_ceiling(rows, n)
    print(
        "top 10: coverage of the stories · whole: of stories and also-in-the-news · base: the "
        "10 / 20 most recent articles\npurity*: stories, with every dev week's labels · items: "
        "stories + lines · words: read in all · dups: entries that are one event · ms: p50"
    )
    print("target (whole briefing): coverage >= 0.8 with purity >= 0.95 and at most 20 items")


if __name__ == "__main__":
    main()
