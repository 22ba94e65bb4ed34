"""Ingest: files -> articles -> chunks -> vectors -> Chroma, idempotent and resumable."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.config import Settings
from retrieval.errors import LoadError
from retrieval.index.store import Store
from retrieval.intake.articles import load_path
from retrieval.intake.chunking import CountTokens, chunk_article
from retrieval.intake.files import ReadOptions, iter_paths
from retrieval.models import Article, Chunk

if TYPE_CHECKING:
    from retrieval.index.embedding import Encoder

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: list[str] = field(default_factory=list)  # what an unfinished write left, and fixed
    chunks: int = 0
    tokens: int = 0
    failures: list[str] = field(default_factory=list)  # one message per failure, naming the file
    skipped: list[str] = field(default_factory=list)  # files of a folder not read, and why
    seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class IngestProgress:
    """What a progress display needs; the CLI renders it, tests may record it."""

    articles_total: int = 0
    articles_done: int = 0
    chunks_done: int = 0
    started: float = field(default_factory=time.perf_counter)
    stage: str = "reading"  # what is happening now, in words a user reads
    # When embedding began, and how many articles were done (unchanged ones) by then.
    embedding_since: float | None = None
    done_before_embedding: int = 0

    @property
    def chunks_per_second(self) -> float:
        since = self.embedding_since or self.started
        return self.chunks_done / max(time.perf_counter() - since, 1e-9)

    @property
    def seconds_left(self) -> float | None:
        """Time to the end at the pace of the articles embedded so far; None before any."""
        embedded = self.articles_done - self.done_before_embedding
        if self.embedding_since is None or embedded <= 0:
            return None
        pace = (time.perf_counter() - self.embedding_since) / embedded
        return pace * (self.articles_total - self.articles_done)


ProgressCallback = Callable[[IngestProgress], None]
_Pending = tuple[Article, str, str]  # article, content hash, "added" | "updated" | "repaired"
_Group = list[tuple[Article, str, str, list[Chunk]]]


def token_counter(model_path: Path) -> CountTokens:
    """Word pieces per text, special tokens included, by the model's own tokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(model_path) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return lambda texts: [len(e.ids) for e in tok.encode_batch(list(texts))]


def content_hash(article: Article, recipe: str) -> str:
    """Changes when the article or the way it is embedded (model, chunking) changes."""
    payload = json.dumps(
        [
            article.title,
            article.text,
            str(article.published),
            article.source,
            article.url,
            list(article.authors),
            recipe,
        ],
        ensure_ascii=False,
    )
    return hashlib.sha1(payload.encode()).hexdigest()


def load_articles(
    paths: Iterable[Path | str],
    report: IngestReport,
    options: ReadOptions | None = None,
) -> list[Article]:
    """Every article in paths; a bad file is recorded in the report and skipped, and so is
    what a folder holds that is not read (a link out of it, a named pipe)."""
    options = options or ReadOptions()
    # A missing path is an error before anything is done.
    files = list(iter_paths(paths, options, report.skipped.append))
    articles: dict[str, Article] = {}
    for path in files:
        try:
            loaded = load_path(
                path, on_error=lambda e: report.failures.append(str(e)), options=options
            )
        except LoadError as exc:
            report.failures.append(str(exc))
            continue
        for a in loaded:
            articles[a.id] = a  # the last copy of an id wins
    return list(articles.values())


def _prefetch(groups: Iterator[_Group], pool: ThreadPoolExecutor) -> Iterator[_Group]:
    """Yield the groups, each next one already being made in `pool`."""
    ahead = pool.submit(next, groups, None)
    while True:
        group = ahead.result()
        if group is None:
            return
        ahead = pool.submit(next, groups, None)
        yield group


