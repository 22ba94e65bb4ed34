"""Slack's rendering of answers, briefings and a followed topic's posts (Block Kit), as pure
functions.

Each renderer returns a list of messages, each a dict with `text` (the notification fallback)
and `blocks`, ready for `chat.postMessage(**message)` or a response_url. Everything that came
from an article (or a user) is escaped: `<!channel>` in an article must ping nobody.
"""

from __future__ import annotations

import re
from typing import Any

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

TEXT_LIMIT = 3000  # characters per text object (section text, context element)
BLOCK_LIMIT = 50  # blocks per message
# Slack refuses very long block sets (msg_blocks_too_long) without documenting the threshold;
# a message stays well below it, and a long answer continues in the next message.
MESSAGE_CHARS = 12_000
FALLBACK_CHARS = 1000

ACTION_VOTE_UP = "briefbot_vote_up"
ACTION_VOTE_DOWN = "briefbot_vote_down"
ACTION_SHARE = "briefbot_share"

Block = dict[str, Any]
Message = dict[str, Any]  # {"text": str, "blocks": list[Block]}

_USER_ID = re.compile(r"[UW][A-Z0-9]+")


def escape(text: str) -> str:
    """Slack's three control characters, so that untrusted text is shown, never interpreted."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def escape_clipped(text: str, limit: int) -> str:
    """Escaped, on one line, at most `limit` characters, never cutting an entity."""
    text = _one_line(text)
    out: list[str] = []
    size = 0
    for i, ch in enumerate(text):
        piece = escape(ch)
        # leave room for the ellipsis unless this is the last character
        room = limit - (0 if i == len(text) - 1 else 1)
        if size + len(piece) > room:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def link(url: str, label: str) -> str:
    """`<url|label>` for an http(s) URL; otherwise the label in bold. `label` is raw text."""
    label = escape_clipped(label or url, 250)
    url = url.strip()
    # Slack's link syntax cannot hold whitespace; the rest is the one http(s) URL check.
    if len(url) > 1000 or any(ch.isspace() for ch in url) or not is_http_url(url):
        return f"*{label}*" if label else ""
    safe_url = escape(url).replace("|", "%7C")
    return f"<{safe_url}|{label}>"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, line, sentence or word.

    The text is already escaped: a cut never falls inside an entity such as `&amp;`.
    """
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", ". ", " "):
            at = window.rfind(sep, limit // 2)
            if at > 0:
                cut = at + (1 if sep == ". " else 0)
                break
        if cut <= 0:  # one very long word
            cut = limit
            amp = rest.rfind("&", cut - 6, cut)
            if amp != -1 and ";" not in rest[amp:cut]:
                cut = amp
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _sections(text: str) -> list[Block]:
    return [_section(piece) for piece in split_text(text)]


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, TEXT_LIMIT)}]}


