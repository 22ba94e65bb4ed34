"""Chroma: embedded on local disk by default, a Chroma server when a URL is set.

Two collections: chunks (what is searched) and articles (full text, content hash, and the mean
of the article's chunk vectors). An article's record is written last, after all its chunks: it
is the commit marker, so an ingest killed half-way is completed by the next one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from retrieval.chunking import Chunk
from retrieval.config import Settings
from retrieval.datadir import private_dir
from retrieval.errors import SettingsError
from retrieval.models import Article

log = logging.getLogger(__name__)

EPOCH = date(1970, 1, 1)
NO_DATE = -1  # Chroma filters take numbers only: dates are stored as days since 1970-01-01


def day_number(d: date | None) -> int:
    return (d - EPOCH).days if d else NO_DATE


def from_day_number(n: int) -> date | None:
    return date.fromordinal(EPOCH.toordinal() + n) if n != NO_DATE else None


@dataclass(frozen=True)
class StoredArticle:
    article: Article
    content_hash: str
    n_chunks: int


def make_client(settings: Settings) -> Any:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            return chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
        except Exception as exc:  # chromadb raises plain ValueError/ConnectError here
            raise _no_server(settings.chroma_url, exc) from None
    path = private_dir(Path(settings.data_dir) / "chroma")
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def _no_server(url: str, exc: BaseException) -> SettingsError:
    """One line that says why the server at `url` can't be used (chromadb's own messages can
    be empty, or a whole HTML error page)."""
    reasons = []
    for e in (exc, exc.__context__):
        if e is not None:
            text = " ".join(re.sub(r"<[^>]*>", " ", str(e)).split())
            reasons.append(text[:160] or type(e).__name__)
    return SettingsError(
        f"BRIEFBOT_CHROMA_URL: no usable Chroma server at {url} ({': '.join(reasons)})"
    )


class Store:
    """Chunks and articles in Chroma. Embeddings are always ours: Chroma never embeds."""

    BATCH = 1000

    def __init__(self, client: Any, name: str, location: str = "") -> None:
        self.client = client
        self.name = name
        self.location = location  # the server URL or the folder: where this store lives
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
        client = make_client(settings)
        if not settings.chroma_url:
            return cls(client, name or settings.collection, location)
        try:
            return cls(client, name or settings.collection, location)
        except Exception as exc:  # answers, but not as a Chroma server does
            raise _no_server(settings.chroma_url, exc) from None

    # -- reads ------------------------------------------------------------------------------
    def count(self) -> tuple[int, int]:
        return self.articles.count(), self.chunks.count()

    def generation(self) -> int:
        """Bumped by every write, so that readers know when their snapshot is stale."""
        meta = self.client.get_collection(self.name, embedding_function=None).metadata or {}
        return int(meta.get("generation", 0))

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

    def iter_chunks(self) -> Iterator[dict[str, Any]]:
        yield from _paged(self.chunks, ["documents", "metadatas", "embeddings"])

    # -- writes -----------------------------------------------------------------------------
    def write_article(
        self, article: Article, content_hash: str, chunks: Sequence[Chunk], vectors: np.ndarray
    ) -> None:
        self.write_articles([(article, content_hash, chunks, vectors)])

    def write_articles(
        self, items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]]
    ) -> None:
        """Replace these articles' chunks, then write their records (the commit marker).

        Batched: one query finds every old chunk of the group (including those an interrupted
        ingest left without a record), one call removes them, and the new chunks go in by
        the thousand. Per-article calls cost about 6 ms a chunk here; batched, a fraction."""
        if not items:
            return
        ids = [a.id for a, _, _, _ in items]
        stale = self.chunks.get(where={"article_id": {"$in": ids}}, include=[])["ids"]
        for lo in range(0, len(stale), self.BATCH):
            self.chunks.delete(ids=stale[lo : lo + self.BATCH])
        rows: list[tuple[str, np.ndarray, str, dict[str, Any]]] = []
        for article, _hash, chunks, vectors in items:
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
                rows.append((c.id, v, c.text, meta))
        for lo in range(0, len(rows), self.BATCH):
            part = rows[lo : lo + self.BATCH]
            self.chunks.add(
                ids=[r[0] for r in part],
                embeddings=np.stack([r[1] for r in part]),
                documents=[r[2] for r in part],
                metadatas=[r[3] for r in part],
            )
        self._commit(items)

    def _commit(self, items: Sequence[tuple[Article, str, Sequence[Chunk], np.ndarray]]) -> None:
        """The articles' records, written once all their chunks are in."""
        means = []
        for _a, _h, _c, vectors in items:
            mean = vectors.mean(axis=0) if len(vectors) else np.zeros(384, dtype=np.float32)
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
                }
                for a, h, chunks, _ in items
            ],
        )

    def bump_generation(self) -> None:
        col = self.client.get_collection(self.name, embedding_function=None)
        meta = dict(col.metadata or {})
        meta["generation"] = int(meta.get("generation", 0)) + 1
        col.modify(metadata=meta)


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
