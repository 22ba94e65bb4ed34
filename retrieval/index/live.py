"""The live index: each process's view of the store, kept current by applying what changed.

What a process holds: a list of segments (`retrieval/index/segment.py`, memory-mapped from the data
directory) and, for each article, which segment holds its live version. Catching up after an
ingest of k articles costs O(k):
  1. `Store.state()` says whether anything was committed since the view was made (one read,
     as before every question);
  2. `Store.records_since(cursor)` names the articles committed since (metadata only);
  3. each new version is found in the journal, a segment the writer left beside the index
     before committing its records (`Journal`), or else read from Chroma by chunk id (a
     process on another machine than the writer) and kept as a segment of its own;
  4. the new view points at the new versions; old versions' rows are dead in their segments
     and never searched again.
A question never waits for this: it is answered from the view in hand while another thread
catches up.

Journal and fetched segments pile up; `compact` merges the live rows into segments that each
hold a run of weeks of publication (about `BRIEFBOT_INDEX_EXACT_CHUNKS` rows, or one week
when a week holds more; an HNSW graph for those), writes a manifest naming them and the
cursor they are current to, and deletes what no manifest needs any more (after a grace
period: another process may still be reading it). Every process on the machine adopts the
manifest, and a process that starts cold opens it and catches up from its cursor: seconds,
however large the index. Compaction runs in a background thread, never holding the lock that
questions or catching up take.

Consistency: a view only ever holds versions that records name, each whole (journal segments
hold whole groups of articles; a version read from Chroma whose chunks are not all there,
superseded meanwhile, is left out and read again), so a question sees each article as it was
before or after any write, and an ingest killed at any step leaves nothing a reader uses.

Bounded memory: with `BRIEFBOT_INDEX_MAX_CHUNKS` set, a process opens only the newest weeks
that fit; older ones are answered from Chroma's own nearest-neighbour search (`store_tier`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import Settings
from retrieval.datadir import private_dir, private_file
from retrieval.errors import BriefbotError
from retrieval.index.segment import FORMAT as SEGMENT_FORMAT
from retrieval.index.segment import ArticleMeta, Draft, Segment, build, merge, week_of
from retrieval.index.snapshot import Part, Snapshot, fetch_drafts
from retrieval.index.store import NO_DATE, Record, Store, WriteState, read_retrying
from retrieval.models import Article, Chunk
from retrieval.urls import host_of

log = logging.getLogger(__name__)

JOURNAL_TITLE_WEIGHT = 2  # the journal's BM25 terms count the headline this many times
MANIFEST_FORMAT = 1
GRACE_SECONDS = 600.0  # files no manifest needs are kept this long: a reader may open them
COMPACT_DELAY = 30.0  # a process compacts only after living this long (a CLI run never does)
LOOSE_SEGMENTS = 16  # compact when more journal or fetched segments than this are searched ...
LOOSE_ROWS = 20_000  # ... or when they hold more rows than this
DEAD_SHARE = 0.25  # ... or when a compacted segment has this share of dead rows


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
        if not self.folder.is_dir():
            return []
        out = []
        for p in self.folder.iterdir():
            head = p.name.split("-")[0]
            if head.isdigit() and int(head) >= since_seq:
                out.append(p)
        return sorted(out)


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
        self.max_chunks = max_chunks  # 0: no bound
        self.exact_chunks = exact_chunks  # larger segments get an HNSW graph
        self.segments_dir = self.folder / f"segments-w{title_weight}"
        self.manifest_path = self.folder / f"manifest-w{title_weight}.json"
        self.journal: Journal | None = (
            store.journal if title_weight == JOURNAL_TITLE_WEIGHT else None
        )
        self.auto_compact = False  # a serving process compacts in the background
        self._lock = threading.Lock()  # catching up, adopting: one at a time
        self._view: Snapshot | None = None
        self._segs: dict[str, Segment] = {}
        self._live: dict[str, set[int]] = {}
        self._where: dict[str, tuple[str, int]] = {}  # article id -> (segment, local index)
        self._parts: dict[str, Part] = {}
        self._dirty: set[str] = set()
        self._cursor = (-1, 0)  # (seq, part): every commit up to it has been applied
        self._jindex: dict[tuple[str, str], tuple[Path, int]] = {}  # (id, hash) -> entry
        self._jseen: set[str] = set()
        self._manifest_seen: tuple[int, int] | None = None
        self._refreshed_at = 0.0
        self._opened_at = time.monotonic()
        self._worker: threading.Thread | None = None
        self.horizon: int | None = None  # days before it are not held here (max_chunks)
        self._unheld: dict[str, dict[str, Any]] = {}  # the manifest's segments left on disk
        self._undated_held = True

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
            manifest = self._read_manifest()
            if manifest is not None:
                self._adopt(manifest, self._open_manifest(manifest), initial=True)
                read_retrying(lambda: self._catch_up(self.store.state()))
            else:
                read_retrying(self._build)
                # Written at once, so the next process to start opens it instead.
                with self._compact_lock() as mine:
                    if mine:
                        out, manifest = self._write_compacted(self._plan(), graphs=False)
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
        self._scan_journal()
        missing: dict[str, Record] = {}
        opened: dict[Path, Segment | None] = {}
        for aid, rec in need.items():
            hit = self._jindex.get((aid, rec.content_hash))
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
                seg = seg.save(private_dir(self.segments_dir) / name)
                for i, d in enumerate(drafts):
                    placed[d.meta.id] = (seg, i)
            if incomplete:
                log.info("%d articles changed while being read; read again later", len(incomplete))
        return placed, incomplete

    def _scan_journal(self) -> None:
        if self.journal is None:
            return
        for entry in self.journal.entries(max(self._cursor[0], 0)):
            if entry.name in self._jseen:
                continue
            try:
                rows = json.loads((entry / "articles.json").read_text())
            except OSError:
                continue  # removed since listed: its versions are in a manifest by now
            self._jseen.add(entry.name)
            for local, r in enumerate(rows):
                self._jindex[(r[0], r[1])] = (entry, local)

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
        order = sorted(self._segs.values(), key=_order)
        self._view = Snapshot(
            [self._parts[s.name] for s in order], state.generation, provisional, (0, 0)
        )
        if self._unheld:
            self._view.store_tier = self.store_tier

    # -- manifest, compaction ---------------------------------------------------------------
    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            stat = self.manifest_path.stat()
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        self._manifest_seen = (stat.st_mtime_ns, stat.st_size)
        if (
            manifest.get("format") != MANIFEST_FORMAT
            or manifest.get("segment_format") != SEGMENT_FORMAT
            or manifest.get("store") != self.store.identity
            or manifest.get("title_weight") != self.title_weight
        ):
            log.info("the index on disk is for another store or version; building it again")
            return None
        return manifest

    def _open_manifest(self, manifest: dict[str, Any]) -> list[Segment]:
        """The manifest's segments: all of them, or with `max_chunks` set the newest weeks
        that fit (undated articles count as the oldest). The rest stay on disk, named in
        `self._unheld`, and days before `self.horizon` are searched in Chroma instead."""
        metas = [(name, manifest["info"][name]) for name in manifest["segments"]]
        metas.sort(key=lambda m: -int(m[1]["max_day"]))
        out: list[Segment] = []
        held = 0
        self.horizon, self._unheld, self._undated_held = None, {}, True
        for name, info in metas:
            if self.max_chunks and out and held + int(info["rows"]) > self.max_chunks:
                self._unheld[name] = info
                if int(info["max_day"]) == NO_DATE:
                    self._undated_held = False
                else:
                    self.horizon = max(self.horizon or NO_DATE, int(info["max_day"]) + 1)
                continue
            held += int(info["rows"])
            out.append(self._segs.get(name) or Segment.open(self.segments_dir / name))
        return sorted(out, key=lambda s: s.seq)  # a later compaction's version wins

    def store_tier(self, vector: np.ndarray, n: int = 100, articles: int = 10) -> Segment | None:
        """The articles older than this process holds (`max_chunks`) whose chunks are among
        Chroma's nearest to `vector`: their committed versions, whole, as a segment for one
        question. Only with a Chroma server: in embedded Chroma its index of every chunk
        would be loaded into this process, which is what the bound is there to avoid."""
        if not self._unheld or not self.store.location.startswith(("http://", "https://")):
            return None
        old: list[str] = []
        for _cid, meta in self.store.nearest_chunks(vector, n):
            day = int(meta.get("day", NO_DATE))
            aid = str(meta.get("article_id", ""))
            unheld = (not self._undated_held) if day == NO_DATE else day < (self.horizon or 0)
            if unheld and aid not in old and aid not in self._where:
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
        """With `max_chunks`, let go of the oldest weeks this manifest holds on disk while
        this process holds more than that (the newest week is always held)."""
        if not self.max_chunks:
            return
        held = sum(s.n_rows for s in self._segs.values())
        weeks = [s for s in self._segs.values() if s.weeks is not None]
        for seg in sorted(weeks, key=lambda s: s.max_day)[:-1]:
            if held <= self.max_chunks:
                break
            if seg.name not in manifest["segments"]:
                continue
            for local in self._live.pop(seg.name, set()):
                self._where.pop(seg.articles[local].id, None)
            del self._segs[seg.name]
            self._parts.pop(seg.name, None)
            self._unheld[seg.name] = manifest["info"][seg.name]
            if seg.max_day == NO_DATE:
                self._undated_held = False
            else:
                self.horizon = max(self.horizon or NO_DATE, seg.max_day + 1)
            held -= seg.n_rows

    def _maintain(self) -> None:
        """In a serving process: adopt a manifest another process wrote, or compact, in a
        background thread, once the process has lived `COMPACT_DELAY` seconds."""
        if not self.auto_compact or time.monotonic() - self._opened_at < COMPACT_DELAY:
            return
        if self._worker is not None and self._worker.is_alive():
            return
        try:
            stat = self.manifest_path.stat()
            changed = (stat.st_mtime_ns, stat.st_size) != self._manifest_seen
        except OSError:
            changed = False
        if not changed and not self.needs_compaction():
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
        manifest = self._read_manifest()
        if manifest is None or tuple(manifest["cursor"]) > self._cursor:
            return False
        segments = self._open_manifest(manifest)  # loading HNSW graphs: without the lock
        with self._lock:
            self._adopt(manifest, segments, initial=False)
        return True

    def needs_compaction(self) -> bool:
        segs, live = dict(self._segs), dict(self._live)  # copies: another thread may change them
        loose = [s for s in segs.values() if s.weeks is None]
        if len(loose) > LOOSE_SEGMENTS or sum(s.n_rows for s in loose) > LOOSE_ROWS:
            return True
        for name, seg in segs.items():
            if seg.weeks is None:
                continue
            if seg.hnsw is None and seg.n_rows >= self.exact_chunks:
                return True
            if len(live.get(name, ())) < (1 - DEAD_SHARE) * seg.n_articles:
                return True
        return False

    def compact(self, graphs: bool = True) -> bool:
        """Merge the live rows into segments by weeks of publication (HNSW when large and
        `graphs`), write the manifest, adopt it, and delete what no manifest needs. Returns
        False when another process is compacting this index."""
        with self._compact_lock() as mine:
            if not mine:
                return False
            with self._lock:
                if self._view is None:
                    self._start()
                plan = self._plan()
            out, manifest = self._write_compacted(plan, graphs)
            with self._lock:
                self._adopt(manifest, out, initial=False)
            self._manifest_seen = None
            return True

    def _plan(self) -> tuple[dict[str, Segment], dict[str, np.ndarray], tuple[int, int]]:
        live = {n: np.array(sorted(v), dtype=np.int64) for n, v in self._live.items()}
        return dict(self._segs), live, self._cursor

    def _write_compacted(
        self, plan: tuple[dict[str, Segment], dict[str, np.ndarray], tuple[int, int]], graphs: bool
    ) -> tuple[list[Segment], dict[str, Any]]:
        segs, live, cursor = plan
        t = time.perf_counter()
        weeks: dict[int, list[tuple[Segment, np.ndarray]]] = {}
        rows: dict[int, int] = {}
        for name in sorted(segs, key=lambda n: _order(segs[n])):
            seg, locals_ = segs[name], live[name]
            wk = np.array([week_of(int(d)) for d in seg.a["art_days"][locals_]], dtype=int)
            counts = np.diff(seg.a["art_rows"])[locals_]
            for w in np.unique(wk).tolist():
                weeks.setdefault(w, []).append((seg, locals_[wk == w]))
                rows[w] = rows.get(w, 0) + int(counts[wk == w].sum())
        out = []
        for span in self._spans(segs, weeks, rows):
            per: dict[str, list[np.ndarray]] = {}
            for w in span:
                for seg, locals_ in weeks[w]:
                    per.setdefault(seg.name, []).append(locals_)
            items = [
                (segs[n], np.sort(np.concatenate(per[n])))
                for n in sorted(per, key=lambda n: _order(segs[n]))
            ]
            out.append(self._compact_span(span, items, cursor, graphs))
        manifest = {
            "format": MANIFEST_FORMAT,
            "segment_format": SEGMENT_FORMAT,
            "store": self.store.identity,
            "title_weight": self.title_weight,
            "cursor": list(cursor),
            "segments": [s.name for s in out] + list(self._unheld),
            "info": {
                **{
                    s.name: {"rows": s.n_rows, "max_day": s.max_day, "min_day": s.min_day}
                    for s in out
                },
                **self._unheld,  # weeks this process does not hold: kept as they are
            },
        }
        private_dir(self.folder)
        tmp = self.manifest_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, self.manifest_path)
        self._collect(manifest)
        log.info(
            "index compacted: %d segments, %d rows, in %.1f s",
            len(out),
            sum(s.n_rows for s in out),
            time.perf_counter() - t,
        )
        return out, manifest

    def _spans(
        self,
        segs: dict[str, Segment],
        weeks: dict[int, list[tuple[Segment, np.ndarray]]],
        rows: dict[int, int],
    ) -> list[list[int]]:
        """Runs of consecutive weeks, one segment each: a compacted segment's weeks stay
        together (so an old segment that nothing changed is kept as it is); other weeks form
        runs of about `exact_chunks` rows, oldest first. Undated articles have their own."""
        owner: dict[int, tuple[int, int]] = {}
        for seg in segs.values():
            if seg.weeks is not None:
                for w in weeks:
                    if seg.weeks[0] <= w <= seg.weeks[1]:
                        owner[w] = seg.weeks
        spans: list[list[int]] = []
        for w in sorted(weeks):
            last = spans[-1] if spans else None
            joins = (
                last is not None
                and w != -1
                and last[-1] != -1
                and (
                    (w in owner and owner.get(last[-1]) == owner[w])
                    or (
                        w not in owner
                        and last[-1] not in owner
                        and sum(rows[x] for x in last) < self.exact_chunks
                    )
                )
            )
            if joins and last is not None:
                last.append(w)
            else:
                spans.append([w])
        return spans

    def _compact_span(
        self,
        span: list[int],
        items: list[tuple[Segment, np.ndarray]],
        cursor: tuple[int, int],
        graphs: bool,
    ) -> Segment:
        first, keep = items[0]
        whole = first.weeks is not None and len(keep) == first.n_articles
        small = first.n_rows < self.exact_chunks
        if (
            len(items) == 1
            and whole
            and first.weeks == (span[0], span[-1])
            and (first.hnsw is not None or small or not graphs)
        ):
            return first  # unchanged
        merged = merge(items, {"seq": cursor[0], "weeks": [span[0], span[-1]]})
        if graphs and merged.n_rows >= self.exact_chunks:
            if whole and first.hnsw is not None and first.path is not None:
                merged = _extend_graph(first, merged)  # its rows keep their numbers
            else:
                merged = merged.with_hnsw()
        name = f"w{span[0]}-{span[-1]}-{uuid.uuid4().hex[:8]}"
        return merged.save(private_dir(self.segments_dir) / name)

    def _collect(self, manifest: dict[str, Any]) -> None:
        """Delete segments and journal entries no manifest needs, once old enough that no
        process still about to open them would (one that holds them open keeps reading)."""
        keep = set(manifest["segments"])
        cutoff = time.time() - GRACE_SECONDS
        seq = int(manifest["cursor"][0])
        old: list[Path] = []
        if self.segments_dir.is_dir():
            old += [p for p in self.segments_dir.iterdir() if p.name not in keep]
        if self.journal is not None and self.journal.folder.is_dir():
            for p in self.journal.folder.iterdir():
                head = p.name.split("-")[0]
                if not head.isdigit() or int(head) < seq:
                    old.append(p)
        for p in old:
            try:
                if p.stat().st_mtime < cutoff:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass

    @contextmanager
    def _compact_lock(self) -> Iterator[bool]:
        try:
            import fcntl
        except ImportError:  # Windows: one process compacts at a time by convention
            yield True
            return
        with open(private_file(self.folder / "compact.lock"), "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _extend_graph(base: Segment, merged: Segment) -> Segment:
    """The base segment's graph with the merged segment's further rows added: O(new rows)."""
    import hnswlib

    assert base.path is not None
    index = hnswlib.Index(space="ip", dim=merged.a["vectors"].shape[1])
    index.load_index(str(base.path / "hnsw.bin"), max_elements=merged.n_rows)
    extra = np.arange(base.n_rows, merged.n_rows)
    if extra.size:
        index.add_items(np.asarray(merged.a["vectors"][base.n_rows :]), extra)
    return Segment(merged.a, merged.articles, merged.hashes, merged.info, None, index)


def _seq(rec: Record) -> tuple[int, int]:
    return int(rec.meta.get("seq", 0)), int(rec.meta.get("part", 0))


def _order(seg: Segment) -> tuple[int, int, str]:
    """Weeks first, oldest first; then journal and fetched segments as they were written."""
    weeks = seg.weeks
    return (0 if weeks is not None else 1, weeks[0] if weeks is not None else seg.seq, seg.name)
