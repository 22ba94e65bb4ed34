from datetime import date

import pytest

from retrieval.answering.attribution import (
    Cast,
    People,
    asked_speaker,
    asked_words_of,
    attribute,
    attribute_all,
    name_words,
    same_speaker,
)
from retrieval.engine import Engine
from retrieval.models import Article


def test_direct_quote_with_speech_verb():
    a = attribute('"We listened to assurances," Wallace said.')
    assert (a.speaker, a.direct) == ("Wallace", True)


def test_inverted_and_appositive_and_according_to():
    assert attribute('"We will win," said President Joe Biden.').speaker == "President Joe Biden"
    assert attribute("Smith, the chief executive, said profits rose.").speaker == "Smith"
    lee = 'An expert at the Foreign Policy Institute, Rob Lee, told The Moscow Times that "x y."'
    assert attribute(lee).speaker == "Rob Lee"  # the listener is not the speaker
    assert attribute("Prices rose, according to the Office for National Statistics.").speaker


def test_a_name_inside_a_quote_is_not_the_speaker():
    assert attribute('"Wallace said nothing new," Lee told reporters.').speaker == "Lee"


def test_pronouns_and_running_quotes_inherit_within_a_paragraph():
    sents = ['"First," Wallace said.', "He said more.", '"And a second quote."', '"New para."']
    attrs = attribute_all(sents, [True, False, False, True])
    assert [a.speaker for a in attrs] == ["Wallace", "Wallace", "Wallace", "Wallace"]
    assert attrs[1].inherited and attrs[2].direct
    # A quote opening a paragraph continues the last speaker's only when the paragraph before
    # ended in their quote.
    attrs = attribute_all(['"First," Wallace said.', "Talks ended.", '"Next."'], [True] * 3)
    assert [a.speaker for a in attrs] == ["Wallace", "", ""]


def test_a_quote_is_the_speakers_who_closes_it_later():
    sents = [
        '"They care about the bottom line.',
        'They care about making money," said Buzbee on ESPN.',
        "Cheney told supporters: “She won.",
        "I called her to concede the race.",
        "This primary election is over.”",
    ]
    attrs = attribute_all(sents, [True, False, True, False, False])
    assert [a.speaker for a in attrs] == ["Buzbee", "Buzbee", "Cheney", "Cheney", "Cheney"]
    assert all(a.direct for a in attrs)
    # A sentence that begins inside a quote: its speaker is after the closing mark.
    assert attribute('Gender cannot trump biology," Coe said on Sunday.').speaker == "Coe"
    tennis = "that is why I play,” Coco Gauff, an 18-year-old who was the runner-up at this year’s"
    assert attribute(tennis + " French Open, said Tuesday.").speaker == "Coco Gauff"
    times = '"It is fragile," Coe said in Belgrade, according to the Times of London.'
    assert attribute(times).speaker == "Coe"  # the reporter's source is not the speaker


def test_asked_speaker_and_matching():
    assert asked_speaker("What did Wallace say after meeting Shoigu?") == "Wallace"
    assert asked_speaker("According to Rob Lee, what can Russia do?") == "Rob Lee"
    assert asked_speaker("How many troops are near the border?") == ""
    # a person's wishes, views and objections are what they said of them
    assert asked_speaker("whats raghunathan's problem with the tram extension") == "Raghunathan"
    assert asked_speaker("what does berg want the council to do now") == "Berg"
    assert asked_speaker("what did marsh fear would happen") == "Marsh"
    assert asked_speaker("okafor's concerns about the budget") == "Okafor"
    assert asked_speaker("what do residents want") == ""  # a group is no one
    assert asked_speaker("what are the concerns about the tram") == ""
    assert same_speaker("Wallace", "Defence Secretary Ben Wallace")
    assert same_speaker("Ben Wallace", "Wallace")
    assert not same_speaker("Ben Wallace", "Tom Wallace")
    assert not same_speaker("Brown", "Ketanji Brown Jackson")  # a middle name names no one
    # a hyphenated name typed with a space, without its accent, or one part of it
    assert same_speaker("corrigan ward", "Niamh Corrigan-Ward")
    assert same_speaker("sorlie vance", "Ragnhild Sørlie-Vance")
    assert same_speaker("Drummond-Kaye", "Detective Inspector Ewan Drummond-Kaye")
    assert name_words("WHO Director-General Tedros") == ["tedros"]


