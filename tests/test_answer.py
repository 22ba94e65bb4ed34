"""The seed questions end to end: real model, real Chroma in a temporary directory."""

from __future__ import annotations

from datetime import date

import pytest

from retrieval.errors import QuestionError
from retrieval.evaluation.evaluate import check_answer, read_jsonl
from tests.conftest import FIXTURES

QUESTIONS = read_jsonl(FIXTURES / "seed_questions.jsonl")


@pytest.mark.parametrize("q", QUESTIONS, ids=[q["id"] for q in QUESTIONS])
def test_seed_question(seed_engine, q):
    answer = seed_engine.ask(q["question"], now=date.fromisoformat(q["asked_on"]))
    assert check_answer(q, answer) == []


def test_flagship_question_cites_wallace_not_lee(seed_engine):
    answer = seed_engine.ask("What did Wallace say after meeting Shoigu?", now=date(2022, 2, 11))
    quotes = " ".join(c.quote for c in answer.citations)
    assert "would not invade Ukraine" in quotes and "tragic consequences" in quotes
    assert "all the military capabilities" not in quotes
    assert 1 <= len(answer.citations) <= 5
    for c in answer.citations:
        assert f"[{c.n}]" in answer.answer
        assert c.published == "2022-02-11" and c.title.startswith("U.K. Defense Official")


def test_speaker_question_never_borrows_another_speakers_words(seed_engine):
    answer = seed_engine.ask("What did Rob Lee tell The Moscow Times?", now=date(2022, 2, 11))
    assert answer.citations and all("Rob Lee" in c.quote for c in answer.citations)


def test_off_topic_question_abstains_and_cites_nothing(seed_engine):
    answer = seed_engine.ask("What is the recipe for a good sourdough starter?")
    assert answer.abstained and answer.citations == []
    assert "don't answer" in answer.answer


def test_nothing_published_after_now_is_used(seed_engine):
    before = seed_engine.ask("How many Russian troops are near the border?", now=date(2022, 2, 1))
    after = seed_engine.ask("How many Russian troops are near the border?", now=date(2022, 3, 1))
    assert before.abstained and not after.abstained
    assert "130,000" in after.citations[0].quote


def test_follow_up_uses_the_earlier_question(seed_engine):
    follow = seed_engine.ask(
        "And what did he say about Belarus?",
        now=date(2022, 2, 11),
        context="What did Wallace say after meeting Shoigu?",
    )
    quotes = " ".join(c.quote for c in follow.citations)
    assert "certainly in Belarus" in quotes or "whole range of action" in quotes
    assert "dangerous moment" not in quotes  # NATO's words, reported by The Moscow Times
    assert "all the military capabilities" not in quotes  # Rob Lee's


def test_json_shape(seed_engine):
    d = seed_engine.ask("Where will Russia hold naval drills?", now=date(2022, 2, 11)).to_dict()
    assert {"question", "answer", "abstained", "citations", "timing_ms"} <= set(d)
    assert set(d["citations"][0]) == {
        "n",
        "article_id",
        "title",
        "source",
        "published",
        "url",
        "quote",
        "start",
        "end",
    }


@pytest.mark.parametrize("bad", ["", "   ", "x" * 2001])
def test_bad_questions_are_refused_by_name(seed_engine, bad):
    with pytest.raises(QuestionError, match="question"):
        seed_engine.ask(bad)


def test_news_of_a_named_time_with_no_article_then_abstains(seed_engine):
    later = seed_engine.ask("what did wallace say about russia this week", now=date(2022, 3, 30))
    assert later.abstained and later.citations == [] and "this week" in later.answer
    fresh = seed_engine.ask("what did wallace say about russia this week", now=date(2022, 2, 12))
    assert not fresh.abstained and fresh.citations


def test_the_same_fact_is_never_cited_twice():
    from retrieval.answering.sentences import same_fact

    assert same_fact(
        "Afghanistan was rocked by its deadliest earthquake in decades on Wednesday.",
        "(CNN) Afghanistan was rocked by its deadliest earthquake in decades on Wednesday, "
        "officials said.",
    )
    assert not same_fact(
        "The quake killed more than 1,000 people.", "Rescuers reached the villages on Thursday."
    )


@pytest.mark.parametrize(
    ("sentence", "caption"),
    [
        ("A firefighter tries to put out a blaze near Athens, Greece, on July 20.", True),
        ("People queue at a Covid testing site in Beijing on June 13.", True),
        ("The second hearing of the trial will take place on July 7.", False),
        ("Beshear laid out the first phase of his plan on April 29.", False),
        ('"We will rebuild," the mayor said on June 23.', False),
    ],
)
def test_photo_captions_are_not_quoted(sentence, caption):
    from retrieval.answering.sentences import looks_like_caption

    assert looks_like_caption(sentence) is caption


def test_a_person_quoted_on_another_subject_has_not_said_anything_on_this_one(seed_engine):
    off = seed_engine.ask("what did wallace say about the winter olympics", now=date(2022, 2, 12))
    assert off.abstained and off.citations == [] and "Wallace" in off.answer
    on = seed_engine.ask("what did wallace say about the troops", now=date(2022, 2, 12))
    assert not on.abstained and on.citations


