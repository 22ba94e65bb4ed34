"""Article loaders: one file in, `Article`s out (.txt, .md, .jsonl, .jsonl.gz, .html, .htm).

Every problem a user can fix is a `LoadError` whose message names the file (and, for JSON
lines, the line number). The stored text is only normalised (line endings, trailing spaces,
runs of blank lines) and stripped of whole boilerplate lines: characters are never rewritten,
because citations quote `article.text[start:end]`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from retrieval.errors import LoadError
from retrieval.models import Article

if TYPE_CHECKING:
    from retrieval.config import Settings

SUPPORTED_SUFFIXES = (".txt", ".md", ".jsonl", ".jsonl.gz", ".html", ".htm")
# One article's bytes at most: a file of one article, or one line of a JSON-lines file (the
# setting BRIEFBOT_MAX_ARTICLE_MB). A news article is tens of kilobytes; past a few megabytes a
# file is a mistake or an attack, and would hold gigabytes while it is chunked and embedded.
DEFAULT_MAX_ARTICLE_BYTES = 2 * 1024 * 1024
# Bad lines of one JSON-lines file listed one by one; the rest are counted. A file of millions
# of bad two-byte lines once held a message for each (1.46 GB after 300 s).
SHOWN_BAD_LINES = 10
# A .jsonl.gz may always expand to this much, whatever its ratio (a small file of news).
MIN_EXPANSION_BYTES = 64 * 1024 * 1024

ErrorHandler = Callable[[LoadError], None]
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


class _Invalid(ValueError):
    """A value in a file is unusable; the caller adds where it was."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class _Stop(Exception):  # noqa: N818 (not an error of one line: the file's reading ends)
    """A JSON-lines file is read no further (too many bad lines, expanded too far)."""


def shown(path: Path | str) -> str:
    """A file name as printed in messages: as it is, or quoted (Python's repr, escapes and
    all) when it holds anything a terminal would not show as itself (a newline, an escape
    sequence, a direction override), so that no name can forge or hide an output line."""
    text = str(path)
    return text if text.isprintable() and text == text.strip() else repr(text)


# --- public API --------------------------------------------------------------------------


def load_path(
    path: Path,
    *,
    on_error: ErrorHandler | None = None,
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    options: ReadOptions | None = None,
) -> list[Article]:
    """Load the articles in one file, chosen by its suffix. Only a regular file is read (a
    named pipe or a device is refused, never opened for blocking reads).

    A file of one article larger than `max_bytes` is refused unread; a JSON-lines file is read
    a line at a time (any size), and a line larger than `max_bytes` is refused. A bad line in a
    JSON-lines file raises `LoadError`, unless `on_error` is given: then the error is passed to
    it and the line skipped (the first few are passed one by one, then a count; after
    `options.max_bad_lines` of them, or once a .jsonl.gz expands past its bound, the file is
    read no further). `options` (its `max_bytes` wins over the argument) bounds the rest.
    """
    path = Path(path)
    opts = options or ReadOptions(max_bytes=max_bytes)
    kind = suffix_of(path)
    if kind == ".txt":
        return [_load_txt(path, opts)]
    if kind == ".md":
        return [_load_md(path, opts)]
    if kind in (".jsonl", ".jsonl.gz"):
        return _load_jsonl(path, on_error, opts)
    if kind in (".html", ".htm"):
        return [_load_html(path, opts)]
    raise LoadError(
        f"{shown(path)}: unsupported file type; supported: {', '.join(SUPPORTED_SUFFIXES)}"
    )


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


_BLANK_RUN = re.compile(r"\n\n\n+")  # ten times faster than r"\n{3,}" on long texts


def normalize_text(text: str) -> str:
    """CRLF to LF, strip trailing spaces, collapse 3+ newlines to 2, trim the ends."""
    text = "\n".join(line.rstrip(" \t") for line in text.replace("\r\n", "\n").split("\n"))
    text = _BLANK_RUN.sub("\n\n", text)
    return text.strip()


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


