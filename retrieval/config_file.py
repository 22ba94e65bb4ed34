"""The configuration file (`briefbot.yaml`): schedules, feeds, folders, the watch interval, and
how often followed topics may post (`follow:`).

One pydantic model reads it, so every mistake gets one kind of message, naming the file, the
line and the key: "briefbot.yaml, line 4: schedules[0].cron: 'every day' is not a cron
expression". A schedule addresses its channels by platform key (`slack_channel: C0123` is the
channel "C0123" on platform "slack"); which keys exist is the front ends' business, not this
module's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from retrieval.errors import SettingsError
from retrieval.intake.articles import no_alias_loader
from retrieval.intake.watch import WatchConfig, parse_interval
from retrieval.news.follow import FollowOptions, parse_quiet_hours
from retrieval.news.schedule import Schedule
from retrieval.urls import BadURL, split_url

DEFAULT_PATH = Path("briefbot.yaml")
Loc = tuple[str | int, ...]  # a key's path: ("schedules", 0, "cron")
CHANNEL = "_channel"  # `<platform>_channel: ID`


class ScheduleEntry(BaseModel):
    """One entry of `schedules`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    cron: str
    timezone: str = "UTC"
    topic: str | None = None
    max_stories: int = Field(10, ge=1, le=50)
    channels: dict[str, str] = Field(default_factory=dict)  # platform key -> channel id

    @model_validator(mode="before")
    @classmethod
    def _channel_keys(cls, data: Any) -> Any:
        """`<platform>_channel` keys, gathered under their platform key."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        channels = {}
        for key in [k for k in data if isinstance(k, str) and k.endswith(CHANNEL)]:
            value = data.pop(key)
            if (
                isinstance(value, bool)
                or not isinstance(value, str | int)
                or not str(value).strip()
            ):
                raise ValueError(f"{key}: a channel id")
            channels[key.removesuffix(CHANNEL)] = str(value).strip()
        data["channels"] = channels
        return data

    @field_validator("name", "cron")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("is empty")
        return v.strip()

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(v):
            raise ValueError(f"{v!r} is not a cron expression (e.g. '0 8 * * 1-5')")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{v!r} is not a time zone") from None
        return v

    @field_validator("topic")
    @classmethod
    def _topic(cls, v: str | None) -> str | None:
        return (" ".join(v.split()) or None) if v is not None else None

    def schedule(self) -> Schedule:
        return Schedule(
            self.name, self.cron, self.timezone, self.channels, self.topic, self.max_stories
        )


class FollowEntry(BaseModel):
    """The `follow:` section: when and how often followed topics post to a channel."""

    model_config = ConfigDict(extra="forbid")

    max_posts_per_hour: int = Field(6, ge=1, le=1000)
    quiet_hours: str | None = None  # "22:00-07:00": held until they end
    timezone: str = "UTC"

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, v: str | None) -> str | None:
        if v is not None:
            parse_quiet_hours(v)
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        return ScheduleEntry._timezone(v)

    def options(self) -> FollowOptions:
        quiet = parse_quiet_hours(self.quiet_hours) if self.quiet_hours else None
        return FollowOptions(self.max_posts_per_hour, quiet, self.timezone)


class ConfigFile(BaseModel):
    """The whole file. Unknown keys are refused: a misspelt key would otherwise do nothing."""

    model_config = ConfigDict(extra="forbid")

    schedules: list[ScheduleEntry] = Field(default_factory=list)
    feeds: list[str] = Field(default_factory=list)
    folders: list[Path] = Field(default_factory=list)
    watch_interval: str = "15m"
    follow: FollowEntry = Field(default_factory=lambda: FollowEntry.model_validate({}))

    # Where it was read from, to name in later errors (see `locate`).
    _source: str = PrivateAttr("config")
    _lines: dict[Loc, int] = PrivateAttr(default_factory=dict)

    @field_validator("feeds")
    @classmethod
    def _feed_urls(cls, urls: list[str]) -> list[str]:
        for k, url in enumerate(urls):
            try:
                split_url(url)
            except BadURL as exc:
                raise ValueError(f"[{k}]: {url!r} is {exc.reason}") from None
        return urls

    @field_validator("watch_interval")
    @classmethod
    def _interval(cls, v: str) -> str:
        try:
            parse_interval(v, "watch_interval")
        except SettingsError as exc:
            raise ValueError(str(exc).removeprefix("watch_interval: ")) from None
        return v

    @model_validator(mode="after")
    def _unique_names(self) -> ConfigFile:
        seen: set[str] = set()
        for k, s in enumerate(self.schedules):
            if s.name in seen:
                raise _Named(("schedules", k, "name"), f"{s.name!r} is used twice")
            seen.add(s.name)
        return self

    @classmethod
    def parse(
        cls, data: Any, source: str = "config", lines: dict[Loc, int] | None = None
    ) -> ConfigFile:
        """The file's parsed YAML; a SettingsError names the file, the line and the key."""
        lines = lines or {}
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise SettingsError(
                f"{source}: a mapping of keys (schedules, feeds, folders, follow) expected"
            )
        try:
            config = cls.model_validate(data)
        except ValidationError as exc:
            raise SettingsError(_message(exc, source, lines)) from None
        except _Named as exc:
            raise SettingsError(f"{_where(source, lines, exc.loc)}: {exc}") from None
        config._source, config._lines = source, lines
        return config

    def locate(self, *loc: str | int) -> str:
        """'file, line N: key' for a key of the file, for an error found after reading it."""
        return _where(self._source, self._lines, loc)

    def schedule_list(self) -> list[Schedule]:
        return [s.schedule() for s in self.schedules]

    def follow_options(self) -> FollowOptions:
        """Quiet hours, their time zone and the hourly limit for follows' posts."""
        return self.follow.options()

    def watch_config(self) -> WatchConfig:
        return WatchConfig(
            tuple(self.feeds),
            tuple(self.folders),
            parse_interval(self.watch_interval, "watch_interval"),
        )


