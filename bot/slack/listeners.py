"""Slack's listeners: Slack payloads in, neutral messages to the conversation.

Everything the bot says comes from the conversation (bot/conversation.py), sent by the replies of
bot/slack/replies.py. Listeners only acknowledge and hand the work to a thread pool: every Web
API call (the "Searching…" message included) is made there, so that Slack's three-second
acknowledgement never waits on the engine, nor on a post waiting out a rate limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App, Assistant, BoltContext
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import Message, Press
from bot.conversation import (
    PREPARING,
    SEARCHING,
    Conversation,
    NotHere,
    parse_follow,
    window_start,
)
from bot.slack import PLATFORM
from bot.slack.render import (
    ACTION_SHARE,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    escape,
    escape_clipped,
    notice,
)
from bot.slack.replies import (
    AssistantReply,
    ButtonReply,
    ChannelReply,
    PrivateReply,
    ThreadReply,
)
from bot.slack.translate import (
    command_message,
    event_message,
    parse_brief_args,
    plain_text,
    read_button,
)
from retrieval import BriefbotError

log = logging.getLogger(__name__)

WORKERS = 8  # answers computed and posted at once; acknowledgements never wait on these
LISTENER_THREADS = 16  # Bolt's: they only acknowledge and queue work, so a few keep up

ASK_USAGE = "Usage: `/ask <question>`, for example `/ask What did Wallace say in Moscow?`"
BRIEF_USAGE = (
    "Usage: `/brief [topic] [since]`, for example `/brief ukraine 7d` "
    "(since: 24h, 7d, 2w or a date)."
)
FOLLOW_USAGE = (
    "Usage: `/follow TOPIC [--digest hourly|daily] [--since YYYY-MM-DD]`, for example "
    "`/follow Griner trial --digest daily`."
)
UNFOLLOW_USAGE = "Usage: `/unfollow TOPIC`, as `/following` lists it."

# Slack's assistant pane: what it says when a thread opens, and the prompts it suggests; two of
# them ask for a briefing (from the start of the day, of the last 24 hours).
GREETING = "Ask me about the news: every answer cites the passages it rests on."
SUGGESTED_PROMPTS = [
    {"title": "Brief me on today", "message": "Brief me on today"},
    {"title": "What changed since yesterday?", "message": "What changed since yesterday?"},
    {"title": "Ask about a story", "message": "What did Wallace say after meeting Shoigu?"},
]
BRIEF_PROMPTS: dict[str, Callable[[datetime], datetime]] = {
    "brief me on today": lambda now: now.replace(hour=0, minute=0, second=0, microsecond=0),
    "what changed since yesterday": lambda now: window_start(None, now),
}


# -- the listeners ----------------------------------------------------------------------------
class Listeners:
    """The handlers: each acknowledges at once and leaves all other work, Slack's Web API calls
    included, to a pool of workers. Both pools are the listeners' own (Bolt runs the handlers
    on `bolt_threads`): `close()` waits for whatever they were given."""

    def __init__(self, conversation: Conversation, workers: int = WORKERS) -> None:
        self.conversation = conversation
        self.bolt_threads = ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="briefbot-bolt")
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="briefbot-slack")

    def register(self, app: App) -> None:
        # The assistant pane's threads (direct messages with a thread) go to the assistant.
        assistant = Assistant()
        assistant.thread_started(self.on_assistant_thread)
        assistant.user_message(self.on_assistant_message)
        app.use(assistant)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.command("/ask")(self.on_ask)
        app.command("/brief")(self.on_brief)
        app.command("/follow")(self.on_follow)
        app.command("/following")(self.on_following)
        app.command("/unfollow")(self.on_unfollow)
        app.action(ACTION_VOTE_UP)(self.on_vote)
        app.action(ACTION_VOTE_DOWN)(self.on_vote)
        app.action(ACTION_SHARE)(self.on_share)

    def close(self, wait: bool = True) -> None:
        """Take no more work; with `wait`, until the work under way is done: the handlers Bolt
        runs, then what they handed to the workers."""
        self.bolt_threads.shutdown(wait=wait)
        self.pool.shutdown(wait=wait)

    def _submit(self, fn: Callable[..., object], *args: Any) -> None:
        future = self.pool.submit(fn, *args)
        # The conversation's guard catches what it can; this logs what escaped it.
        future.add_done_callback(_log_failure)

    # -- mentions and direct messages ---------------------------------------------------------
    def on_mention(self, event: dict, context: BoltContext, client: WebClient) -> None:
        # Another bot's message is no question: answering it, two bots could talk forever.
        if event.get("bot_id") or event.get("subtype") == "bot_message":
            log.debug("not answering a bot's mention in %s", event.get("channel"))
            return
        self._submit(self._converse, event, context, client, False)

    def on_message(self, event: dict, context: BoltContext, client: WebClient) -> None:
        # Only direct messages; edits, joins and bots' messages are not questions.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        self._submit(self._converse, event, context, client, True)

    def _converse(self, event: dict, context: BoltContext, client: WebClient, dm: bool) -> None:
        message = event_message(event, context.bot_user_id, dm)
        # In a channel the answer goes in the mention's thread; a DM is answered in place.
        reply_ts = message.thread or (None if dm else message.id)
        reply = ThreadReply(client, message, reply_ts, context.bot_user_id, context.team_id)
        self.conversation.receive(message, reply)

    # -- the assistant pane -------------------------------------------------------------------
    def on_assistant_thread(self, event: dict, client: WebClient) -> None:
        self._submit(self._greet, event, client)

    def _greet(self, event: dict, client: WebClient) -> None:
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        if not channel or not thread_ts:
            return
        try:
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, **notice(GREETING))
            client.assistant_threads_setSuggestedPrompts(
                channel_id=channel, thread_ts=thread_ts, prompts=SUGGESTED_PROMPTS
            )
        except SlackApiError as exc:
            log.warning("could not greet in the assistant: %s", exc.response.get("error"))

    def on_assistant_message(self, event: dict, context: BoltContext, client: WebClient) -> None:
        self._submit(self._assist, event, context, client)

    def _assist(self, event: dict, context: BoltContext, client: WebClient) -> None:
        thread_ts = event["thread_ts"]
        message = event_message(event, context.bot_user_id, True, thread_ts)
        reply = AssistantReply(client, message, thread_ts, context.bot_user_id, context.team_id)
        if not self.conversation.admit(message, reply):
            return
        since = BRIEF_PROMPTS.get(message.text.rstrip(" ?.!").lower())
        if since is None:
            self.conversation.answer(message, reply)
            return
        with self.conversation.guard(reply.notice):
            request = self.conversation.brief_request(None, since(message.sent_at), message.sent_at)
            self.conversation.brief(request, reply)

    # -- slash commands: checked before they are acknowledged ---------------------------------
    def on_ask(self, ack: Ack, command: dict, respond: Respond) -> None:
        try:
            self.conversation.check_channel(command_message(command, ""))
            question = self.conversation.check_question(plain_text(command.get("text", "")))
        except NotHere as exc:
            _ack_privately(ack, str(exc))
            return
        except BriefbotError as exc:  # what was typed: said with how to type it
            _ack_privately(ack, f"{escape(str(exc))} {ASK_USAGE}")
            return
        _ack_privately(ack, f"{SEARCHING} _{escape_clipped(question, 2900)}_")
        message = command_message(command, question)
        self._submit(self.conversation.answer, message, PrivateReply(respond, message))

    def on_brief(self, ack: Ack, command: dict, respond: Respond) -> None:
        now = datetime.now(UTC)
        try:
            self.conversation.check_channel(command_message(command, ""))
            topic, since = parse_brief_args(plain_text(command.get("text", "")), now)
            request = self.conversation.brief_request(topic, since, now)
        except NotHere as exc:
            _ack_privately(ack, str(exc))
            return
        except BriefbotError as exc:
            _ack_privately(ack, f"{escape(str(exc))} {BRIEF_USAGE}")
            return
        _ack_privately(ack, PREPARING)
        reply = PrivateReply(respond, command_message(command, request.topic or ""))
        self._submit(self.conversation.brief, request, reply, True)

    # -- following a topic: the channel sees what was done ----------------------------------
    def on_follow(self, ack: Ack, command: dict, respond: Respond) -> None:
        message = command_message(command, "")
        if self._declined(ack, message):
            return
        try:
            request = parse_follow(plain_text(command.get("text", "")))
        except BriefbotError as exc:  # a flag or value it cannot read: said with how to type it
            _ack_privately(ack, f"{escape(str(exc))} {FOLLOW_USAGE}")
            return
        ack()  # nothing yet: what is followed is said to the channel, after the engine's checks
        self._submit(self.conversation.follow, message, request, ChannelReply(respond))

    def on_following(self, ack: Ack, command: dict, respond: Respond) -> None:
        message = command_message(command, "")
        if self._declined(ack, message):
            return
        ack()
        self._submit(self.conversation.following, message, ChannelReply(respond))

    def on_unfollow(self, ack: Ack, command: dict, respond: Respond) -> None:
        message = command_message(command, "")
        if self._declined(ack, message):
            return
        topic = plain_text(command.get("text", ""))
        if not topic:
            _ack_privately(ack, f"The topic is missing. {UNFOLLOW_USAGE}")
            return
        ack()
        self._submit(self.conversation.unfollow, message, topic, ChannelReply(respond))

    def _declined(self, ack: Ack, message: Message) -> bool:
        """Refused at once, privately, outside the platform's channels."""
        try:
            self.conversation.check_channel(message)
        except NotHere as exc:
            _ack_privately(ack, str(exc))
            return True
        return False

    # -- buttons ------------------------------------------------------------------------------
    def on_vote(self, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        self._submit(self._vote, body, action, respond)

    def _vote(self, body: dict, action: dict, respond: Respond) -> None:
        reply = ButtonReply(respond, (body.get("message") or {}).get("thread_ts"))
        with self.conversation.guard(reply.tell):
            vote = 1 if action["action_id"] == ACTION_VOTE_UP else -1
            self.conversation.vote(_press(body, action), vote, reply)

    def on_share(self, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        self._submit(self._share, body, action, respond)

    def _share(self, body: dict, action: dict, respond: Respond) -> None:
        reply = ButtonReply(respond)
        with self.conversation.guard(reply.tell):
            self.conversation.share(_press(body, action), reply)


def _press(body: dict, action: dict) -> Press:
    """A button pressed; BUTTON_GONE (a BriefbotError) for a value this version cannot read."""
    key, asked = read_button(action.get("value", ""))
    return Press(PLATFORM, body["user"]["id"], key, asked)


def _ack_privately(ack: Ack, text: str) -> None:
    """A slash command's immediate reply: seen only by whoever typed the command."""
    ack(text=text, response_type="ephemeral")


def _log_failure(future: Future[object]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("background work failed", exc_info=exc)
