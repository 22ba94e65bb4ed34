"""The running service, wired in one place: what `briefbot serve` (or a container, or a unit
file) starts.

Settings are read and checked once, the engine is warmed once (seeds indexed if the index is
empty, the index loaded), one conversation is shared by every chat platform whose tokens are
set, and each platform's scheduled briefings are posted from here once it has connected.
A new chat platform is one more `Adapter` in `ADAPTERS`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from bot.conversation import Conversation
from retrieval import (
    Briefing,
    ConfigFile,
    Engine,
    FeedbackStore,
    IngestProgress,
    IngestReport,
    Schedule,
    SeenEvents,
    SettingsError,
)

log = logging.getLogger(__name__)

Post = Callable[[str, Briefing | str], None]  # (channel, briefing or a one-line notice)


class Adapter(Protocol):
    """A chat platform as the service runs it (bot/slack_server.py, bot/discord_app.py)."""

    @property
    def platform(self) -> str:
        """The key its schedules use: `<platform>_channel` in the configuration file."""
        ...

    @property
    def configured(self) -> bool:
        """Whether its token is set: `briefbot serve` runs every platform that is."""
        ...

    def check(self) -> None:
        """A SettingsError naming what is missing or wrong, before anything connects."""

    def channel(self, value: str) -> str:
        """A schedule's channel id as the platform takes it; a ValueError says why not."""
        ...

    def run(self, conversation: Conversation, on_start: Callable[[Post], None]) -> None:
        """Connect and answer until stopped; `on_start(post)` once connected."""


# Imported on demand: a command that serves no chat platform loads no chat SDK. Each adapter
# reads its own settings (its tokens) when it is made.
def _slack() -> Adapter:
    from bot.slack_server import SlackAdapter

    return SlackAdapter()


def _discord() -> Adapter:
    from bot.discord_app import DiscordAdapter

    return DiscordAdapter()


ADAPTERS: dict[str, Callable[[], Adapter]] = {"slack": _slack, "discord": _discord}
PLATFORMS = tuple(ADAPTERS)


def check_schedules(config: ConfigFile, adapters: Sequence[Adapter]) -> dict[str, list[Schedule]]:
    """Each adapter's schedules, their channels checked; a SettingsError names the file, the
    line and the key of anything no platform can post to."""
    by_platform: dict[str, list[Schedule]] = {a.platform: [] for a in adapters}
    known = {a.platform: a for a in adapters}
    for k, schedule in enumerate(config.schedule_list()):
        if not schedule.channels:
            keys = " or ".join(f"{p}_channel" for p in PLATFORMS)
            raise SettingsError(f"{config.locate('schedules', k)}: needs {keys} (or both)")
        channels = {}
        for platform, value in schedule.channels.items():
            where = config.locate("schedules", k, f"{platform}_channel")
            if platform not in PLATFORMS:
                raise SettingsError(
                    f"{where}: no chat platform {platform!r} ({', '.join(PLATFORMS)})"
                )
            adapter = known.get(platform)
            if adapter is None:
                continue  # a platform not served by this process
            try:
                channels[platform] = adapter.channel(value)
            except ValueError as exc:
                raise SettingsError(f"{where}: {exc}") from None
        for platform, channel in channels.items():
            by_platform[platform].append(
                Schedule(
                    schedule.name,
                    schedule.cron,
                    schedule.timezone,
                    {platform: channel},
                    schedule.topic,
                    schedule.max_stories,
                )
            )
    return by_platform


class Service:
    """The engine, the conversation, and the chat platforms it answers on."""

    def __init__(
        self,
        engine: Engine,
        config: ConfigFile,
        adapters: Sequence[Adapter],
        on_seeding: Callable[[IngestProgress], None] | None = None,
    ) -> None:
        if not adapters:
            raise SettingsError(
                "No chat platform to serve: set SLACK_BOT_TOKEN (and SLACK_APP_TOKEN) or"
                " DISCORD_TOKEN."
            )
        self.engine = engine
        self.adapters = list(adapters)
        self.on_seeding = on_seeding
        for adapter in self.adapters:
            adapter.check()  # the settings, once, before any work
        self.schedules = check_schedules(config, self.adapters)

    def conversation(self) -> Conversation:
        """One conversation for every platform: votes and the events already answered are
        kept in the data directory, shared with any other process using it."""
        data = self.engine.settings.data_dir
        return Conversation(
            self.engine, FeedbackStore.in_data_dir(data), SeenEvents.in_data_dir(data)
        )

    def warm(self) -> IngestReport | None:
        """The engine, ready before the first question (seeds indexed if need be)."""
        return self.engine.warm(self.on_seeding)

    def start_schedules(self, platform: str) -> Callable[[Post], None]:
        """What an adapter calls once connected: its schedules, posted from a daemon thread."""

        def start(post: Post) -> None:
            schedules = self.schedules.get(platform, [])
            if not schedules:
                return
            scheduler = self.engine.scheduler(schedules, platform, post)
            thread = threading.Thread(
                target=scheduler.run,
                args=(threading.Event(),),
                name=f"briefbot-{platform}-schedules",
                daemon=True,  # it ends with the process
            )
            thread.start()

        return start

    def run(self) -> None:
        """Warm the engine, then serve every platform until stopped (Ctrl-C) or until one of
        them fails, whose error is raised here."""
        self.warm()
        conversation = self.conversation()
        runs = [
            (a.platform, lambda a=a: a.run(conversation, self.start_schedules(a.platform)))
            for a in self.adapters
        ]
        if len(runs) == 1:
            runs[0][1]()
            return
        failures: list[BaseException] = []
        stopped = threading.Event()

        def run(fn: Callable[[], None]) -> None:
            try:
                fn()
            except BaseException as exc:
                failures.append(exc)
            finally:
                stopped.set()

        for name, fn in runs:
            threading.Thread(target=run, args=(fn,), name=f"briefbot-{name}", daemon=True).start()
        try:
            stopped.wait()
        except KeyboardInterrupt:
            return
        if failures:
            raise failures[0]


def adapters_for(platforms: Sequence[str] | None) -> list[Adapter]:
    """The named platforms' adapters; None: every platform whose token is set."""
    if platforms is not None:
        return [ADAPTERS[p]() for p in platforms]
    made = [make() for make in ADAPTERS.values()]
    return [a for a in made if a.configured]
