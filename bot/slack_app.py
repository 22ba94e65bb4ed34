"""Slack's listeners: Slack payloads in, neutral messages to the conversation, Block Kit out.

Everything the bot says comes from the conversation (bot/conversation.py) and is rendered by
`bot.render_slack`. Listeners only acknowledge and hand the work to a thread pool: every Web API
call (the "Searching…" message included) is made there, so that Slack's three-second
acknowledgement never waits on the engine, nor on a post waiting out a rate limit. The server
around the app (settings, client, Socket Mode or HTTP) is bot/slack_server.py.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from slack_bolt import App, Assistant, BoltContext
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.web.chat_stream import ChatStream

from bot.conversation import (
    SEARCHING,
    Conversation,
    Earlier,
    Message,
    Reply,
    window_start,
)
from bot.render_slack import (
    ACTION_SHARE,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    escape,
    escape_clipped,
    notice,
    render_answer,
    render_briefing,
)
from bot.render_slack import Message as SlackMessage
from retrieval import (
    AlreadyVoted,
    Answer,
    BriefbotError,
    Briefing,
    QuestionError,
    UnknownAnswer,
    is_moment,
)

if TYPE_CHECKING:
    from bot.slack_server import SlackSettings

log = logging.getLogger(__name__)

PLATFORM = "slack"
WORKERS = 8  # answers computed and posted at once; acknowledgements never wait on these
# Between two updates of an answer streamed as it is written: chat.update and
# chat.appendStream allow about one a second per conversation.
STREAM_INTERVAL_S = 1.0
LISTENER_THREADS = 16  # Bolt's: they only acknowledge and queue work, so a few keep up
BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value
THREAD_REPLIES = 100  # messages of a thread read for a follow-up's context

DECLINE = "Sorry, I don't answer in this conversation. An admin can enable it for me."
ASK_USAGE = "Usage: `/ask <question>`, for example `/ask What did Wallace say in Moscow?`"
BRIEF_USAGE = (
    "Usage: `/brief [topic] [since]`, for example `/brief ukraine 7d` "
    "(since: 24h, 7d, 2w or a date)."
)
MENTION_HINT = "Mention me with a question, for example “@briefbot what did Wallace say in Moscow?”"
BUTTON_GONE = "This button no longer works. Ask the question again."

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
THREAD_TITLE_CHARS = 200

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


# -- translation: Slack's text and arguments ----------------------------------------------------
def plain_text(text: str, bot_user_id: str | None = None) -> str:
    """A Slack message's text as a plain question: the bot's mention removed, markup unwrapped."""
    text = _MENTION.sub(
        lambda m: "" if m.group(1) == bot_user_id else "@" + (m.group(2) or m.group(1)), text
    )
    text = _LINK.sub(lambda m: m.group(2) or m.group(1).lstrip("#!@"), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def slack_time(ts: str) -> datetime:
    """A Slack message timestamp ("1644580000.000100") as an aware datetime."""
    return datetime.fromtimestamp(float(ts), UTC)


def parse_brief_args(text: str, now: datetime) -> tuple[str | None, datetime]:
    """`/brief [topic] [since]` -> (topic, since); `since` (24h, 7d, 2w, a date) first or last."""
    words = text.split()
    since = None
    for at in (-1, 0):
        if words and is_moment(words[at]):
            since = words.pop(at)
            break
    return (" ".join(words) or None), window_start(since, now)


def encode_value(fields: dict[str, Any]) -> str:
    """A button value under Slack's 2,000 characters: the longest free texts are shortened."""
    fields = dict(fields)
    while True:
        value = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        over = len(value) - BUTTON_VALUE_LIMIT
        if over <= 0:
            return value
        for name in ("c", "q", "topic", "ids"):
            if fields.get(name):
                item = fields[name]
                fields[name] = item[: max(0, len(item) - over - 1)]
                break
        else:  # nothing left to shorten
            return json.dumps({"k": fields.get("k", "")})


