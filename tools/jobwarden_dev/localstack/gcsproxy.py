"""A recording HTTP proxy in front of fake-gcs-server that is as strict as Cloud Storage.

The emulator takes any number of writes to one object name; Cloud Storage takes about one
per second and answers 429 to the rest. This proxy sits between the functions
(`STORAGE_EMULATOR_HOST=<proxy url>`) and the emulator and

- records every write (create, overwrite, metadata update, delete) by object name and time,
  so a run can print the highest number of writes to one name within one second;
- answers 429 `rateLimitExceeded`, as Cloud Storage does, to a write of a name that was
  written less than a second before (a hot object then shows up as failures, not only as
  a figure);
- can be made unavailable (`outage()`): it closes its open connections and refuses new
  ones until `restore()`, as a storage outage looks to a client.

Reads and listings pass through unrecorded. Writes are recognised in the JSON API's forms:
`POST /upload/storage/v1/b/<bucket>/o` (the name in the `name` query parameter or in the
metadata part of a multipart or resumable upload), and `PUT`/`PATCH`/`DELETE` of
`/storage/v1/b/<bucket>/o/<name>`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

#: Cloud Storage: "a maximum rate of one write per second to the same object name".
MIN_WRITE_INTERVAL_S = 1.0
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}
_OBJECT_PATH = "/storage/v1/b/"
_UPLOAD_PATH = "/upload/storage/v1/b/"


@dataclass(frozen=True)
class Write:
    """One write request to one object name, as the proxy saw it."""

    name: str  # "<bucket>/<object name>"
    at: float  # time.time() when it arrived
    status: int  # what the client was answered (429 when throttled here)


def object_written(method: str, target: str, content_type: str, body: bytes) -> str | None:
    """`<bucket>/<object>` a request writes, or None for a read, a listing or a bucket call."""
    parts = urlsplit(target)
    path = parts.path
    if path.startswith(_UPLOAD_PATH) and method == "POST":
        bucket = unquote(path[len(_UPLOAD_PATH) :].split("/", 1)[0])
        query = parse_qs(parts.query)
        if "name" in query:
            return f"{bucket}/{query['name'][0]}"
        name = _metadata_name(content_type, body)
        return f"{bucket}/{name}" if name else f"{bucket}/?"
    if path.startswith(_OBJECT_PATH) and method in ("PUT", "PATCH", "DELETE"):
        rest = path[len(_OBJECT_PATH) :]
        bucket, _, tail = rest.partition("/o/")
        if tail and "/" not in tail.strip("/"):  # not .../o/<name>/compose and the like
            return f"{unquote(bucket)}/{unquote(tail)}"
    return None


def _metadata_name(content_type: str, body: bytes) -> str | None:
    """The `name` in an upload's JSON metadata (the body, or a multipart body's first part)."""
    candidates = [body]
    if "multipart/" in content_type and "boundary=" in content_type:
        boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
        candidates = body.split(b"--" + boundary.encode())
    for chunk in candidates:
        head, sep, rest = chunk.partition(b"\r\n\r\n")
        text = rest if sep else head
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            data = json.loads(text.strip())
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                return str(data["name"])
    return None


def max_per_second(times: list[float]) -> int:
    """The most of `times` (seconds) that fall within any one-second window."""
    ordered, window, best = sorted(times), deque[float](), 0
    for t in ordered:
        window.append(t)
        while t - window[0] >= 1.0:
            window.popleft()
        best = max(best, len(window))
    return best


class GcsRecordingProxy:
    """Forward 127.0.0.1:<port> to fake-gcs-server at `upstream` (`http://host:port`)."""

    def __init__(self, upstream: str, *, limit_writes: bool = True) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.limit_writes = limit_writes
        self.writes: list[Write] = []
        self.refused_connections = 0
        self._last_write: dict[str, float] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._conns: set[socket.socket] = set()
        self._down_until = 0.0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- what was seen ------------------------------------------------------------------

    def writes_by_name(self) -> dict[str, list[Write]]:
        with self._lock:
            grouped: dict[str, list[Write]] = defaultdict(list)
            for w in self.writes:
                grouped[w.name].append(w)
        return dict(grouped)

    def max_writes_per_name_per_second(self) -> tuple[int, str]:
        """The highest number of write requests one object name got within one second, and
        that name (every request counts, a throttled one too)."""
        best, hottest = 0, ""
        for name, writes in self.writes_by_name().items():
            peak = max_per_second([w.at for w in writes])
            if peak > best:
                best, hottest = peak, name
        return best, hottest

    def throttled(self) -> list[Write]:
        with self._lock:
            return [w for w in self.writes if w.status == 429]

    # --- lifecycle and faults -----------------------------------------------------------

    def start(self) -> GcsRecordingProxy:
        self._listen()
        return self

    def stop(self) -> None:
        self._close()

    def outage(self) -> None:
        """Close every open connection and refuse new ones until `restore()`."""
        self._close()

    def restore(self) -> None:
        if self._server is None:
            self._listen()

    def _listen(self) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._conns.add(self.connection)

            def finish(self) -> None:
                with contextlib.suppress(OSError):
                    super().finish()
                with proxy._lock:
                    proxy._conns.discard(self.connection)

            def do_GET(self) -> None:
                proxy._forward(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def _close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    # --- one request ----------------------------------------------------------------------

    def _read_body(self, handler: BaseHTTPRequestHandler) -> bytes:
        if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    handler.rfile.readline()
                    return b"".join(chunks)
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    def _forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = self._read_body(handler)
        method, target = handler.command, handler.path
        name = object_written(method, target, handler.headers.get("Content-Type", ""), body)
        now = time.time()
        if name is not None:
            with self._lock:
                last = self._last_write.get(name)
                hot = self.limit_writes and last is not None and now - last < MIN_WRITE_INTERVAL_S
                if not hot:
                    self._last_write[name] = now
            if hot:
                self._record(Write(name, now, 429))
                self._answer(
                    handler,
                    429,
                    {"Content-Type": "application/json"},
                    json.dumps(
                        {
                            "error": {
                                "code": 429,
                                "message": f"The object {name} exceeded the rate limit for "
                                "object mutation operations (create, update, and delete). "
                                "Please reduce your request rate.",
                                "errors": [{"reason": "rateLimitExceeded"}],
                            }
                        }
                    ).encode(),
                )
                return
        headers = {
            k: v for k, v in handler.headers.items() if k.lower() not in _HOP_BY_HOP | {"host"}
        }
        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            upstream.request(method, target, body=body or None, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            status = response.status
            answer = {
                k: v
                for k, v in response.getheaders()
                if k.lower() not in _HOP_BY_HOP | {"content-length"}
            }
        except OSError:
            status, answer, data = 502, {"Content-Type": "text/plain"}, b"upstream unreachable"
        finally:
            upstream.close()
        if name is not None:
            self._record(Write(name, now, status))
        self._answer(handler, status, answer, data)

    def _record(self, write: Write) -> None:
        with self._lock:
            self.writes.append(write)

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes
    ) -> None:
        with contextlib.suppress(OSError):
            handler.send_response(status)
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
