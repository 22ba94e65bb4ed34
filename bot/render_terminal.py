"""The terminal's rendering of answers and briefings (rich), as pure functions; and the console
that prints them, which lets no control character of the data reach the terminal."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

from retrieval import Answer, Briefing, Citation, moment_label

# What a terminal acts on instead of showing: C0 controls but newline and tab (ESC starts the
# sequences that clear the screen or retitle the window; CR overwrites a line), DEL, C1 controls
# (U+009B is a one-character CSI), and the direction overrides and isolates that make text read
# other than it is stored.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without the characters a terminal would act on (see `_CONTROL`)."""
    return _CONTROL.sub("", text)


def to_json(data: Any) -> str:
    """JSON for a terminal or a pipe: non-ASCII text kept readable, but every control
    character escaped (json escapes only those below U+0020)."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class TerminalConsole(Console):
    """A rich console whose output holds no control character from the data printed (titles,
    sources, quotes, file names, error messages): escape sequences in an article's title once
    cleared the screen. rich's own styles and cursor moves are kept."""

    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        # The one place every segment passes through, tables and progress bars included.
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style)
            for segment in buffer
        )


def _source_line(c: Citation) -> Text:
    line = Text()
    line.append(f"[{c.n}] ", style="bold cyan")
    line.append(c.title or "(untitled)", style="bold")
    meta = " · ".join(x for x in (c.source, c.published or "") if x)
    if meta:
        line.append(f" — {meta}", style="dim")
    if c.url:
        line.append(f"\n    {c.url}", style="blue underline")
    return line


def _quote(c: Citation) -> Text:
    return Text("    “" + " ".join(c.quote.split()) + "”", style="italic")


def render_answer(answer: Answer) -> RenderableType:
    if answer.abstained:
        return Text(answer.answer, style="yellow")
    parts: list[RenderableType] = [Text(answer.answer)]
    if answer.notice:  # something left out, or the model failed
        parts.append(Text(answer.notice, style="italic yellow"))
    parts += [Text(""), Text("Sources", style="bold")]
    for c in answer.citations:
        parts.append(_source_line(c))
        parts.append(_quote(c))
        also = answer.also_reported_by.get(c.article_id)
        if also:
            parts.append(Text(f"    also reported by {', '.join(also)}", style="dim"))
    searched = answer.articles_searched
    total = answer.timing_ms.get("total")
    footer = f"{searched} articles searched" + (f" · {total:.0f} ms" if total is not None else "")
    parts.append(Text(footer, style="dim"))
    return Group(*parts)


def render_briefing(briefing: Briefing) -> RenderableType:
    head = f"Briefing {moment_label(briefing.since)} → {moment_label(briefing.until)}"
    if briefing.topic:
        head += f" · {briefing.topic}"
    parts: list[RenderableType] = [Text(head, style="bold")]
    if briefing.empty:
        parts.append(Text(briefing.note or "Nothing new in the window.", style="yellow"))
        return Group(*parts)
    for k, story in enumerate(briefing.stories, start=1):
        n_sources = len(set(story.sources))
        tail = f" ({n_sources} sources)" if n_sources > 1 else ""
        parts.append(Text(f"\n{k}. {story.headline}{tail}", style="bold"))
        parts.append(Text(story.summary))
        for c in story.citations:
            parts.append(_source_line(c))
    if briefing.also_in_the_news:
        parts.append(Text("\nAlso in the news", style="bold"))
        for item in briefing.also_in_the_news:
            c = item.citation
            line = Text(f"• {' '.join(c.quote.split())} [{c.n}]")
            meta = " · ".join(x for x in (c.source, c.published or "") if x)
            if meta:
                line.append(f" — {meta}", style=Style(dim=True, link=c.url or None))
            parts.append(line)
    if briefing.quotes:
        parts.append(Text("\nQuotes of the day", style="bold"))
        for q in briefing.quotes:
            parts.append(
                Text(f"“{' '.join(q.citation.quote.split())}” — {q.speaker} [{q.citation.n}]")
            )
    return Group(*parts)
