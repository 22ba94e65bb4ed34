"""The journal: segments a writer leaves beside the index for the readers on its machine, one per
commit, written just before the commit's records; a reader finds a new article version there
instead of reading its vectors back from Chroma (retrieval/index/live.py). Entries no manifest
needs any more are deleted by compaction (retrieval/index/compaction.py).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.config import Settings
from retrieval.datadir import private_dir
from retrieval.index.building import Draft, build
from retrieval.index.segment import ArticleMeta
from retrieval.index.store import Store
from retrieval.models import Article, Chunk
from retrieval.urls import host_of

JOURNAL_TITLE_WEIGHT = 2  # the journal's BM25 terms count the headline this many times


def index_dir(settings: Settings, store: Store) -> Path:
    """Where this machine keeps the index of `store` (one folder per store and collection)."""
    key = hashlib.sha1(f"{store.location}|{store.name}".encode()).hexdigest()[:10]
    return Path(settings.data_dir) / "index" / f"{store.name}-{key}"


def open_store(settings: Settings, name: str | None = None) -> Store:
    """The store of record (Store.open) with this machine's journal attached, so that every
    write leaves its segments for the readers here."""
    store = Store.open(settings, name)
    store.journal = Journal(index_dir(settings, store) / "journal")
    return store


class Journal:
    """Segments a writer leaves for readers on its machine: one per commit, written just
    before the commit's records, named `<seq>-<part>-<random>` after the commit."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def write(
        self,
        items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]],
        seq: int,
        part: int,
    ) -> None:
        drafts = [
            Draft(
                ArticleMeta(a.id, a.title, a.source or host_of(a.url), a.url, a.published),
                h,
                [c.start for c in chunks],
                [c.text for c in chunks],
                [c.sentences for c in chunks],
                vectors,
            )
            for a, h, chunks, vectors in items
        ]
        seg = build(drafts, JOURNAL_TITLE_WEIGHT, {"seq": seq, "part": part})
        private_dir(self.folder)
        seg.save(self.folder / f"{seq:012d}-{part:06d}-{uuid.uuid4().hex[:8]}")

    def entries(self, since_seq: int) -> list[Path]:
        """The entries of writes that began at generation `since_seq` or later."""
        return sorted(p for p in self._listed() if _seq_of(p) >= since_seq)

    def entries_before(self, seq: int) -> list[Path]:
        """The entries of writes that began before generation `seq` (and anything else in the
        folder that is no entry)."""
        return [p for p in self._listed() if _seq_of(p) < seq]

    def _listed(self) -> list[Path]:
        return list(self.folder.iterdir()) if self.folder.is_dir() else []


def _seq_of(entry: Path) -> int:
    head = entry.name.split("-")[0]
    return int(head) if head.isdigit() else -1


class JournalReader:
    """What one reader has seen of a journal: where each article version in it is."""

    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal
        self._where: dict[tuple[str, str], tuple[Path, int]] = {}  # (id, hash) -> entry, local
        self._seen: set[str] = set()

    def scan(self, since_seq: int) -> None:
        """Note the versions in the entries of writes since generation `since_seq`."""
        if self.journal is None:
            return
        for entry in self.journal.entries(since_seq):
            if entry.name in self._seen:
                continue
            try:
                rows = json.loads((entry / "articles.json").read_text())
            except OSError:
                continue  # removed since listed: its versions are in a manifest by now
            self._seen.add(entry.name)
            for local, r in enumerate(rows):
                self._where[(r[0], r[1])] = (entry, local)

    def find(self, article_id: str, content_hash: str) -> tuple[Path, int] | None:
        """The entry that holds this version of the article, and its place there."""
        return self._where.get((article_id, content_hash))