def _megabytes(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB"


def _too_large(where: str, size: str, max_bytes: int) -> LoadError:
    return LoadError(
        f"{where}: {size} is more than one article may be ({_megabytes(max_bytes)}, "
        "the setting BRIEFBOT_MAX_ARTICLE_MB); not read"
    )


@contextmanager
def _reading(path: Path) -> Iterator[None]:
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


def _open_regular(path: Path) -> IO[bytes]:
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


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refused unread when there are more than `max_bytes` of them."""
    with _reading(path), _open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size > max_bytes:
            raise _too_large(shown(path), _megabytes(size), max_bytes)
        data = f.read(max_bytes + 1)  # a file that grows while it is read stops here too
    if len(data) > max_bytes:
        raise _too_large(shown(path), f"more than {_megabytes(max_bytes)}", max_bytes)
    return data


def _read_text(path: Path, max_bytes: int) -> str:
    """The file's text; refuses binary, empty and oversized files."""
    data = _read_bytes(path, max_bytes)
    if b"\x00" in data:
        raise LoadError(f"{shown(path)}: looks like a binary file (contains NUL bytes)")
    text = _decode(data, path)
    if not text.strip():
        raise LoadError(f"{shown(path)}: file is empty")
    return text


def _lines(path: Path, opts: ReadOptions) -> Iterator[tuple[int, bytes | None]]:
    """(line number, bytes) for each line of a (gzipped) file, read as a stream. A line over
    `max_bytes` is skipped unread and yielded as None, so memory stays bounded by one line. A
    gzipped file that expands past `max_gzip_ratio` times its size (a compression bomb) raises
    _Stop."""
    max_bytes = opts.max_bytes
    gzipped = path.name.lower().endswith(".gz")
    with _reading(path), _open_regular(path) as raw:
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
                raise _Stop(
                    f"expands to more than {_megabytes(limit)}, {opts.max_gzip_ratio:g} times "
                    f"its {_megabytes(on_disk)} on disk (BRIEFBOT_MAX_GZIP_RATIO); read no "
                    f"further than line {lineno}"
                )


def _decode(data: bytes, path: Path) -> str:
    """UTF-8 (with or without a BOM), else cp1252 (Windows' 'ANSI' text)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise LoadError(f"{shown(path)}: not UTF-8 or cp1252 text (byte {exc.start})") from None


# --- plain text and boilerplate ----------------------------------------------------------

_BANNER = re.compile(r"^\W*Voice is AI[- ]generated\b", re.IGNORECASE)
_CAP_WORD = r"[A-Z][\w'’.-]*"
# A photo credit closing a caption: "... Leon Neal/Getty Images", "(Jane Doe/AFP via Getty)".
_CREDIT = re.compile(
    rf"(?:^|\s|\(){_CAP_WORD}(?: {_CAP_WORD}){{1,3}} ?/ ?"
    rf"[A-Z][\w&-]*(?: (?:via )?[A-Z][\w&-]*){{0,4}}\)?$"
)
# "Ben Wallace, Russia, Assurances, Ukraine Invasion, No": capitalised keywords, no sentences.
_KEYWORD = re.compile(r"[A-Z0-9][\w'’&-]*(?: (?:[A-Z0-9][\w'’&-]*|of|and|the|in|on|for|to))*")
_SENTENCE_PUNCT = re.compile(r"[.!?:;\"“”()]")
_UPDATE = re.compile(
    r"^Update[ds]?\s*\(?\s*(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4}|\d{2})\b", re.IGNORECASE
)
_TRAILER = re.compile(r"^About the (?:writer|author|reporter)s?(?=[\s:]|$)", re.IGNORECASE)

# Lines of the page around an article, not the article: each rule names a kind of line that
# news pages share, and is tested on real pages (tests/test_articles.py, docs/retrieval.md).
_PAGE_LINES = {
    # "JUST WATCHED <title> Replay More Videos ... MUST WATCH <title> 02:46"
    "video promo": re.compile(
        r"^JUST WATCHED\b|\bReplay More Videos\b|\bMUST WATCH\b.*\b\d{1,2}:\d{2}$"
    ),
    # "Photos: Russia invades Ukraine <caption> Hide Caption 13 of 29"
    # "... on July 31. Photos: England wins Euro 2022", "In pictures: Wildfires in Europe"
    "photo gallery": re.compile(
        r"^Photos?:|(?<=[.!?”\"]) Photos?: [A-Z]|\bHide Caption \d+ of \d+|\bIn pictures: [A-Z]",
        re.IGNORECASE,
    ),
    # "Gemunu Amarasinghe/AP Anti-abortion protesters gather ...": a credit, then its caption;
    # the credit may pass through an agency first ("Jane Doe/Anadolu Agency/Getty Images").
    "credited photo": re.compile(
        r"^[A-Z][\w'’.-]+(?: [A-Z][\w'’.-]+){1,3} ?/ ?"
        r"(?:[A-Z][\w&.-]*(?: [A-Z][\w&.-]*){0,2} ?/ ?)?"
        r"(?:Getty Images|AP|AFP|Reuters|Shutterstock|Bloomberg|USA TODAY)\b"
    ),
    # "WASHINGTON, DC - JANUARY 26: The U.S. Supreme Court building ..." (wire photo caption)
    "wire photo caption": re.compile(r"^[A-Z][A-Z .,'’-]+ - [A-Z]+ \d{1,2}:"),
    # "Sign up for CNN Opinion's newsletter", "Subscribe to the newsletter here", "A version
    # of this story appeared in CNN's Reliable Sources newsletter"
    "newsletter promo": re.compile(
        r"\b(?:sign up|subscribe)\b.{0,80}\b(?:here|newsletters?|inbox|alerts|edition)\b"
        r"|\bdelivered to your inbox\b"
        r"|^A version of this (?:story|article) (?:first )?appeared in\b",
        re.IGNORECASE,
    ),
    # "More: Iconic Anchor Bar closes", "READ MORE: ...", "Read More", "Related: ..."
    "link headline": re.compile(
        r"^(?:More|Read more|Related|See also|Watch)\s*:|^(?:Read more|More to know)\s*:?$"
        r"|^Click here\b",
        re.IGNORECASE,
    ),
    # "Fact check:Yes, the photo is real", "Bye-bye IE:Microsoft retires Internet Explorer": a
    # link's kicker and headline, run together with no space after the colon (a sentence that
    # runs on after such a colon, as in a round-up's "El Paso:A group of 14...", is kept).
    "kicker headline": re.compile(r"^[^\s:][^:]{0,39}:(?=[A-Z\"“‘'])(?!(?:\S+\s+){16}.*[.!?]$)"),
    # "Contributing: The Associated Press", "Reporting by ...; Editing by ..."
    "credits": re.compile(r"^(?:Contributing|Contributed|Reporting by|Editing by)\b", re.I),
    # "___", "* * *": rules and ornaments
    "ornament": re.compile(r"^[\W_]+$"),
}


def page_line_kind(line: str) -> str | None:
    """Which kind of page furniture `line` is (a caption, a promo, ...), or None for text."""
    bare = line.strip()
    if _BANNER.match(bare) or _CREDIT.search(bare):
        return "photo credit"
    if _is_keyword_line(bare):
        return "keyword list"
    for kind, rule in _PAGE_LINES.items():
        if rule.search(bare):
            return kind
    return None


def _is_keyword_line(line: str) -> bool:
    """A short line of 3+ comma-separated capitalised keywords (a tag list, not prose)."""
    items = line.split(", ")
    return (
        len(line) <= 160
        and len(items) >= 3
        and not _SENTENCE_PUNCT.search(line)
        and all(_KEYWORD.fullmatch(item.strip()) for item in items)
    )


def _update_date(line: str) -> date | None:
    """The date of an "Update MM/DD/YY ..." line, or None if `line` is not one."""
    match = _UPDATE.match(line)
    if not match:
        return None
    year = int(match["y"]) + (2000 if len(match["y"]) == 2 else 0)
    try:
        return date(year, int(match["m"]), int(match["d"]))
    except ValueError:
        return None


def _strip_boilerplate(text: str) -> tuple[str, date | None]:
    """Drop the page's lines (captions, credits, promos, keyword lists, update and trailer
    lines) from an article's text; return the rest and the earliest update date."""
    kept: list[str] = []
    updates: list[date] = []
    for line in text.split("\n"):
        bare = line.strip()
        if _TRAILER.match(bare):
            break
        if (when := _update_date(bare)) is not None:
            updates.append(when)
            continue
        if page_line_kind(bare) is None:
            kept.append(line)
    return normalize_text("\n".join(kept)), min(updates, default=None)


