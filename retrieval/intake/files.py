"""Reading article files without trusting them: only regular files (never a named pipe or a
device), within the size one article may have, folders walked without following links out of
them, JSON lines read as a stream with a bound on what a .gz may expand to, and every name
shown as itself or quoted. Which formats there are, and what article each holds, is
retrieval/intake/articles.py's.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from retrieval.errors import LoadError

if TYPE_CHECKING:
    from retrieval.config import Settings

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl", ".jsonl.gz", ".html", ".htm")
# One article's bytes at most: a file of one article, or one line of a JSON-lines file (the
# setting BRIEFBOT_MAX_ARTICLE_MB). A news article is tens of kilobytes; past a few megabytes a
# file is a mistake or an attack, and would hold gigabytes while it is chunked and embedded.
DEFAULT_MAX_ARTICLE_BYTES = 2 * 1024 * 1024

# A .jsonl.gz may always expand to this much, whatever its ratio (a small file of news).
MIN_EXPANSION_BYTES = 64 * 1024 * 1024

SkipHandler = Callable[[str], None]


@dataclass(frozen=True)
class ReadOptions:
    """How files are read: the limits of the settings BRIEFBOT_MAX_ARTICLE_MB,
    BRIEFBOT_MAX_BAD_LINES, BRIEFBOT_MAX_GZIP_RATIO, BRIEFBOT_MAX_FUTURE_DAYS and
    BRIEFBOT_FOLLOW_LINKS (see retrieval/config.py)."""

    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
    max_bad_lines: int = 1000  # a JSON-lines file is stopped after this many bad lines
    max_gzip_ratio: float = 50.0  # a .jsonl.gz expands to at most this many times its size
    max_future_days: float = 1.0  # an article dated later than this ahead of now is refused
    follow_links: bool = False  # follow links that lead out of a folder being read
    min_expanded_bytes: int = MIN_EXPANSION_BYTES  # what a .jsonl.gz may expand to, whatever

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadOptions:
        """How article files are read (limits, links), from these settings."""
        return cls(
            max_bytes=settings.max_article_bytes,
            max_bad_lines=settings.max_bad_lines,
            max_gzip_ratio=settings.max_gzip_ratio,
            max_future_days=settings.max_future_days,
            follow_links=settings.follow_links,
        )

    def latest_date(self) -> date:
        """The latest publication date accepted now."""
        return (datetime.now(UTC) + timedelta(days=self.max_future_days)).date()


class StopReading(Exception):  # noqa: N818 (not an error of one line: the file's reading ends)
    """A JSON-lines file is read no further (too many bad lines, expanded too far)."""


def shown(path: Path | str) -> str:
    """A file name as printed in messages: as it is, or quoted (Python's repr, escapes and
    all) when it holds anything a terminal would not show as itself (a newline, an escape
    sequence, a direction override), so that no name can forge or hide an output line."""
    text = str(path)
    return text if text.isprintable() and text == text.strip() else repr(text)


def iter_paths(
    paths: Iterable[Path | str],
    options: ReadOptions | None = None,
    on_skip: SkipHandler | None = None,
) -> Iterator[Path]:
    """Yield the files named, expanding folders (recursively, sorted, supported types only).

    Hidden files and folders inside a folder are skipped, and so is whatever is not a regular
    file (a named pipe, a socket, a device), and a link that leads out of the folder (unless
    `options.follow_links`): each skip is told to `on_skip` in one line. A file named
    explicitly is yielded whatever its suffix, so that `load_path` can say why it is refused.
    """
    opts = options or ReadOptions()
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise LoadError(f"{shown(path)}: no such file or folder")
        if path.is_dir():
            yield from _walk(path, opts.follow_links, on_skip or (lambda _: None))
        else:
            yield path


def suffix_of(path: Path) -> str | None:
    """The supported suffix `path` ends with (case-insensitive), or None."""
    name = path.name.lower()
    if name.endswith(".jsonl.gz"):
        return ".jsonl.gz"
    suffix = path.suffix.lower()
    return suffix if suffix in SUPPORTED_SUFFIXES else None


# --- folders -----------------------------------------------------------------------------


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _walk(folder: Path, follow_links: bool, on_skip: SkipHandler) -> list[Path]:
    """Supported, non-hidden regular files under `folder`, sorted by their path; links out of
    the folder only with `follow_links` (a link to /etc/shadow or to a private .env would
    otherwise be stored, and shown, as an article)."""
    root = folder.resolve()
    found = []
    visited = {root}

    def leaves(path: Path) -> str | None:
        """Why a link is not followed, or None when it may be."""
        target = path.resolve()
        if not target.exists():
            return "a broken link"
        if not follow_links and not target.is_relative_to(root):
            return f"a link out of {shown(folder)} (BRIEFBOT_FOLLOW_LINKS=true follows it)"
        return None

    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        kept = []
        for d in sorted(dirnames):
            sub = Path(dirpath, d)
            if d.startswith("."):
                continue
            if sub.is_symlink():
                if why := leaves(sub):
                    on_skip(f"{shown(sub)}: skipped, {why}")
                    continue
                if sub.resolve() in visited:  # a loop, or a folder already read
                    continue
            visited.add(sub.resolve())
            kept.append(d)
        dirnames[:] = kept
        for name in filenames:
            path = Path(dirpath, name)
            if name.startswith(".") or not suffix_of(path):
                continue
            if path.is_symlink() and (why := leaves(path)):
                on_skip(f"{shown(path)}: skipped, {why}")
                continue
            try:
                mode = path.stat().st_mode
            except OSError as exc:
                on_skip(f"{shown(path)}: skipped, cannot be read ({exc.strerror or exc})")
                continue
            if not stat.S_ISREG(mode):
                on_skip(f"{shown(path)}: skipped, {_file_kind(mode)}, not a regular file")
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(folder).parts)


# --- reading -----------------------------------------------------------------------------


def megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB"


def too_large(where: str, size: str, max_bytes: int) -> LoadError:
    return LoadError(
        f"{where}: {size} is more than one article may be ({megabytes(max_bytes)}, "
        "the setting BRIEFBOT_MAX_ARTICLE_MB); not read"
    )


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn the OS's reasons for not reading `path` into a LoadError that names it."""
    try:
        yield
    except FileNotFoundError:
        raise LoadError(f"{shown(path)}: no such file") from None
    except IsADirectoryError:
        raise LoadError(f"{shown(path)}: is a folder, not a file") from None
    except PermissionError:
        raise LoadError(f"{shown(path)}: permission denied") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise LoadError(f"{shown(path)}: not a valid gzip file ({exc})") from None
    except OSError as exc:
        raise LoadError(f"{shown(path)}: cannot be read ({exc.strerror or exc})") from None


