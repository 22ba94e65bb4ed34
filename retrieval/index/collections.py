"""Which collection serves, and rebuilding the index beside it (`briefbot reindex`).

Articles live in a pair of Chroma collections, `<name>` (chunks) and `<name>_articles`. Which
pair serves is named by a pointer: the metadata of a small collection `<base>_active` (base:
BRIEFBOT_COLLECTION) holds the serving name and the recipe its vectors were made with (model
fingerprint, chunk size, overlap). Without a pointer `<base>` serves, as it always did.

`reindex` builds a new pair, `<base>.v<n>`, from the serving pair's stored articles with this
process's model and chunking; the old pair keeps serving meanwhile. When every article is in,
it takes the old pair's write lock (so no writer on this machine is half-way), copies what was
written since, and switches the pointer in one write. Every process follows the pointer at its
next question (within `Engine.switch_check_seconds`) or write, and only to a pair built with its
own recipe: no process ever searches or writes vectors of two models or chunkings at once. A
reindex killed half-way leaves the pointer as it was, so the old pair goes on serving; run
again, it resumes (what it had written is skipped as unchanged).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.config import Settings
from retrieval.errors import BriefbotError, SettingsError
from retrieval.index.live import open_store
from retrieval.index.store import Store, _no_server, article_from_record, make_client

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.intake.ingest import IngestProgress, ProgressCallback

log = logging.getLogger(__name__)

RECIPE = "recipe"  # the chunks collection's metadata key naming how its vectors were made
PAGE = 500  # articles read from the old pair and written to the new one at a time


@dataclass(frozen=True)
class Serving:
    """The pair that serves, and the recipe it was built with (None: not recorded)."""

    name: str
    recipe: str | None = None


class CollectionSwitched(Exception):
    """Raised under a writer's lock when the pair it was about to write to no longer serves."""

    def __init__(self, serving: Serving) -> None:
        super().__init__(f"the index now serves from {serving.name}")
        self.serving = serving


def pointer_name(base: str) -> str:
    return f"{base}_active"


def serving(client: Any, base: str) -> Serving:
    """What the pointer names (one small read); `base` when there is no pointer."""
    from chromadb.errors import NotFoundError

    try:
        meta = client.get_collection(pointer_name(base), embedding_function=None).metadata or {}
    except (NotFoundError, ValueError):
        return Serving(base)
    return Serving(str(meta.get("name") or base), meta.get(RECIPE) or None)


