"""Bounded memory (BRIEFBOT_INDEX_MAX_CHUNKS): which weeks of a manifest a process holds.

A process holds the newest weeks that fit in `max_chunks` rows (the newest week always, and
undated articles count as the oldest); the rest stay on disk, and a question about days before
the `horizon` is answered from Chroma's own nearest-neighbour search instead (with a server:
`LiveIndex.store_tier`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from retrieval.index.segment import Segment
from retrieval.index.store import NO_DATE


class MemoryBound:
    def __init__(self, max_chunks: int) -> None:
        self.max_chunks = max_chunks  # 0: no bound
        self.horizon: int | None = None  # days before it are not held here
        self.unheld: dict[str, dict[str, Any]] = {}  # the manifest's segments left on disk
        self.undated_held = True

    def choose(self, manifest: dict[str, Any]) -> list[str]:
        """The manifest's segments to hold: all of them, or with a bound the newest weeks that
        fit. The others are noted as left on disk."""
        metas = [(name, manifest["info"][name]) for name in manifest["segments"]]
        metas.sort(key=lambda m: -int(m[1]["max_day"]))
        self.horizon, self.unheld, self.undated_held = None, {}, True
        held: list[str] = []
        rows = 0
        for name, info in metas:
            if self.max_chunks and held and rows + int(info["rows"]) > self.max_chunks:
                self._leave(name, info)
                continue
            rows += int(info["rows"])
            held.append(name)
        return held

    def over(self, held: Iterable[Segment], manifest: dict[str, Any]) -> list[Segment]:
        """With a bound, the oldest weeks of this manifest to let go while more rows than
        that are held (the newest week is always held); they are noted as left on disk."""
        if not self.max_chunks:
            return []
        segs = list(held)
        rows = sum(s.n_rows for s in segs)
        weeks = [s for s in segs if s.weeks is not None]
        out = []
        for seg in sorted(weeks, key=lambda s: s.max_day)[:-1]:
            if rows <= self.max_chunks:
                break
            if seg.name not in manifest["segments"]:
                continue
            out.append(seg)
            self._leave(seg.name, manifest["info"][seg.name])
            rows -= seg.n_rows
        return out

    def holds(self, day: int) -> bool:
        """Whether articles of this publication day (NO_DATE: undated) are held here."""
        return self.undated_held if day == NO_DATE else day >= (self.horizon or 0)

    def _leave(self, name: str, info: dict[str, Any]) -> None:
        self.unheld[name] = info
        if int(info["max_day"]) == NO_DATE:
            self.undated_held = False
        else:
            self.horizon = max(self.horizon or NO_DATE, int(info["max_day"]) + 1)