def open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading if it is a regular file; a LoadError otherwise. Opened without
    blocking, so a named pipe with no writer is refused at once instead of waiting forever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise LoadError(f"{shown(path)}: is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise LoadError(f"{shown(path)}: {_file_kind(mode)}, not a regular file; not read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused unread when there are more than `max_bytes` of them."""
    with reading(path), open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise too_large(shown(path), megabytes(size), max_bytes)
        data = f.read(max_bytes + 1)  # a file that grows while it is read stops here too
    if len(data) > max_bytes:
        raise too_large(shown(path), f"more than {megabytes(max_bytes)}", max_bytes)
    return data


def read_text(path: Path, max_bytes: int) -> str:
    """The file's text; refuses binary, empty and oversized files."""
    data = read_bytes(path, max_bytes)
    if b"\x00" in data:
        raise LoadError(f"{shown(path)}: looks like a binary file (contains NUL bytes)")
    text = decode(data, path)
    if not text.strip():
        raise LoadError(f"{shown(path)}: file is empty")
    return text


def read_lines(path: Path, opts: ReadOptions) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line of a (gzipped) file, read as a stream. A line over
    `max_bytes` is skipped unread and yielded as None, so memory stays bounded by one line. A
    gzipped file that expands past `max_gzip_ratio` times its size (a compression bomb) raises
    StopReading."""
    max_bytes = opts.max_bytes
    gzipped = path.name.lower().endswith(".gz")
    with reading(path), open_regular(path) as raw:
        f: Any = gzip.GzipFile(fileobj=raw, mode="rb") if gzipped else raw
        on_disk = os.fstat(raw.fileno()).st_size
        limit = max(int(on_disk * opts.max_gzip_ratio), opts.min_expanded_bytes)
        expanded = 0
        lineno = 0
        while True:
            line = f.readline(max_bytes + 1)
            if not line:
                return
            lineno += 1
            expanded += len(line)
            if len(line) > max_bytes and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # the rest of this line, unkept
                    line = f.readline(1024 * 1024)
                    expanded += len(line)
                    if gzipped and expanded > limit:
                        break
                yield lineno, None
            else:
                yield lineno, line
            if gzipped and expanded > limit:
                raise StopReading(
                    f"expands to more than {megabytes(limit)}, {opts.max_gzip_ratio:g} times "
                    f"its {megabytes(on_disk)} on disk (BRIEFBOT_MAX_GZIP_RATIO); read no "
                    f"further than line {lineno}"
                )


def decode(data: bytes, path: Path) -> str:
    """UTF-8 (with or without a BOM), else cp1252 (Windows' 'ANSI' text)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{shown(path)}: not UTF-8 or cp1252 text (byte {exc.start})") from None
