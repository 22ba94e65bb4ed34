"""The learned answerer on articles of a team's own (tests/fixtures/newsroom: six short
articles in six styles, written for these tests): sentences chosen by meaning, one calibrated
answerability score, and the same verdict whatever else is indexed."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from retrieval.answering import learned
from retrieval.answering.features import WordMatcher, fold, subject, weight
from retrieval.answering.options import STEPS
from tests.conftest import FIXTURES

NEWSROOM = FIXTURES / "newsroom"
ASKED = date(2025, 6, 30)


@pytest.fixture(scope="module")
def newsroom(tmp_path_factory, numpy_encoder):
    """The six articles alone, and one of them alone."""
    from retrieval.engine import Engine
    from tests.conftest import make_settings

    def build(name: str, paths: list[Path]) -> Engine:
        engine = Engine(
            make_settings(tmp_path_factory.mktemp(name)),
            query_encoder=numpy_encoder,
            document_encoder=numpy_encoder,
        )
        engine.ingest(paths)
        return engine

    six = build("six", [NEWSROOM])
    one = build("one", [NEWSROOM / "calder-earnings.md"])
    return one, six


def quotes(answer) -> str:
    return " ".join(c.quote for c in answer.citations)


def test_word_weights_come_from_english_not_from_the_index():
    assert weight("the") < weight("council") < weight("glacier") < weight("ortuzar")
    assert weight("ortuzar") == 8.0  # a name no list holds weighs most


def test_names_match_without_their_accents():
    assert fold("Errázuriz Ortúzar Hrubý Mørch Łukasz") == "errazuriz ortuzar hruby morch lukasz"


def test_a_missing_word_is_met_by_a_word_of_like_meaning(numpy_encoder):
    matcher = WordMatcher(numpy_encoder.word_vectors)
    subj = subject("where is calder building its new factory", matcher)
    plant = "Calder is building a new plant in Tulsa, Oklahoma."
    shoes = "Calder is building a new website in Tulsa, Oklahoma."
    assert subj.exact(plant) == subj.exact(shoes)  # the same words are shared...
    assert subj.soft(plant, matcher) > subj.soft(shoes, matcher)  # ..."plant" is nearer "factory"
    without = subject("where is calder building its new factory", WordMatcher(None))
    assert without.soft(plant, WordMatcher(None)) == without.exact(plant)


def test_what_a_question_asks_beyond_its_storys_headline():
    subj = subject("how much is the state chipping in for the tram", WordMatcher(None))
    focus = subj.beyond("Council backs the Kilnworth tram. Port Aldry will fund the tram.")
    assert focus is not None and set(focus.words) == {"state", "chipping"}
    grant = "The state transport department is providing a grant of $56 million."
    assert focus.exact(grant) > focus.exact("Port Aldry will fund the tram.") == 0.0
    assert subj.beyond("The state is chipping in for the tram.") is None  # nothing beyond


def _one_article(tmp_path, encoder, text: str):
    """An engine whose index holds this one article (a fresh deployment's)."""
    from retrieval.engine import Engine
    from tests.conftest import make_settings

    (tmp_path / "article.md").write_text(text)
    engine = Engine(
        make_settings(tmp_path / "data"), query_encoder=encoder, document_encoder=encoder
    )
    engine.ingest([tmp_path / "article.md"])
    return engine


TRAM = """---
title: Port Aldry council backs Kilnworth tram extension
source: Harbour Gazette
published: 2025-03-06
url: https://example.org/tram
---

Port Aldry City Council voted 8-3 on Wednesday to fund the tram extension to the Kilnworth \
estate, ending a year-long fight over the project.

The extension will add 3.2 miles of track and six stops between the harbour and Kilnworth.

Councillors who voted against said the city could not afford to borrow for the line.

The state transport department, which is providing a grant of $56 million, said it welcomed \
the decision.

Construction is due to begin in September, and the first trams could run in 2027.
"""


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how much is the state chipping in for the tram", "$56 million"),
        ("when does work on the tram start", "September"),
    ],
)
def test_the_sentence_with_what_is_asked_beyond_the_headline_is_cited_first(
    tmp_path, numpy_encoder, question, expected
):
    """Every sentence of a story shares its headline's words; the one that answers holds what
    the question asks beyond them, and is cited before the lead."""
    engine = _one_article(tmp_path, numpy_encoder, TRAM)
    answer = engine.answerer.invoke(question, "", date(2025, 3, 7))
    assert not answer.abstained, answer.answer
    assert expected in answer.citations[0].quote, answer.answer


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("where is calder building its new factory", "Tulsa"),
        ("how much did calder make last quarter", "$48.3 million"),
        ("how many jobs will the tulsa plant bring", "900"),
    ],
)
def test_one_article_index_answers_as_a_six_article_one(newsroom, question, expected):
    one, six = newsroom
    alone, among = one.ask(question, now=ASKED), six.ask(question, now=ASKED)
    assert not alone.abstained and not among.abstained, (alone.answer, among.answer)
    assert expected in quotes(alone) and expected in quotes(among)
    assert alone.citations[0].quote == among.citations[0].quote
    assert alone.confidence == pytest.approx(among.confidence, abs=0.05)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("where will chile and argentina meet next", "Santiago"),
        ("how many homes lost power in the storm", "23,000"),
        ("what did the court decide about the quarry", "blocked"),
    ],
)
def test_answers_found_in_words_other_than_the_questions(newsroom, question, expected):
    _, six = newsroom
    answer = six.ask(question, now=ASKED)
    assert not answer.abstained, answer.answer
    assert expected in quotes(answer)
    assert answer.confidence is not None and answer.confidence >= learned.models().answer_threshold