# A story shaped like wire copy: people named in full once, by surname afterwards.
MAR_A_LAGO = """Senate Minority Leader Mitch McConnell on Tuesday called for a quick explanation \
of the FBI search at Mar-a-Lago.

"The country deserves a thorough and immediate explanation," McConnell said in a statement.

Former President Donald Trump posted on Truth Social: "These are dark times for our Nation."

Rep. Liz Cheney, who lost her primary last week, did not respond to a request for comment.

George Terwilliger, an attorney for Mark Meadows, said "the subpoena is invalid."

Sen. Lindsey Graham warned that McConnell "is wrong about this."
"""

WHO = """WHO Director-General Tedros Adhanom Ghebreyesus declared monkeypox a global emergency \
on Saturday.

"We have an outbreak that has spread around the world rapidly," Ghebreyesus said.
"""


def _cast(text: str) -> Cast:
    return Cast([(0, text)])


def _said_by(asked: str, text: str) -> list[str]:
    """The sentences of `text` (one a line) whose speaker is `asked`, as compose matches them."""
    lines = [line for line in text.splitlines() if line.strip()]
    starts = [text.index(line) for line in lines]
    people = People([0], lambda _: [(0, text)])
    attrs = attribute_all(lines, [True] * len(lines))
    return [
        line
        for line, at, a in zip(lines, starts, attrs, strict=True)
        if people.said_by(asked, 0, at, a)
    ]


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("what did mcconnell say about the fbi search at mar-a-lago?", "Mcconnell"),
        ("what has boris said", "Boris"),
        ("brian flores statement on his lawsuit", "Brian Flores"),
        ("how did serena react to the ruling", "Serena"),
        ("tedros comments on monkeypox", "Tedros"),
        ("what was cheney's reaction to the loss?", "Cheney"),
        ("did penny mordaunt comment on the race", "Penny Mordaunt"),
        ("what did the who chief tedros say when he declared an emergency", "Tedros"),
        ("what did sen. mitch mcconnell say", "Mitch Mcconnell"),
        ("will smith apology to chris rock what did he say", "Will Smith"),
    ],
)
def test_questions_name_speakers_the_way_people_type_them(question: str, name: str) -> None:
    assert asked_speaker(question) == name


def test_asked_names_are_written_as_the_articles_write_them() -> None:
    people = [_cast(MAR_A_LAGO), _cast(WHO)]
    assert asked_speaker("what did mcconnell say about the search", "", people) == (
        "Mitch McConnell"
    )
    assert asked_speaker("tedros comments on monkeypox", "", people) == (
        "Tedros Adhanom Ghebreyesus"
    )
    # A follow-up's pronoun: the person named in the earlier question, in any case.
    assert asked_speaker("what did she say", "did liz cheney lose?", people) == "Liz Cheney"
    assert asked_speaker("graham on the search, what did he say", "", people) == "Lindsey Graham"


def test_groups_and_roles_are_not_speakers() -> None:
    """Answered as any other question: no one's words are what they ask for."""
    for question in [
        "What did Democrats say about the bill?",
        "What did NATO say about Finland?",
        "What were the Fed's remarks on rates?",
        "what did the report say",
        "what did officials say about the fire",
        "what did the president say",
        "what did amazon's spokesperson say about the union vote",
    ]:
        assert asked_speaker(question) == "", question


def test_a_role_is_the_one_person_the_articles_give_it() -> None:
    text = (
        "China's Defense Minister Wei Fenghe on Sunday accused the United States of bullying.\n"
        "Amazon spokesperson Kelly Nantel said in a statement that the vote was unfair.\n"
        "Without mentioning China, Japanese Prime Minister Fumio Kishida said it was tense.\n"
        "British Prime Minister Boris Johnson said on Monday that he would resign soon.\n"
    )
    people = [_cast(text)]
    ask = "what did china's defense minister say about taiwan"
    assert asked_speaker(ask, "", people) == "Wei Fenghe"
    ask = "what did amazon's spokesperson say about the union vote"
    assert asked_speaker(ask, "", people) == "Kelly Nantel"
    assert asked_speaker("what did the prime minister say", "", people) == ""  # two of them
    assert asked_speaker("what did the fbi director say", "", people) == ""  # none


def test_an_ordinary_word_of_the_articles_is_no_name() -> None:
    text = "The firefighters said the fire started in a shed. Mitch McConnell said nothing."
    assert asked_speaker("what did firefighters say", "", [_cast(text)]) == ""
    assert asked_speaker("what did firefighters say") == "Firefighters"  # nothing to go on


