"""What counts as reporting an outcome (retrieval.outcome)."""

from __future__ import annotations

import pytest

from retrieval.outcome import asks_outcome, asks_winner, unreported

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
        ("Kansas voters will decide on Tuesday whether to remove abortion rights.", ""),
        ("The amendment will declare there is no right to an abortion.", ""),
        ("The vote is set to draw record turnout, officials said.", ""),
    ]
    assert unreported(q, previews, SUBJECT)
    report = [("Kansas voters rejected the abortion amendment on Tuesday, 59% to 41%.", "")]
    assert not unreported(q, report + previews, SUBJECT)
    assert unreported(q, previews + report, SUBJECT)  # an answer that would lead with a preview
    # a possibility or a hypothesis is not a preview
    said = [("The vote could be the biggest upset in Kansas, as abortion would be legal.", "")]
    assert not unreported(q, said, SUBJECT)


def test_a_winner_must_be_named_for_the_subject_asked_about():
    q = "who won the kansas abortion vote"
    elsewhere = [("She won the Ohio primary easily after a vote on taxes.", "Ohio primary")]
    assert unreported(q, elsewhere, SUBJECT)
    # the subject may be in the article's title rather than the sentence
    here = [("Supporters won by a wide margin.", "Kansas abortion vote: rights supporters win")]
    assert not unreported(q, here, SUBJECT)


def test_questions_that_ask_nothing_about_an_outcome_are_left_alone():
    assert not unreported("what is the amendment", [("It will decide it.", "")], SUBJECT)
    assert not unreported("how did the vote turn out", [], SUBJECT)
