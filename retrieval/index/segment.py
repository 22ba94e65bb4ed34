"""A segment: an immutable part of the search index, whole article versions, kept on disk.

A segment holds, for each of its chunks, what search needs (the vector, the BM25 postings,
the publication day, the article it belongs to) and what an answer quotes (the text, its
offset in the article, the sentence spans). On disk it is a folder: its arrays in one file.
A process holds in memory only what every search reads whole (row lengths, the term table,
the vectors of a segment searched exactly, or its HNSW graph) and reads the rest (texts,
postings, vectors of the rows it ranks) from the file as a question needs them: the page
cache keeps them, shared by every process on the machine. Texts are never held in memory.

BM25 postings carry raw term counts, not weights: idf and the length norm depend on the whole
index, which changes with every ingest, so they are applied at query time (see
`retrieval.index.search`). Terms are stored as 64-bit hashes, so a segment needs no vocabulary.

Segments are made by retrieval/index/building.py: built from article versions, or merged from
the live rows of others.

A large segment also has an HNSW graph (hnswlib), loaded into memory when the segment is
opened: its nearest neighbours are then approximate, and found in a few milliseconds however
many chunks it holds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.index.store import NO_DATE, day_number, from_day_number

log = logging.getLogger(__name__)

FORMAT = 2  # bump when the files of a segment change
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
ARRAYS = (
    "art_rows",
    "art_days",
    "art_vectors",
    "starts",
    "text_off",
    "texts",
    "span_off",
    "spans",
    "vectors",
    "doc_len",
    "term_hash",
    "term_ptr",
    "post_row",
    "post_tf",
)


@dataclass(frozen=True)
class ArticleMeta:
    id: str
    title: str
    source: str
    url: str
    published: date | None


@lru_cache(maxsize=500_000)
def term_hash(term: str) -> int:
    """A stable 64-bit id for a term (Python's own hash changes between processes)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")


class Segment:
    """Chunks of whole article versions; read-only once built."""

    def __init__(
        self,
        arrays: dict[str, Any],
        articles: list[ArticleMeta],
        hashes: list[str],
        info: dict[str, Any],
        path: Path | None = None,
        hnsw: Any = None,
    ) -> None:
        self.a = arrays
        self.articles = articles
        self.hashes = hashes
        self.info = info
        self.path = path
        self.hnsw = hnsw
        self.name = path.name if path is not None else f"mem-{uuid.uuid4().hex[:12]}"
        counts = np.diff(arrays["art_rows"])
        self.n_rows = int(arrays["art_rows"][-1]) if len(counts) else 0
        self.n_articles = len(articles)
        # The encoder's: a segment's vectors say their size (an empty segment's may be 0).
        self.dimension = int(arrays["vectors"].shape[1])
        self.chunk_article = np.repeat(np.arange(self.n_articles, dtype=np.int32), counts)
        self.days = np.repeat(np.asarray(arrays["art_days"], dtype=np.int32), counts)
        dated = self.days[self.days != NO_DATE]
        self.min_day = int(dated.min()) if dated.size else NO_DATE
        self.max_day = int(dated.max()) if dated.size else NO_DATE
        self.undated = bool((self.days == NO_DATE).any())

    # -- reading ----------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        """The write this segment came from (journal entries), or the cursor it was made at."""
        return int(self.info.get("seq", 0))

    @property
    def weeks(self) -> tuple[int, int] | None:
        """The weeks of publication (first, last) a compacted segment holds; None for a
        journal or fetched segment, which holds what one write brought."""
        w = self.info.get("weeks")
        return None if w is None else (int(w[0]), int(w[1]))

    def text(self, row: int) -> str:
        lo, hi = (int(x) for x in self.a["text_off"][row : row + 2])
        return bytes(self.a["texts"][lo:hi]).decode()

    def sentences(self, row: int) -> tuple[tuple[int, int], ...]:
        lo, hi = (int(x) for x in self.a["span_off"][row : row + 2])
        spans = np.asarray(self.a["spans"][lo:hi]).reshape(-1, 2)
        return tuple((int(s), int(e)) for s, e in spans)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every array whole, in memory (merging reads a segment through)."""
        return {n: a if isinstance(a, np.ndarray) else a[:] for n, a in self.a.items()}

    def rows_of(self, local: int) -> np.ndarray:
        rows = self.a["art_rows"]
        return np.arange(int(rows[local]), int(rows[local + 1]))

    def _term(self, h: int) -> tuple[int, int] | None:
        keys = self.a["term_hash"]
        i = int(np.searchsorted(keys, np.uint64(h)))
        if i == len(keys) or int(keys[i]) != h:
            return None
        return int(self.a["term_ptr"][i]), int(self.a["term_ptr"][i + 1])

    def df(self, h: int) -> int:
        """How many rows hold the term with hash `h` (dead ones included)."""
        span = self._term(h)
        return span[1] - span[0] if span else 0

    def postings(self, h: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Rows holding the term with hash `h`, and how often each holds it."""
        span = self._term(h)
        if span is None:
            return None
        return self.a["post_row"][span[0] : span[1]], self.a["post_tf"][span[0] : span[1]]

    def nearest(self, q: np.ndarray, k: int, allowed: np.ndarray | None) -> tuple[Any, Any]:
        """The `k` allowed rows nearest to `q`, best first, with their cosine: through the
        HNSW graph when there is one and most rows are allowed, exactly otherwise."""
        n_allowed = self.n_rows if allowed is None else int(allowed.sum())
        k = min(k, n_allowed)
        if k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if self.hnsw is not None and n_allowed >= self.n_rows // 2:
            # Ask for enough that the allowed ones still number k.
            want = min(self.n_rows, int(k * self.n_rows / n_allowed) + 8)
            self.hnsw.set_ef(max(want, 64))
            labels, dist = self.hnsw.knn_query(q.reshape(1, -1), k=want, num_threads=1)
            rows, scores = labels[0].astype(np.int64), 1.0 - dist[0]
            if allowed is not None:
                keep = allowed[rows]
                rows, scores = rows[keep], scores[keep]
            return rows[:k], scores[:k].astype(np.float32)
        vectors = self.a["vectors"]
        with _one_blas_thread()():
            if allowed is None:
                scores = vectors[:] @ q
                cand = np.arange(self.n_rows)
            elif n_allowed > self.n_rows // 4 and isinstance(vectors, np.ndarray):
                cand = np.flatnonzero(allowed)  # all of them is cheaper than gathering
                scores = (vectors @ q)[cand]
            else:
                cand = np.flatnonzero(allowed)
                scores = vectors[cand] @ q
        if k < len(cand):
            part = np.argpartition(-scores, k - 1)[:k]
        else:
            part = np.arange(len(cand))
        order = part[np.argsort(-scores[part], kind="stable")]
        return cand[order], scores[order]

    # -- writing ----------------------------------------------------------------------------
    def save(self, folder: Path) -> Segment:
        """Write the segment to `folder` (made whole in a temporary folder, then renamed, so
        a reader never opens half a segment) and return it opened from there."""
        folder = Path(folder)
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True, mode=0o700)
        layout: dict[str, Any] = {}
        with open(tmp / "arrays.bin", "wb") as f:
            for name in ARRAYS:
                arr = np.ascontiguousarray(self.a[name][:])
                f.write(b"\0" * (-f.tell() % 64))  # aligned, for the views read back
                layout[name] = [f.tell(), arr.dtype.str, list(arr.shape)]
                f.write(arr.tobytes())
        (tmp / "arrays.json").write_text(json.dumps(layout))
        rows = [
            [m.id, h, m.title, m.source, m.url, day_number(m.published)]
            for m, h in zip(self.articles, self.hashes, strict=True)
        ]
        (tmp / "articles.json").write_text(json.dumps(rows, ensure_ascii=False))
        if self.hnsw is not None:
            self.hnsw.save_index(str(tmp / "hnsw.bin"))
        info = {**self.info, "format": FORMAT, "rows": self.n_rows, "hnsw": self.hnsw is not None}
        (tmp / "info.json").write_text(json.dumps(info))
        os.replace(tmp, folder)
        return Segment.open(folder)

    @classmethod
    def open(cls, folder: Path) -> Segment:
        folder = Path(folder)
        info = json.loads((folder / "info.json").read_text())
        if info.get("format") != FORMAT:
            raise ValueError(f"{folder}: segment format {info.get('format')}, not {FORMAT}")
        arrays = _read_arrays(folder, graph=bool(info.get("hnsw")))
        # Small arrays every search reads whole: in memory, not paged in from disk each time.
        for name in ("art_rows", "art_days", "doc_len"):
            arrays[name] = np.array(arrays[name])
        rows = json.loads((folder / "articles.json").read_text())
        articles = [ArticleMeta(r[0], r[2], r[3], r[4], from_day_number(int(r[5]))) for r in rows]
        hnsw = None
        if info.get("hnsw"):
            dimension = int(arrays["vectors"].shape[1])
            hnsw = _load_hnsw(folder / "hnsw.bin", int(info["rows"]), dimension)
        return cls(arrays, articles, [r[1] for r in rows], info, folder, hnsw)

    def with_hnsw(self) -> Segment:
        """This segment with an HNSW graph over its vectors (built here: seconds to minutes)."""
        import hnswlib

        index = hnswlib.Index(space="ip", dim=self.dimension)
        index.init_index(
            max_elements=max(self.n_rows, 1), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M
        )
        if self.n_rows:
            index.add_items(np.asarray(self.a["vectors"]), np.arange(self.n_rows))
        return Segment(self.a, self.articles, self.hashes, self.info, None, index)


