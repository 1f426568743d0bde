"""A small JSON client for the Kubernetes API, over a replaceable HTTP transport.

Why not the `kubernetes` package's typed API: importing it costs about a second
and its models cost CPU per object, both paid on every cold start. jobwarden
needs a handful of verbs on plain JSON, so this module speaks HTTP directly and
maps statuses onto the error tree in `jobwarden.errors`. Turning a kubeconfig,
in-cluster or GKE credentials into a `Credentials` is the cluster adapter's job.

The transport is the test seam (as in httpx and lightkube): `KubeApi` builds the
URL and headers, counts calls, maps statuses to errors and decodes JSON; a
`Transport` only moves bytes. The default, `Urllib3Transport`, is a urllib3 pool
set up from the credentials; `jobwarden_dev.apirecording` records real answers
through it and replays them in unit tests, so all of `KubeApi`'s own code runs there
too. A transport that cannot reach the server raises `ConnectionError` (any `OSError`
is taken so); `KubeApi` turns it into `ApiUnavailableError` naming request and server.

Acting for a person: `api.impersonating(caller)` is the same client (same transport and
pool) that adds Kubernetes impersonation headers (`Impersonate-User`, one
`Impersonate-Group` per group, `Impersonate-Uid`, `Impersonate-Extra-<key>` with the key
percent-encoded as client-go does), so RBAC, admission and the API server's audit judge
and record that person. Its refusals are the caller's (`CallerRefusedError`, 403), except
a refusal to impersonate, which is jobwarden's own RBAC (`ForbiddenError`). The headers
are never logged or put in an error.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

import urllib3

from jobwarden.errors import (
    ApiError,
    ApiUnavailableError,
    CallerRefusedError,
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
)

JSON = dict[str, Any]
_MAX_ERROR_BODY = 500
_FORBIDDEN = re.compile(
    r'cannot (\S+) resource "([^"]+)"(?: in API group "([^"]*)")?(?: in the namespace "([^"]+)")?'
)
#: How admission says no: a ValidatingAdmissionPolicy ("... denied request: ...") or a
#: webhook ("admission webhook \"x\" denied the request ...").
_ADMISSION_DENIED = re.compile(r"denied (the )?request")
#: Token characters (RFC 7230) that client-go leaves unescaped in an Impersonate-Extra key.
_EXTRA_KEY_SAFE = "!#$&'*+-.^_`|~"


class Principal(Protocol):
    """Whom to impersonate (`jobwarden.auth.Caller` is one)."""

    @property
    def username(self) -> str: ...
    @property
    def groups(self) -> Sequence[str]: ...
    @property
    def uid(self) -> str: ...
    @property
    def extra(self) -> Mapping[str, Sequence[str]]: ...


def impersonation_headers(who: Principal) -> list[tuple[str, str]]:
    """The headers that make a request `who`'s; a header repeats for each group and value."""
    headers = [("Impersonate-User", who.username)]
    headers += [("Impersonate-Group", group) for group in who.groups]
    if who.uid:
        headers.append(("Impersonate-Uid", who.uid))
    for key, values in sorted(who.extra.items()):
        name = "Impersonate-Extra-" + quote(key, safe=_EXTRA_KEY_SAFE)
        headers += [(name, value) for value in values]
    return headers


@dataclass(frozen=True)
class Credentials:
    """How to reach and authenticate to one API server."""

    server: str
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token: str | None = None
    insecure: bool = False

    def __repr__(self) -> str:  # never print the token
        return f"Credentials(server={self.server!r}, token={'***' if self.token else None})"


class Stream(Protocol):
    """The answer to a streamed request: its status, then body chunks until closed."""

    status: int

    def read(self) -> bytes:
        """The whole remaining body (error answers)."""
        ...

    def chunks(self) -> Iterator[bytes]:
        """Body chunks as they arrive; raises `ConnectionError` if the stream breaks."""
        ...

    def close(self) -> None: ...


class Transport(Protocol):
    """Moves one request's bytes; raises `ConnectionError` when the server cannot be reached.

    `url` is the full URL (server, path and query); `timeout` is the read timeout in
    seconds, None for the transport's default. `headers` may be a `urllib3.HTTPHeaderDict`
    with a repeated header (`Impersonate-Group`): send each of its `items()` as its own line.
    """

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]: ...

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream: ...


