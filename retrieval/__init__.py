"""The briefbot engine: articles in, cited answers and briefings out. No chat platform here.

The names below are the package's public surface: front ends import these, and only these
(tests/test_layering.py checks). Each is imported on first use, so that `import retrieval` costs
nothing (no numpy, Chroma or model) and changes nothing (not even the environment).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> the module that defines it
_PUBLIC = {
    # the engine and its settings
    "Engine": "engine",
    "Settings": "config",
    "load_settings": "config",
    "read_settings": "config",
    "redact": "config",
    "Encoder": "index.embedding",
    # errors a user can act on
    "BriefbotError": "errors",
    "SettingsError": "errors",
    "LoadError": "errors",
    "QuestionError": "errors",
    # answers and briefings are data
    "Article": "models",
    "Answer": "models",
    "Citation": "models",
    "Story": "models",
    "Quote": "models",
    "Briefing": "models",
    "NewsItem": "models",
    "moment_label": "models",
    # what the engine's other services report and take
    "IngestProgress": "intake.ingest",
    "IngestReport": "intake.ingest",
    "FeedReport": "intake.feeds",
    "RoundReport": "intake.watch",
    "WatchConfig": "intake.watch",
    "Schedule": "news.schedule",
    "Scheduler": "news.schedule",
    "ConfigFile": "config_file",
    "load_config": "config_file",
    "EvalRun": "evaluation.evaluate",
    "CheckResult": "evaluation.evaluate",
    "read_jsonl": "evaluation.evaluate",
    # operations: the health report, what is counted
    "health_report": "health",
    "process_info": "health",
    "Metrics": "metrics",
    # what the front ends keep: votes, and the chat events already handled
    "FeedbackStore": "feedback",
    "Vote": "feedback",
    "AlreadyVoted": "feedback",
    "UnknownAnswer": "feedback",
    "SeenEvents": "events",
    # words and addresses as users type them
    "parse_moment": "answering.timewindow",
    "is_moment": "answering.timewindow",
    "check_window": "answering.timewindow",
    "parse_interval": "intake.watch",
    "is_http_url": "urls",
    "check_feed_url": "urls",
    "shown": "intake.articles",
}
__all__ = [
    "AlreadyVoted",
    "Answer",
    "Article",
    "BriefbotError",
    "Briefing",
    "CheckResult",
    "Citation",
    "ConfigFile",
    "Encoder",
    "Engine",
    "EvalRun",
    "FeedReport",
    "FeedbackStore",
    "IngestProgress",
    "IngestReport",
    "LoadError",
    "Metrics",
    "NewsItem",
    "QuestionError",
    "Quote",
    "RoundReport",
    "Schedule",
    "Scheduler",
    "SeenEvents",
    "Settings",
    "SettingsError",
    "Story",
    "UnknownAnswer",
    "Vote",
    "WatchConfig",
    "check_feed_url",
    "check_window",
    "health_report",
    "is_http_url",
    "is_moment",
    "load_config",
    "load_settings",
    "moment_label",
    "parse_interval",
    "parse_moment",
    "process_info",
    "read_jsonl",
    "read_settings",
    "redact",
    "shown",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from retrieval.answering.timewindow import check_window, is_moment, parse_moment
    from retrieval.config import Settings, load_settings, read_settings, redact
    from retrieval.config_file import ConfigFile, load_config
    from retrieval.engine import Engine
    from retrieval.errors import BriefbotError, LoadError, QuestionError, SettingsError
    from retrieval.evaluation.evaluate import CheckResult, EvalRun, read_jsonl
    from retrieval.events import SeenEvents
    from retrieval.feedback import AlreadyVoted, FeedbackStore, UnknownAnswer, Vote
    from retrieval.health import health_report, process_info
    from retrieval.index.embedding import Encoder
    from retrieval.intake.articles import shown
    from retrieval.intake.feeds import FeedReport
    from retrieval.intake.ingest import IngestProgress, IngestReport
    from retrieval.intake.watch import RoundReport, WatchConfig, parse_interval
    from retrieval.metrics import Metrics
    from retrieval.models import (
        Answer,
        Article,
        Briefing,
        Citation,
        NewsItem,
        Quote,
        Story,
        moment_label,
    )
    from retrieval.news.schedule import Schedule, Scheduler
    from retrieval.urls import check_feed_url, is_http_url
