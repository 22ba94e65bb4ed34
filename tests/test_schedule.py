"""Scheduled briefings: cron times in a time zone, a window since the last briefing that
survives restarts, one post when processes race, and a one-line "nothing new"."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from retrieval.config import PROJECT_ROOT
from retrieval.config_file import ConfigFile, load_config
from retrieval.errors import BriefbotError, SettingsError
from retrieval.models import Briefing, Citation, Story
from retrieval.news.schedule import NOTHING_NEW, Schedule, Scheduler
from retrieval.news.schedulestate import ScheduleState

DAILY = Schedule("morning", "0 8 * * *", "UTC", {"slack": "C1"}, topic=None, max_stories=5)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, when: str) -> Clock:
        self.now = datetime.fromisoformat(when).replace(tzinfo=UTC)
        return self


def story(article_id: str) -> Story:
    c = Citation(1, article_id, "t", "s", None, "", "q", 0, 1)
    return Story("headline", "q [1]", [c], [article_id], ["s"])


class Recorder:
    """The engine and the platform, as the scheduler sees them."""

    def __init__(self, stories: list[str] | None = None, delay: float = 0.0) -> None:
        self.built: list[tuple[datetime, datetime, str | None, int, set[str]]] = []
        self.posted: list[tuple[Any, Briefing | str]] = []
        self.stories = ["a1"] if stories is None else stories
        self.delay = delay
        self.fail_posts = 0
        self._lock = threading.Lock()

    def build(self, since, until, topic, max_stories, seen) -> Briefing:
        with self._lock:
            self.built.append((since, until, topic, max_stories, set(seen)))
        time.sleep(self.delay)
        ids = [i for i in self.stories if i not in seen]
        return Briefing(since.isoformat(), until.isoformat(), topic, [story(i) for i in ids])

    def post(self, channel: Any, briefing: Briefing | str) -> None:
        if self.fail_posts:
            self.fail_posts -= 1
            raise ConnectionError("Slack is down")
        with self._lock:
            self.posted.append((channel, briefing))

    def windows(self) -> list[tuple[str, str]]:
        return [(s.isoformat(), u.isoformat()) for s, u, *_ in self.built]


def scheduler(path: Path, rec: Recorder, clock: Clock, *schedules: Schedule) -> Scheduler:
    return Scheduler(
        list(schedules or [DAILY]),
        ScheduleState(path),
        rec.build,
        rec.post,
        "slack",
        clock=clock,
    )


def test_window_runs_from_the_last_briefing_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = Recorder()
    first = scheduler(db, rec, clock)
    assert first.tick() == []  # nothing owed before the schedule existed
    assert first.tick() == [] and rec.posted == []
    clock.at("2024-03-04T08:00:00")
    [posted] = first.tick()
    assert (posted.since, posted.until) == (
        datetime(2024, 3, 3, 8, tzinfo=UTC),
        datetime(2024, 3, 4, 8, tzinfo=UTC),
    )
    assert rec.posted[0][0] == "C1"
    assert first.tick() == []  # not twice

    # A restart in the same hour: the morning's briefing is not repeated.
    rec2 = Recorder()
    assert scheduler(db, rec2, clock.at("2024-03-04T08:40:00")).tick() == []
    # Down over the next morning, restarted at 09:30: that briefing is owed, and posted late.
    rec3 = Recorder()
    third = scheduler(db, rec3, clock.at("2024-03-05T09:30:00"))
    [late] = third.tick()
    assert rec3.windows() == [("2024-03-04T08:00:00+00:00", "2024-03-05T08:00:00+00:00")]
    assert late.until == datetime(2024, 3, 5, 8, tzinfo=UTC)
    # Down for two mornings: one briefing covers both, from the last one posted.
    rec4 = Recorder()
    scheduler(db, rec4, clock.at("2024-03-07T12:00:00")).tick()
    assert rec4.windows() == [("2024-03-05T08:00:00+00:00", "2024-03-07T08:00:00+00:00")]
    history = ScheduleState(db).history("morning", "slack")
    assert [h["status"] for h in history] == ["posted"] * 3


def test_nothing_new_is_one_line_and_articles_are_not_repeated(tmp_path: Path) -> None:
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = Recorder(stories=["a1", "a2"])
    s = scheduler(db, rec, clock)
    s.tick()
    clock.at("2024-03-04T08:00:00")
    s.tick()
    assert isinstance(rec.posted[-1][1], Briefing)
    clock.at("2024-03-05T08:00:00")
    s.tick()
    assert rec.built[-1][4] == {"a1", "a2"}  # already briefed: left out of the next one
    assert rec.posted[-1] == ("C1", NOTHING_NEW)
    topical = Schedule("ukraine", "0 8 * * *", channels={"slack": "C2"}, topic="Ukraine")
    rec2 = Recorder(stories=[])
    t = scheduler(db, rec2, clock.at("2024-03-05T07:00:00"), topical)
    t.tick()
    clock.at("2024-03-05T08:00:00")
    t.tick()
    assert rec2.posted == [("C2", "Nothing new about 'Ukraine' since the last briefing.")]


def test_articles_of_the_also_in_the_news_lines_are_not_repeated_either(tmp_path: Path) -> None:
    from retrieval.models import NewsItem

    class WithLines(Recorder):
        def build(self, since, until, topic, max_stories, seen) -> Briefing:
            briefing = super().build(since, until, topic, max_stories, seen)
            if "b1" not in seen:
                line = NewsItem(
                    "h", Citation(2, "b1", "t", "s", None, "", "q", 0, 1), ["b1"], ["s"]
                )
                briefing.also_in_the_news.append(line)
            return briefing

    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = WithLines(stories=["a1"])
    s = scheduler(db, rec, clock)
    s.tick()
    clock.at("2024-03-04T08:00:00")
    s.tick()
    clock.at("2024-03-05T08:00:00")
    s.tick()
    assert rec.built[-1][4] == {"a1", "b1"}  # the line's article was briefed too


def test_a_failed_post_is_retried_not_skipped(tmp_path: Path) -> None:
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = Recorder()
    s = scheduler(db, rec, clock)
    s.tick()
    rec.fail_posts = 1
    clock.at("2024-03-04T08:00:00")
    assert s.tick() == [] and rec.posted == []
    clock.at("2024-03-04T08:00:30")
    assert s.tick() == []  # waits a minute before trying again
    clock.at("2024-03-04T08:01:01")
    [posted] = s.tick()
    assert posted.until == datetime(2024, 3, 4, 8, tzinfo=UTC) and len(rec.posted) == 1


def test_an_abandoned_claim_is_taken_over_once_expired(tmp_path: Path) -> None:
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = Recorder()
    s = scheduler(db, rec, clock)
    s.tick()
    # Another process claimed the 08:00 briefing, then died before posting it.
    dead = ScheduleState(db, owner="dead-process")
    fire = datetime(2024, 3, 4, 8, tzinfo=UTC)
    assert dead.claim(
        "morning", "slack", fire, fire - timedelta(days=1), fire, timedelta(minutes=15)
    )
    assert scheduler(db, rec, clock.at("2024-03-04T08:05:00")).tick() == []
    [posted] = scheduler(db, rec, clock.at("2024-03-04T08:20:00")).tick()
    assert posted.until == fire and len(rec.posted) == 1


def test_a_window_starts_at_the_last_posted_briefing_not_an_abandoned_claim(
    tmp_path: Path,
) -> None:
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = Recorder()
    s = scheduler(db, rec, clock)
    s.tick()
    clock.at("2024-03-04T08:00:00")
    [first] = s.tick()
    # The next morning another process claimed the 08:00 briefing and died before posting;
    # nothing ran until the morning after.
    dead = ScheduleState(db, owner="dead-process")
    fire = datetime(2024, 3, 5, 8, tzinfo=UTC)
    assert dead.claim("morning", "slack", fire, first.until, fire, timedelta(minutes=15))
    rec2 = Recorder()
    scheduler(db, rec2, clock.at("2024-03-06T08:00:00")).tick()
    assert rec2.windows() == [("2024-03-04T08:00:00+00:00", "2024-03-06T08:00:00+00:00")]


def test_two_schedulers_racing_post_once(tmp_path: Path) -> None:
    db = tmp_path / "schedules.sqlite3"
    clock = Clock(datetime(2024, 3, 4, 7, 0, tzinfo=UTC))
    rec = Recorder(delay=0.05)  # both are inside the build at once
    racers = [scheduler(db, rec, clock) for _ in range(2)]
    for r in racers:
        r.tick()
    for day in range(4, 9):
        clock.at(f"2024-03-{day:02d}T08:00:00")
        barrier = threading.Barrier(len(racers))
        threads = [
            threading.Thread(target=lambda r=r, b=barrier: (b.wait(), r.tick())) for r in racers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    assert len(rec.posted) == 5
    assert len({u for _, u, *_ in rec.built}) == 5


RACER = """
import json, sys
from datetime import datetime, UTC
from retrieval.models import Briefing
from retrieval.news.schedule import Schedule, Scheduler
from retrieval.news.schedulestate import ScheduleState
db, out, when = sys.argv[1:4]
posted = []
sched = Scheduler(
    [Schedule("morning", "0 8 * * *", channels={"slack": "C1"})],
    ScheduleState(__import__("pathlib").Path(db)),
    lambda s, u, t, n, seen: Briefing(s.isoformat(), u.isoformat(), t),
    lambda channel, b: posted.append(str(b)),
    "slack",
    clock=lambda: datetime.fromisoformat(when),
)
sched.tick()
json.dump(posted, open(out, "w"))
"""


def test_two_processes_racing_post_once(tmp_path: Path) -> None:
    db = tmp_path / "schedules.sqlite3"
    ScheduleState(db).first_seen("morning", "slack", datetime(2024, 3, 4, 7, tzinfo=UTC))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RACER,
                str(db),
                str(tmp_path / f"{k}.json"),
                "2024-03-04T08:00:00+00:00",
            ],
            cwd=PROJECT_ROOT,
        )
        for k in range(3)
    ]
    assert [p.wait(60) for p in procs] == [0, 0, 0]
    posts = [json.loads((tmp_path / f"{k}.json").read_text()) for k in range(3)]
    assert sorted(len(p) for p in posts) == [0, 0, 1]


def test_cron_in_a_time_zone_follows_daylight_saving() -> None:
    ny = Schedule("ny", "0 8 * * 1-5", "America/New_York", {"slack": "C1"})
    # 08:00 in New York is 13:00 UTC in winter and 12:00 UTC in summer.
    assert ny.latest_fire(datetime(2024, 3, 8, 13, 30, tzinfo=UTC)) == datetime(
        2024, 3, 8, 13, tzinfo=UTC
    )
    assert ny.latest_fire(datetime(2024, 3, 12, 12, 30, tzinfo=UTC)) == datetime(
        2024, 3, 12, 12, tzinfo=UTC
    )
    # Friday's fire is the latest on Sunday (weekdays only).
    assert ny.latest_fire(datetime(2024, 3, 10, 18, tzinfo=UTC)).day == 8
    assert ny.next_fire(datetime(2024, 3, 10, 18, tzinfo=UTC)) == datetime(
        2024, 3, 11, 12, tzinfo=UTC
    )


def test_a_scheduler_serves_only_its_platform(tmp_path: Path) -> None:
    both = Schedule("both", "0 8 * * *", channels={"slack": "C1", "discord": "42"})
    only_discord = Schedule("d", "0 9 * * *", channels={"discord": "43"})
    rec = Recorder()
    s = Scheduler(
        [both, only_discord], ScheduleState(tmp_path / "s.db"), rec.build, rec.post, "slack"
    )
    assert [x.name for x in s.schedules] == ["both"]
    assert both.channel("discord") == "42" and both.channel("slack") == "C1"
    assert both.channel("irc") is None  # a platform is a key like any other


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"cron": "0 8 * * *", "slack_channel": "C1"}, "schedules[0].name is missing"),
        ({"name": "x", "slack_channel": "C1"}, "schedules[0].cron is missing"),
        ({"name": "x", "cron": "every day", "slack_channel": "C1"}, "is not a cron expression"),
        (
            {"name": "x", "cron": "0 8 * * *", "timezone": "Mars/Base", "slack_channel": "C1"},
            "schedules[0].timezone: 'Mars/Base' is not a time zone",
        ),
        ({"name": "x", "cron": "0 8 * * *", "slack_channel": []}, "slack_channel: a channel id"),
        ({"name": "x", "cron": "0 8 * * *", "slack_channel": "C1", "chanel": 1}, "chanel"),
    ],
)
def test_a_bad_schedule_is_named(entry: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        ConfigFile.parse({"schedules": [entry]}, "briefbot.yaml")


def test_errors_in_the_file_name_its_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "briefbot.yaml"
    path.write_text(
        "schedules:\n"
        "  - name: morning\n"
        "    cron: '0 8 * * *'\n"
        "    slack_channel: C1\n"
        "  - name: morning\n"
        "    cron: every day\n"
        "feeds:\n"
        "  - https://example.com/feed.xml\n"
        "  - ftp://example.com/feed.xml\n"
        "watch_interval: often\n"
        "folder: [in]\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_config(path)
    assert str(caught.value).split("; ") == [
        f"{path}, line 6: schedules[1].cron: 'every day' is not a cron expression (e.g. '0 8 * *"
        " 1-5')",
        f"{path}, line 9: feeds[1]: 'ftp://example.com/feed.xml' is not an http or https URL",
        f"{path}, line 10: watch_interval: 'often' is not an interval such as 90s, 15m or 2h",
        f"{path}, line 11: folder: unknown key",
    ]
    path.write_text(
        "schedules:\n  - {name: a, cron: '0 8 * * *'}\n  - {name: a, cron: '0 9 * * *'}\n"
    )
    with pytest.raises(
        SettingsError, match=rf"^{path}, line 3: schedules\[1\]\.name: 'a' is used twice$"
    ):
        load_config(path)
    path.write_text("- just a list\n")
    with pytest.raises(SettingsError, match="a mapping of keys"):
        load_config(path)
    with pytest.raises(SettingsError, match="--config: .*nowhere.yaml: no such file"):
        load_config(tmp_path / "nowhere.yaml")


def test_schedules_from_config() -> None:
    [s] = ConfigFile.parse(
        {
            "schedules": [
                {
                    "name": "morning",
                    "cron": "30 7 * * 1-5",
                    "timezone": "Europe/London",
                    "slack_channel": "C123",
                    "discord_channel": "987654321",
                    "topic": "  Ukraine  war ",
                    "max_stories": 5,
                }
            ]
        }
    ).schedule_list()
    assert s == Schedule(
        "morning",
        "30 7 * * 1-5",
        "Europe/London",
        {"slack": "C123", "discord": "987654321"},
        "Ukraine war",
        5,
    )


# -- posting to the platforms --------------------------------------------------------------------
def test_slack_posts_a_briefing_and_a_one_line_notice() -> None:
    from bot.slack.replies import post_briefing

    class Client:
        def __init__(self) -> None:
            self.calls: list[dict] = []

        def chat_postMessage(self, **kwargs: Any) -> None:  # noqa: N802 (Slack's name)
            self.calls.append(kwargs)

    client = Client()
    post_briefing(client, "C1", NOTHING_NEW)  # type: ignore[arg-type]
    assert len(client.calls) == 1 and client.calls[0]["text"] == NOTHING_NEW
    assert len(client.calls[0]["blocks"]) == 1
    briefing = Briefing("2024-03-03T08:00:00+00:00", "2024-03-04T08:00:00+00:00", None)
    briefing.stories = [story("a1")]
    post_briefing(client, "C1", briefing)  # type: ignore[arg-type]
    assert client.calls[1]["channel"] == "C1" and "headline" in json.dumps(client.calls[1])


async def test_discord_posts_a_briefing_and_a_one_line_notice() -> None:
    from bot.discord.send import post_briefing

    class Channel:
        def __init__(self) -> None:
            self.sent: list[dict] = []

        async def send(self, content: str | None = None, **kwargs: Any) -> None:
            self.sent.append({"content": content, **kwargs})

    channel = Channel()
    await post_briefing(channel, NOTHING_NEW)  # type: ignore[arg-type]
    assert channel.sent[0]["content"] == NOTHING_NEW
    briefing = Briefing("2024-03-03T08:00:00+00:00", "2024-03-04T08:00:00+00:00", None)
    briefing.stories = [story("a1")]
    await post_briefing(channel, briefing)  # type: ignore[arg-type]
    assert channel.sent[1]["embeds"][0].fields[0].name.startswith("1. headline")


def test_the_serve_commands_scheduler_briefs_with_the_engine(
    seed_engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    posted: list[tuple[Any, Briefing | str]] = []
    seed_day = Schedule("seed", "0 8 * * *", channels={"slack": "C9"})
    scheduler = seed_engine.scheduler([seed_day], "slack", lambda c, b: posted.append((c, b)))
    clock = Clock(datetime(2022, 2, 11, 7, 0, tzinfo=UTC))
    scheduler.clock = clock
    scheduler.tick()
    clock.at("2022-02-11T08:00:00")
    [done] = scheduler.tick()
    channel, briefing = posted[0]
    assert channel == "C9" and isinstance(briefing, Briefing) and not done.empty
    assert "Not Invade Ukraine" in briefing.stories[0].headline
    # The next day: the seed was briefed already, so nothing new.
    clock.at("2022-02-12T08:00:00")
    scheduler.tick()
    assert posted[1] == ("C9", NOTHING_NEW)


async def test_discord_posts_from_the_scheduler_thread_on_the_clients_loop(tmp_path: Path) -> None:
    import asyncio

    import discord

    from bot.discord.client import build_client
    from bot.discord.settings import DiscordSettings

    class Channel(discord.abc.Messageable):
        sent: list[str] = []

        async def _get_channel(self) -> Any:
            return self

        async def send(self, content: str | None = None, **kwargs: Any) -> None:  # type: ignore[override]
            self.sent.append(content or "")

    client = build_client(DiscordSettings(_env_file=None), None)
    channel = Channel()
    client.get_channel = lambda channel_id: channel if channel_id == 42 else None  # type: ignore[method-assign]
    post = client.threadsafe_poster(timeout=10)
    await asyncio.to_thread(post, "42", NOTHING_NEW)  # as the scheduler's thread calls it
    assert channel.sent == [NOTHING_NEW]
    # A channel that takes no messages (a category, say) is named, not an AttributeError.
    category = object()
    client.get_channel = lambda channel_id: category  # type: ignore[method-assign]
    with pytest.raises(BriefbotError, match="Discord channel 7 takes no messages"):
        await asyncio.to_thread(post, "7", NOTHING_NEW)


def test_many_processes_opening_the_schedule_file_at_once_all_open_it(tmp_path):
    """Switching a new file to WAL needs it to itself, and SQLite's busy timeout does not cover
    that: without waiting for it, one of several processes starting together failed with
    'database is locked'."""
    import subprocess
    import sys
    import time

    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from retrieval.news.schedulestate import ScheduleState\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # all at once\n"
        "for k in range(20):\n"
        "    ScheduleState(Path(sys.argv[1]) / f'{k}.sqlite3').close()\n"
    )
    start = str(time.time() + 3.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), start], stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    errors = [p.communicate()[1] for p in procs if p.wait() != 0]
    assert errors == []