def test_furniture_sharing_a_line_with_text_is_not_quoted():
    from retrieval.answering.sentences import is_prose

    assert not is_prose("Jane Doe/AP Protesters gather outside the court in Washington.")
    assert not is_prose("Photos: A week of protest in the capital and the cities around it")
    assert is_prose("Protesters gathered outside the court in Washington on Friday.")


def test_a_story_outranks_a_round_up_that_mentions_it(make_engine, tmp_path):
    import json

    roundup = {
        "id": "roundup",
        "title": "5 things to know for July 1: Heat, Courts, Rail strike",
        "published": "2022-07-01",
        "text": "Why are rail workers on strike? Rail workers are on strike this week over "
        "pay, and rail workers say the strike will go on. "
        "A heat wave is expected to break records across the South this weekend.",
    }
    story = {
        "id": "story",
        "title": "Railway staff walk out",
        "published": "2022-07-01",
        "text": "Thousands of railway staff walked out on Thursday in a dispute over wages. "
        "The union said talks with the rail companies had broken down, so workers strike.",
    }
    path = tmp_path / "two.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (roundup, story)) + "\n")
    engine = make_engine()
    engine.ingest([path])
    answer = engine.ask("why are rail workers on strike", now=date(2022, 7, 2))
    assert answer.ranked_article_ids[0] == "story"
    from retrieval.index.search import SearchOptions

    engine.search_options = SearchOptions(k=engine.settings.retrieve_k, roundup_weight=1.0)
    unweighted = engine.ask("why are rail workers on strike", now=date(2022, 7, 2))
    assert unweighted.ranked_article_ids[0] == "roundup"  # the weight is what puts it second


def _ingest_jsonl(engine, tmp_path, name, records):
    import json

    path = tmp_path / f"{name}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    engine.ingest([path])


_PREVIEW = {
    "id": "preview",
    "title": "Kansas voters to decide on abortion amendment",
    "published": "2022-07-31",
    "text": "Kansas primary voters on Tuesday will be the first in the country to decide on the "
    "right to abortion since Roe v. Wade fell. The amendment on the ballot would declare that "
    "there is no right to an abortion in Kansas. Turnout in the vote is expected to be high, "
    "election officials said. Both campaigns will hold rallies across Kansas on Monday.",
}
_RESULT = {
    "id": "result",
    "title": "Kansas voters reject abortion amendment",
    "published": "2022-08-03",
    "text": "Kansas voters rejected an amendment that would have removed the right to abortion "
    "from the state constitution, by 59% to 41% in Tuesday's vote. The result was a major "
    "victory for abortion rights supporters in Kansas.",
}


def test_an_outcome_asked_before_it_is_reported_is_not_answered_by_previews(make_engine, tmp_path):
    engine = make_engine()
    _ingest_jsonl(engine, tmp_path, "preview", [_PREVIEW])
    question = "how did the kansas abortion vote turn out"
    before = engine.ask(question, now=date(2022, 8, 1))
    assert before.abstained and before.citations == []
    assert "turned out" in before.answer
    _ingest_jsonl(engine, tmp_path, "result", [_RESULT])
    after = engine.ask(question, now=date(2022, 8, 4))
    assert not after.abstained
    assert any("59%" in c.quote for c in after.citations)


def test_who_won_needs_a_sentence_that_names_a_win_of_that_subject(make_engine, tmp_path):
    open_preview = {
        "id": "open",
        "title": "The 150th Open begins at St Andrews",
        "published": "2022-07-13",
        "text": "The 150th Open Championship begins Thursday on the Old Course at St Andrews. "
        "Tiger Woods won the Open at St Andrews in 2000 and 2005, and fans hope he can contend. "
        "Rory McIlroy said the Old Course suits his game and that he feels ready.",
    }
    tour = {
        "id": "tour",
        "title": "Heat wave grips France",
        "published": "2022-07-18",
        "text": "France won praise for its firefighting as the heat wave spread across France. "
        "Firefighters in France battled blazes near Bordeaux for a fifth day.",
    }
    engine = make_engine()
    _ingest_jsonl(engine, tmp_path, "golf", [open_preview, tour])
    # The preview names an old win at St Andrews but not this year's: "who won" is answered
    # by a sentence that names a win of the subject.
    assert engine.ask("who won the tour de france", now=date(2022, 7, 26)).abstained
    result = {
        "id": "smith",
        "title": "Cameron Smith wins the 150th Open at St Andrews",
        "published": "2022-07-17",
        "text": "Cameron Smith won the 150th Open Championship at St Andrews on Sunday, "
        "shooting a final-round 64 to beat Cameron Young by one stroke.",
    }
    _ingest_jsonl(engine, tmp_path, "smith", [result])
    answer = engine.ask("who won the open at st andrews", now=date(2022, 7, 18))
    assert not answer.abstained
    assert any("Cameron Smith won" in c.quote for c in answer.citations)


