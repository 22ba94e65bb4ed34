"""The Slack adapter: Bolt listeners that turn Slack payloads into engine calls.

Everything the bot says comes from the engine's Answer and Briefing objects, rendered by
`bot.render_slack`. Listeners only acknowledge and hand the work to a thread pool: every Web API
call (the "Searching…" message included) is made there, so that Slack's three-second
acknowledgement never waits on the engine, nor on a post waiting out a rate limit. The same app
serves Socket Mode (`run(..., http=False)`) and the Events API over HTTP at /slack/events.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App, BoltContext
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_bolt.error import BoltError
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.events import SeenEvents
from bot.render_slack import (
    ACTION_SHARE,
    ACTION_VOTE_DOWN,
    ACTION_VOTE_UP,
    Message,
    escape,
    escape_clipped,
    notice,
    render_answer,
    render_briefing,
)
from retrieval.answering.timewindow import is_moment, parse_moment
from retrieval.config import Settings
from retrieval.errors import BriefbotError, QuestionError, SettingsError
from retrieval.feedback import FeedbackStore
from retrieval.models import Answer, Briefing

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger(__name__)

WORKERS = 8  # answers computed and posted at once; acknowledgements never wait on these
LISTENER_THREADS = 16  # Bolt's: they only acknowledge and queue work, so a few keep up
BUTTON_VALUE_LIMIT = 2000  # Slack's limit on a button's value
RECENT_RESULTS = 1000
DEFAULT_WINDOW = timedelta(hours=24)

SEARCHING = "Searching…"
APOLOGY = "Sorry, something went wrong while answering. (error id {error_id})"
DECLINE = "Sorry, I don't answer in this conversation. An admin can enable it for me."
ASK_USAGE = "Usage: `/ask <question>`, for example `/ask What did Wallace say in Moscow?`"
BRIEF_USAGE = (
    "Usage: `/brief [topic] [since]`, for example `/brief ukraine 7d` "
    "(since: 24h, 7d, 2w or a date)."
)
MENTION_HINT = "Mention me with a question, for example “@briefbot what did Wallace say in Moscow?”"

_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


# -- helpers ----------------------------------------------------------------------------------
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
    since = now - DEFAULT_WINDOW
    for at in (-1, 0):
        if not words:
            break
        moment = _moment(words[at], now)
        if moment is not None:
            since = moment
            words.pop(at)
            break
    return (" ".join(words) or None), since


def _moment(word: str, now: datetime) -> datetime | None:
    return parse_moment(word, now, "since") if is_moment(word) else None


class Recent:
    """A bounded, thread-safe map of recent items: the oldest are forgotten first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, key: str, item: Any) -> None:
        with self._lock:
            self._put(key, item)

    def _put(self, key: str, item: Any) -> None:
        self._items[key] = item
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def get(self, key: Any) -> Any:
        with self._lock:
            return self._items.get(key) if isinstance(key, str) else None

    def add_new(self, key: str) -> bool:
        """Remember `key`; False if it was already there (a second vote)."""
        with self._lock:
            if key in self._items:
                return False
            self._put(key, True)
            return True

    def discard(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)


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
        raise BriefbotError("This button no longer works. Ask the question again.")
    return fields


# -- the listeners ----------------------------------------------------------------------------
@dataclass
class Turn:
    """A question asked in a conversation (a mention, or a direct message)."""

    channel: str
    ts: str  # the question's own message
    parent: str | None  # the thread it was asked in, if any
    reply_ts: str | None  # the thread the answer goes in (None: the DM itself)
    question: str
    bot_user_id: str | None
    dm: bool
    placeholder: str | None = None  # the "Searching…" message the answer replaces


