"""Briefings: stories clustered across outlets, cited key sentences, quotes of the day."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from retrieval.engine import Engine
from retrieval.index.search import is_roundup_title
from retrieval.models import Article, Briefing
from retrieval.news.quotes import full_name, quote_spans
from retrieval.news.stories import StoryOptions, cluster, draft_stories, window_articles

DAY = date(2024, 3, 14)

# Three outlets report one event (and one of them a follow-up the next day); two articles
# are about other things.
BRIDGE = [
    Article(
        id="bridge-herald",
        title="Harbour Bridge closed after engineers find crack in main span",
        text=(
            "The Harbour Bridge was closed to all traffic on Wednesday after engineers found a "
            "crack in a steel girder of its main span during a routine inspection.\n\n"
            "Commuters faced long delays as police diverted cars through the tunnel and buses "
            "were rerouted across the river at the Old Ferry crossing.\n\n"
            '"We will not reopen the bridge until we are certain it is safe," said Maria '
            "Lopez, the city's chief engineer. \"Nobody should take risks with a structure that "
            'carries eighty thousand vehicles a day."\n\n'
            "The bridge, opened in 1932, was last strengthened in 2009."
        ),
        published=DAY,
        source="The Herald",
        url="https://herald.example/bridge-closed",
    ),
    Article(
        id="bridge-courier",
        title="Crack in steel girder shuts Harbour Bridge, traffic chaos follows",
        text=(
            "Inspectors discovered a crack in a steel girder on the Harbour Bridge, and the city "
            "shut the crossing to traffic on Wednesday morning.\n\n"
            "Drivers were stuck in queues for hours while traffic was diverted to the tunnel.\n\n"
            "Lopez said engineers were examining the girder and that repairs could take weeks. "
            "The mayor, Tom Becker, called the closure a precaution."
        ),
        published=DAY,
        source="The Courier",
        url="https://courier.example/harbour-bridge-crack",
    ),
    Article(
        id="bridge-gazette",
        title="Harbour Bridge to stay closed for weeks as girder crack is repaired",
        text=(
            "The Harbour Bridge will remain closed for at least three weeks while engineers "
            "repair the cracked girder found in its main span, city officials said on Thursday."
            "\n\nTraffic on the bridge has been diverted through the harbour tunnel since "
            "Wednesday, when the crack was discovered during an inspection.\n\n"
            '"Repairs of this kind are slow, careful work," Lopez told reporters.'
        ),
        published=date(2024, 3, 15),
        source="The Gazette",
        url="https://gazette.example/bridge-weeks",
    ),
]
OTHERS = [
    Article(
        id="library-budget",
        title="Council approves new library budget for the northern district",
        text=(
            "The city council voted on Wednesday to approve a budget of four million pounds "
            "for a new public library in the northern district.\n\n"
            "The library will include a children's reading room and a digital archive of "
            "local newspapers, and should open in the spring of next year."
        ),
        published=DAY,
        source="The Herald",
        url="https://herald.example/library",
    ),
    Article(
        id="cup-final",
        title="Rovers win the county cup final on penalties",
        text=(
            "Rovers won the county cup final on penalties on Wednesday night after a goalless "
            "draw against United in front of a sold-out crowd.\n\n"
            "Their goalkeeper saved two penalties in the shoot-out, and the captain lifted the "
            "trophy for the first time in the club's history."
        ),
        published=DAY,
        source="The Courier",
        url="https://courier.example/cup-final",
    ),
    Article(
        id="old-news",
        title="Harbour Bridge repainting completed",
        text="Workers finished repainting the Harbour Bridge in a new shade of green this week.",
        published=date(2023, 6, 1),
        source="The Herald",
        url="https://herald.example/repainting",
    ),
]


@pytest.fixture(scope="module")
def news_engine(tmp_path_factory: pytest.TempPathFactory, numpy_encoder) -> Engine:
    from tests.conftest import make_settings

    engine = Engine(
        make_settings(tmp_path_factory.mktemp("briefing-data")),
        query_encoder=numpy_encoder,
        document_encoder=numpy_encoder,
    )
    report = engine.parts.ingester().ingest_articles(BRIDGE + OTHERS)
    assert report.ok and report.added == len(BRIDGE + OTHERS)
    return engine


def verify_briefing(engine: Engine, briefing: Briefing) -> None:
    """The invariant of every citation: the quote is exactly the article's text there."""
    cites = [c for s in briefing.stories for c in s.citations]
    cites += [i.citation for i in briefing.also_in_the_news]
    cites += [q.citation for q in briefing.quotes]
    articles = engine.parts.store.get_articles([c.article_id for c in cites])
    for c in cites:
        article = articles[c.article_id]
        assert article.text[c.start : c.end] == c.quote, c
        assert (c.title, c.url) == (article.title, article.url)
    assert [c.n for c in cites] == list(range(1, len(cites) + 1))


