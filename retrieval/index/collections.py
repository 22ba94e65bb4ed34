"""Which collection serves, and rebuilding the index beside it (`briefbot reindex`).

Articles live in a pair of Chroma collections, `<name>` (chunks) and `<name>_articles`. Which
pair serves is named by a pointer: the metadata of a small collection `<base>_active` (base:
BRIEFBOT_COLLECTION) holds the serving name and the recipe its vectors were made with (model
fingerprint, chunk size, overlap). Without a pointer `<base>` serves, as it always did.

`reindex` builds a new pair, `<base>.v<n>`, from the serving pair's stored articles with this
process's model and chunking; the old pair keeps serving meanwhile. When every article is in,
it takes the old pair's write lock (so no writer on this machine is half-way), copies what was
written since, and switches the pointer in one write. Every process follows the pointer at its
next question (within `Engine.switch_check_seconds`: `ServedIndex`) or write, and only to a pair
built with its own recipe: no process ever searches or writes vectors of two models or
chunkings at once. A reindex killed half-way leaves the pointer as it was, so the old pair goes
on serving; run again, it resumes (what it had written is skipped as unchanged). Rebuilding,
which ingests, is retrieval/intake/reindex.py's.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.config import Settings
from retrieval.errors import BriefbotError, SettingsError
from retrieval.index.chroma import make_client, no_server
from retrieval.index.journal import open_store
from retrieval.index.live import LiveIndex
from retrieval.index.snapshot import Snapshot
from retrieval.index.store import Store, article_from_record

log = logging.getLogger(__name__)

RECIPE = "recipe"  # the chunks collection's metadata key naming how its vectors were made
PAGE = 500  # articles read at a time


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
            raise no_server(settings.chroma_url, exc) from None
        raise
    if (why := mismatch(target, recipe())) is not None:
        raise SettingsError(why[0].upper() + why[1:] + ".")
    return open_store(settings, target.name)


def recipe_of(store: Store) -> str | None:
    meta = store.client.get_collection(store.name, embedding_function=None).metadata or {}
    return meta.get(RECIPE) or None


def mark_recipe(store: Store, recipe: str) -> None:
    col = store.client.get_collection(store.name, embedding_function=None)
    col.modify(metadata={**(col.metadata or {}), RECIPE: recipe})


def versions(client: Any, base: str) -> dict[str, int]:
    """The pairs `<base>.v<n>` in the store, by name."""
    pattern = re.compile(rf"{re.escape(base)}\.v(\d+)")
    found = {}
    for col in client.list_collections():
        name = col if isinstance(col, str) else col.name
        if m := pattern.fullmatch(name):
            found[name] = int(m.group(1))
    return found


def drop_pair(client: Any, name: str) -> None:
    """Delete the pair `name` (its chunks and its articles), whatever of it is there."""
    for n in (name, f"{name}_articles"):
        try:
            client.delete_collection(n)
        except Exception:  # already gone
            log.debug("could not delete %s", n, exc_info=True)


# -- following the pointer ---------------------------------------------------------------------
class ServedIndex:
    """This process's store and live index of the pair that serves, opened on first use and
    dropped for the new pair once `briefbot reindex` has switched to one built with `recipe()`
    (else this one goes on serving, and the log says why)."""

    def __init__(
        self,
        settings: Settings,
        recipe: Callable[[], str],
        title_weight: Callable[[], int],
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.recipe = recipe
        self.title_weight = title_weight  # the BM25 headline weight the index is built with
        self._store = store
        self._index: LiveIndex | None = None
        self._checked = time.monotonic()
        self._lock = threading.RLock()

    @property
    def store(self) -> Store:
        with self._lock:
            if self._store is None:
                # The pair `briefbot reindex` last switched to, if it did.
                self._store = open_serving(self.settings, self.recipe)
                self._store.guard = self._before_write
            return self._store

    @property
    def index(self) -> LiveIndex:
        """The live index of the serving pair (opened on first use)."""
        with self._lock:
            if self._index is None:
                self._index = LiveIndex.open(self.settings, self.store, self.title_weight())
                self._index.auto_compact = True
            return self._index

    @property
    def current(self) -> Snapshot | None:
        """The view in hand, if the index was opened: nothing is read."""
        index = self._index
        return index.current if index is not None else None

    def snapshot(self, refresh_seconds: float, switch_check_seconds: float) -> Snapshot:
        """The index as of the store's last commit (see LiveIndex.snapshot), of the pair that
        serves now, looked up at most every `switch_check_seconds`."""
        with self._lock:
            self.follow(switch_check_seconds)
            index = self.index
        return index.snapshot(refresh_seconds)

    def follow(self, every: float = 0.0, force: bool = False) -> None:
        """Drop the store (and the index in memory) once another pair serves, if its vectors
        are made as ours are; else keep serving this one, and say why (with `force`, raise).
        The pointer is read at most every `every` seconds, unless `force`."""
        with self._lock:
            if self._store is None:
                return
            if not force and time.monotonic() - self._checked < every:
                return
            self._checked = time.monotonic()
            target = serving(self._store.client, self.settings.collection)
            if target.name == self._store.name:
                return
            if (why := mismatch(target, self.recipe())) is not None:
                if force:
                    raise BriefbotError(why[0].upper() + why[1:] + ".")
                log.warning("still serving %s: %s", self._store.name, why)
                return
            log.info(
                "the index was rebuilt: switching from %s to %s", self._store.name, target.name
            )
            # The index on disk is per pair: the new one's is opened on the next read.
            self._store, self._index = None, None

    def _before_write(self) -> None:
        """Under the write lock: the pair about to be written still serves."""
        store = self._store
        if store is None:
            return
        now = serving(store.client, self.settings.collection)
        if now.name != store.name:
            raise CollectionSwitched(now)


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
        for page in paged_articles(store):
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


def paged_articles(store: Store, page: int = PAGE) -> Any:
    """Every stored article (text and metadata), `page` at a time."""
    offset = 0
    while True:
        got = store.articles.get(include=["documents", "metadatas"], limit=page, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])
