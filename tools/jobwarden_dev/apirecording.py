"""Recorded Kubernetes API answers: record them from a real API server, replay them in tests.

Development tooling (never in a function bundle): the unit tests and the recorder
`tests.support.record_api` use it.

`KubeApi` takes a transport (`jobwarden.kubeapi.Transport`); these two wrap that seam:

`RecordingTransport(inner, server=...)`
    sends every request through `inner` (normally `Urllib3Transport`) and keeps each
    request with its answer as an `Exchange`. Nothing about authentication is kept:
    request headers are not recorded at all, and the API server's address and any
    `secrets` given are replaced in answers by `SCRUBBED_SERVER` / `***`.
    `metadata.managedFields` is dropped from JSON answers (jobwarden never reads it;
    it is most of an object's bytes).

`ReplayTransport(exchanges)`
    answers each request from the recording, matched on method, path with query and
    (for writes) the request body. The n-th identical request gets the n-th recorded
    answer, and the last one after that. A request that was not recorded raises
    `NotRecordedError` naming method, path and query (and is listed in `.missing`), so
    a test author knows to re-record rather than to edit answers by hand.

A `Recording` is one scenario's file (`tests/fixtures/recorded/<scenario>.json`):

    {"scenario": ..., "description": ..., "meta": {...},
     "exchanges": [{"method": "GET", "path": "/apis/batch/v1/...?labelSelector=...",
                    "status": 200, "body": {...JSON answer...}},
                   {"method": "GET", "path": ".../log?container=main", "status": 200,
                    "text": "...an answer that is not JSON..."}, ...]}

Watches (`Transport.stream`) are recorded whole (newline-delimited JSON as `text`) and
replayed as one chunk per line.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jobwarden.kubeapi import Stream, Transport
from jobwarden_dev.errors import NotRecordedError

SCRUBBED_SERVER = "https://kube-apiserver.invalid"


@dataclass(frozen=True)
class Exchange:
    """One request (method, path with query, body of a write) and the answer it got."""

    method: str
    path: str
    status: int
    body: bytes
    request_body: bytes | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return _key(self.method, self.path, self.request_body)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "path": self.path, "status": self.status}
        if self.request_body:
            out["requestBody"] = _as_json_or_text(self.request_body)
        try:
            out["body"] = json.loads(self.body)
        except ValueError:  # also an empty answer
            out["text"] = self.body.decode("utf-8", "replace")
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Exchange:
        if "body" in data:
            body = json.dumps(data["body"]).encode()
        else:
            body = str(data.get("text", "")).encode()
        request = data.get("requestBody")
        return cls(
            method=str(data["method"]),
            path=str(data["path"]),
            status=int(data["status"]),
            body=body,
            request_body=None if request is None else _canonical(request),
        )


def _as_json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def _key(method: str, path: str, request_body: bytes | None) -> tuple[str, str, str]:
    body = b"" if not request_body else _canonical(_as_json_or_text(request_body))
    return method.upper(), path, body.decode("utf-8", "replace")


def path_of(url: str) -> str:
    """`/path?query` of a full URL (the server's address left out)."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


@dataclass
class Recording:
    """One scenario's recorded exchanges plus what a test needs to know about it."""

    scenario: str
    exchanges: list[Exchange]
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    prometheus: list[dict[str, Any]] = field(default_factory=list)  # PromQL queries answered

    def to_json(self) -> dict[str, Any]:
        out = {
            "scenario": self.scenario,
            "description": self.description,
            "meta": self.meta,
            "exchanges": [e.to_json() for e in self.exchanges],
        }
        if self.prometheus:
            out["prometheus"] = self.prometheus
        return out

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1, sort_keys=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> Recording:
        data = json.loads(path.read_text())
        return cls(
            scenario=str(data["scenario"]),
            exchanges=[Exchange.from_json(e) for e in data.get("exchanges", [])],
            description=str(data.get("description", "")),
            meta=dict(data.get("meta") or {}),
            prometheus=list(data.get("prometheus") or []),
        )

    def replay(self) -> ReplayTransport:
        return ReplayTransport(self.exchanges, scenario=self.scenario)

    def replay_prometheus(self) -> ReplayPool | None:
        """Prometheus' recorded answers as a connection pool, or None if none were recorded."""
        return ReplayPool(self.prometheus, scenario=self.scenario) if self.prometheus else None


# --- Prometheus ---------------------------------------------------------------------------
#
# `jobwarden.prometheus.Prometheus` takes a urllib3-like pool (`pool.request(...)` answering
# `.status` and `.data`): `RecordingPool` forwards to the stack's Prometheus and keeps each
# PromQL query with its answer; `ReplayPool` answers them again. A query is matched with its
# range durations and evaluation time left out (they follow the wall clock at recording,
# the recording's time at replay); the n-th identical query gets the n-th answer.

#: The Prometheus URL replayed runtimes are configured with (nothing listens there).
PROMETHEUS_URL = "http://prometheus.invalid:9090"
_DURATIONS = re.compile(r"\[\d+s(:\d+s)?\]")


def promql_key(query: str) -> str:
    return _DURATIONS.sub("[…]", query)


@dataclass(frozen=True)
class PoolAnswer:
    status: int
    data: bytes


class RecordingPool:
    """Sends each query to `target` (the stack's Prometheus) and keeps query and answer."""

    def __init__(self, inner: Any, *, target: str) -> None:
        self.inner = inner
        self.target = target.rstrip("/")
        self.exchanges: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kw: Any) -> PoolAnswer:
        real = self.target + url.removeprefix(PROMETHEUS_URL)
        answer = self.inner.request(method, real, **kw)
        form = parse_qs(bytes(kw.get("body") or b"").decode())
        self.exchanges.append(
            {
                "query": form.get("query", [""])[0],
                "status": answer.status,
                "body": json.loads(answer.data),
            }
        )
        return PoolAnswer(answer.status, answer.data)


