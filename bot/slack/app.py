"""The Bolt app with briefbot's listeners (bot/slack/listeners.py), the same for Socket Mode and
HTTP, and its Web API client (bot/slack/client.py)."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient

from bot.conversation import Conversation
from bot.slack import PLATFORM
from bot.slack.client import make_client
from bot.slack.listeners import Listeners
from bot.slack.settings import SlackSettings


class _NotUnused(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be unused" when it is given a client, whenever that
    variable is in the environment. It is used: the client carries it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_app(
    settings: SlackSettings,
    conversation: Conversation,
    client: WebClient | None = None,
    listeners: Listeners | None = None,
) -> App:
    """The Bolt app with briefbot's listeners (made here unless given: whoever wants to wait
    for their work, with `listeners.close()`, passes its own); the same for Socket Mode and
    HTTP.

    Building it calls Slack's auth.test once, to learn the bot's own user id.
    """
    listeners = listeners or Listeners(conversation)
    bolt_log = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _NotUnused) for f in bolt_log.filters):
        bolt_log.addFilter(_NotUnused())
    app = App(
        # Not "briefbot": Bolt sets the level of the logger named after the app on each request,
        # and "briefbot" is the command line's (bot/cli.py).
        name="briefbot-slack",
        client=client or make_client(settings, lambda: conversation.metrics.retried(PLATFORM)),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        listener_executor=listeners.bolt_threads,
    )
    listeners.register(app)
    return app
