"""What the follows did, in SQLite in the data directory (`follows.sqlite3`), shared by every
process and surviving restarts:

- `follows`: each channel's followed topics (UNIQUE per platform, channel and normalized key),
  with the commit cursor each one has read up to and a lease, so that one process at a time
  works a follow (another takes over when the lease expires: its process died);
- `developments`: per follow, every development found, whether posted, held or only recorded
  as told (a copy or a repeat of one told): its article version (UNIQUE: an INSERT allows each
  once, even with two replicas racing), its cited sentences and the article's vector, which
  are what the next development is compared with. A development being posted is claimed by
  its process (a claim of a dead process expires after a TTL; a failed post releases it);
- `posts`: each post made (or a slot reserved for one), for the channel-wide hourly limit;
- `errors`: the last error per platform, for the health report.

The follower (retrieval/news/follow.py) decides what to post.

(Over 400 lines, one piece: each method is one of the statements the tables' rules need, and
they rely on one another's statuses: a claim, its release, a post and a process's shutdown.)
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from retrieval import datadir

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,            -- the normalized topic
    topic TEXT NOT NULL,
    digest TEXT,                  -- NULL | hourly | daily
    since TEXT,                   -- ISO date
    created_at TEXT NOT NULL,
    created_by TEXT,
    last_posted_at TEXT,
    thread TEXT,
    cursor_seq INTEGER NOT NULL,  -- commits up to (seq, part) have been read for this follow
    cursor_part INTEGER NOT NULL,
    backfill INTEGER NOT NULL DEFAULT 0,  -- 1: articles since `since` not yet considered
    lease_owner TEXT,
    lease_until TEXT,
    UNIQUE (platform, channel, key)
);
CREATE TABLE IF NOT EXISTS developments (
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    article_id TEXT NOT NULL,
    version TEXT NOT NULL,        -- the article's content hash: a correction is another version
    status TEXT NOT NULL,         -- pending | claimed | posted | told (a copy, a repeat)
    owner TEXT,
    claimed_at TEXT,
    found_at TEXT NOT NULL,
    held_at TEXT,                 -- when it was first held back (hourly limit, quiet hours)
    posted_at TEXT,
    source TEXT NOT NULL DEFAULT '',
    sentences TEXT NOT NULL DEFAULT '[]',  -- the cited sentences: what the channel was told
    vector BLOB,                  -- the article's vector (float32)
    payload TEXT NOT NULL DEFAULT '{}',    -- the Development, as JSON
    UNIQUE (platform, channel, key, article_id, version)
);
CREATE INDEX IF NOT EXISTS developments_follow ON developments (platform, channel, key, status);
CREATE TABLE IF NOT EXISTS posts (
    platform TEXT NOT NULL,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    at TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL          -- reserved | posted
);
CREATE INDEX IF NOT EXISTS posts_channel ON posts (platform, channel, at);
CREATE TABLE IF NOT EXISTS errors (
    platform TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    message TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0
);
"""

_FOLLOW_COLUMNS = (
    "platform, channel, key, topic, digest, since, created_at, created_by, last_posted_at, "
    "thread, cursor_seq, cursor_part, backfill"
)


@dataclass(frozen=True)
class Follow:
    """A channel's followed topic, as the front ends show it."""

    platform: str
    channel: str
    topic: str
    key: str  # the topic folded (case, accents, spaces): what /unfollow finds it by
    digest: str | None
    since: date | None
    created_at: datetime
    created_by: str | None
    last_posted_at: datetime | None
    thread: str | None


@dataclass(frozen=True)
class FollowRow(Follow):
    """A follow as stored: the Follow, and where it has read up to."""

    cursor: tuple[int, int]
    backfill: bool

    @property
    def where(self) -> tuple[str, str, str]:
        return self.platform, self.channel, self.key


@dataclass(frozen=True)
class Told:
    """A development found for a follow: posted, pending, or recorded as told."""

    rowid: int
    article_id: str
    version: str
    status: str
    source: str
    sentences: list[str]
    vector: np.ndarray | None
    found_at: datetime
    held_at: datetime | None
    payload: dict[str, Any]
    claimed_at: datetime | None = None