class SlackBot:
    """The handlers: each acknowledges at once and leaves all other work, Slack's Web API calls
    included, to a thread pool."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        feedback: FeedbackStore,
        seen: SeenEvents,
        workers: int = WORKERS,
    ) -> None:
        self.engine = engine
        self.feedback = feedback
        self.seen = seen  # messages already answered, by any process (Slack redelivers)
        self.allowed = settings.allowed_slack_channels
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="briefbot-slack")
        self.results = Recent(RECENT_RESULTS)  # what a button refers to: Answer or Briefing
        self._voted = Recent(RECENT_RESULTS)  # one vote per person per answer

    def register(self, app: App) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.command("/ask")(self.on_ask)
        app.command("/brief")(self.on_brief)
        app.action(ACTION_VOTE_UP)(self.on_vote)
        app.action(ACTION_VOTE_DOWN)(self.on_vote)
        app.action(ACTION_SHARE)(self.on_share)

    def is_allowed(self, channel: str) -> bool:
        return not self.allowed or channel in self.allowed

    def _submit(self, fn: Callable[..., None], *args: Any) -> None:
        future = self.pool.submit(fn, *args)
        # _guard catches everything it can; this catches what escaped it, so it is logged.
        future.add_done_callback(_log_failure)

    @contextmanager
    def _guard(self, reply: Callable[[str], Any]) -> Iterator[None]:
        """User-actionable errors are shown as they are; anything else gets an apology with an
        id that the log's traceback also carries."""
        try:
            yield
        except BriefbotError as exc:
            self._try(reply, str(exc))
        except Exception:
            error_id = uuid.uuid4().hex[:8]
            log.exception("error id %s while answering", error_id)
            self._try(reply, APOLOGY.format(error_id=error_id))

    @staticmethod
    def _try(reply: Callable[[str], Any], text: str) -> None:
        try:
            reply(text)
        except Exception:
            log.exception("could not deliver a reply to Slack")

    # -- mentions and direct messages ---------------------------------------------------------
    def on_mention(self, event: dict, context: BoltContext, client: WebClient) -> None:
        # Another bot's message is no question: answering it, two bots could talk forever.
        if event.get("bot_id") or event.get("subtype") == "bot_message":
            log.debug("not answering a bot's mention in %s", event.get("channel"))
            return
        self._submit(self._converse, event, context.bot_user_id, client, False)

    def on_message(self, event: dict, context: BoltContext, client: WebClient) -> None:
        # Only direct messages; edits, joins and bots' messages are not questions.
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        self._submit(self._converse, event, context.bot_user_id, client, True)

    def _converse(self, event: dict, bot_user_id: str | None, client: WebClient, dm: bool) -> None:
        channel, ts = event["channel"], event["ts"]
        # Keyed by the message, not the event id: a retry carries the same message.
        if not self.seen.claim(f"slack/{channel}/{ts}"):
            log.debug("%s/%s was already answered; not answering it again", channel, ts)
            return
        parent = event.get("thread_ts")
        # In a channel the answer goes in the mention's thread; a DM is answered in place.
        turn = Turn(
            channel=channel,
            ts=ts,
            parent=parent,
            reply_ts=parent or (None if dm else ts),
            question=plain_text(event.get("text", ""), bot_user_id),
            bot_user_id=bot_user_id,
            dm=dm,
        )
        if not self.is_allowed(channel):
            self._decline(client, turn, event.get("user", ""))
            return
        try:
            reply = client.chat_postMessage(
                channel=channel, thread_ts=turn.reply_ts, text=SEARCHING
            )
            turn.placeholder = reply["ts"]
        except SlackApiError as exc:
            log.warning("could not post the 'Searching…' message: %s", exc.response.get("error"))
        self._answer_turn(client, turn)

    def _decline(self, client: WebClient, turn: Turn, user: str) -> None:
        try:
            if turn.dm:
                client.chat_postMessage(channel=turn.channel, **notice(DECLINE))
            else:
                client.chat_postEphemeral(
                    channel=turn.channel, user=user, thread_ts=turn.reply_ts, **notice(DECLINE)
                )
        except SlackApiError as exc:
            log.warning("could not decline in %s: %s", turn.channel, exc.response.get("error"))

    def _answer_turn(self, client: WebClient, turn: Turn) -> None:
        def post(messages: list[Message]) -> None:
            first, *rest = messages
            if turn.placeholder:
                client.chat_update(channel=turn.channel, ts=turn.placeholder, **first)
            else:
                client.chat_postMessage(channel=turn.channel, thread_ts=turn.reply_ts, **first)
            for message in rest:
                client.chat_postMessage(channel=turn.channel, thread_ts=turn.reply_ts, **message)

        def reply(text: str) -> None:
            post([notice(f"{text} {MENTION_HINT}" if not turn.question else text)])

        with self._guard(reply):
            context = self._thread_context(client, turn)
            now = slack_time(turn.ts)
            answer = self.engine.ask(turn.question, now=now, context=context)
            value = self._remember_answer(answer, now, context)
            post(render_answer(answer, vote_value=value))
            log.info(
                "answered in %s: %d citations, %.0f ms",
                turn.channel,
                len(answer.citations),
                answer.timing_ms.get("total", 0),
            )

    def _thread_context(self, client: WebClient, turn: Turn) -> str:
        """The thread's earlier questions (to the bot), so that a follow-up is understood."""
        if not turn.parent:
            return ""
        try:
            replies = client.conversations_replies(channel=turn.channel, ts=turn.parent, limit=100)
        except SlackApiError as exc:
            error = exc.response.get("error")
            log.warning("could not read the thread, answering without context: %s", error)
            return ""
        earlier = [
            m
            for m in replies.get("messages") or []
            if float(m.get("ts", "0")) < float(turn.ts)
            and not m.get("bot_id")
            and m.get("user") != turn.bot_user_id
            and not m.get("subtype")
        ]
        mention = f"<@{turn.bot_user_id}"
        asked = earlier if turn.dm else [m for m in earlier if mention in m.get("text", "")]
        # A thread the bot was called into: its opening message is what it is about.
        chosen = asked[-3:] or earlier[:1]
        questions = (plain_text(m.get("text", ""), turn.bot_user_id) for m in chosen)
        return " ".join(q for q in questions if q)

    # -- slash commands -----------------------------------------------------------------------
    def on_ask(self, ack: Ack, command: dict, respond: Respond) -> None:
        if not self.is_allowed(command.get("channel_id", "")):
            _ack_privately(ack, DECLINE)
            return
        try:
            question = self.engine.check_question(plain_text(command.get("text", "")))
        except QuestionError as exc:
            _ack_privately(ack, f"{escape(str(exc))} {ASK_USAGE}")
            return
        _ack_privately(ack, f"{SEARCHING} _{escape_clipped(question, 2900)}_")
        self._submit(self._answer_privately, question, datetime.now(UTC), respond)

    def _answer_privately(self, question: str, now: datetime, respond: Respond) -> None:
        def send(messages: list[Message]) -> None:
            for i, message in enumerate(messages):
                _respond(respond, response_type="ephemeral", replace_original=i == 0, **message)

        with self._guard(lambda text: send([notice(text)])):
            answer = self.engine.ask(question, now=now)
            value = self._remember_answer(answer, now, "")
            send(render_answer(answer, show_question=True, vote_value=value, share_value=value))

    def on_brief(self, ack: Ack, command: dict, respond: Respond) -> None:
        if not self.is_allowed(command.get("channel_id", "")):
            _ack_privately(ack, DECLINE)
            return
        now = datetime.now(UTC)
        try:
            topic, since = parse_brief_args(plain_text(command.get("text", "")), now)
            if topic:
                topic = self.engine.check_question(topic)
        except BriefbotError as exc:
            _ack_privately(ack, f"{escape(str(exc))} {BRIEF_USAGE}")
            return
        _ack_privately(ack, "Preparing the briefing…")
        self._submit(self._brief_privately, topic, since, now, respond)

    def _brief_privately(
        self, topic: str | None, since: datetime, until: datetime, respond: Respond
    ) -> None:
        def send(messages: list[Message]) -> None:
            for i, message in enumerate(messages):
                _respond(respond, response_type="ephemeral", replace_original=i == 0, **message)

        with self._guard(lambda text: send([notice(text)])):
            briefing = self.engine.brief(since, until, topic=topic)
            key = uuid.uuid4().hex[:12]
            self.results.put(key, briefing)
            value = encode_value(
                {
                    "k": key,
                    "kind": "brief",
                    "s": since.isoformat(),
                    "u": until.isoformat(),
                    "topic": topic,
                }
            )
            send(render_briefing(briefing, share_value=None if briefing.empty else value))

    # -- buttons ------------------------------------------------------------------------------
    def _remember_answer(self, answer: Answer, now: datetime, context: str) -> str | None:
        """The value the answer's buttons carry: enough to find it again, or to re-ask."""
        if answer.abstained or not answer.citations:
            return None
        key = uuid.uuid4().hex[:12]
        self.results.put(key, answer)
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

    def _recall(self, fields: dict[str, Any]) -> Answer | Briefing:
        """The answer or briefing a button refers to; after a restart, asked again as it was."""
        hit = self.results.get(fields.get("k"))
        if hit is not None:
            return hit
        try:
            if fields.get("kind") == "brief":
                since, until = (
                    datetime.fromisoformat(fields["s"]),
                    datetime.fromisoformat(fields["u"]),
                )
                return self.engine.brief(since, until, topic=fields.get("topic"))
            now = datetime.fromtimestamp(float(fields["t"]), UTC)
            return self.engine.ask(fields["q"], now=now, context=fields.get("c", ""))
        except (KeyError, TypeError, ValueError):
            raise BriefbotError("This button no longer works. Ask the question again.") from None

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

        with self._guard(tell):
            fields = _decode_value(action.get("value", ""))
            user = body["user"]["id"]
            ballot = f"{fields.get('k')}/{user}"
            if not self._voted.add_new(ballot):  # before the write: a double click counts once
                tell("You have already voted on this answer.")
                return
            try:
                answer = self._recall(fields)
                if not isinstance(answer, Answer):
                    raise BriefbotError("This button no longer works.")
                vote = 1 if action["action_id"] == ACTION_VOTE_UP else -1
                ids = fields.get("ids") or [c.article_id for c in answer.citations]
                self.feedback.record(
                    platform="slack",
                    user_id=user,
                    vote=vote,
                    question=answer.question,
                    answer=answer.answer,
                    article_ids=[str(i) for i in ids],
                )
            except BaseException:
                self._voted.discard(ballot)  # not recorded: the user may try again
                raise
            tell(f"Thanks: your {'👍' if vote > 0 else '👎'} is recorded.")

    def on_share(self, ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        self._submit(self._share, body, action, respond)

    def _share(self, body: dict, action: dict, respond: Respond) -> None:
        def tell(text: str) -> None:
            _respond(respond, text=text, response_type="ephemeral", replace_original=False)

        with self._guard(tell):
            value = action.get("value", "")
            fields = _decode_value(value)
            result = self._recall(fields)
            user = body["user"]["id"]
            if isinstance(result, Briefing):
                messages = render_briefing(result, shared_by=user)
            else:
                messages = render_answer(
                    result, show_question=True, asked_by=user, vote_value=value
                )
            for message in messages:
                _respond(respond, response_type="in_channel", replace_original=False, **message)
            _respond(
                respond,
                text="Shared in the channel.",
                response_type="ephemeral",
                replace_original=True,
            )


def _ack_privately(ack: Ack, text: str) -> None:
    """A slash command's immediate reply: seen only by whoever typed the command."""
    ack(text=text, response_type="ephemeral")


def _log_failure(future: Future[None]) -> None:
    exc = future.exception()
    if exc is not None:
        log.error("background work failed", exc_info=exc)


def _respond(respond: Respond, **message: Any) -> None:
    response = respond(**message)
    if response.status_code != 200:
        raise RuntimeError(
            f"Slack's response_url answered {response.status_code}: {response.body[:200]}"
        )


# -- scheduled briefings ----------------------------------------------------------------------
def post_briefing(client: WebClient, channel: str, briefing: Briefing | str) -> None:
    """Post a scheduled briefing to a channel; a string ("Nothing new…") is one plain line."""
    messages = [notice(briefing)] if isinstance(briefing, str) else render_briefing(briefing)
    for message in messages:
        client.chat_postMessage(channel=channel, unfurl_links=False, **message)


# -- the app ----------------------------------------------------------------------------------
def make_client(settings: Settings) -> WebClient:
    base_url = settings.slack_api_url.rstrip("/") + "/"
    client = WebClient(token=settings.slack_bot_token.get_secret_value() or None, base_url=base_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    return client


class _NotUnused(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN "will be unused" when it is given a client, whenever that
    variable is in the environment. It is used: the client carries it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def build_app(
    settings: Settings,
    engine: Engine,
    feedback_store: FeedbackStore,
    client: WebClient | None = None,
) -> App:
    """The Bolt app with briefbot's listeners; the same for Socket Mode and HTTP.

    Building it calls Slack's auth.test once, to learn the bot's own user id.
    """
    bolt_log = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _NotUnused) for f in bolt_log.filters):
        bolt_log.addFilter(_NotUnused())
    app = App(
        name="briefbot",
        client=client or make_client(settings),
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        listener_executor=ThreadPoolExecutor(LISTENER_THREADS, thread_name_prefix="briefbot-bolt"),
    )
    seen = SeenEvents.in_data_dir(settings.data_dir)
    SlackBot(settings, engine, feedback_store, seen).register(app)
    return app


def check_settings(settings: Settings, http: bool) -> None:
    """Name the missing setting before anything connects."""
    if not settings.slack_bot_token.get_secret_value():
        raise SettingsError(
            "SLACK_BOT_TOKEN is not set: the bot token (xoxb-…) from the app's OAuth page."
        )
    if not settings.slack_bot_token.get_secret_value().startswith("xoxb-"):
        raise SettingsError("SLACK_BOT_TOKEN should be a bot token, starting with xoxb-.")
    if http:
        if not settings.slack_signing_secret.get_secret_value():
            raise SettingsError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode needs it to verify Slack's requests "
                "(Basic Information → Signing Secret)."
            )
        return
    token = settings.slack_app_token.get_secret_value()
    if not token:
        raise SettingsError(
            "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-…) with "
            "connections:write. Or serve over HTTP with --http."
        )
    if not token.startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN should be an app-level token, starting with xapp-.")


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow client never holds up another request
    request_queue_size = 128  # Slack's requests come in bursts; the default of 5 refused some