def clean_text(text: str) -> str:
    """An article's text without the page around it (see `page_line_kind`)."""
    return _strip_boilerplate(text)[0]


def _split_title(text: str) -> tuple[str, str]:
    """(first non-empty line, the rest); `text` is normalised so it starts with that line."""
    title, _, rest = text.partition("\n")
    return title.strip(), rest


def _load_txt(path: Path, opts: ReadOptions) -> Article:
    """Title from the first line; boilerplate removed from the rest."""
    title, rest = _split_title(normalize_text(_read_text(path, opts.max_bytes)))
    text, published = _strip_boilerplate(rest)
    with _located(path):
        _not_ahead(published, "update line", opts)
    return _article(path, id=path.stem, title=title, text=text, published=published)


# --- markdown ----------------------------------------------------------------------------

# The closing `---` (or `...`) must be a line of its own.
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(?P<yaml>.*?)^(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S | re.M)
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


@cache
def no_alias_loader() -> type:
    """YAML's safe loader, refusing aliases (`*name`): a few hundred bytes of nested aliases
    (a "billion laughs") expand to gigabytes, and neither front matter nor briefbot.yaml needs
    them. The error is a YAML error with the alias's line."""
    import yaml

    class Loader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, "aliases (*name) are not allowed", event.start_mark
                )
            return super().compose_node(parent, index)

    return Loader


