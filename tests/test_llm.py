"""The optional LLM writer, against a local HTTP double of an OpenAI-compatible API."""

from __future__ import annotations

import json
import logging
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from retrieval.engine import Engine
from tests.conftest import make_settings


class FakeLLM:
    def __init__(self) -> None:
        self.reply = ""
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.headers.append(dict(self.headers))
                if fake.reply == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                out = json.dumps({"choices": [{"message": {"content": fake.reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"


@pytest.fixture
def llm_engine(seed_engine, tmp_path):
    fake = FakeLLM()
    settings = make_settings(
        tmp_path, llm_url=fake.url, llm_model="tiny", llm_api_key="sk-secret-123"
    ).model_copy(update={"data_dir": seed_engine.settings.data_dir})
    engine = Engine(settings, store=seed_engine.store, query_encoder=seed_engine.query_encoder)
    yield engine, fake
    fake.server.shutdown()


Q = "What did Wallace say after meeting Shoigu?"


def test_llm_prose_keeps_the_extractive_citations(llm_engine, caplog):
    engine, fake = llm_engine
    fake.reply = (
        "Wallace said Russia would not invade Ukraine [2] and warned of tragic consequences [3]."
    )
    with caplog.at_level(logging.DEBUG):
        answer = engine.ask(Q, now=date(2022, 2, 11))
    assert answer.answer == fake.reply
    assert any("tragic consequences" in c.quote for c in answer.citations)
    prompt = fake.requests[0]["messages"][0]["content"]
    assert "[1]" in prompt and "Question (asked on 2022-02-11)" in prompt
    assert fake.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret-123" not in caplog.text and "sk-secret-123" not in repr(engine.writer)


@pytest.mark.parametrize(
    "reply",
    [
        "Wallace said Russia would invade [9].",  # a passage it was not given
        "Wallace said many things about the future of Europe and NATO.",  # no marker at all
        "500",  # the API fails
    ],
)
def test_ungrounded_or_failed_llm_answers_fall_back(llm_engine, reply):
    engine, fake = llm_engine
    fake.reply = reply
    answer = engine.ask(Q, now=date(2022, 2, 11))
    assert answer.answer != reply and "[1]" in answer.answer  # the extractive answer stands


def test_abstentions_never_reach_the_llm(llm_engine):
    engine, fake = llm_engine
    answer = engine.ask("What is the recipe for a good sourdough starter?")
    assert answer.abstained and fake.requests == []