class _LoggingHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        log.debug("%s %s", self.address_string(), format % args)


def serve_http(app: App, port: int, host: str = "0.0.0.0") -> WSGIServer:
    """A threaded HTTP server for the app at /slack/events; call `serve_forever()` on it.

    Bolt verifies each request's signature and timestamp and answers 401 before any listener.
    """
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    return make_server(
        host,
        port,
        SlackRequestHandler(app),
        server_class=_ThreadingWSGIServer,
        handler_class=_LoggingHandler,
    )


def run(
    settings: Settings,
    engine: Engine,
    http: bool,
    port: int = 3000,
    host: str = "0.0.0.0",
    on_start: Callable[[], None] | None = None,
) -> None:
    """Serve Slack until interrupted: Socket Mode, or the Events API over HTTP with `http`.
    `on_start()` runs once Slack has accepted the token (the CLI starts the schedules there)."""
    check_settings(settings, http)
    t = time.perf_counter()
    engine.snapshot()  # load the index now rather than on the first question
    log.info("index loaded in %.1f s", time.perf_counter() - t)
    feedback = FeedbackStore.in_data_dir(settings.data_dir)
    try:
        app = build_app(settings, engine, feedback)
    except BoltError as exc:
        raise SettingsError(f"Slack refused SLACK_BOT_TOKEN ({_api_error(exc)}).") from None
    except OSError as exc:
        raise SettingsError(f"Could not reach Slack at {settings.slack_api_url}: {exc}") from None
    if on_start is not None:
        on_start()
    if http:
        server = serve_http(app, port, host)
        log.info(
            "serving Slack's Events API at http://%s:%d/slack/events", host, server.server_port
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    log.info("connecting to Slack in Socket Mode")
    SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()


def _api_error(exc: BoltError) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, SlackApiError):
        return str(cause.response.get("error"))
    return "auth.test failed"
