"""briefbot's command line: ingest, watch, ask, sources, brief, eval, feedback, serve, health,
reindex, env-example."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from bot.render_terminal import TerminalConsole, to_json
from retrieval import (
    BriefbotError,
    Engine,
    FeedReport,
    IngestProgress,
    IngestReport,
    RoundReport,
    Settings,
    load_settings,
    shown,
)

if TYPE_CHECKING:
    from rich.progress import TaskID

    from bot.service import Adapter

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
# Everything printed holds user data (paths, titles, topics, error messages): never read as
# rich markup, so "[draft]" stays "[draft]" and "[/x]" is just text. Styles are Text's. Nor does
# any control character in it reach the terminal (TerminalConsole), and file names that hold
# one are printed quoted (`shown`).
out = TerminalConsole(markup=False, highlight=False)
err = TerminalConsole(stderr=True, markup=False, highlight=False, soft_wrap=True)
FAIL = ("✗ ", "red")
log = logging.getLogger("briefbot")


class State:
    settings: Settings | None = None


def settings() -> Settings:
    if State.settings is None:
        State.settings = load_settings()
    return State.settings


def make_engine() -> Engine:
    return Engine(settings())


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress.")] = False):
    from bot import logs
    from retrieval import SettingsError

    try:  # BRIEFBOT_LOG_FORMAT, BRIEFBOT_LOG_LEVEL; a bad setting is reported by the command
        level, fmt = settings().log_level, settings().log_format
    except SettingsError:
        level, fmt = "WARNING", "auto"
    logs.setup("INFO" if verbose and level != "DEBUG" else level, fmt)


# -- progress -------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    """A rough remaining time, as people say it: 'about 40 s', 'about 3 min', 'about 1.5 h'."""
    if seconds < 60:
        return f"about {max(seconds, 1):.0f} s"
    if seconds < 3600:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


class IngestBar:
    """Ingest progress on stderr (stdout stays clean): what is happening, articles, chunks,
    chunks/s and the time left; a bar on a terminal, a plain line every few seconds elsewhere."""

    def __init__(self, label: str) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("articles · {task.fields[detail]}", markup=False),
            console=err,
            transient=False,
        )
        self.task = self.progress.add_task(label, total=None, detail="")
        self.label = label
        self._last_line = 0.0
        self._last_stage = ""

    @staticmethod
    def detail(p: IngestProgress) -> str:
        if p.stage != "embedding":
            return f"{p.stage}…"
        left = p.seconds_left
        eta = f" · {duration(left)} left" if left is not None else ""
        return f"{p.chunks_done} chunks · {p.chunks_per_second:.1f} chunks/s{eta}"

    def _plain(self, p: IngestProgress) -> None:
        """Without a terminal (a log, CI), a line when the stage changes and every few
        seconds."""
        import time

        now = time.monotonic()
        changed = p.stage != self._last_stage
        if changed or now - self._last_line >= 5 or p.articles_done == p.articles_total:
            self._last_line, self._last_stage = now, p.stage
            err.print(
                f"{self.label}: {p.articles_done}/{p.articles_total} articles · {self.detail(p)}"
            )

    def __enter__(self) -> IngestBar:
        if err.is_terminal:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if err.is_terminal:
            self.progress.stop()

    def __call__(self, p: IngestProgress) -> None:
        if not err.is_terminal:
            self._plain(p)
            return
        self.progress.update(
            self.task, total=p.articles_total, completed=p.articles_done, detail=self.detail(p)
        )


class StageProgress:
    """Progress of named stages (indexing, each system's questions): bars on a terminal; a
    plain line per stage every few seconds and at its end elsewhere, with the time left."""

    def __init__(self, transient: bool = False) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=transient,
        )
        self.tasks: dict[str, TaskID] = {}
        self.started: dict[str, float] = {}
        self.last_line: dict[str, float] = {}

    def __enter__(self) -> StageProgress:
        if err.is_terminal:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if err.is_terminal:
            self.bar.stop()

    def __call__(self, name: str, done: int, total: int) -> None:
        import time

        if err.is_terminal:
            if name not in self.tasks:
                self.tasks[name] = self.bar.add_task(name, total=total)
            self.bar.update(self.tasks[name], completed=done, total=total)
            return
        now = time.monotonic()
        start = self.started.setdefault(name, now)
        if now - self.last_line.get(name, 0.0) < 5 and done < total:
            return
        self.last_line[name] = now
        left = (now - start) / done * (total - done) if done else None
        eta = f" · {duration(left)} left" if left is not None and done < total else ""
        err.print(f"{name}: {done}/{total}{eta}")


def print_report(report: IngestReport) -> None:
    err.print(
        f"{report.added} added, {report.updated} updated, {report.unchanged} unchanged · "
        f"{report.chunks} chunks in {report.seconds:.1f} s"
    )
    for r in report.repaired:  # what an ingest that did not finish had left
        err.print(f"  repaired: {r}", markup=False, highlight=False)
    if report.skipped:
        err.print(f"{len(report.skipped)} skipped:")
        for s in report.skipped:
            err.print(f"  {s}")
    if report.failures:
        err.print(Text(f"{len(report.failures)} failed:", style="red"))
        for f in report.failures:
            err.print(Text.assemble("  ", FAIL, f))


def ensure_seeded(engine: Engine) -> None:
    if engine.is_empty():
        seeds = shown(engine.settings.seeds_dir)
        err.print(f"Nothing indexed yet: indexing the seed articles in {seeds}")
        with IngestBar("Indexing seeds") as bar:
            report = engine.ensure_seeded(bar)
        if report:
            print_report(report)


def parse_moment(value: str | None, name: str) -> datetime | None:
    from retrieval import parse_moment as parse

    return parse(value, datetime.now(UTC), name) if value else None


# -- commands -------------------------------------------------------------------------------
@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders (.txt .md .jsonl .jsonl.gz .html)"),
    ] = None,
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="An RSS or Atom feed URL (repeatable): ingest its new items"),
    ] = None,
) -> None:
    """Index articles. Unchanged articles are skipped; changed ones are replaced."""
    if not paths and not feed:
        raise BriefbotError("Nothing to ingest: give files or folders, or --feed URL.")
    from retrieval import check_feed_url

    for url in feed or []:
        check_feed_url(url, "--feed")  # a malformed URL is refused before any work
    engine = make_engine()
    failed = False
    if paths:
        with IngestBar("Ingesting") as bar:
            report = engine.ingest(paths, bar)  # a missing path stops before any write
        print_report(report)
        failed = bool(report.failures)
    for url in feed or []:
        feed_report = engine.poll_feed(url)
        print_feed_report(feed_report)
        failed |= not feed_report.ok
    if failed:
        raise typer.Exit(1)


def print_feed_report(report: FeedReport) -> None:
    if report.feed_error:
        err.print(Text.assemble(FAIL, f"{report.url}: {report.feed_error} (tried again next time)"))
    elif report.not_modified:
        err.print(f"{report.url}: not modified")
    else:
        err.print(f"{report.url}: {report.new_items} new items · {report.ingested} ingested")
    if report.feed_error and report.ingested:
        err.print(f"  {report.ingested} pending items ingested")
    for f in report.failures[1 if report.feed_error else 0 :]:
        err.print(Text.assemble("  ", FAIL, f"{f} (tried again next time)"))


@app.command()
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

    engine = make_engine()
    # Invalid UTF-8 in the arguments is cleaned; a bad question is refused before any work.
    q = engine.check_question(clean_text(question))
    context = clean_text(context)
    now = parse_moment(as_of, "--as-of")
    if llm and engine.writer is None:  # making it names a missing package or key, at once
        raise BriefbotError("--llm: set BRIEFBOT_LLM to a model, e.g. openai:gpt-4o-mini.")
    ensure_seeded(engine)
    answer = engine.ask(q, now=now, context=context, llm=llm)
    if as_json:
        sys.stdout.write(to_json(answer.to_dict()) + "\n")
        return
    from bot.render_terminal import render_answer

    out.print(render_answer(answer))


@app.command()
def sources(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """What is indexed: articles, chunks, date range, per source."""
    engine = make_engine()
    summary = engine.sources()
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return
    from rich.table import Table

    out.print(
        f"{summary['articles']} articles · {summary['chunks']} chunks · "
        f"{summary['first'] or '?'} → {summary['last'] or '?'}"
    )
    table = Table("source", "articles", "chunks")
    for row in summary["sources"]:
        table.add_row(row["source"], str(row["articles"]), str(row["chunks"]))
    out.print(table)


@app.command()
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
    engine = make_engine()
    ensure_seeded(engine)
    briefing = engine.brief(
        start, end, topic=topic, max_stories=max_stories, also_in_the_news=also_in_the_news
    )
    if as_json:
        sys.stdout.write(to_json(briefing.to_dict()) + "\n")
        return
    from bot.render_terminal import render_briefing

    out.print(render_briefing(briefing))


@app.command("eval")
def evaluate(
    questions: Annotated[Path, typer.Option(help="Questions (JSON lines)")],
    corpus: Annotated[
        Path | None, typer.Option(help="Articles to evaluate over (default: the index, seeds/)")
    ] = None,
    baseline: Annotated[bool, typer.Option(help="Also run langchain-chroma and bm25")] = False,
    report: Annotated[Path | None, typer.Option(help="Write report.json/.md/.png here")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    llm: Annotated[
        bool, typer.Option("--llm", help="Also answer with the language model (BRIEFBOT_LLM)")
    ] = False,
) -> None:
    """Evaluate: seed-style questions (must_cite / abstain) or a corpus with gold articles."""
    from retrieval import read_jsonl

    rows = read_jsonl(questions)
    if llm and corpus is None:
        raise BriefbotError("--llm: needs --corpus, the questions' articles")
    if corpus is not None or (rows and "gold_ids" in rows[0]):
        if corpus is None:
            raise BriefbotError("--corpus: questions with gold_ids need the corpus they refer to")
        _eval_corpus(corpus, rows, baseline, report, as_json, llm)
    else:
        _eval_checks(rows, as_json)


def _eval_corpus(
    corpus: Path, rows: list, baseline: bool, report: Path | None, as_json: bool, llm: bool
) -> None:
    from rich.table import Table

    from retrieval import eval_corpus

    if not corpus.is_file():
        raise BriefbotError(f"--corpus: {corpus}: no such file")
    engine = make_engine()
    if llm and engine.writer is None:  # a missing package or key is named by the writer
        raise BriefbotError("--llm: set BRIEFBOT_LLM to a model, e.g. openai:gpt-4o-mini.")
    with StageProgress() as stage:
        run = eval_corpus(
            engine,
            corpus,
            rows,
            baseline=baseline,
            on_progress=stage,
            ingest_progress=lambda p: stage(
                "indexing corpus (articles)", p.articles_done, p.articles_total
            ),
            llm=llm,
        )
    if as_json:
        found = {"systems": run.systems} | ({"written": run.written} if run.written else {})
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
    else:
        table = Table(
            "system",
            "hit@1",
            "hit@5",
            "mrr@10",
            "answer in citations",
            "abstain",
            "p50 ms",
            "p95 ms",
            "n",
        )
        for name, m in run.systems.items():
            table.add_row(
                name,
                *(
                    f"{m[k]:.3f}"
                    for k in ("hit@1", "hit@5", "mrr@10", "answer_in_citations", "abstain_rate")
                ),
                f"{m['p50_ms']:.1f}",
                f"{m['p95_ms']:.1f}",
                str(m["n"]),
            )
        out.print(table)
        for name, vals in run.ratios().items() if len(run.systems) > 1 else []:
            out.print(
                f"briefbot / {name}: "
                + " · ".join(f"{k} {'–' if v is None else f'{v:.2f}'}" for k, v in vals.items())
            )
        if run.written:
            _print_written(run.written)
    if report is not None:
        for p in run.write(report):
            err.print(f"wrote {shown(p)}")


def _print_written(written: dict[str, dict[str, float]]) -> None:
    """The answers with the language model beside the extractive ones."""
    from rich.table import Table

    table = Table("answer", "answer in answer", "sentences kept", "written", "abstain")
    table.add_column("faithful kept")  # the verifier on bench/verifier_set, held out
    table.add_column("errors caught")
    table.add_column("p50 ms")
    table.add_column("p95 ms")
    table.add_column("n")
    for name, m in written.items():
        kept, wrote = m.get("sentences_kept"), m.get("written")
        table.add_row(
            name,
            f"{m['answer_in_answer']:.3f}",
            "–" if kept is None else f"{kept:.3f}",
            "–" if wrote is None else f"{wrote:.3f}",
            f"{m['abstain_rate']:.3f}",
            *(f"{m[k]:.3f}" if k in m else "–" for k in ("faithful_kept", "errors_caught")),
            f"{m['p50_ms']:.1f}",
            f"{m['p95_ms']:.1f}",
            str(m["n"]),
        )
    out.print(table)


def _eval_checks(rows: list, as_json: bool) -> None:
    from retrieval import check_questions

    engine = make_engine()
    ensure_seeded(engine)
    with StageProgress(transient=True) as stage:
        results = check_questions(engine, rows, lambda k, n: stage("Questions", k, n))
    passed = sum(r.passed for r in results)
    if as_json:
        sys.stdout.write(
            json.dumps(
                {
                    "passed": passed,
                    "total": len(results),
                    "failures": [
                        {"id": r.id, "question": r.question, "reasons": r.reasons}
                        for r in results
                        if not r.passed
                    ],
                },
                indent=2,
            )
            + "\n"
        )
    else:
        for r in results:
            mark = ("PASS", "green") if r.passed else ("FAIL", "red")
            why = "" if r.passed else f" — {'; '.join(r.reasons)}"
            out.print(Text.assemble(mark, f" {r.id}: {r.question}{why}"))
        out.print(f"{passed}/{len(results)} passed ({passed / max(len(results), 1):.0%})")
    if passed < len(results):
        raise typer.Exit(1)


ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="BRIEFBOT_CONFIG",
        help="YAML with schedules, feeds, folders (default: ./briefbot.yaml if present)",
    ),
]
IfConfigured = Annotated[
    bool,
    typer.Option(
        "--if-configured",
        help="Exit quietly (status 0) when there is nothing to run: no token, no feeds or folders",
    ),
]


@app.command()
def watch(
    config: ConfigOption = None,
    feed: Annotated[
        list[str] | None, typer.Option("--feed", help="A feed URL to poll (repeatable)")
    ] = None,
    folder: Annotated[
        list[Path] | None, typer.Option("--folder", help="A folder to poll (repeatable)")
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="Between rounds: 90s, 15m, 2h (default: 15m)")
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="One round, then exit")] = False,
    if_configured: IfConfigured = False,
) -> None:
    """Poll the configured feeds and folders on an interval and ingest what is new."""
    import threading

    from bot.service import health_server, stop_on_signals
    from retrieval import WatchConfig, check_feed_url, load_config, parse_interval

    cfg = load_config(config).watch_config()
    cfg = WatchConfig(
        feeds=tuple(dict.fromkeys([*cfg.feeds, *(feed or [])])),
        folders=tuple(dict.fromkeys([*cfg.folders, *(folder or [])])),
        interval_s=parse_interval(interval, "--interval") if interval else cfg.interval_s,
    )
    for url in feed or []:
        check_feed_url(url, "--feed")
    if if_configured and not cfg.feeds and not cfg.folders:
        err.print("No feeds or folders configured: nothing to watch (--if-configured).")
        return
    engine = make_engine()
    watcher = engine.watcher(cfg)
    n, m = len(cfg.feeds), len(cfg.folders)
    err.print(
        f"Watching {n} feed{'s' * (n != 1)} and {m} folder{'s' * (m != 1)}"
        + ("" if once else f", every {cfg.interval_s:g} s (Ctrl-C to stop)"),
        highlight=False,
    )
    if once:
        report = watcher.round()
        print_round(report)
        if any(not f.ok for f in report.feeds) or (report.folders and report.folders.failures):
            raise typer.Exit(1)
        return
    # SIGTERM (or Ctrl-C) ends the watch after the round under way; a kill mid-round loses
    # nothing either (feed items stay pending, the store's writes are copy-on-write).
    stop = threading.Event()
    with health_server(engine, "watch"), stop_on_signals(stop):
        watcher.run(stop, print_round)


def print_round(report: RoundReport) -> None:
    for f in report.feeds:
        print_feed_report(f)
    if report.folders is not None:
        print_report(report.folders)


@app.command()
def feedback(limit: Annotated[int, typer.Option(min=1)] = 50) -> None:
    """List the 👍 / 👎 votes from Slack and Discord."""
    from rich.table import Table

    from retrieval import FeedbackStore

    votes = FeedbackStore.in_data_dir(settings().data_dir).list(limit)
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


serve_app = typer.Typer(help="Run the chat front ends.")
app.add_typer(serve_app, name="serve")
discord_cli = typer.Typer(help="Discord housekeeping.", no_args_is_help=True)
app.add_typer(discord_cli, name="discord")


def _serve(adapters: list[Adapter] | None, config: Path | None, if_configured: bool) -> None:
    """The service (bot/service.py): settings checked once, the engine warmed once, the
    schedules posted, every platform answered until stopped."""
    from bot.service import Service, adapters_for
    from retrieval import load_config

    cfg = load_config(config)
    adapters = adapters if adapters is not None else adapters_for(None)
    if if_configured:
        for a in adapters:
            if not a.configured:
                err.print(f"{a.platform}: no token set, not served (--if-configured).")
        adapters = [a for a in adapters if a.configured]
        if not adapters:
            return
    engine = make_engine()
    service = Service(engine, cfg, adapters)
    for platform, schedules in service.schedules.items():
        for s in schedules:
            err.print(
                f"Schedule {s.name!r}: {s.cron} ({s.timezone}) → {platform} {s.channel(platform)}",
                highlight=False,
            )
    ensure_seeded(engine)  # with its progress shown; the service then only loads the index
    service.run()
    if service.handed_back:
        # Their users were told to ask again; the threads still computing them (or waiting
        # on a platform) are abandoned, not waited for: exit now, as a clean stop.
        logging.shutdown()
        os._exit(0)


@serve_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context, config: ConfigOption = None, if_configured: IfConfigured = False
) -> None:
    """Every chat platform whose token is set (Slack in Socket Mode, Discord), with the
    scheduled briefings of the configuration file."""
    if ctx.invoked_subcommand is None:
        _serve(None, config, if_configured)


@serve_app.command("slack")
def serve_slack(
    http: Annotated[bool, typer.Option("--http", help="Serve HTTP instead of Socket Mode")] = False,
    port: Annotated[int, typer.Option(min=1, max=65535)] = 3000,
    host: Annotated[
        str | None,
        typer.Option(
            help="With --http, the address to listen on (default: BRIEFBOT_SLACK_HOST, 0.0.0.0)"
        ),
    ] = None,
    config: ConfigOption = None,
    if_configured: IfConfigured = False,
) -> None:
    """Slack: Socket Mode (SLACK_BOT_TOKEN, SLACK_APP_TOKEN), or HTTP (SLACK_SIGNING_SECRET).

    Scheduled briefings with a slack_channel in the configuration file are posted from here."""
    from bot.slack_server import SlackAdapter

    _serve([SlackAdapter(http=http, port=port, host=host)], config, if_configured)


@serve_app.command("discord")
def serve_discord(config: ConfigOption = None, if_configured: IfConfigured = False) -> None:
    """Discord (DISCORD_TOKEN; DISCORD_GUILD_ID: commands in that one server only, set at start).

    Scheduled briefings with a discord_channel in the configuration file are posted from here."""
    from bot.discord_app import DiscordAdapter

    _serve([DiscordAdapter()], config, if_configured)


@discord_cli.command("sync")
def discord_sync(
    guild: Annotated[
        int | None,
        typer.Option("--guild", help="Register in this one server (and remove the global ones)"),
    ] = None,
    clear_global: Annotated[
        bool, typer.Option("--clear-global", help="Only remove the global commands")
    ] = False,
    clear_guild: Annotated[
        int | None, typer.Option("--clear-guild", help="Only remove the commands of this server")
    ] = None,
) -> None:
    """Register the app commands with Discord, on purpose (not at every start): globally, or in
    one server; never both, so that none shows twice."""
    import asyncio

    from bot import discord_app
    from retrieval import read_settings

    discord_settings = read_settings(discord_app.DiscordSettings)

    def place(where: int | None) -> str:
        return "the global set" if where is None else f"server {where}"

    if clear_global or clear_guild is not None:
        if guild is not None:
            raise BriefbotError("--guild registers; --clear-global / --clear-guild only remove.")
        places = ([None] if clear_global else []) + ([] if clear_guild is None else [clear_guild])
        removed = asyncio.run(discord_app.clear(discord_settings, places))
        for where, names in removed.items():
            listed = ", ".join("/" + n for n in names) or "nothing (none were registered)"
            out.print(f"Removed {listed} from {place(where)}.")
        return
    names = asyncio.run(discord_app.sync(discord_settings, guild))
    to = f"server {guild}" if guild else "all servers (global; may take up to an hour)"
    out.print(f"Synced {', '.join('/' + n for n in names)} to {to}.")


# -- operations -----------------------------------------------------------------------------
@app.command()
def health(
    url: Annotated[
        str | None,
        typer.Option(help="Ask a running process instead (http://host:port/health)"),
    ] = None,
    config: ConfigOption = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No output: the status tells")
    ] = False,
) -> None:
    """Is the store reachable, does the model load, what is indexed and how new, how the feeds
    and scheduled briefings stand, the last error: JSON on stdout; exit status 0 if healthy,
    1 if not."""
    if url is not None:
        report = _remote_health(url)
    else:
        from retrieval import health_report, load_config

        schedules = load_config(config).schedule_list()
        report = health_report(make_engine(), schedules)
    if not quiet:
        sys.stdout.write(to_json(report) + "\n")
    if not report.get("ok"):
        raise typer.Exit(1)


def _remote_health(url: str) -> dict:
    """A running process's /health report; unreachable is a report too (not ok)."""
    import urllib.error
    import urllib.request

    from retrieval import is_http_url

    if not is_http_url(url):
        raise BriefbotError(f"--url: {url!r} is not an http:// or https:// URL")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (http checked)
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:  # 503: the report says why
        try:
            return json.loads(exc.read())
        except ValueError:
            return {"ok": False, "status": "error", "error": f"HTTP {exc.code} from {url}"}
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return {"ok": False, "status": "unreachable", "error": f"{url}: {reason}"}


@app.command()
def reindex(
    drop_old: Annotated[
        bool, typer.Option("--drop-old", help="Delete the old collection after the switch")
    ] = False,
) -> None:
    """Rebuild the index into a new collection with these settings' model and chunking, beside
    the one serving, then switch every process to it at once. Killed half-way, the old one
    goes on serving; run again, it resumes."""
    engine = make_engine()
    with IngestBar("Reindexing") as bar:
        report = engine.reindex(bar, drop_old=drop_old)
    err.print(
        f"{report.old} → {report.new}: {report.articles} articles embedded"
        + (f", {report.unchanged} already there" if report.unchanged else "")
        + (f", {report.caught_up} written meanwhile copied" if report.caught_up else "")
        + f" · {report.chunks} chunks in {report.seconds:.1f} s; switched."
    )
    if report.dropped:
        err.print(f"{report.old} deleted.")
    elif report.old != report.new:
        err.print(f"{report.old} is kept: `briefbot reindex --drop-old` next time deletes it.")


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="The file to write (.jsonl, or .jsonl.gz)")],
) -> None:
    """Write every indexed article to a JSON-lines file that `briefbot ingest` reads back (with
    another BRIEFBOT_CHROMA_URL, say: how an index moves from embedded Chroma to a server)."""
    if not path.name.endswith((".jsonl", ".jsonl.gz")):
        raise BriefbotError(f"{shown(path)}: the name should end in .jsonl or .jsonl.gz")
    if not path.parent.is_dir():
        raise BriefbotError(f"{shown(path.parent)}: no such folder")
    n = make_engine().export(path)
    err.print(f"{n} articles written to {shown(path)}")


@app.command("env-example")
def env_example() -> None:
    """Print every setting with its meaning and default (what deploy/env.example holds)."""
    from bot.envfile import env_example as text

    sys.stdout.write(text())


def main() -> None:
    os.umask(0o077)  # what briefbot writes (the index, caches, databases) is the user's alone
    try:
        app()
    except BriefbotError as exc:
        err.print(Text.assemble(("Error:", "red"), f" {exc}"))
        sys.exit(2)


if __name__ == "__main__":
    main()