def test_a_surname_or_given_name_is_the_person_named_in_full() -> None:
    cast = _cast(MAR_A_LAGO)
    assert cast.resolve("McConnell", MAR_A_LAGO.index("McConnell said")) == "Mitch McConnell"
    who = _cast(WHO)
    assert who.resolve("Ghebreyesus", len(WHO)) == "Tedros Adhanom Ghebreyesus"
    assert who.resolve("Tedros", len(WHO)) == "Tedros Adhanom Ghebreyesus"
    assert any(s.startswith('"The country deserves') for s in _said_by("mcconnell", MAR_A_LAGO))
    assert _said_by("tedros", WHO)[-1] == (
        '"We have an outbreak that has spread around the world rapidly," Ghebreyesus said.'
    )


def test_a_shared_surname_is_resolved_only_when_one_person_was_named() -> None:
    text = (
        "Serena Williams won in straight sets.\n"
        '"I felt good," Williams said.\n'
        "Venus Williams lost later in the day.\n"
        '"It was tough," Williams said.\n'
    )
    cast = _cast(text)
    assert cast.resolve("Williams", text.index('"I felt')) == "Serena Williams"
    assert cast.resolve("Williams", text.index('"It was')) == "Williams"  # either sister
    assert _said_by("venus", text) == []
    # A headline in title case names no one: "Cheney" is not "Trump Slams Cheney".
    headline = 'Trump Slams Cheney After Her Loss\n"It is over," Cheney said.\n'
    assert _said_by("trump", headline) == []


def test_a_pronoun_after_a_named_person_is_that_person() -> None:
    sents = [
        "Liz Cheney conceded the race on Tuesday night in Jackson, Wyoming.",
        '"No primary election is worth it," she said.',
    ]
    attrs = attribute_all(sents, [True, True])
    assert (attrs[1].speaker, attrs[1].inherited) == ("Liz Cheney", True)
    # Before anyone is named, "he" is the person the headline starts with.
    lead = [
        "The 44-year-old, arguably the greatest quarterback ever, announced the news online.",
        '"I have always believed football is an all-in proposition," he said.',
    ]
    headline = "Tom Brady announces his retirement from the NFL"
    assert attribute_all(lead, [True, True], headline)[1].speaker == "Tom Brady"
    assert attribute_all(lead, [True, True])[1].speaker == ""
    # "She" after a man was named is someone else, not named here.
    sents = [
        "Tom Brady announced his retirement on Tuesday in a long post.",
        '"I tried my best," he said.',
        '"What a ride!" she wrote.',
    ]
    assert [a.speaker for a in attribute_all(sents, [True] * 3)] == ["Tom Brady"] * 2 + [""]
    # A headline's name is no subject, and "they" is no single person.
    attrs = attribute_all(
        ["'Cheney refuses to lie': Romney defends her", '"We are fine," he said.'], [True, True]
    )
    assert attrs[1].speaker == ""


def test_declining_to_comment_is_the_persons_answer() -> None:
    a = attribute("McConnell declined to comment.")
    assert (a.speaker, a.declined, a.direct) == ("McConnell", True, False)
    a = attribute(
        "A spokesperson for Meadows did not immediately respond to a request for comment."
    )
    assert (a.speaker, a.declined) == ("Meadows", True)
    assert attribute("Musk's office did not return a request for comment.").speaker == "Musk"
    assert attribute("Jackson refused to say whether she supports adding justices.").declined
    attrs = attribute_all(
        ["Ketanji Brown Jackson met senators on Tuesday.", "She declined to comment."],
        [True, True],
    )
    assert (attrs[1].speaker, attrs[1].declined) == ("Ketanji Brown Jackson", True)
    assert not attribute("The patient did not respond to treatment.").declined
    assert not attribute("Griner did not return to the team this season.").declined


def test_posts_and_statements_are_speech() -> None:
    assert attribute('Trump posted on Truth Social: "These are dark times."').speaker == "Trump"
    assert attribute('McConnell\'s statement read: "We need answers."').speaker == "McConnell"
    assert attribute('Putin on Friday criticized the "reckless" sanctions.').speaker == "Putin"
    kraft = 'Patriots owner Robert Kraft paid tribute to Brady, saying "he was the greatest."'
    assert attribute(kraft).speaker == "Robert Kraft"