def window(engine: Engine, **kwargs) -> Briefing:
    briefing = engine.brief(date(2024, 3, 13), date(2024, 3, 15), **kwargs)
    verify_briefing(engine, briefing)
    return briefing


def test_one_event_from_three_outlets_is_one_story(news_engine: Engine) -> None:
    briefing = window(news_engine)
    assert len(briefing.stories) == 3
    top = briefing.stories[0]
    assert set(top.article_ids) == {a.id for a in BRIDGE}
    assert sorted(top.sources) == ["The Courier", "The Gazette", "The Herald"]
    assert top.headline in {a.title for a in BRIDGE}
    others = [s.article_ids for s in briefing.stories[1:]]
    assert sorted(others) == [["cup-final"], ["library-budget"]]
    assert "old-news" not in {i for s in briefing.stories for i in s.article_ids}


def test_key_sentences_are_cited_central_and_not_repeated(news_engine: Engine) -> None:
    top = window(news_engine).stories[0]
    assert 1 <= len(top.citations) <= 3
    assert all("[" + str(c.n) + "]" in top.summary for c in top.citations)
    quotes = [c.quote for c in top.citations]
    assert len(set(quotes)) == len(quotes)
    # Central: about the bridge and its crack, not the history footnote or the bus detour.
    assert all("bridge" in q.lower() or "girder" in q.lower() for q in quotes), quotes
    assert not any("1932" in q for q in quotes)


def test_a_topic_keeps_matching_stories_and_says_when_nothing_matches(
    news_engine: Engine,
) -> None:
    football = window(news_engine, topic="football match result")
    assert football.stories[0].article_ids == ["cup-final"]
    assert all("bridge" not in s.headline.lower() for s in football.stories)
    nothing = window(news_engine, topic="volcanic eruption in Iceland")
    assert nothing.empty and "volcanic eruption in Iceland" in nothing.note


def test_an_empty_window_says_so(news_engine: Engine) -> None:
    briefing = news_engine.brief(datetime(2020, 1, 1), datetime(2020, 1, 2))
    assert briefing.empty and briefing.note == "Nothing new in the window."


def test_exclude_leaves_out_articles_already_briefed(news_engine: Engine) -> None:
    briefing = window(news_engine, exclude={a.id for a in BRIDGE})
    assert {i for s in briefing.stories for i in s.article_ids} == {"library-budget", "cup-final"}


def test_max_stories(news_engine: Engine) -> None:
    assert len(window(news_engine, max_stories=1).stories) == 1


def test_quotes_of_the_day_name_the_speaker(news_engine: Engine) -> None:
    quotes = window(news_engine).quotes
    assert quotes and quotes[0].speaker == "Maria Lopez"
    assert quotes[0].citation.quote.startswith("We will not reopen the bridge")


def test_seed_quotes_are_wallaces_and_lees(seed_engine: Engine) -> None:
    briefing = seed_engine.brief(date(2022, 2, 1), date(2022, 2, 28))
    verify_briefing(seed_engine, briefing)
    assert len(briefing.stories) == 1
    by_speaker = {q.speaker: q.citation.quote for q in briefing.quotes}
    assert "Ben Wallace" in by_speaker
    assert "Rob Lee" not in by_speaker or "military capabilities" in by_speaker["Rob Lee"]
    seed = seed_engine.parts.store.get_articles([briefing.stories[0].article_ids[0]])
    spans = quote_spans(next(iter(seed.values())))
    speakers = {seed_text(seed, q.start, q.end): q.speaker for q in spans}
    assert speakers["We listened to assurances... that they would not invade Ukraine"] == (
        "Ben Wallace"
    )
    lee = next(t for t in speakers if t.startswith("the Russian military, as of this week"))
    assert speakers[lee] == "Rob Lee"


