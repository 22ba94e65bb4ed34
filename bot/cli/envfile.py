"""deploy/env.example, written from the settings models themselves (`briefbot env-example`):
every setting with its meaning (the field's docstring) and its default.

tests/test_deploy.py checks that the committed file is exactly what this writes, and that every
setting has a meaning, so that neither the file nor the settings can drift from the other.
"""

from __future__ import annotations

import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from bot.cli.options import ConfigOption
from retrieval import Settings

WIDTH = 100
HEADER = """\
# Every briefbot setting, with its meaning and default. Written by `briefbot env-example`
# from the settings models (retrieval/config.py, bot/slack/settings.py, bot/discord/settings.py):
# do not edit by hand; tests/test_deploy.py checks it matches.
#
# Copy it to deploy/.env (compose) or /etc/briefbot/briefbot.env (systemd) and set what you
# need: a line left commented keeps the default shown. Secrets are never printed or logged.
# deploy/compose.yaml sets the data directory, the Chroma server and the health port itself.
"""


class MissingMeaning(Exception):
    """A setting without a docstring: the example would not say what it is for."""


def _sections() -> list[tuple[str, type[BaseSettings]]]:
    from bot.discord.settings import DiscordSettings
    from bot.slack.settings import SlackSettings

    return [
        ("The engine (retrieval/config.py)", Settings),
        ("Slack (bot/slack/settings.py)", SlackSettings),
        ("Discord (bot/discord/settings.py)", DiscordSettings),
    ]


def env_name(cls: type[BaseSettings], name: str, info: FieldInfo) -> str:
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def default_text(info: FieldInfo) -> tuple[str, str]:
    """The value to show after `=`, and a note when the default can't be written as one (a
    folder of the installation)."""
    value = info.get_default(call_default_factory=True)
    if isinstance(value, SecretStr) or value is None:
        return "", ""
    if isinstance(value, bool):
        return str(value).lower(), ""
    if isinstance(value, Path) and value.is_absolute():
        return "", f"Default: the {value.name}/ folder of the installation."
    return str(value), ""


def choices(info: FieldInfo) -> str:
    args = typing.get_args(info.annotation)
    if typing.get_origin(info.annotation) is typing.Literal:
        return "One of: " + ", ".join(str(a) for a in args) + "."
    return ""


def _comment(text: str) -> list[str]:
    return textwrap.wrap(" ".join(text.split()), WIDTH - 2, break_on_hyphens=False)


def _entry(name: str, meaning: str, value: str, notes: list[str]) -> list[str]:
    lines = [f"# {line}" for line in _comment(" ".join([meaning, *filter(None, notes)]))]
    return [*lines, f"#{name}={value}", ""]


def cli_settings() -> list[tuple[str, str]]:
    """Settings the command line reads itself (typer options with an environment variable)."""
    option: Any = typing.get_args(ConfigOption)[1]  # Annotated[type, typer.Option(...)]
    return [(str(option.envvar), str(option.help))]


def env_example() -> str:
    """The text of deploy/env.example."""
    out = [HEADER]
    for title, cls in _sections():
        out += [f"## {title}", ""]
        for name, info in cls.model_fields.items():
            if not info.description:
                raise MissingMeaning(f"{cls.__name__}.{name} has no docstring")
            value, note = default_text(info)
            secret = "A secret: never printed or logged." if info.annotation is SecretStr else ""
            out += _entry(
                env_name(cls, name, info), info.description, value, [choices(info), note, secret]
            )
    out += ["## The command line (bot/cli/options.py)", ""]
    for name, meaning in cli_settings():
        out += _entry(name, meaning, "", [])
    return "\n".join(out).rstrip("\n") + "\n"


def print_env_example() -> None:
    """Print every setting with its meaning and default (what deploy/env.example holds)."""
    sys.stdout.write(env_example())
