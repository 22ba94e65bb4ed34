"""The store of record: articles and their chunks in Chroma (reached through
retrieval/index/chroma.py: embedded on local disk by default, a server when a URL is set).

Two collections: chunks (what is searched) and articles (full text, content hash, and the mean
of the article's chunk vectors). An article's record is its commit marker: it names the version
(content hash) and the number of its chunks, and readers use exactly those chunks.

Writes are copy-on-write, so a process killed at any point leaves every article whole:
  1. the new version's chunks go in under ids that name the version (`<article>#<i>@<hash>`),
     beside the old version's, which readers still use;
  2. the records are written: the commit, one call, after which readers use the new chunks;
  3. the old version's chunks are deleted.
A kill after 1 leaves chunks no record names, after 2 superseded ones: readers never see either,
and the next ingest removes them (`check`). Deleting the old chunks first, as this module once
did, left a record naming chunks that were gone, which an ingest of the same text called
"unchanged" and never repaired.

Readers cache what they load, keyed on a generation counter in the chunks collection's
metadata. A counter bumped only after a write can be left behind by a kill, and the old cache
then hides everything the dead write committed. So `begin_write` bumps it and sets `writing`
before anything is written, and `end_write` bumps it again and clears `writing`: every snapshot
cached before a write is stale from its first step, and no snapshot read while `writing` is set
is cached. Chroma keeps nothing of its own that would do: a collection's `version` and
`log_position` stay 0 through adds, updates and deletes, embedded and on a server (1.5).

Each record also carries `seq`, the generation its write began at, so a reader asks for the
records written since it last looked (`records_since`) and applies those: O(changes), not a
reload (retrieval/index/live.py). Before a group's records are committed, the write puts the group's
chunks in a journal beside the index (`journal`), where a reader on this machine finds them
without reading vectors back from Chroma; versions the records never name are ignored there.

Writers take `write_lock` (a file lock in the data directory), so a write that did not end is
one whose process is dead, and the check after it never mistakes a live writer's new chunks for
leftovers. Writers on other machines sharing one Chroma server are not covered by that lock.

(About 400 lines, one piece: the reads rely on exactly what the writes commit, and in which
order.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import Settings
from retrieval.datadir import private_file
from retrieval.index.chroma import make_client, no_server
from retrieval.models import Article, Chunk

log = logging.getLogger(__name__)

EPOCH = date(1970, 1, 1)
NO_DATE = -1  # Chroma filters take numbers only: dates are stored as days since 1970-01-01


def day_number(d: date | None) -> int:
    return (d - EPOCH).days if d else NO_DATE


def from_day_number(n: int) -> date | None:
    return date.fromordinal(EPOCH.toordinal() + n) if n != NO_DATE else None


LAYOUT = 2  # records written since chunk ids name their version; layout 1: "<article>#<i>"


def chunk_id(article_id: str, index: int, content_hash: str) -> str:
    return f"{article_id}#{index}@{content_hash[:16]}"


@dataclass(frozen=True)
class Record:
    """An article's commit marker: the committed version and how many chunks it has."""

    content_hash: str
    n_chunks: int
    layout: int
    meta: dict[str, Any]

    def chunk_ids(self, article_id: str) -> list[str]:
        if self.layout >= 2:
            return [chunk_id(article_id, i, self.content_hash) for i in range(self.n_chunks)]
        return [f"{article_id}#{i}" for i in range(self.n_chunks)]


@dataclass(frozen=True)
class WriteState:
    generation: int
    writing: bool  # a write began and has not ended: it is under way, or its process died
    checked: bool  # False: no write of this version has run on the store (written before it)


@dataclass
class Consistency:
    """What `Store.check` found: committed articles missing chunks, and unnamed chunks."""

    broken: dict[str, str] = field(default_factory=dict)  # article id -> what is missing
    orphans: list[str] = field(default_factory=list)  # chunk ids that no record names


