"""`briefbot follow add|list|remove|run`: follow a story from the command line (platform "cli"),
for scripts and tests. `run` prints each new development with its cited sentences as the index
takes new articles in (`--once`: one round)."""

from __future__ import annotations

import threading
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.text import Text

from bot.cli import state
from bot.cli.console import err, out
from bot.cli.options import ConfigOption

if TYPE_CHECKING:
    from retrieval import Follow, FollowPost

PLATFORM = "cli"

app = typer.Typer(
    help="Follow a story: new developments on a topic, once each.", no_args_is_help=True
)

Channel = Annotated[
    str, typer.Option("--channel", help="Which of the command line's channels (default: default)")
]
Topic = Annotated[str, typer.Argument(help="The topic, in quotes: 'Griner trial'.")]


def _since(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint="--since"
        ) from None


@app.command("add")
def add(
    topic: Topic,
    digest: Annotated[
        str | None, typer.Option("--digest", help="hourly or daily: one post per period")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Also articles indexed already, published since this date"),
    ] = None,
    channel: Channel = "default",
) -> None:
    """Follow a topic: its new developments are posted by `briefbot follow run`."""
    start = _since(since)
    added = state.make_engine().follows.add(PLATFORM, channel, topic, digest=digest, since=start)
    f = added.follow
    verb = "Following" if added.created else "Already following"
    how = f", a {f.digest} digest" if f.digest else ""
    out.print(f"{verb} {f.topic!r} in {f.channel}{how}.")
    if added.matches:
        n = added.matches
        out.print(f"{n} indexed article{'s' * (n != 1)} about it now; new developments are posted.")
    else:
        out.print("Nothing indexed is about it yet: its first development is posted when it is.")


@app.command("list")
def list_follows(channel: Channel = "default") -> None:
    """The channel's followed topics, oldest first, with when each last posted."""
    follows = state.make_engine().follows.list(PLATFORM, channel)
    if not follows:
        err.print(f"{channel} follows no topic: `briefbot follow add TOPIC`.")
        return
    for f in follows:
        out.print(_follow_line(f))


@app.command("remove")
def remove(topic: Topic, channel: Channel = "default") -> None:
    """Stop following a topic."""
    f = state.make_engine().follows.remove(PLATFORM, channel, topic)
    out.print(f"No longer following {f.topic!r} in {f.channel}.")


@app.command("run")
def run(
    config: ConfigOption = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between rounds", min=0.1)] = 1.0,
) -> None:
    """Print each followed topic's new developments as articles are indexed (Ctrl-C stops)."""
    from retrieval import load_config

    options = load_config(config).follow_options()
    engine = state.make_engine()
    engine.follow_options = options
    follows = engine.follows.all(PLATFORM)
    if not follows:
        err.print("No topic is followed: `briefbot follow add TOPIC` first.")
        raise typer.Exit(1)
    follower = engine.follows.follower(PLATFORM, _print_post)
    if once:
        try:
            if not follower.tick():
                err.print("Nothing new on the followed topics.")
        finally:
            follower.shutdown(10.0)  # the next run, in any process, works these follows at once
        return
    n = len(follows)
    err.print(f"Following {n} topic{'s' * (n != 1)}, every {interval:g} s (Ctrl-C to stop)")
    stop = threading.Event()
    try:
        follower.run(stop, interval)
    except KeyboardInterrupt:
        err.print("Stopping…")
    finally:
        stop.set()
        follower.shutdown(10.0)


def _print_post(post: FollowPost) -> str | None:
    out.print(render_post(post))
    return None if post.follow.thread else f"{post.follow.channel}:{post.follow.key}"


def _follow_line(f: Follow) -> Text:
    line = Text(f.topic, style="bold")
    extra = [f"{f.digest} digest"] if f.digest else []
    if f.since:
        extra.append(f"since {f.since.isoformat()}")
    last = f.last_posted_at.isoformat(timespec="minutes") if f.last_posted_at else "never"
    extra.append(f"last posted {last}")
    line.append(" · " + " · ".join(extra), style="dim")
    return line


def render_post(post: FollowPost) -> RenderableType:
    """A post as the terminal shows it: the topic, then each development's cited sentences,
    source, date, link and the other outlets that carry it."""
    f = post.follow
    parts: list[RenderableType] = [Text(f"{f.topic} · {f.channel}", style="bold")]
    for d in post.developments:
        for c in d.citations:
            parts.append(Text("  “" + " ".join(c.quote.split()) + "”", style="italic"))
            meta = " · ".join(x for x in (c.title, c.source, c.published or "") if x)
            parts.append(Text(f"    {meta}", style="dim"))
            if c.url:
                parts.append(Text(f"    {c.url}", style="blue underline"))
        if d.also_reported_by:
            parts.append(Text(f"    also reported by {', '.join(d.also_reported_by)}", style="dim"))
    if post.folded:
        since = f" since {f.last_posted_at:%Y-%m-%d %H:%M}" if f.last_posted_at else ""
        parts.append(Text(f"  and {post.folded} more{since}", style="dim"))
    return Group(*parts)
