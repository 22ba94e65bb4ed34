"""The time a question names, relative to the moment it is asked.

"today", "yesterday", "this week", "last week", "this month", "last month", "in July",
"on June 3", "June 3, 2022", "2022-06-03", "in 2021". A question that names no time gets no
window: the ranking then prefers what was published shortly before the question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

MONTHS = {
    m: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for m in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<year>\d{4}))?"
_PART = r"(?:early\s+|late\s+|mid-?)?"
_EVENT_MONTH = r"(?:january|february|april|june|july|august|september|october|november|december)"


@dataclass(frozen=True)
class Window:
    start: date
    end: date
    phrase: str
    # Said relative to when it is asked ("yesterday", "this week"): the question is about news
    # of that time. A date or year ("in 2014") may instead name the subject's own past.
    relative: bool = False

    def __contains__(self, d: date) -> bool:
        return self.start <= d <= self.end


def _month_end(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _latest(month: int, day: int | None, now: date) -> int:
    """The year of the most recent such month (or day) not after now."""
    year = now.year
    first = date(year, month, day or 1) if _valid(year, month, day or 1) else date(year, month, 1)
    return year if first <= now else year - 1


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})\b"), "iso"),
    (re.compile(rf"\b{_MONTH}\s+{_DAY}{_YEAR}\b", re.I), "month_day"),
    (re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}{_YEAR}\b", re.I), "day_month"),
    (re.compile(r"\btoday\b|\btonight\b|\bthis morning\b", re.I), "today"),
    (re.compile(r"\byesterday\b|\blast night\b", re.I), "yesterday"),
    (re.compile(r"\b(?:this|the past|the last) week\b", re.I), "this_week"),
    (re.compile(r"\blast week\b|\bthe previous week\b", re.I), "last_week"),
    (re.compile(r"\bthis month\b", re.I), "this_month"),
    (re.compile(r"\blast month\b", re.I), "last_month"),
    (re.compile(rf"\b(?:in|during|since|throughout)\s+{_PART}{_MONTH}{_YEAR}\b", re.I), "in_month"),
    (re.compile(r"\b(?:in|during|since)\s+(?P<year>(?:19|20)\d{2})\b", re.I), "in_year"),
    # "the September meeting", "July's jobs report": an event of that month, reported then.
    # Full names only, and not "march" or "may", which are also words.
    (
        re.compile(
            rf"\b(?:the\s+{_PART}(?P<month>{_EVENT_MONTH})\b(?!\s*\d)|(?P<month2>{_EVENT_MONTH})'s)",
            re.I,
        ),
        "the_month",
    ),
]


_RELATIVE_KINDS = {
    "today",
    "yesterday",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "the_month",
}


def parse_window(question: str, now: date) -> Window | None:
    """The window of dates a question names, or None. Never a window that starts after now."""
    for pattern, kind in _PATTERNS:
        m = pattern.search(question)
        if not m:
            continue
        w = _window(kind, m, now)
        if w is not None and w.start <= now:
            return Window(w.start, min(w.end, now), w.phrase, kind in _RELATIVE_KINDS)
    return None


def days_named(text: str, written: date) -> list[date]:
    """The days a text names by month and day ("on August 29", "29 August"), read in the year
    it was written (or the year it gives)."""
    days = []
    for pattern, _ in _PATTERNS[1:3]:  # month_day, day_month
        for m in pattern.finditer(text):
            g = m.groupdict()
            month, day = MONTHS[g["month"].lower()], int(g["day"])
            year = int(g["year"]) if g.get("year") else written.year
            if _valid(year, month, day):
                days.append(date(year, month, day))
    return days


def _window(kind: str, m: re.Match[str], now: date) -> Window | None:
    g = m.groupdict()
    phrase = m.group(0)
    if kind == "iso":
        y, mo, d = int(g["y"]), int(g["m"]), int(g["d"])
        return Window(date(y, mo, d), date(y, mo, d), phrase) if _valid(y, mo, d) else None
    if kind in ("month_day", "day_month"):
        month, day = MONTHS[g["month"].lower()], int(g["day"])
        year = int(g["year"]) if g.get("year") else _latest(month, day, now)
        if not _valid(year, month, day):
            return None
        return Window(date(year, month, day), date(year, month, day), phrase)
    if kind == "today":
        return Window(now, now, phrase)
    if kind == "yesterday":
        return Window(now - timedelta(days=1), now - timedelta(days=1), phrase)
    if kind == "this_week":
        return Window(now - timedelta(days=7), now, phrase)
    if kind == "last_week":
        monday = now - timedelta(days=now.weekday())
        return Window(monday - timedelta(days=7), monday - timedelta(days=1), phrase)
    if kind == "this_month":
        return Window(now.replace(day=1), now, phrase)
    if kind == "last_month":
        last = now.replace(day=1) - timedelta(days=1)
        return Window(last.replace(day=1), last, phrase)
    if kind in ("in_month", "the_month"):
        name = g["month"] or g["month2"]
        month = MONTHS[name.lower()]
        year = int(g["year"]) if g.get("year") else _latest(month, None, now)
        if kind == "the_month":
            phrase = name.capitalize()
        return Window(date(year, month, 1), _month_end(year, month), phrase)
    if kind == "in_year":
        year = int(g["year"])
        return Window(date(year, 1, 1), date(year, 12, 31), phrase)
    return None


_RELATIVE = re.compile(r"(\d{1,5})([hdw])")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}


def is_moment(word: str) -> bool:
    """Whether a word is meant as a moment ("24h", "7d", "2w", "2022-06-03")."""
    w = word.strip().lower()
    return bool(_RELATIVE.fullmatch(w) or _ISO_DAY.match(w))


def parse_moment(value: str, now: datetime, name: str = "since") -> datetime:
    """'24h', '7d', '2w' before now, or a date / date and time (UTC unless it says otherwise).
    A bad value is a BriefbotError that names the option it came from."""
    from retrieval.errors import BriefbotError

    raw = value.strip()
    m = _RELATIVE.fullmatch(raw.lower())
    if m:
        delta = int(m.group(1)) * _UNITS[m.group(2)]
        if delta > timedelta(days=3660):
            raise BriefbotError(f"{name}: {raw!r} reaches back more than ten years.")
        return now - delta
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BriefbotError(
            f"{name}: {raw!r} is not 24h, 7d, 2w, a date (YYYY-MM-DD) or a date and time."
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _instant(moment: date | datetime) -> datetime:
    """A moment comparable with any other: a date is its midnight, naive times are UTC."""
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def check_window(since: date | datetime, until: date | datetime) -> None:
    """A briefing's window must hold time: `since` before `until`, else a QuestionError."""
    from retrieval.errors import QuestionError
    from retrieval.models import moment_label

    if _instant(since) >= _instant(until):
        raise QuestionError(
            f"The window is empty: since {moment_label(since.isoformat())} is not before "
            f"until {moment_label(until.isoformat())}."
        )