@cache
def _front_matter_loader() -> type:
    """YAML's safe loader without aliases, and dates stay strings: `_parse_date` checks them,
    so an impossible date (2023-02-30) is reported with its field and line instead of
    crashing in PyYAML."""

    class Loader(no_alias_loader()):  # type: ignore[misc]
        pass

    import yaml

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


def _front_matter(text: str, path: Path) -> tuple[dict[str, Any], str, str]:
    """Split YAML front matter (between `---` lines) from the body: (fields, body, yaml)."""
    import yaml

    match = _FRONT_MATTER.match(text)
    if not match:
        if re.match(r"---[ \t]*(\n|\Z)", text):
            raise LoadError(
                f"{shown(path)}:1: front matter is opened with '---' but never closed: "
                "end it with a line '---' before the article's text"
            )
        return {}, text, ""
    try:
        meta = yaml.load(match["yaml"], Loader=_front_matter_loader()) or {}  # noqa: S506
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown(path)}:{mark.line + 2}" if mark is not None else shown(path)
        reason = getattr(exc, "problem", None) or exc.__class__.__name__
        raise LoadError(f"{where}: front matter is not valid YAML ({reason})") from None
    if not isinstance(meta, dict):
        raise LoadError(f"{shown(path)}:2: front matter is not a mapping of fields (name: value)")
    return meta, text[match.end() :], match["yaml"]


def _field_line(front_matter: str, field: str | None) -> int | None:
    """The file's line number of `field:` in the front matter (after the opening `---`)."""
    if not field:
        return None
    found = re.search(rf"^{re.escape(field)}[ \t]*:", front_matter, re.M)
    return front_matter.count("\n", 0, found.start()) + 2 if found else None


def _md_title(meta_title: str, body: str) -> tuple[str, str]:
    """The title (front matter, else the first line) and the body without a heading repeating it."""
    body = body.strip()
    first, rest = _split_title(body)
    heading = first.lstrip("#").strip()
    if not meta_title:
        return heading, rest
    if heading.casefold() == meta_title.casefold():
        return meta_title, rest
    return meta_title, body


def _load_md(path: Path, opts: ReadOptions) -> Article:
    """Markdown, with optional YAML front matter (id, title, published, source, url, authors)."""
    text = normalize_text(_read_text(path, opts.max_bytes))
    meta, body, front_matter = _front_matter(text, path)
    try:
        fields = _meta_fields(meta)
        _not_ahead(fields["published"], fields.pop("published_key"), opts)
    except _Invalid as exc:
        line = _field_line(front_matter, exc.field)
        where = f"{shown(path)}:{line}" if line else shown(path)
        raise LoadError(f"{where}: {exc}") from None
    title, body = _md_title(fields.pop("title"), body)
    text, updated = _strip_boilerplate(body)
    with _located(path):
        _not_ahead(updated, "update line", opts)
    fields["published"] = fields["published"] or updated
    return _article(path, title=title, text=text, **fields)


