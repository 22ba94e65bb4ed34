"""Discord's rendering (bot/discord/render.py): answers and briefings as embeds, and the
buttons under them, as data. Every limit of Discord's is kept by splitting; article text is
escaped so that nothing in it renders as markdown, a link or a mention."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import discord

from bot.discord.render import (
    CUSTOM_ID_LIMIT,
    SHARE_TEMPLATE,
    VOTE_TEMPLATE,
    answer_embeds,
    briefing_embeds,
    escape,
    escape_cited,
    follow_embeds,
    message_groups,
    share_button,
    shared_line,
    split_text,
    vote_button,
)
from retrieval import Development, Follow, FollowPost
from retrieval.engine import Engine
from retrieval.models import Answer, Briefing, Citation, NewsItem, Quote, Story
from tests.fakes.discord import (
    all_text,
    assert_message_within_limits,
    embed_dicts,
    live_markdown,
    quotes_in,
)

SEED_TITLE = "U.K. Defense Official Says Russia Assures They Will 'Not Invade Ukraine'"
QUESTION = "What did Russia assure Ben Wallace?"


def citation(n: int, **overrides: Any) -> Citation:
    values = dict(
        n=n,
        article_id=f"a{n}",
        title=f"Title {n}",
        source="The Daily Tide",
        published="2022-02-11",
        url=f"https://news.example/{n}",
        quote=f"Quote {n}.",
        start=0,
        end=8,
    )
    values.update(overrides)
    return Citation(**values)


# -- rendering: pure functions, tested as data --------------------------------------------
def test_a_real_answer_renders_as_a_cited_embed(seed_engine: Engine) -> None:
    answer = seed_engine.ask(QUESTION, now=datetime(2022, 2, 12, tzinfo=UTC))
    assert not answer.abstained and answer.citations
    [embed] = embed_dicts(answer_embeds(answer))

    assert embed["title"] == QUESTION
    assert "[1]" in embed["description"] and "Ben Wallace" in embed["description"]
    first = embed["fields"][0]
    assert first["name"] == "Sources"
    source_line, quote_line = first["value"].split("\n")[:2]
    # No source or URL in the seed file: the title is plain text, then the date.
    assert source_line == f"**[1]** {escape(SEED_TITLE)} — 2022-02-11"
    assert quote_line == f"> “{escape(' '.join(answer.citations[0].quote.split()))}”"
    assert re.fullmatch(r"1 article searched · \d+\.\d s", embed["footer"]["text"])
    assert_message_within_limits(None, [embed])


def test_a_source_line_links_the_title_and_names_the_source() -> None:
    answer = Answer(
        "Q?",
        "The budget shrank. [1]",
        False,
        [citation(1, url="https://x.example/a (b)")],
        {"total": 1234.0},
        7,
        {"a1": ["The Harbour Post", "Bay News"]},
    )
    [embed] = embed_dicts(answer_embeds(answer))
    value = embed["fields"][0]["value"]
    assert value.startswith(
        "**[1]** [Title 1](https://x.example/a%20%28b%29) — The Daily Tide · 2022-02-11"
    )
    assert value.endswith("*also reported by The Harbour Post, Bay News*")
    assert embed["footer"]["text"] == "7 articles searched · 1.2 s"


def test_an_abstention_is_a_plain_grey_embed() -> None:
    answer = Answer(
        "Bananas?", "The indexed articles don't answer this question.", True, [], {"total": 5.0}, 1
    )
    [embed] = answer_embeds(answer)
    assert embed.colour == discord.Colour.light_grey()
    assert embed.description == "The indexed articles don't answer this question."
    assert not embed.fields


def test_markdown_and_mentions_in_article_text_stay_literal() -> None:
    hostile = (
        "**Breaking** @everyone @here <@123456789012345678> <@&123456789012345678> <#42> "
        "[click here](https://evil.example) ||spoiler|| `code` ~~gone~~ __under__ > quoted\n"
        "# Heading\n- item\n1. first"
    )
    answer = Answer(
        "Is this **safe**?",
        hostile + " [1]",
        False,
        [
            citation(
                1,
                title="[Fake](https://evil.example) **title**",
                quote=hostile,
                source="<@&1> Times",
            )
        ],
    )
    embeds = embed_dicts(answer_embeds(answer))
    [quote] = quotes_in(embeds)
    assert live_markdown(quote) == ""
    assert live_markdown(embeds[0]["description"]) == "[]"  # only the engine's own [1] marker
    assert live_markdown(embeds[0]["title"]) == ""
    # Lines that would start a heading, a list or a numbered list are escaped too.
    assert "\n\\# Heading\n\\- item\n1\\. first" in embeds[0]["description"]
    # The title is the text of a link, not a link of its own.
    line = embeds[0]["fields"][0]["value"].split("\n")[0]
    assert line.startswith(
        "**[1]** [\\[Fake\\](https://evil.example) \\*\\*title\\*\\*](https://news.example/1)"
    )
    assert "\\<@&1\\> Times" in line


def test_a_long_answer_splits_within_every_limit() -> None:
    sentence = "The council's **budget** of 1.2 billion euros is 3% below last year's. "
    long_quote = ("Libraries keep their hours; two pools close in winter. " * 60).strip()
    citations = [
        citation(
            n,
            title="A very long headline " * 20,
            quote=long_quote,
            url="https://news.example/" + "x" * 300,
            source="Source " * 30,
        )
        for n in range(1, 21)
    ]
    text = " ".join(f"{sentence}[{(k % 20) + 1}]" for k in range(400))
    answer = Answer(
        "Q " * 1500,
        text,
        False,
        citations,
        {"total": 10.0},
        1000,
        {f"a{n}": [f"Outlet {k}" for k in range(40)] for n in range(1, 21)},
    )

    embeds = answer_embeds(answer)
    groups = message_groups(embeds)
    assert len(groups) > 1
    for group in groups:
        assert_message_within_limits(None, group)
    dicts = embed_dicts(embeds)
    # Nothing is lost in the splitting: every marker, every quote in full, the footer last.
    description = "".join(e.get("description", "") for e in dicts)
    assert description.replace(" ", "") == escape_cited(text).replace(" ", "")
    assert all(f"**[{n}]**" in all_text(dicts) for n in range(1, 21))
    assert all_text(dicts).count("two pools close in winter") == 20 * 60
    assert dicts[-1]["footer"]["text"].startswith("1,000 articles searched")
    assert [e for e in dicts if "footer" in e] == [dicts[-1]]


def test_many_short_embeds_group_ten_to_a_message() -> None:
    embeds = [discord.Embed(description="x") for _ in range(23)]
    assert [len(g) for g in message_groups(embeds)] == [10, 10, 3]


def test_split_text_never_cuts_an_escape_or_leaves_a_live_list_marker() -> None:
    text = escape("- a *b* " * 500 + "\n1. c")
    for piece in split_text(text, 100):
        assert len(piece) <= 100
        assert not piece.startswith(("-", "+")) and not re.match(r"\d+\.\s", piece)
        run = len(piece) - len(piece.rstrip("\\"))
        assert run % 2 == 0, piece


def test_a_real_briefing_renders_each_story_with_its_source(seed_engine: Engine) -> None:
    briefing = seed_engine.brief(
        datetime(2022, 2, 1, tzinfo=UTC), datetime(2022, 2, 20, tzinfo=UTC)
    )
    [embed] = embed_dicts(briefing_embeds(briefing))
    assert embed["title"] == "Briefing 2022-02-01 → 2022-02-20"
    story, *quotes = embed["fields"]
    assert story["name"] == f"1. {escape(SEED_TITLE)}"
    assert "Ben Wallace" in story["value"] and story["value"].endswith("— 2022-02-11")
    assert quotes[0]["name"] == "Quotes of the day"
    assert quotes[0]["value"].endswith("— Ben Wallace [2]")
    assert embed["footer"]["text"] == "1 story"


def test_an_empty_briefing_says_so() -> None:
    briefing = Briefing(
        "2022-02-01T00:00:00",
        "2022-02-02T00:00:00",
        "cats",
        note="Nothing in the window matches 'cats'.",
    )
    [embed] = embed_dicts(briefing_embeds(briefing))
    assert embed["title"].endswith("· cats")
    assert embed["description"] == "Nothing in the window matches 'cats'."


def test_a_big_briefing_splits_within_every_limit() -> None:
    stories = [
        Story(
            "Headline " * 40,
            ("Lead sentence goes on. " * 60) + f"[{k}]",
            [citation(k)],
            [f"a{k}"],
            ["A", "B"],
        )
        for k in range(1, 51)
    ]
    quotes = [Quote("Speaker " * 50, citation(k, quote="Said it. " * 200)) for k in range(1, 6)]
    briefing = Briefing("2022-02-01T00:00:00", "2022-02-02T00:00:00", "x" * 400, stories, quotes)
    groups = message_groups(briefing_embeds(briefing))
    for group in groups:
        assert_message_within_limits(None, group)
    text = all_text(embed_dicts([e for g in groups for e in g]))
    assert all(f"\n{k}. Headline" in "\n" + text for k in range(1, 51))
    assert "(2 sources)" in text


def test_ten_stories_and_ten_items_stay_within_discord_limits() -> None:
    long_url = "https://news.example/" + "x" * 480
    stories = [
        Story(
            f"Headline {k} " * 30,
            " ".join(f"A key sentence that goes on and on. [{3 * k + j}]" * 8 for j in range(3)),
            [citation(3 * k + j, url=long_url, title="T " * 120) for j in range(3)],
            [f"a{k}"],
            ["A", "B"],
        )
        for k in range(10)
    ]
    items = [
        NewsItem(
            f"Item {k}",
            citation(31 + k, quote="A one-line summary of what else happened. " * 6, url=long_url),
            [f"b{k}"],
            ["The Daily Tide"],
        )
        for k in range(10)
    ]
    quotes = [
        Quote("Maria Okafor", citation(41 + k, quote="We had no choice. " * 30)) for k in range(3)
    ]
    briefing = Briefing(
        "2022-02-01T00:00:00", "2022-02-08T00:00:00", None, stories, quotes, "", items
    )
    groups = message_groups(briefing_embeds(briefing))
    for group in groups:
        assert_message_within_limits(None, group)
    fields = [f for e in embed_dicts([e for g in groups for e in g]) for f in e.get("fields", [])]
    names = [f["name"] for f in fields]
    assert names.count("Also in the news") == 1
    first = names.index("Also in the news")
    lines = [
        line for f in fields[first:] for line in f["value"].split("\n") if line.startswith("• ")
    ]
    assert len(lines) == 10  # one line each, none split between fields
    for item, line in zip(items, lines, strict=True):
        assert f"[{item.citation.n}] — [The Daily Tide]({long_url}) · 2022-02-11" in line
    assert embed_dicts(groups[-1])[-1]["footer"]["text"] == "10 stories · 10 also in the news"


def test_a_briefing_without_items_has_no_also_in_the_news_field(seed_engine: Engine) -> None:
    briefing = seed_engine.brief(
        datetime(2022, 2, 1, tzinfo=UTC), datetime(2022, 2, 20, tzinfo=UTC)
    )
    assert briefing.also_in_the_news == []
    text = all_text(embed_dicts(briefing_embeds(briefing)))
    assert "Also in the news" not in text


def test_the_buttons_carry_their_answer_in_a_fixed_custom_id() -> None:
    key = "0123456789abcdef"
    up, down, share = vote_button(key, 1), vote_button(key, -1), share_button(key)
    assert (str(up.emoji), str(down.emoji), share.label) == ("👍", "👎", "Share in channel")
    assert re.fullmatch(VOTE_TEMPLATE, up.custom_id)["direction"] == "up"
    assert re.fullmatch(VOTE_TEMPLATE, down.custom_id)["key"] == key
    assert re.fullmatch(SHARE_TEMPLATE, share.custom_id)["key"] == key
    assert all(len(b.custom_id) <= CUSTOM_ID_LIMIT for b in (up, down, share))
    assert share.style == discord.ButtonStyle.primary
    assert shared_line("1234") == "Shared by <@1234>" and shared_line("<@&1>") == "Shared"


# -- a followed topic's post ----------------------------------------------------------------
def follow_post(n: int = 1, folded: int = 0, **citation_kw: Any) -> FollowPost:
    follow = Follow(
        platform="discord",
        channel="42",
        topic="Harbour *strike* @everyone",
        key="harbour *strike* @everyone",
        digest="hourly",
        since=None,
        created_at=datetime(2022, 2, 1, tzinfo=UTC),
        created_by="7",
        last_posted_at=None,
        thread=None,
    )
    developments = [
        Development(
            article_id=f"a{k}",
            citations=[citation(k, **citation_kw)],
            also_reported_by=["Harbour Herald", "Quay_News"] if k == 1 else [],
            committed_at=None,
        )
        for k in range(1, n + 1)
    ]
    return FollowPost(follow, developments, folded)


def test_a_follow_post_is_an_embed_of_cited_sentences_with_source_date_link_and_who_else():
    [embed] = embed_dicts(follow_embeds(follow_post(2, folded=3)))
    assert embed["title"] == r"Harbour \*strike\* @everyone"
    assert embed["description"] == "2 new developments"
    assert embed["fields"] == [
        {
            "name": "The Daily Tide · 2022-02-11",
            "value": "> “Quote 1.”\n— [Title 1](https://news.example/1)\n"
            r"*also reported by Harbour Herald, Quay\_News*",
            "inline": False,
        },
        {
            "name": "The Daily Tide · 2022-02-11",
            "value": "> “Quote 2.”\n— [Title 2](https://news.example/2)",
            "inline": False,
        },
    ]
    assert embed["footer"] == {"text": "and 3 more since the last post"}
    [one] = embed_dicts(follow_embeds(follow_post(1)))
    assert one["description"] == "New development" and "footer" not in one


def test_a_follow_posts_article_text_stays_literal():
    post = follow_post(1, quote="**Bold** <@123> [x](https://evil.example)", source="<@&9>")
    text = all_text(embed_dicts(follow_embeds(post)))
    for raw in ("**Bold**", "<@123>", "[x](https://evil", "<@&9>"):
        assert raw not in text
    assert r"\*\*Bold\*\* \<@123\> \[x\](https://evil.example)" in text


def test_a_big_follow_post_splits_within_every_limit():
    embeds = follow_embeds(follow_post(40, quote="A long sentence about the quay. " * 60))
    groups = message_groups(embeds)
    assert len(groups) > 1
    for group in groups:
        assert_message_within_limits(None, group)
