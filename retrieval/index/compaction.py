"""Compaction and the manifest: the maintenance of a live index (retrieval/index/live.py).

Journal and fetched segments pile up; compaction merges the live rows into segments that each
hold a run of weeks of publication (about `BRIEFBOT_INDEX_EXACT_CHUNKS` rows, or one week when
a week holds more; an HNSW graph for those), writes a manifest naming them and the cursor they
are current to, and deletes what no manifest needs any more (after a grace period: another
process may still be reading it). Every process on the machine adopts the manifest, and a
process that starts cold opens it and catches up from its cursor. One process compacts an
index at a time (a file lock); the live index decides when, and adopts the result.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.datadir import private_dir, private_file
from retrieval.index.building import merge
from retrieval.index.journal import Journal
from retrieval.index.segment import FORMAT as SEGMENT_FORMAT
from retrieval.index.segment import Segment, week_of

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
GRACE_SECONDS = 600.0  # files no manifest needs are kept this long: a reader may open them
LOOSE_SEGMENTS = 16  # compact when more journal or fetched segments than this are searched ...
LOOSE_ROWS = 20_000  # ... or when they hold more rows than this
DEAD_SHARE = 0.25  # ... or when a compacted segment has this share of dead rows

# What a compaction merges: the segments, the live articles (local indices) of each, and the
# cursor (seq, part) every commit up to which they hold.
Plan = tuple[dict[str, Segment], dict[str, np.ndarray], tuple[int, int]]


def order(seg: Segment) -> tuple[int, int, str]:
    """Weeks first, oldest first; then journal and fetched segments as they were written (a
    later segment's version of an article wins)."""
    weeks = seg.weeks
    return (0 if weeks is not None else 1, weeks[0] if weeks is not None else seg.seq, seg.name)


class Compactor:
    """The manifest and compacted segments of one index folder (one store, one headline
    weight), and the deletion of what no manifest needs."""

    def __init__(
        self,
        folder: Path,
        title_weight: int,
        exact_chunks: int,
        store_identity: str,
        journal: Journal | None,
    ) -> None:
        self.folder = Path(folder)
        self.title_weight = title_weight
        self.exact_chunks = exact_chunks  # larger segments get an HNSW graph
        self.store_identity = store_identity
        self.journal = journal
        self.segments_dir = self.folder / f"segments-w{title_weight}"
        self.manifest_path = self.folder / f"manifest-w{title_weight}.json"
        self._seen: tuple[int, int] | None = None  # the manifest's (mtime, size) when last read

    # -- the manifest -------------------------------------------------------------------------
    def read_manifest(self) -> dict[str, Any] | None:
        """The manifest on disk, if there is one for this store and these formats."""
        try:
            stat = self.manifest_path.stat()
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return None
        self._seen = (stat.st_mtime_ns, stat.st_size)
        if (
            manifest.get("format") != MANIFEST_FORMAT
            or manifest.get("segment_format") != SEGMENT_FORMAT
            or manifest.get("store") != self.store_identity
            or manifest.get("title_weight") != self.title_weight
        ):
            log.info("the index on disk is for another store or version; building it again")
            return None
        return manifest

    def manifest_changed(self) -> bool:
        """Whether the manifest on disk changed since it was last read (another process
        compacted)."""
        try:
            stat = self.manifest_path.stat()
        except OSError:
            return False
        return (stat.st_mtime_ns, stat.st_size) != self._seen

    def forget_manifest(self) -> None:
        self._seen = None

    def open_segment(self, name: str) -> Segment:
        return Segment.open(self.segments_dir / name)

    # -- compacting ---------------------------------------------------------------------------
    def needs_compaction(self, segs: dict[str, Segment], live: dict[str, set[int]]) -> bool:
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

    def write(
        self, plan: Plan, unheld: dict[str, dict[str, Any]], graphs: bool
    ) -> tuple[list[Segment], dict[str, Any]]:
        """Merge the plan's live rows into segments by weeks of publication (with HNSW graphs
        when large and `graphs`), write the manifest (naming also the `unheld` segments, which
        a process with a memory bound keeps on disk as they are) and delete what no manifest
        needs. Call it holding `lock()`."""
        segs, live, cursor = plan
        t = time.perf_counter()
        weeks: dict[int, list[tuple[Segment, np.ndarray]]] = {}
        rows: dict[int, int] = {}
        for name in sorted(segs, key=lambda n: order(segs[n])):
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
                for n in sorted(per, key=lambda n: order(segs[n]))
            ]
            out.append(self._compact_span(span, items, cursor, graphs))
        manifest = {
            "format": MANIFEST_FORMAT,
            "segment_format": SEGMENT_FORMAT,
            "store": self.store_identity,
            "title_weight": self.title_weight,
            "cursor": list(cursor),
            "segments": [s.name for s in out] + list(unheld),
            "info": {
                **{
                    s.name: {"rows": s.n_rows, "max_day": s.max_day, "min_day": s.min_day}
                    for s in out
                },
                **unheld,  # weeks this process does not hold: kept as they are
            },
        }
        private_dir(self.folder)
        tmp = self.manifest_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, self.manifest_path)
        self.collect(manifest)
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

    def collect(self, manifest: dict[str, Any]) -> None:
        """Delete segments and journal entries no manifest needs, once old enough that no
        process still about to open them would (one that holds them open keeps reading)."""
        keep = set(manifest["segments"])
        cutoff = time.time() - GRACE_SECONDS
        seq = int(manifest["cursor"][0])
        old: list[Path] = []
        if self.segments_dir.is_dir():
            old += [p for p in self.segments_dir.iterdir() if p.name not in keep]
        if self.journal is not None:
            old += self.journal.entries_before(seq)
        for p in old:
            try:
                if p.stat().st_mtime < cutoff:
                    shutil.rmtree(p, ignore_errors=True)
            except OSError:
                pass

    @contextmanager
    def lock(self) -> Iterator[bool]:
        """True while this process holds the index's compaction lock; False when another
        process does."""
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
