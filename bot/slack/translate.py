"""Slack's payloads in the conversation's terms: a message's text as a plain question, its
timestamp as a moment, `/brief`'s arguments, and what the buttons carry (their value).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from bot.asked import Asked
from bot.chat import Buttons, Message
from bot.conversation import BUTTON_GONE, window_start
from bot.slack import PLATFORM
from retrieval import BriefbotError, is_moment

BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value

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


def event_message(
    event: dict[str, Any], bot_user_id: str | None, direct: bool, thread: str | None = None
) -> Message:
    """A message event (a mention, a DM, a message in the assistant pane) as the conversation's
    `Message`. Its id is the message's timestamp, not the event's id: a redelivery (Slack's
    retry of an event it thinks went unheard) carries the same message."""
    ts = event["ts"]
    return Message(
        platform=PLATFORM,
        channel=event["channel"],
        id=ts,
        user=event.get("user") or "",
        text=plain_text(event.get("text", ""), bot_user_id),
        sent_at=slack_time(ts),
        thread=thread or event.get("thread_ts"),
        direct=direct,
    )


def command_message(command: dict[str, Any], text: str) -> Message:
    """A slash command as the conversation's `Message`: only whoever typed it sees the reply."""
    return Message(
        platform=PLATFORM,
        channel=command.get("channel_id", ""),
        id=command.get("trigger_id", ""),
        user=command.get("user_id", ""),
        text=text,
        sent_at=datetime.now(UTC),
        private=True,
    )


def parse_brief_args(text: str, now: datetime) -> tuple[str | None, datetime]:
    """`/brief [topic] [since]` -> (topic, since); `since` (24h, 7d, 2w, a date) first or last."""
    words = text.split()
    since = None
    for at in (-1, 0):
        if words and is_moment(words[at]):
            since = words.pop(at)
            break
    return (" ".join(words) or None), window_start(since, now)


def button_value(buttons: Buttons) -> str:
    """What the buttons under an answer or briefing carry: its key, and what it was asked with,
    so that any process can ask it again; the key alone when that would not fit in Slack's
    2,000 characters (the conversation kept the rest under the key)."""
    fields: dict[str, Any] = {"k": buttons.key}
    asked = buttons.asked
    if asked is not None and asked.kind == "ask":
        fields |= {"kind": "ask", "t": asked.at.timestamp(), "q": asked.text, "c": asked.context}
    elif asked is not None and asked.until is not None:
        window = {"s": asked.at.isoformat(), "u": asked.until.isoformat(), "topic": asked.text}
        fields |= {"kind": "brief", **window}
    value = _compact(fields)
    return value if len(value) <= BUTTON_VALUE_LIMIT else _compact({"k": buttons.key})


def read_button(value: str) -> tuple[str, Asked | None]:
    """A button's value (this version's, or an earlier one's) as its key and what it was asked
    with (None when it carries only the key); BUTTON_GONE for anything else."""
    try:
        fields = json.loads(value)
    except (TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict) or not isinstance(fields.get("k"), str) or not fields["k"]:
        raise BriefbotError(BUTTON_GONE)
    try:
        if fields.get("kind") == "brief":
            since, until = datetime.fromisoformat(fields["s"]), datetime.fromisoformat(fields["u"])
            return fields["k"], Asked.briefing(fields.get("topic"), since, until)
        if fields.get("kind") == "ask" and isinstance(fields.get("q"), str):
            now = datetime.fromtimestamp(float(fields["t"]), UTC)
            return fields["k"], Asked.question(fields["q"], now, fields.get("c") or "")
    except (KeyError, TypeError, ValueError):
        pass
    return fields["k"], None


def _compact(fields: dict[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