def _decode_value(value: str) -> dict[str, Any]:
    try:
        fields = json.loads(value)
    except (TypeError, ValueError):
        fields = None
    if not isinstance(fields, dict):
        raise BriefbotError(BUTTON_GONE)
    return fields


def answer_value(answer: Answer, key: str | None, now: datetime, context: str) -> str | None:
    """What an answer's buttons carry: its key, and enough to ask it again after a restart."""
    if key is None:
        return None
    ids = list(dict.fromkeys(c.article_id for c in answer.citations))
    return encode_value(
        {
            "k": key,
            "kind": "ask",
            "t": now.timestamp(),
            "ids": ids,
            "q": answer.question,
            "c": context,
        }
    )


def briefing_value(briefing: Briefing, key: str) -> str | None:
    if briefing.empty:
        return None
    return encode_value(
        {
            "k": key,
            "kind": "brief",
            "s": briefing.since,
            "u": briefing.until,
            "topic": briefing.topic,
        }
    )


# -- sending: one loop for each way Slack takes messages ----------------------------------------
def send_all(
    messages: Sequence[SlackMessage], first: Callable[..., object], rest: Callable[..., object]
) -> None:
    """The first message with `first` (which may replace a placeholder), the others with
    `rest`, in order."""
    for i, message in enumerate(messages):
        (first if i == 0 else rest)(**message)


def _respond(respond: Respond, **message: Any) -> None:
    response = respond(**message)
    if response.status_code != 200:
        raise RuntimeError(
            f"Slack's response_url answered {response.status_code}: {response.body[:200]}"
        )


def post_briefing(client: WebClient, channel: str, briefing: Briefing | str) -> None:
    """Post a scheduled briefing to a channel; a string ("Nothing new…") is one plain line."""
    messages = [notice(briefing)] if isinstance(briefing, str) else render_briefing(briefing)
    post = lambda **m: client.chat_postMessage(channel=channel, unfurl_links=False, **m)  # noqa: E731
    send_all(messages, post, post)


