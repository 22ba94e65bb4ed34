"""Feedback votes from every front end, in one small SQLite database in the data directory."""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from retrieval import datadir
from retrieval.errors import BriefbotError

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    platform TEXT NOT NULL,
    user_id TEXT NOT NULL,
    vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    article_ids TEXT NOT NULL,
    created_at TEXT NOT NULL,
    answer_key TEXT
)
"""
# Answers kept for votes to come, for buttons that can carry only a short id (Discord's).
ANSWERS = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    article_ids TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""
# One vote per person on a kept answer; votes without a key (NULL) never clash.
ONE_VOTE = """
CREATE UNIQUE INDEX IF NOT EXISTS feedback_one_vote ON feedback (platform, user_id, answer_key)
"""


class AlreadyVoted(BriefbotError):
    """This person has voted on this answer before."""


class UnknownAnswer(BriefbotError):
    """A vote on an answer key that is not on record."""


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
            db.execute(ANSWERS)
            columns = {row[1] for row in db.execute("PRAGMA table_info(feedback)")}
            if "answer_key" not in columns:  # a database from before answer keys: keep its votes
                try:
                    db.execute("ALTER TABLE feedback ADD COLUMN answer_key TEXT")
                except sqlite3.OperationalError as exc:
                    if "duplicate column" not in str(exc):  # else another process added it
                        raise
            db.execute(ONE_VOTE)

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
        row = _vote(platform, user_id, vote, question, answer, article_ids, when)
        with self._lock, self._connect() as db:
            _insert(db, row, None)
        return row

    def remember(
        self, question: str, answer: str, article_ids: Sequence[str], key: str | None = None
    ) -> str:
        """Keep an answer to be voted on later; returns its key: a new one (16 hex digits), or
        `key`, under which an answer asked again (its button outlived the process) is kept,
        unless one is there already."""
        key = key or secrets.token_hex(8)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO answers (key, question, answer, article_ids, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, question, answer, json.dumps(list(article_ids)), created),
            )
        return key

    def vote_on(self, key: str, *, platform: str, user_id: str, vote: int) -> Vote:
        """Record a vote on an answer kept by `remember`, once per person.

        Raises UnknownAnswer for a key not on record, AlreadyVoted for a second vote.
        """
        with self._lock, self._connect() as db:
            kept = db.execute(
                "SELECT question, answer, article_ids FROM answers WHERE key = ?", (key,)
            ).fetchone()
            if kept is None:
                raise UnknownAnswer("This answer is no longer on record: the vote can't count.")
            question, answer, ids = kept
            row = _vote(platform, user_id, vote, question, answer, json.loads(ids), None)
            try:
                _insert(db, row, key)
            except sqlite3.IntegrityError:  # the unique index: this person voted on it already
                raise AlreadyVoted("You have already rated this answer.") from None
        return row

    def list(self, limit: int = 100) -> list[Vote]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT platform, user_id, vote, question, answer, article_ids, created_at"
                " FROM feedback ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Vote(p, u, v, q, a, tuple(json.loads(ids)), c) for p, u, v, q, a, ids, c in rows]


def _vote(
    platform: str,
    user_id: str,
    vote: int,
    question: str,
    answer: str,
    article_ids: Sequence[str],
    when: datetime | None,
) -> Vote:
    if vote not in (1, -1):
        raise ValueError(f"vote must be 1 or -1, got {vote!r}")
    created = (when or datetime.now(UTC)).isoformat(timespec="seconds")
    return Vote(platform, user_id, vote, question, answer, tuple(article_ids), created)


def _insert(db: sqlite3.Connection, v: Vote, answer_key: str | None) -> None:
    db.execute(
        "INSERT INTO feedback (platform, user_id, vote, question, answer, article_ids,"
        " created_at, answer_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            v.platform,
            v.user_id,
            v.vote,
            v.question,
            v.answer,
            json.dumps(list(v.article_ids)),
            v.created_at,
            answer_key,
        ),
    )
