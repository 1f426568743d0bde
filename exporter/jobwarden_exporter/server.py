"""`/livez`, `/healthz` and `/metrics` on a small stdlib HTTP server thread.

`/livez`: 200 whenever the process serves HTTP; it never asks about the watch, so an API
server that is away (a control-plane upgrade) does not fail the liveness probe and
restart the exporter, dropping its buffer. `/healthz` (readiness): 200 with a one-line
reason when the watch is healthy and recently synced (or this replica is a healthy
standby), else 503 with what is wrong. `/metrics`: the Prometheus text exposition of
`Metrics`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from jobwarden_exporter.metrics import Metrics

log = logging.getLogger("jobwarden.exporter")
Health = Callable[[], tuple[bool, str]]
CONTENT_TYPE_METRICS = "text/plain; version=0.0.4; charset=utf-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], metrics: Metrics, health: Health) -> None:
        super().__init__(address, _Handler)
        self.metrics = metrics
        self.health = health


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/livez":
            self._send(200, "ok: serving\n")
        elif path == "/healthz":
            ok, reason = self.server.health()
            self._send(200 if ok else 503, ("ok: " if ok else "unhealthy: ") + reason + "\n")
        elif path == "/metrics":
            self._send(200, self.server.metrics.render(), CONTENT_TYPE_METRICS)
        else:
            self._send(404, "not found: try /livez, /healthz or /metrics\n")

    def _send(
        self, status: int, text: str, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("http: " + format, *args)


class StatusServer:
    """Serve /livez, /healthz and /metrics on `host:port` (port 0: any free port) in a thread."""

    def __init__(
        self,
        metrics: Metrics,
        health: Health,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - probes and scrapes come from outside the pod
        port: int = 8080,
    ) -> None:
        self._server = _Server((host, port), metrics, health)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="exporter http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> StatusServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever, which must be running
            self._server.shutdown()
        self._server.server_close()
