"""`briefbot health`: this deployment's health report, or a running process's (--url)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from bot.cli import state
from bot.cli.options import ConfigOption
from bot.render_terminal import to_json
from retrieval import BriefbotError


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
        report = health_report(state.make_engine(), schedules)
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
