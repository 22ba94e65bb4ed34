"""A fake Slack for an app in Socket Mode, as `briefbot serve slack` (the compose service) meets
it: the Web API over HTTP and the events over a websocket, both on localhost.

The app is pointed at it with BRIEFBOT_SLACK_API_URL; `apps.connections.open` hands it a ws://
address of this server (slack_sdk talks plain websocket to a port other than 443). Events are
pushed to one connected app, as Slack sends each event to one of an app's connections; every Web
API call is recorded. `hold(predicate)` keeps matching calls unanswered until `release()`;
`rate_limit(method)` answers the next call to `method` with a 429, as Slack does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from itertools import count
from typing import Any

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-0000-secret-bot-token"
APP_TOKEN = "xapp-test-0000-secret-app-token"
BOT_USER = "UBOT"
TIMEOUT = 60.0


class SlackSocketFake:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.acks: list[str] = []
        self._cond = threading.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._ids = count(1)
        self._ts = count(1)
        self._hold: Callable[[str, dict[str, Any]], bool] | None = None
        self._released = threading.Event()
        self.held = 0
        self._rate_limited: set[str] = set()
        self.loop = asyncio.new_event_loop()
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
        app.router.add_get("/link", self._link)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()
        self.loop.run_forever()

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if "json" in (request.content_type or ""):
            payload = json.loads(raw) if raw else {}
        else:
            payload = {k: v[-1] for k, v in urllib.parse.parse_qs(raw).items()}
            payload.update(request.query)
        auth = request.headers.get("Authorization", "")
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if auth != f"Bearer {token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        if method in self._rate_limited:
            self._rate_limited.discard(method)
            self.record(f"{method}:429", payload)
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        if self._hold is not None and self._hold(method, payload):
            with self._cond:
                self.held += 1
                self._cond.notify_all()
            await self.loop.run_in_executor(None, self._released.wait, TIMEOUT)
        result = self.answer(method, payload)
        self.record(method, payload)
        return web.json_response(result)

    def answer(self, method: str, payload: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER, "bot_id": "BBOT", "team_id": "T1"}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link?n={next(self._ids)}"}
        if method in ("chat.postMessage", "chat.update"):
            ts = payload.get("ts") or f"1644661000.{next(self._ts):06d}"
            return {"ok": True, "channel": payload.get("channel"), "ts": ts}
        if method == "conversations.replies":
            return {"ok": True, "messages": []}
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
            "payload": {
                "token": "legacy",
                "team_id": "T1",
                "api_app_id": "A1",
                "event": event,
                "type": "event_callback",
                "event_id": f"Ev{envelope_id}",
                "event_time": int(float(event["ts"])),
                "authorizations": [{"team_id": "T1", "user_id": BOT_USER, "is_bot": True}],
            },
        }
        with self._cond:
            ws = self._sockets[to]
        asyncio.run_coroutine_threadsafe(ws.send_str(json.dumps(body)), self.loop).result(10)
        return envelope_id

    def mention(self, text: str, ts: str, channel: str = "C1", to: int = 0) -> str:
        return self.push(
            {
                "type": "app_mention",
                "user": "U1",
                "text": f"<@{BOT_USER}> {text}",
                "ts": ts,
                "channel": channel,
                "event_ts": ts,
            },
            to,
        )

    def hold(self, predicate: Callable[[str, dict[str, Any]], bool]) -> None:
        self._released.clear()
        self._hold = predicate

    def release(self) -> None:
        self._hold = None
        self._released.set()

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
        self._wait(lambda: len(self.where(method, **match)) >= n, f"{n} {method} {match}")
        return self.where(method, **match)

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        with self._cond:
            while not done():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"waited in vain for {what}")
                self._cond.wait(min(left, 0.5))

    def close(self) -> None:
        self._released.set()
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
