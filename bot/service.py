"""The running service, wired in one place: what `briefbot serve` (or a container, or a unit
file) starts.

Settings are read and checked once, the engine is warmed once (seeds indexed if the index is
empty, the index loaded), one conversation is shared by every chat platform whose tokens are
set, and once a platform has connected, what it posts unprompted is posted from here through
its `Outbox`: its scheduled briefings (a `Scheduler`) and its followed topics' new developments
(a `Follower`), each from a daemon thread. A new chat platform is one more `Adapter` in
`ADAPTERS`.

SIGTERM (or Ctrl-C) stops it gracefully, within BRIEFBOT_SHUTDOWN_GRACE_S: /health answers
"stopping", a briefing or follow post being posted is finished and the claims on those not yet
posted are released (the next process posts them at once, and none twice), the answers under
way finish or are handed back to their users, then each platform disconnects.

`briefbot watch` runs the same way (`Watch`): /health, and SIGTERM or Ctrl-C ending it after
the round under way. What both run inside is `running`.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from bot.asked import AskedStore
from bot.chat import Outbox
from bot.conversation import Conversation
from retrieval import (
    ConfigFile,
    Engine,
    FeedbackStore,
    Follower,
    IngestProgress,
    IngestReport,
    RoundReport,
    Schedule,
    Scheduler,
    SeenEvents,
    SettingsError,
    WatchConfig,
)

if TYPE_CHECKING:
    from bot.health_server import HealthServer

log = logging.getLogger(__name__)


class Adapter(Protocol):
    """A chat platform as the service runs it (bot/slack/adapter.py, bot/discord/adapter.py)."""

    @property
    def platform(self) -> str:
        """The key its schedules use: `<platform>_channel` in the configuration file."""
        ...

    @property
    def configured(self) -> bool:
        """Whether its token is set: `briefbot serve` runs every platform that is."""
        ...

    @property
    def allowed_channels(self) -> frozenset[str]:
        """The channels the conversation answers in on this platform (its setting); none:
        every channel."""
        ...

    def check(self) -> None:
        """A SettingsError naming what is missing or wrong, before anything connects."""

    def channel(self, value: str) -> str:
        """A schedule's channel id as the platform takes it; a ValueError says why not."""
        ...

    def run(self, conversation: Conversation, on_start: Callable[[Outbox], None]) -> None:
        """Connect and answer until `stop()`; `on_start(outbox)` once connected, with what
        posts to the platform unprompted (briefings, followed topics)."""

    def stop(self) -> None:
        """Disconnect, from another thread: `run` then returns. Called once the answers under
        way are done (or handed back), so they could still be sent."""


# Imported on demand: a command that serves no chat platform loads no chat SDK. Each adapter
# reads its own settings (its tokens) when it is made.
def _slack() -> Adapter:
    from bot.slack.adapter import SlackAdapter

    return SlackAdapter()


