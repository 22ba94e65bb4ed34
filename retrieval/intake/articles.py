"""Article loaders: one file in, `Article`s out (.txt, .md, .jsonl, .jsonl.gz, .html, .htm).

Files are read by retrieval/intake/files.py (only regular files, within the limits), and what
of a page is the article is decided by retrieval/intake/pagetext.py.

Every problem a user can fix is a `LoadError` whose message names the file (and, for JSON
lines, the line number). The stored text is only normalised (line endings, trailing spaces,
runs of blank lines) and stripped of whole boilerplate lines: characters are never rewritten,
because citations quote `article.text[start:end]`. (About 400 lines: a loader per format,
sharing the field parsing that makes their errors alike.)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from retrieval.errors import LoadError
from retrieval.intake.files import (
    DEFAULT_MAX_ARTICLE_BYTES,
    SUPPORTED_SUFFIXES,
    ReadOptions,
    StopReading,
    decode,
    read_lines,
    read_text,
    shown,
    suffix_of,
    too_large,
)
from retrieval.intake.pagetext import (
    clean_text,
    extract_page,
    missing_article_text,
    normalize_text,
    strip_boilerplate,
)
from retrieval.models import Article

# Bad lines of one JSON-lines file listed one by one; the rest are counted. A file of millions
# of bad two-byte lines once held a message for each (1.46 GB after 300 s).
SHOWN_BAD_LINES = 10

ErrorHandler = Callable[[LoadError], None]


class _Invalid(ValueError):
    """A value in a file is unusable; the caller adds where it was."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


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


def _split_title(text: str) -> tuple[str, str]:
    """(first non-empty line, the rest); `text` is normalised so it starts with that line."""
    title, _, rest = text.partition("\n")
    return title.strip(), rest


def _load_txt(path: Path, opts: ReadOptions) -> Article:
    """Title from the first line; boilerplate removed from the rest."""
    title, rest = _split_title(normalize_text(read_text(path, opts.max_bytes)))
    text, published = strip_boilerplate(rest)
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
    text = normalize_text(read_text(path, opts.max_bytes))
    meta, body, front_matter = _front_matter(text, path)
    try:
        fields = _meta_fields(meta)
        _not_ahead(fields["published"], fields.pop("published_key"), opts)
    except _Invalid as exc:
        line = _field_line(front_matter, exc.field)
        where = f"{shown(path)}:{line}" if line else shown(path)
        raise LoadError(f"{where}: {exc}") from None
    title, body = _md_title(fields.pop("title"), body)
    text, updated = strip_boilerplate(body)
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
        for lineno, raw in read_lines(path, opts):
            if empty and raw is not None and b"\x00" in raw:
                raise LoadError(f"{shown(path)}: looks like a binary file (contains NUL bytes)")
            try:
                if raw is None:
                    raise too_large(f"{shown(path)}:{lineno}", f"line {lineno}", opts.max_bytes)
                line = decode(raw, path).strip()
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
                    raise StopReading(
                        f"{bad} bad lines (BRIEFBOT_MAX_BAD_LINES); read no further than "
                        f"line {lineno}"
                    ) from None
    except StopReading as stop:
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
        id=_as_str(obj.get("id")) or url_id(url) or fallback_id,
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
    doc, text = extract_page(read_text(path, opts.max_bytes))
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


# --- fields ------------------------------------------------------------------------------


def _article(path: Path, *, id: str = "", url: str = "", text: str, **fields: Any) -> Article:
    """Build an Article: id from the explicit id, else the url, else the file stem."""
    if not text:
        raise LoadError(f"{shown(path)}: article has no text")
    return Article(id=id or url_id(url) or path.stem, url=url, text=text, **fields)


def url_id(url: str) -> str:
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
