"""The pages and HTTP functions of `jobwarden watch` on one local port, through the one edge.

- `GET /healthz`: 200 `ok: ...` while every cluster is watched, else 503 with the reason
  (the exporter's own health, per cluster; for probes);
- `GET /`: the reports index, one row per Job run, filters, paging (`jobReports`,
  `workflows/reportindex.py`);
- `GET /files/<cluster>/<namespace>/<job>/<uid>/<workflow>/<id>.html` (or `.md`, `.json`):
  one stored report, rendered by `jobwarden.render` (the index links here);
- `POST /job_restart`, `POST /job_delete`: restart and delete, plan then confirmation
  (`actions/http.py`);
- `POST /job_info_enricher_http` (and the events, pod and performance ones): an on-demand
  report, the workflow's `_http` target.

Every request goes through `jobwarden.edge.handle_http`, as a function's does, so the
authentication (a bearer token the cluster's TokenReview accepts, or a verified IAP
assertion), the SubjectAccessReviews, the confirmations and the status codes are the
functions' own. A stored report is shown to a caller the index would show its row to
(authenticated by its cluster, and allowed to list Jobs in its namespace).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from jobwarden.errors import JobwardenError, UnknownClusterError
from jobwarden.httpapi import Answer, HttpRequest
from jobwarden.names import TargetName, snake
from jobwarden.runtime import Runtime

log = logging.getLogger("jobwarden.watch")

#: POST paths -> the HTTP target behind them (the function's name, as deployed).
POST_TARGETS: dict[str, TargetName] = {
    "/job_restart": "jobRestart",
    "/job_delete": "jobDelete",
    **{
        f"/{snake(name)}_http": name
        for name in (
            "jobInfoEnricher",
            "jobEventsEnricher",
            "jobPodEnricher",
            "jobPerformanceAnalysis",
        )
    },
}
FILES = "/files/"
_FORMATS = {".html": "html", ".md": "md", ".json": "json"}
_TYPES = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8"}
MAX_BODY = 1_000_000


def serve_file(path: str, headers: dict[str, str], runtime: Runtime) -> Answer:
    """One stored report as `.html`, `.md` or `.json`, to a caller who may see its row."""
    from jobwarden.render import render
    from jobwarden.workflows.reportindex import Visibility

    key = unquote(path.removeprefix(FILES))
    stem, dot, ext = key.rpartition(".")
    fmt = _FORMATS.get(dot + ext)
    parts = stem.split("/")
    if fmt is None or len(parts) != 6 or any(p in ("", ".", "..") for p in parts):
        return Answer.json(404, {"error": f"no report page at {path[:200]}", "code": "not_found"})
    cluster, namespace = parts[0], parts[1]
    try:
        if cluster not in runtime.clusters.names:
            raise UnknownClusterError(f"cluster {cluster} is not watched here")
        seen = Visibility(runtime, headers)
        seen.authenticate([cluster])
        if not seen.may_see(cluster, namespace):
            return Answer.json(
                403,
                {
                    "error": f"you may not list Jobs in namespace {namespace} of cluster "
                    f"{cluster}, so its reports are not shown (needs list jobs.batch)",
                    "code": "forbidden",
                },
            )
        report = runtime.store.get_report(stem)
    except JobwardenError as err:
        return Answer.error(err, cluster=cluster)
    if report is None:
        return Answer.json(404, {"error": f"no report stored at {stem[:200]}", "code": "not_found"})
    if fmt == "json":
        return Answer(200, report.to_json(), "application/json")
    return Answer(200, render(report, fmt), _TYPES[fmt])


Health = Callable[[], tuple[bool, str]]


def answer(
    method: str,
    target: str,
    body: bytes,
    headers: dict[str, str],
    rt: Runtime,
    health: Health | None = None,
) -> Answer:
    """The answer to one request (see the module docstring)."""
    from jobwarden.edge import handle_http

    split = urlsplit(target)
    query = dict(parse_qsl(split.query))
    path = split.path
    if method == "GET" and path == "/healthz" and health is not None:
        ok, reason = health()
        return Answer(200 if ok else 503, f"{'ok' if ok else 'not ok'}: {reason}\n", "text/plain")
    if method == "GET" and path in ("/", "/index.html"):
        return handle_http("jobReports", HttpRequest("GET", None, query, headers), rt)
    if method == "GET" and path.startswith(FILES):
        return serve_file(path, headers, rt)
    if path in POST_TARGETS:
        if method != "POST":
            return Answer(405, json.dumps({"error": "use POST", "code": "method_not_allowed"}))
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None  # the target answers 400 for a body it cannot use
        return handle_http(POST_TARGETS[path], HttpRequest("POST", parsed, query, headers), rt)
    return Answer.json(404, {"error": f"nothing at {path[:200]}", "code": "not_found"})


class Pages:
    """A threaded HTTP server on `host:port` (0: any free port); start / stop."""

    def __init__(self, host: str, port: int) -> None:
        self.runtime: Runtime | None = None
        self.health: Health | None = None
        pages = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "jobwarden-watch"

            def _serve(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
                body = self.rfile.read(length) if length else b""
                runtime = pages.runtime
                if runtime is None:
                    reply = Answer.json(503, {"error": "starting", "code": "unavailable"})
                else:
                    headers = dict(self.headers.items())
                    try:
                        reply = answer(
                            self.command, self.path, body, headers, runtime, pages.health
                        )
                    except Exception:
                        log.exception("%s %s failed", self.command, self.path[:200])
                        reply = Answer.json(500, {"error": "internal error", "code": "internal"})
                data = reply.text.encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("pages: %s", format % args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        address = self.server.server_address
        host, port = str(address[0]), int(address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def start(self, runtime: Runtime, health: Health | None = None) -> Pages:
        self.runtime = runtime
        self.health = health
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(1.0)
        self.server.server_close()
