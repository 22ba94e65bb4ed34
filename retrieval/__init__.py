"""The briefbot engine: articles in, cited answers and briefings out. No chat platform here.

The names imported below are the package's public surface, listed once: front ends import
these, and only these (tests/test_layering.py checks). Each is imported on first use, so that
`import retrieval` costs nothing (no numpy, Chroma or model) and changes nothing (not even the
environment); the imports are read from this file to know where each name lives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the public surface: each name, from the module that defines it
    from retrieval.answering.timewindow import check_window as check_window
    from retrieval.answering.timewindow import is_moment as is_moment
    from retrieval.answering.timewindow import parse_moment as parse_moment
    from retrieval.config import Settings as Settings
    from retrieval.config import load_settings as load_settings
    from retrieval.config import read_settings as read_settings
    from retrieval.config import redact as redact
    from retrieval.config_file import ConfigFile as ConfigFile
    from retrieval.config_file import load_config as load_config
    from retrieval.engine import Engine as Engine
    from retrieval.errors import BriefbotError as BriefbotError
    from retrieval.errors import FollowError as FollowError
    from retrieval.errors import LoadError as LoadError
    from retrieval.errors import QuestionError as QuestionError
    from retrieval.errors import SettingsError as SettingsError
    from retrieval.evaluation.evaluate import CheckResult as CheckResult
    from retrieval.evaluation.evaluate import check_questions as check_questions
    from retrieval.evaluation.evaluate import eval_corpus as eval_corpus
    from retrieval.evaluation.evaluate import read_jsonl as read_jsonl
    from retrieval.evaluation.report import EvalRun as EvalRun
    from retrieval.events import SeenEvents as SeenEvents
    from retrieval.feedback import AlreadyVoted as AlreadyVoted
    from retrieval.feedback import FeedbackStore as FeedbackStore
    from retrieval.feedback import UnknownAnswer as UnknownAnswer
    from retrieval.feedback import Vote as Vote
    from retrieval.health import health_report as health_report
    from retrieval.health import process_info as process_info
    from retrieval.index.embedding import Encoder as Encoder
    from retrieval.intake.feeds import FeedReport as FeedReport
    from retrieval.intake.files import shown as shown
    from retrieval.intake.ingest import IngestProgress as IngestProgress
    from retrieval.intake.ingest import IngestReport as IngestReport
    from retrieval.intake.watch import RoundReport as RoundReport
    from retrieval.intake.watch import WatchConfig as WatchConfig
    from retrieval.intake.watch import parse_interval as parse_interval
    from retrieval.metrics import Metrics as Metrics
    from retrieval.models import Answer as Answer
    from retrieval.models import Article as Article
    from retrieval.models import Briefing as Briefing
    from retrieval.models import Citation as Citation
    from retrieval.models import NewsItem as NewsItem
    from retrieval.models import Quote as Quote
    from retrieval.models import Story as Story
    from retrieval.models import moment_label as moment_label
    from retrieval.news.developments import Development as Development
    from retrieval.news.follow import Added as Added
    from retrieval.news.follow import Follower as Follower
    from retrieval.news.follow import FollowOptions as FollowOptions
    from retrieval.news.follow import FollowPost as FollowPost
    from retrieval.news.follow import Follows as Follows
    from retrieval.news.follow import PostFollow as PostFollow
    from retrieval.news.followstate import Follow as Follow
    from retrieval.news.schedule import Schedule as Schedule
    from retrieval.news.schedule import Scheduler as Scheduler
    from retrieval.urls import check_feed_url as check_feed_url
    from retrieval.urls import is_http_url as is_http_url


def _surface() -> dict[str, str]:
    """name -> the module that defines it, as the imports above say."""
    import ast
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    return {
        alias.asname or alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def __getattr__(name: str) -> Any:
    global _PUBLIC
    if _PUBLIC is None:
        _PUBLIC = _surface()
        globals()["__all__"] = sorted(_PUBLIC)
    if name == "__all__":
        return globals()["__all__"]
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return list(__getattr__("__all__"))


_PUBLIC: dict[str, str] | None = None  # read on first use: `import retrieval` reads nothing
