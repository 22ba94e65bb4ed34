"""The settings this process reads once, and the engine the commands make from them.

`make_engine` is the one place a command gets its engine (commands call it as
`state.make_engine()`), so that tests can hand every command theirs.
"""

from __future__ import annotations

from bot.cli.console import err
from bot.cli.printers import print_report
from bot.cli.progress import IngestBar
from retrieval import Engine, Settings, load_settings, shown


class State:
    settings: Settings | None = None


def settings() -> Settings:
    if State.settings is None:
        State.settings = load_settings()
    return State.settings


def make_engine() -> Engine:
    return Engine(settings())


def ensure_seeded(engine: Engine) -> None:
    """An empty index gets the seed articles first, with their progress shown."""
    if engine.is_empty():
        seeds = shown(engine.settings.seeds_dir)
        err.print(f"Nothing indexed yet: indexing the seed articles in {seeds}")
        with IngestBar("Indexing seeds") as bar:
            report = engine.ensure_seeded(bar)
        if report:
            print_report(report)
