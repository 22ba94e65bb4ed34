"""How fast Slack's requests are acknowledged: N concurrent /ask, with and without a rate limit.

    python bench/slack_ack.py [--asks 20] [--mentions 24] [--retry-after 5]

The app is served over HTTP on localhost, with the real engine on the seed article, and talks
to a fake Slack Web API (a local HTTP server). Each /ask is a signed request; its latency is
from sending it to Bolt's HTTP response (Slack allows 3 s), and "answered" is until its answer
reached the response_url.

Scenarios:
  plain         the /asks alone;
  rate-limited  chat.postMessage answers 429 with Retry-After for `--retry-after` seconds, and
                `--mentions` mentions (more than Bolt's listener threads) are waiting for their
                "Searching…" posts when the /asks are sent.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count
from pathlib import Path
from typing import Any

from _common import ROOT, percentile
from slack_sdk.signature import SignatureVerifier

from bot.conversation import Conversation
from bot.slack.app import build_app
from bot.slack.http_server import serve_http
from bot.slack.listeners import LISTENER_THREADS
from bot.slack.settings import SlackSettings
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.events import SeenEvents
from retrieval.feedback import FeedbackStore
from retrieval.index.embedding import NumpyEncoder

TOKEN = "xoxb-bench"
SECRET = "bench-signing-secret"
QUESTIONS = [
    "What did Ben Wallace tell reporters in Moscow?",
    "What did Wallace say about the Minsk agreement?",
    "What naval exercises is Russia planning?",
    "How do I bake a loaf of rye bread?",
]


class FakeWebApi:
    """Answers the Web API calls the app makes; records when each response_url post arrives."""

    def __init__(self) -> None:
        self.limited_until = 0.0  # chat.postMessage answers 429 until then (time.monotonic)
        self.answered: dict[str, float] = {}
        self.rate_limited = 0
        self._lock = threading.Lock()
        self._ts = count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.startswith("/response/"):
                    with fake._lock:
                        fake.answered[self.path.rsplit("/", 1)[1]] = time.monotonic()
                    return self._reply(200, b"ok", {})
                method = self.path.removeprefix("/api/")
                left = fake.limited_until - time.monotonic()
                if method == "chat.postMessage" and left > 0:
                    with fake._lock:
                        fake.rate_limited += 1
                    body = json.dumps({"ok": False, "error": "ratelimited"}).encode()
                    return self._reply(429, body, {"Retry-After": str(math.ceil(left))})
                result = {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"}
                result["ts"] = f"1644661000.{next(fake._ts):06d}"
                self._reply(200, json.dumps(result).encode(), {})

            def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Sender:
    """Signed requests to the app, as Slack sends them."""

    def __init__(self, url: str, fake: FakeWebApi) -> None:
        self.url, self.fake = url, fake
        self.signer = SignatureVerifier(SECRET)
        self._ids = count(1)

    def post(self, body: str, content_type: str) -> int:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.signer.generate_signature(timestamp=stamp, body=body),
        }
        request = urllib.request.Request(self.url, body.encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                response.read()
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    def ask(self, question: str) -> tuple[str, int, float, float]:
        """(name, HTTP status, sent at, acknowledged at)."""
        name = f"ask-{next(self._ids)}"
        form = {
            "command": "/ask",
            "text": question,
            "channel_id": "C1",
            "user_id": "U1",
            "team_id": "T1",
            "response_url": f"{self.fake.url}/response/{name}",
        }
        sent = time.monotonic()
        status = self.post(urllib.parse.urlencode(form), "application/x-www-form-urlencoded")
        return name, status, sent, time.monotonic()

    def mention(self, question: str) -> int:
        n = next(self._ids)
        ts = f"{1644660000 + n}.000100"
        event = {"type": "app_mention", "user": "U1", "text": f"<@UBOT> {question}"}
        event |= {"ts": ts, "event_ts": ts, "channel": "C1"}
        body = {"type": "event_callback", "team_id": "T1", "event_id": f"Ev{n}", "event": event}
        return self.post(json.dumps(body), "application/json")


def scenario(sender: Sender, asks: int) -> str:
    with ThreadPoolExecutor(asks) as pool:
        results = list(pool.map(lambda i: sender.ask(QUESTIONS[i % len(QUESTIONS)]), range(asks)))
    acks = [(done - sent) * 1000 for _, _, sent, done in results]
    refused = sum(status != 200 for _, status, _, _ in results)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(n not in sender.fake.answered for n, *_ in results):
        time.sleep(0.05)
    answered = [
        sender.fake.answered[n] - sent for n, _, sent, _ in results if n in sender.fake.answered
    ]
    return (
        f"ack ms p50 {percentile(acks, 50):.0f} · p95 {percentile(acks, 95):.0f} · "
        f"max {max(acks):.0f} · not 200: {refused}/{asks} · over 3 s: "
        f"{sum(a > 3000 for a in acks)}/{asks} | answered s p50 "
        f"{percentile(answered, 50):.1f} · max {max(answered, default=float('nan')):.1f} "
        f"({len(answered)}/{asks})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--asks", type=int, default=20)
    parser.add_argument("--mentions", type=int, default=LISTENER_THREADS + 8)
    parser.add_argument("--retry-after", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        fake = FakeWebApi()
        settings = Settings(_env_file=None, data_dir=Path(tmp))
        slack = SlackSettings(
            _env_file=None,
            slack_bot_token=TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=f"{fake.url}/api/",
        )
        encoder = NumpyEncoder(settings.resolved_model_path)
        engine = Engine(settings, query_encoder=encoder, document_encoder=encoder)
        engine.ingest([ROOT / "seeds"])
        engine.ask(QUESTIONS[0])  # warm
        data = settings.data_dir
        conversation = Conversation(
            engine, FeedbackStore.in_data_dir(data), SeenEvents.in_data_dir(data)
        )
        app = build_app(slack, conversation)
        server = serve_http(app, port=0, host="127.0.0.1")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sender = Sender(f"http://127.0.0.1:{server.server_port}/slack/events", fake)

        print(f"{args.asks} concurrent /ask; the engine on the seed article")
        print(f"  plain         {scenario(sender, args.asks)}")
        fake.limited_until = time.monotonic() + args.retry_after
        statuses = [sender.mention(QUESTIONS[1]) for _ in range(args.mentions)]
        line = scenario(sender, args.asks)
        print(
            f"  rate-limited  {line}\n"
            f"                ({args.mentions} mentions first, acknowledged "
            f"{statuses.count(200)}/{args.mentions}; chat.postMessage 429 for "
            f"{args.retry_after} s, {fake.rate_limited} times)"
        )
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
