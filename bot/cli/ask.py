"""What the engine answers, in the terminal: ask (a question), brief (a window's stories), and
feedback (the votes on the answers given in chat)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer

from bot.cli import state
from bot.cli.console import out
from bot.render_terminal import to_json
from retrieval import BriefbotError


def parse_moment(value: str | None, name: str) -> datetime | None:
    from retrieval import parse_moment as parse

    return parse(value, datetime.now(UTC), name) if value else None


def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Answer as of this date (YYYY-MM-DD).")
    ] = None,
    context: Annotated[str, typer.Option(help="An earlier question this one follows up.")] = "",
    llm: Annotated[
        bool | None,
        typer.Option(
            "--llm/--no-llm",
            help="Have the language model (BRIEFBOT_LLM) write the answer, or not "
            "(default: when BRIEFBOT_LLM is set).",
        ),
    ] = None,
) -> None:
    """Answer a question with cited passages."""
    from bot.conversation import clean_text

    engine = state.make_engine()
    # Invalid UTF-8 in the arguments is cleaned; a bad question is refused before any work.
    q = engine.check_question(clean_text(question))
    context = clean_text(context)
    now = parse_moment(as_of, "--as-of")
    if llm and engine.writer is None:  # making it names a missing package or key, at once
        raise BriefbotError("--llm: set BRIEFBOT_LLM to a model, e.g. openai:gpt-4o-mini.")
    state.ensure_seeded(engine)
    answer = engine.ask(q, now=now, context=context, llm=llm)
    if as_json:
        sys.stdout.write(to_json(answer.to_dict()) + "\n")
        return
    from bot.render_terminal import render_answer

    out.print(render_answer(answer))


def brief(
    since: Annotated[str, typer.Option(help="24h, 7d, 2w, or a date (YYYY-MM-DD)")] = "24h",
    until: Annotated[str | None, typer.Option(help="A date (default: now)")] = None,
    topic: Annotated[str | None, typer.Option(help="Only stories about this")] = None,
    max_stories: Annotated[int, typer.Option(min=1, max=50)] = 10,
    also_in_the_news: Annotated[
        int | None,
        typer.Option(min=0, max=30, help="One-line items below the stories (default: setting)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the Briefing as JSON.")] = False,
) -> None:
    """The window's stories, grouped across outlets, with cited key sentences and quotes."""
    from retrieval import check_window
    from retrieval import parse_moment as parse

    now = datetime.now(UTC)
    end = parse_moment(until, "--until")
    # A relative --since ("7d") counts back from --until: the seven days before that date.
    start = parse(since, end or now, "--since")
    check_window(start, end or now)  # before any work
    engine = state.make_engine()
    state.ensure_seeded(engine)
    briefing = engine.brief(
        start, end, topic=topic, max_stories=max_stories, also_in_the_news=also_in_the_news
    )
    if as_json:
        sys.stdout.write(to_json(briefing.to_dict()) + "\n")
        return
    from bot.render_terminal import render_briefing

    out.print(render_briefing(briefing))


def feedback(limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """List the 👍 / 👎 votes from Slack and Discord."""
    from rich.table import Table

    from retrieval import FeedbackStore

    votes = FeedbackStore.in_data_dir(state.settings().data_dir).list(limit)
    table = Table("when", "platform", "user", "vote", "question", "articles")
    for v in votes:
        table.add_row(
            v.created_at,
            v.platform,
            v.user_id,
            "👍" if v.vote > 0 else "👎",
            v.question,
            ", ".join(v.article_ids),
        )
    out.print(table if votes else "No feedback yet.")
