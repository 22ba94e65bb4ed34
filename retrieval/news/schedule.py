"""Briefings that post themselves: cron schedules, run inside `briefbot serve ...`.

Each schedule (a cron expression in a time zone, channels on one or more chat platforms, an
optional topic) fires at its cron times. A platform is an opaque key here, and so is a channel:
what they mean is the business of the front end that posts. A briefing covers the time since
the schedule's last briefing, which is kept in SQLite in the data directory
(`schedules.sqlite3`), so that a restart neither repeats a briefing nor skips one: a fire time
missed while nothing ran is posted on start-up.

Before posting, a process claims the briefing with an INSERT that a UNIQUE key allows once per
(schedule, platform, fire time): of two processes racing, one posts and the other moves on.
A claim whose process died before posting expires after `claim_ttl`, so another can take over.
A process that is stopped (SIGTERM) finishes a post under way and releases the claims it has not
posted (`Scheduler.shutdown`), so the next process posts them at once, and none twice.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from retrieval import datadir
from retrieval.models import Briefing

log = logging.getLogger(__name__)

NOTHING_NEW = "Nothing new since the last briefing."


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: str
    timezone: str = "UTC"
    channels: Mapping[str, str] = field(default_factory=dict)  # platform key -> channel id
    topic: str | None = None
    max_stories: int = 10

    def channel(self, platform: str) -> str | None:
        return self.channels.get(platform)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def latest_fire(self, now: datetime) -> datetime:
        """The latest cron time at or before `now` (UTC)."""
        from croniter import croniter

        local = now.astimezone(self.tz)
        it = croniter(self.cron, local + timedelta(seconds=1))
        return it.get_prev(datetime).astimezone(UTC)

    def next_fire(self, now: datetime) -> datetime:
        from croniter import croniter

        return croniter(self.cron, now.astimezone(self.tz)).get_next(datetime).astimezone(UTC)

    def fire_before(self, moment: datetime) -> datetime:
        from croniter import croniter

        return croniter(self.cron, moment.astimezone(self.tz)).get_prev(datetime).astimezone(UTC)


# -- state --------------------------------------------------------------------------------------
_SCHEMA = """
CREATE TABLE IF NOT EXISTS schedules (
    schedule TEXT NOT NULL,
    platform TEXT NOT NULL,
    first_seen TEXT NOT NULL,     -- fire times before this are not owed
    PRIMARY KEY (schedule, platform)
);
CREATE TABLE IF NOT EXISTS briefings (
    schedule TEXT NOT NULL,
    platform TEXT NOT NULL,
    window_end TEXT NOT NULL,     -- the fire time, UTC ISO: the same in every process
    window_start TEXT NOT NULL,
    status TEXT NOT NULL,         -- claimed | posted
    owner TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    posted_at TEXT,
    article_ids TEXT NOT NULL DEFAULT '[]',  -- the stories' articles: not repeated next time
    UNIQUE (schedule, platform, window_end)
);
"""


@dataclass(frozen=True)
class Claim:
    schedule: str
    platform: str
    since: datetime
    until: datetime


class ScheduleState:
    """Which briefings were claimed and posted; one SQLite file shared by every process."""

    def __init__(self, path: Path, owner: str | None = None) -> None:
        self.path = path
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._lock = threading.Lock()
        self.db = datadir.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        datadir.use_wal(self.db)
        self.db.executescript(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path | str, owner: str | None = None) -> ScheduleState:
        return cls(Path(data_dir) / "schedules.sqlite3", owner)

    def close(self) -> None:
        self.db.close()

    def first_seen(self, schedule: str, platform: str, now: datetime) -> datetime:
        with self._lock:
            self.db.execute(
                "INSERT OR IGNORE INTO schedules (schedule, platform, first_seen) VALUES (?, ?, ?)",
                (schedule, platform, _iso(now)),
            )
            (seen,) = self.db.execute(
                "SELECT first_seen FROM schedules WHERE schedule = ? AND platform = ?",
                (schedule, platform),
            ).fetchone()
        return datetime.fromisoformat(seen)

    def last(
        self, schedule: str, platform: str, posted: bool = False
    ) -> tuple[datetime, str] | None:
        """The end and status (claimed, posted) of the latest briefing, or of the latest one
        posted."""
        with self._lock:
            row = self.db.execute(
                "SELECT window_end, status FROM briefings WHERE schedule = ? AND platform = ? "
                + ("AND status = 'posted' " if posted else "")
                + "ORDER BY window_end DESC LIMIT 1",
                (schedule, platform),
            ).fetchone()
        return (datetime.fromisoformat(row[0]), row[1]) if row else None

    def claim(
        self,
        schedule: str,
        platform: str,
        until: datetime,
        since: datetime,
        now: datetime,
        ttl: timedelta,
    ) -> Claim | None:
        """Claim the briefing ending at `until`; None if another process has it."""
        with self._lock:
            try:
                self.db.execute(
                    "INSERT INTO briefings (schedule, platform, window_end, window_start, "
                    "status, owner, claimed_at) VALUES (?, ?, ?, ?, 'claimed', ?, ?)",
                    (schedule, platform, _iso(until), _iso(since), self.owner, _iso(now)),
                )
                return Claim(schedule, platform, since, until)
            except sqlite3.IntegrityError:
                pass
            # Taken: unless by a process that died before posting (its claim has expired).
            cur = self.db.execute(
                "UPDATE briefings SET owner = ?, claimed_at = ? WHERE schedule = ? AND "
                "platform = ? AND window_end = ? AND status = 'claimed' AND claimed_at < ?",
                (self.owner, _iso(now), schedule, platform, _iso(until), _iso(now - ttl)),
            )
            if cur.rowcount != 1:
                return None
            (start,) = self.db.execute(
                "SELECT window_start FROM briefings WHERE schedule = ? AND platform = ? "
                "AND window_end = ?",
                (schedule, platform, _iso(until)),
            ).fetchone()
        log.warning("took over the expired claim on %s/%s at %s", schedule, platform, until)
        return Claim(schedule, platform, datetime.fromisoformat(start), until)

    def posted(self, claim: Claim, now: datetime, article_ids: Iterable[str]) -> None:
        with self._lock:
            self.db.execute(
                "UPDATE briefings SET status = 'posted', posted_at = ?, article_ids = ? "
                "WHERE schedule = ? AND platform = ? AND window_end = ? AND owner = ?",
                (
                    _iso(now),
                    json.dumps(sorted(set(article_ids))),
                    claim.schedule,
                    claim.platform,
                    _iso(claim.until),
                    self.owner,
                ),
            )

    def release(self, claim: Claim) -> None:
        """Give a claim back (posting failed): the next round, in any process, tries again."""
        with self._lock:
            self.db.execute(
                "DELETE FROM briefings WHERE schedule = ? AND platform = ? AND window_end = ? "
                "AND owner = ? AND status = 'claimed'",
                (claim.schedule, claim.platform, _iso(claim.until), self.owner),
            )

    def release_mine(self) -> int:
        """Give back every claim of this process not yet posted; how many there were."""
        with self._lock:
            cur = self.db.execute(
                "DELETE FROM briefings WHERE owner = ? AND status = 'claimed'", (self.owner,)
            )
        return cur.rowcount

    def summary(self) -> list[dict[str, Any]]:
        """Each schedule and platform: its last briefing posted, and any claim not posted yet
        (a briefing being posted, or left by a process that died)."""
        with self._lock:
            rows = self.db.execute(
                "SELECT s.schedule, s.platform, s.first_seen, "
                "(SELECT MAX(window_end) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'posted'), "
                "(SELECT MAX(posted_at) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'posted'), "
                "(SELECT COUNT(*) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'claimed'), "
                "(SELECT MIN(claimed_at) FROM briefings b WHERE b.schedule = s.schedule AND "
                " b.platform = s.platform AND b.status = 'claimed') "
                "FROM schedules s ORDER BY s.schedule, s.platform"
            ).fetchall()
        keys = (
            "schedule",
            "platform",
            "since",
            "last_until",
            "last_posted_at",
            "claimed",
            "oldest_claim",
        )
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def recently_posted(self, schedule: str, platform: str, since: datetime) -> set[str]:
        """Articles in this schedule's briefings that ended after `since`."""
        with self._lock:
            rows = self.db.execute(
                "SELECT article_ids FROM briefings WHERE schedule = ? AND platform = ? "
                "AND status = 'posted' AND window_end > ?",
                (schedule, platform, _iso(since)),
            ).fetchall()
        return {i for (ids,) in rows for i in json.loads(ids)}

    def history(self, schedule: str, platform: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self.db.execute(
                "SELECT window_start, window_end, status, owner FROM briefings "
                "WHERE schedule = ? AND platform = ? ORDER BY window_end",
                (schedule, platform),
            ).fetchall()
        return [dict(zip(("since", "until", "status", "owner"), r, strict=True)) for r in rows]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# -- the scheduler ------------------------------------------------------------------------------
BuildBriefing = Callable[[datetime, datetime, str | None, int, set[str]], Briefing]


class Counts(Protocol):
    """What a scheduler reports (retrieval.metrics.Metrics counts it)."""

    def error(self, kind: str, message: str) -> None: ...

    def posted(self, platform: str) -> None: ...


PostBriefing = Callable[[str, Briefing | str], None]  # (channel, briefing or a one-line notice)


@dataclass
class Posted:
    schedule: str
    since: datetime
    until: datetime
    empty: bool


@dataclass
class Scheduler:
    """Posts each schedule's briefings to one platform's channels; `tick` does one round."""

    schedules: list[Schedule]
    state: ScheduleState
    build: BuildBriefing
    post: PostBriefing
    platform: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    claim_ttl: timedelta = timedelta(minutes=15)
    retry_after: timedelta = timedelta(minutes=1)
    # Articles already in a schedule's briefings are left out of the next one, for this long
    # (articles carry a date, not a time, so consecutive windows share a day).
    remember: timedelta = timedelta(days=3)
    metrics: Counts | None = None
    _retry_at: dict[str, datetime] = field(default_factory=dict)
    # Held while a briefing is posted and marked posted: `shutdown` waits for it.
    _posting: threading.Lock = field(default_factory=threading.Lock)
    _stopping: bool = False

    def __post_init__(self) -> None:
        self.schedules = [s for s in self.schedules if s.channel(self.platform) is not None]

    @classmethod
    def in_data_dir(
        cls,
        data_dir: Path | str,
        schedules: Sequence[Schedule],
        build: BuildBriefing,
        post: PostBriefing,
        platform: str,
        metrics: Counts | None = None,
    ) -> Scheduler:
        """Posts the schedules' briefings to one platform's channels with `post`; the history of
        what was posted is kept in the data directory."""
        state = ScheduleState.in_data_dir(data_dir)
        return cls(list(schedules), state, build, post, platform, metrics=metrics)

    def tick(self) -> list[Posted]:
        """Post whatever is due now (at most one briefing per schedule)."""
        done = []
        for schedule in self.schedules:
            try:
                posted = self._tick_one(schedule)
            except Exception as exc:
                log.exception("schedule %s failed; trying again shortly", schedule.name)
                if self.metrics is not None:
                    self.metrics.error("schedule", f"{schedule.name}: {exc}")
                self._retry_at[schedule.name] = self.clock() + self.retry_after
                continue
            if posted:
                done.append(posted)
        return done

    def _tick_one(self, schedule: Schedule) -> Posted | None:
        now = self.clock()
        if now < self._retry_at.get(schedule.name, now):
            return None
        first_seen = self.state.first_seen(schedule.name, self.platform, now)
        latest = self.state.last(schedule.name, self.platform)
        due = schedule.latest_fire(now)
        if latest is None and due <= first_seen:
            return None  # a fire time from before the schedule existed is owed to nobody
        if latest is not None:
            last, status = latest
            # Posted already; or claimed, which is retried only once the claim has expired.
            if due < last or (due == last and status == "posted"):
                return None
        # Several fire times missed while nothing ran: one briefing covers them all, from the
        # last one posted (a claim abandoned by a dead process covered nothing).
        posted = self.state.last(schedule.name, self.platform, posted=True)
        since = posted[0] if posted and posted[0] < due else schedule.fire_before(due)
        claim = self.state.claim(schedule.name, self.platform, due, since, now, self.claim_ttl)
        if claim is None:
            log.info("%s at %s: claimed by another process", schedule.name, due)
            return None
        try:
            seen = self.state.recently_posted(
                schedule.name, self.platform, claim.since - self.remember
            )
            briefing = self.build(
                claim.since, claim.until, schedule.topic, schedule.max_stories, seen
            )
            channel = schedule.channels[self.platform]
        except BaseException:
            self.state.release(claim)
            raise
        with self._posting:
            if self._stopping:  # handed to the next process, which posts it at once
                self.state.release(claim)
                log.info("%s at %s: not posted, stopping", schedule.name, due)
                return None
            try:
                self.post(channel, _nothing_new(briefing) if briefing.empty else briefing)
            except BaseException:
                self.state.release(claim)
                raise
            # The one-line items were briefed too: tomorrow's briefing does not repeat them.
            ids = [i for s in briefing.stories + briefing.also_in_the_news for i in s.article_ids]
            self.state.posted(claim, self.clock(), ids)
        if self.metrics is not None:
            self.metrics.posted(self.platform)
        log.info(
            "posted %s (%s → %s): %d stories",
            schedule.name,
            claim.since.isoformat(),
            claim.until.isoformat(),
            len(briefing.stories),
        )
        return Posted(schedule.name, claim.since, claim.until, briefing.empty)

    def shutdown(self, timeout: float) -> bool:
        """Stop posting: a briefing being posted is finished (waiting up to `timeout` s for
        it), and every claim this process holds and has not posted is released, so that the
        next process posts it at once rather than after `claim_ttl`. False if a post was still
        under way at the timeout (its claim is then left to expire)."""
        self._stopping = True
        if not self._posting.acquire(timeout=timeout):
            log.warning("a %s briefing was still being posted when stopping", self.platform)
            return False
        try:
            released = self.state.release_mine()
        finally:
            self._posting.release()
        if released:
            log.info("released %d %s briefing claims for the next process", released, self.platform)
        return True

    def next_wake(self) -> datetime | None:
        now = self.clock()
        times = [s.next_fire(now) for s in self.schedules]
        times += [t for t in self._retry_at.values() if t > now]
        return min(times, default=None)

    def run(self, stop: threading.Event, max_sleep_s: float = 60.0) -> None:
        """Tick at each fire time until `stop` is set (re-checking at least every minute)."""
        names = ", ".join(s.name for s in self.schedules)
        log.info("%s schedules running: %s", self.platform, names or "(none)")
        while not stop.is_set():
            self.tick()
            wake = self.next_wake()
            log.info("%s schedules: round done; next at %s", self.platform, wake)
            wait = max_sleep_s if wake is None else (wake - self.clock()).total_seconds()
            stop.wait(min(max(wait, 0.5), max_sleep_s))


def _nothing_new(briefing: Briefing) -> str:
    if briefing.topic:
        return f"Nothing new about {briefing.topic!r} since the last briefing."
    return NOTHING_NEW


def start_thread(scheduler: Scheduler, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=scheduler.run, args=(stop,), name=f"briefbot-{scheduler.platform}-schedules"
    )
    thread.daemon = True
    thread.start()
    return thread