class ReplayPool:
    """Answers queries from a recording (see above); an unrecorded one raises."""

    def __init__(self, exchanges: Sequence[dict[str, Any]], *, scenario: str = "") -> None:
        self.scenario = scenario
        self._answers: dict[str, list[dict[str, Any]]] = {}
        for exchange in exchanges:
            self._answers.setdefault(promql_key(str(exchange["query"])), []).append(exchange)
        self._next: dict[str, int] = {}
        self.missing: list[str] = []
        self._lock = threading.Lock()

    def request(self, method: str, url: str, **kw: Any) -> PoolAnswer:
        query = parse_qs(bytes(kw.get("body") or b"").decode()).get("query", [""])[0]
        key = promql_key(query)
        with self._lock:
            answers = self._answers.get(key)
            if not answers:
                self.missing.append(query)
                raise NotRecordedError(
                    f"PromQL {query!r} is not in the recording of scenario {self.scenario!r}; "
                    "re-record the scenarios with `.venv/bin/python -m tests.support.record_api`"
                )
            n = self._next.get(key, 0)
            self._next[key] = n + 1
        chosen = answers[min(n, len(answers) - 1)]
        return PoolAnswer(int(chosen["status"]), json.dumps(chosen["body"]).encode())


def _drop_managed_fields(value: Any) -> Any:
    if isinstance(value, dict):
        meta = value.get("metadata")
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
        for item in value.get("items") or []:
            _drop_managed_fields(item)
        if isinstance(value.get("object"), dict):  # watch events
            _drop_managed_fields(value["object"])
    return value