class Store:
    """Chunks and articles in Chroma. Embeddings are always ours: Chroma never embeds."""

    BATCH = 1000

    def __init__(
        self, client: Any, name: str, location: str = "", lock_path: Path | None = None
    ) -> None:
        self.client = client
        self.name = name
        self.location = location  # the server URL or the folder: where this store lives
        self.lock_path = lock_path  # None: no other writer is expected
        # retrieval.index.journal.Journal, attached by journal.open_store: where readers on this
        # machine look for what a write commits (None: no journal, as for a bare Store)
        self.journal: Any = None
        self.write_seq = 0  # the generation the write under way began at
        self.write_part = 0  # how many commits that write has made
        self.guard: Callable[[], None] | None = None  # called under the write lock, may raise
        config = {"hnsw": {"space": "cosine"}}
        # embedding_function=None: Chroma's default would try to download a model.
        self.chunks = client.get_or_create_collection(
            name, embedding_function=None, configuration=config
        )
        self.articles = client.get_or_create_collection(
            f"{name}_articles", embedding_function=None, configuration=config
        )

    @classmethod
    def open(cls, settings: Settings, name: str | None = None) -> Store:
        location = settings.chroma_url or str(Path(settings.data_dir).resolve() / "chroma")
        name = name or settings.collection
        lock = Path(settings.data_dir) / f"{name}.write.lock"
        client = make_client(settings)
        if not settings.chroma_url:
            store = cls(client, name, location, lock)
        else:
            try:
                store = cls(client, name, location, lock)
            except Exception as exc:  # answers, but not as a Chroma server does
                raise no_server(settings.chroma_url, exc) from None
        return store

    # -- reads ------------------------------------------------------------------------------
    def count(self) -> tuple[int, int]:
        return self.articles.count(), self.chunks.count()

    def state(self) -> WriteState:
        """The generation (bumped as each write begins and ends) and whether one is under way."""
        meta = self.client.get_collection(self.name, embedding_function=None).metadata or {}
        return WriteState(
            int(meta.get("generation", 0)), bool(meta.get("writing", False)), "writing" in meta
        )

    @property
    def identity(self) -> str:
        """Which collection this is: a collection deleted and made again is another one."""
        return f"{self.location}|{self.name}|{self.chunks.id}"

    def records(self) -> dict[str, Record]:
        """Every article's record, metadata only (no text, no vector)."""
        out: dict[str, Record] = {}
        for page in _paged(self.articles, ["metadatas"]):
            out.update(_records(page))
        return out

    def records_of(self, ids: Sequence[str]) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for batch in _batches(list(dict.fromkeys(ids)), self.BATCH):
            out.update(_records(self.articles.get(ids=batch, include=["metadatas"])))
        return out

    def nearest_chunks(self, vector: np.ndarray, n: int) -> list[tuple[str, dict[str, Any]]]:
        """Chroma's own nearest chunks to `vector` (its HNSW index, no filter: a filter on
        `day` costs seconds at 400k chunks), with their metadata. Superseded chunks not yet
        deleted may be among them: a caller checks the records."""
        got = self.chunks.query(query_embeddings=[vector], n_results=n, include=["metadatas"])
        return list(zip(got["ids"][0], got["metadatas"][0], strict=True))

    def records_since(self, seq: int, part: int = 0) -> dict[str, Record]:
        """The records committed after commit `part` of the write that began at generation
        `seq` (what changed since a reader last looked): one filtered read, about 35 µs a
        record here, whatever the store holds."""
        where = {
            "$or": [
                {"seq": {"$gt": seq}},
                {"$and": [{"seq": {"$eq": seq}}, {"part": {"$gt": part}}]},
            ]
        }
        return _records(self.articles.get(where=where, include=["metadatas"]))

    def get_chunks(self, ids: Sequence[str]) -> Iterator[dict[str, Any]]:
        """These chunks, text, metadata and vectors, a page at a time; missing ids are left out.

        Read by id rather than paged by offset: an offset page raced with a writer's deletes
        ("Error finding id") and shifted under them, skipping chunks. It is no slower: 16 s
        for 200k chunks here, against 21 s paged by offset (bench/store_check.py)."""
        for batch in _batches(list(ids), self.BATCH):
            yield self.chunks.get(ids=batch, include=["documents", "metadatas", "embeddings"])

    def check(self) -> Consistency:
        """Each record against the chunks actually stored. Reads record metadata and chunk ids
        only: 1.9 s for 200k chunks here, where listing the chunks' metadata instead takes 11 s
        (bench/store_check.py). Even so an ingest runs it only after a write that did not end."""
        records = self.records()
        stored = {i for page in _paged(self.chunks, [], page=20000) for i in page["ids"]}
        found = Consistency()
        named: set[str] = set()
        for aid, record in records.items():
            want = record.chunk_ids(aid)
            named.update(want)
            have = sum(i in stored for i in want)
            if have != len(want):
                found.broken[aid] = f"{have} of its {len(want)} chunks are in the store"
        found.orphans = sorted(stored - named)
        return found

    def hashes(self, ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for batch in _batches(list(ids), self.BATCH):
            got = self.articles.get(ids=batch, include=["metadatas"])
            for i, meta in zip(got["ids"], got["metadatas"], strict=True):
                out[i] = str(meta.get("content_hash", ""))
        return out

    def get_articles(self, ids: Sequence[str]) -> dict[str, Article]:
        out: dict[str, Article] = {}
        for batch in _batches(list(dict.fromkeys(ids)), self.BATCH):
            got = self.articles.get(ids=batch, include=["documents", "metadatas"])
            for i, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                out[i] = _article(i, doc, meta)
        return out

    def iter_articles(self, include_embeddings: bool = False) -> Iterator[dict[str, Any]]:
        include = ["documents", "metadatas"] + (["embeddings"] if include_embeddings else [])
        yield from _paged(self.articles, include)

    # -- writes -----------------------------------------------------------------------------
    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """One writer at a time. An flock goes with its process: a killed writer never leaves
        it held. (Where fcntl does not exist, nothing is locked.)"""
        try:
            import fcntl
        except ImportError:  # Windows
            fcntl = None  # type: ignore[assignment]
        if self.lock_path is None or fcntl is None:
            if self.guard is not None:
                self.guard()
            yield
            return
        with open(private_file(self.lock_path), "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another ingest into %s to finish", self.location)
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                if self.guard is not None:  # e.g. the collection still serves (reindex)
                    self.guard()
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def begin_write(self) -> None:
        """Before anything is written: every snapshot cached so far is stale from here on,
        even if this process dies before `end_write`."""
        self._set_state(writing=True)

    def end_write(self) -> None:
        self._set_state(writing=False)

    def _set_state(self, writing: bool) -> None:
        col = self.client.get_collection(self.name, embedding_function=None)
        meta = dict(col.metadata or {})
        meta["generation"] = int(meta.get("generation", 0)) + 1
        meta["writing"] = writing
        col.modify(metadata=meta)
        if writing:
            self.write_seq, self.write_part = meta["generation"], 0

    def write_article(
        self, article: Article, content_hash: str, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        self.write_articles([(article, content_hash, chunks, vectors)])

    def write_articles(
        self, items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]]
    ) -> None:
        """Write these articles copy-on-write (see the module's docstring): new chunks, then
        the records, then the old chunks are deleted. Batched: one query finds every old chunk
        of the group, and chunks go in by the thousand (per-article calls cost about 6 ms a
        chunk here; batched, a fraction)."""
        if not items:
            return
        ids = [a.id for a, _, _, _ in items]
        old = self.chunks.get(where={"article_id": {"$in": ids}}, include=[])["ids"]
        rows: list[tuple[str, np.ndarray, str, dict[str, Any]]] = []
        for article, content_hash, chunks, vectors in items:
            base = _base_meta(article)
            for c, v in zip(chunks, vectors, strict=True):
                meta = {
                    **base,
                    "article_id": article.id,
                    "chunk_index": c.index,
                    "start": c.start,
                    "end": c.end,
                    "sentences": ";".join(f"{a},{b}" for a, b in c.sentences),
                }
                rows.append((chunk_id(article.id, c.index, content_hash), v, c.text, meta))
        for lo in range(0, len(rows), self.BATCH):
            part = rows[lo : lo + self.BATCH]
            # upsert: a version written before by a write that died is simply written again
            self.chunks.upsert(
                ids=[r[0] for r in part],
                embeddings=np.stack([r[1] for r in part]),
                documents=[r[2] for r in part],
                metadatas=[r[3] for r in part],
            )
        if self.journal is not None:
            self.journal.write(items, self.write_seq, self.write_part + 1)
        self._commit(items)
        new = {r[0] for r in rows}
        self.delete_chunks([i for i in old if i not in new])

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for batch in _batches(list(ids), self.BATCH):
            self.chunks.delete(ids=batch)

    def _commit(self, items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]]) -> None:
        """The articles' records, written once all their chunks are in."""
        self.write_part += 1
        means = []
        for _a, _h, _c, vectors in items:
            mean = vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[-1], np.float32)
            means.append((mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32))
        self.articles.upsert(
            ids=[a.id for a, _, _, _ in items],
            embeddings=np.stack(means),
            documents=[a.text for a, _, _, _ in items],
            metadatas=[
                {
                    **_base_meta(a),
                    "authors": "; ".join(a.authors),
                    "content_hash": h,
                    "n_chunks": len(chunks),
                    "layout": LAYOUT,
                    "seq": self.write_seq,  # which write, and which of its commits
                    "part": self.write_part,
                }
                for a, h, chunks, _ in items
            ],
        )


