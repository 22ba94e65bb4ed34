"""What an answer or a briefing was asked with, kept by its key: so that a button under it
(👍 / 👎, Share) can ask it again, as it was, in any process, after a restart too.

Slack's buttons carry this in their value (2,000 characters); Discord's carry only the key (a
custom id has 100 characters), so the conversation keeps it here, in SQLite in the data
directory (`asked.sqlite3`, private to the user as the other databases are). Records are kept
`KEEP`, then deleted: a button older than that says it no longer works.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

KEEP = timedelta(days=90)
PRUNE_EVERY_S = 3600.0
BUSY_TIMEOUT_S = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS asked (
    key TEXT PRIMARY KEY,
    asked TEXT NOT NULL,
    kept_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS asked_by_time ON asked (kept_at);
"""


@dataclass(frozen=True)
class Asked:
    """How an answer or a briefing was asked: enough to ask it again, as it was."""

    kind: Literal["ask", "brief"]
    text: str | None  # the question; a briefing's topic (None: every story)
    at: datetime  # a question: the moment it was answered as of; a briefing: its window's start
    until: datetime | None = None  # a briefing: its window's end
    context: str = ""  # a question: the earlier questions it was read with

    @classmethod
    def question(cls, question: str, now: datetime, context: str = "") -> Asked:
        return cls("ask", question, now, context=context)

    @classmethod
    def briefing(cls, topic: str | None, since: datetime, until: datetime) -> Asked:
        return cls("brief", topic, since, until)

    def to_json(self) -> str:
        fields: dict[str, Any] = {"kind": self.kind, "text": self.text, "at": self.at.isoformat()}
        if self.until is not None:
            fields["until"] = self.until.isoformat()
        if self.context:
            fields["context"] = self.context
        return json.dumps(fields, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Asked:
        """A ValueError (or KeyError, TypeError) for anything that is not one."""
        f = json.loads(text)
        kind = f["kind"]
        if kind not in ("ask", "brief"):
            raise ValueError(f"not a kind of asking: {kind!r}")
        until = datetime.fromisoformat(f["until"]) if f.get("until") else None
        if kind == "brief" and until is None:
            raise ValueError("a briefing without the end of its window")
        text_ = f.get("text")
        if kind == "ask" and not isinstance(text_, str):
            raise ValueError("a question without its text")
        return cls(kind, text_, datetime.fromisoformat(f["at"]), until, f.get("context") or "")


class AskedStore:
    """`Asked` records by key, shared by every process using the same file."""

    def __init__(self, path: Path, keep: timedelta = KEEP) -> None:
        self.path = Path(path)
        self.keep = keep.total_seconds()
        self._lock = threading.Lock()
        self._pruned = 0.0
        _private_file(self.path)
        self.db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self.db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str) -> AskedStore:
        return cls(Path(data_dir) / "asked.sqlite3")

    def put(self, key: str, asked: Asked, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._lock:
            if now - self._pruned > PRUNE_EVERY_S:
                self.db.execute("DELETE FROM asked WHERE kept_at < ?", (now - self.keep,))
                self._pruned = now
            self.db.execute(
                "INSERT INTO asked (key, asked, kept_at) VALUES (?, ?, ?) ON CONFLICT (key)"
                " DO UPDATE SET asked = excluded.asked, kept_at = excluded.kept_at",
                (key, asked.to_json(), now),
            )

    def get(self, key: str, now: float | None = None) -> Asked | None:
        """The record kept under `key`; None when there is none (or none still usable)."""
        now = time.time() if now is None else now
        with self._lock:
            row = self.db.execute(
                "SELECT asked FROM asked WHERE key = ? AND kept_at >= ?", (key, now - self.keep)
            ).fetchone()
        if row is None:
            return None
        try:
            return Asked.from_json(row[0])
        except (KeyError, TypeError, ValueError):
            return None

    def close(self) -> None:
        self.db.close()


def _private_file(path: Path) -> None:
    """The file (and its folder) made private to this user before SQLite opens it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
