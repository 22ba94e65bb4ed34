"""The live index: each process's view of the store, kept current by applying what changed.

What a process holds: a list of segments (`retrieval/index/segment.py`, read from the data
directory) and, for each article, which segment holds its live version. Catching up after an
ingest of k articles costs O(k):
  1. `Store.state()` says whether anything was committed since the view was made (one read,
     as before every question);
  2. `Store.records_since(cursor)` names the articles committed since (metadata only);
  3. each new version is found in the journal, a segment the writer left beside the index
     before committing its records (retrieval/index/journal.py), or else read from Chroma by
     chunk id (a process on another machine than the writer) and kept as a segment of its own;
  4. the new view points at the new versions; old versions' rows are dead in their segments
     and never searched again.
A question never waits for this: it is answered from the view in hand while another thread
catches up.

Journal and fetched segments pile up: a serving process compacts them in a background thread,
never holding the lock that questions or catching up take, and every process adopts the
manifest that compaction writes (retrieval/index/compaction.py); a process that starts cold
opens the manifest and catches up from its cursor: seconds, however large the index.

Consistency: a view only ever holds versions that records name, each whole (journal segments
hold whole groups of articles; a version read from Chroma whose chunks are not all there,
superseded meanwhile, is left out and read again), so a question sees each article as it was
before or after any write, and an ingest killed at any step leaves nothing a reader uses.

Bounded memory: with `BRIEFBOT_INDEX_MAX_CHUNKS` set, a process opens only the newest weeks
that fit (retrieval/index/bound.py); older ones are answered from Chroma's own nearest-neighbour
search (`store_tier`).

The journal, compaction and the memory bound are modules of their own; what stays here (the
view, catching up, adopting a manifest and starting maintenance) shares one state and one lock,
which is why this module is a little over 400 lines.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import Settings
from retrieval.datadir import private_dir
from retrieval.errors import BriefbotError
from retrieval.index.bound import MemoryBound
from retrieval.index.building import build
from retrieval.index.chroma import read_retrying
from retrieval.index.compaction import Compactor, Plan, order
from retrieval.index.journal import JOURNAL_TITLE_WEIGHT, JournalReader, index_dir
from retrieval.index.segment import Segment
from retrieval.index.snapshot import Part, Snapshot, fetch_drafts
from retrieval.index.store import NO_DATE, Record, Store, WriteState

log = logging.getLogger(__name__)

COMPACT_DELAY = 30.0  # a process compacts only after living this long (a CLI run never does)


class LiveIndex:
    """A process's index of one store: `snapshot()` is the view to answer from."""

    def __init__(
        self,
        store: Store,
        folder: Path,
        title_weight: int = 2,
        max_chunks: int = 0,
        exact_chunks: int = 50_000,
    ) -> None:
        self.store = store
        self.folder = Path(folder)
        self.title_weight = title_weight
        self.bound = MemoryBound(max_chunks)
        journal = store.journal if title_weight == JOURNAL_TITLE_WEIGHT else None
        self._journal = JournalReader(journal)
        self.compactor = Compactor(self.folder, title_weight, exact_chunks, store.identity, journal)
        self.auto_compact = False  # a serving process compacts in the background
        self._lock = threading.Lock()  # catching up, adopting: one at a time
        self._view: Snapshot | None = None
        self._segs: dict[str, Segment] = {}
        self._live: dict[str, set[int]] = {}
        self._where: dict[str, tuple[str, int]] = {}  # article id -> (segment, local index)
        self._parts: dict[str, Part] = {}
        self._dirty: set[str] = set()
        self._cursor = (-1, 0)  # (seq, part): every commit up to it has been applied
        self._refreshed_at = 0.0
        self._opened_at = time.monotonic()
        self._worker: threading.Thread | None = None

    @classmethod
    def open(cls, settings: Settings, store: Store, title_weight: int = 2) -> LiveIndex:
        return cls(
            store,
            index_dir(settings, store),
            title_weight,
            settings.index_max_chunks,
            settings.index_exact_chunks,
        )

    # -- the view ---------------------------------------------------------------------------
    def snapshot(self, refresh_seconds: float = 1.0) -> Snapshot:
        """The view as of the store's last commit, caught up first when something changed
        and no other thread is already catching up (then the view in hand is returned). While
        a write is under way, catching up happens at most every `refresh_seconds`. A failed
        read keeps the view in hand; with none, the question gets a plain error."""
        view = self._view
        if view is None:
            with self._lock:
                if self._view is None:
                    self._start()
                assert self._view is not None
                return self._view
        try:
            state = self.store.state()
        except Exception:
            log.warning("could not reload the index; using the one in memory", exc_info=True)
            return view
        if state.generation == view.generation and not state.writing and not view.provisional:
            self._maintain()
            return view
        if state.writing and time.monotonic() - self._refreshed_at < refresh_seconds:
            return view
        if not self._lock.acquire(blocking=False):
            return view  # another thread is catching up: answer from what is here
        try:
            self._refreshed_at = time.monotonic()
            read_retrying(lambda: self._catch_up(state))
        except Exception:
            log.warning("could not reload the index; using the one in memory", exc_info=True)
            return view
        finally:
            self._lock.release()
        self._maintain()
        assert self._view is not None
        return self._view

    @property
    def current(self) -> Snapshot | None:
        """The view in hand, as last read (None before the first read): nothing is read."""
        return self._view

    def refresh(self) -> Snapshot:
        """Catch up now, waiting for any other thread that is (tests, benchmarks)."""
        with self._lock:
            if self._view is None:
                self._start()
            else:
                self._catch_up(self.store.state())
            assert self._view is not None
            return self._view

    def _start(self) -> None:
        """A cold start: the manifest's segments when there is one for this store, else
        everything the records name (from the journal, or read from Chroma); then catch up."""
        t = time.perf_counter()
        try:
            manifest = self.compactor.read_manifest()
            if manifest is not None:
                self._adopt(manifest, self._open_manifest(manifest), initial=True)
                read_retrying(lambda: self._catch_up(self.store.state()))
            else:
                read_retrying(self._build)
                # Written at once, so the next process to start opens it instead.
                with self.compactor.lock() as mine:
                    if mine:
                        out, manifest = self.compactor.write(
                            self._plan(), self.bound.unheld, graphs=False
                        )
                        self._adopt(manifest, out, initial=False)
        except BriefbotError:
            raise
        except Exception:
            log.error("could not read the index", exc_info=True)
            self._reset()
            raise BriefbotError(
                "The index could not be read just now. Try again in a moment."
            ) from None
        assert self._view is not None
        log.info(
            "index: %d chunks in %d segments, ready in %.2f s",
            self._view.n_chunks,
            len(self._view.parts),
            time.perf_counter() - t,
        )

    def _build(self) -> None:
        self._reset()
        state = self.store.state()
        self._apply(self.store.records(), state)

    def _reset(self) -> None:
        self._segs, self._live, self._where, self._parts = {}, {}, {}, {}
        self._dirty, self._cursor, self._view = set(), (-1, 0), None

    def _catch_up(self, state: WriteState) -> None:
        if state.generation < self._cursor[0]:
            log.warning("the store's generation went back: reading it whole")
            self._build()
            return
        self._apply(self.store.records_since(*self._cursor), state)

    def _apply(self, records: dict[str, Record], state: WriteState) -> None:
        """Point the view at the versions these records name."""
        need: dict[str, Record] = {}
        gone: list[str] = []
        for aid, rec in records.items():
            cur = self._where.get(aid)
            if rec.n_chunks <= 0:
                if cur is not None:
                    gone.append(aid)
            elif cur is None or self._segs[cur[0]].hashes[cur[1]] != rec.content_hash:
                need[aid] = rec
        placed, incomplete = self._locate(need) if need else ({}, [])
        for aid in gone:
            name, local = self._where.pop(aid)
            self._live[name].discard(local)
            self._dirty.add(name)
        for aid, (seg, local) in placed.items():
            self._place(aid, seg, local)
        # A version whose chunks are not all there: superseded during this read by a write
        # under way (read it again), or, with no write under way, a store damaged before
        # layout 2 (left out until an ingest repairs it, which writes a new record).
        self._advance(records, state, [need[a] for a in incomplete] if state.writing else [])
        self._publish(state, provisional=state.writing)

    def _locate(self, need: dict[str, Record]) -> tuple[dict[str, tuple[Segment, int]], list]:
        """Where each needed version is: a journal entry, or else a segment made here of what
        Chroma holds. Returns the places, and the articles whose chunks were not all there."""
        placed: dict[str, tuple[Segment, int]] = {}
        self._journal.scan(max(self._cursor[0], 0))
        missing: dict[str, Record] = {}
        opened: dict[Path, Segment | None] = {}
        for aid, rec in need.items():
            hit = self._journal.find(aid, rec.content_hash)
            if hit is not None and hit[0] not in opened:
                opened[hit[0]] = self._open(hit[0])
            seg = opened[hit[0]] if hit is not None else None
            if hit is not None and seg is not None:
                placed[aid] = (seg, hit[1])
            else:
                missing[aid] = rec
        incomplete: list[str] = []
        if missing:
            drafts, incomplete = fetch_drafts(self.store, missing)
            if drafts:
                seq = max(_seq(missing[d.meta.id]) for d in drafts)
                name = f"f{seq[0]:012d}-{uuid.uuid4().hex[:8]}"
                seg = build(drafts, self.title_weight, {"seq": seq[0]})
                seg = seg.save(private_dir(self.compactor.segments_dir) / name)
                for i, d in enumerate(drafts):
                    placed[d.meta.id] = (seg, i)
            if incomplete:
                log.info("%d articles changed while being read; read again later", len(incomplete))
        return placed, incomplete

    def _open(self, path: Path) -> Segment | None:
        seg = self._segs.get(path.name)
        if seg is not None:
            return seg
        try:
            return Segment.open(path)
        except (OSError, ValueError):
            log.info("segment %s is gone; reading its articles from the store", path.name)
            return None

    def _place(self, aid: str, seg: Segment, local: int) -> None:
        if seg.name not in self._segs:
            self._segs[seg.name] = seg
            self._live[seg.name] = set()
        old = self._where.get(aid)
        if old is not None:
            self._live[old[0]].discard(old[1])
            self._dirty.add(old[0])
        self._where[aid] = (seg.name, local)
        self._live[seg.name].add(local)
        self._dirty.add(seg.name)

    def _advance(
        self, records: dict[str, Record], state: WriteState, incomplete: list[Record]
    ) -> None:
        """Move the cursor past what was applied: up to the state's generation when no write
        was under way; during a write, to the commit before its last one seen (a commit being
        made while this was read may have shown only some of its records)."""
        g = state.generation
        cursor = (g, 0)
        if state.writing:
            parts = [p for s, p in map(_seq, records.values()) if s == g]
            cursor = (g, max(parts) - 1 if parts else 0)
        cursor = max(cursor, self._cursor)
        for rec in incomplete:  # read these again next time
            s, p = _seq(rec)
            cursor = min(cursor, (s, p - 1))
        self._cursor = cursor

    def _publish(self, state: WriteState, provisional: bool) -> None:
        for name in [n for n, live in self._live.items() if not live]:
            del self._segs[name], self._live[name]
            self._parts.pop(name, None)
        for name in self._dirty:
            if name in self._segs:
                self._parts[name] = Part(
                    self._segs[name], np.fromiter(self._live[name], dtype=np.int64)
                )
        self._dirty.clear()
        in_order = sorted(self._segs.values(), key=order)
        self._view = Snapshot(
            [self._parts[s.name] for s in in_order], state.generation, provisional, (0, 0)
        )
        if self.bound.unheld:
            self._view.store_tier = self.store_tier

    # -- the manifest: what a process holds of it, and adopting it ----------------------------
    def _open_manifest(self, manifest: dict[str, Any]) -> list[Segment]:
        """The manifest's segments this process holds (all of them, or with a memory bound
        the newest weeks that fit: retrieval/index/bound.py)."""
        names = self.bound.choose(manifest)
        out = [self._segs.get(name) or self.compactor.open_segment(name) for name in names]
        return sorted(out, key=lambda s: s.seq)  # a later compaction's version wins

    def store_tier(self, vector: np.ndarray, n: int = 100, articles: int = 10) -> Segment | None:
        """The articles older than this process holds (`max_chunks`) whose chunks are among
        Chroma's nearest to `vector`: their committed versions, whole, as a segment for one
        question. Only with a Chroma server: in embedded Chroma its index of every chunk
        would be loaded into this process, which is what the bound is there to avoid."""
        if not self.bound.unheld or not self.store.location.startswith(("http://", "https://")):
            return None
        old: list[str] = []
        for _cid, meta in self.store.nearest_chunks(vector, n):
            held = self.bound.holds(int(meta.get("day", NO_DATE)))
            aid = str(meta.get("article_id", ""))
            if not held and aid not in old and aid not in self._where:
                old.append(aid)
        if not old:
            return None
        records = {a: r for a, r in self.store.records_of(old[:articles]).items() if r.n_chunks}
        drafts, _ = fetch_drafts(self.store, records)
        return build(drafts, self.title_weight, {"seq": 0}) if drafts else None

    def _adopt(self, manifest: dict[str, Any], segments: list[Segment], initial: bool) -> None:
        """Point at the manifest's segments. Cold: everything in them is live, current to the
        manifest's cursor. Running: an article moves there only if its version is the same."""
        if initial:
            self._reset()
            for seg in segments:
                for local, a in enumerate(seg.articles):
                    self._place(a.id, seg, local)
            self._cursor = tuple(manifest["cursor"])  # type: ignore[assignment]
        else:
            for seg in segments:
                for local, (a, h) in enumerate(zip(seg.articles, seg.hashes, strict=True)):
                    cur = self._where.get(a.id)
                    if cur is not None and cur[0] != seg.name:
                        if self._segs[cur[0]].hashes[cur[1]] == h:
                            self._place(a.id, seg, local)
        self._enforce_bound(manifest)
        view = self._view
        generation = view.generation if view is not None and not initial else -1
        self._publish(
            WriteState(generation, False, True), view.provisional if view and not initial else True
        )

    def _enforce_bound(self, manifest: dict[str, Any]) -> None:
        """Let go of the oldest weeks the memory bound leaves on disk (retrieval/index/bound.py)."""
        for seg in self.bound.over(list(self._segs.values()), manifest):
            for local in self._live.pop(seg.name, set()):
                self._where.pop(seg.articles[local].id, None)
            del self._segs[seg.name]
            self._parts.pop(seg.name, None)

    # -- maintenance (retrieval/index/compaction.py does the work) ----------------------------
    def _maintain(self) -> None:
        """In a serving process: adopt a manifest another process wrote, or compact, in a
        background thread, once the process has lived `COMPACT_DELAY` seconds."""
        if not self.auto_compact or time.monotonic() - self._opened_at < COMPACT_DELAY:
            return
        if self._worker is not None and self._worker.is_alive():
            return
        if not self.compactor.manifest_changed() and not self.needs_compaction():
            return
        self._worker = threading.Thread(target=self._background, daemon=True, name="index")
        self._worker.start()

    def _background(self) -> None:
        try:
            self.adopt_manifest()
            if self.needs_compaction():
                self.compact()
        except Exception:
            log.warning("index maintenance failed; trying again later", exc_info=True)

    def adopt_manifest(self) -> bool:
        """Adopt the manifest on disk if it is new and not ahead of this view."""
        manifest = self.compactor.read_manifest()
        if manifest is None or tuple(manifest["cursor"]) > self._cursor:
            return False
        segments = self._open_manifest(manifest)  # loading HNSW graphs: without the lock
        with self._lock:
            self._adopt(manifest, segments, initial=False)
        return True

    def needs_compaction(self) -> bool:
        # Copies: another thread may change them.
        return self.compactor.needs_compaction(dict(self._segs), dict(self._live))

    def compact(self, graphs: bool = True) -> bool:
        """Merge the live rows into segments by weeks of publication (HNSW when large and
        `graphs`), write the manifest, adopt it, and delete what no manifest needs. Returns
        False when another process is compacting this index."""
        with self.compactor.lock() as mine:
            if not mine:
                return False
            with self._lock:
                if self._view is None:
                    self._start()
                plan = self._plan()
            out, manifest = self.compactor.write(plan, dict(self.bound.unheld), graphs)
            with self._lock:
                self._adopt(manifest, out, initial=False)
            self.compactor.forget_manifest()
            return True

    def _plan(self) -> Plan:
        live = {n: np.array(sorted(v), dtype=np.int64) for n, v in self._live.items()}
        return dict(self._segs), live, self._cursor


def _seq(rec: Record) -> tuple[int, int]:
    return int(rec.meta.get("seq", 0)), int(rec.meta.get("part", 0))