@pytest.mark.parametrize(
    "question",
    [
        "what did the prime minister say about the heat wave",
        "what did tedros say about the glacier deal",
        "who won the basketball championship",
    ],
)
def test_questions_the_articles_cannot_answer_are_declined(newsroom, question):
    _, six = newsroom
    answer = six.ask(question, now=ASKED)
    assert answer.abstained, answer.answer


def test_every_named_step_can_be_switched_off(newsroom):
    _, six = newsroom
    question = "who won the basketball championship"
    base = six.compose_options
    assert base.steps <= set(STEPS)
    try:
        six.compose_options = replace(base, steps=frozenset())
        ungated = six.ask(question, now=ASKED)
    finally:
        six.compose_options = base
    assert not ungated.abstained  # with every step off, the best sentences are shown...
    assert six.ask(question, now=ASKED).abstained  # ...and the steps are what decline


def test_the_shipped_scores_are_a_trained_logistic_model():
    m = learned.models()
    assert 0 < m.cite_floor < 1 and 0 < m.answer_threshold < 1
    assert "trained" in m.notes and "bench/train_answerer.py" in m.notes["trained"]
    x = np.zeros((2, len(learned.SENTENCE_FEATURES)))
    for name in ("exact", "soft", "titled", "soft_titled"):
        x[1, learned.SENTENCE_FEATURES.index(name)] = 1.0
    p = m.sentence.prob(x)
    assert p[1] > p[0]  # holding the question's words makes a sentence likelier to answer