SMALL_BYTES = 8 << 20  # a segment smaller than this is read into memory whole
HOT = frozenset({"art_rows", "art_days", "doc_len", "term_hash", "term_ptr"})


class _File:
    """An open file, closed when the last array reading it is gone."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)

    def __del__(self) -> None:
        os.close(self.fd)


class FileArray:
    """An array in a segment's file, read on demand with pread: what a question touches (a
    few rows, a term's postings) costs a read each, and no memory that stays. (Mapping the
    file instead made every touched row resident with the pages around it: 1.4 MB of the
    process's memory a random row here, as the page cache maps large folios.)"""

    def __init__(self, file: _File, offset: int, dtype: np.dtype, shape: tuple[int, ...]) -> None:
        self.file, self.offset, self.dtype, self.shape = file, offset, dtype, shape
        self.row = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, lo: int, hi: int) -> np.ndarray:
        data = os.pread(self.file.fd, (hi - lo) * self.row, self.offset + lo * self.row)
        return np.frombuffer(data, dtype=self.dtype).reshape((hi - lo, *self.shape[1:]))

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            lo, hi, step = idx.indices(self.shape[0])
            assert step == 1, "FileArray: no strides"
            return self._read(lo, max(lo, hi))
        if isinstance(idx, (int, np.integer)):
            i = int(idx) + (self.shape[0] if idx < 0 else 0)
            out = self._read(i, i + 1)[0]
            return out if out.ndim else out.item()
        idx = np.asarray(idx)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        out = np.empty((len(idx), *self.shape[1:]), dtype=self.dtype)
        if not len(idx):
            return out
        # One read a run of consecutive rows (an article's chunks are consecutive).
        breaks = np.flatnonzero(np.diff(idx) != 1) + 1
        at = 0
        for run in np.split(idx, breaks):
            out[at : at + len(run)] = self._read(int(run[0]), int(run[-1]) + 1)
            at += len(run)
        return out