class _Named(Exception):  # noqa: N818 (not a ValueError, so pydantic lets it through)
    """An error found across entries, at the key `loc`."""

    def __init__(self, loc: Loc, text: str) -> None:
        super().__init__(text)
        self.loc = loc


def load_config(path: Path | None = None) -> ConfigFile:
    """The configuration file at `path` (--config, $BRIEFBOT_CONFIG), or ./briefbot.yaml when it
    exists; an empty configuration when neither is given."""
    import yaml

    explicit = path is not None
    path = path or DEFAULT_PATH
    if not path.is_file():
        if explicit:
            raise SettingsError(f"--config: {path}: no such file")
        return ConfigFile.parse({}, str(path))
    try:
        text = path.read_text(encoding="utf-8")
        # Aliases are refused: a "billion laughs" of nested aliases once passed 2.5 GB.
        node = yaml.compose(text, Loader=no_alias_loader())
        data = yaml.load(text, Loader=no_alias_loader())  # noqa: S506 (a safe loader)
    except yaml.composer.ComposerError as exc:
        line = f", line {exc.problem_mark.line + 1}" if exc.problem_mark else ""
        raise SettingsError(f"{path}{line}: {exc.problem}") from None
    except (OSError, UnicodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: not a readable YAML file ({exc})") from None
    return ConfigFile.parse(data, str(path), _key_lines(node))


def _key_lines(node: Any, loc: Loc = ()) -> dict[Loc, int]:
    """The 1-based line of every key and list item in a YAML node tree."""
    import yaml

    found: dict[Loc, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            here = (*loc, str(key.value))
            found[here] = key.start_mark.line + 1
            found.update(_key_lines(value, here))
    elif isinstance(node, yaml.SequenceNode):
        for k, item in enumerate(node.value):
            found[(*loc, k)] = item.start_mark.line + 1
            found.update(_key_lines(item, (*loc, k)))
    return found


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _where(source: str, lines: dict[Loc, int], loc: Loc) -> str:
    """ "file, line N: key", with the line of the nearest key of `loc` that the file has."""
    for end in range(len(loc), 0, -1):
        line = lines.get(tuple(loc[:end]))
        if line is not None:
            return f"{source}, line {line}: {_dotted(loc)}"
    return f"{source}: {_dotted(loc)}" if loc else source


def _message(exc: ValidationError, source: str, lines: dict[Loc, int]) -> str:
    parts = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if p != "channels")
        msg = str(err["msg"]).removeprefix("Value error, ")
        kind = err["type"]
        where = _where(source, lines, loc)
        if kind == "missing":
            parts.append(f"{where} is missing")
        elif kind == "extra_forbidden":
            parts.append(f"{where}: unknown key")
        elif msg.startswith("[") and "]" in msg:  # a list's item, named by the validator
            index, _, text = msg[1:].partition("]")
            parts.append(f"{_where(source, lines, (*loc, int(index)))}{text}")
        elif msg.endswith(": a channel id") and loc:  # a `<platform>_channel` key's own name
            key, _, text = msg.partition(": ")
            parts.append(f"{_where(source, lines, (*loc, key))}: {text}")
        else:
            parts.append(f"{where}: {msg}")
    return "; ".join(parts)
