"""A fake Slack on localhost, for an app served over HTTP (tests/test_slack_app.py) or in
Socket Mode (`briefbot serve slack`, as tests/test_operations.py runs it).

`FakeSlack` answers the Web API methods the app calls and records every call, in order, and
every post to a response_url ("/response/<name>"); `apps.connections.open` hands out a ws://
address of the same server, whose websocket `push`es events to a connected app, as Slack sends
each event to one of an app's connections. `hold(predicate)` keeps matching calls (and
response_url posts) unanswered until `release()`: a post waiting out a rate limit, or a slow
one; `rate_limit(method)` answers the next call to `method` with a 429, as Slack does;
`refused` methods answer {"ok": false}.

`Slack` sends the app signed requests, as Slack sends them to an app's HTTP endpoint.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from itertools import count
from typing import Any

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

BOT_TOKEN = "xoxb-test-0000-secret-bot-token"
APP_TOKEN = "xapp-test-0000-secret-app-token"
SIGNING_SECRET = "test-signing-secret-do-not-log"
BOT_USER = "UBOT"
T0 = 1644660000  # 2022-02-12 10:00 UTC: the day after the seed article was published
TIMEOUT = 60.0


class FakeSlack:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.acks: list[str] = []  # the envelope ids Socket Mode apps acknowledged
        self.threads: dict[str, list[dict[str, Any]]] = {}  # thread ts -> its replies
        self.refused: set[str] = set()  # methods answered {"ok": false}
        self.held = 0
        self._cond = threading.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._ids = count(1)
        self._ts = count(1)
        self._hold: Callable[[str, dict[str, Any]], bool] | None = None
        self._rate_limited: set[str] = set()
        self.loop = asyncio.new_event_loop()
        self._released = asyncio.Event()
        started = threading.Event()
        threading.Thread(target=self._serve, args=(started,), daemon=True).start()
        if not started.wait(TIMEOUT):
            raise RuntimeError("the fake Slack did not start")
        self.api_url = f"http://127.0.0.1:{self.port}/api/"

    # -- the server -----------------------------------------------------------------------
    def _serve(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_get("/link", self._link)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        # Slack's requests come in bursts: the default backlog refused some of twenty at once.
        site = web.TCPSite(self.runner, "127.0.0.1", 0, backlog=128)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        started.set()
        self.loop.run_forever()

    @staticmethod
    async def _payload(request: web.Request) -> dict[str, Any]:
        raw = await request.text()
        if "json" in (request.content_type or ""):
            return json.loads(raw) if raw else {}
        payload = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
        payload.update(request.query)
        return payload

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        payload = await self._payload(request)
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if request.headers.get("Authorization", "") != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self._rate_limited:
            self._rate_limited.discard(method)
            self.record(f"{method}:429", payload)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        await self._held(method, payload)
        result = self.answer(method, payload)
        if "ts" in result and method in ("chat.postMessage", "chat.startStream"):
            payload["_ts"] = result["ts"]  # so that a test can find its chat.update
        self.record(method, payload)
        return web.json_response(result)

    async def _response(self, request: web.Request) -> web.Response:
        method, payload = f"/response/{request.match_info['name']}", await self._payload(request)
        await self._held(method, payload)
        self.record(method, payload)
        return web.Response(text="ok")

    async def _held(self, method: str, payload: dict[str, Any]) -> None:
        """Until `release()`, for a call `hold`'s predicate matches."""
        if self._hold is not None and self._hold(method, payload):
            with self._cond:
                self.held += 1
                self._cond.notify_all()
            await asyncio.wait_for(self._released.wait(), TIMEOUT)

    def answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method in self.refused:
            return {"ok": False, "error": "feature_not_enabled"}
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
                "team_id": "T1",
                "user": "bb",
            }
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link?n={next(self._ids)}"}
        if method in ("chat.postMessage", "chat.update"):
            ts = payload.get("ts") or f"{T0 + 1000}.{next(self._ts):06d}"
            return {"ok": True, "channel": payload.get("channel"), "ts": ts}
        if method == "chat.startStream":
            ts = f"{T0 + 2000}.{next(self._ts):06d}"
            return {"ok": True, "channel": payload.get("channel"), "ts": ts}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{T0 + 1000}.{next(self._ts):06d}"}
        if method == "conversations.replies":
            return {"ok": True, "messages": self.threads.get(payload.get("ts", ""), [])}
        return {"ok": True}

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}}
        await ws.send_str(json.dumps(hello))
        with self._cond:
            self._sockets.append(ws)
            self._cond.notify_all()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    envelope_id = json.loads(msg.data).get("envelope_id")
                    with self._cond:
                        self.acks.append(envelope_id)
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._sockets.remove(ws)
                self._cond.notify_all()
        return ws

    # -- what a test does -----------------------------------------------------------------
    def response_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/response/{name}"

    def record(self, method: str, payload: dict[str, Any]) -> None:
        with self._cond:
            self.calls.append((method, payload))
            self._cond.notify_all()

    def wait_connected(self, n: int = 1) -> None:
        self._wait(lambda: len(self._sockets) >= n, f"{n} connected apps")

    def push(self, event: dict[str, Any], to: int = 0) -> str:
        """Send an Events API event to the `to`-th connected app; its envelope id."""
        envelope_id = f"env-{next(self._ids)}"
        body = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
            "payload": envelope(event, f"Ev{envelope_id}"),
        }
        with self._cond:
            ws = self._sockets[to]
        asyncio.run_coroutine_threadsafe(ws.send_str(json.dumps(body)), self.loop).result(10)
        return envelope_id

    def mention(self, text: str, ts: str, channel: str = "C1", to: int = 0) -> str:
        return self.push(mention_event(text, ts, channel), to)

    def hold(self, predicate: Callable[[str, dict[str, Any]], bool]) -> None:
        self.loop.call_soon_threadsafe(self._released.clear)
        self._hold = predicate

    def release(self) -> None:
        self._hold = None
        self.loop.call_soon_threadsafe(self._released.set)

    def wait_held(self, n: int = 1) -> None:
        self._wait(lambda: self.held >= n, f"{n} held calls")

    def rate_limit(self, method: str) -> None:
        self._rate_limited.add(method)

    def where(self, method: str, **match: Any) -> list[dict[str, Any]]:
        with self._cond:
            return [
                p
                for m, p in self.calls
                if m == method and all(p.get(k) == v for k, v in match.items())
            ]

    def wait(self, method: str, n: int = 1, **match: Any) -> list[dict[str, Any]]:
        """The first `n` recorded calls to `method` whose fields equal `match`."""
        self._wait(lambda: len(self.where(method, **match)) >= n, f"{n} {method} {match}")
        return self.where(method, **match)

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited in vain for {what}")
                self._cond.wait(left)

    def close(self) -> None:
        self.release()
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