def _button(action_id: str, label: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label, "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _meta(c: Citation) -> str:
    return " · ".join(escape_clipped(x, 100) for x in (c.source, c.published or "") if x)


def source_line(c: Citation) -> str:
    """`[n] <url|Title> — Source · date`"""
    meta = _meta(c)
    return f"[{c.n}] {link(c.url, c.title or '(untitled)')}" + (f" — {meta}" if meta else "")


def _citation_blocks(c: Citation, also: list[str] | None) -> list[Block]:
    head = source_line(c)
    if also:
        head += "\n_also reported by " + escape_clipped(", ".join(also), 300) + "_"
    pieces = split_text(escape(_one_line(c.quote)), TEXT_LIMIT - 2)
    quoted = [f"> {p}" for p in pieces]
    if quoted and len(head) + 1 + len(quoted[0]) <= TEXT_LIMIT:
        return [_section(f"{head}\n{quoted[0]}")] + [_section(q) for q in quoted[1:]]
    return [_section(head)] + [_section(q) for q in quoted]


def _asked(question: str, asked_by: str | None) -> Block:
    who = f"<@{asked_by}> asked" if asked_by and _USER_ID.fullmatch(asked_by) else "You asked"
    return _context(f"{who}: _{escape_clipped(question, 1000)}_")


def _seconds(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms / 1000:.1f} s" if ms >= 100 else f"{ms:.0f} ms"


def _block_chars(block: Block) -> int:
    if block["type"] == "section":
        return len(block["text"]["text"])
    if block["type"] == "context":
        return sum(len(e.get("text", "")) for e in block["elements"])
    return 100


def pack(blocks: list[Block], fallback: str) -> list[Message]:
    """Blocks into as many messages as Slack's limits need, in order. `fallback` is raw text."""
    groups: list[list[Block]] = []
    size = 0
    for block in blocks:
        n = _block_chars(block)
        if not groups or len(groups[-1]) == BLOCK_LIMIT or size + n > MESSAGE_CHARS:
            groups.append([])
            size = 0
        groups[-1].append(block)
        size += n
    fallback = escape_clipped(fallback, FALLBACK_CHARS)
    total = len(groups)
    return [
        {"text": fallback if i == 0 else f"(continued, {i + 1}/{total}) {fallback}", "blocks": g}
        for i, g in enumerate(groups)
    ]


def notice(text: str) -> Message:
    """A short plain message (an apology, a refusal, a hint): escaped, one section."""
    return {
        "text": escape_clipped(text, FALLBACK_CHARS),
        "blocks": [_section(escape_clipped(text, TEXT_LIMIT))],
    }


def announcement(text: str) -> Message:
    """A plain message for the channel, its lines kept (what `/following` lists): escaped, in
    as many sections as it needs."""
    return {"text": escape_clipped(text, FALLBACK_CHARS), "blocks": _sections(escape(text))}


def render_answer(
    answer: Answer,
    *,
    show_question: bool = False,
    asked_by: str | None = None,
    vote_value: str | None = None,
    share_value: str | None = None,
    with_text: bool = True,
) -> list[Message]:
    """The answer with its [n] markers, its notice (something left out, the model failed), its
    Sources, a context line and the buttons.

    `vote_value` adds 👍 / 👎 buttons and `share_value` a "Share in channel" button, each
    carrying that value; an abstention is a short plain sentence and has no buttons. Without
    `with_text`, everything below the answer's text (which was streamed already).
    """
    blocks: list[Block] = []
    if show_question:
        blocks.append(_asked(answer.question, asked_by))
    text = escape(answer.answer)
    if with_text:
        blocks.extend(_sections(text))
    if answer.notice:
        blocks.append(_context(f"_{escape_clipped(answer.notice, 1000)}_"))
    if answer.abstained or not answer.citations:
        return pack(blocks, answer.answer)
    blocks.append(_section("*Sources*"))
    for c in answer.citations:
        blocks.extend(_citation_blocks(c, answer.also_reported_by.get(c.article_id)))
    n = answer.articles_searched
    footer = f"{n:,} article{'' if n == 1 else 's'} searched"
    took = _seconds(answer.timing_ms.get("total"))
    blocks.append(_context(footer + (f" · {took}" if took else "")))
    buttons: list[Block] = []
    if vote_value is not None:
        buttons.append(_button(ACTION_VOTE_UP, "👍", vote_value))
        buttons.append(_button(ACTION_VOTE_DOWN, "👎", vote_value))
    if share_value is not None:
        buttons.append(_button(ACTION_SHARE, "Share in channel", share_value, style="primary"))
    if buttons:
        blocks.append({"type": "actions", "block_id": "briefbot_answer", "elements": buttons})
    return pack(blocks, answer.answer)


def item_line(item: NewsItem) -> str:
    """`• Sentence [n] — <url|Source> · date`: one line, within a section's limit."""
    c = item.citation
    source = link(c.url, c.source) if c.source else link(c.url, "source")
    meta = " · ".join(x for x in (source, escape_clipped(c.published or "", 20)) if x)
    return f"• {escape_clipped(c.quote, 600)} [{c.n}] — {meta}"


def _moment(iso: str) -> str:
    return escape(moment_label(iso))


def render_briefing(
    briefing: Briefing, *, shared_by: str | None = None, share_value: str | None = None
) -> list[Message]:
    """The stories of the window, each with its cited sentences and its sources."""
    head = f"*Briefing* · {_moment(briefing.since)} → {_moment(briefing.until)}"
    if briefing.topic:
        head += f" · _{escape_clipped(briefing.topic, 200)}_"
    blocks: list[Block] = []
    if shared_by and _USER_ID.fullmatch(shared_by):
        blocks.append(_context(f"Shared by <@{shared_by}>"))
    blocks.append(_section(head))
    if briefing.empty:
        blocks.extend(_sections(escape(briefing.note or "Nothing new in the window.")))
        return pack(blocks, briefing.note or "Nothing new in the window.")
    for k, story in enumerate(briefing.stories, start=1):
        n_sources = len(set(story.sources))
        tail = f" ({n_sources} sources)" if n_sources > 1 else ""
        title = f"*{k}. {escape_clipped(story.headline, 300)}*{tail}"
        pieces = split_text(escape(story.summary), TEXT_LIMIT - len(title) - 1)
        blocks.append(_section(f"{title}\n{pieces[0]}" if pieces else title))
        blocks.extend(_section(p) for p in pieces[1:])
        blocks.extend(
            _context(group) for group in join_lines(map(source_line, story.citations), TEXT_LIMIT)
        )
    if briefing.also_in_the_news:
        blocks.append(_section("*Also in the news*"))
        lines = map(item_line, briefing.also_in_the_news)
        blocks.extend(_section(group) for group in join_lines(lines, TEXT_LIMIT))
    if briefing.quotes:
        blocks.append(_section("*Quotes*"))
        for q in briefing.quotes:
            quote = escape(_one_line(q.citation.quote))
            who = escape_clipped(q.speaker, 100)
            pieces = split_text(f"“{quote}” — {who} [{q.citation.n}]", TEXT_LIMIT - 2)
            blocks.extend(_section(f"> {p}") for p in pieces)
    n, more = len(briefing.stories), len(briefing.also_in_the_news)
    footer = f"{n} stor{'y' if n == 1 else 'ies'}" + (f" · {more} also in the news" if more else "")
    blocks.append(_context(footer))
    if share_value is not None:
        blocks.append(
            {
                "type": "actions",
                "block_id": "briefbot_briefing",
                "elements": [_button(ACTION_SHARE, "Share in channel", share_value, "primary")],
            }
        )
    fallback = "Briefing: " + "; ".join(s.headline for s in briefing.stories)
    return pack(blocks, fallback)


# -- a followed topic's post ------------------------------------------------------------------
def _development(d: Development) -> list[Block]:
    """The development's cited sentences as block quotes, then where they are from (a link to
    each article, its source and date), then the other outlets carrying it."""
    quotes = [f"> {escape(_one_line(c.quote))}" for c in d.citations]
    cited = {(c.url, c.title, c.source, c.published): c for c in d.citations}
    sources = []
    for c in cited.values():
        meta = _meta(c)
        sources.append(
            "— " + link(c.url, c.title or c.source or "source") + (f" · {meta}" if meta else "")
        )
    blocks = _sections("\n".join(quotes + sources))
    if d.also_reported_by:
        names = ", ".join(dict.fromkeys(d.also_reported_by))
        blocks.append(_context(f"_also reported by {escape_clipped(names, 500)}_"))
    return blocks


def render_follow(post: FollowPost) -> list[Message]:
    """A followed topic's new developments: the topic, each development's one or two cited
    sentences with their source, date and link (and "also reported by …"), and "and N more"
    for those folded into it (the channel's hourly limit, quiet hours)."""
    n = len(post.developments)
    topic = escape_clipped(post.follow.topic, 200)
    head = f"*{topic}* · {n} new developments" if n > 1 else f"*{topic}* · new development"
    blocks = [_section(head)]
    for d in post.developments:
        blocks.extend(_development(d))
    if post.folded:
        more = post.folded
        blocks.append(_context(f"_and {more} more since the last post_"))
    first = next((c.quote for d in post.developments for c in d.citations), "")
    return pack(blocks, f"{post.follow.topic}: {first}")
