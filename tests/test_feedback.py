"""The feedback store: votes, and answers kept for buttons that carry only a key."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from retrieval.feedback import AlreadyVoted, FeedbackStore, UnknownAnswer


def test_a_kept_answer_takes_one_vote_per_person(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    key = store.remember("Q?", "A. [1]", ["a1", "a2"])
    assert len(key) == 16 and key != store.remember("Q?", "A. [1]", ["a1", "a2"])

    reopened = FeedbackStore.in_data_dir(tmp_path)  # as after a restart
    vote = reopened.vote_on(key, platform="discord", user_id="7", vote=-1)
    assert (vote.question, vote.answer, vote.article_ids, vote.vote) == (
        "Q?",
        "A. [1]",
        ("a1", "a2"),
        -1,
    )
    with pytest.raises(AlreadyVoted):
        reopened.vote_on(key, platform="discord", user_id="7", vote=1)
    reopened.vote_on(key, platform="discord", user_id="8", vote=1)
    with pytest.raises(UnknownAnswer):
        reopened.vote_on("0" * 16, platform="discord", user_id="7", vote=1)
    assert [(v.user_id, v.vote) for v in reopened.list()] == [("8", 1), ("7", -1)]


def test_votes_without_a_key_are_never_refused(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    for _ in range(2):
        store.record(
            platform="slack", user_id="U1", vote=1, question="Q", answer="A", article_ids=[]
        )
    assert len(store.list()) == 2


def test_a_database_from_before_answer_keys_keeps_its_votes(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE feedback (id INTEGER PRIMARY KEY AUTOINCREMENT, platform TEXT NOT NULL,"
            " user_id TEXT NOT NULL, vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),"
            " question TEXT NOT NULL, answer TEXT NOT NULL, article_ids TEXT NOT NULL,"
            " created_at TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO feedback (platform, user_id, vote, question, answer, article_ids,"
            " created_at) VALUES ('discord', '1', 1, 'Old?', 'Old.', '[\"a\"]', '2022-02-01')"
        )
    store = FeedbackStore(path)
    key = store.remember("New?", "New.", ["b"])
    store.vote_on(key, platform="discord", user_id="1", vote=-1)
    assert [(v.question, v.vote) for v in store.list()] == [("New?", -1), ("Old?", 1)]