def _meta_fields(meta: dict[str, Any]) -> dict[str, Any]:
    """Article fields from front matter; `published` may be under `date`."""
    published_key = "published" if meta.get("published") is not None else "date"
    authors_key = "authors" if meta.get("authors") is not None else "author"
    return {
        "id": _as_str(meta.get("id")),
        "title": _as_str(meta.get("title")),
        "published": _parse_date(meta.get(published_key), published_key),
        "source": _as_str(meta.get("source")),
        "url": _as_str(meta.get("url")),
        "authors": _parse_authors(meta.get(authors_key), authors_key),
        "published_key": published_key,
    }


# --- JSON lines --------------------------------------------------------------------------


def _load_jsonl(path: Path, on_error: ErrorHandler | None, opts: ReadOptions) -> list[Article]:
    """One JSON object a line: {"id", "url", "title", "published", "authors", "text"}.

    Read as a stream, a line at a time, so a corpus of any size needs memory for its articles
    only, and one oversized line is refused without being held. Bad lines are counted: the
    first few are reported one by one, then how many in all; after `max_bad_lines` of them (or
    once a .jsonl.gz expands past its bound) the file is read no further, and what was read
    before is kept."""
    articles = []
    empty = True
    bad = 0
    try:
        for lineno, raw in _lines(path, opts):
            if empty and raw is not None and b"\x00" in raw:
                raise LoadError(f"{shown(path)}: looks like a binary file (contains NUL bytes)")
            try:
                if raw is None:
                    raise _too_large(f"{shown(path)}:{lineno}", f"line {lineno}", opts.max_bytes)
                line = _decode(raw, path).strip()
                if not line:
                    continue
                empty = False
                with _located(path, lineno):
                    article = _jsonl_article(line, f"{path.stem}-{lineno}")
                    _not_ahead(article.published, "published", opts)
                articles.append(article)
            except LoadError as exc:
                empty = False
                if on_error is None:
                    raise
                bad += 1
                if bad <= SHOWN_BAD_LINES:
                    on_error(exc)
                if bad >= opts.max_bad_lines:
                    raise _Stop(
                        f"{bad} bad lines (BRIEFBOT_MAX_BAD_LINES); read no further than "
                        f"line {lineno}"
                    ) from None
    except _Stop as stop:
        problem = LoadError(f"{shown(path)}: stopped: {stop}")
        if on_error is None:
            raise problem from None
        _report_bad(path, bad, on_error)
        on_error(problem)
        return articles
    _report_bad(path, bad, on_error)
    if empty:
        raise LoadError(f"{shown(path)}: file is empty")
    return articles


def _report_bad(path: Path, bad: int, on_error: ErrorHandler | None) -> None:
    """How many bad lines there were in all, when more than were reported one by one."""
    if on_error is not None and bad > SHOWN_BAD_LINES:
        on_error(
            LoadError(
                f"{shown(path)}: {bad} bad lines in all ({bad - SHOWN_BAD_LINES} more than listed)"
            )
        )


