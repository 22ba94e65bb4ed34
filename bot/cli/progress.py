"""Progress on stderr (stdout stays clean): a bar on a terminal, a plain line every few seconds
elsewhere (a log, CI), with the time left."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.cli.console import err
from retrieval import IngestProgress

if TYPE_CHECKING:
    from rich.progress import TaskID


def duration(seconds: float) -> str:
    """A rough remaining time, as people say it: 'about 40 s', 'about 3 min', 'about 1.5 h'."""
    if seconds < 60:
        return f"about {max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


class IngestBar:
    """Ingest progress on stderr (stdout stays clean): what is happening, articles, chunks,
    chunks/s and the time left; a bar on a terminal, a plain line every few seconds elsewhere."""

    def __init__(self, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("articles · {task.fields[detail]}", markup=False),
            console=err,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=None, detail="")
        self.label = label
        self._last_line = 0.0
        self._last_stage = ""

    @staticmethod
    def detail(p: IngestProgress) -> str:
        if p.stage != "embedding":
            return f"{p.stage}…"
        left = p.seconds_left
        eta = f" · {duration(left)} left" if left is not None else ""
        return f"{p.chunks_done} chunks · {p.chunks_per_second:.1f} chunks/s{eta}"

    def _plain(self, p: IngestProgress) -> None:
        """Without a terminal (a log, CI), a line when the stage changes and every few
        seconds."""
        import time

        now = time.monotonic()
        changed = p.stage != self._last_stage
        if changed or now - self._last_line >= 5 or p.articles_done == p.articles_total:
            self._last_line, self._last_stage = now, p.stage
            err.print(
                f"{self.label}: {p.articles_done}/{p.articles_total} articles · {self.detail(p)}"
            )

    def __enter__(self) -> IngestBar:
        if err.is_terminal:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if err.is_terminal:
            self.progress.stop()

    def __call__(self, p: IngestProgress) -> None:
        if not err.is_terminal:
            self._plain(p)
            return
        self.progress.update(
            self.task, total=p.articles_total, completed=p.articles_done, detail=self.detail(p)
        )


class StageProgress:
    """Progress of named stages (indexing, each system's questions): bars on a terminal; a
    plain line per stage every few seconds and at its end elsewhere, with the time left."""

    def __init__(self, transient: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=transient,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}

    def __enter__(self) -> StageProgress:
        if err.is_terminal:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if err.is_terminal:
            self.bar.stop()

    def __call__(self, name: str, done: int, total: int) -> None:
        import time

        if err.is_terminal:
            if name not in self.tasks:
                self.tasks[name] = self.bar.add_task(name, total=total)
            self.bar.update(self.tasks[name], completed=done, total=total)
            return
        now = time.monotonic()
        start = self.started.setdefault(name, now)
        if now - self.last_line.get(name, 0.0) < 5 and done < total:
            return
        self.last_line[name] = now
        left = (now - start) / done * (total - done) if done else None
        eta = f" · {duration(left)} left" if left is not None and done < total else ""
        err.print(f"{name}: {done}/{total}{eta}")