class RecordingTransport:
    """Sends through `inner` and records each request and answer (see the module docstring)."""

    def __init__(
        self,
        inner: Transport,
        *,
        server: str,
        secrets: Sequence[str] = (),
        drop_managed_fields: bool = True,
    ) -> None:
        self.inner = inner
        self.exchanges: list[Exchange] = []
        self._server = server.rstrip("/")
        self._host = urlsplit(server).netloc
        self._secrets = [s for s in secrets if s]
        self._drop = drop_managed_fields
        self._lock = threading.Lock()

    def scrub(self, data: bytes) -> bytes:
        """`data` without the server's address or the secrets; managedFields dropped."""
        text = data.decode("utf-8", "replace").replace(self._server, SCRUBBED_SERVER)
        if self._host:
            text = text.replace(self._host, urlsplit(SCRUBBED_SERVER).netloc)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if self._drop:
            try:
                text = json.dumps(_drop_managed_fields(json.loads(text)))
            except ValueError:
                lines = []
                for line in text.split("\n"):  # a watch stream: one JSON object a line
                    try:
                        lines.append(json.dumps(_drop_managed_fields(json.loads(line))))
                    except ValueError:
                        lines.append(line)
                text = "\n".join(lines)
        return text.encode()

    def scrub_json(self, value: Any) -> Any:
        """`value` (a decoded answer) scrubbed as a recorded answer is."""
        return json.loads(self.scrub(json.dumps(value).encode()))

    def _record(self, method: str, url: str, status: int, body: bytes, sent: bytes | None) -> None:
        exchange = Exchange(
            method.upper(),
            path_of(url),
            status,
            self.scrub(body),
            self.scrub(sent) if sent else None,
        )
        with self._lock:
            self.exchanges.append(exchange)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        status, answer = self.inner.request(
            method, url, headers=headers, body=body, timeout=timeout
        )
        self._record(method, url, status, answer, body)
        return status, answer

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        return _RecordingStream(
            self.inner.stream(method, url, headers=headers, timeout=timeout), self, method, url
        )


class _RecordingStream:
    def __init__(self, inner: Stream, owner: RecordingTransport, method: str, url: str) -> None:
        self._inner, self._owner, self._method, self._url = inner, owner, method, url
        self.status = inner.status
        self._seen = b""
        self._done = False

    def read(self) -> bytes:
        data = self._inner.read()
        self._seen += data
        return data

    def chunks(self) -> Iterator[bytes]:
        for chunk in self._inner.chunks():
            self._seen += chunk
            yield chunk

    def close(self) -> None:
        self._inner.close()
        if not self._done:
            self._done = True
            self._owner._record(self._method, self._url, self.status, self._seen, None)


class _ReplayStream:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = body

    def read(self) -> bytes:
        return self._body

    def chunks(self) -> Iterator[bytes]:
        yield from self._body.splitlines(keepends=True)

    def close(self) -> None:
        return


class ReplayTransport:
    """Answers from recorded exchanges (see the module docstring); `.served` counts answers."""

    def __init__(self, exchanges: Sequence[Exchange], *, scenario: str = "") -> None:
        self.scenario = scenario
        self._answers: dict[tuple[str, str, str], list[Exchange]] = {}
        for exchange in exchanges:
            self._answers.setdefault(exchange.key, []).append(exchange)
        self._next: dict[tuple[str, str, str], int] = {}
        self.served: list[tuple[str, str]] = []
        self.missing: list[str] = []
        self._lock = threading.Lock()

    def _answer(self, method: str, url: str, body: bytes | None) -> Exchange:
        path = path_of(url)
        key = _key(method, path, body)
        with self._lock:
            answers = self._answers.get(key)
            if not answers:
                what = f"{method.upper()} {path}"
                if body:
                    what += f" with body {body[:200].decode('utf-8', 'replace')}"
                self.missing.append(what)
                known = sorted({f"{m} {p}" for m, p, _ in self._answers})
                raise NotRecordedError(
                    f"{what} is not in the recording"
                    f"{f' of scenario {self.scenario!r}' if self.scenario else ''}; the code now "
                    "makes a request that was not recorded: re-record the scenarios with "
                    "`.venv/bin/python -m tests.support.record_api` (recorded requests: "
                    f"{'; '.join(known)[:1500]})"
                )
            index = self._next.get(key, 0)
            self._next[key] = index + 1
            self.served.append((method.upper(), path))
            return answers[min(index, len(answers) - 1)]

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        exchange = self._answer(method, url, body)
        return exchange.status, exchange.body

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        exchange = self._answer(method, url, None)
        return _ReplayStream(exchange.status, exchange.body)