def _records(got: dict[str, Any]) -> dict[str, Record]:
    return {
        i: Record(
            str(meta.get("content_hash", "")),
            int(meta.get("n_chunks", 0)),
            int(meta.get("layout", 1)),
            meta,
        )
        for i, meta in zip(got["ids"], got["metadatas"], strict=True)
    }


def _base_meta(article: Article) -> dict[str, Any]:
    return {
        "title": article.title,
        "source": article.source,
        "url": article.url,
        "published": article.published.isoformat() if article.published else "",
        "day": day_number(article.published),
    }


def _article(article_id: str, text: str, meta: dict[str, Any]) -> Article:
    authors = tuple(a for a in str(meta.get("authors", "")).split("; ") if a)
    return Article(
        id=article_id,
        title=str(meta.get("title", "")),
        text=text,
        published=from_day_number(int(meta.get("day", NO_DATE))),
        source=str(meta.get("source", "")),
        url=str(meta.get("url", "")),
        authors=authors,
    )


def article_from_record(article_id: str, text: str, meta: dict[str, Any]) -> Article:
    return _article(article_id, text, meta)


def _paged(collection: Any, include: list[str], page: int = 5000) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        got = collection.get(include=include, limit=page, offset=offset)
        if not got["ids"]:
            return
        yield got
        offset += len(got["ids"])


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for lo in range(0, len(items), size):
        yield items[lo : lo + size]
