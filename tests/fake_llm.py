"""A local OpenAI-compatible chat completions server with scripted replies, for the tests.

It answers `POST /v1/chat/completions` as OpenAI, vLLM or llama.cpp's server do, streamed
(server-sent events, a few characters per event) or whole; records every request and its
headers; and can answer 429, 500, or not in time, to exercise the retries.

A request with a `response_format` (the verifier's judge asking for its structured judgement)
is answered by `judge` instead, a JSON object made per request, and recorded in `judged`, so
that `requests` holds the writer's requests alone.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from retrieval.engine import Engine
from tests.conftest import make_settings

CHUNK_CHARS = 7  # small pieces: sentences and markers arrive cut anywhere
KEY = "sk-secret-123"

# Scripted replies about the seed article, to the question below asked on 2022-02-11. Each
# GOOD sentence is what its passages say, in other words, with their numbers.
QUESTION = "What did Wallace say after meeting Shoigu?"
GOOD = [
    "Wallace said Russia gave assurances that it would not invade Ukraine [1][2].",
    "He warned of the tragic consequences any invasion of Ukraine could have for the security "
    "of Europe [3].",
]
FABRICATED_NUMBER = "Wallace said Russia has 200,000 troops near the border [1]."
SWAPPED_SPEAKER = "Sergei Shoigu said they would not invade Ukraine [1][2]."
NO_SUCH_PASSAGE = "Wallace also spoke with Gerasimov about the drills [7]."


def engine_with_model(seed_engine: Engine, fake: FakeLLM, tmp: Path, **settings: Any) -> Engine:
    """An engine on the seed's index that writes its answers with the fake's model (the key,
    KEY, must be in OPENAI_API_KEY); no pause between retries."""
    values: dict[str, Any] = {"llm": "openai:tiny", "llm_base_url": fake.url, "llm_timeout_s": 0.5}
    values.update(settings)
    config = make_settings(tmp, **values).model_copy(
        update={"data_dir": seed_engine.settings.data_dir}
    )
    engine = Engine(
        config, store=seed_engine.parts.store, query_encoder=seed_engine.parts.query_encoder
    )
    assert engine.writer is not None
    engine.writer.backoff_s = 0
    return engine


class FakeLLM:
    def __init__(self) -> None:
        self.reply: str | Callable[[dict[str, Any]], str] = ""  # the text, or made per request
        # The judge's answer to each sentence it is asked about (default: supported).
        self.judge: Callable[[dict[str, Any]], dict[str, Any] | str] = lambda body: {
            "supported": True,
            "reason": "",
        }
        self.judged: list[dict[str, Any]] = []
        self.failure: str | None = None  # "429", "500", "slow": every request fails so
        self.delay_s = 2.0  # how long a "slow" request waits before answering
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.released = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if "response_format" in body and fake.failure is None:
                    fake.judged.append(body)
                    verdict = fake.judge(body)
                    text = verdict if isinstance(verdict, str) else json.dumps(verdict)
                    self._json(200, _completion(text))
                    return
                fake.requests.append(body)
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if fake.failure == "slow":  # the client has given up by then
                    fake.released.wait(fake.delay_s)
                    self.close_connection = True
                    return
                if fake.failure in ("429", "500"):
                    self._json(int(fake.failure), {"error": {"message": "try later"}})
                    return
                reply = fake.reply(body) if callable(fake.reply) else fake.reply
                if body.get("stream"):
                    self._stream(reply)
                else:
                    self._json(200, _completion(reply))

            def _json(self, status: int, data: dict[str, Any]) -> None:
                out = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(out)

            def _stream(self, text: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                pieces = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
                for k, piece in enumerate(pieces):
                    delta = {"content": piece} | ({"role": "assistant"} if k == 0 else {})
                    self._event(_chunk(delta, None))
                self._event(_chunk({}, "stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"

    def prompt(self, k: int = 0) -> str:
        """The k-th request's messages, as one text."""
        return "\n".join(m["content"] for m in self.requests[k]["messages"])

    @staticmethod
    def judged_sentence(body: dict[str, Any]) -> str:
        """The sentence a judge's request asks about."""
        return body["messages"][-1]["content"].rsplit("Sentence: ", 1)[1].strip()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "tiny",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def _chunk(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": "tiny",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
