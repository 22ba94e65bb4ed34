"""What of a page is the article: text normalised (line ends, trailing spaces, runs of blank
lines), the page's furniture dropped line by line (captions, credits, promos, keyword lists,
update and trailer lines: each rule named and tested on real pages), and a web page's article
extracted (trafilatura) or found missing. Characters are never rewritten, because citations
quote `article.text[start:end]`.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

_BLANK_RUN = re.compile(r"\n\n\n+")  # ten times faster than r"\n{3,}" on long texts


def normalize_text(text: str) -> str:
    """CRLF to LF, strip trailing spaces, collapse 3+ newlines to 2, trim the ends."""
    text = "\n".join(line.rstrip(" \t") for line in text.replace("\r\n", "\n").split("\n"))
    text = _BLANK_RUN.sub("\n\n", text)
    return text.strip()


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


def strip_boilerplate(text: str) -> tuple[str, date | None]:
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
    return strip_boilerplate(text)[0]


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
    title = str(doc.get("title") or "").strip()
    lines = [line for line in str(doc.get("text") or "").split("\n") if line.strip()]
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
