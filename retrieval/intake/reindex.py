"""`briefbot reindex`: the serving pair's articles ingested again, into a new pair beside it, with
this process's model and chunking; then one switch of the pointer (retrieval/index/collections.py
says how every process follows it, and why a killed reindex leaves the old pair serving).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retrieval.config import Settings
from retrieval.errors import BriefbotError
from retrieval.index.collections import (
    Serving,
    drop_pair,
    mark_recipe,
    paged_articles,
    recipe_of,
    switch,
    versions,
)
from retrieval.index.journal import open_store
from retrieval.index.store import Store, article_from_record
from retrieval.intake.ingest import Ingester, IngestProgress, IngestReport, ProgressCallback

log = logging.getLogger(__name__)

PAGE = 500  # articles read from the old pair and written to the new one at a time


@dataclass
class ReindexReport:
    old: str
    new: str
    articles: int = 0  # written to the new pair (the rest were there from a run that stopped)
    unchanged: int = 0
    chunks: int = 0
    caught_up: int = 0  # articles written to the old pair meanwhile, copied before the switch
    resumed: bool = False
    dropped: bool = False
    seconds: float = 0.0
    failures: list[str] | None = None


class Reindexer:
    """Builds the next pair beside the serving one (`old`) and switches to it. `ingester(store)`
    writes into a store with this process's model and chunking, whose `recipe` it is."""

    def __init__(
        self,
        settings: Settings,
        old: Store,
        recipe: str,
        ingester: Callable[[Store], Ingester],
    ) -> None:
        self.settings = settings
        self.base = settings.collection
        self.old = old
        self.recipe = recipe
        self.ingester = ingester

    def target(self) -> tuple[str, bool]:
        """The new pair's name, and whether a reindex that stopped half-way built part of it
        (with the same recipe: it is resumed; with another, it is deleted and begun anew)."""
        old = self.old
        found = versions(old.client, self.base)
        current = found.get(old.name, 0)
        newer = sorted((n, name) for name, n in found.items() if n > current)
        for _n, name in newer[:-1]:
            drop_pair(old.client, name)  # older leftovers: never served
        if newer:
            name = newer[-1][1]
            store = open_store(self.settings, name)
            if recipe_of(store) == self.recipe:
                return name, True
            log.warning("%s was begun with another recipe: building it anew", name)
            drop_pair(old.client, name)
            return name, False
        return f"{self.base}.v{max(found.values(), default=1) + 1}", False

    def run(
        self, on_progress: ProgressCallback | None = None, drop_old: bool = False
    ) -> ReindexReport:
        t0 = time.perf_counter()
        old, recipe = self.old, self.recipe
        name, resumed = self.target()
        report = ReindexReport(old.name, name, resumed=resumed, failures=[])
        new = open_store(self.settings, name)
        mark_recipe(new, recipe)
        ingester = self.ingester(new)
        copied: dict[str, str] = {}  # article id -> its content hash in the old pair, as copied
        total = old.count()[0]
        self._copy(ingester, None, copied, report, total, on_progress)
        # Articles written to the old pair while copying, then once more under its write lock,
        # so that none written before the switch is left behind.
        report.caught_up += self._copy(ingester, copied, copied, report, 0, None)
        with old.write_lock():
            report.caught_up += self._copy(ingester, copied, copied, report, 0, None)
            if report.failures:
                raise BriefbotError(
                    f"Reindex into {name} stopped before switching ({len(report.failures)}"
                    f" articles failed: {report.failures[0]}); {old.name} still serves."
                )
            found = new.check()
            if found.broken:
                raise BriefbotError(
                    f"Reindex into {name}: {len(found.broken)} articles are incomplete there;"
                    f" {old.name} still serves. Run `briefbot reindex` again."
                )
            switch(old.client, self.base, Serving(name, recipe))
        log.info("switched the index from %s to %s", old.name, name)
        if drop_old:
            drop_pair(old.client, old.name)
            report.dropped = True
        report.seconds = time.perf_counter() - t0
        return report

    def _copy(
        self,
        ingester: Ingester,
        only_changed: dict[str, str] | None,
        copied: dict[str, str],
        report: ReindexReport,
        total: int,
        on_progress: ProgressCallback | None,
    ) -> int:
        """Copy the old pair's articles (with `only_changed`, those whose hash differs from
        what was copied) into the new pair, a page at a time; returns how many were copied."""
        old = self.old
        ids = None
        if only_changed is not None:
            current = {aid: r.content_hash for aid, r in old.records().items()}
            ids = [aid for aid, h in current.items() if only_changed.get(aid) != h]
            if not ids:
                return 0
        progress = IngestProgress(articles_total=total or len(ids or []))
        n = 0
        for page in self._pages(ids):
            rows = list(zip(page["ids"], page["documents"], page["metadatas"], strict=True))
            articles = [article_from_record(i, doc, meta) for i, doc, meta in rows]
            hashes = {i: str(meta.get("content_hash", "")) for i, _, meta in rows}
            done_before, chunks_before = progress.articles_done, progress.chunks_done
            page_report = ingester.ingest_articles(
                articles, IngestReport(), _offset(progress, done_before, chunks_before, on_progress)
            )
            copied.update(hashes)
            report.articles += page_report.added + page_report.updated
            report.unchanged += page_report.unchanged
            report.chunks += page_report.chunks
            assert report.failures is not None
            report.failures += page_report.failures
            progress.articles_done = done_before + len(articles)
            n += len(articles)
        return n

    def _pages(self, ids: list[str] | None) -> Any:
        if ids is None:
            yield from paged_articles(self.old, PAGE)
            return
        for lo in range(0, len(ids), PAGE):
            yield self.old.articles.get(ids=ids[lo : lo + PAGE], include=["documents", "metadatas"])


def _offset(
    progress: IngestProgress,
    done_before: int,
    chunks_before: int,
    on_progress: ProgressCallback | None,
) -> ProgressCallback | None:
    """One page's progress as part of the whole reindex's."""
    if on_progress is None:
        return None

    def report(p: IngestProgress) -> None:
        progress.articles_done = done_before + p.articles_done
        progress.chunks_done = chunks_before + p.chunks_done
        progress.stage = p.stage
        if p.embedding_since is not None and progress.embedding_since is None:
            progress.embedding_since = p.embedding_since
            progress.done_before_embedding = progress.articles_done
        on_progress(progress)

    return report
