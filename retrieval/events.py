"""The chat events already handled, in SQLite in the data directory (`events.sqlite3`).

Slack redelivers an event it thinks went unheard, and two replicas, or one process before and
after a restart, may each receive it. Whichever process claims the event first answers it: the
claim is an INSERT that the primary key allows once, so every process sharing the file agrees.
Claims expire after `KEEP` (Slack's last retry comes about five minutes after the event) and are
then deleted.
Nothing here knows a chat platform: a key is any string ("<platform>/<channel>/<message id>").
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

from retrieval import datadir

KEEP = timedelta(days=1)
PRUNE_EVERY_S = 60.0  # how often a process deletes expired claims
BUSY_TIMEOUT_S = 10.0  # how long a claim waits for another process's write

_SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    claimed_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS claims_by_time ON claims (claimed_at);
"""


class SeenEvents:
    """Events claimed by any process using the same file; `claim()` is True exactly once."""

    def __init__(self, path: Path, keep: timedelta = KEEP) -> None:
        self.path = Path(path)
        self.keep = keep.total_seconds()
        self._lock = threading.Lock()
        self._pruned = 0.0
        # Chat ids are private: the folder and file are the owner's alone.
        self.db = datadir.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        datadir.use_wal(self.db)
        self.db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> SeenEvents:
        return cls(Path(data_dir) / "events.sqlite3")

    def claim(self, key: str, now: float | None = None) -> bool:
        """True if `key` is new: the caller handles the event. False if any process has."""
        now = time.time() if now is None else now
        with self._lock:
            if now - self._pruned > PRUNE_EVERY_S:
                self.db.execute("DELETE FROM claims WHERE claimed_at < ?", (now - self.keep,))
                self._pruned = now
            # One statement, so that no other process can come between the look and the claim;
            # a claim older than `keep` is taken over (changed rows: 1), a live one is not (0).
            cursor = self.db.execute(
                "INSERT INTO claims (key, claimed_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET claimed_at = excluded.claimed_at WHERE claimed_at < ?",
                (key, now, now - self.keep),
            )
            return cursor.rowcount == 1

    def close(self) -> None:
        self.db.close()
