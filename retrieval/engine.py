"""The engine: one object that front ends hold. Nothing heavy happens until it is needed.

It answers and briefs, and it offers everything else a front end runs (ingest, feeds, watching,
schedules, evaluation), so that no front end reaches past it into the modules behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.answering.answer import ComposeOptions, answer_steps
from retrieval.answering.chain import AnswerChain, as_date
from retrieval.answering.timewindow import check_window
from retrieval.config import Settings
from retrieval.errors import BriefbotError, QuestionError, SettingsError
from retrieval.index.live import LiveIndex
from retrieval.index.search import SearchOptions
from retrieval.index.snapshot import Snapshot
from retrieval.index.store import Store
from retrieval.intake.articles import ReadOptions
from retrieval.intake.ingest import (
    Ingester,
    IngestReport,
    ProgressCallback,
    load_articles,
    token_counter,
)
from retrieval.metrics import Metrics
from retrieval.models import Answer, Article, Briefing

if TYPE_CHECKING:
    from retrieval.answering.llm import Writer
    from retrieval.evaluation.evaluate import CheckResult, EvalRun, HarnessProgress
    from retrieval.index.collections import ReindexReport
    from retrieval.index.embedding import Encoder
    from retrieval.intake.feeds import FeedReader, FeedReport
    from retrieval.intake.watch import WatchConfig, Watcher
    from retrieval.news.schedule import PostBriefing, Schedule, Scheduler

log = logging.getLogger(__name__)


class Engine:
    # While a write is under way, how often a reader catches up with what it committed so
    # far (milliseconds: retrieval/index/live.py); tests set it to 0.
    refresh_seconds = 1.0
    # How often a reader looks whether `briefbot reindex` switched collections (one small read).
    switch_check_seconds = 10.0

    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        query_encoder: Encoder | None = None,
        document_encoder: Encoder | None = None,
        search_options: SearchOptions | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._query_encoder = query_encoder
        self._document_encoder = document_encoder
        self._index: LiveIndex | None = None
        self._switch_checked = time.monotonic()
        self._lock = threading.RLock()
        self.search_options = search_options or SearchOptions(k=settings.retrieve_k)
        self.compose_options = ComposeOptions(
            max_citations=settings.max_citations,
            min_relevance=settings.min_relevance,
            steps=answer_steps(settings.answer_steps),
        )
        self._answerer: AnswerChain | None = None
        self.metrics = Metrics()  # what this engine counts (served at /metrics)
        self.metrics.watch_newest(self.newest_article)
        self._writer: Writer | None = None

    # -- parts, built on first use ----------------------------------------------------------
    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                from retrieval.index.collections import open_serving

                # The collection `briefbot reindex` last switched to, if it did.
                self._store = open_serving(self.settings, lambda: self.recipe)
                self._store.guard = self._before_write
            return self._store

    # -- following `briefbot reindex` (retrieval/index/collections.py) ----------------------
    def _before_write(self) -> None:
        """Under the write lock: the collection about to be written still serves."""
        from retrieval.index.collections import CollectionSwitched, serving

        store = self._store
        if store is None:
            return
        now = serving(store.client, self.settings.collection)
        if now.name != store.name:
            raise CollectionSwitched(now)

    def _follow_switch(self, force: bool = False) -> None:
        """Drop the store (and the index in memory) once another collection serves, if its
        vectors are made as ours are; else keep serving this one, and say why."""
        from retrieval.index.collections import mismatch, serving

        if self._store is None:
            return
        if not force and time.monotonic() - self._switch_checked < self.switch_check_seconds:
            return
        self._switch_checked = time.monotonic()
        target = serving(self._store.client, self.settings.collection)
        if target.name == self._store.name:
            return
        if (why := mismatch(target, self.recipe)) is not None:
            if force:
                raise BriefbotError(why[0].upper() + why[1:] + ".")
            log.warning("still serving %s: %s", self._store.name, why)
            return
        log.info("the index was rebuilt: switching from %s to %s", self._store.name, target.name)
        # The index on disk is per collection: the new one's is opened on the next read.
        self._store, self._index = None, None

    def reindex(
        self, on_progress: ProgressCallback | None = None, drop_old: bool = False
    ) -> ReindexReport:
        """Rebuild the index into a new collection with these settings' model and chunking,
        beside the serving one, and switch every process to it at once (see
        retrieval/index/collections.py)."""
        from retrieval.index.collections import Reindexer

        return Reindexer(self).run(on_progress, drop_old)

    def export(self, path: Path) -> int:
        """Every stored article to a JSON-lines file (.gz: compressed) that `ingest` reads:
        how an index moves to another store (embedded to a server) or is kept as text."""
        from retrieval.index.collections import export_jsonl

        return export_jsonl(self.store, Path(path))

    @property
    def generates(self) -> bool:
        """Whether answers are written by a language model (BRIEFBOT_LLM) by default."""
        return bool(self.settings.llm)

    @property
    def writer(self) -> Writer | None:
        """The language model's writer (retrieval/answering/llm.py); None without BRIEFBOT_LLM.
        A SettingsError names a missing package or key."""
        with self._lock:
            if self._writer is None and self.settings.llm:
                from retrieval.answering.llm import Writer

                self._writer = Writer.from_settings(self.settings, self.query_encoder.encode)
            return self._writer

    @property
    def query_encoder(self) -> Encoder:
        with self._lock:
            if self._query_encoder is None:
                from retrieval.index.embedding import NumpyEncoder

                self._query_encoder = NumpyEncoder(self.settings.resolved_model_path)
            return self._query_encoder

    def _make_document_encoder(self) -> Encoder:
        if self._document_encoder is None:
            from retrieval.index.torch_encoder import TorchEncoder

            self._document_encoder = TorchEncoder(self.settings.resolved_model_path)
        return self._document_encoder

    def for_collection(self, name: str) -> Engine:
        """The same engine (settings, encoders, options) over another collection."""
        other = Engine(
            self.settings.model_copy(update={"collection": name}),
            query_encoder=self._query_encoder,
            document_encoder=self._document_encoder,
            search_options=self.search_options,
        )
        other._writer = self._writer  # the same model, if one was made
        return other

    @cached_property
    def recipe(self) -> str:
        """Model fingerprint and chunking: what decides an article's vectors (hashed once)."""
        from retrieval.index.embedding import model_fingerprint

        s = self.settings
        return (
            f"{model_fingerprint(s.resolved_model_path)}/{s.chunk_tokens}/{s.chunk_overlap_tokens}"
        )

    def ingester(self) -> Ingester:
        return Ingester(
            self.settings,
            self.store,
            self._make_document_encoder,
            self.recipe,
            token_counter(self.settings.resolved_model_path),
        )

    @property
    def index(self) -> LiveIndex:
        """This process's index of the serving collection (opened on first use)."""
        with self._lock:
            if self._index is None:
                self._index = LiveIndex.open(
                    self.settings, self.store, self.search_options.title_weight
                )
                self._index.auto_compact = True
            return self._index

    def snapshot(self) -> Snapshot:
        """The index as of the store's last commit, caught up with what other writers
        committed since it was last read (O(changes); see retrieval/index/live.py), and
        reopened for the new collection once `briefbot reindex` has switched."""
        with self._lock:
            self._follow_switch()
            index = self.index
        return index.snapshot(self.refresh_seconds)

    def warm(self, on_progress: ProgressCallback | None = None) -> IngestReport | None:
        """Ready to answer at once: the seeds indexed if nothing is, and the index loaded.
        Returns the seeds' report when they were indexed."""
        report = self.ensure_seeded(on_progress)
        t = time.perf_counter()
        self.snapshot()
        _ = self.writer  # a model that can't be made is named now, not at the first question
        log.info("index loaded in %.1f s", time.perf_counter() - t)
        return report

    # -- ingest -----------------------------------------------------------------------------
    def ingest(
        self, paths: Iterable[Path | str], on_progress: ProgressCallback | None = None
    ) -> IngestReport:
        """Index the articles in files and folders; a missing path stops before any write."""
        report = IngestReport()
        articles = load_articles(paths, report, ReadOptions.from_settings(self.settings))
        return self.ingest_articles(articles, report, on_progress)

    def ingest_articles(
        self,
        articles: Sequence[Article],
        report: IngestReport | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        from retrieval.index.collections import CollectionSwitched

        try:
            report = self.ingester().ingest_articles(articles, report, on_progress)
        except CollectionSwitched:  # `briefbot reindex` switched: write to the new collection
            with self._lock:
                self._follow_switch(force=True)
            report = self.ingester().ingest_articles(articles, report, on_progress)
        self.metrics.ingest(report)
        return report

    def feed_reader(self) -> FeedReader:
        """Polls feeds into this engine, with the feeds' state in the data directory."""
        from retrieval.intake.feeds import FeedOptions, FeedReader, FeedState

        state = FeedState.in_data_dir(self.settings.data_dir)
        return FeedReader(
            state,
            self.ingest_articles,
            FeedOptions.from_settings(self.settings),
            observe=self.metrics.feed_polled,
        )

    def poll_feed(self, url: str) -> FeedReport:
        """One round of one feed: its new items fetched and ingested."""
        return self.feed_reader().poll(url)

    def watcher(self, config: WatchConfig) -> Watcher:
        """Rounds over the configured feeds and folders, ingesting what is new."""
        from retrieval.intake.watch import FolderWatcher, Watcher

        folders = FolderWatcher(
            config.folders, self.ingest_articles, ReadOptions.from_settings(self.settings)
        )
        return Watcher(config, self.feed_reader(), folders)

    def scheduler(
        self, schedules: Sequence[Schedule], platform: str, post: PostBriefing
    ) -> Scheduler:
        """Posts the schedules' briefings to one platform's channels with `post`; the history of
        what was posted is kept in the data directory."""
        from retrieval.news.schedule import Scheduler, ScheduleState

        def build(
            since: datetime, until: datetime, topic: str | None, max_stories: int, seen: set[str]
        ) -> Briefing:
            return self.brief(since, until, topic=topic, max_stories=max_stories, exclude=seen)

        state = ScheduleState.in_data_dir(self.settings.data_dir)
        return Scheduler(list(schedules), state, build, post, platform, metrics=self.metrics)

    # -- evaluation -------------------------------------------------------------------------
    def evaluate(
        self,
        corpus: Path,
        questions: list[dict[str, Any]],
        *,
        baseline: bool = False,
        on_progress: HarnessProgress | None = None,
        ingest_progress: ProgressCallback | None = None,
        llm: bool = False,
    ) -> EvalRun:
        """The harness: the corpus indexed in a collection of its own (cached), every question
        asked as of its date; with `baseline`, the baselines too; with `llm`, again with the
        language model writing the answers (retrieval.evaluation)."""
        from retrieval.evaluation.evaluate import eval_corpus

        return eval_corpus(
            self,
            corpus,
            questions,
            baseline=baseline,
            on_progress=on_progress,
            ingest_progress=ingest_progress,
            llm=llm,
        )

    def check_questions(
        self,
        questions: list[dict[str, Any]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> list[CheckResult]:
        """Seed-style questions (must_cite / must_not_cite / abstain) asked of this index."""
        from retrieval.evaluation.evaluate import check_questions

        return check_questions(lambda q, d: self.ask(q, now=d), questions, on_progress)

    def is_empty(self) -> bool:
        return self.store.count()[0] == 0

    def ensure_seeded(self, on_progress: ProgressCallback | None = None) -> IngestReport | None:
        """With nothing indexed, index the seed articles: the default a newcomer meets."""
        if not self.is_empty() or not Path(self.settings.seeds_dir).is_dir():
            return None
        return self.ingest([self.settings.seeds_dir], on_progress)

    # -- answering --------------------------------------------------------------------------
    def check_question(self, question: str) -> str:
        q = " ".join(question.split())
        if not q:
            raise QuestionError("The question is empty.")
        limit = self.settings.max_question_chars
        if len(q) > limit:
            raise QuestionError(
                f"The question is {len(q):,} characters long; the limit is {limit:,}. "
                "Ask something shorter."
            )
        return q

    @property
    def answerer(self) -> AnswerChain:
        """The answer chain (retrieve | rank | compose), over this engine's index."""
        if self._answerer is None:
            # The options are read on each question: a caller may replace them (tests, benches).
            self._answerer = AnswerChain(
                self.snapshot,
                lambda: self.query_encoder,
                lambda: (self.search_options, self.compose_options),
            )
        return self._answerer

    def ask(
        self,
        question: str,
        now: date | datetime | None = None,
        context: str = "",
        *,
        llm: bool | None = None,
        on_sentence: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer as of `now` (default: today): nothing published after it is used.

        `llm`: written by the language model (default: when BRIEFBOT_LLM is set), each of its
        sentences handed to `on_sentence` once verified, as the model writes."""
        t0 = time.perf_counter()
        q = self.check_question(question)
        day = as_date(now)
        answer = self.answerer.invoke(q, " ".join(context.split())[:2000], day)
        if self.generates if llm is None else llm:
            t = time.perf_counter()
            answer = self._write(answer, day or date.today(), on_sentence)
            answer.timing_ms["llm"] = round((time.perf_counter() - t) * 1000, 1)
        answer.timing_ms["total"] = round((time.perf_counter() - t0) * 1000, 1)
        return answer

    def _write(
        self, answer: Answer, asked_on: date, on_sentence: Callable[[str], None] | None
    ) -> Answer:
        writer = self.writer
        if writer is None:
            raise SettingsError(
                "A written answer needs a language model: set BRIEFBOT_LLM "
                "(e.g. openai:gpt-4o-mini or ollama:llama3.1)."
            )
        if answer.abstained or not answer.citations:
            return answer
        from retrieval.answering.llm import passages_for

        ids = list(dict.fromkeys(c.article_id for c in answer.citations))
        passages = passages_for(answer, self.store.get_articles(ids))
        return writer.write(answer, passages, asked_on, on_sentence)

    # -- briefing ---------------------------------------------------------------------------
    def brief(
        self,
        since: datetime | date,
        until: datetime | date | None = None,
        topic: str | None = None,
        max_stories: int = 10,
        *,
        also_in_the_news: int | None = None,
        exclude: Collection[str] = (),
    ) -> Briefing:
        """The window's stories, clustered across outlets, with cited key sentences, the events
        below them in one line each (`also_in_the_news`, default: the setting) and the quotes
        of the day (see retrieval.news.briefing). `exclude`: articles already briefed."""
        from retrieval.news.briefing import build_briefing

        until = until or datetime.now(UTC)
        check_window(since, until)
        return build_briefing(
            self.snapshot(),
            self.store.get_articles,
            self.query_encoder.encode,
            since,
            until,
            topic=topic,
            max_stories=max_stories,
            also_in_the_news=(
                self.settings.also_in_the_news if also_in_the_news is None else also_in_the_news
            ),
            exclude=exclude,
        )

    # -- what is indexed --------------------------------------------------------------------
    def newest_article(self) -> date | None:
        """The newest publication date in the index this process has loaded (None before the
        first load): what the health report and the ingest lag metric show, at no cost."""
        index = self._index
        snap = index.current if index is not None else None
        if snap is None:
            return None
        return max((a.published for a in snap.articles if a.published), default=None)

    def sources(self) -> dict[str, Any]:
        snap = self.snapshot()
        dates = [a.published for a in snap.articles if a.published]
        per_source = Counter(a.source or "(unknown)" for a in snap.articles)
        chunks_per_source: Counter[str] = Counter()
        for i, a in enumerate(snap.articles):
            chunks_per_source[a.source or "(unknown)"] += len(snap.article_chunks(i))
        return {
            "articles": len(snap.articles),
            "chunks": snap.n_chunks,
            "first": min(dates).isoformat() if dates else None,
            "last": max(dates).isoformat() if dates else None,
            "sources": [
                {"source": s, "articles": n, "chunks": chunks_per_source[s]}
                for s, n in per_source.most_common()
            ],
        }
