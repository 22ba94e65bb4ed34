"""The processes deploy/compose.yaml starts, run from its own command lines and environment,
against a real `chroma run` server, the real engine and a fake Slack on localhost (Socket Mode:
the Web API and the websocket): health, metrics, logs, SIGTERM, two replicas.

Only what compose sets for a container's world is replaced: the Chroma URL, the data directory
and the health port (free ones here), and the Slack API's address.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.conversation import HANDED_BACK, SEARCHING
from retrieval.config import PROJECT_ROOT
from retrieval.engine import Engine
from retrieval.news.schedulestate import ScheduleState
from tests.conftest import SEEDS, make_settings
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN
from tests.fakes.slack import FakeSlack as SlackSocketFake

COMPOSE = PROJECT_ROOT / "deploy" / "compose.yaml"
TIMEOUT = 120.0
T0 = 1644660000  # 2022-02-12 10:00 UTC, the day after the seed article
SCHEDULE = "morning"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_service(name: str) -> tuple[list[str], dict[str, str]]:
    """A service's command and environment, as compose reads them (`${X:-default}` too)."""
    service = yaml.safe_load(COMPOSE.read_text())["services"][name]

    def interpolate(value: Any) -> str:
        return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: os.environ.get(m[1], m[2]), str(value))

    env = {k: interpolate(v) for k, v in service.get("environment", {}).items()}
    return list(service["command"]), env


class Deployment:
    """One deployment's world: a collection on the shared Chroma server, a data directory (the
    compose volume), a configuration folder (the container's /etc/briefbot)."""

    def __init__(self, chroma_url: str, root: Path) -> None:
        self.chroma_url = chroma_url
        self.root = root
        self.data = root / "data"
        self.config = root / "config"
        self.config.mkdir(parents=True)
        self.collection = f"ops-{uuid.uuid4().hex[:10]}"
        self.procs: list[subprocess.Popen] = []

    def settings(self) -> Any:
        return make_settings(self.data, chroma_url=self.chroma_url, collection=self.collection)

    def seed(self, numpy_encoder: Any) -> None:
        """The seed article indexed beforehand (the served processes then load no torch)."""
        engine = Engine(
            self.settings(), query_encoder=numpy_encoder, document_encoder=numpy_encoder
        )
        assert engine.ingest([SEEDS]).added == 1

    def env(self, service: str, **extra: str) -> dict[str, str]:
        _, compose_env = compose_service(service)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BRIEFBOT_", "SLACK_", "DISCORD_"))
        }
        env.update(compose_env)
        env.update(
            BRIEFBOT_CHROMA_URL=self.chroma_url,
            BRIEFBOT_DATA_DIR=str(self.data),
            BRIEFBOT_HEALTH_HOST="127.0.0.1",
            BRIEFBOT_HEALTH_PORT=str(free_port()),
            BRIEFBOT_COLLECTION=self.collection,
            BRIEFBOT_SEEDS_DIR=str(self.root / "no-seeds"),
            HF_HUB_OFFLINE="1",
            PYTHONPATH=str(PROJECT_ROOT),
        )
        env.update(extra)
        return env

    def start(self, service: str, **extra: str) -> Process:
        command, _ = compose_service(service)
        env = self.env(service, **extra)
        log = self.root / f"{service}-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command],
            env=env,
            cwd=self.config,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "w"),  # noqa: SIM115 (closed with the process)
        )
        self.procs.append(proc)
        return Process(proc, log, int(env["BRIEFBOT_HEALTH_PORT"]))

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)


