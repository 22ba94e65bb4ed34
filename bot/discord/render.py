"""Discord's rendering of answers, briefings and a followed topic's posts: pure functions from
data to `discord.Embed`s and the `discord.ui` buttons under them.

Discord refuses a message that breaks one of its limits, so every limit is kept here by
splitting (a long answer goes on in a further embed, a long quote in a further field, many
embeds in further messages), never by failing. Article text is untrusted: it is escaped so that
markdown, masked links and mention syntax in it show as the characters they are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import discord

from bot.lines import join_lines
from retrieval import (
    Answer,
    Briefing,
    Citation,
    Development,
    FollowPost,
    NewsItem,
    is_http_url,
    moment_label,
)

# Discord's limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits).
CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELDS_PER_EMBED = 25
FOOTER_LIMIT = 2048
CHARS_PER_MESSAGE = 6000  # title, description, fields, footer and author of all embeds together
EMBEDS_PER_MESSAGE = 10
THREAD_NAME_LIMIT = 100
CUSTOM_ID_LIMIT = 100

# A button's custom id carries all a press needs, in Discord's 100 characters: what it does
# and the key the answer or briefing is kept under ("briefbot:vote:up:<key>", 33 characters).
VOTE_PREFIX = "briefbot:vote"
SHARE_PREFIX = "briefbot:share"
VOTE_TEMPLATE = rf"{VOTE_PREFIX}:(?P<direction>up|down):(?P<key>[0-9a-f]{{16}})"
SHARE_TEMPLATE = rf"{SHARE_PREFIX}:(?P<key>[0-9a-f]{{16}})"
SHARE_LABEL = "Share in channel"

ANSWER_COLOUR = discord.Colour.blurple()
ABSTAIN_COLOUR = discord.Colour.light_grey()
BRIEFING_COLOUR = discord.Colour.teal()
FOLLOW_COLOUR = discord.Colour.orange()
BLANK = "\u200b"  # a field needs a non-empty name; a zero-width space shows as nothing
MAX_URL = 512  # a longer link is dropped rather than allowed to crowd out the quote

# Characters that start markdown anywhere in a line, plus `<` (mentions, timestamps, links).
_INLINE = re.compile(r"([\\*_~|`\[\]<>#])")
# Markdown that only starts a line: a list or subtext (`-`, `+`), a numbered list (`1.`).
_LINE_START = re.compile(r"^(\s*)([-+])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)\.(?=\s)", re.MULTILINE)


# -- text ---------------------------------------------------------------------------------
def escape(text: str) -> str:
    """Untrusted text shown literally: no markdown, masked link, heading or mention takes effect."""
    text = _INLINE.sub(r"\\\1", text)
    return _NUMBERED.sub(r"\1\\.", _LINE_START.sub(r"\1\\\2", text))


_MARKER = re.compile(r"\\\[(\d{1,3})\\\](?!\()")


def escape_cited(text: str) -> str:
    """Escaped like `escape`, but the `[n]` citation markers stay as they are written.

    A marker right before `(` stays escaped: `[1](url)` would be a masked link.
    """
    return _MARKER.sub(r"[\1]", escape(text))


def one_line(text: str) -> str:
    return " ".join(text.split())


def truncate(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut (never leaving a dangling `\\`)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if _ends_in_escape(cut):
        cut = cut[:-1]
    return cut + "…"


def _ends_in_escape(text: str) -> bool:
    """True if the last character is a backslash that escapes what would follow it."""
    run = len(text) - len(text.rstrip("\\"))
    return run % 2 == 1


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters: at a line break, else a sentence end, else a space.

    An escape (`\\*`) is never cut in two, and a piece that starts a line is guarded again, so
    each piece renders on its own exactly as it did inside the whole.
    """
    if limit < 8:
        raise ValueError("limit too small to split into")
    pieces: list[str] = []
    rest = text.strip()
    budget = limit - 1  # room to guard the start of the next piece with one backslash
    while rest:
        if len(rest) <= limit:
            pieces.append(rest)
            break
        window = rest[:budget]
        cut = _best_cut(window)
        while _ends_in_escape(rest[:cut]):
            cut -= 1
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
        rest = _guard_start(rest)
    return pieces


def _best_cut(window: str) -> int:
    floor = len(window) // 2  # never make a piece less than half full to find a nicer break
    for pattern in ("\n", ". ", "; ", ", ", " "):
        at = window.rfind(pattern)
        if at >= floor:
            return at + len(pattern)
    return len(window)


def _guard_start(text: str) -> str:
    """Escape a list marker that became the start of a line by splitting there."""
    if m := re.match(r"\s*[-+]", text):
        return text[: m.end() - 1] + "\\" + text[m.end() - 1 :]
    if m := re.match(r"\s*\d+\.(?=\s)", text):
        return text[: m.end() - 1] + "\\" + text[m.end() - 1 :]
    return text