def _read_arrays(folder: Path, graph: bool) -> dict[str, Any]:
    """The segment's arrays, all in one file: read whole for a small segment; else the few
    that every search reads whole (and the vectors, when there is no graph to search them)
    are read, and the rest are read on demand (`FileArray`)."""
    layout = json.loads((folder / "arrays.json").read_text())
    path = folder / "arrays.bin"
    small = path.stat().st_size < SMALL_BYTES
    file = _File(path)
    out: dict[str, Any] = {}
    for name in ARRAYS:
        offset, dtype, shape = layout[name]
        arr = FileArray(file, int(offset), np.dtype(dtype), tuple(shape))
        hot = small or name in HOT or (name == "vectors" and not graph)
        out[name] = arr[:].copy() if hot else arr  # copied: writable, and the file's own
    return out


@lru_cache(maxsize=1)
def _one_blas_thread() -> Callable[[], AbstractContextManager[object]]:
    """A matrix-vector product is bound by memory, not arithmetic: a second BLAS thread made
    it 2.8 times slower here (8 ms against 2.8 ms for 20,000 chunks) while the other core was
    busy, as it is whenever the bot ingests."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return contextlib.nullcontext
    controller = ThreadpoolController()
    return lambda: controller.limit(limits=1, user_api="blas")


def _load_hnsw(path: Path, rows: int, dimension: int) -> Any:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=dimension)
    index.load_index(str(path), max_elements=max(rows, 1))
    return index


def week_of(day: int) -> int:
    """Monday-to-Sunday weeks, numbered from the week of 1970-01-01; undated: -1."""
    return (day + 3) // 7 if day != NO_DATE else -1
