"""The engine: the one object front ends hold. Nothing heavy happens until it is needed.

It answers and briefs, and it runs what else a front end offers (ingest, feeds, watching,
schedules, reindexing), so that no front end reaches past it into the modules behind. It is a
facade: its parts are built in retrieval/parts.py, and each job is done in the layer that owns
it (docs/architecture.md). Evaluation drives an engine from above (retrieval.evaluation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.answering.chain import AnswerChain, as_date
from retrieval.config import Settings
from retrieval.errors import QuestionError, SettingsError
from retrieval.intake.files import ReadOptions
from retrieval.intake.ingest import IngestReport, ProgressCallback, load_articles
from retrieval.models import Answer, Article, Briefing
from retrieval.parts import Parts

if TYPE_CHECKING:
    from retrieval.answering.llm import Writer
    from retrieval.answering.options import ComposeOptions
    from retrieval.index.embedding import Encoder
    from retrieval.index.search import SearchOptions
    from retrieval.index.snapshot import Snapshot
    from retrieval.index.store import Store
    from retrieval.intake.feeds import FeedReport
    from retrieval.intake.reindex import ReindexReport
    from retrieval.intake.watch import WatchConfig, Watcher
    from retrieval.news.follow import FollowOptions, Follows
    from retrieval.news.schedule import PostBriefing, Schedule, Scheduler

log = logging.getLogger(__name__)


class Engine:
    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        query_encoder: Encoder | None = None,
        document_encoder: Encoder | None = None,
        search_options: SearchOptions | None = None,
        *,
        parts: Parts | None = None,
    ) -> None:
        self.parts = parts or Parts(
            settings, store, query_encoder, document_encoder, search_options
        )
        self.settings = self.parts.settings
        self.metrics = self.parts.metrics  # what this engine counts (served at /metrics)

    def for_collection(self, name: str) -> Engine:
        """The same engine (settings, encoders, options, model) over another collection."""
        other = self.parts.for_collection(name)
        return Engine(other.settings, parts=other)

    # -- what callers tune and read -----------------------------------------------------------
    @property
    def search_options(self) -> SearchOptions:
        return self.parts.search_options

    @search_options.setter
    def search_options(self, options: SearchOptions) -> None:
        self.parts.search_options = options

    @property
    def compose_options(self) -> ComposeOptions:
        return self.parts.compose_options

    @compose_options.setter
    def compose_options(self, options: ComposeOptions) -> None:
        self.parts.compose_options = options

    @property
    def recipe(self) -> str:
        """Model fingerprint and chunking: what decides an article's vectors."""
        return self.parts.recipe

    @property
    def answerer(self) -> AnswerChain:
        """The answer chain (retrieve | rank | compose), over this engine's index."""
        return self.parts.answerer

    @property
    def writer(self) -> Writer | None:
        """The language model's writer; None without BRIEFBOT_LLM. A SettingsError names a
        missing package or key."""
        return self.parts.writer

    @property
    def generates(self) -> bool:
        """Whether answers are written by a language model (BRIEFBOT_LLM) by default."""
        return bool(self.settings.llm)

    def snapshot(self) -> Snapshot:
        """The index as of the store's last commit (see Parts.snapshot)."""
        return self.parts.snapshot()

    def warm(self, on_progress: ProgressCallback | None = None) -> IngestReport | None:
        """Ready to answer at once: the seeds indexed if nothing is, and the index loaded.
        Returns the seeds' report when they were indexed."""
        report = self.ensure_seeded(on_progress)
        t = time.perf_counter()
        self.snapshot()
        _ = self.writer  # a model that can't be made is named now, not at the first question
        log.info("index loaded in %.1f s", time.perf_counter() - t)
        return report

    # -- what is indexed ----------------------------------------------------------------------
    def is_empty(self) -> bool:
        return self.parts.store.count()[0] == 0

    def ensure_seeded(self, on_progress: ProgressCallback | None = None) -> IngestReport | None:
        """With nothing indexed, index the seed articles: the default a newcomer meets."""
        if not self.is_empty() or not Path(self.settings.seeds_dir).is_dir():
            return None
        return self.ingest([self.settings.seeds_dir], on_progress)

    def sources(self) -> dict[str, Any]:
        """Articles and chunks indexed, their dates, and per source (see Snapshot.sources)."""
        return self.snapshot().sources()

    def export(self, path: Path) -> int:
        """Every stored article to a JSON-lines file (.gz: compressed) that `ingest` reads:
        how an index moves to another store (embedded to a server) or is kept as text."""
        from retrieval.index.collections import export_jsonl

        return export_jsonl(self.parts.store, Path(path))

    def reindex(
        self, on_progress: ProgressCallback | None = None, drop_old: bool = False
    ) -> ReindexReport:
        """Rebuild the index into a new collection with these settings' model and chunking,
        beside the serving one, and switch every process to it at once (see
        retrieval/intake/reindex.py)."""
        from retrieval.intake.reindex import Reindexer

        parts = self.parts
        return Reindexer(self.settings, parts.store, parts.recipe, parts.ingester).run(
            on_progress, drop_old
        )

    # -- ingest -------------------------------------------------------------------------------
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
        return self.parts.ingest_articles(articles, report, on_progress)

    def poll_feed(self, url: str) -> FeedReport:
        """One round of one feed: its new items fetched and ingested."""
        from retrieval.intake.feeds import FeedReader

        reader = FeedReader.in_data_dir(
            self.settings, self.ingest_articles, observe=self.metrics.feed_polled
        )
        return reader.poll(url)

    def watcher(self, config: WatchConfig) -> Watcher:
        """Rounds over the configured feeds and folders, ingesting what is new."""
        from retrieval.intake.feeds import FeedReader
        from retrieval.intake.watch import Watcher

        reader = FeedReader.in_data_dir(
            self.settings, self.ingest_articles, observe=self.metrics.feed_polled
        )
        return Watcher.of(config, reader, self.ingest_articles, self.settings)

    def scheduler(
        self, schedules: Sequence[Schedule], platform: str, post: PostBriefing
    ) -> Scheduler:
        """Posts the schedules' briefings to one platform's channels with `post`; the history of
        what was posted is kept in the data directory."""
        from retrieval.news.schedule import Scheduler

        def build(
            since: datetime, until: datetime, topic: str | None, max_stories: int, seen: set[str]
        ) -> Briefing:
            return self.brief(since, until, topic=topic, max_stories=max_stories, exclude=seen)

        return Scheduler.in_data_dir(
            self.settings.data_dir, schedules, build, post, platform, metrics=self.metrics
        )

    @property
    def follows(self) -> Follows:
        """The channels' followed topics and what they were told (<data dir>/follows.sqlite3):
        `add`, `remove`, `list`, and `follower(platform, post)` to post their developments."""
        return self.parts.follows

    @property
    def follow_options(self) -> FollowOptions:
        """Quiet hours and the hourly limit of follow posts (the configuration file's
        `follow:` section, `ConfigFile.follow_options()`)."""
        return self.parts.follow_options

    @follow_options.setter
    def follow_options(self, options: FollowOptions) -> None:
        self.parts.follow_options = options

    # -- answering ----------------------------------------------------------------------------
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
        passages = passages_for(answer, self.parts.store.get_articles(ids))
        return writer.write(answer, passages, asked_on, on_sentence)

    # -- briefing -----------------------------------------------------------------------------
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
        from retrieval.news.briefing import brief

        parts = self.parts
        return brief(
            self.snapshot,
            lambda ids: parts.store.get_articles(ids),
            lambda texts: parts.query_encoder.encode(texts),
            since,
            until,
            topic=topic,
            max_stories=max_stories,
            also_in_the_news=(
                self.settings.also_in_the_news if also_in_the_news is None else also_in_the_news
            ),
            exclude=exclude,
        )
