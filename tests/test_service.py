"""The service wired in one place: settings checked once, the engine warmed once, one
conversation for every platform, each platform's schedules and follower started once it is
connected, and stopped with it."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from bot.chat import Outbox
from bot.conversation import Conversation
from bot.discord.adapter import DiscordAdapter
from bot.discord.settings import DiscordSettings
from bot.service import Service, Watch, adapters_for
from bot.slack.adapter import SlackAdapter
from bot.slack.settings import SlackSettings
from retrieval import Follower, FollowPost, Follows
from retrieval.config_file import ConfigFile
from retrieval.engine import Engine
from retrieval.errors import SettingsError
from retrieval.intake.watch import WatchConfig
from retrieval.news.schedule import Schedule


class FakePlatform:
    """A chat platform that connects at once and records what the service asked of it."""

    def __init__(
        self, platform: str, fail: Exception | None = None, allowed: frozenset[str] = frozenset()
    ) -> None:
        self.platform = platform
        self.configured = True
        self.allowed_channels = allowed
        self.fail = fail
        self.checks = 0
        self.conversations: list[Conversation] = []
        self.ran = threading.Event()
        self.stopped = False
        self.posts: list[FollowPost] = []

    def check(self) -> None:
        self.checks += 1

    def channel(self, value: str) -> str:
        if not value.startswith("#"):
            raise ValueError("a channel such as #news")
        return value

    def run(self, conversation: Conversation, on_start: Any) -> None:
        self.conversations.append(conversation)
        on_start(Outbox(briefing=lambda channel, briefing: None, follow=self.posts.append))
        self.ran.set()
        if self.fail:
            raise self.fail

    def stop(self) -> None:
        self.stopped = True


def config(*schedules: dict[str, Any], source: str = "briefbot.yaml") -> ConfigFile:
    return ConfigFile.parse({"schedules": list(schedules)}, source)


@pytest.fixture
def engine(make_engine) -> Engine:
    return make_engine()


def test_one_warm_engine_and_one_conversation_for_every_platform(engine, monkeypatch):
    warmed: list[object] = []
    started: list[tuple[str, list[str]]] = []
    real_warm, real_scheduler = Engine.warm, Engine.scheduler

    def warm(self: Engine, on_progress: Any = None) -> Any:
        warmed.append(self)
        return real_warm(self, on_progress)

    def scheduler(self: Engine, schedules: list[Schedule], platform: str, post: Any) -> Any:
        started.append((platform, [f"{s.name}:{s.channel(platform)}" for s in schedules]))
        return real_scheduler(self, schedules, platform, post)

    monkeypatch.setattr(Engine, "warm", warm)
    monkeypatch.setattr(Engine, "scheduler", scheduler)
    chat, irc = FakePlatform("chat", allowed=frozenset({"#news"})), FakePlatform("irc")
    monkeypatch.setattr("bot.service.PLATFORMS", ("chat", "irc"))
    cfg = config(
        {"name": "morning", "cron": "0 8 * * *", "chat_channel": "#news", "irc_channel": "#n"},
        {"name": "noon", "cron": "0 12 * * *", "irc_channel": "#noon"},
    )
    service = Service(engine, cfg, [chat, irc])
    assert (chat.checks, irc.checks) == (1, 1)  # before any work
    service.run()
    assert chat.ran.wait(10) and irc.ran.wait(10)
    assert warmed == [engine]
    assert (chat.checks, irc.checks) == (1, 1)
    [one], [other] = chat.conversations, irc.conversations
    assert one is other and one.engine is engine
    # Each platform's channels (its setting: SLACK_ALLOWED_CHANNELS, DISCORD_ALLOWED_CHANNELS).
    assert one.allowed == {"chat": {"#news"}, "irc": set()}
    data = Path(engine.settings.data_dir)
    assert (data / "feedback.sqlite3").is_file() and (data / "events.sqlite3").is_file()
    assert (data / "asked.sqlite3").is_file()  # what the buttons' answers were asked with
    assert sorted(started) == [
        ("chat", ["morning:#news"]),
        ("irc", ["morning:#n", "noon:#noon"]),
    ]


def test_a_platform_that_fails_stops_the_service_with_its_error(engine, monkeypatch):
    monkeypatch.setattr("bot.service.PLATFORMS", ("chat", "irc"))
    chat = FakePlatform("chat", fail=SettingsError("chat refused the token"))
    with pytest.raises(SettingsError, match="chat refused the token"):
        Service(engine, config(), [chat, FakePlatform("irc")]).run()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"name": "x", "cron": "0 8 * * *"},
            "briefbot.yaml: schedules[0]: needs slack_channel or discord_channel (or both)",
        ),
        (
            {"name": "x", "cron": "0 8 * * *", "discord_channel": "general"},
            "briefbot.yaml: schedules[0].discord_channel: a channel id (a number)",
        ),
        (
            {"name": "x", "cron": "0 8 * * *", "slak_channel": "C1"},
            "briefbot.yaml: schedules[0].slak_channel: no chat platform 'slak' (slack, discord)",
        ),
    ],
)
def test_a_schedule_no_platform_can_post_is_named(engine, entry, message):
    discord = DiscordAdapter(DiscordSettings(_env_file=None, DISCORD_TOKEN="t"))
    with pytest.raises(SettingsError) as caught:
        Service(engine, config(entry), [discord])
    assert str(caught.value) == message


def test_the_line_of_a_bad_channel_is_named(engine, tmp_path):
    from retrieval.config_file import load_config

    path = tmp_path / "briefbot.yaml"
    path.write_text(
        "schedules:\n  - name: x\n    cron: '0 8 * * *'\n    discord_channel: general\n"
    )
    discord = DiscordAdapter(DiscordSettings(_env_file=None, DISCORD_TOKEN="t"))
    with pytest.raises(SettingsError, match=rf"^{path}, line 4: schedules\[0\]\.discord_channel"):
        Service(engine, load_config(path), [discord])


def test_settings_are_checked_before_any_work(engine):
    """Serving Discord without its token (or with nothing to serve) is refused at once."""
    with pytest.raises(SettingsError, match="DISCORD_TOKEN is not set"):
        Service(engine, config(), [DiscordAdapter(DiscordSettings(_env_file=None))])
    slack = SlackAdapter(SlackSettings(_env_file=None, SLACK_BOT_TOKEN="xoxb-1"), http=False)
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN is not set"):
        Service(engine, config(), [slack])
    with pytest.raises(SettingsError, match="No chat platform to serve"):
        Service(engine, config(), [])
    assert engine.is_empty()  # nothing was indexed meanwhile


def test_serve_runs_every_platform_whose_token_is_set(monkeypatch):
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "DISCORD_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no .env here
    assert adapters_for(None) == []
    monkeypatch.setenv("DISCORD_TOKEN", "t")
    assert [a.platform for a in adapters_for(None)] == ["discord"]
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    assert [a.platform for a in adapters_for(None)] == ["slack", "discord"]


def test_serve_and_watch_run_inside_the_same_wiring(engine, monkeypatch, tmp_path):
    """/health and the signals are wired in one place, `running`, for every long-running
    process: each with its role."""
    import bot.service

    roles: list[str] = []
    real = bot.service.running

    def running(engine: Engine, role: str, *args: Any) -> Any:
        roles.append(role)
        return real(engine, role, *args)

    monkeypatch.setattr(bot.service, "running", running)
    monkeypatch.setattr("bot.service.PLATFORMS", ("chat",))
    Service(engine, config(), [FakePlatform("chat")]).run()  # the platform returns at once
    watch = Watch(engine, WatchConfig(folders=(tmp_path,), interval_s=3600))
    rounds: list[object] = []

    def one_round(report: object) -> None:
        rounds.append(report)
        watch.stopping.set()

    watch.run(one_round)
    assert roles == ["serve chat", "watch"] and len(rounds) == 1


def test_each_platform_gets_a_follower_once_connected_and_it_stops_with_the_service(
    engine, monkeypatch
):
    """One `Follower` per platform, posting through the platform's outbox from a daemon
    thread, whether or not anything is followed yet; SIGTERM (here `stop()`) shuts it down with
    the schedulers, and the configuration file's `follow:` section is the engine's."""
    made: list[tuple[str, Follower]] = []
    shut: list[tuple[str, float]] = []
    real_follower, real_shutdown = Follows.follower, Follower.shutdown

    def follower(
        self: Follows, platform: str, post: Any, channels: frozenset[str] = frozenset()
    ) -> Follower:
        made.append((platform, real_follower(self, platform, post, channels)))
        return made[-1][1]

    def shutdown(self: Follower, timeout: float) -> bool:
        shut.append((self.platform, timeout))
        return real_shutdown(self, timeout)

    monkeypatch.setattr(Follows, "follower", follower)
    monkeypatch.setattr(Follower, "shutdown", shutdown)
    monkeypatch.setattr("bot.service.PLATFORMS", ("chat", "irc"))

    class Waiting(FakePlatform):
        """Connected until the service stops it."""

        def __init__(self, platform: str) -> None:
            super().__init__(platform)
            self.released = threading.Event()

        def run(self, conversation: Conversation, on_start: Any) -> None:
            super().run(conversation, on_start)
            self.released.wait(30)

        def stop(self) -> None:
            super().stop()
            self.released.set()

    chat, irc = Waiting("chat"), Waiting("irc")
    chat.allowed_channels = frozenset({"C1"})
    cfg = ConfigFile.parse({"follow": {"max_posts_per_hour": 2, "quiet_hours": "22:00-07:00"}})
    service = Service(engine, cfg, [chat, irc])
    assert engine.follow_options.max_posts_per_hour == 2 and engine.follow_options.quiet_hours
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    assert chat.ran.wait(30) and irc.ran.wait(30)
    assert sorted(p for p, _ in made) == ["chat", "irc"]
    names = {t.name for t in threading.enumerate()}
    assert {"briefbot-chat-follows", "briefbot-irc-follows"} <= names
    # Each posts with its own platform's outbox.
    assert {f.platform: f.post for _, f in made} == {
        "chat": chat.posts.append,
        "irc": irc.posts.append,
    }
    # Only to the channels the platform's allow-list lets it answer in.
    assert {f.platform: f.channels for _, f in made} == {"chat": {"C1"}, "irc": frozenset()}
    service.stop()
    runner.join(30)
    assert not runner.is_alive() and chat.stopped and irc.stopped
    assert sorted(p for p, _ in shut) == ["chat", "irc"]
    for _ in range(50):  # each follower's thread ends at its next wait
        if not {"briefbot-chat-follows", "briefbot-irc-follows"} & {
            t.name for t in threading.enumerate()
        }:
            break
        threading.Event().wait(0.1)
    else:
        raise AssertionError("a follower's thread is still running")