def _jsonl_article(line: str, fallback_id: str) -> Article:
    """One line's article; raises _Invalid for anything unusable."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    if not isinstance(obj, dict):
        raise _Invalid("not a JSON object")
    text = obj.get("text")
    if not isinstance(text, str):
        raise _Invalid("field 'text' is missing or not a string")
    url = _as_str(obj.get("url"))
    text = clean_text(normalize_text(text))
    if not text:
        raise _Invalid("article has no text")
    return Article(
        id=_as_str(obj.get("id")) or _url_id(url) or fallback_id,
        title=_as_str(obj.get("title")),
        text=text,
        published=_parse_date(obj.get("published"), "published"),
        source=_as_str(obj.get("source")),
        url=url,
        authors=_parse_authors(obj.get("authors")),
    )


# --- HTML --------------------------------------------------------------------------------


def _load_html(path: Path, opts: ReadOptions) -> Article:
    """Main text and metadata (title, date, site name, url, author) via trafilatura."""
    doc, text = extract_page(_read_text(path, opts.max_bytes))
    if problem := missing_article_text(text):
        raise LoadError(f"{shown(path)}: {problem}")
    with _located(path):
        fields: dict[str, Any] = {
            "published": _parse_date(doc.get("date"), "date"),
            "source": _as_str(doc.get("sitename")),
            "url": _as_str(doc.get("url")),
            "authors": _parse_authors(doc.get("author")),
        }
        _not_ahead(fields["published"], "date", opts)
    return _article(path, title=_as_str(doc.get("title")), text=text, **fields)


def extract_page(html: str | bytes, url: str | None = None) -> tuple[dict[str, Any], str]:
    """A page's metadata (trafilatura's: title, date, sitename, url, author; {} when it finds
    nothing) and its article text: paragraphs without a leading title line or page furniture."""
    import trafilatura  # slow to import; only HTML needs it

    found = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=False,
        # Only dates the page states, not guesses from numbers in the text.
        date_extraction_params={"extensive_search": False, "original_date": True},
    )
    doc = {} if found is None else found if isinstance(found, dict) else found.as_dict()
    title = _as_str(doc.get("title"))
    lines = [line for line in _as_str(doc.get("text")).split("\n") if line.strip()]
    if lines and title and lines[0].strip().casefold() == title.casefold():
        lines = lines[1:]
    return doc, clean_text("\n\n".join(lines))


# What a page's extracted text needs to count as an article: a sentence of prose, and more
# words than a menu or a form has ("Home / Log in / Sign in" is extracted as 6 short lines).
MIN_ARTICLE_WORDS = 20
MIN_SENTENCE_WORDS = 8


def missing_article_text(text: str) -> str | None:
    """Why the text an extractor found in a page is not an article, or None when it is one."""
    words = text.split()
    if not words:
        return "no article text found in the page"
    longest = max(len(line.split()) for line in text.split("\n"))
    if len(words) < MIN_ARTICLE_WORDS or longest < MIN_SENTENCE_WORDS:
        sample = " / ".join(line.strip() for line in text.split("\n") if line.strip())
        sample = sample if len(sample) <= 80 else sample[:79] + "…"
        return (
            f"no article text found in the page, only {len(words)} words of menus or forms "
            f"({sample!r})"
        )
    return None


# --- fields ------------------------------------------------------------------------------


def _article(path: Path, *, id: str = "", url: str = "", text: str, **fields: Any) -> Article:
    """Build an Article: id from the explicit id, else the url, else the file stem."""
    if not text:
        raise LoadError(f"{shown(path)}: article has no text")
    return Article(id=id or _url_id(url) or path.stem, url=url, text=text, **fields)


def _url_id(url: str) -> str:
    """A stable id for a url (sha1 hex, 16 digits), or "" without one."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:16] if url else ""


def _as_str(value: Any) -> str:
    """A metadata value as text ("" for missing)."""
    return "" if value is None else str(value).strip()


def _parse_date(value: Any, field: str) -> date | None:
    """A date from a date, datetime or ISO string; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:  # since 3.11 this also takes a bare date and a trailing "Z"
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            pass
    raise _Invalid(f"field {field!r} is not a date (YYYY-MM-DD): {value!r}", field)


def _not_ahead(published: date | None, field: str, opts: ReadOptions) -> None:
    """Refuse a date more than `max_future_days` ahead of now: such an article would pass
    for the newest one for good (hiding ingest lag in `health`), and no question asked before
    its date could ever cite it."""
    latest = opts.latest_date()
    if published is not None and published > latest:
        raise _Invalid(
            f"field {field!r} is {published.isoformat()}, in the future (the latest date "
            f"accepted now is {latest.isoformat()}: BRIEFBOT_MAX_FUTURE_DAYS)",
            field,
        )


def _parse_authors(value: Any, field: str = "authors") -> tuple[str, ...]:
    """Authors from a list, or a string separated by ';' or ','."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = re.split(r"[;,]", value)
    if not isinstance(value, list | tuple):
        raise _Invalid(f"field {field!r} is not a list or a string: {value!r}", field)
    return tuple(name for name in (_as_str(v) for v in value) if name)


@contextmanager
def _located(path: Path, lineno: int | None = None) -> Iterator[None]:
    """Turn `_Invalid` into a LoadError that names the file (and the line)."""
    try:
        yield
    except _Invalid as exc:
        where = f"{shown(path)}:{lineno}" if lineno else shown(path)
        raise LoadError(f"{where}: {exc}") from None