def link(label: str, url: str) -> str:
    """`[label](url)` for a web address; the bare label for anything else."""
    url = url.strip()
    if len(url) > MAX_URL or not is_http_url(url):
        return label
    safe = "".join(_URL_ESCAPES.get(ch, ch) for ch in url)
    return f"[{label}]({safe})"


_URL_ESCAPES = {" ": "%20", "(": "%28", ")": "%29", "<": "%3C", ">": "%3E", "\n": "", "\r": ""}


# -- pieces of an answer ------------------------------------------------------------------
def source_line(c: Citation) -> str:
    """`**[n]** [Title](url) — Source · date`."""
    title = truncate(escape(one_line(c.title) or "(untitled)"), 200)
    parts = (c.source, c.published or "")
    meta = " · ".join(escape(truncate(one_line(x), 100)) for x in parts if x)
    line = f"**[{c.n}]** {link(title, c.url)}"
    return f"{line} — {meta}" if meta else line


def quote_text(c: Citation) -> str:
    return f"“{escape(one_line(c.quote))}”"


def _citation_fields(c: Citation, also: list[str] | None, name: str) -> list[tuple[str, str]]:
    """The fields for one source: its line, then the quote (continued in further fields)."""
    head = source_line(c)
    quote = quote_text(c)
    tail = f"*also reported by {escape(', '.join(also))}*" if also else ""
    body = "\n".join(x for x in (head, f"> {quote}", tail) if x)
    if len(body) <= FIELD_VALUE_LIMIT:
        return [(name, body)]
    values = [head] + [f"> {p}" for p in split_text(quote, FIELD_VALUE_LIMIT - 2)]
    values += [p for p in split_text(tail, FIELD_VALUE_LIMIT)]
    return [(name if k == 0 else BLANK, v) for k, v in enumerate(values)]


def _footer(answer: Answer) -> str:
    n = answer.articles_searched
    text = f"{n:,} article{'' if n == 1 else 's'} searched"
    total = answer.timing_ms.get("total")
    if total is not None:
        text += f" · {total / 1000:.1f} s"
    return text


# -- assembling embeds within the limits --------------------------------------------------
def _assemble(
    title: str,
    description: str,
    fields: Iterable[tuple[str, str]],
    footer: str,
    colour: discord.Colour,
) -> list[discord.Embed]:
    """Title and description first, then fields, starting a new embed whenever one is full."""
    embeds: list[discord.Embed] = []
    chunks = split_text(description, DESCRIPTION_LIMIT) if description.strip() else []
    current = discord.Embed(
        title=truncate(title, TITLE_LIMIT) or None,
        description=chunks[0] if chunks else None,
        colour=colour,
    )
    for chunk in chunks[1:]:
        embeds.append(current)
        current = discord.Embed(description=chunk, colour=colour)
    footer = truncate(footer, FOOTER_LIMIT)
    for name, value in fields:
        name = truncate(name, FIELD_NAME_LIMIT) or BLANK
        for part in split_text(value, FIELD_VALUE_LIMIT) or [BLANK]:
            size = len(name) + len(part)
            if (
                len(current.fields) >= FIELDS_PER_EMBED
                or len(current) + size + len(footer) > CHARS_PER_MESSAGE
            ):
                embeds.append(current)
                current = discord.Embed(colour=colour)
            current.add_field(name=name, value=part, inline=False)
            name = BLANK
    if footer:
        if len(current) + len(footer) > CHARS_PER_MESSAGE:
            embeds.append(current)
            current = discord.Embed(colour=colour)
        current.set_footer(text=footer)
    embeds.append(current)
    return embeds


def answer_embeds(answer: Answer) -> list[discord.Embed]:
    """The answer with its `[n]` markers, then one field per source with the quoted passage."""
    fields: list[tuple[str, str]] = []
    for k, c in enumerate(answer.citations):
        also = answer.also_reported_by.get(c.article_id)
        fields += _citation_fields(c, also, "Sources" if k == 0 else BLANK)
    description = escape_cited(answer.answer.strip())
    if answer.notice:  # something left out, or the model failed: said under the answer
        description += f"\n\n*{escape(one_line(answer.notice))}*"
    return _assemble(
        title=escape(one_line(answer.question)),
        description=description,
        fields=fields,
        footer=_footer(answer),
        colour=ABSTAIN_COLOUR if answer.abstained else ANSWER_COLOUR,
    )


def item_line(item: NewsItem) -> str:
    """`• Sentence [n] — [Source](url) · date`: one line, shorter than a field's limit."""
    c = item.citation
    source = link(escape(truncate(one_line(c.source or "source"), 100)), c.url)
    meta = " · ".join(x for x in (source, escape(one_line(c.published or ""))) if x)
    return f"• {truncate(escape(one_line(c.quote)), 400)} [{c.n}] — {meta}"