class FollowState:
    """The follows, what each channel was told, claims and posts; one SQLite file shared by
    every process."""

    def __init__(self, path: Path, owner: str | None = None) -> None:
        self.path = path
        self.owner = owner or datadir.owner_id()
        self._lock = threading.Lock()
        self.db = datadir.shared_db(path, _SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str, owner: str | None = None) -> FollowState:
        return cls(Path(data_dir) / "follows.sqlite3", owner)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction that holds the database's write lock from its start: a count and
        the insert it allows happen together, across processes."""
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    # -- follows ----------------------------------------------------------------------------
    def add(
        self,
        platform: str,
        channel: str,
        key: str,
        topic: str,
        digest: str | None,
        since: date | None,
        now: datetime,
        by: str | None,
        cursor: tuple[int, int],
        limit: int,
    ) -> tuple[FollowRow, bool] | None:
        """Follow `key` in the channel, or update its digest and start date when it is followed
        already (created False). None: the channel follows `limit` topics already."""
        with self._write() as db:
            old = db.execute(
                "SELECT 1 FROM follows WHERE platform = ? AND channel = ? AND key = ?",
                (platform, channel, key),
            ).fetchone()
            if old is None:
                (n,) = db.execute(
                    "SELECT COUNT(*) FROM follows WHERE platform = ? AND channel = ?",
                    (platform, channel),
                ).fetchone()
                if n >= limit:
                    return None
                db.execute(
                    f"INSERT INTO follows ({_FOLLOW_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
                    (
                        platform,
                        channel,
                        key,
                        topic,
                        digest,
                        since.isoformat() if since else None,
                        _iso(now),
                        by,
                        cursor[0],
                        cursor[1],
                        int(since is not None),
                    ),
                )
            else:
                db.execute(
                    "UPDATE follows SET digest = ?, since = ?, backfill = ? "
                    "WHERE platform = ? AND channel = ? AND key = ?",
                    (
                        digest,
                        since.isoformat() if since else None,
                        int(since is not None),
                        platform,
                        channel,
                        key,
                    ),
                )
            row = self._get(db, platform, channel, key)
        assert row is not None
        return row, old is None

    def get(self, platform: str, channel: str, key: str) -> FollowRow | None:
        with self._lock:
            return self._get(self.db, platform, channel, key)

    @staticmethod
    def _get(db: sqlite3.Connection, platform: str, channel: str, key: str) -> FollowRow | None:
        row = db.execute(
            f"SELECT {_FOLLOW_COLUMNS} FROM follows WHERE platform = ? AND channel = ? AND key = ?",
            (platform, channel, key),
        ).fetchone()
        return _follow(row) if row else None

    def remove(self, platform: str, channel: str, key: str) -> FollowRow | None:
        """Stop following; what the channel was told of it goes too (a new follow starts
        afresh, from the commits after it)."""
        with self._write() as db:
            row = self._get(db, platform, channel, key)
            if row is None:
                return None
            for table in ("follows", "developments"):
                db.execute(
                    f"DELETE FROM {table} WHERE platform = ? AND channel = ? AND key = ?",
                    (platform, channel, key),
                )
        return row

    def follows(self, platform: str | None = None, channel: str | None = None) -> list[FollowRow]:
        """Oldest first."""
        where, args = [], []
        if platform is not None:
            where.append("platform = ?")
            args.append(platform)
        if channel is not None:
            where.append("channel = ?")
            args.append(channel)
        sql = f"SELECT {_FOLLOW_COLUMNS} FROM follows"
        sql += (" WHERE " + " AND ".join(where)) if where else ""
        with self._lock:
            rows = self.db.execute(sql + " ORDER BY created_at, rowid", args).fetchall()
        return [_follow(r) for r in rows]

    def lease(self, where: tuple[str, str, str], now: datetime, ttl: timedelta) -> bool:
        """Work this follow for `ttl` (renewed each round): False while another process does."""
        with self._lock:
            cur = self.db.execute(
                "UPDATE follows SET lease_owner = ?, lease_until = ? WHERE platform = ? AND "
                "channel = ? AND key = ? AND (lease_owner IS NULL OR lease_owner = ? OR "
                "lease_until < ?)",
                (self.owner, _iso(now + ttl), *where, self.owner, _iso(now)),
            )
        return cur.rowcount == 1

    def advance(self, where: tuple[str, str, str], cursor: tuple[int, int]) -> None:
        """The follow has read every commit up to `cursor` (and its start date's articles)."""
        with self._lock:
            self.db.execute(
                "UPDATE follows SET cursor_seq = ?, cursor_part = ?, backfill = 0 "
                "WHERE platform = ? AND channel = ? AND key = ? AND lease_owner = ?",
                (*cursor, *where, self.owner),
            )

    def posted_to(self, where: tuple[str, str, str], now: datetime, thread: str | None) -> None:
        """A post went out: when, and the topic's thread if it had none."""
        with self._lock:
            self.db.execute(
                "UPDATE follows SET last_posted_at = ?, thread = COALESCE(thread, ?) "
                "WHERE platform = ? AND channel = ? AND key = ?",
                (_iso(now), thread, *where),
            )

    # -- developments -------------------------------------------------------------------------
    def record(
        self,
        where: tuple[str, str, str],
        article_id: str,
        version: str,
        status: str,
        now: datetime,
        source: str,
        sentences: Sequence[str],
        vector: np.ndarray | None,
        payload: dict[str, Any],
    ) -> bool:
        """Record a development (`pending`: to post; `told`: a copy or repeat, never posted).
        False if this version was recorded already, by this process or another."""
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        with self._lock:
            try:
                self.db.execute(
                    "INSERT INTO developments (platform, channel, key, article_id, version, "
                    "status, found_at, source, sentences, vector, payload) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        *where,
                        article_id,
                        version,
                        status,
                        _iso(now),
                        source,
                        json.dumps(list(sentences)),
                        blob,
                        json.dumps(payload),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def known(self, where: tuple[str, str, str], article_id: str, version: str) -> bool:
        with self._lock:
            row = self.db.execute(
                "SELECT 1 FROM developments WHERE platform = ? AND channel = ? AND key = ? "
                "AND article_id = ? AND version = ?",
                (*where, article_id, version),
            ).fetchone()
        return row is not None

    def told(self, where: tuple[str, str, str], statuses: Sequence[str] = ()) -> list[Told]:
        """The follow's developments (those of `statuses`; all by default), oldest first."""
        sql = (
            "SELECT rowid, article_id, version, status, source, sentences, vector, found_at, "
            "held_at, payload, claimed_at FROM developments "
            "WHERE platform = ? AND channel = ? AND key = ?"
        )
        args: list[Any] = list(where)
        if statuses:
            sql += f" AND status IN ({', '.join('?' * len(statuses))})"
            args += list(statuses)
        with self._lock:
            rows = self.db.execute(sql + " ORDER BY found_at, rowid", args).fetchall()
        return [
            Told(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                json.loads(r[5]),
                np.frombuffer(r[6], dtype=np.float32) if r[6] is not None else None,
                datetime.fromisoformat(r[7]),
                datetime.fromisoformat(r[8]) if r[8] else None,
                json.loads(r[9]),
                datetime.fromisoformat(r[10]) if r[10] else None,
            )
            for r in rows
        ]

    def pending(self, where: tuple[str, str, str], now: datetime, ttl: timedelta) -> list[Told]:
        """Developments to post: pending, or claimed by a process that died (expired)."""
        stale = now - ttl
        return [
            t
            for t in self.told(where, ("pending", "claimed"))
            if t.status == "pending" or (t.claimed_at is not None and t.claimed_at < stale)
        ]

    def waiting(self, platform: str) -> set[tuple[str, str]]:
        """The (channel, key) of each follow with developments not posted yet."""
        with self._lock:
            rows = self.db.execute(
                "SELECT DISTINCT channel, key FROM developments WHERE platform = ? AND status IN "
                "('pending', 'claimed')",
                (platform,),
            ).fetchall()
        return {(c, k) for c, k in rows}

    def update_payload(self, rowid: int, payload: dict[str, Any]) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE developments SET payload = ? WHERE rowid = ?", (json.dumps(payload), rowid)
            )

    def hold(self, rowids: Sequence[int], now: datetime) -> int:
        """Held back (the hourly limit, quiet hours): how many were not held before."""
        with self._lock:
            cur = self.db.execute(
                f"UPDATE developments SET held_at = ? WHERE held_at IS NULL AND rowid IN "
                f"({', '.join('?' * len(rowids))})",
                (_iso(now), *rowids),
            )
        return cur.rowcount

    def claim(self, rowids: Sequence[int], now: datetime, ttl: timedelta) -> bool:
        """Claim these developments for one post, all or none: False if another process has
        any of them (posted, or claimed and not expired)."""
        marks = ", ".join("?" * len(rowids))
        try:
            with self._write() as db:
                cur = db.execute(
                    f"UPDATE developments SET status = 'claimed', owner = ?, claimed_at = ? "
                    f"WHERE rowid IN ({marks}) AND (status = 'pending' OR "
                    f"(status = 'claimed' AND claimed_at < ?))",
                    (self.owner, _iso(now), *rowids, _iso(now - ttl)),
                )
                if cur.rowcount != len(rowids):
                    raise _Taken
        except _Taken:
            return False
        return True

    def posted(self, rowids: Sequence[int], now: datetime) -> None:
        with self._lock:
            self.db.execute(
                f"UPDATE developments SET status = 'posted', posted_at = ? WHERE owner = ? AND "
                f"status = 'claimed' AND rowid IN ({', '.join('?' * len(rowids))})",
                (_iso(now), self.owner, *rowids),
            )

    def release(self, rowids: Sequence[int]) -> None:
        """Give claims back (posting failed): the next round, in any process, tries again."""
        with self._lock:
            self.db.execute(
                f"UPDATE developments SET status = 'pending', owner = NULL, claimed_at = NULL "
                f"WHERE owner = ? AND status = 'claimed' AND rowid IN "
                f"({', '.join('?' * len(rowids))})",
                (self.owner, *rowids),
            )

    # -- posts: the channel-wide limit --------------------------------------------------------
    def reserve(self, where: tuple[str, str, str], now: datetime, per_hour: int) -> int | None:
        """A slot for one post in the channel, if fewer than `per_hour` were made (or
        reserved) in the hour before `now`; its id, or None."""
        platform, channel, key = where
        with self._write() as db:
            (n,) = db.execute(
                "SELECT COUNT(*) FROM posts WHERE platform = ? AND channel = ? AND at > ?",
                (platform, channel, _iso(now - timedelta(hours=1))),
            ).fetchone()
            if n >= per_hour:
                return None
            cur = db.execute(
                "INSERT INTO posts (platform, channel, key, at, owner, status) "
                "VALUES (?, ?, ?, ?, ?, 'reserved')",
                (platform, channel, key, _iso(now), self.owner),
            )
        return int(cur.lastrowid or 0)

    def slot_used(self, slot: int) -> None:
        with self._lock:
            self.db.execute("UPDATE posts SET status = 'posted' WHERE rowid = ?", (slot,))

    def slot_unused(self, slot: int) -> None:
        with self._lock:
            self.db.execute("DELETE FROM posts WHERE rowid = ? AND status = 'reserved'", (slot,))

    # -- errors, shutdown, health -------------------------------------------------------------
    def error(self, platform: str, message: str, now: datetime) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO errors (platform, at, message, count) VALUES (?, ?, ?, 1) "
                "ON CONFLICT (platform) DO UPDATE SET at = excluded.at, "
                "message = excluded.message, count = count + 1",
                (platform, _iso(now), message[:300]),
            )

    def release_mine(self) -> int:
        """Give back every claim, reserved slot and lease of this process; how many
        developments were claimed and not posted."""
        with self._lock:
            cur = self.db.execute(
                "UPDATE developments SET status = 'pending', owner = NULL, claimed_at = NULL "
                "WHERE owner = ? AND status = 'claimed'",
                (self.owner,),
            )
            self.db.execute(
                "DELETE FROM posts WHERE owner = ? AND status = 'reserved'", (self.owner,)
            )
            self.db.execute(
                "UPDATE follows SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (self.owner,),
            )
        return cur.rowcount

    def summary(self) -> dict[str, Any]:
        """Per platform: follows, developments waiting (pending or claimed), posts, the oldest
        claim not posted, and the last error."""
        with self._lock:
            follows = dict(
                self.db.execute("SELECT platform, COUNT(*) FROM follows GROUP BY platform")
            )
            waiting = dict(
                self.db.execute(
                    "SELECT platform, COUNT(*) FROM developments WHERE status IN "
                    "('pending', 'claimed') GROUP BY platform"
                )
            )
            posted = dict(
                self.db.execute(
                    "SELECT platform, COUNT(*) FROM posts WHERE status = 'posted' GROUP BY platform"
                )
            )
            claims = dict(
                self.db.execute(
                    "SELECT platform, MIN(claimed_at) FROM developments WHERE status = 'claimed' "
                    "GROUP BY platform"
                )
            )
            errors = {
                p: {"at": at, "message": m, "count": n}
                for p, at, m, n in self.db.execute(
                    "SELECT platform, at, message, count FROM errors"
                )
            }
        platforms = sorted(set(follows) | set(waiting) | set(posted) | set(errors))
        return {
            p: {
                "follows": follows.get(p, 0),
                "waiting": waiting.get(p, 0),
                "posts": posted.get(p, 0),
                "oldest_claim": claims.get(p),
                "last_error": errors.get(p),
            }
            for p in platforms
        }


class _Taken(Exception):  # noqa: N818
    """Another process has one of the developments being claimed."""


def _follow(r: Sequence[Any]) -> FollowRow:
    return FollowRow(
        platform=r[0],
        channel=r[1],
        key=r[2],
        topic=r[3],
        digest=r[4],
        since=date.fromisoformat(r[5]) if r[5] else None,
        created_at=datetime.fromisoformat(r[6]),
        created_by=r[7],
        last_posted_at=datetime.fromisoformat(r[8]) if r[8] else None,
        thread=r[9],
        cursor=(int(r[10]), int(r[11])),
        backfill=bool(r[12]),
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
