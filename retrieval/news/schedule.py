"""Briefings that post themselves: cron schedules, run inside `briefbot serve ...`.

Each schedule (a cron expression in a time zone, channels on one or more chat platforms, an
optional topic) fires at its cron times. A platform is an opaque key here, and so is a channel:
what they mean is the business of the front end that posts. A briefing covers the time since
the schedule's last briefing, which is kept in SQLite in the data directory
(retrieval/news/schedulestate.py), so that a restart neither repeats a briefing nor skips one:
a fire time missed while nothing ran is posted on start-up.

Before posting, a process claims the briefing with an INSERT that a UNIQUE key allows once per
(schedule, platform, fire time): of two processes racing, one posts and the other moves on.
A claim whose process died before posting expires after `claim_ttl`, so another can take over.
A process that is stopped (SIGTERM) finishes a post under way and releases the claims it has not
posted (`Scheduler.shutdown`), so the next process posts them at once, and none twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from retrieval.models import Briefing
from retrieval.news.schedulestate import ScheduleState

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
        return stop_posting(
            self._posting, self.state.release_mine, timeout, "briefing", self.platform
        )

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


def stop_posting(
    posting: threading.Lock,
    release_mine: Callable[[], int],
    timeout: float,
    what: str,
    platform: str,
) -> bool:
    """A post under way (holding `posting`) is finished, waiting up to `timeout` s, then this
    process's claims not posted are released (`release_mine`) for the next process to post at
    once. False if the post was still under way at the timeout (its claim is left to expire).
    Briefings (Scheduler.shutdown) and followed topics (Follower.shutdown) stop so."""
    if not posting.acquire(timeout=timeout):
        log.warning("a %s %s was still being posted when stopping", platform, what)
        return False
    try:
        released = release_mine()
    finally:
        posting.release()
    if released:
        log.info("released %d %s %s claims for the next process", released, platform, what)
    return True


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