def envelope(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    """An Events API request carrying `event`."""
    return {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(event.get("ts", T0))),
        "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}],
    }


def mention_event(text: str, ts: str, channel: str = "C1", **extra: Any) -> dict[str, Any]:
    return {
        "type": "app_mention",
        "user": "U1",
        "text": f"<@{BOT_USER}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **extra,
    }


def signed(
    body: str, content_type: str, timestamp: int | None = None, signature: str | None = None
) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and its signature."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature
        or SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=stamp, body=body),
    }


class Slack:
    """Sends the app at `url` signed requests, as Slack would; the response_urls they carry
    are `fake`'s."""

    def __init__(self, url: str, fake: FakeSlack) -> None:
        self.url = url
        self.fake = fake
        self._ids = count(1)

    def post(
        self,
        body: str,
        content_type: str,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        sent = signed(body, content_type, timestamp, signature) | (headers or {})
        request = urllib.request.Request(self.url, body.encode(), sent, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def event(self, event: dict[str, Any], event_id: str | None = None, **kw: Any) -> int:
        body = json.dumps(envelope(event, event_id or f"Ev{next(self._ids)}"))
        return self.post(body, "application/json", **kw)[0]

    def mention(self, text: str, ts: str, channel: str = "C1", **extra: Any) -> dict[str, Any]:
        event = mention_event(text, ts, channel, **extra)
        assert self.event(event) == 200
        return event

    def dm(self, text: str, ts: str, channel: str = "D1", **extra: Any) -> dict[str, Any]:
        event = {
            "type": "message",
            "channel_type": "im",
            "channel": channel,
            "user": "U1",
            "text": text,
            "ts": ts,
            **extra,
        }
        assert self.event(event) == 200
        return event

    def command(
        self, command: str, text: str, channel: str = "C1", user: str = "U1"
    ) -> tuple[int, dict[str, Any], str]:
        """(status, the acknowledgement, the name of its response_url)."""
        name = f"{command.strip('/')}-{next(self._ids)}"
        form = {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": channel,
            "channel_name": "news",
            "user_id": user,
            "user_name": "alice",
            "command": command,
            "text": text,
            "api_app_id": "A1",
            "response_url": self.fake.response_url(name),
            "trigger_id": f"trigger-{name}",
        }
        status, body = self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")
        return status, json.loads(body) if body else {}, name

    def click(
        self, button: dict[str, Any], user: str = "U2", channel: str = "C1", **extra: Any
    ) -> str:
        """Press a button; the name of the response_url its replies go to."""
        name = f"action-{next(self._ids)}"
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": user},
            "api_app_id": "A1",
            "token": "legacy",
            "channel": {"id": channel},
            "container": {"type": "message", "channel_id": channel, "is_ephemeral": True},
            "trigger_id": f"trigger-{name}",
            "response_url": self.fake.response_url(name),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": "briefbot_answer",
                    "value": button["value"],
                    "action_ts": str(time.time()),
                }
            ],
            **extra,
        }
        body = urllib.parse.urlencode({"payload": json.dumps(payload)})
        status, _ = self.post(body, "application/x-www-form-urlencoded")
        assert status == 200
        return name


# -- reading what the app sent ----------------------------------------------------------------
def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A message's buttons, by action id."""
    blocks = message.get("blocks", [])
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


def texts(message: dict[str, Any]) -> list[str]:
    """The text of a message's sections and context lines, in order."""
    blocks = message.get("blocks", [])
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    out = []
    for b in blocks:
        if b["type"] == "section":
            out.append(b["text"]["text"])
        elif b["type"] == "context":
            out.extend(e["text"] for e in b["elements"])
    return out
