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

Credentials are asked for before every request, from a `CredentialSource` (the cluster
adapter keeps them fresh: files re-read when they change, tokens refreshed before they
expire; asking is a stat() or a clock comparison). A 401 makes the source forget what it
holds, and the request is sent once more with what it reads anew; refused again, it is a
`CredentialsError` (temporary: the event is retried and in the end dead-lettered, never
acknowledged unreported).
"""

from __future__ import annotations

import json
import re
import ssl
import threading
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
    CredentialsError,
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

    @property
    def tls(self) -> tuple[str | None, str | None, str | None, bool]:
        """What a connection pool is built from: when it changes, a new pool is needed."""
        return self.ca_file, self.cert_file, self.key_file, self.insecure


class CredentialSource(Protocol):
    """Where a `KubeApi` gets the credentials for its next request (see `jobwarden.cluster`).

    `current()` is asked before every request, so it is cheap when nothing changed.
    `forget()` is called after a 401: the next `current()` reads or refreshes anew.
    `advice()` names the cluster, where its credentials come from and what to check (for
    `CredentialsError`); it never includes a credential.
    """

    def current(self) -> Credentials: ...

    def forget(self) -> None: ...

    def advice(self) -> str: ...


class StaticCredentials:
    """Fixed credentials (tests, the local stack's admin): nothing to re-read."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials

    def current(self) -> Credentials:
        return self.credentials

    def forget(self) -> None:
        pass

    def advice(self) -> str:
        return f"the credentials given for {self.credentials.server} are fixed; give valid ones"


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


def _status_fields(body: bytes) -> tuple[str, str]:
    """The `reason` and `message` of a Kubernetes Status body ("" for anything else)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    return str(payload.get("reason", "")), str(payload.get("message", ""))


def _status_reason(body: bytes) -> str:
    return _status_fields(body)[0]


def _unauthenticated(status: int, body: bytes, credentials: Credentials) -> bool:
    """401, or 403 to `system:anonymous` although credentials were sent (they were not taken)."""
    if status == 401:
        return True
    if status != 403 or not (credentials.token or credentials.cert_file):
        return False
    return 'User "system:anonymous"' in _status_fields(body)[1]


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

    `credentials` are fixed `Credentials` or a `CredentialSource` asked before every
    request. `transport` moves the bytes (default: a `Urllib3Transport` for the current
    credentials, with `timeout` as its read timeout, built again when their TLS material
    changes); everything else here runs whatever the transport.
    """

    def __init__(
        self,
        credentials: Credentials | CredentialSource,
        *,
        timeout: float = 30.0,
        transport: Transport | None = None,
    ) -> None:
        if isinstance(credentials, Credentials):
            credentials = StaticCredentials(credentials)
        self.source: CredentialSource = credentials
        self._timeout = timeout
        self._given = transport
        self._pool: tuple[tuple[object, ...], Transport] | None = None
        self._pool_lock = threading.Lock()
        self.calls = 0  # requests sent, for budgets and benchmarks
        self._impersonate: list[tuple[str, str]] = []

    @property
    def credentials(self) -> Credentials:
        """The credentials the next request will carry."""
        return self.source.current()

    @property
    def transport(self) -> Transport:
        return self._connect(self.credentials)[1]

    def _connect(self, credentials: Credentials) -> tuple[dict[str, str], Transport]:
        """The headers and the transport for one request with `credentials`."""
        headers = {"Accept": "application/json"}
        if credentials.token:
            headers["Authorization"] = f"Bearer {credentials.token}"
        if self._given is not None:
            return headers, self._given
        with self._pool_lock:
            if self._pool is None or self._pool[0] != credentials.tls:
                pool = Urllib3Transport(credentials, timeout=self._timeout)
                self._pool = (credentials.tls, pool)
            return headers, self._pool[1]

    def impersonating(self, who: Principal) -> KubeApi:
        """This client acting as `who` (see the module docstring); shares source and transport."""
        api = KubeApi(self.source, timeout=self._timeout, transport=self._given)
        self._connect(self.credentials)  # build the pool now, so that both use the same one
        api._pool = self._pool
        api._impersonate = impersonation_headers(who)
        return api

    @property
    def acting_as(self) -> str | None:
        """The impersonated user, or None for jobwarden's own identity."""
        return next((v for k, v in self._impersonate if k == "Impersonate-User"), None)

    def _impersonated(self, headers: dict[str, str]) -> Mapping[str, str]:
        """`headers` plus the impersonation headers, repeated ones included."""
        if not self._impersonate:
            return headers
        out = urllib3.HTTPHeaderDict(headers)
        for name, value in self._impersonate:
            out.add(name, value)
        return out

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
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            credentials = self.credentials
            headers, transport = self._connect(credentials)
            if data is not None:
                headers["Content-Type"] = content_type
            self.calls += 1
            try:
                status, answer = transport.request(
                    method,
                    self._url(path, params),
                    headers=self._impersonated(headers),
                    body=data,
                    timeout=timeout,
                )
            except OSError as err:  # ConnectionError, TimeoutError, ssl errors
                raise ApiUnavailableError(
                    f"{method} {path}: cannot reach the API server at {credentials.server} "
                    f"({err}); check that it is running and reachable",
                    method=method,
                    path=path,
                ) from err
            if not _unauthenticated(status, answer, credentials):
                break
            self._refused(attempt, status, method, path, answer)
        if status >= 400:
            raise _error_for(status, method, path, answer, as_caller=bool(self._impersonate))
        return answer

    def _refused(self, attempt: int, status: int, method: str, path: str, body: bytes) -> None:
        """A first refusal makes the source forget its credentials; a second one is an error."""
        self.source.forget()
        if attempt == 1:
            return
        raise CredentialsError(
            f"{method} {path}: the API server refused jobwarden's credentials ({status} "
            f"{_status_reason(body) or 'Unauthorized'}), also just after reading them again; "
            f"{self.source.advice()}",
            method=method,
            path=path,
            status=status,
        )

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
        for attempt in (1, 2):
            credentials = self.credentials
            headers, transport = self._connect(credentials)
            try:
                stream = transport.stream(
                    "GET",
                    self._url(path, query),
                    headers=self._impersonated(headers),
                    timeout=timeout_seconds + 10,
                )
            except OSError as err:  # ConnectionError, TimeoutError, ssl errors
                raise ApiUnavailableError(
                    f"WATCH {path}: cannot reach the API server at {credentials.server} ({err})",
                    method="WATCH",
                    path=path,
                ) from err
            if stream.status not in (401, 403):
                break
            try:
                answer = stream.read()
            except OSError as err:
                raise ApiUnavailableError(
                    f"WATCH {path}: the answer broke off ({err})", method="WATCH", path=path
                ) from err
            finally:
                stream.close()
            if not _unauthenticated(stream.status, answer, credentials):
                raise _error_for(
                    stream.status, "WATCH", path, answer, as_caller=bool(self._impersonate)
                )
            self._refused(attempt, stream.status, "WATCH", path, answer)
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