class Process:
    def __init__(self, proc: subprocess.Popen, log: Path, port: int) -> None:
        self.proc = proc
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def logs(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_log(self, text: str, n: int = 1) -> None:
        deadline = time.monotonic() + TIMEOUT
        while sum(text in e["message"] for e in self.logs()) < n:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line {text!r}: {self.log.read_text()}")
            time.sleep(0.2)

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def wait_healthy(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                status, body = self.get("/health")
                if status == 200:
                    return json.loads(body)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"never healthy: {self.log.read_text()}")
            time.sleep(0.2)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(TIMEOUT)


@pytest.fixture
def deployment(chroma_server_url: str, tmp_path: Path):
    d = Deployment(chroma_server_url, tmp_path)
    yield d
    d.close()


@pytest.fixture
def slack():
    fake = SlackSocketFake()
    yield fake
    fake.close()


def slack_env(fake: SlackSocketFake, **extra: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": APP_TOKEN,
        "BRIEFBOT_SLACK_API_URL": fake.api_url,
        **extra,
    }


def metrics(process: Process) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body = process.get("/metrics")
    assert status == 200, body
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def answers(fake: SlackSocketFake) -> list[dict[str, Any]]:
    """The answers sent: each replaces its "Searching…" placeholder."""
    return [p for p in fake.where("chat.update") if p.get("text") != SEARCHING]


# -- each service starts only when it has something to do ------------------------------------
@pytest.mark.parametrize(
    ("service", "says"),
    [
        ("slack", "slack: no token set, not served"),
        ("discord", "discord: no token set, not served"),
        ("watcher", "nothing to watch"),
    ],
)
def test_an_unconfigured_service_exits_at_once_with_status_0(deployment, service, says):
    process = deployment.start(service)
    assert process.proc.wait(TIMEOUT) == 0
    assert says in process.log.read_text()


# -- health ----------------------------------------------------------------------------------
def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def test_health_against_a_running_and_a_stopped_server(deployment, numpy_encoder, tmp_path):
    deployment.seed(numpy_encoder)
    env = deployment.env("slack")
    proc = run_cli("health", env=env, cwd=deployment.config)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["ok"] is True and report["status"] == "ok"
    assert report["store"]["articles"] == 1 and report["store"]["chunks"] > 1
    assert report["store"]["newest_article"] == "2022-02-11"
    assert report["model"]["ok"] is True and report["model"]["dimension"] == 384

    # A server that has stopped: not healthy, and the report says which setting is at fault.
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    server = subprocess.Popen(
        [
            chroma,
            "run",
            "--path",
            str(tmp_path / "gone"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stopped_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while socket.socket().connect_ex(("127.0.0.1", port)) != 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    env["BRIEFBOT_CHROMA_URL"] = stopped_url
    up = run_cli("health", env=env, cwd=deployment.config)
    assert up.returncode == 0 and json.loads(up.stdout)["store"]["articles"] == 0
    server.terminate()
    server.wait(30)
    down = run_cli("health", env=env, cwd=deployment.config)
    assert down.returncode == 1
    report = json.loads(down.stdout)
    assert report["ok"] is False and report["status"] == "failing"
    assert report["store"]["ok"] is False
    assert (
        f"BRIEFBOT_CHROMA_URL: no usable Chroma server at {stopped_url}"
        in (report["store"]["error"])
    )
    assert report["model"]["ok"] is True  # the one thing at fault is named
    # Asking a process that is not there is not healthy either.
    gone = run_cli("health", "--url", f"{stopped_url}/health", env=env, cwd=deployment.config)
    assert gone.returncode == 1 and json.loads(gone.stdout)["status"] == "unreachable"


# -- the Slack service: answers, metrics, logs, health over HTTP -----------------------------
def test_metrics_after_a_few_questions_show_the_right_counts(deployment, slack, numpy_encoder):
    deployment.seed(numpy_encoder)
    process = deployment.start("slack", **slack_env(slack, BRIEFBOT_METRICS="true"))
    health = process.wait_healthy()
    assert health["process"]["role"] == "serve slack" and health["store"]["articles"] == 1
    slack.wait_connected()
    slack.rate_limit("chat.postMessage")  # the first post is refused once: one retry
    questions = [
        "What did Wallace say after meeting Shoigu?",
        "How many troops are near the border?",
        "Who won the football world cup?",  # the article doesn't say: an abstention
    ]
    for k, question in enumerate(questions):
        slack.mention(question, f"{T0 + k}.000100")
        slack.wait("chat.update", n=k + 1)
    too_long = "why " * 600  # over BRIEFBOT_MAX_QUESTION_CHARS: a user's error
    slack.mention(too_long, f"{T0 + 9}.000100")
    slack.wait("chat.update", n=4)
    assert "would not invade" in json.dumps(answers(slack)[0])

    m = metrics(process)
    slack_label = (("platform", "slack"),)
    assert m[("briefbot_questions_total", slack_label)] == 3
    assert m[("briefbot_abstentions_total", slack_label)] == 1
    assert m[("briefbot_answer_seconds_count", slack_label)] == 3
    assert m[("briefbot_errors_total", (("kind", "QuestionError"),))] == 1
    assert m[("briefbot_chat_api_retries_total", slack_label)] == 1
    # The ingest lag: the seed article is from 2022-02-11.
    age = m[("briefbot_newest_article_age_seconds", ())]
    expected = time.time() - datetime(2022, 2, 11, tzinfo=UTC).timestamp()
    assert abs(age - expected) < 3600

    # The logs: JSON lines (stderr is no terminal), no token anywhere.
    text = process.log.read_text()
    assert process.logs() and all(line.startswith("{") for line in text.splitlines() if line)
    assert BOT_TOKEN not in text and APP_TOKEN not in text
    assert process.terminate() == 0


# -- SIGTERM ---------------------------------------------------------------------------------
def test_sigterm_during_an_answer_lets_it_finish(deployment, slack, numpy_encoder):
    deployment.seed(numpy_encoder)
    process = deployment.start("slack", **slack_env(slack))
    process.wait_healthy()
    slack.wait_connected()
    slack.hold(lambda method, p: method == "chat.update" and p.get("text") != SEARCHING)
    slack.mention("What did Wallace say after meeting Shoigu?", f"{T0}.000100")
    slack.wait_held(1)  # the answer is being sent
    process.proc.send_signal(signal.SIGTERM)
    process.wait_log("SIGTERM received")
    status, body = process.get("/health")  # stopping: no longer healthy, still answering
    assert status == 503 and json.loads(body)["status"] == "stopping"
    slack.release()
    assert process.proc.wait(TIMEOUT) == 0
    [answer] = answers(slack)
    assert "would not invade" in json.dumps(answer)
    assert not [p for p in slack.where("chat.update") if p.get("text") == HANDED_BACK]


def test_sigterm_hands_back_an_answer_that_cannot_finish(deployment, slack, numpy_encoder):
    deployment.seed(numpy_encoder)
    process = deployment.start("slack", **slack_env(slack, BRIEFBOT_SHUTDOWN_GRACE_S="1"))
    process.wait_healthy()
    slack.wait_connected()
    slack.hold(lambda method, p: method == "chat.update" and "would not invade" in json.dumps(p))
    slack.mention("What did Wallace say after meeting Shoigu?", f"{T0}.000100")
    slack.wait_held(1)
    assert process.terminate() == 0  # within the grace period, not after the held call
    told = slack.wait("chat.update", text=HANDED_BACK)
    assert told[0]["channel"] == "C1"
    slack.release()


def due_schedule(deployment: Deployment, channel: str = "C9") -> None:
    """A schedule whose latest hourly fire time is owed: it was set up two hours ago."""
    (deployment.config / "briefbot.yaml").write_text(
        f"schedules:\n  - name: {SCHEDULE}\n    cron: '0 * * * *'\n    slack_channel: {channel}\n"
    )
    state = ScheduleState.in_data_dir(deployment.data)
    state.first_seen(SCHEDULE, "slack", datetime.now(UTC) - timedelta(hours=2))
    state.close()


def posted(deployment: Deployment) -> list[dict[str, Any]]:
    state = ScheduleState.in_data_dir(deployment.data)
    try:
        return state.history(SCHEDULE, "slack")
    finally:
        state.close()


def test_sigterm_during_a_scheduled_briefing_posts_it_once(deployment, slack, numpy_encoder):
    deployment.seed(numpy_encoder)
    due_schedule(deployment)
    slack.hold(lambda method, p: method == "chat.postMessage" and p.get("channel") == "C9")
    process = deployment.start("slack", **slack_env(slack))
    slack.wait_held(1)  # the briefing is being posted
    process.proc.send_signal(signal.SIGTERM)
    process.wait_log("SIGTERM received")
    slack.release()
    assert process.proc.wait(TIMEOUT) == 0
    assert len(slack.where("chat.postMessage", channel="C9")) >= 1
    [row] = posted(deployment)
    assert row["status"] == "posted"
    sent = len(slack.where("chat.postMessage", channel="C9"))

    # A restart posts nothing again: its first round found the briefing posted.
    again = deployment.start("slack", **slack_env(slack))
    again.wait_log("slack schedules: round done")
    assert again.terminate() == 0
    assert len(slack.where("chat.postMessage", channel="C9")) == sent
    assert [r["status"] for r in posted(deployment)] == ["posted"]


def test_two_replicas_of_the_scheduler_post_each_briefing_once(deployment, slack, numpy_encoder):
    deployment.seed(numpy_encoder)
    due_schedule(deployment)
    replicas = [deployment.start("slack", **slack_env(slack)) for _ in range(2)]
    for replica in replicas:
        replica.wait_log("slack schedules: round done")
    for replica in replicas:
        assert replica.terminate() == 0
    # Both were due to post it; one claimed it and posted, the other found it taken.
    said = [[e["message"] for e in r.logs()] for r in replicas]
    posters = [
        r
        for r, lines in zip(replicas, said, strict=True)
        if any(line.startswith(f"posted {SCHEDULE}") for line in lines)
    ]
    assert len(posters) == 1
    [row] = posted(deployment)
    assert row["status"] == "posted"
    one_briefing = slack.where("chat.postMessage", channel="C9")
    assert one_briefing and all(SEARCHING not in json.dumps(p) for p in one_briefing)
    assert len(one_briefing) == len({json.dumps(p, sort_keys=True) for p in one_briefing})
