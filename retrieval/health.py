"""The health report: is the store reachable, does the model load, what is indexed and how new
it is, how the feeds, scheduled briefings and followed topics stand, and the last error this
process counted.

`briefbot health` builds it in its own process (the store and the model are really opened);
a long-running process (serve, watch) builds it from what it holds, and serves it at /health
(bot/health_server.py). `ok` is False only when the process could not answer: the store or the
model is out of reach. Everything else that needs a look (a feed failing, a briefing claim left
by a dead process, an empty index) is a warning.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.config import redact

if TYPE_CHECKING:
    from retrieval.engine import Engine
    from retrieval.news.schedule import Schedule

log = logging.getLogger(__name__)

STALE_CLAIM = timedelta(minutes=15)  # the scheduler's claim_ttl: a claim older than it was left
NEWEST_TTL_S = 300.0
_newest: dict[str, tuple[float, date | None]] = {}  # store -> (when read, newest article)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact(text)[:300]


def check_store(engine: Engine) -> dict[str, Any]:
    """Reachable, and what it holds: articles, chunks, the newest article's date."""
    t = time.perf_counter()
    try:
        store = engine.parts.store
        articles, chunks = store.count()
        writing = store.state().writing
        newest = engine.parts.newest_article()
        if newest is None and articles:
            newest = newest_in_store(engine)
    except Exception as exc:
        log.warning("health: the store is out of reach: %s", _why(exc))
        return {"ok": False, "location": _location(engine), "error": _why(exc)}
    return {
        "ok": True,
        "location": store.location,
        "collection": store.name,
        "articles": articles,
        "chunks": chunks,
        "newest_article": newest.isoformat() if newest else None,
        "write_under_way": writing,  # an ingest is running, or one died (the next one repairs)
        "ms": round((time.perf_counter() - t) * 1000, 1),
    }


def _location(engine: Engine) -> str:
    s = engine.settings
    return s.chroma_url or str(Path(s.data_dir).resolve() / "chroma")


def newest_in_store(engine: Engine) -> date | None:
    """The newest publication date among the stored articles' records (metadata only: about
    2 s for 200k articles, so a process that holds no index, the watcher, reads it at most
    every `NEWEST_TTL_S`)."""
    from retrieval.index.store import NO_DATE, from_day_number

    store = engine.parts.store
    key = f"{store.location}|{store.name}"
    hit = _newest.get(key)
    if hit is not None and time.monotonic() - hit[0] < NEWEST_TTL_S:
        return hit[1]
    days = [int(r.meta.get("day", NO_DATE)) for r in store.records().values()]
    newest = from_day_number(max(days)) if days and max(days) != NO_DATE else None
    _newest[key] = (time.monotonic(), newest)
    return newest


def check_model(engine: Engine) -> dict[str, Any]:
    """The question encoder loads and embeds (a serving process has it loaded already)."""
    t = time.perf_counter()
    try:
        path = engine.settings.resolved_model_path
        vector = engine.parts.query_encoder.encode(["health check"])[0]
    except Exception as exc:
        log.warning("health: the model does not load: %s", _why(exc))
        return {"ok": False, "error": _why(exc)}
    return {
        "ok": True,
        "path": str(path),
        "dimension": int(len(vector)),
        "ms": round((time.perf_counter() - t) * 1000, 1),
    }


def feed_state(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "feeds.sqlite3"
    if not path.is_file():
        return []
    from retrieval.intake.feedstate import FeedState

    state = FeedState(path)
    try:
        return state.summary()
    finally:
        state.close()


def schedule_state(data_dir: Path, schedules: Sequence[Schedule], now: datetime) -> list[dict]:
    """Each schedule's last briefing posted, claims not posted, and (for the schedules this
    process runs) the next fire time."""
    rows: list[dict[str, Any]] = []
    path = data_dir / "schedules.sqlite3"
    if path.is_file():
        from retrieval.news.schedulestate import ScheduleState

        state = ScheduleState(path, owner="health")
        try:
            rows = state.summary()
        finally:
            state.close()
    known = {(r["schedule"], r["platform"]): r for r in rows}
    for s in schedules:
        for platform in s.channels:
            row = known.get((s.name, platform))
            if row is None:
                row = {"schedule": s.name, "platform": platform, "claimed": 0}
                rows.append(row)
            row["next"] = _iso(s.next_fire(now))
    return rows


def follow_state(data_dir: Path) -> dict[str, Any]:
    """Per platform: topics followed, developments waiting, posts made, the oldest claim not
    posted and the last follow error (retrieval/news/followstate.py)."""
    path = data_dir / "follows.sqlite3"
    if not path.is_file():
        return {}
    from retrieval.news.followstate import FollowState

    state = FollowState(path, owner="health")
    try:
        return state.summary()
    finally:
        state.close()


def health_report(
    engine: Engine,
    schedules: Sequence[Schedule] = (),
    process: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The health report as JSON-ready data; `report["ok"]` tells whether the process can
    answer."""
    now = _now()
    data_dir = Path(engine.settings.data_dir)
    store = check_store(engine)
    model = check_model(engine)
    warnings: list[str] = []
    try:
        feeds = feed_state(data_dir)
        briefings = schedule_state(data_dir, schedules, now)
        follows = follow_state(data_dir)
    except Exception as exc:  # a locked or damaged database is reported, not raised
        feeds, briefings, follows = [], [], {}
        warnings.append(f"feed, schedule or follow state unreadable: {_why(exc)}")
    for f in feeds:
        if f["error"]:
            warnings.append(f"feed {redact(f['url'])}: {redact(f['error'])}")
    for b in briefings:
        claimed = b.get("oldest_claim")
        if claimed and datetime.fromisoformat(claimed) < now - STALE_CLAIM:
            warnings.append(
                f"schedule {b['schedule']} ({b['platform']}): a claim since {claimed} was never"
                " posted (its process died; another takes it over)"
            )
    for platform, f in follows.items():
        claimed = f.get("oldest_claim")
        if claimed and datetime.fromisoformat(claimed) < now - STALE_CLAIM:
            warnings.append(
                f"follows ({platform}): a claim since {claimed} was never posted (its process"
                " died; another takes it over)"
            )
    if store.get("ok") and not store.get("articles"):
        warnings.append("the index is empty")
    last = engine.metrics.last_error
    ok = bool(store["ok"] and model["ok"])
    result: dict[str, Any] = {
        "ok": ok,
        "status": "ok" if ok else "failing",
        "checked_at": _iso(now),
        "store": store,
        "model": model,
        "feeds": [{**f, "url": redact(f["url"])} for f in feeds],
        "schedules": briefings,
        "follows": follows,
        "last_error": last.to_dict() if last else None,
        "warnings": warnings,
    }
    if process is not None:
        result["process"] = process
    return result


def process_info(started: float, role: str, stopping: bool = False) -> dict[str, Any]:
    """What a long-running process says of itself in its report."""
    return {
        "role": role,
        "pid": os.getpid(),
        "uptime_s": round(time.time() - started, 1),
        "stopping": stopping,
    }
