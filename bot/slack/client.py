"""Slack's Web API client: rate-limited calls retried after Slack's Retry-After, and counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.slack.settings import SlackSettings


class CountedRetries(RetryHandler):
    """Another retry handler, unchanged, but each retry it makes is counted (`on_retry`)."""

    def __init__(self, inner: RetryHandler, on_retry: Callable[[], None]) -> None:
        super().__init__(inner.max_retry_count, inner.interval_calculator)
        self.inner = inner
        self.on_retry = on_retry

    def can_retry(self, **kwargs: Any) -> bool:
        return self.inner.can_retry(**kwargs)

    def prepare_for_next_attempt(self, **kwargs: Any) -> None:
        self.on_retry()
        self.inner.prepare_for_next_attempt(**kwargs)


def make_client(settings: SlackSettings, on_retry: Callable[[], None] | None = None) -> WebClient:
    """The Web API client: rate-limited calls are retried (twice) after Slack's Retry-After,
    lost connections once; `on_retry` is told of each retry."""
    base_url = settings.slack_api_url.rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token.get_secret_value() or None, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    if on_retry is not None:
        client.retry_handlers = [CountedRetries(h, on_retry) for h in client.retry_handlers]
    return client
