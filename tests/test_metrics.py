"""What the engine and the adapters count: ingests, feed fetch failures, Discord's API retries,
briefings posted; scraped over HTTP in the Prometheus text format."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.discord.client import retry_counter
from bot.health_server import HealthServer
from retrieval.metrics import Metrics
from tests.conftest import SEEDS
from tests.test_feeds import NewsSite


def samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def test_feed_rounds_count_their_failures_and_what_they_ingested(make_engine):
    engine = make_engine(fetch_allow_hosts="127.0.0.1")
    with NewsSite() as site:
        report = engine.poll_feed(f"{site.base}/feed.xml")  # one of its four pages is a 404
        down = engine.poll_feed(f"{site.base}/gone.xml")  # the feed itself is missing
    assert report.ingested == 3 and down.feed_error
    m = samples(engine.metrics)
    assert m[("briefbot_feed_fetch_failures_total", (("what", "page"),))] == 1
    assert m[("briefbot_feed_fetch_failures_total", (("what", "feed"),))] == 1
    assert m[("briefbot_ingested_articles_total", (("result", "added"),))] == 3
    assert m[("briefbot_ingested_chunks_total", ())] == report_chunks(engine)
    assert engine.metrics.last_error is not None
    assert (
        engine.metrics.last_error.kind == "feed" and "gone.xml" in engine.metrics.last_error.message
    )


def report_chunks(engine) -> int:
    return engine.parts.store.count()[1]


def test_an_unchanged_article_is_counted_as_such(make_engine):
    engine = make_engine()
    engine.ingest([SEEDS])
    engine.ingest([SEEDS])
    m = samples(engine.metrics)
    assert m[("briefbot_ingested_articles_total", (("result", "added"),))] == 1
    assert m[("briefbot_ingested_articles_total", (("result", "unchanged"),))] == 1


async def test_discords_retries_are_counted_at_the_http_boundary():
    """discord.py retries a 429 and a 502 by itself; each response it retries is counted."""
    statuses = iter([429, 502, 200, 404])

    async def handle(request: web.Request) -> web.Response:
        return web.Response(status=next(statuses), text="{}", content_type="application/json")

    app = web.Application()
    app.router.add_get("/x", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    metrics = Metrics()
    async with aiohttp.ClientSession(trace_configs=[retry_counter(metrics)]) as session:
        for _ in range(4):
            async with session.get(f"http://127.0.0.1:{port}/x") as response:
                await response.read()
    await runner.cleanup()
    assert samples(metrics)[("briefbot_chat_api_retries_total", (("platform", "discord"),))] == 2


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.mark.parametrize("enabled", [True, False])
def test_metrics_are_served_only_when_turned_on(seed_engine, enabled):
    server = HealthServer(seed_engine, "test", host="127.0.0.1", port=0, metrics=enabled).start()
    try:
        status, content_type, body = get(f"http://127.0.0.1:{server.port}/metrics")
        health_status, _, health = get(f"http://127.0.0.1:{server.port}/health")
        server.stopping = True
        stopping, _, stopped = get(f"http://127.0.0.1:{server.port}/health")
    finally:
        server.stop()
    if enabled:
        assert status == 200 and "briefbot_questions_total" in body
        assert content_type.startswith("text/plain; version=")
    else:
        assert status == 404 and "BRIEFBOT_METRICS" in body
    assert health_status == 200 and json.loads(health)["store"]["articles"] == 1
    assert json.loads(health)["process"]["role"] == "test"
    assert stopping == 503 and json.loads(stopped)["status"] == "stopping"


def test_the_ingest_lag_is_not_a_number_before_the_index_is_loaded(make_engine):
    engine = make_engine()
    engine.ingest([SEEDS])
    lag = ("briefbot_newest_article_age_seconds", ())
    assert samples(engine.metrics)[lag] != samples(engine.metrics)[lag]  # NaN
    engine.snapshot()
    assert samples(engine.metrics)[lag] > 0
