"""The answer chain: retrieve | rank | compose, as LangChain runnables.

The engine builds one and hands it the parts it owns (the index snapshot and the query
encoder); everything a question goes through on its way to an answer lives here and in the
modules beside it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

import prompts
from retrieval.answering.answer import compose
from retrieval.answering.features import WordMatcher, subject
from retrieval.answering.learned import models
from retrieval.answering.options import ComposeOptions
from retrieval.answering.rerank import article_rows, rerank
from retrieval.answering.timewindow import Window, parse_window
from retrieval.index.search import (
    Hit,
    RankedArticle,
    SearchOptions,
    Snapshot,
    rank_articles,
    search,
)
from retrieval.models import Answer

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

    from retrieval.index.embedding import Encoder


@dataclass
class ChainState:
    """What flows through the answering chain (retrieve | rank | compose)."""

    question: str
    context: str  # earlier questions of the conversation, for a follow-up
    now: date | None
    timing: dict[str, float] = field(default_factory=dict)  # ms per stage
    snap: Snapshot | None = None
    window: Window | None = None  # the time the question names ("last week"), if any
    hits: list[Hit] = field(default_factory=list)
    ranked: list[RankedArticle] = field(default_factory=list)
    explain: dict | None = None  # filled with compose's features and scores when given

    @property
    def snapshot(self) -> Snapshot:
        assert self.snap is not None, "retrieve runs first"
        return self.snap


def as_date(moment: date | datetime | None) -> date | None:
    if moment is None or type(moment) is date:
        return moment
    assert isinstance(moment, datetime)
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


class AnswerChain:
    """Answers a checked question from the index as of a day. `snapshot`, `encoder` and
    `options` are called on each question (the index moves; the encoder is built on first
    use; the options may be replaced)."""

    def __init__(
        self,
        snapshot: Callable[[], Snapshot],
        encoder: Callable[[], Encoder],
        options: Callable[[], tuple[SearchOptions, ComposeOptions]],
    ) -> None:
        self._snapshot = snapshot
        self._encoder = encoder
        self._options = options
        self._runnable: Runnable[ChainState, Answer] | None = None
        self._matcher: WordMatcher | None = None

    @property
    def matcher(self) -> WordMatcher:
        """Word vectors for matching a question's words by meaning (when the encoder has them)."""
        if self._matcher is None:
            self._matcher = WordMatcher(getattr(self._encoder(), "word_vectors", None))
        return self._matcher

    @property
    def search_options(self) -> SearchOptions:
        return self._options()[0]

    @property
    def compose_options(self) -> ComposeOptions:
        return self._options()[1]

    @property
    def runnable(self) -> Runnable[ChainState, Answer]:
        if self._runnable is None:
            from langchain_core.runnables import RunnableLambda

            self._runnable = (
                RunnableLambda(self.retrieve, name="retrieve")
                | RunnableLambda(self.rank, name="rank")
                | RunnableLambda(self.compose, name="compose")
            )
        return self._runnable

    def invoke(
        self, question: str, context: str, now: date | None, explain: dict | None = None
    ) -> Answer:
        return self.runnable.invoke(ChainState(question, context, now, explain=explain))

    def retrieve(self, state: ChainState) -> ChainState:
        t = time.perf_counter()
        snap = self._snapshot()
        state.timing["load"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        query = f"{state.context} {state.question}".strip()
        vector = self._encoder().encode([query])[0]
        state.timing["embed"] = (time.perf_counter() - t) * 1000
        t = time.perf_counter()
        snap = snap.widened(vector)  # older articles than this process holds (max_chunks)
        state.snap = snap
        now = state.now or date.today()
        named = parse_window(state.question, now)
        state.window = named
        window = (named.start, named.end) if named else None
        state.hits = search(snap, vector, query, now, self.search_options, window)
        state.timing["search"] = (time.perf_counter() - t) * 1000
        return state

    def rank(self, state: ChainState) -> ChainState:
        state.ranked = rank_articles(state.snapshot, state.hits, self.search_options)
        model = models().article
        use = "article_rerank" in self.compose_options.steps and model is not None
        if state.ranked and (use or state.explain is not None):
            t = time.perf_counter()
            subj = subject(f"{state.context} {state.question}", self.matcher)
            rows = article_rows(state.snapshot, state.ranked, subj, self.matcher, state.now)
            if state.explain is not None:
                snap = state.snapshot
                state.explain["articles"] = [
                    {"ids": [snap.articles[a].id for a in (r.article, *r.duplicates)], "x": x}
                    for r, x in zip(state.ranked, rows.tolist(), strict=False)
                ]
            if use:
                assert model is not None
                state.ranked = rerank(state.ranked, rows, model)
            state.timing["rerank"] = (time.perf_counter() - t) * 1000
        return state

    def compose(self, state: ChainState) -> Answer:
        t = time.perf_counter()
        named = state.window
        ranked = state.ranked
        if named is not None and named.relative:
            # The question asks about news of its time ("yesterday", "this week"): it is
            # answered from what was published then; older stories on the subject don't.
            ranked = self._in_window(state, named)
        snap = state.snapshot
        if named is not None and named.relative and not ranked:
            answer = Answer(
                state.question, prompts.render("abstain_window", window=named.phrase), True
            )
        else:
            answer = compose(
                state.question,
                snap,
                ranked,
                self.compose_options,
                state.context,
                state.now,
                self.matcher,
                state.explain,
            )
        state.timing["compose"] = (time.perf_counter() - t) * 1000
        answer.timing_ms = {k: round(v, 1) for k, v in state.timing.items()}
        answer.articles_searched = len(snap.articles)
        answer.ranked_article_ids = [snap.articles[r.article].id for r in state.ranked]
        answer.ranked_groups = [
            [snap.articles[a].id for a in (r.article, *r.duplicates)] for r in state.ranked
        ]
        cited = {c.article_id for c in answer.citations}
        for r in state.ranked:
            art = snap.articles[r.article]
            others = sorted({snap.articles[d].source for d in r.duplicates} - {art.source, ""})
            if art.id in cited and others:
                answer.also_reported_by[art.id] = others
        return answer

    def top_articles(
        self, question: str, now: date | None, n: int = 20
    ) -> tuple[Snapshot, list[int]]:
        """The `n` articles the chain ranks first for `question` (retrieve | rank), with the
        snapshot their indices are of."""
        state = self.rank(self.retrieve(ChainState(question, "", now)))
        return state.snapshot, [r.article for r in state.ranked[:n]]

    def about(
        self,
        question: str,
        articles: Sequence[int],
        now: date | None,
        snap: Snapshot | None = None,
        vector: np.ndarray | None = None,
    ) -> Answer:
        """The answer to `question` from these articles of the snapshot alone: their chunks
        ranked against the question's vector, then composed as any answer is. The composer's
        verdict reads the best sentence's own article only, so an article is judged here as
        it would be among others (what a followed topic asks of each new article)."""
        snap = snap or self._snapshot()
        if vector is None:
            vector = self._encoder().encode([question])[0]
        q = np.asarray(vector, dtype=np.float32)
        ranked: list[RankedArticle] = []
        for a in articles:
            chunks = snap.article_chunks(a)
            if not len(chunks):
                continue
            dense = snap.vectors[chunks] @ q
            order = np.argsort(-dense, kind="stable")
            hits = [Hit(int(chunks[i]), float(dense[i]), float(dense[i]), 0.0) for i in order]
            ranked.append(RankedArticle(int(a), hits[0].score, hits))
        ranked.sort(key=lambda r: -r.score)
        return self.compose(ChainState(question, "", now, snap=snap, ranked=ranked))

    def _in_window(self, state: ChainState, named: Window) -> list[RankedArticle]:
        """The best articles published in the named window (or in the few days after it, when
        reports of an event come out), best first."""
        snap = state.snapshot
        last = named.end + timedelta(days=self.search_options.window_slack_days)
        best = state.ranked[: self.compose_options.max_articles]
        return [
            r
            for r in best
            if (d := snap.articles[r.article].published) is not None and named.start <= d <= last
        ]
