"""Slack's payloads in the conversation's terms: a message's text as a plain question, its
timestamp as a moment, `/brief`'s arguments, and what the buttons carry (their value).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.conversation import window_start
from retrieval import Answer, BriefbotError, Briefing, is_moment

BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value
BUTTON_GONE = "This button no longer works. Ask the question again."

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text(text: str, bot_user_id: str | None = None) -> str:
    """A Slack message's text as a plain question: the bot's mention removed, markup unwrapped."""
    text = _MENTION.sub(
        lambda m: "" if m.group(1) == bot_user_id else "@" + (m.group(2) or m.group(1)), text
    )
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).lstrip("#!@"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def slack_time(ts: str) -> datetime:
    """A Slack message timestamp ("1644580000.000100") as an aware datetime."""
    return datetime.fromtimestamp(float(ts), UTC)


def parse_brief_args(text: str, now: datetime) -> tuple[str | None, datetime]:
    """`/brief [topic] [since]` -> (topic, since); `since` (24h, 7d, 2w, a date) first or last."""
    words = text.split()
    since = None
    for at in (-1, 0):
        if words and is_moment(words[at]):
            since = words.pop(at)
            break
    return (" ".join(words) or None), window_start(since, now)


def encode_value(fields: dict[str, Any]) -> str:
    """A button value under Slack's 2,000 characters: the longest free texts are shortened."""
    fields = dict(fields)
    while True:
        value = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        over = len(value) - BUTTON_VALUE_LIMIT
        if over <= 0:
            return value
        for name in ("c", "q", "topic", "ids"):
            if fields.get(name):
                item = fields[name]
                fields[name] = item[: max(0, len(item) - over - 1)]
                break
        else:  # nothing left to shorten
            return json.dumps({"k": fields.get("k", "")})


def decode_value(value: str) -> dict[str, Any]:
    try:
        fields = json.loads(value)
    except (TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise BriefbotError(BUTTON_GONE)
    return fields


def answer_value(answer: Answer, key: str | None, now: datetime, context: str) -> str | None:
    """What an answer's buttons carry: its key, and enough to ask it again after a restart."""
    if key is None:
        return None
    ids = list(dict.fromkeys(c.article_id for c in answer.citations))
    return encode_value(
        {
            "k": key,
            "kind": "ask",
            "t": now.timestamp(),
            "ids": ids,
            "q": answer.question,
            "c": context,
        }
    )


def briefing_value(briefing: Briefing, key: str) -> str | None:
    if briefing.empty:
        return None
    return encode_value(
        {
            "k": key,
            "kind": "brief",
            "s": briefing.since,
            "u": briefing.until,
            "topic": briefing.topic,
        }
    )