class Ingester:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        encoder_factory: Callable[[], Encoder],
        recipe: str,
        count_tokens: CountTokens,
    ) -> None:
        self.settings = settings
        self.store = store
        self._encoder_factory = encoder_factory
        self._encoder: Encoder | None = None
        self.recipe = recipe
        self.count_tokens = count_tokens

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    def chunk(self, article: Article) -> list[Chunk]:
        return chunk_article(
            article,
            self.count_tokens,
            max_tokens=self.settings.chunk_tokens,
            overlap_tokens=self.settings.chunk_overlap_tokens,
        )

    def ingest_articles(
        self,
        articles: Sequence[Article],
        report: IngestReport | None = None,
        on_progress: ProgressCallback | None = None,
        group_chunks: int = 256,
    ) -> IngestReport:
        """Write what is new or changed. After a write that did not end (its process was
        killed, or it raised), the store is checked first and what that write left is repaired:
        an article whose chunks are missing is embedded again (from the stored text when this
        ingest does not bring it), and chunks no record names are removed."""
        report = report or IngestReport()
        with self.store.write_lock():  # so a write that did not end is one whose writer is dead
            return self._ingest(articles, report, on_progress, group_chunks)

    def _ingest(
        self,
        articles: Sequence[Article],
        report: IngestReport,
        on_progress: ProgressCallback | None,
        group_chunks: int,
    ) -> IngestReport:
        t0 = time.perf_counter()
        state = self.store.state()
        found = self.store.check() if state.writing or not state.checked else None
        broken = found.broken if found else {}
        known = self.store.hashes([a.id for a in articles])
        pending: list[_Pending] = []
        unchanged = 0
        for a in articles:
            h = content_hash(a, self.recipe)
            if a.id in broken:
                pending.append((a, h, "repaired"))
            elif known.get(a.id) == h:
                unchanged += 1
            else:
                pending.append((a, h, "updated" if a.id in known else "added"))
        given = {a.id for a in articles}
        stored = self.store.get_articles([i for i in broken if i not in given])
        pending += [(a, content_hash(a, self.recipe), "repaired") for a in stored.values()]
        repairs = [f"{aid}: {why}; embedded again" for aid, why in broken.items()]
        if found and found.orphans:
            repairs.append(f"removed {len(found.orphans)} chunks that no article's record names")
        for line in repairs:
            log.warning("repairing what an unfinished write left: %s", line)
        report.unchanged += unchanged
        report.repaired += repairs
        progress = IngestProgress(articles_total=unchanged + len(pending))
        progress.articles_done = unchanged
        if on_progress:
            on_progress(progress)
        if pending or found is not None:
            self.store.begin_write()
            if found and found.orphans:
                self.store.delete_chunks(found.orphans)
            self._write_all(pending, group_chunks, report, progress, on_progress)
            # Not in a `finally`: a write that raised is checked by the next ingest, as if killed.
            self.store.end_write()
        report.seconds += time.perf_counter() - t0
        return report

    def _write_all(
        self,
        pending: list[_Pending],
        group_chunks: int,
        report: IngestReport,
        progress: IngestProgress,
        on_progress: ProgressCallback | None,
    ) -> None:
        if not pending:
            return
        if self._encoder is None:  # the model takes seconds to load: say so
            progress.stage = "loading the embedding model"
            if on_progress:
                on_progress(progress)
            self.encoder  # noqa: B018  (loaded here, so that the wait is announced)
        progress.stage = "embedding"
        progress.embedding_since = time.perf_counter()
        progress.done_before_embedding = progress.articles_done
        if on_progress:
            on_progress(progress)
        # Three stages overlap: the next group is chunked and the previous one written
        # while this one is embedded (torch, the tokenizer and Chroma release the GIL).
        with ThreadPoolExecutor(max_workers=1) as writer, ThreadPoolExecutor(1) as chunker:
            last: Future[None] | None = None
            for group in _prefetch(self._groups(pending, group_chunks), chunker):
                texts = [c.embed_text for _, _, _, chunks in group for c in chunks]
                t = time.perf_counter()
                vectors = (
                    self.encoder.encode(texts, batch_size=self.settings.embed_batch_size)
                    if texts
                    else np.zeros((0, self.encoder.dimension), dtype=np.float32)
                )
                report.encode_seconds += time.perf_counter() - t
                if last is not None:
                    last.result()
                last = writer.submit(self._write, group, vectors)
                for _a, _h, kind, chunks in group:
                    report.updated += kind == "updated"
                    report.added += kind == "added"
                    report.chunks += len(chunks)
                    report.tokens += sum(c.n_tokens for c in chunks)
                progress.articles_done += len(group)
                progress.chunks_done += len(texts)
                if on_progress:
                    on_progress(progress)
            if last is not None:
                last.result()

    def _groups(self, pending: list[_Pending], size: int) -> Iterator[_Group]:
        group: _Group = []
        n = 0
        for a, h, kind in pending:
            chunks = self.chunk(a)
            group.append((a, h, kind, chunks))
            n += len(chunks)
            if n >= size:
                yield group
                group, n = [], 0
        if group:
            yield group

    def _write(self, group: _Group, vectors: np.ndarray) -> None:
        items = []
        lo = 0
        for a, h, _kind, chunks in group:
            items.append((a, h, chunks, vectors[lo : lo + len(chunks)]))
            lo += len(chunks)
        self.store.write_articles(items)