class _Urllib3Stream:
    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self.status = response.status

    def read(self) -> bytes:
        try:
            return bytes(self._response.read())
        except urllib3.exceptions.HTTPError as err:
            raise ConnectionError(f"{type(err).__name__}: {err}") from err

    def chunks(self) -> Iterator[bytes]:
        try:
            yield from self._response.stream(65536)
        except urllib3.exceptions.HTTPError as err:
            raise ConnectionError(f"{type(err).__name__}: {err}") from err

    def close(self) -> None:
        self._response.release_conn()


class Urllib3Transport:
    """The default transport: one urllib3 pool with the credentials' TLS settings."""

    def __init__(self, credentials: Credentials, *, timeout: float = 30.0) -> None:
        context = ssl.create_default_context(cafile=credentials.ca_file)
        if credentials.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if credentials.cert_file:
            context.load_cert_chain(credentials.cert_file, credentials.key_file)
        self._pool = urllib3.PoolManager(
            ssl_context=context,
            timeout=urllib3.Timeout(connect=5.0, read=timeout),
            retries=False,
            maxsize=4,
        )

    @staticmethod
    def _timeout(timeout: float | None) -> Any:  # a Timeout, or urllib3's default sentinel
        if timeout is None:
            return urllib3.util.Timeout.DEFAULT_TIMEOUT  # the pool's
        return urllib3.Timeout(connect=5.0, read=timeout)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                headers=urllib3.HTTPHeaderDict(headers),  # keeps a repeated header's values
                timeout=self._timeout(timeout),
            )
        except urllib3.exceptions.HTTPError as err:
            raise ConnectionError(f"{type(err).__name__}: {err}") from err
        return response.status, bytes(response.data)

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        try:
            response = self._pool.request(
                method,
                url,
                headers=urllib3.HTTPHeaderDict(headers),
                preload_content=False,
                timeout=self._timeout(timeout),
            )
        except urllib3.exceptions.HTTPError as err:
            raise ConnectionError(f"{type(err).__name__}: {err}") from err
        return _Urllib3Stream(response)


def _error_for(
    status: int, method: str, path: str, body: bytes, *, as_caller: bool = False
) -> Exception:
    reason = ""
    message = body[:_MAX_ERROR_BODY].decode("utf-8", "replace")
    try:
        payload = json.loads(body)
        if isinstance(payload, dict):
            reason = str(payload.get("reason", ""))
            message = str(payload.get("message", message))[:_MAX_ERROR_BODY]
    except ValueError:
        pass
    text = f"{method} {path}: {status} {reason or ''} {message}".replace("  ", " ").strip()
    if status == 403:
        needed = _FORBIDDEN.search(message)
        if needed:
            verb, resource, group, namespace = needed.groups()
            what = f"{resource}.{group}" if group else resource
            where = f" in namespace {namespace}" if namespace else " cluster-wide"
            text += f" (needs `{verb}` on `{what}`{where}; grant it with a Role/ClusterRole)"
    if status == 429 or status >= 500:
        return ApiUnavailableError(text, method=method, path=path, status=status)
    if as_caller and (
        (status == 403 and "cannot impersonate" not in message)
        or (status in (400, 422) and _ADMISSION_DENIED.search(message))
    ):
        return CallerRefusedError(text, status=status, method=method, path=path, reason=reason)
    kinds: dict[int, type[ApiError]] = {
        404: NotFoundError,
        403: ForbiddenError,
        409: ConflictError,
        400: InvalidError,
        422: InvalidError,
    }
    kind = kinds.get(status, ApiError)
    return kind(text, status=status, method=method, path=path, reason=reason)


