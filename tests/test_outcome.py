"""What counts as reporting an outcome (retrieval.answering.outcome)."""

from __future__ import annotations

import pytest

from retrieval.answering.outcome import asks_outcome, asks_winner, unreported

SUBJECT = {"kansa": 6.0, "abort": 5.0, "vote": 3.0}


@pytest.mark.parametrize(
    ("question", "outcome", "winner"),
    [
        ("how did the kansas abortion vote turn out", True, False),
        ("who won the italian election", True, True),
        ("which team won the stanley cup?", True, True),
        ("why did they scrub the artemis launch", True, False),
        ("when is the italian election", False, False),
        ("how deadly is marburg virus", False, False),
        ("how far did serena get at the us open", True, False),
        ("what did nato call the start of the drills?", False, False),
        ("who did the uk defence secretary meet in moscow?", False, False),
    ],
)
def test_questions_that_ask_how_something_ended(question, outcome, winner):
    assert asks_outcome(question) is outcome
    assert asks_winner(question) is winner


def test_previews_do_not_report_an_outcome_and_a_report_does():
    q = "how did the kansas abortion vote turn out"
    previews = [
        ("Kansas voters will decide on Tuesday whether to remove abortion rights.", "", None),
        ("The amendment will declare there is no right to an abortion.", "", None),
        ("The vote is set to draw record turnout, officials said.", "", None),
    ]
    assert unreported(q, previews, SUBJECT)
    report = [("Kansas voters rejected the abortion amendment on Tuesday, 59% to 41%.", "", None)]
    assert not unreported(q, report + previews, SUBJECT)
    assert unreported(q, previews + report, SUBJECT)  # an answer that would lead with a preview
    # a possibility or a hypothesis is not a preview
    said = [
        ("The vote could be the biggest upset in Kansas, as abortion would be legal.", "", None)
    ]
    assert not unreported(q, said, SUBJECT)


def test_a_winner_must_be_named_for_the_subject_asked_about():
    q = "who won the kansas abortion vote"
    elsewhere = [("She won the Ohio primary easily after a vote on taxes.", "Ohio primary", None)]
    assert unreported(q, elsewhere, SUBJECT)
    # the subject may be in the article's title rather than the sentence
    here = [
        ("Supporters won by a wide margin.", "Kansas abortion vote: rights supporters win", None)
    ]
    assert not unreported(q, here, SUBJECT)


def test_questions_that_ask_nothing_about_an_outcome_are_left_alone():
    assert not unreported("what is the amendment", [("It will decide it.", "", None)], SUBJECT)
    assert not unreported("how did the vote turn out", [], SUBJECT)


def test_a_win_in_an_earlier_edition_does_not_answer_who_won_this_one():
    from datetime import date

    q = "who won the kansas abortion vote"
    old_win = ("Kansas abortion opponents won the 2019 vote easily.", "", date(2019, 6, 1))
    latest = ("Kansas abortion vote campaigns rally on the eve of the vote.", "", date(2022, 8, 1))
    assert unreported(q, [latest, old_win], SUBJECT)
    this_year = ("Kansas abortion rights supporters won the vote.", "", date(2022, 8, 3))
    assert not unreported(q, [latest, this_year], SUBJECT)


def test_winning_praise_is_no_win():
    q = "who won the kansas abortion vote"
    praised = [("Kansas abortion vote organisers won praise for turnout.", "", None)]
    assert unreported(q, praised, SUBJECT)


def test_a_preview_whose_day_has_come_does_not_tell_how_it_went():
    from datetime import date

    q = "how did the kansas abortion vote turn out"
    lead = ("Kansas abortion campaigners spent heavily this summer.", "", date(2022, 7, 20))
    preview = (
        "The Kansas abortion vote, which takes place on August 2, will draw record turnout.",
        "",
        date(2022, 7, 20),
    )
    assert unreported(q, [lead, preview], SUBJECT, now=date(2022, 8, 10))
    assert not unreported(q, [lead, preview], SUBJECT, now=date(2022, 7, 25))  # not yet due
    result = ("Kansas voters rejected the abortion amendment.", "", date(2022, 8, 3))
    assert not unreported(q, [lead, preview, result], SUBJECT, now=date(2022, 8, 10))


def test_days_a_text_names_are_read_in_the_year_it_was_written():
    from datetime import date

    from retrieval.answering.timewindow import days_named

    text = "The US Open starts on 29 August; the draw is on August 25, 2022."
    assert sorted(days_named(text, date(2022, 8, 10))) == [date(2022, 8, 25), date(2022, 8, 29)]
