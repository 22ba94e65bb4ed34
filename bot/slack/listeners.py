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

from bot.conversation import SEARCHING, Conversation, Message, window_start
from bot.slack import PLATFORM
from bot.slack.render import (
    ACTION_SHARE,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    escape,
    escape_clipped,
    notice,
    render_answer,
    render_briefing,
)
from bot.slack.replies import AssistantReply, PrivateReply, ThreadReply, respond_with, send_all
from bot.slack.translate import (
    BUTTON_GONE,
    decode_value,
    parse_brief_args,
    plain_text,
    slack_time,
)
from retrieval import (
    AlreadyVoted,
    Answer,
    BriefbotError,
    Briefing,
    QuestionError,
    UnknownAnswer,
)

log = logging.getLogger(__name__)

WORKERS = 8  # answers computed and posted at once; acknowledgements never wait on these

DECLINE = "Sorry, I don't answer in this conversation. An admin can enable it for me."
ASK_USAGE = "Usage: `/ask <question>`, for example `/ask What did Wallace say in Moscow?`"
BRIEF_USAGE = (
    "Usage: `/brief [topic] [since]`, for example `/brief ukraine 7d` "
    "(since: 24h, 7d, 2w or a date)."
)

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
class SlackBot:
    """The handlers: each acknowledges at once and leaves all other work, Slack's Web API calls
    included, to a thread pool."""

    def __init__(
        self, conversation: Conversation, allowed: set[str], workers: int = WORKERS
    ) -> None:
        self.conversation = conversation
        self.allowed = allowed  # channel ids; empty: everywhere
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
        app.action(ACTION_VOTE_UP)(self.on_vote)
        app.action(ACTION_VOTE_DOWN)(self.on_vote)
        app.action(ACTION_SHARE)(self.on_share)

    def is_allowed(self, channel: str) -> bool:
        return not self.allowed or channel in self.allowed

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
        bot_user_id = context.bot_user_id
        ts, parent = event["ts"], event.get("thread_ts")
        message = Message(
            platform=PLATFORM,
            channel=event["channel"],
            id=ts,  # not the event id: a retry carries the same message
            user=event.get("user") or "",
            text=plain_text(event.get("text", ""), bot_user_id),
            sent_at=slack_time(ts),
            thread=parent,
            direct=dm,
        )
        if not self.conversation.claim(message):
            return
        # In a channel the answer goes in the mention's thread; a DM is answered in place.
        reply_ts = parent or (None if dm else ts)
        if not self.is_allowed(message.channel):
            self._decline(client, message, reply_ts)
            return
        reply = ThreadReply(client, message, reply_ts, bot_user_id, context.team_id)
        self.conversation.answer(message, reply)

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
        ts, thread_ts = event["ts"], event["thread_ts"]
        message = Message(
            platform=PLATFORM,
            channel=event["channel"],
            id=ts,
            user=event.get("user") or "",
            text=plain_text(event.get("text", ""), context.bot_user_id),
            sent_at=slack_time(ts),
            thread=thread_ts,
            direct=True,
        )
        if not self.conversation.claim(message):
            return
        if not self.is_allowed(message.channel):
            self._decline(client, message, thread_ts)
            return
        reply = AssistantReply(client, message, thread_ts, context.bot_user_id, context.team_id)
        since = BRIEF_PROMPTS.get(message.text.rstrip(" ?.!").lower())
        if since is None:
            self.conversation.answer(message, reply)
            return
        with self.conversation.guard(reply.notice):
            request = self.conversation.brief_request(None, since(message.sent_at), message.sent_at)
            self.conversation.brief(request, reply)

    def _decline(self, client: WebClient, message: Message, reply_ts: str | None) -> None:
        try:
            if message.direct:
                client.chat_postMessage(channel=message.channel, **notice(DECLINE))
            else:
                client.chat_postEphemeral(
                    channel=message.channel,
                    user=message.user,
                    thread_ts=reply_ts,
                    **notice(DECLINE),
                )
        except SlackApiError as exc:
            log.warning("could not decline in %s: %s", message.channel, exc.response.get("error"))

    # -- slash commands -----------------------------------------------------------------------
    def _command_message(self, command: dict, text: str) -> Message:
        return Message(
            platform=PLATFORM,
            channel=command.get("channel_id", ""),
            id=command.get("trigger_id", ""),
            user=command.get("user_id", ""),
            text=text,
            sent_at=datetime.now(UTC),
        )

    def on_ask(self, ack: Ack, command: dict, respond: Respond) -> None:
        if not self.is_allowed(command.get("channel_id", "")):
            _ack_privately(ack, DECLINE)
            return
        try:
            question = self.conversation.check_question(plain_text(command.get("text", "")))
        except QuestionError as exc:
            _ack_privately(ack, f"{escape(str(exc))} {ASK_USAGE}")
            return
        _ack_privately(ack, f"{SEARCHING} _{escape_clipped(question, 2900)}_")
        message = self._command_message(command, question)
        self._submit(self.conversation.answer, message, PrivateReply(respond, message))

    def on_brief(self, ack: Ack, command: dict, respond: Respond) -> None:
        if not self.is_allowed(command.get("channel_id", "")):
            _ack_privately(ack, DECLINE)
            return
        now = datetime.now(UTC)
        try:
            topic, since = parse_brief_args(plain_text(command.get("text", "")), now)
            request = self.conversation.brief_request(topic, since, now)
        except BriefbotError as exc:
            _ack_privately(ack, f"{escape(str(exc))} {BRIEF_USAGE}")
            return
        _ack_privately(ack, "Preparing the briefing…")
        message = self._command_message(command, request.topic or "")
        self._submit(self.conversation.brief, request, PrivateReply(respond, message))

    # -- buttons ------------------------------------------------------------------------------
    def _recall(self, fields: dict[str, Any]) -> Answer | Briefing:
        """The answer or briefing a button refers to; after a restart, asked again as it was."""
        hit = self.conversation.recall(fields.get("k"))
        if hit is not None:
            return hit
        try:
            if fields.get("kind") == "brief":
                since, until = (
                    datetime.fromisoformat(fields["s"]),
                    datetime.fromisoformat(fields["u"]),
                )
                return self.conversation.engine.brief(since, until, topic=fields.get("topic"))
            now = datetime.fromtimestamp(float(fields["t"]), UTC)
            return self.conversation.engine.ask(fields["q"], now=now, context=fields.get("c", ""))
        except (KeyError, TypeError, ValueError):
            raise BriefbotError(BUTTON_GONE) from None

    def on_vote(self, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        self._submit(self._record_vote, body, action, respond)

    def _record_vote(self, body: dict, action: dict, respond: Respond) -> None:
        thread_ts = (body.get("message") or {}).get("thread_ts")

        def tell(text: str) -> None:
            respond_with(
                respond,
                text=text,
                response_type="ephemeral",
                replace_original=False,
                thread_ts=thread_ts,
            )

        with self.conversation.guard(tell):
            fields = decode_value(action.get("value", ""))
            key, user = str(fields.get("k") or ""), body["user"]["id"]
            vote = 1 if action["action_id"] == ACTION_VOTE_UP else -1
            try:
                self._vote(fields, key, user, vote)
            except AlreadyVoted:
                tell("You have already voted on this answer.")
                return
            tell(f"Thanks: your {'👍' if vote > 0 else '👎'} is recorded.")

    def _vote(self, fields: dict[str, Any], key: str, user: str, vote: int) -> None:
        try:
            self.conversation.vote(key, PLATFORM, user, vote)
        except UnknownAnswer:
            # A button that outlived its process: the answer is asked again, as it was, and
            # kept under the button's key, so that a second vote is still a second vote.
            answer = self._recall(fields)
            if not isinstance(answer, Answer) or not key:
                raise BriefbotError(BUTTON_GONE) from None
            self.conversation.keep_answer(answer, key=key)
            self.conversation.vote(key, PLATFORM, user, vote)

    def on_share(self, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        self._submit(self._share, body, action, respond)

    def _share(self, body: dict, action: dict, respond: Respond) -> None:
        def tell(text: str) -> None:
            respond_with(respond, text=text, response_type="ephemeral", replace_original=False)

        with self.conversation.guard(tell):
            value = action.get("value", "")
            result = self._recall(decode_value(value))
            user = body["user"]["id"]
            if isinstance(result, Briefing):
                messages = render_briefing(result, shared_by=user)
            else:
                messages = render_answer(
                    result, show_question=True, asked_by=user, vote_value=value
                )
            public = lambda **m: respond_with(  # noqa: E731
                respond, response_type="in_channel", replace_original=False, **m
            )
            send_all(messages, public, public)
            respond_with(
                respond,
                text="Shared in the channel.",
                response_type="ephemeral",
                replace_original=True,
            )


def _ack_privately(ack: Ack, text: str) -> None:
    """A slash command's immediate reply: seen only by whoever typed the command."""
    ack(text=text, response_type="ephemeral")


def _log_failure(future: Future[object]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("background work failed", exc_info=exc)