class KubeApi:
    """JSON requests against one API server; errors mapped to jobwarden's error tree.

    `transport` moves the bytes (default: a `Urllib3Transport` for `credentials`, with
    `timeout` as its read timeout); everything else here runs whatever the transport.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        timeout: float = 30.0,
        transport: Transport | None = None,
    ) -> None:
        self.credentials = credentials
        self.transport: Transport = transport or Urllib3Transport(credentials, timeout=timeout)
        self.calls = 0  # requests sent, for budgets and benchmarks
        self._headers = {"Accept": "application/json"}
        if credentials.token:
            self._headers["Authorization"] = f"Bearer {credentials.token}"
        self._impersonate: list[tuple[str, str]] = []

    def impersonating(self, who: Principal) -> KubeApi:
        """This client acting as `who` (see the module docstring); shares the transport."""
        api = KubeApi(self.credentials, transport=self.transport)
        api._impersonate = impersonation_headers(who)
        return api

    @property
    def acting_as(self) -> str | None:
        """The impersonated user, or None for jobwarden's own identity."""
        return next((v for k, v in self._impersonate if k == "Impersonate-User"), None)

    def _request_headers(self, more: Mapping[str, str] | None = None) -> Mapping[str, str]:
        if not self._impersonate:
            return {**self._headers, **(more or {})}
        headers = urllib3.HTTPHeaderDict({**self._headers, **(more or {})})
        for name, value in self._impersonate:
            headers.add(name, value)
        return headers

    def _url(self, path: str, params: Mapping[str, str | int | bool] | None) -> str:
        query = ""
        if params:
            query = "?" + urlencode(
                {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in params.items()}
            )
        return self.credentials.server.rstrip("/") + path + query

    def raw(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str | int | bool] | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> bytes:
        """Send one request; return the body bytes or raise the mapped error."""
        headers = self._request_headers({"Content-Type": content_type} if body is not None else {})
        self.calls += 1
        data = None if body is None else json.dumps(body).encode()
        try:
            status, answer = self.transport.request(
                method, self._url(path, params), headers=headers, body=data, timeout=timeout
            )
        except OSError as err:  # ConnectionError, TimeoutError, ssl errors
            raise ApiUnavailableError(
                f"{method} {path}: cannot reach the API server at {self.credentials.server} "
                f"({err}); check that it is running and reachable",
                method=method,
                path=path,
            ) from err
        if status >= 400:
            raise _error_for(status, method, path, answer, as_caller=bool(self._impersonate))
        return answer

    def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: Mapping[str, str | int | bool] | None = None,
        content_type: str = "application/json",
    ) -> JSON:
        data = self.raw(method, path, body=body, params=params, content_type=content_type)
        if not data:
            return {}
        decoded = json.loads(data)
        return decoded if isinstance(decoded, dict) else {"items": decoded}

    def get(self, path: str, **params: str | int | bool) -> JSON:
        return self.request("GET", path, params=params)

    def create(self, path: str, body: JSON) -> JSON:
        return self.request("POST", path, body=body)

    def delete(self, path: str, body: JSON | None = None) -> JSON:
        return self.request("DELETE", path, body=body)

    def merge_patch(self, path: str, body: JSON) -> JSON:
        return self.request("PATCH", path, body=body, content_type="application/merge-patch+json")

    def text(self, path: str, **params: str | int | bool) -> str:
        return self.raw("GET", path, params=params).decode("utf-8", "replace")

    def watch(
        self, path: str, *, timeout_seconds: int = 60, **params: str | int | bool
    ) -> Iterator[JSON]:
        """Stream watch events ({"type", "object"}) until the server closes the watch."""
        query = {**params, "watch": True, "timeoutSeconds": timeout_seconds}
        try:
            stream = self.transport.stream(
                "GET",
                self._url(path, query),
                headers=self._request_headers(),
                timeout=timeout_seconds + 10,
            )
        except OSError as err:  # ConnectionError, TimeoutError, ssl errors
            raise ApiUnavailableError(
                f"WATCH {path}: cannot reach the API server at {self.credentials.server} ({err})",
                method="WATCH",
                path=path,
            ) from err
        try:
            if stream.status >= 400:
                raise _error_for(
                    stream.status,
                    "WATCH",
                    path,
                    stream.read(),
                    as_caller=bool(self._impersonate),
                )
            buffer = b""
            for chunk in stream.chunks():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        except OSError as err:  # ConnectionError, TimeoutError, ssl errors
            raise ApiUnavailableError(
                f"WATCH {path}: the stream broke ({err})", method="WATCH", path=path
            ) from err
        finally:
            stream.close()
