"""Options that several commands take (watch, serve, health)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="BRIEFBOT_CONFIG",
        help="YAML with schedules, feeds, folders (default: ./briefbot.yaml if present)",
    ),
]
IfConfigured = Annotated[
    bool,
    typer.Option(
        "--if-configured",
        help="Exit quietly (status 0) when there is nothing to run: no token, no feeds or folders",
    ),
]