def seed_text(articles: dict[str, Article], start: int, end: int) -> str:
    return next(iter(articles.values())).text[start:end]


def test_full_name_leaves_titles_out() -> None:
    text = "Defence Secretary Ben Wallace met Shoigu. Wallace said little."
    assert full_name("Wallace", text) == "Ben Wallace"
    assert full_name("Wallace", "President Wallace spoke.") == "Wallace"
    assert full_name("Rob Lee", text) == "Rob Lee"


def test_average_linkage_does_not_chain() -> None:
    import numpy as np

    # a ~ b and b ~ c, but a and c are unrelated: single linkage would join all three.
    a = np.array([1.0, 0.0, 0.0])
    c = np.array([0.0, 1.0, 0.0])
    b = (a + c) / np.linalg.norm(a + c)
    vectors = np.stack([a, b, c])
    groups = cluster(vectors @ vectors.T, join_cosine=0.6)
    assert sorted(map(len, groups)) == [1, 2]


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("5 things to know for July 1: SCOTUS, Abortion, Ukraine", True),
        ("Ten Things You Need to Know Today: 30 June 2022 | The Week UK", True),
        ("Gas prices drop, Rep. Jackie Walorski funeral: 5 things to know Monday", True),
        ("Justice Stephen Breyer, NATO and R. Kelly. It\u2019s Wednesday's news.", True),
        ("Malcolm X, airport cat caught: News from around our 50 states", True),
        ("5 things to know about monkeypox", False),  # one subject's explainer
        ("Nancy Pelosi visits Taiwan despite China's warnings", False),
        ("Things are looking up for the Rovers", False),
    ],
)
def test_roundup_titles(title: str, expected: bool) -> None:
    assert is_roundup_title(title) is expected


