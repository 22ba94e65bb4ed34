"""Text shared by the renderers."""

from __future__ import annotations

from collections.abc import Iterable


def join_lines(lines: Iterable[str], limit: int) -> list[str]:
    """Whole lines (each within `limit`) grouped into texts of at most `limit` characters: a
    line is never split between two messages, sections or fields."""
    groups: list[str] = []
    for line in lines:
        if groups and len(groups[-1]) + 1 + len(line) <= limit:
            groups[-1] += "\n" + line
        else:
            groups.append(line)
    return groups
