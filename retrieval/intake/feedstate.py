"""A feed's items and what became of each, kept in SQLite in the data directory
(`feeds.sqlite3`): per feed, its validators (ETag, Last-Modified) and last error; per item,
whether it was ingested, or how often it failed and why. Reading feeds is
retrieval/intake/feeds.py's.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrieval.datadir import connect
from retrieval.errors import SettingsError


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed: what is needed to fetch its page and to fill in what it lacks."""

    key: str  # the entry's id (guid), else its link
    link: str
    title: str
    published: str | None  # ISO date, from the feed
    source: str  # the feed's title
    author: str

    def to_json(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> FeedItem:
        return cls(**json.loads(text))


# -- state --------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT,
    checked_at TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS items (
    feed TEXT NOT NULL,
    key TEXT NOT NULL,
    item TEXT NOT NULL,          -- the FeedItem as JSON, so a retry needs no feed
    status TEXT NOT NULL,        -- pending | ingested | abandoned
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    article_id TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (feed, key)
);
"""


class FeedState:
    """Validators per feed and the fate of each item, in SQLite (safe across processes)."""

    def __init__(self, path: Path) -> None:
        # Feed URLs and errors are the team's business: a new folder and the file are private
        # (SQLite gives its journal files the database's mode). A data directory that is a
        # file, or that cannot be written, is a SettingsError naming it (no traceback).
        self.path = path
        self._lock = threading.Lock()
        self.db = connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self.db.executescript(_SCHEMA)
        except sqlite3.OperationalError as exc:  # e.g. a read-only file or folder
            self.db.close()
            raise SettingsError(f"BRIEFBOT_DATA_DIR: cannot write {path} ({exc})") from None

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> FeedState:
        return cls(Path(data_dir) / "feeds.sqlite3")

    def close(self) -> None:
        self.db.close()

    def validators(self, feed: str) -> dict[str, str]:
        with self._lock:
            row = self.db.execute(
                "SELECT etag, last_modified FROM feeds WHERE url = ?", (feed,)
            ).fetchone()
        headers = {}
        if row and row[0]:
            headers["If-None-Match"] = row[0]
        if row and row[1]:
            headers["If-Modified-Since"] = row[1]
        return headers

    def checked(self, feed: str, etag: str | None, last_modified: str | None) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO feeds (url, etag, last_modified, checked_at, error) "
                "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (url) DO UPDATE SET "
                "etag = excluded.etag, last_modified = excluded.last_modified, "
                "checked_at = excluded.checked_at, error = NULL",
                (feed, etag, last_modified, _now()),
            )

    def feed_failed(self, feed: str, error: str) -> None:
        with self._lock:
            self.db.execute(
                "INSERT INTO feeds (url, checked_at, error) VALUES (?, ?, ?) "
                "ON CONFLICT (url) DO UPDATE SET checked_at = excluded.checked_at, "
                "error = excluded.error",
                (feed, _now(), error),
            )

    def add_new(self, feed: str, items: Iterable[FeedItem]) -> list[FeedItem]:
        """Record the items not seen before as pending; returns them."""
        new = []
        with self._lock:
            for item in items:
                cur = self.db.execute(
                    "INSERT OR IGNORE INTO items (feed, key, item, status, updated_at) "
                    "VALUES (?, ?, ?, 'pending', ?)",
                    (feed, item.key, item.to_json(), _now()),
                )
                if cur.rowcount:
                    new.append(item)
        return new

    def pending(self, feed: str) -> list[tuple[FeedItem, int]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT item, attempts FROM items WHERE feed = ? AND status = 'pending' "
                "ORDER BY rowid",
                (feed,),
            ).fetchall()
        return [(FeedItem.from_json(item), attempts) for item, attempts in rows]

    def ingested(self, feed: str, item: FeedItem, article_id: str) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE items SET status = 'ingested', article_id = ?, error = NULL, "
                "updated_at = ? WHERE feed = ? AND key = ?",
                (article_id, _now(), feed, item.key),
            )

    def item_failed(self, feed: str, item: FeedItem, error: str, give_up: bool) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE items SET attempts = attempts + 1, error = ?, updated_at = ?, "
                "status = CASE WHEN ? THEN 'abandoned' ELSE status END "
                "WHERE feed = ? AND key = ?",
                (error, _now(), give_up, feed, item.key),
            )

    def summary(self) -> list[dict[str, Any]]:
        """Each feed: when it was last checked, its last error, and its items by status."""
        with self._lock:
            feeds = self.db.execute(
                "SELECT url, checked_at, error FROM feeds ORDER BY url"
            ).fetchall()
            counts = self.db.execute(
                "SELECT feed, status, COUNT(*) FROM items GROUP BY feed, status"
            ).fetchall()
        items: dict[str, dict[str, int]] = {}
        for feed, status, n in counts:
            items.setdefault(feed, {})[status] = n
        return [
            {"url": url, "checked_at": checked, "error": error, "items": items.get(url, {})}
            for url, checked, error in feeds
        ]

    def status(self, feed: str) -> dict[str, int]:
        with self._lock:
            rows = self.db.execute(
                "SELECT status, COUNT(*) FROM items WHERE feed = ? GROUP BY status", (feed,)
            ).fetchall()
        return dict(rows)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