def _discord() -> Adapter:
    from bot.discord.adapter import DiscordAdapter

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
        # The file's `follow:` section: quiet hours and each channel's posts an hour.
        engine.follow_options = config.follow_options()
        self.stopping = threading.Event()  # set by SIGTERM, Ctrl-C or `stop()`
        self.handed_back = 0  # answers still under way at the end of the grace period
        self._schedulers: list[Scheduler] = []
        self._followers: list[Follower] = []
        self._lock = threading.Lock()

    def conversation(self) -> Conversation:
        """One conversation for every platform, with each platform's channel allow-list: votes,
        the events already answered and what the buttons' answers were asked with are kept in
        the data directory, shared with any other process using it."""
        data = self.engine.settings.data_dir
        return Conversation(
            self.engine,
            FeedbackStore.in_data_dir(data),
            SeenEvents.in_data_dir(data),
            AskedStore.in_data_dir(data),
            allowed={a.platform: a.allowed_channels for a in self.adapters},
        )

    def warm(self) -> IngestReport | None:
        """The engine, ready before the first question (seeds indexed if need be)."""
        return self.engine.warm(self.on_seeding)

    def start_posting(self, platform: str) -> Callable[[Outbox], None]:
        """What an adapter calls once connected, with its outbox: its schedules' briefings and
        its followed topics' posts, each posted from a daemon thread (one `Follower` per
        platform, whether or not anything is followed yet: a follow can come at any time)."""

        def start(outbox: Outbox) -> None:
            if self.stopping.is_set():
                return
            schedules = self.schedules.get(platform, [])
            if schedules:
                scheduler = self.engine.scheduler(schedules, platform, outbox.briefing)
                with self._lock:
                    self._schedulers.append(scheduler)
                self._thread(scheduler.run, f"briefbot-{platform}-schedules")
            allowed = next(a.allowed_channels for a in self.adapters if a.platform == platform)
            follower = self.engine.follows.follower(platform, outbox.follow, allowed)
            with self._lock:
                self._followers.append(follower)
            self._thread(follower.run, f"briefbot-{platform}-follows")

        return start

    def _thread(self, run: Callable[[threading.Event], None], name: str) -> None:
        # A daemon: a briefing still being built at exit is left to the next process.
        threading.Thread(target=run, args=(self.stopping,), name=name, daemon=True).start()

    def all_schedules(self) -> list[Schedule]:
        return [s for schedules in self.schedules.values() for s in schedules]

    def stop(self) -> None:
        """Stop gracefully, as SIGTERM does (from any thread)."""
        self.stopping.set()

    def run(self) -> None:
        """Warm the engine, then serve every platform until stopped (SIGTERM, Ctrl-C, `stop()`)
        or until one of them fails, whose error is raised here (after the others stop)."""
        self.warm()
        conversation = self.conversation()
        role = "serve " + " ".join(a.platform for a in self.adapters)
        failures: list[BaseException] = []
        ended = threading.Event()

        def run(adapter: Adapter) -> None:
            try:
                adapter.run(conversation, self.start_posting(adapter.platform))
            except BaseException as exc:
                failures.append(exc)
            finally:
                ended.set()

        threads = [
            threading.Thread(target=run, args=(a,), name=f"briefbot-{a.platform}", daemon=True)
            for a in self.adapters
        ]
        with running(self.engine, role, self.stopping, self.all_schedules) as stop:
            for t in threads:
                t.start()
            while not (self.stopping.is_set() or ended.is_set()):
                self.stopping.wait(0.5)  # a short wait: signals are handled between waits
            stop()  # /health answers "stopping" (a platform that failed stops the others)
            self._shut_down(conversation, threads)
        if failures and not isinstance(failures[0], KeyboardInterrupt):
            raise failures[0]

    def _shut_down(self, conversation: Conversation, threads: Sequence[threading.Thread]) -> None:
        grace = self.engine.settings.shutdown_grace_s
        deadline = time.monotonic() + grace
        log.info("stopping: up to %.0f s for the work under way", grace)
        self.stopping.set()  # the schedulers and followers post nothing new
        with self._lock:
            posters: list[Scheduler | Follower] = [*self._schedulers, *self._followers]
        for poster in posters:
            poster.shutdown(max(deadline - time.monotonic(), 0.0))
        self.handed_back = conversation.drain(max(deadline - time.monotonic(), 0.0))
        for adapter in self.adapters:
            try:
                adapter.stop()
            except Exception:
                log.exception("%s did not stop cleanly", adapter.platform)
        for t in threads:
            t.join(10.0)
        log.info("stopped")


class Watch:
    """`briefbot watch` as a service: a round over the configured feeds and folders every
    interval, ingesting what is new, run as the chat platforms are (`running`: /health with the
    role "watch", SIGTERM or Ctrl-C). SIGTERM ends it after the round under way; a kill mid-round
    loses nothing either (feed items stay pending, the store's writes are copy-on-write)."""

    def __init__(self, engine: Engine, config: WatchConfig) -> None:
        self.engine = engine
        self.watcher = engine.watcher(config)  # the data directory is checked here, at once
        self.stopping = threading.Event()  # set by SIGTERM or Ctrl-C

    def round(self) -> RoundReport:
        """One round, by itself (`watch --once`)."""
        return self.watcher.round()

    def run(self, on_round: Callable[[RoundReport], None]) -> None:
        """Rounds until stopped, `on_round` called with each one's report."""
        with running(self.engine, "watch", self.stopping):
            self.watcher.run(self.stopping, on_round)
        log.info("stopped")


@contextlib.contextmanager
def running(
    engine: Engine,
    role: str,
    stopping: threading.Event,
    schedules: Callable[[], Sequence[Schedule]] = tuple,
) -> Iterator[Callable[[], None]]:
    """What every long-running process (serve, watch) runs inside: /health (and /metrics) when
    BRIEFBOT_HEALTH_PORT is set, and SIGTERM or Ctrl-C stopping it. Yields the stop they call,
    also the process's own to call: `stopping` is set and /health answers "stopping" (503) from
    then on, while the work under way finishes."""
    with health_server(engine, role, schedules) as health:

        def stop() -> None:
            if health is not None:
                health.stopping = True
            stopping.set()

        with stop_on_signals(stop):
            yield stop


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM and SIGINT call `stop` while inside (in the main thread; elsewhere, where signal
    handlers can't be set, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop()

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def health_server(
    engine: Engine, role: str, schedules: Callable[[], Sequence[Schedule]] = tuple
) -> Iterator[HealthServer | None]:
    """/health (and /metrics) served while inside, when BRIEFBOT_HEALTH_PORT is set."""
    if not engine.settings.health_port:
        yield None
        return
    from bot.health_server import HealthServer

    server = HealthServer(engine, role, schedules).start()
    try:
        yield server
    finally:
        server.stop()


def adapters_for(platforms: Sequence[str] | None) -> list[Adapter]:
    """The named platforms' adapters; None: every platform whose token is set."""
    if platforms is not None:
        return [ADAPTERS[p]() for p in platforms]
    made = [make() for make in ADAPTERS.values()]
    return [a for a in made if a.configured]
