"""The conversation's replies, rendered for Slack (bot/slack/render.py) and sent with its Web
API: in a thread or a DM (`ThreadReply`), in the assistant pane (`AssistantReply`), or through a
slash command's response_url (`PrivateReply`, and `ChannelReply` for what the whole channel
sees); a button press's (`ButtonReply`); and what is posted unprompted: a scheduled briefing, a
followed topic's post (`outbox`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.web.chat_stream import ChatStream

from bot.chat import Announce, Buttons, Earlier, Message, Outbox, Pressed, Reply
from bot.slack.render import Message as SlackMessage
from bot.slack.render import (
    announcement,
    escape,
    notice,
    render_answer,
    render_briefing,
    render_follow,
)
from bot.slack.translate import button_value, plain_text
from retrieval import Answer, Briefing, FollowPost

log = logging.getLogger(__name__)

# Between two updates of an answer streamed as it is written: chat.update and
# chat.appendStream allow about one a second per conversation.
STREAM_INTERVAL_S = 1.0
THREAD_REPLIES = 100  # messages of a thread read for a follow-up's context
THREAD_TITLE_CHARS = 200
MENTION_HINT = "Mention me with a question, for example “@briefbot what did Wallace say in Moscow?”"


# -- sending: one loop for each way Slack takes messages ----------------------------------------
def send_all(
    messages: Sequence[SlackMessage], first: Callable[..., object], rest: Callable[..., object]
) -> None:
    """The first message with `first` (which may replace a placeholder), the others with
    `rest`, in order."""
    for i, message in enumerate(messages):
        (first if i == 0 else rest)(**message)


def respond_with(respond: Respond, **message: Any) -> None:
    """Post to a response_url; a refusal is raised, not left unnoticed."""
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


def post_follow(client: WebClient, post: FollowPost) -> str | None:
    """Post a followed topic's new developments in its thread; the first post, in the channel,
    starts the thread. Returns the thread's id: its first message's ts."""
    thread = post.follow.thread
    for message in render_follow(post):
        sent = client.chat_postMessage(
            channel=post.follow.channel, thread_ts=thread, unfurl_links=False, **message
        )
        thread = thread or sent["ts"]
    return thread


def outbox(client: WebClient) -> Outbox:
    """What the service posts unprompted, with the app's own client: its retries wait out
    Slack's rate limits (bot/slack/client.py), for briefings and follows alike."""
    return Outbox(
        briefing=lambda channel, briefing: post_briefing(client, channel, briefing),
        follow=lambda post: post_follow(client, post),
    )


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

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        value = _vote_value(buttons)
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

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        self._send(render_briefing(briefing, share_value=_share_value(buttons)))

    def notice(self, text: str) -> None:
        if self.streamer is not None:
            with contextlib.suppress(SlackApiError):
                self.streamer.stop()
            self.streamer = None
        self._send([notice(f"{text} {MENTION_HINT}" if not self.message.text else text)])

    def decline(self, text: str) -> None:
        """Said to the sender alone in a channel (an ephemeral message in the thread), in a DM
        to the DM."""
        try:
            if self.message.direct:
                self.client.chat_postMessage(channel=self.message.channel, **notice(text))
            else:
                self.client.chat_postEphemeral(
                    channel=self.message.channel,
                    user=self.message.user,
                    thread_ts=self.reply_ts,
                    **notice(text),
                )
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("could not decline in %s: %s", self.message.channel, error)

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
            respond_with(self.respond, response_type="ephemeral", replace_original=True, **message)

        def rest(**message: Any) -> None:
            respond_with(self.respond, response_type="ephemeral", replace_original=False, **message)

        send_all(messages, first, rest)

    def progress(self, text: str) -> None:
        pass  # the acknowledgement already says it

    def stream(self, text: str) -> None:
        pass

    def answer(self, answer: Answer, buttons: Buttons | None) -> None:
        self._send(
            render_answer(
                answer,
                show_question=True,
                vote_value=_vote_value(buttons),
                share_value=_share_value(buttons),
            )
        )

    def briefing(self, briefing: Briefing, buttons: Buttons | None) -> None:
        self._send(render_briefing(briefing, share_value=_share_value(buttons)))

    def notice(self, text: str) -> None:
        self._send([notice(text)])

    def decline(self, text: str) -> None:
        self.notice(text)

    def history(self) -> list[Earlier]:
        return []  # a command has no thread


class ChannelReply(Announce):
    """Replies to a slash command whose outcome the whole channel shares (`/follow`), through
    its response_url: what it did for everyone in the channel, a mistake only for whoever typed
    it."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond

    def announce(self, text: str) -> None:
        respond_with(self.respond, response_type="in_channel", **announcement(text))

    def tell(self, text: str) -> None:
        respond_with(self.respond, response_type="ephemeral", **notice(text))


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


class ButtonReply(Pressed):
    """Replies to a button press, through its response_url: a word to whoever pressed it (in
    the thread of the message it is on), a share posted for the channel, and the presser's own
    copy replaced."""

    def __init__(self, respond: Respond, thread_ts: str | None = None) -> None:
        self.respond = respond
        self.thread_ts = thread_ts

    def tell(self, text: str) -> None:
        where = {"thread_ts": self.thread_ts} if self.thread_ts else {}
        respond_with(
            self.respond, text=text, response_type="ephemeral", replace_original=False, **where
        )

    def post(self, item: Answer | Briefing, buttons: Buttons | None, shared_by: str) -> None:
        if isinstance(item, Briefing):
            messages = render_briefing(item, shared_by=shared_by)
        else:
            votes = _vote_value(buttons)
            messages = render_answer(item, show_question=True, asked_by=shared_by, vote_value=votes)
        public = lambda **m: respond_with(  # noqa: E731
            self.respond, response_type="in_channel", replace_original=False, **m
        )
        send_all(messages, public, public)

    def replace(self, text: str) -> None:
        respond_with(self.respond, text=text, response_type="ephemeral", replace_original=True)


def _vote_value(buttons: Buttons | None) -> str | None:
    return button_value(buttons) if buttons is not None and buttons.vote else None


def _share_value(buttons: Buttons | None) -> str | None:
    return button_value(buttons) if buttons is not None and buttons.share else None