def test_asking_and_appealing_are_speech_and_asked_about() -> None:
    """ "What did the sheriff ask hikers to do": a request is someone's words too."""
    sheriff = "Sheriff Dale Hutchins asked anyone on the trail on Thursday to call his office."
    assert attribute(sheriff).speaker == "Sheriff Dale Hutchins"
    assert attribute("Mayor Jean Marsh appealed for calm.").speaker == "Mayor Jean Marsh"
    assert asked_words_of("what did the sheriff ask hikers to do") == "the sheriff"
    assert asked_words_of("what did the mayor urge residents to do") == "the mayor"


def test_another_persons_quote_is_not_xs_even_when_it_names_x() -> None:
    a = attribute(
        'George Terwilliger, an attorney for Mark Meadows, said "the subpoena is invalid."'
    )
    assert a.speaker == "George Terwilliger"
    assert _said_by("meadows", MAR_A_LAGO) == []
    assert not any("is wrong about this" in s for s in _said_by("mcconnell", MAR_A_LAGO))
    assert same_speaker("lindsey graham", "Graham") and not same_speaker("mcconnell", "Graham")


STORIES = [
    Article(
        id="mar-a-lago",
        title="McConnell calls for explanation of FBI search at Mar-a-Lago",
        text=MAR_A_LAGO,
        published=date(2022, 8, 16),
        source="wire",
    ),
    Article(
        id="cawthorn",
        title="Republicans move to sideline Madison Cawthorn after primary loss",
        text=(
            "Republican leaders in North Carolina moved on Friday to sideline Rep. Madison "
            "Cawthorn after his primary loss, party officials said.\n\n"
            '"He has become a distraction," said Chris Hughes, a party official.\n\n'
            "Cawthorn declined to comment on the party's decision to sideline him."
        ),
        published=date(2022, 5, 14),
        source="wire",
    ),
]


STORIES.append(
    Article(
        id="cheney",
        title="Liz Cheney loses Wyoming primary to Trump-backed Harriet Hageman",
        text=(
            "Rep. Liz Cheney lost her Republican primary in Wyoming on Tuesday to Harriet "
            "Hageman, a lawyer endorsed by former President Donald Trump.\n\n"
            '"This primary election is over," Cheney said in her concession speech. '
            '"But now the real work begins."\n\n'
            '"I lost this primary because I told the truth," Cheney said.\n\n'
            '"Two years ago I won this primary easily," Cheney said of the lost race.\n\n'
            '"A primary lost is not a cause lost," Cheney said.\n\n'
            '"I called her to concede the primary after I lost," Cheney said.\n\n'
            "Hageman thanked her supporters in Cheyenne."
        ),
        published=date(2022, 8, 17),
        source="wire",
    )
)


@pytest.fixture(scope="module")
def stories_engine(tmp_path_factory: pytest.TempPathFactory, numpy_encoder) -> Engine:
    from tests.conftest import make_settings

    engine = Engine(
        make_settings(tmp_path_factory.mktemp("speaker-data")),
        query_encoder=numpy_encoder,
        document_encoder=numpy_encoder,
    )
    assert engine.parts.ingester().ingest_articles(STORIES).ok
    return engine


def test_lowercase_question_cites_the_persons_own_words(stories_engine: Engine) -> None:
    a = stories_engine.ask(
        "what did mcconnell say about the fbi search at mar-a-lago?", now=date(2022, 8, 20)
    )
    quotes = " ".join(c.quote for c in a.citations)
    assert "thorough and immediate explanation" in quotes
    assert "dark times" not in quotes and "subpoena" not in quotes and "is wrong" not in quotes


def test_a_decline_answers_what_the_person_said(stories_engine: Engine) -> None:
    a = stories_engine.ask(
        "what did madison cawthorn say about republicans sidelining him", now=date(2022, 5, 20)
    )
    assert not a.abstained
    assert [c.quote for c in a.citations] == [
        "Cawthorn declined to comment on the party's decision to sideline him."
    ]


def test_the_rest_of_the_persons_quote_joins_it(stories_engine: Engine) -> None:
    a = stories_engine.ask(
        "what did liz cheney say after she lost the primary", now=date(2022, 8, 20)
    )
    quotes = " ".join(c.quote for c in a.citations)
    assert "This primary election is over" in quotes and "the real work begins" in quotes
    assert "Hageman thanked" not in quotes
