"""Slack's rendering (bot/slack/render.py): answers, briefings and follow posts as Block Kit, as
data. What
comes from an article is escaped, and Slack's limits are kept by splitting."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.slack.render import (
    ACTION_SHARE,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    BLOCK_LIMIT,
    MESSAGE_CHARS,
    TEXT_LIMIT,
    escape,
    render_answer,
    render_briefing,
    render_follow,
    source_line,
    split_text,
)
from retrieval import Development, Follow, FollowPost
from retrieval.models import Answer, Briefing, Citation, NewsItem, Quote, Story
from tests.fakes.slack import buttons, texts

QUESTION = "What did Ben Wallace tell reporters in Moscow?"


def expected_answer_blocks(answer: Answer) -> list[dict[str, Any]]:
    """What an answer's text and sources must look like, built from the answer's data."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": escape(answer.answer)}}]
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*Sources*"}})
    for c in answer.citations:
        title = escape(c.title)
        head = f"[{c.n}] <{c.url}|{title}>" if c.url else f"[{c.n}] *{title}*"
        meta = " · ".join(x for x in (c.source, c.published) if x)
        quote = escape(" ".join(c.quote.split()))
        text = f"{head} — {meta}\n> {quote}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    return blocks


def test_a_real_answer_renders_its_text_sources_quotes_and_buttons(seed_engine):
    answer = seed_engine.ask(QUESTION, now=datetime(2022, 2, 12, tzinfo=UTC))
    assert not answer.abstained and answer.citations
    [message] = render_answer(answer, vote_value="v")
    n = len(answer.citations)
    assert message["blocks"][: n + 2] == expected_answer_blocks(answer)
    assert message["blocks"][n + 2]["elements"][0]["text"].startswith("1 article searched · ")
    assert set(buttons(message)) == {ACTION_VOTE_UP, ACTION_VOTE_DOWN}
    assert message["text"].startswith(escape(answer.answer[:50]))
    [shown] = render_answer(answer, show_question=True, asked_by="U7", share_value="s")
    assert texts(shown)[0] == f"<@U7> asked: _{QUESTION}_"
    assert set(buttons(shown)) == {ACTION_SHARE}


def citation(n: int, **kw: Any) -> Citation:
    values: dict[str, Any] = {
        "n": n,
        "article_id": f"a{n}",
        "title": f"Title {n}",
        "source": "The Daily Tide",
        "published": "2023-03-14",
        "url": f"https://dailytide.example/{n}",
        "quote": f"Quote number {n}.",
        "start": 0,
        "end": 10,
    }
    values.update(kw)
    return Citation(**values)


