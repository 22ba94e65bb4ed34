"""What the schedules did, in SQLite in the data directory (`schedules.sqlite3`), shared by
every process: when each schedule was first seen, which briefings were claimed (an INSERT that
a UNIQUE key allows once per schedule, platform and fire time) and posted, and the articles
they held. The scheduler (retrieval/news/schedule.py) decides what to post.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from retrieval import datadir

log = logging.getLogger(__name__)
# -- state --------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    schedule TEXT NOT NULL,
    platform TEXT NOT NULL,
    first_seen TEXT NOT NULL,     -- fire times before this are not owed
    PRIMARY KEY (schedule, platform)
);
CREATE TABLE IF NOT EXISTS briefings (
    schedule TEXT NOT NULL,
    platform TEXT NOT NULL,
    window_end TEXT NOT NULL,     -- the fire time, UTC ISO: the same in every process
    window_start TEXT NOT NULL,
    status TEXT NOT NULL,         -- claimed | posted
    owner TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    posted_at TEXT,
    article_ids TEXT NOT NULL DEFAULT '[]',  -- the stories' articles: not repeated next time
    UNIQUE (schedule, platform, window_end)
);
"""


@dataclass(frozen=True)
class Claim:
    schedule: str
    platform: str
    since: datetime
    until: datetime


class ScheduleState:
    """Which briefings were claimed and posted; one SQLite file shared by every process."""

    def __init__(self, path: Path, owner: str | None = None) -> None:
        self.path = path
        self.owner = owner or datadir.owner_id()
        self._lock = threading.Lock()
        self.db = datadir.shared_db(path, _SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str, owner: str | None = None) -> ScheduleState:
        return cls(Path(data_dir) / "schedules.sqlite3", owner)

    def close(self) -> None:
        self.db.close()

    def first_seen(self, schedule: str, platform: str, now: datetime) -> datetime:
        with self._lock:
            self.db.execute(
                "INSERT OR IGNORE INTO schedules (schedule, platform, first_seen) VALUES (?, ?, ?)",
                (schedule, platform, _iso(now)),
            )
            (seen,) = self.db.execute(
                "SELECT first_seen FROM schedules WHERE schedule = ? AND platform = ?",
                (schedule, platform),
            ).fetchone()
        return datetime.fromisoformat(seen)

    def last(
        self, schedule: str, platform: str, posted: bool = False
    ) -> tuple[datetime, str] | None:
        """The end and status (claimed, posted) of the latest briefing, or of the latest one
        posted."""
        with self._lock:
            row = self.db.execute(
                "SELECT window_end, status FROM briefings WHERE schedule = ? AND platform = ? "
                + ("AND status = 'posted' " if posted else "")
                + "ORDER BY window_end DESC LIMIT 1",
                (schedule, platform),
            ).fetchone()
        return (datetime.fromisoformat(row[0]), row[1]) if row else None

    def claim(
        self,
        schedule: str,
        platform: str,
        until: datetime,
        since: datetime,
        now: datetime,
        ttl: timedelta,
    ) -> Claim | None:
        """Claim the briefing ending at `until`; None if another process has it."""
        with self._lock:
            try:
                self.db.execute(
                    "INSERT INTO briefings (schedule, platform, window_end, window_start, "
                    "status, owner, claimed_at) VALUES (?, ?, ?, ?, 'claimed', ?, ?)",
                    (schedule, platform, _iso(until), _iso(since), self.owner, _iso(now)),
                )
                return Claim(schedule, platform, since, until)
            except sqlite3.IntegrityError:
                pass
            # Taken: unless by a process that died before posting (its claim has expired).
            cur = self.db.execute(
                "UPDATE briefings SET owner = ?, claimed_at = ? WHERE schedule = ? AND "
                "platform = ? AND window_end = ? AND status = 'claimed' AND claimed_at < ?",
                (self.owner, _iso(now), schedule, platform, _iso(until), _iso(now - ttl)),
            )
            if cur.rowcount != 1:
                return None
            (start,) = self.db.execute(
                "SELECT window_start FROM briefings WHERE schedule = ? AND platform = ? "
                "AND window_end = ?",
                (schedule, platform, _iso(until)),
            ).fetchone()
        log.warning("took over the expired claim on %s/%s at %s", schedule, platform, until)
        return Claim(schedule, platform, datetime.fromisoformat(start), until)

    def posted(self, claim: Claim, now: datetime, article_ids: Iterable[str]) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE briefings SET status = 'posted', posted_at = ?, article_ids = ? "
                "WHERE schedule = ? AND platform = ? AND window_end = ? AND owner = ?",
                (
                    _iso(now),
                    json.dumps(sorted(set(article_ids))),
                    claim.schedule,
                    claim.platform,
                    _iso(claim.until),
                    self.owner,
                ),
            )

    def release(self, claim: Claim) -> None:
        """Give a claim back (posting failed): the next round, in any process, tries again."""
        with self._lock:
            self.db.execute(
                "DELETE FROM briefings WHERE schedule = ? AND platform = ? AND window_end = ? "
                "AND owner = ? AND status = 'claimed'",
                (claim.schedule, claim.platform, _iso(claim.until), self.owner),
            )

    def release_mine(self) -> int:
        """Give back every claim of this process not yet posted; how many there were."""
        with self._lock:
            cur = self.db.execute(
                "DELETE FROM briefings WHERE owner = ? AND status = 'claimed'", (self.owner,)
            )
        return cur.rowcount

    def summary(self) -> list[dict[str, Any]]:
        """Each schedule and platform: its last briefing posted, and any claim not posted yet
        (a briefing being posted, or left by a process that died)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT s.schedule, s.platform, s.first_seen, "
                "(SELECT MAX(window_end) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'posted'), "
                "(SELECT MAX(posted_at) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'posted'), "
                "(SELECT COUNT(*) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'claimed'), "
                "(SELECT MIN(claimed_at) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'claimed') "
                "FROM schedules s ORDER BY s.schedule, s.platform"
            ).fetchall()
        keys = (
            "schedule",
            "platform",
            "since",
            "last_until",
            "last_posted_at",
            "claimed",
            "oldest_claim",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def recently_posted(self, schedule: str, platform: str, since: datetime) -> set[str]:
        """Articles in this schedule's briefings that ended after `since`."""
        with self._lock:
            rows = self.db.execute(
                "SELECT article_ids FROM briefings WHERE schedule = ? AND platform = ? "
                "AND status = 'posted' AND window_end > ?",
                (schedule, platform, _iso(since)),
            ).fetchall()
        return {i for (ids,) in rows for i in json.loads(ids)}

    def history(self, schedule: str, platform: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT window_start, window_end, status, owner FROM briefings "
                "WHERE schedule = ? AND platform = ? ORDER BY window_end",
                (schedule, platform),
            ).fetchall()
        return [dict(zip(("since", "until", "status", "owner"), r, strict=True)) for r in rows]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
