"""Prompt and message templates, loaded by name from the files beside this module."""

from __future__ import annotations

from functools import cache
from pathlib import Path

HERE = Path(__file__).parent


@cache
def load(name: str) -> str:
    """The template `name` (e.g. "abstain"), without its trailing newline."""
    path = HERE / f"{name}.txt"
    if not path.is_file():
        raise KeyError(f"no prompt template named {name!r} in {HERE}")
    return path.read_text(encoding="utf-8").rstrip("\n")


def render(name: str, **values: str) -> str:
    return load(name).format(**values)