def briefing_embeds(briefing: Briefing) -> list[discord.Embed]:
    """One field per story (its key sentences and sources), then "also in the news" (a line
    per item), then the quotes of the day."""
    title = f"Briefing {moment_label(briefing.since)} → {moment_label(briefing.until)}"
    if briefing.topic:
        title += f" · {escape(one_line(briefing.topic))}"
    fields: list[tuple[str, str]] = []
    for k, story in enumerate(briefing.stories, start=1):
        n_sources = len(set(story.sources))
        name = f"{k}. {escape(one_line(story.headline))}"
        if n_sources > 1:
            name = truncate(name, FIELD_NAME_LIMIT - 14) + f" ({n_sources} sources)"
        lines = [escape_cited(one_line(story.summary))] + [source_line(c) for c in story.citations]
        fields.append((name, "\n".join(lines)))
    lines = [item_line(i) for i in briefing.also_in_the_news]
    for k, value in enumerate(join_lines(lines, FIELD_VALUE_LIMIT)):
        fields.append(("Also in the news" if k == 0 else BLANK, value))
    for k, q in enumerate(briefing.quotes):
        text = f"{quote_text(q.citation)} — {escape(one_line(q.speaker))} [{q.citation.n}]"
        fields.append(("Quotes of the day" if k == 0 else BLANK, text))
    note = "" if not briefing.empty else escape(briefing.note or "Nothing new in the window.")
    n, more = len(briefing.stories), len(briefing.also_in_the_news)
    footer = f"{n} stor{'y' if n == 1 else 'ies'}" if n else ""
    if more:
        footer += f" · {more} also in the news"
    return _assemble(title, note, fields, footer, BRIEFING_COLOUR)


def _development_field(d: Development) -> tuple[str, str]:
    """A development as a field: named by its source and date; its cited sentences quoted,
    the article linked, and the other outlets carrying it."""
    first = d.citations[0]
    name = " · ".join(escape(one_line(x)) for x in (first.source, first.published or "") if x)
    lines = [f"> {quote_text(c)}" for c in d.citations]
    cited = {(c.url, c.title): c for c in d.citations}
    for c in cited.values():
        title = truncate(escape(one_line(c.title or c.source or "source")), 200)
        lines.append(f"— {link(title, c.url)}")
    if d.also_reported_by:
        lines.append(f"*also reported by {escape(', '.join(dict.fromkeys(d.also_reported_by)))}*")
    return name or BLANK, "\n".join(lines)


def follow_embeds(post: FollowPost) -> list[discord.Embed]:
    """A followed topic's new developments: the topic as the title, a field per development
    (its one or two cited sentences, source, date, link, "also reported by …"), and "and N
    more" in the footer for those folded into it (the channel's hourly limit, quiet hours)."""
    n = len(post.developments)
    title = escape(one_line(post.follow.topic))
    description = f"{n} new developments" if n > 1 else "New development"
    footer = f"and {post.folded} more since the last post" if post.folded else ""
    fields = [_development_field(d) for d in post.developments if d.citations]
    return _assemble(title, description, fields, footer, FOLLOW_COLOUR)


def message_groups(embeds: list[discord.Embed]) -> list[list[discord.Embed]]:
    """Embeds grouped into messages: at most 10 each, and 6,000 characters between them."""
    groups: list[list[discord.Embed]] = []
    current: list[discord.Embed] = []
    size = 0
    for embed in embeds:
        n = len(embed)
        if current and (len(current) >= EMBEDS_PER_MESSAGE or size + n > CHARS_PER_MESSAGE):
            groups.append(current)
            current, size = [], 0
        current.append(embed)
        size += n
    if current:
        groups.append(current)
    return groups


def thread_name(question: str) -> str:
    """A thread's name from the question it answers (Discord allows 100 characters)."""
    return truncate(one_line(question), THREAD_NAME_LIMIT) or "Question"


def streamed_text(text: str) -> str:
    """An answer as it is written, shown as a message's content (its [n] markers kept); the
    final answer, in embeds with its sources, replaces it."""
    return truncate(escape_cited(text.strip()), CONTENT_LIMIT)


def plain(text: str) -> str:
    """A short message's content, within Discord's 2,000 characters."""
    return truncate(text.strip(), CONTENT_LIMIT)


def shared_line(user_id: str) -> str:
    """Above a shared answer or briefing: who shared it (a mention that pings nobody, since
    nothing is sent with allowed mentions)."""
    return f"Shared by <@{user_id}>" if user_id.isdigit() else "Shared"


# -- buttons ------------------------------------------------------------------------------
def vote_button(key: str, vote: int) -> discord.ui.Button[discord.ui.View]:
    """👍 (1) or 👎 (-1) under the answer kept under `key`."""
    direction = "up" if vote > 0 else "down"
    return discord.ui.Button(
        emoji="👍" if vote > 0 else "👎",
        style=discord.ButtonStyle.secondary,
        custom_id=f"{VOTE_PREFIX}:{direction}:{key}",
    )


def share_button(key: str) -> discord.ui.Button[discord.ui.View]:
    """ "Share in channel" under what only its asker sees, kept under `key`."""
    return discord.ui.Button(
        label=SHARE_LABEL, style=discord.ButtonStyle.primary, custom_id=f"{SHARE_PREFIX}:{key}"
    )