def test_a_roundup_is_no_story_but_counts_for_the_stories_it_mentions(
    tmp_path, numpy_encoder
) -> None:
    from tests.conftest import make_settings

    roundup = Article(
        id="roundup",
        title="5 things to know for March 14: Harbour Bridge, library, cup final",
        text="\n\n".join(
            [
                "1. Harbour Bridge closed. Engineers found a crack in a steel girder of the "
                "Harbour Bridge's main span during a routine inspection, and the city shut the "
                "bridge to all traffic on Wednesday. Commuters faced long delays as police "
                "diverted cars through the harbour tunnel. The chief engineer, Maria Lopez, "
                "said the bridge would not reopen until it was certain to be safe, and repairs "
                "to the cracked girder could take weeks. The bridge carries eighty thousand "
                "vehicles a day and was last strengthened in 2009. Buses were rerouted across "
                "the river at the Old Ferry crossing while the closure lasts.",
                "2. A new library. The city council voted on Wednesday to approve a budget of "
                "four million pounds for a new public library in the northern district. The "
                "library will have a children's reading room and a digital archive of local "
                "newspapers, and it should open in the spring of next year. Councillors said "
                "the northern district has had no public library for a decade, and the new "
                "building will be the first library the council has opened since 1998. The "
                "library budget passed with a large majority of the council.",
                "3. Cup glory. Rovers won the county cup final on penalties on Wednesday night "
                "after a goalless draw against United in front of a sold-out crowd. Their "
                "goalkeeper saved two penalties in the shoot-out, and the captain lifted the "
                "county cup trophy for the first time in the club's history. Fans celebrated "
                "in the streets until the early hours, and the club will parade the trophy "
                "through the town on Saturday. United's manager said his side had missed "
                "their chances in the final.",
            ]
        ),
        published=DAY,
        source="The Digest",
    )
    engine = Engine(
        make_settings(tmp_path), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    engine.parts.ingester().ingest_articles([*BRIDGE, *OTHERS, roundup])
    briefing = window(engine)
    assert all("roundup" not in s.article_ids for s in briefing.stories)
    assert {"bridge-herald", "library-budget", "cup-final"} <= {
        a for s in briefing.stories for a in s.article_ids
    }
    snap = engine.snapshot()
    drafts = draft_stories(
        snap, window_articles(snap, date(2024, 3, 13), DAY), DAY, StoryOptions(), days=2
    )
    mentioned = {snap.articles[m].id: d.mentions for d in drafts for m in d.members}
    assert "roundup" not in mentioned
    assert len(snap.vectors[snap.chunk_article == snap.article_index["roundup"]]) >= 3
    assert mentioned["bridge-herald"] == mentioned["library-budget"] == 1


def test_recency_halves_over_twice_the_windows_length(news_engine: Engine) -> None:
    snap = news_engine.snapshot()
    until = date(2024, 3, 15)
    for days in (3, 7):
        since = date.fromordinal(until.toordinal() - days + 1)
        drafts = draft_stories(
            snap, window_articles(snap, since, until), until, StoryOptions(), days=days
        )
        cup = next(d for d in drafts if snap.articles[d.members[0]].id == "cup-final")
        # One source, no other article or mention: breadth 1, one day old, halving over
        # twice the window's length.
        assert cup.weight == pytest.approx(0.5 ** (1 / (2 * days)))


def test_a_citation_of_an_article_without_a_source_names_its_site(tmp_path, numpy_encoder) -> None:
    from dataclasses import replace

    from tests.conftest import make_settings

    engine = Engine(
        make_settings(tmp_path), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    engine.parts.ingester().ingest_articles([replace(a, source="") for a in BRIDGE])
    [story] = window(engine).stories
    assert story.citations
    assert {c.source for c in story.citations} <= {
        "herald.example",
        "courier.example",
        "gazette.example",
    }
    assert set(story.sources) == {"herald.example", "courier.example", "gazette.example"}


@pytest.mark.parametrize(
    ("iso", "label"),
    [
        ("2022-08-19", "2022-08-19"),
        ("2022-08-19T00:00:00+00:00", "2022-08-19"),  # whole days: midnight is the date
        ("2022-08-19T08:30:00+00:00", "2022-08-19 08:30 UTC"),
        ("2022-08-19T08:30:00+02:00", "2022-08-19 08:30"),
        ("not a date", "not a date"),
    ],
)
def test_moment_label(iso: str, label: str) -> None:
    from retrieval.models import moment_label

    assert moment_label(iso) == label


# -- also in the news -------------------------------------------------------------------------
def test_also_in_the_news_items_are_the_events_below_the_stories_each_cited_exactly(
    news_engine: Engine,
) -> None:
    briefing = window(news_engine, max_stories=1)
    [story] = briefing.stories
    assert set(story.article_ids) == {a.id for a in BRIDGE}
    items = briefing.also_in_the_news
    assert sorted(i.article_ids[0] for i in items) == ["cup-final", "library-budget"]
    articles = news_engine.parts.store.get_articles([i.citation.article_id for i in items])
    for item in items:
        c = item.citation
        assert articles[c.article_id].text[c.start : c.end] == c.quote
        assert c.article_id in item.article_ids and c.source and c.published == "2024-03-14"
        assert "\n" not in c.quote and item.headline
    # No event twice: an item's articles are in no story and in no other item.
    seen = [set(s.article_ids) for s in briefing.stories] + [set(i.article_ids) for i in items]
    assert sum(map(len, seen)) == len(set().union(*seen))


def test_a_window_with_few_events_has_no_empty_section(news_engine: Engine) -> None:
    briefing = window(news_engine)  # three events, ten stories asked for
    assert len(briefing.stories) == 3 and briefing.also_in_the_news == []
    assert briefing.to_dict()["also_in_the_news"] == []
    assert window(news_engine, max_stories=1, also_in_the_news=1).also_in_the_news[0]
    assert window(news_engine, max_stories=1, also_in_the_news=0).also_in_the_news == []


def test_the_count_of_items_is_a_setting(tmp_path, numpy_encoder) -> None:
    from tests.conftest import make_settings

    assert make_settings(tmp_path).also_in_the_news == 10
    engine = Engine(
        make_settings(tmp_path, also_in_the_news=1),
        query_encoder=numpy_encoder,
        document_encoder=numpy_encoder,
    )
    engine.parts.ingester().ingest_articles(BRIDGE + OTHERS)
    briefing = window(engine, max_stories=1)
    assert len(briefing.also_in_the_news) == 1


def test_a_near_duplicate_of_a_higher_events_article_folds_into_it(tmp_path, numpy_encoder) -> None:
    from dataclasses import replace

    from retrieval.news.stories import StoryDraft, fold_duplicates
    from tests.conftest import make_settings

    engine = Engine(
        make_settings(tmp_path), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    # The Herald's report as another outlet ran it (syndicated), and an unrelated article.
    copy = replace(BRIDGE[0], id="bridge-wire", source="The Wire", url="https://wire.example/1")
    engine.parts.ingester().ingest_articles([BRIDGE[0], copy, OTHERS[0]])
    snap = engine.snapshot()

    def draft(article_id: str) -> StoryDraft:
        i = snap.article_index[article_id]
        source = snap.articles[i].source
        return StoryDraft([i], snap.article_vectors[i], [source], DAY)

    folded = fold_duplicates(
        [draft("bridge-herald"), draft("library-budget"), draft("bridge-wire")], snap
    )
    assert [snap.articles[d.members[0]].id for d in folded] == ["bridge-herald", "library-budget"]
    assert [snap.articles[i].id for i in folded[0].folded] == ["bridge-wire"]
    assert folded[0].sources == ["The Herald", "The Wire"]


# -- key sentences ----------------------------------------------------------------------------
PHOTO_DESK = Article(
    id="bridge-photo",
    title="Pictures: the Harbour Bridge closure",
    text=(
        "Engineers inspect a crack in a steel girder of the Harbour Bridge's main span on "
        "March 13.\n\nThe Harbour Bridge was shut on Wednesday while engineers examine the crack "
        "in its main span, and the city says the crossing will stay closed until it is safe."
    ),
    published=DAY,
    source="The Picture Desk",
    url="https://pictures.example/bridge",
)


def test_key_sentences_never_repeat_a_fact_in_other_words(tmp_path, numpy_encoder) -> None:
    from tests.conftest import make_settings

    engine = Engine(
        make_settings(tmp_path), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    engine.parts.ingester().ingest_articles([*BRIDGE, *OTHERS, PHOTO_DESK])
    top = window(engine).stories[0]
    closed_on_wednesday = [
        c.quote for c in top.citations if "Wednesday" in c.quote and "crack" in c.quote
    ]
    # The Picture Desk and the Herald both lead with the closure after the crack was found.
    assert len(closed_on_wednesday) <= 1, closed_on_wednesday


def test_captions_furniture_and_sentences_that_lean_back_are_no_key_sentences() -> None:
    from retrieval.news.keysentences import lead_sentences

    article = Article(
        id="a",
        title="Bridge closed",
        text=(
            "Engineers inspect a crack in a steel girder of the Harbour Bridge's main span on "
            "March 13.\n\nThe Harbour Bridge was closed to all traffic on Wednesday after a crack "
            "was found. Sign up for our newsletter to get the latest news in your inbox.\n\n"
            '"We will not reopen the bridge until it is safe, and repairs could take weeks.\n\n'
            "But commuters were told on Thursday that the ferries would run all night.\n\n"
            "Commuters faced long delays as police diverted cars through the harbour tunnel."
        ),
    )
    found = [s.text for s in lead_sentences(article, 0, StoryOptions())]
    assert found == [
        "The Harbour Bridge was closed to all traffic on Wednesday after a crack was found.",
        "Commuters faced long delays as police diverted cars through the harbour tunnel.",
    ]


# -- headlines --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("title", "site", "headline"),
    [
        (
            "Takeaways from Monday's January 6 hearing - CNNPolitics",
            "cnn.com",
            "Takeaways from Monday's January 6 hearing",
        ),
        (
            "Subway is redesigning its menu | CNN Business",
            "cnn.com",
            "Subway is redesigning its menu",
        ),
        (
            "Polio alert: why a national incident has been declared | The ...",
            "theweek.co.uk",
            "Polio alert: why a national incident has been declared",
        ),
        (
            "Harbour Bridge closed after crack found - The Herald",
            "The Herald",
            "Harbour Bridge closed after crack found",
        ),
        (  # not the site's name: kept
            "Wimbledon updates | Nadal raises injury concern ahead of SF",
            "usatoday.com",
            "Wimbledon updates | Nadal raises injury concern ahead of SF",
        ),
        (
            "Afghanistan earthquake: More than 1,000 people killed after ...",
            "cnn.com",
            "Afghanistan earthquake: More than 1,000 people killed",
        ),
        (
            "Biden will call for 3-month suspension of gas tax, though officials ...",
            "cnn.com",
            "Biden will call for 3-month suspension of gas tax",
        ),
        (
            "Small banks in China are running into trouble. Savers could lose ...",
            "cnn.com",
            "Small banks in China are running into trouble",
        ),
        (
            "BRICS: China's Xi Jinping blasts Western sanctions for 'weaponizing ...",
            "cnn.com",
            "BRICS: China's Xi Jinping blasts Western sanctions",
        ),
        (
            "FBI executes search warrant at Trump's Mar-a-Lago in document ...",
            "cnn.com",
            "FBI executes search warrant at Trump's Mar-a-Lago",
        ),
        (
            "Jan. 6 committee to hear from Trump's former aides …",
            "cnn.com",
            "Jan. 6 committee to hear from Trump's former aides",
        ),
    ],
)
def test_a_headline_has_no_site_name_and_no_cut_off_end(
    title: str, site: str, headline: str
) -> None:
    from retrieval.news.headlines import clean_headline

    assert clean_headline(title, site)[0] == headline


def test_a_story_without_a_usable_title_is_headed_by_its_lead(tmp_path, numpy_encoder) -> None:
    from dataclasses import replace

    from tests.conftest import make_settings

    engine = Engine(
        make_settings(tmp_path), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    untitled = [replace(a, title="") for a in BRIDGE] + [
        replace(OTHERS[0], title="Council approves new ...")
    ]
    engine.parts.ingester().ingest_articles(untitled)
    briefing = window(engine)
    bridge, library = briefing.stories
    assert bridge.headline and "…" not in bridge.headline and bridge.headline != "(untitled)"
    assert bridge.headline.startswith("The Harbour Bridge")
    # "Council approves new" says too little: the lead sentence says what happened.
    assert library.headline.startswith("The city council voted on Wednesday to approve a budget")
    assert "…" not in library.headline


# -- events -----------------------------------------------------------------------------------
def test_articles_alike_on_average_but_in_no_passage_are_not_one_event() -> None:
    from types import SimpleNamespace

    import numpy as np

    from retrieval.news.stories import article_similarity

    # Each passage has its own subject plus a share of what both articles' subject area has
    # in common (the last axis): no passage of one is like one of the other, but the means are.
    def unit(v: list[float]) -> np.ndarray:
        a = np.array(v)
        return a / np.linalg.norm(a)

    k = 0.75
    passages = [
        unit([1, 0, 0, 0, 0, k]),
        unit([0, 1, 0, 0, 0, k]),
        unit([0, 0, 1, 0, 0, k]),
        unit([0, 0, 0, 1, 0, k]),
        unit([0, 0, 0, 0, 1, k]),  # the third article repeats the first's passage ...
        unit([1, 0, 0, 0, 0.2, k]),
    ]
    vectors = np.stack(passages)
    chunks = [np.array([0, 1]), np.array([2, 3]), np.array([4, 5])]
    means = np.stack([unit(list(vectors[c].mean(axis=0))) for c in chunks])
    snap = SimpleNamespace(vectors=vectors, article_vectors=means)
    assert float(means[0] @ means[1]) >= 0.40  # alike on average: the old join took them
    assert float((vectors[chunks[0]] @ vectors[chunks[1]].T).max()) < 0.40
    similarity = article_similarity(snap, [0, 1, 2], chunks)  # type: ignore[arg-type]
    groups = sorted(cluster(similarity, join_cosine=0.40))
    assert groups == [[0, 2], [1]]


# -- importance -------------------------------------------------------------------------------
# A week labelled by hand: tests/fixtures/week holds short reports, in our own words, of the
# news of 2-9 August 2022, with the coverage each event had in the evaluation corpus scaled
# down (how many outlets and articles, on which days, and the two daily round-ups that named
# it). 1: front-page news; 2: notable; 3: minor.
IMPORTANCE = {
    "trump-search": 1,  # the FBI searches Mar-a-Lago
    "taiwan": 1,  # Pelosi in Taipei, China's drills
    "zawahiri": 1,  # the US kills al Qaeda's leader
    "kansas": 1,  # the first vote on abortion since Roe fell
    "ira": 1,  # the Senate passes the climate and health bill
    "griner": 1,  # an American sentenced to nine years in Russia
    "jones": 1,  # Alex Jones to pay the Sandy Hook parents
    "monkeypox": 1,  # a national public health emergency
    "serena": 2,  # Serena Williams to retire
    "onj": 2,  # Olivia Newton-John dies
    "broncos": 2,  # a record sale of an NFL team
    "mlb": 2,  # the trade deadline: one outlet's sports desk, five articles
    "wildfire-spider": 3,
    "batgirl": 3,
    "dominos": 3,
    "pearl": 3,
    "cereal": 3,
}


def event_of(article_id: str) -> str:
    return article_id if article_id in IMPORTANCE else article_id.rsplit("-", 1)[0]


def test_importance_on_a_week_labelled_by_hand(tmp_path, numpy_encoder) -> None:
    from retrieval.intake.articles import load_path
    from retrieval.news.stories import rank
    from tests.conftest import FIXTURES, make_settings

    engine = Engine(
        make_settings(tmp_path), query_encoder=numpy_encoder, document_encoder=numpy_encoder
    )
    engine.parts.ingester().ingest_articles(load_path(FIXTURES / "week" / "articles.jsonl"))
    snap = engine.snapshot()
    since, until = date(2022, 8, 2), date(2022, 8, 9)
    options = StoryOptions()
    drafts = rank(
        draft_stories(snap, window_articles(snap, since, until), until, options, days=8),
        None,
        snap,
        options,
    )
    events = [{event_of(snap.articles[m].id) for m in d.members} for d in drafts]
    assert all(len(e) == 1 for e in events)  # each story is one event (round-ups are none)
    order = [e.pop() for e in events]
    assert sorted(order) == sorted(IMPORTANCE)  # ... and each event one story
    rank_of = {e: k for k, e in enumerate(order)}
    front_page = [e for e, tier in IMPORTANCE.items() if tier == 1]
    # All the front-page news is among the ten top stories, and before every minor item.
    assert set(front_page) <= set(order[:10]), order
    assert max(rank_of[e] for e in front_page) < min(
        rank_of[e] for e, tier in IMPORTANCE.items() if tier == 3
    )
    # Two outlets and a round-up outweigh one outlet's five articles on the trade deadline.
    assert rank_of["griner"] < rank_of["mlb"]


def test_the_lines_spread_over_the_windows_days() -> None:
    import numpy as np

    from retrieval.news.stories import StoryDraft, spread_over_days

    def event(day: int, score: float) -> StoryDraft:
        d = StoryDraft([day * 10 + int(score * 10)], np.zeros(2), ["x"], date(2022, 8, day))
        d.score = score
        return d

    top = [event(9, 3.0), event(9, 2.5), event(8, 2.0)]
    rest = [event(9, 1.0), event(9, 0.95), event(9, 0.9), event(4, 0.7), event(3, 0.6)]
    taken = spread_over_days(top, rest, 3, StoryOptions())
    # Aug 9 already has two stories: Aug 4 and Aug 3 come first, then Aug 9's weightiest.
    assert [(d.latest.day, d.score) for d in taken] == [(4, 0.7), (3, 0.6), (9, 1.0)]