def test_a_model_file_for_other_features_is_refused():
    raw = {
        "sentence": {"features": ["exact"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0},
        "answer": {"features": ["top"], "mean": [0], "scale": [1], "coef": [1], "intercept": 0},
        "cite_floor": 0.3,
        "answer_threshold": 0.3,
    }
    with pytest.raises(ValueError, match="retrain with bench/train_answerer.py"):
        learned.from_dict(raw)


@pytest.mark.parametrize(
    "question",
    ["how much did calder make last quarter", "where will chile and argentina meet next"],
)
def test_an_old_story_asked_about_years_later_is_answered_as_the_week_it_ran(newsroom, question):
    _, six = newsroom
    then, later = six.ask(question, now=ASKED), six.ask(question, now=date(2030, 1, 1))
    assert not then.abstained and not later.abstained
    assert then.citations[0].quote == later.citations[0].quote
    assert then.confidence == later.confidence


RULING = "\n\n".join(
    [
        "# Judge finds mill broke clean-water rules",
        "ORTON (Valley Post) — A federal judge ruled on Tuesday that the Hallam paper mill broke "
        "the Clean Water Act by letting dye run into the Orton river, handing a win to the "
        "fishermen who sued.",
        "Judge Mara Quist said the mill's owners had known about the leak since 2021.",
        "She found violations on 127 days, fewer than the 140 the fishermen had claimed.",
        "The mill's owners said they would study the ruling.",
    ]
)


def test_a_facts_answer_is_the_first_citation_not_the_lead_before_it(tmp_path, numpy_encoder):
    """The sentence the score ranks first is cited first, even when the story's lead is cited
    too: the reader sees the answer, then what it sits in."""
    engine = _one_article(tmp_path, numpy_encoder, RULING)
    ex: dict = {}
    answer = engine.answerer.invoke(
        "how many days of violations did the judge find", "", ASKED, explain=ex
    )
    assert not answer.abstained, answer.answer
    assert "127 days" in answer.citations[0].quote, answer.answer
    best = max(ex["candidates"], key=lambda c: c["p"])
    assert best["text"] in answer.citations[0].quote


def test_a_person_no_article_found_names_has_said_nothing_there(newsroom):
    """Asked for the words of someone none of the articles names, the bot says so before any
    score is read (a role is the role_words step's: test_a_roles_words_*)."""
    _, six = newsroom
    question = "what did boris johnson say about the glacier deal"
    ex: dict = {}
    answer = six.answerer.invoke(question, "", ASKED, explain=ex)
    assert answer.abstained and "Boris Johnson" in answer.answer, answer.answer
    assert "answer" not in ex  # declined by the step, not by the answerability score
    steps = six.compose_options.steps
    six.compose_options = replace(six.compose_options, steps=steps - {"unknown_speaker"})
    try:
        ex = {}
        six.answerer.invoke(question, "", ASKED, explain=ex)
        assert "answer" in ex
    finally:
        six.compose_options = replace(six.compose_options, steps=steps)


def test_a_persons_words_are_set_against_what_they_were_asked_about(numpy_encoder):
    """ "what did X say about the cruise ships": their words on another subject are far from
    it in meaning, though they share no fewer words with it than words on it."""
    from retrieval.answering.speaker import topic_dense

    asked = "what did salgueiro say about the cruise ships"
    subj = subject(asked, WordMatcher(None), drop={"salgueiro"})
    on = ["Passenger liners were turned away and sent on to Porto, he said."]
    off = ["We are striking so that everyone goes home, he said."]
    near = topic_dense(subj, on, numpy_encoder.encode)
    far = topic_dense(subj, off, numpy_encoder.encode)
    assert near > far + 0.1, (near, far)
    assert topic_dense(subj, on + off, numpy_encoder.encode) == pytest.approx(near)
    assert topic_dense(subj, on, None) == 0.0  # no encoder: the feature is off, not a guess
    nothing = subject("what did salgueiro say", WordMatcher(None), drop={"salgueiro"})
    assert topic_dense(nothing, on, numpy_encoder.encode) == 0.0


# Two styles of naming a role: a wire story (role before the name, lowercase; an appositive
# after it; "its chief executive") and a council report (the role's clause, then the name).
PORT_STRIKE = """\
# Lisbon dockers strike over shifts

LISBON (Coastal Wire) - Dockworkers at the port of Lisbon stopped work on Monday over new
12-hour shifts, leaving 23 container ships waiting at anchor.

Portugal's infrastructure minister, Beatriz Monteiro-Sa, said the government would not
intervene in the dispute. "We are watching the effect on exporters closely," she said.

Atlantic Gate Terminals, which runs the largest terminal, said it regretted the delays. Its
chief executive, Henrik Aalto-Sousa, declined to comment.

"Nobody should lift forty tonnes in the eleventh hour of a shift," said union leader Rui
Salgueiro. A union spokesperson said the strike would go on until the shifts were withdrawn.
"""

WATER_TALKS = """\
# Chile and Argentina restart water talks

MENDOZA (Coastal Wire) - The foreign ministers of Chile and Argentina agreed on Monday to
restart talks on rivers that cross the Andes.

Argentina's foreign minister, Lucia Ferreyra Paz, said the talks had been friendly but
difficult. A farmers' group sent observers; its president, Rosendo Chambi, said farmers
wanted a seat at the table.
"""


@pytest.fixture(scope="module")
def roles(tmp_path_factory, numpy_encoder):
    from retrieval.engine import Engine
    from tests.conftest import make_settings

    folder = tmp_path_factory.mktemp("roles")
    (folder / "port.md").write_text(PORT_STRIKE)
    (folder / "water.md").write_text(WATER_TALKS)
    engine = Engine(
        make_settings(folder / "data"), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    engine.ingest([folder / "port.md", folder / "water.md"])
    return engine


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("what did the minister say about the dock strike", "would not"),
        ("what did atlantic gate's ceo say about the strike", "declined to comment"),
        ("what did argentina's foreign minister say about the talks", "friendly but"),
        ("what did the union spokesperson say about the shifts", "until the shifts"),
    ],
)
def test_a_roles_words_are_its_holders_wherever_the_article_names_the_role(roles, question, said):
    """The role before the name in lowercase, in the clause before it ("Portugal's
    infrastructure minister, Beatriz ..."), "its chief executive" in the company's story, or
    the role with no name ("a union spokesperson said"): the holder's words are the answer."""
    answer = roles.answerer.invoke(question, "", ASKED)
    assert not answer.abstained, answer.answer
    assert said in quotes(answer), answer.answer


@pytest.mark.parametrize(
    "question",
    [
        "what did chile's president say about the water talks",  # only a farmers' group's
        "what did the portuguese prime minister say about the dock strike",
    ],
)
def test_a_roles_words_are_declined_when_nobody_in_it_is_quoted(roles, question):
    """A country's office must be given at the person ("Chile's president"): the president
    of a farmers' group in an article about Chile is not it. Without the step, the answer is
    a sentence of someone else's."""
    ex: dict = {}
    answer = roles.answerer.invoke(question, "", ASKED, explain=ex)
    assert answer.abstained and "said" in answer.answer, answer.answer
    assert "answer" not in ex and "speaker" not in ex  # declined by the step, before any score
    steps = roles.compose_options.steps
    roles.compose_options = replace(roles.compose_options, steps=steps - {"role_words"})
    try:
        ex = {}
        roles.answerer.invoke(question, "", ASKED, explain=ex)
        assert "answer" in ex  # the answerability score decides instead
    finally:
        roles.compose_options = replace(roles.compose_options, steps=steps)


def test_role_words_are_read_as_a_role_and_its_qualifiers():
    from retrieval.answering.people import Role

    assert Role.of("argentina's president") == Role(("president",), ("argentina",))
    assert Role.of("the portuguese prime minister") == Role(("prime", "minister"), ("portuguese",))
    assert Role.of("atlantic gate's ceo").head == ("ceo",)
    assert Role.of("the pm") == Role(("prime", "minister"), ())
    assert Role.of("the minister").known and not Role.of("pay").known
