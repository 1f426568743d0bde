"""A real local HTTP receiver for webhook tests: records requests, can fail for a while."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from requests.structures import CaseInsensitiveDict


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: CaseInsensitiveDict[str]  # header names as sent, looked up in any case
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Listens on 127.0.0.1:<free port>; `url` is where to post."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._fail_remaining = 0
        self._fail_until = 0.0
        self._fail_status = 500
        self._slow_until, self._slow_s = 0.0, 0.0
        self.in_flight: set[int] = set()  # client ports of the posts being answered now
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                port = self.client_address[1]
                with receiver._lock:
                    receiver.in_flight.add(port)
                    slow = receiver._slow_s if time.monotonic() < receiver._slow_until else 0.0
                time.sleep(slow)
                with receiver._lock:
                    receiver.in_flight.discard(port)
                status = receiver._next_status()
                with receiver._lock:
                    receiver.requests.append(
                        Received(
                            "POST",
                            self.path,
                            CaseInsensitiveDict(self.headers.items()),
                            body,
                            status,
                        )
                    )
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if status < 400 else b"failing on purpose")

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _next_status(self) -> int:
        with self._lock:
            if self._fail_remaining > 0:
                self._fail_remaining -= 1
                return self._fail_status
            if time.monotonic() < self._fail_until:
                return self._fail_status
        return 200

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` requests with `status`."""
        with self._lock:
            self._fail_remaining, self._fail_status = count, status

    def fail_for(self, seconds: float, status: int = 500) -> None:
        """Answer every request with `status` for the next `seconds`."""
        with self._lock:
            self._fail_until, self._fail_status = time.monotonic() + seconds, status

    def slow_for(self, seconds: float, delay: float) -> None:
        """Take `delay` seconds to answer each request that arrives in the next `seconds`."""
        with self._lock:
            self._slow_until, self._slow_s = time.monotonic() + seconds, delay

    def delivered(self) -> list[Received]:
        """Requests that were answered with success."""
        with self._lock:
            return [r for r in self.requests if r.status < 400]

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