def test_the_month_of_an_event_with_no_article_then_abstains(seed_engine):
    answer = seed_engine.ask(
        "what did wallace say about russia at the september meeting", now=date(2022, 9, 20)
    )
    assert answer.abstained and "September" in answer.answer


@pytest.mark.parametrize(
    ("line", "prose"),
    [
        ("Tour de France winner is crowned", False),  # a link to another story
        ("See the severe flooding that shut down Yellowstone National Park", False),  # a promo
        ("The Tour de France winner was crowned in Paris on Sunday.", True),
        # a sentence the page left without its full stop is still a sentence
        (
            "More than 1.2 million acres were burned in nearly 9,000 fires last year, according "
            "to Cal Fire",
            True,
        ),
    ],
)
def test_a_short_line_without_a_full_stop_is_not_quoted(line, prose):
    from retrieval.answering.sentences import is_prose

    assert is_prose(line) is prose


def test_the_lead_of_the_best_article_tells_its_news(make_engine, tmp_path):
    filler = " ".join(
        f"Paragraph {i} describes the store layouts, parking and opening hours in detail."
        for i in range(40)
    )
    story = {
        "id": "bbb",
        "title": "Shoppers swelter in stores",
        "published": "2022-06-29",
        "text": "Bed Bath & Beyond is accused of letting its stores get hot to cut costs. "
        + filler
        + " Workers say the company has been turning off the air "
        "conditioning in stores to save money as sales plummet, and customers accuse the "
        "company of it.",
    }
    engine = make_engine()
    _ingest_jsonl(engine, tmp_path, "bbb", [story])
    question = "which company is accused of turning off the air conditioning in its stores"
    answer = engine.ask(question, now=date(2022, 7, 1))
    assert "Bed Bath & Beyond" in answer.citations[0].quote


def test_declining_what_was_asked_is_the_persons_answer(make_engine, tmp_path):
    hearing = {
        "id": "hearing",
        "title": "Judge Jackson faces senators at her hearing",
        "published": "2022-02-02",
        "text": "Judge Ketanji Brown Jackson spoke about her career at the hearing.\n\n"
        '"My parents were in public service, and I felt called to it too," Jackson said.\n\n'
        '"I have experienced life in a different way than some colleagues," she added.\n\n'
        + "".join(
            f'"{line}," Jackson said.\n\n'
            for line in (
                "Judges must apply the law as written, without fear or favor",
                "My mentors taught me patience in every courtroom I served",
                "Public defenders see the system from the side of the accused",
                "Sentencing guidelines deserve careful study by every district judge",
                "Clerks in my chambers come from many different law schools",
                "Precedent gives the public stability and predictability",
            )
        )
        + "Senator Blackburn asked what the judge thought about proposals to add more "
        "justices to the Supreme Court bench.\n\n"
        "Jackson declined to comment.\n\n"
        "The committee will vote next month.",
    }
    engine = make_engine()
    _ingest_jsonl(engine, tmp_path, "hearing", [hearing])
    answer = engine.ask(
        "what did jackson say when asked about adding more justices to the supreme court",
        now=date(2022, 2, 3),
    )
    assert not answer.abstained
    assert any("Jackson declined to comment." in c.quote for c in answer.citations)


def test_sentences_of_consecutive_paragraphs_make_one_quote_and_repeat_nothing(
    make_engine, tmp_path
):
    tonys = {
        "id": "tonys",
        "title": "Tony Awards 2022: the winners",
        "published": "2022-06-13",
        "text": "Broadway's best stars were recognized Sunday night at Radio City Music Hall.\n\n"
        "The Tony Awards were hosted by Ariana DeBose, who won an Oscar this year.\n\n"
        "Broadway's best stars were recognized at the Tony Awards, hosted by DeBose.\n\n"
        "Ticket sales on Broadway have not recovered from the pandemic.",
    }
    engine = make_engine()
    _ingest_jsonl(engine, tmp_path, "tonys", [tonys])
    answer = engine.ask(
        "broadway's best stars were recognized at which awards show", now=date(2022, 6, 14)
    )
    first = answer.citations[0].quote
    assert "Radio City Music Hall.\n\nThe Tony Awards were hosted" in first
    # the third paragraph tells what the first two do together: it is not cited again
    assert not any("hosted by DeBose." in c.quote for c in answer.citations)


def test_this_weeks_question_cites_only_this_weeks_articles(make_engine, tmp_path):
    old = {
        "id": "old",
        "title": "Rail workers strike, a history",
        "published": "2020-04-08",
        "text": "Rail workers went on strike in 1922 over a wage cut, and rail workers lost. "
        "Rail workers on strike were broken by a court injunction.",
    }
    new = {
        "id": "new",
        "title": "Rail staff walk out",
        "published": "2022-06-21",
        "text": "Rail workers began a strike on Tuesday over pay and job cuts. "
        "The union said the strike by rail workers would go on all week.",
    }
    engine = make_engine()
    _ingest_jsonl(engine, tmp_path, "rail", [old, new])
    answer = engine.ask("why are rail workers on strike this week", now=date(2022, 6, 22))
    assert answer.citations and {c.article_id for c in answer.citations} == {"new"}
