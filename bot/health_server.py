"""Health and metrics over HTTP, served by the long-running processes (serve, watch) when
BRIEFBOT_HEALTH_PORT is set: GET /health is the health report (retrieval/health.py) as JSON,
200 when the process can answer and 503 when it cannot or is stopping; GET /metrics is the
engine's Prometheus metrics when BRIEFBOT_METRICS is set.

The container's HEALTHCHECK and `briefbot health --url` read /health. Only GET is answered,
and a request with a body is refused unread; a connection that sends nothing, or sends its
request too slowly, is closed after IDLE_TIMEOUT_S.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from retrieval import Engine, Schedule, SettingsError, health_report, process_info

log = logging.getLogger(__name__)
# Each read of a connection (the request line, each header) may wait this long: a connection
# that sends nothing is closed, instead of holding a thread for good.
IDLE_TIMEOUT_S = 10.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("health connection from %s failed", client_address, exc_info=True)


class HealthServer:
    """A small HTTP server in a daemon thread, beside whatever the process serves."""

    def __init__(
        self,
        engine: Engine,
        role: str,
        schedules: Callable[[], Sequence[Schedule]] = tuple,
        host: str | None = None,
        port: int | None = None,
        metrics: bool | None = None,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
    ) -> None:
        settings = engine.settings
        self.engine = engine
        self.role = role  # what this process is: "serve slack", "watch"
        self.schedules = schedules
        self.metrics = settings.metrics if metrics is None else metrics
        self.started = time.time()
        self.stopping = False  # set at SIGTERM: /health answers 503 from then on
        address = (host or settings.health_host, settings.health_port if port is None else port)
        try:
            self._server = _Server(address, _handler(self, idle_timeout_s))
        except OSError as exc:  # the port is taken, or the address is not this machine's
            raise SettingsError(
                f"BRIEFBOT_HEALTH_HOST / BRIEFBOT_HEALTH_PORT: cannot listen on {address[0]} "
                f"port {address[1]} ({exc.strerror or exc})"
            ) from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="briefbot-health", daemon=True
        )
        self._thread.start()
        log.info(
            "health at http://%s:%d/health%s",
            self._server.server_address[0],
            self.port,
            " and metrics at /metrics" if self.metrics else "",
        )
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def report(self) -> dict[str, Any]:
        report = health_report(
            self.engine,
            self.schedules(),
            process_info(self.started, self.role, self.stopping),
        )
        if self.stopping:
            report["ok"], report["status"] = False, "stopping"
        return report


def _handler(server: HealthServer, idle_timeout_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = idle_timeout_s

        def handle(self) -> None:
            try:
                super().handle()
            except (TimeoutError, ConnectionError) as exc:
                log.debug("health: connection closed (%s)", type(exc).__name__)

        def do_GET(self) -> None:  # noqa: N802 (the stdlib's name)
            if self.headers.get("Content-Length", "0") != "0" or self.headers.get(
                "Transfer-Encoding"
            ):
                # A GET has no body: refused unread (the connection is closed after this).
                self._send(413, b"no body expected\n", "text/plain")
                return
            path = self.path.split("?", 1)[0]
            if path in ("/health", "/healthz"):
                report = server.report()
                body = json.dumps(report, indent=2).encode()
                self._send(200 if report["ok"] else 503, body, "application/json")
            elif path == "/metrics" and server.metrics:
                body, content_type = server.engine.metrics.exposition()
                self._send(200, body, content_type)
            elif path == "/metrics":
                self._send(404, b"metrics are off: set BRIEFBOT_METRICS=true\n", "text/plain")
            else:
                self._send(404, b"not found: /health, /metrics\n", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Connection", "close")
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
