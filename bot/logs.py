"""Logs on stderr: one JSON object a line when stderr is not a terminal (a container, a unit,
a log shipper), plain text on a terminal; never a secret.

Every record is passed through `redact` (retrieval/config.py) after formatting, traceback
included: the values of the secret settings read so far, and token-shaped strings, become
"***". A record that carries an `error_id` (the id quoted to the user in chat) has it as a
field of its own, so that a user's report finds its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from retrieval import redact

# LogRecord's own attributes: anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the record's extra fields
    (error_id, ...), and the traceback as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["traceback"] = record.exc_text
        return redact(json.dumps(entry, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """The plain format, redacted, with the error id after the message when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        error_id = getattr(record, "error_id", None)
        if error_id and str(error_id) not in record.getMessage():
            text = text.replace(record.getMessage(), f"{record.getMessage()} [error {error_id}]", 1)
        return redact(text)


def use_json(fmt: str, stream: TextIO) -> bool:
    if fmt == "auto":
        return not (hasattr(stream, "isatty") and stream.isatty())
    return fmt == "json"


def setup(level: str = "WARNING", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Send the root logger's records to `stream` (stderr), as JSON or text (`fmt`: auto, json
    or text), from `level` up. Replaces the handlers a previous call installed."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if use_json(fmt, stream) else TextFormatter(TEXT_FORMAT))
    handler.set_name("briefbot")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "briefbot"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
