"""The engine's parts, built here and nowhere else, each on first use: the encoders, the store
and live index of the collection that serves (following `briefbot reindex`), the ingester, the
answer chain, the language model's writer, the metrics and the book of follows.

`Engine` (retrieval/engine.py) is the facade front ends hold; tests and benchmarks that need a
part itself reach it through `engine.parts`.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

from retrieval.answering.chain import AnswerChain
from retrieval.answering.options import ComposeOptions, answer_steps
from retrieval.config import Settings
from retrieval.index.collections import CollectionSwitched, ServedIndex
from retrieval.index.search import SearchOptions
from retrieval.intake.ingest import Ingester, IngestReport, ProgressCallback, token_counter
from retrieval.metrics import Metrics
from retrieval.models import Article
from retrieval.news.follow import FollowOptions

if TYPE_CHECKING:
    from retrieval.answering.llm import Writer
    from retrieval.index.embedding import Encoder
    from retrieval.index.live import LiveIndex
    from retrieval.index.snapshot import Snapshot
    from retrieval.index.store import Store
    from retrieval.news.follow import Follows


class Parts:
    """What one engine is made of. `store`, `query_encoder` and `document_encoder` may be given
    (tests share one model); anything not given is made from `settings` when first needed."""

    # While a write is under way, how often a reader catches up with what it committed so far
    # (retrieval/index/live.py); tests set it to 0.
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
        # Read on each question: a caller may replace them (tests, benches).
        self.search_options = search_options or SearchOptions(k=settings.retrieve_k)
        self.compose_options = ComposeOptions(
            max_citations=settings.max_citations,
            min_relevance=settings.min_relevance,
            steps=answer_steps(settings.answer_steps),
        )
        self.served = ServedIndex(
            settings, lambda: self.recipe, lambda: self.search_options.title_weight, store
        )
        self.metrics = Metrics()  # what this engine counts (served at /metrics)
        self.metrics.watch_newest(self.newest_article)
        self.metrics.watch_follows(self._follow_count)
        # The configuration file's `follow:` section (quiet hours, the hourly limit): a front
        # end that reads the file sets it (ConfigFile.follow_options).
        self.follow_options = FollowOptions()
        self._follows: Follows | None = None
        self._query_encoder = query_encoder
        self._document_encoder = document_encoder
        self._writer: Writer | None = None
        self._answerer: AnswerChain | None = None
        self._lock = threading.RLock()

    def for_collection(self, name: str) -> Parts:
        """The same parts (settings, encoders, options, writer) over another collection."""
        other = Parts(
            self.settings.model_copy(update={"collection": name}),
            query_encoder=self._query_encoder,
            document_encoder=self._document_encoder,
            search_options=self.search_options,
        )
        other._writer = self._writer  # the same model, if one was made
        return other

    # -- the model ----------------------------------------------------------------------------
    @property
    def query_encoder(self) -> Encoder:
        """Questions are embedded in numpy: no torch to import in a process that only asks."""
        with self._lock:
            if self._query_encoder is None:
                from retrieval.index.embedding import NumpyEncoder

                self._query_encoder = NumpyEncoder(self.settings.resolved_model_path)
            return self._query_encoder

    def document_encoder(self) -> Encoder:
        """Articles are embedded by sentence-transformers (made when an ingest first needs it)."""
        with self._lock:
            if self._document_encoder is None:
                from retrieval.index.torch_encoder import TorchEncoder

                self._document_encoder = TorchEncoder(self.settings.resolved_model_path)
            return self._document_encoder

    @cached_property
    def recipe(self) -> str:
        """Model fingerprint and chunking: what decides an article's vectors (hashed once)."""
        from retrieval.index.embedding import model_fingerprint

        s = self.settings
        return (
            f"{model_fingerprint(s.resolved_model_path)}/{s.chunk_tokens}/{s.chunk_overlap_tokens}"
        )

    # -- the index ----------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The store of the collection that serves (opened on first use)."""
        return self.served.store

    @property
    def index(self) -> LiveIndex:
        """This process's index of the collection that serves (opened on first use)."""
        return self.served.index

    def snapshot(self) -> Snapshot:
        """The index as of the store's last commit, caught up with what other writers committed
        since it was last read (O(changes); see retrieval/index/live.py), and reopened for the
        new collection once `briefbot reindex` has switched."""
        return self.served.snapshot(self.refresh_seconds, self.switch_check_seconds)

    def newest_article(self) -> date | None:
        """The newest publication date in the index this process has loaded (None before the
        first load): what the health report and the ingest lag metric show, at no cost."""
        snap = self.served.current
        return snap.newest() if snap is not None else None

    # -- writing ------------------------------------------------------------------------------
    def ingester(self, store: Store | None = None) -> Ingester:
        """Writes into `store` (by default the serving one) with this model and chunking."""
        return Ingester(
            self.settings,
            store or self.store,
            self.document_encoder,
            self.recipe,
            token_counter(self.settings.resolved_model_path),
        )

    def ingest_articles(
        self,
        articles: Sequence[Article],
        report: IngestReport | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Write what is new or changed into the serving collection (the new one, if `briefbot
        reindex` switched while this was about to write), and count it."""
        try:
            report = self.ingester().ingest_articles(articles, report, on_progress)
        except CollectionSwitched:
            self.served.follow(force=True)
            report = self.ingester().ingest_articles(articles, report, on_progress)
        self.metrics.ingest(report)
        return report

    # -- answering ----------------------------------------------------------------------------
    @property
    def answerer(self) -> AnswerChain:
        """The answer chain (retrieve | rank | compose) over this index, with the options as
        they are at each question."""
        with self._lock:
            if self._answerer is None:
                self._answerer = AnswerChain(
                    self.snapshot,
                    lambda: self.query_encoder,
                    lambda: (self.search_options, self.compose_options),
                )
            return self._answerer

    # -- following ----------------------------------------------------------------------------
    @property
    def follows(self) -> Follows:
        """The book of follows in the data directory (retrieval/news/follow.py), answering
        with this engine's chain, with the follow options as they are at each round."""
        with self._lock:
            if self._follows is None:
                from retrieval.news.follow import Follows
                from retrieval.news.followstate import FollowState

                self._follows = Follows(
                    FollowState.in_data_dir(self.settings.data_dir),
                    lambda: self.store,
                    self.snapshot,
                    self.answerer,
                    lambda texts: self.query_encoder.encode(texts),
                    lambda: self.follow_options,
                    self.metrics,
                )
            return self._follows

    def _follow_count(self) -> int:
        """How many topics are followed: 0 without a follows database (nothing is created)."""
        if self._follows is None and not (self.settings.data_dir / "follows.sqlite3").is_file():
            return 0
        return len(self.follows.all())

    @property
    def writer(self) -> Writer | None:
        """The language model's writer (retrieval/answering/llm.py); None without BRIEFBOT_LLM.
        A SettingsError names a missing package or key."""
        with self._lock:
            if self._writer is None and self.settings.llm:
                from retrieval.answering.llm import Writer

                self._writer = Writer.from_settings(self.settings, self.query_encoder.encode)
            return self._writer