# -- replies: the conversation's Reply, rendered for Slack ------------------------------------
class ThreadReply(Reply):
    """Replies to a mention or a direct message: "Searching…" in the thread (a DM: in place),
    then replaced by the answer. A generated answer is streamed: in a thread with Slack's
    streaming API (chat.startStream, appendStream, stopStream), which replaces "Searching…";
    in place, by updates of "Searching…"."""

    stream_interval = STREAM_INTERVAL_S

    def __init__(
        self,
        client: WebClient,
        message: Message,
        reply_ts: str | None,
        bot_user_id: str | None,
        team_id: str | None = None,
    ) -> None:
        self.client = client
        self.message = message
        self.reply_ts = reply_ts  # the thread the answer goes in (None: the DM itself)
        self.bot_user_id = bot_user_id
        self.team_id = team_id  # the workspace: Slack's streams in channels need it
        self.placeholder: str | None = None  # the message the answer replaces
        self.streamer: ChatStream | None = None
        self.streamed = ""  # the answer's text streamed so far
        self.stream_failed = False

    def stream(self, text: str) -> None:
        if self.reply_ts is None:  # no thread to stream in: "Searching…" grows into the answer
            if self.placeholder is not None:
                self.client.chat_update(
                    channel=self.message.channel, ts=self.placeholder, text=escape(text)
                )
                self.streamed = text
            return
        if self.stream_failed or not text.startswith(self.streamed):
            return  # the answer will show it all
        started = self.streamer is not None
        if self.streamer is None:
            self.streamer = self.client.chat_stream(
                channel=self.message.channel,
                thread_ts=self.reply_ts,
                recipient_team_id=self.team_id,
                recipient_user_id=self.message.user or None,
                buffer_size=1,  # each verified sentence at once; the conversation throttles
            )
        try:
            self.streamer.append(markdown_text=escape(text[len(self.streamed) :]))
        except SlackApiError as exc:
            # Streaming refused (a workspace without it, a scope missing): the answer is
            # posted whole instead, where "Searching…" still stands.
            log.warning("could not stream the answer: %s", exc.response.get("error"))
            self.stream_failed = not started
            if not started:
                self.streamer = None
            return
        self.streamed = text
        if not started:
            self._drop_placeholder()

    def _drop_placeholder(self) -> None:
        if self.placeholder is None:
            return
        try:
            self.client.chat_delete(channel=self.message.channel, ts=self.placeholder)
        except SlackApiError as exc:
            log.warning("could not delete the placeholder: %s", exc.response.get("error"))
        self.placeholder = None

    def _post(self, **message: Any) -> SlackResponse:
        return self.client.chat_postMessage(
            channel=self.message.channel, thread_ts=self.reply_ts, **message
        )

    def _send(self, messages: Sequence[SlackMessage]) -> None:
        def first(**message: Any) -> None:
            if self.placeholder:
                self.client.chat_update(
                    channel=self.message.channel, ts=self.placeholder, **message
                )
            else:
                self._post(**message)

        send_all(messages, first, self._post)

    def progress(self, text: str) -> None:
        if self.placeholder is not None:
            self.client.chat_update(channel=self.message.channel, ts=self.placeholder, text=text)
            return
        try:
            self.placeholder = self._post(text=text)["ts"]
        except SlackApiError as exc:
            log.warning("could not post the %r message: %s", text, exc.response.get("error"))

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        value = answer_value(answer, vote_key, self.message.sent_at, context)
        if self.streamer is None or not answer.answer.startswith(self.streamed):
            self._send(render_answer(answer, vote_value=value))
            return
        # The streamed message is finished with what was held back, and carries the rest:
        # the notice, the sources and the buttons.
        first, *rest = render_answer(answer, vote_value=value, with_text=False)
        try:
            self.streamer.stop(
                markdown_text=escape(answer.answer[len(self.streamed) :]) or None,
                blocks=first["blocks"],
            )
        except SlackApiError as exc:  # the stream expired: the answer is posted whole
            log.warning("could not finish the stream: %s", exc.response.get("error"))
            send_all(render_answer(answer, vote_value=value), self._post, self._post)
            return
        send_all(rest, self._post, self._post)

    def briefing(self, briefing: Briefing, key: str) -> None:
        self._send(render_briefing(briefing))

    def notice(self, text: str) -> None:
        if self.streamer is not None:
            with contextlib.suppress(SlackApiError):
                self.streamer.stop()
            self.streamer = None
        self._send([notice(f"{text} {MENTION_HINT}" if not self.message.text else text)])

    def history(self) -> list[Earlier]:
        """The thread's earlier messages from people (Slack's replies to the thread)."""
        if self.message.thread is None:
            return []
        try:
            replies = self.client.conversations_replies(
                channel=self.message.channel, ts=self.message.thread, limit=THREAD_REPLIES
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("could not read the thread, answering without context: %s", error)
            return []
        mention = f"<@{self.bot_user_id}"
        return [
            Earlier(
                plain_text(m.get("text", ""), self.bot_user_id),
                self.message.direct or mention in m.get("text", ""),
            )
            for m in replies.get("messages") or []
            if float(m.get("ts", "0")) < float(self.message.id)
            and not m.get("bot_id")
            and m.get("user") != self.bot_user_id
            and not m.get("subtype")
        ]


class PrivateReply(Reply):
    """Replies to a slash command, through its response_url: seen only by whoever typed it.
    The command's acknowledgement is the placeholder ("Searching…"); the answer replaces it.
    Nothing is streamed: a response_url takes five messages at most."""

    stream_interval = STREAM_INTERVAL_S

    def __init__(self, respond: Respond, message: Message) -> None:
        self.respond = respond
        self.message = message

    def _send(self, messages: Sequence[SlackMessage]) -> None:
        def first(**message: Any) -> None:
            _respond(self.respond, response_type="ephemeral", replace_original=True, **message)

        def rest(**message: Any) -> None:
            _respond(self.respond, response_type="ephemeral", replace_original=False, **message)

        send_all(messages, first, rest)

    def progress(self, text: str) -> None:
        pass  # the acknowledgement already says it

    def stream(self, text: str) -> None:
        pass

    def answer(self, answer: Answer, vote_key: str | None, context: str) -> None:
        value = answer_value(answer, vote_key, self.message.sent_at, context)
        self._send(render_answer(answer, show_question=True, vote_value=value, share_value=value))

    def briefing(self, briefing: Briefing, key: str) -> None:
        self._send(render_briefing(briefing, share_value=briefing_value(briefing, key)))

    def notice(self, text: str) -> None:
        self._send([notice(text)])

    def history(self) -> list[Earlier]:
        return []  # a command has no thread


class AssistantReply(ThreadReply):
    """Replies in a thread of Slack's assistant pane: a status ("Searching…") instead of a
    placeholder, the thread titled with its first question, the answer (streamed, when a
    language model writes it) in the thread."""

    def __init__(
        self,
        client: WebClient,
        message: Message,
        thread_ts: str,
        bot_user_id: str | None,
        team_id: str | None = None,
    ) -> None:
        super().__init__(client, message, thread_ts, bot_user_id, team_id)
        self.thread_ts = thread_ts

    def progress(self, text: str) -> None:
        try:
            self.client.assistant_threads_setStatus(
                channel_id=self.message.channel, thread_ts=self.thread_ts, status=text
            )
        except SlackApiError as exc:
            log.warning("could not set the status: %s", exc.response.get("error"))

    def history(self) -> list[Earlier]:
        earlier = super().history()
        if not earlier and self.message.text:  # the thread's first question names it
            try:
                self.client.assistant_threads_setTitle(
                    channel_id=self.message.channel,
                    thread_ts=self.thread_ts,
                    title=self.message.text[:THREAD_TITLE_CHARS],
                )
            except SlackApiError as exc:
                log.warning("could not title the thread: %s", exc.response.get("error"))
        return earlier


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
            _respond(
                respond,
                text=text,
                response_type="ephemeral",
                replace_original=False,
                thread_ts=thread_ts,
            )

        with self.conversation.guard(tell):
            fields = _decode_value(action.get("value", ""))
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
            _respond(respond, text=text, response_type="ephemeral", replace_original=False)

        with self.conversation.guard(tell):
            value = action.get("value", "")
            result = self._recall(_decode_value(value))
            user = body["user"]["id"]
            if isinstance(result, Briefing):
                messages = render_briefing(result, shared_by=user)
            else:
                messages = render_answer(
                    result, show_question=True, asked_by=user, vote_value=value
                )
            public = lambda **m: _respond(  # noqa: E731
                respond, response_type="in_channel", replace_original=False, **m
            )
            send_all(messages, public, public)
            _respond(
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


# -- the app ----------------------------------------------------------------------------------
class _NotUnused(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be unused" when it is given a client, whenever that
    variable is in the environment. It is used: the client carries it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_app(
    settings: SlackSettings, conversation: Conversation, client: WebClient | None = None
) -> App:
    """The Bolt app with briefbot's listeners; the same for Socket Mode and HTTP.

    Building it calls Slack's auth.test once, to learn the bot's own user id.
    """
    from bot.slack_server import make_client

    bolt_log = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _NotUnused) for f in bolt_log.filters):
        bolt_log.addFilter(_NotUnused())
    app = App(
        name="briefbot",
        client=client or make_client(settings, lambda: conversation.metrics.retried(PLATFORM)),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="briefbot-bolt"),
    )
    SlackBot(conversation, settings.allowed_channels).register(app)
    return app