def switch(client: Any, base: str, to: Serving) -> None:
    """Point every process at `to`: one metadata write, which readers see whole or not."""
    col = client.get_or_create_collection(pointer_name(base), embedding_function=None)
    col.modify(
        metadata={
            "name": to.name,
            RECIPE: to.recipe or "",
            "switched_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )


def mismatch(target: Serving, recipe: str) -> str | None:
    """Why a process whose vectors are made by `recipe` must not use `target`; None if it may."""
    if target.recipe is None or target.recipe == recipe:
        return None
    return (
        f"the index serving now ({target.name}) was built with another model or chunking"
        f" ({target.recipe}) than these settings make ({recipe}): start this process with the"
        " settings `briefbot reindex` ran with (BRIEFBOT_MODEL_PATH, BRIEFBOT_CHUNK_TOKENS,"
        " BRIEFBOT_CHUNK_OVERLAP_TOKENS), or run `briefbot reindex` with these"
    )


def open_serving(settings: Settings, recipe: Callable[[], str]) -> Store:
    """The store of the pair that serves; a SettingsError if it was built with another recipe
    than `recipe()` (asked only when the pointer records one)."""
    try:
        target = serving(make_client(settings), settings.collection)
    except SettingsError:
        raise
    except Exception as exc:
        if settings.chroma_url:
            raise _no_server(settings.chroma_url, exc) from None
        raise
    if (why := mismatch(target, recipe())) is not None:
        raise SettingsError(why[0].upper() + why[1:] + ".")
    return open_store(settings, target.name)


def recipe_of(store: Store) -> str | None:
    meta = store.client.get_collection(store.name, embedding_function=None).metadata or {}
    return meta.get(RECIPE) or None


def _mark_recipe(store: Store, recipe: str) -> None:
    col = store.client.get_collection(store.name, embedding_function=None)
    col.modify(metadata={**(col.metadata or {}), RECIPE: recipe})


def _versions(client: Any, base: str) -> dict[str, int]:
    """The pairs `<base>.v<n>` in the store, by name."""
    pattern = re.compile(rf"{re.escape(base)}\.v(\d+)")
    found = {}
    for col in client.list_collections():
        name = col if isinstance(col, str) else col.name
        if m := pattern.fullmatch(name):
            found[name] = int(m.group(1))
    return found


# -- export ------------------------------------------------------------------------------------
def export_jsonl(store: Store, path: Path) -> int:
    """Every stored article, one JSON object a line (what `briefbot ingest` reads back), gzipped
    when the name ends in .gz; written beside and renamed, so a file is never half there.
    Returns how many articles were written."""
    import gzip
    import json
    import os

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    opener: Any = gzip.open if path.name.endswith(".gz") else open
    n = 0
    with opener(tmp, "wt", encoding="utf-8") as out:
        for page in _paged_articles(store):
            for i, doc, meta in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                a = article_from_record(i, doc, meta)
                row = {
                    "id": a.id,
                    "title": a.title,
                    "published": a.published.isoformat() if a.published else None,
                    "source": a.source,
                    "url": a.url,
                    "authors": list(a.authors),
                    "text": a.text,
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                n += 1
    os.replace(tmp, path)
    return n


# -- reindex ----------------------------------------------------------------------------------
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
    """Builds the next pair beside the serving one and switches to it (see the module)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.base = engine.settings.collection

    def target(self, old: Store, recipe: str) -> tuple[str, bool]:
        """The new pair's name, and whether a reindex that stopped half-way built part of it
        (with the same recipe: it is resumed; with another, it is deleted and begun anew)."""
        versions = _versions(old.client, self.base)
        current = versions.get(old.name, 0)
        newer = sorted((n, name) for name, n in versions.items() if n > current)
        for _n, name in newer[:-1]:
            self._drop(old.client, name)  # older leftovers: never served
        if newer:
            name = newer[-1][1]
            store = open_store(self.settings, name)
            if recipe_of(store) == recipe:
                return name, True
            log.warning("%s was begun with another recipe: building it anew", name)
            self._drop(old.client, name)
            return name, False
        return f"{self.base}.v{max(versions.values(), default=1) + 1}", False

    @staticmethod
    def _drop(client: Any, name: str) -> None:
        for n in (name, f"{name}_articles"):
            try:
                client.delete_collection(n)
            except Exception:  # already gone
                log.debug("could not delete %s", n, exc_info=True)

    def run(
        self, on_progress: ProgressCallback | None = None, drop_old: bool = False
    ) -> ReindexReport:
        t0 = time.perf_counter()
        engine = self.engine
        old = engine.store
        recipe = engine.recipe
        name, resumed = self.target(old, recipe)
        report = ReindexReport(old.name, name, resumed=resumed, failures=[])
        new_engine = engine.for_collection(name)
        _mark_recipe(new_engine.store, recipe)
        copied: dict[str, str] = {}  # article id -> its content hash in the old pair, as copied
        total = old.count()[0]
        self._copy(old, new_engine, None, copied, report, total, on_progress)
        # Articles written to the old pair while copying, then once more under its write lock,
        # so that none written before the switch is left behind.
        report.caught_up += self._copy(old, new_engine, copied, copied, report, 0, None)
        with old.write_lock():
            report.caught_up += self._copy(old, new_engine, copied, copied, report, 0, None)
            if report.failures:
                raise BriefbotError(
                    f"Reindex into {name} stopped before switching ({len(report.failures)}"
                    f" articles failed: {report.failures[0]}); {old.name} still serves."
                )
            found = new_engine.store.check()
            if found.broken:
                raise BriefbotError(
                    f"Reindex into {name}: {len(found.broken)} articles are incomplete there;"
                    f" {old.name} still serves. Run `briefbot reindex` again."
                )
            switch(old.client, self.base, Serving(name, recipe))
        log.info("switched the index from %s to %s", old.name, name)
        if drop_old:
            self._drop(old.client, old.name)
            report.dropped = True
        report.seconds = time.perf_counter() - t0
        return report

    def _copy(
        self,
        old: Store,
        new_engine: Engine,
        only_changed: dict[str, str] | None,
        copied: dict[str, str],
        report: ReindexReport,
        total: int,
        on_progress: ProgressCallback | None,
    ) -> int:
        """Copy the old pair's articles (with `only_changed`, those whose hash differs from
        what was copied) into the new pair, a page at a time; returns how many were copied."""
        from retrieval.intake.ingest import IngestProgress, IngestReport

        ids = None
        if only_changed is not None:
            current = {aid: r.content_hash for aid, r in old.records().items()}
            ids = [aid for aid, h in current.items() if only_changed.get(aid) != h]
            if not ids:
                return 0
        progress = IngestProgress(articles_total=total or len(ids or []))
        n = 0
        for page in self._pages(old, ids):
            rows = list(zip(page["ids"], page["documents"], page["metadatas"], strict=True))
            articles = [article_from_record(i, doc, meta) for i, doc, meta in rows]
            hashes = {i: str(meta.get("content_hash", "")) for i, _, meta in rows}
            done_before, chunks_before = progress.articles_done, progress.chunks_done
            page_report = new_engine.ingest_articles(
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

    @staticmethod
    def _pages(old: Store, ids: list[str] | None) -> Any:
        if ids is None:
            yield from _paged_articles(old)
            return
        for lo in range(0, len(ids), PAGE):
            yield old.articles.get(ids=ids[lo : lo + PAGE], include=["documents", "metadatas"])


def _paged_articles(store: Store) -> Any:
    offset = 0
    while True:
        got = store.articles.get(include=["documents", "metadatas"], limit=PAGE, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


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
