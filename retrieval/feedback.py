"""Feedback votes from every front end, in one small SQLite database in the data directory."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrieval import datadir

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    user_id TEXT NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    article_ids TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""


@dataclass(frozen=True)
class Vote:
    platform: str
    user_id: str
    vote: int  # +1 or -1
    question: str
    answer: str
    article_ids: tuple[str, ...]
    created_at: str


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FeedbackStore:
        return cls(Path(data_dir) / "feedback.sqlite3")

    def _connect(self) -> sqlite3.Connection:
        return datadir.connect(self.path, timeout=10)

    def record(
        self,
        *,
        platform: str,
        user_id: str,
        vote: int,
        question: str,
        answer: str,
        article_ids: list[str] | tuple[str, ...],
        when: datetime | None = None,
    ) -> Vote:
        if vote not in (1, -1):
            raise ValueError(f"vote must be 1 or -1, got {vote!r}")
        created = (when or datetime.now(UTC)).isoformat(timespec="seconds")
        row = Vote(platform, user_id, vote, question, answer, tuple(article_ids), created)
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO feedback (platform, user_id, vote, question, answer, article_ids,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (platform, user_id, vote, question, answer, json.dumps(list(article_ids)), created),
            )
        return row

    def list(self, limit: int = 100) -> list[Vote]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT platform, user_id, vote, question, answer, article_ids, created_at"
                " FROM feedback ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Vote(p, u, v, q, a, tuple(json.loads(ids)), c) for p, u, v, q, a, ids, c in rows]
