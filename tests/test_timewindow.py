from datetime import date

import pytest

from retrieval.answering.timewindow import parse_window

NOW = date(2022, 3, 2)  # a Wednesday


@pytest.mark.parametrize(
    "question, start, end",
    [
        ("What happened today?", NOW, NOW),
        ("Who resigned yesterday?", date(2022, 3, 1), date(2022, 3, 1)),
        ("Which team won this week?", date(2022, 2, 23), NOW),
        ("What did the Fed decide last week?", date(2022, 2, 21), date(2022, 2, 27)),
        ("What rose this month?", date(2022, 3, 1), NOW),
        ("What fell last month?", date(2022, 2, 1), date(2022, 2, 28)),
        # A month not yet reached this year is last year's.
        ("What happened in July?", date(2021, 7, 1), date(2021, 7, 31)),
        ("What happened in February?", date(2022, 2, 1), date(2022, 2, 28)),
        ("What happened in March?", date(2022, 3, 1), NOW),  # clipped at now
        ("Who spoke on June 3?", date(2021, 6, 3), date(2021, 6, 3)),
        ("Who spoke on 1 March?", date(2022, 3, 1), date(2022, 3, 1)),
        ("What was announced on Feb. 24, 2022?", date(2022, 2, 24), date(2022, 2, 24)),
        ("What happened on 2021-12-31?", date(2021, 12, 31), date(2021, 12, 31)),
        ("What changed in 2020?", date(2020, 1, 1), date(2020, 12, 31)),
    ],
)
def test_windows(question, start, end):
    w = parse_window(question, NOW)
    assert w is not None and (w.start, w.end) == (start, end)


def test_year_and_month_edges():
    # Early January: "last month" is December of the year before; "last week" crosses years.
    jan = date(2023, 1, 3)  # a Tuesday
    w = parse_window("What happened last month?", jan)
    assert (w.start, w.end) == (date(2022, 12, 1), date(2022, 12, 31))
    w = parse_window("What happened last week?", jan)
    assert (w.start, w.end) == (date(2022, 12, 26), date(2023, 1, 1))
    w = parse_window("What happened in December?", jan)
    assert (w.start, w.end) == (date(2022, 12, 1), date(2022, 12, 31))
    # Leap day only where it exists.
    assert parse_window("on February 29", date(2024, 3, 1)).start == date(2024, 2, 29)
    w = parse_window("on February 29", date(2023, 3, 1))
    assert w is None or w.start.day == 29


def test_no_time_named():
    assert parse_window("Which automaker recalled 2.9 million vehicles?", NOW) is None
    assert parse_window("What is the May 4 movement?", NOW) is not None  # a date is a date


def test_a_future_date_gives_no_window():
    assert parse_window("What happens on 2030-01-01?", NOW) is None