def all_text_objects(message: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                found.append(node["text"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(message["blocks"])
    return found


def test_article_text_is_escaped():
    evil = citation(
        1,
        title="Breaking <!channel> & <@U123>",
        source="<!here>",
        quote="Everyone <!channel> look: <https://evil.example|click> & more.",
        url="https://x.example/a?b=1&c=<2>|3",
    )
    answer = Answer("q <!everyone>", "Everyone <!channel> look [1]", False, [evil])
    [message] = render_answer(answer, show_question=True, vote_value="v")
    dump = json.dumps(message)
    for raw in ("<!channel>", "<@U123>", "<!here>", "<!everyone>", "<https://evil"):
        assert raw not in dump
    assert message["blocks"][1]["text"]["text"] == "Everyone &lt;!channel&gt; look [1]"
    assert source_line(evil) == (
        "[1] <https://x.example/a?b=1&amp;c=&lt;2&gt;%7C3|Breaking &lt;!channel&gt; &amp; "
        "&lt;@U123&gt;> — &lt;!here&gt; · 2023-03-14"
    )
    assert (
        "> Everyone &lt;!channel&gt; look: &lt;https://evil.example|click&gt; &amp; more."
        in (message["blocks"][3]["text"]["text"])
    )
    assert source_line(citation(2, url="javascript:alert(1)")).startswith("[2] *Title 2*")


def test_an_article_with_a_channel_ping_pings_nobody(make_engine, tmp_path):
    engine = make_engine()
    article = tmp_path / "ping.md"
    article.write_text(
        "---\ntitle: Harbour <!channel> reopens\npublished: 2023-03-14\nsource: Tide\n"
        "url: https://tide.example/harbour\n---\n\n"
        "The harbour reopened on Monday after the storm, <!channel> said the harbour master "
        "<@U123>, and ferries to the islands run again on the usual timetable.\n"
    )
    report = engine.ingest([article])
    assert report.ok, report.failures
    answer = engine.ask("When did the harbour reopen after the storm?")
    assert not answer.abstained and "<!channel>" in answer.citations[0].quote
    dump = json.dumps(render_answer(answer, vote_value="v"))
    assert "<!channel>" not in dump and "<@U123>" not in dump
    assert "&lt;!channel&gt;" in dump and "Harbour &lt;!channel&gt; reopens" in dump


def test_a_12000_character_answer_is_split_within_slack_limits():
    sentences = [
        f"Sentence {i} says something notable about the harbour & the <ferries>."
        for i in range(200)
    ]
    text = " ".join(f"{s} [{i % 20 + 1}]" for i, s in enumerate(sentences))
    text = (text * 2)[:12_000]
    cites = [citation(n, quote="A long quoted passage. " * 150) for n in range(1, 21)]
    answer = Answer("q", text, False, cites, {"total": 12.0}, 1)
    messages = render_answer(answer, vote_value="v", share_value="v")
    assert len(messages) > 1
    for message in messages:
        assert len(message["blocks"]) <= BLOCK_LIMIT
        assert all(0 < len(t) <= TEXT_LIMIT for t in all_text_objects(message))
        assert len(message["text"]) <= TEXT_LIMIT
    blocks = [b for m in messages for b in m["blocks"]]
    sources = blocks.index({"type": "section", "text": {"type": "mrkdwn", "text": "*Sources*"}})
    shown = " ".join(b["text"]["text"] for b in blocks[:sources])
    assert shown.split() == escape(text).split()  # nothing lost, nothing cut mid-word
    assert blocks[-1]["type"] == "actions"  # the buttons come last, once
    assert sum(b["type"] == "actions" for b in blocks) == 1


def test_an_abstention_is_a_short_plain_sentence():
    answer = Answer(
        "How do I bake rye bread?", "The indexed articles don't answer this question.", True
    )
    assert render_answer(answer, vote_value="v", share_value="v") == [
        {
            "text": "The indexed articles don't answer this question.",
            "blocks": [
                {
                    "type": "section",
                    "text": {
                        "type": "mrkdwn",
                        "text": "The indexed articles don't answer this question.",
                    },
                }
            ],
        }
    ]


def test_briefing_with_several_sources_and_quotes():
    c1, c2 = citation(1), citation(2, source="Harbour News", url="")
    story = Story(
        "Council <cuts> budget",
        "The council cut it. [1] Pools close. [2]",
        [c1, c2],
        ["a1", "a2"],
        ["The Daily Tide", "Harbour News"],
    )
    quote = Quote("Maria Okafor", citation(3, quote="We had no choice."))
    briefing = Briefing(
        "2023-03-13T00:00:00+00:00", "2023-03-14T12:30:00+00:00", "council", [story], [quote]
    )
    [message] = render_briefing(briefing, share_value="v")
    assert texts(message) == [
        "*Briefing* · 2023-03-13 → 2023-03-14 12:30 UTC · _council_",
        "*1. Council &lt;cuts&gt; budget* (2 sources)\nThe council cut it. [1] Pools close. [2]",
        "[1] <https://dailytide.example/1|Title 1> — The Daily Tide · 2023-03-14\n"
        "[2] *Title 2* — Harbour News · 2023-03-14",
        "*Quotes*",
        "> “We had no choice.” — Maria Okafor [3]",
        "1 story",
    ]
    assert set(buttons(message)) == {ACTION_SHARE}


def big_briefing() -> Briefing:
    """Ten stories of three long cited sentences and ten long one-line items: the most a
    default briefing shows."""
    long_url = "https://dailytide.example/" + "x" * 900
    stories = [
        Story(
            f"Headline {k} & <more> " * 8,
            " ".join(f"A key sentence that goes on & on. [{3 * k + j}]" * 8 for j in range(3)),
            [citation(3 * k + j, url=long_url, title="T <" * 60) for j in range(3)],
            [f"a{k}"],
            ["The Daily Tide", "Harbour News"],
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
    return Briefing(
        "2023-03-13T00:00:00+00:00", "2023-03-14T00:00:00+00:00", None, stories, quotes, "", items
    )


def test_ten_stories_and_ten_items_stay_within_slack_limits():
    briefing = big_briefing()
    messages = render_briefing(briefing, share_value="v")
    for message in messages:
        assert len(message["blocks"]) <= BLOCK_LIMIT
        assert all(0 < len(t) <= TEXT_LIMIT for t in all_text_objects(message))
        assert sum(len(t) for t in all_text_objects(message)) <= MESSAGE_CHARS
    lines = [line for m in messages for t in texts(m) for line in t.split("\n")]
    assert "*Also in the news*" in lines
    items = [line for line in lines if line.startswith("• ")]
    assert len(items) == 10  # one line each, none cut in two
    for item, line in zip(briefing.also_in_the_news, items, strict=True):
        assert f"[{item.citation.n}] — <{item.citation.url}|The Daily Tide> · 2023-03-14" in line
    assert texts(messages[-1])[-1] == "10 stories · 10 also in the news"


def test_a_briefing_without_items_has_no_also_in_the_news_heading():
    briefing = big_briefing()
    briefing.also_in_the_news = []
    messages = render_briefing(briefing)
    assert not any("Also in the news" in t for m in messages for t in texts(m))


def test_split_text_never_cuts_an_entity():
    text = escape("&" * 5000)
    pieces = split_text(text, 3000)
    assert "".join(pieces) == text
    assert all(len(p) <= 3000 and p.endswith("&amp;") for p in pieces)


def test_an_empty_briefing_says_so_and_has_nothing_to_share():
    briefing = Briefing("2023-03-13T00:00:00+00:00", "2023-03-14T00:00:00+00:00", "cats")
    [message] = render_briefing(briefing, share_value="v")
    assert texts(message) == [
        "*Briefing* · 2023-03-13 → 2023-03-14 · _cats_",
        "Nothing new in the window.",
    ]
    assert not buttons(message)


# -- a followed topic's post --------------------------------------------------------------------
def follow_post(n: int = 1, folded: int = 0, **citation_kw: Any) -> FollowPost:
    follow = Follow(
        platform="slack",
        channel="C1",
        topic="Harbour <!channel> strike",
        key="harbour <!channel> strike",
        digest=None,
        since=None,
        created_at=datetime(2023, 3, 1, tzinfo=UTC),
        created_by="U1",
        last_posted_at=None,
        thread=None,
    )
    developments = [
        Development(
            article_id=f"a{k}",
            citations=[citation(k, **citation_kw)],
            also_reported_by=["Harbour Herald", "Quay News"] if k == 1 else [],
            committed_at=None,
        )
        for k in range(1, n + 1)
    ]
    return FollowPost(follow, developments, folded)


def test_a_follow_post_quotes_each_development_with_its_source_date_link_and_who_else_has_it():
    [message] = render_follow(follow_post(2, folded=3))
    assert texts(message) == [
        "*Harbour &lt;!channel&gt; strike* · 2 new developments",
        "> Quote number 1.\n— <https://dailytide.example/1|Title 1> · The Daily Tide · 2023-03-14",
        "_also reported by Harbour Herald, Quay News_",
        "> Quote number 2.\n— <https://dailytide.example/2|Title 2> · The Daily Tide · 2023-03-14",
        "_and 3 more since the last post_",
    ]
    assert message["text"] == "Harbour &lt;!channel&gt; strike: Quote number 1."
    [one] = render_follow(follow_post(1))
    assert texts(one)[0] == "*Harbour &lt;!channel&gt; strike* · new development"
    assert not any("more since" in t for t in texts(one))


def test_a_follow_post_with_two_sentences_of_one_article_links_it_once():
    post = follow_post(1)
    two = [
        citation(1),
        citation(
            2,
            article_id="a1",
            url="https://dailytide.example/1",
            title="Title 1",
            quote="Quote two <!here>.",
        ),
    ]
    post = FollowPost(post.follow, [Development("a1", two, [], None)])
    [message] = render_follow(post)
    assert texts(message)[1] == (
        "> Quote number 1.\n> Quote two &lt;!here&gt;.\n"
        "— <https://dailytide.example/1|Title 1> · The Daily Tide · 2023-03-14"
    )


def test_a_big_follow_post_keeps_slacks_limits():
    messages = render_follow(follow_post(60, quote="A long sentence about the quay. " * 40))
    assert len(messages) > 1
    for message in messages:
        assert len(message["blocks"]) <= BLOCK_LIMIT
        assert all(len(t) <= TEXT_LIMIT for t in all_text_objects(message))
        assert sum(len(t) for t in all_text_objects(message)) <= MESSAGE_CHARS
