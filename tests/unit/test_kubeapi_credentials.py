"""KubeApi asks its credential source before every request; a 401 gets one retry with fresh
credentials, and a second one is a temporary CredentialsError naming where to look."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping

import pytest

from jobwarden.errors import CredentialsError, ForbiddenError, TemporaryError
from jobwarden.kubeapi import Credentials, KubeApi, Stream

SERVER = "https://10.9.8.7:6443"
# the API server's own answers (kube-apiserver 1.3x), as sent
UNAUTHORIZED = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"Unauthorized","reason":"Unauthorized","code":401}'
)
ANONYMOUS = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
    b'"jobs.batch is forbidden: User \\"system:anonymous\\" cannot list resource \\"jobs\\" '
    b'in API group \\"batch\\" at the cluster scope","reason":"Forbidden","code":403}'
)
FORBIDDEN = ANONYMOUS.replace(b"system:anonymous", b"system:serviceaccount:jw:fn")


class Rotating:
    """A credential source whose token the test rotates; counts what KubeApi asks of it."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.forgotten = 0
        self.asked = 0

    def current(self) -> Credentials:
        self.asked += 1
        return Credentials(server=SERVER, token=self.token)

    def forget(self) -> None:
        self.forgotten += 1

    def advice(self) -> str:
        return "cluster prod-eu: check /etc/jobwarden/kubeconfig"


class RereadOnForget(Rotating):
    """A source that finds a new token when told its credentials were refused."""

    def forget(self) -> None:
        super().forget()
        self.token = "new"


class _Answer:
    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self._body = io.BytesIO(body)

    def read(self) -> bytes:
        return self._body.read()

    def chunks(self) -> Iterator[bytes]:
        yield self._body.read()

    def close(self) -> None:
        pass


class Gate:
    """A transport that lets through the tokens in `valid` and answers `refusal` otherwise."""

    def __init__(self, *valid: str, refusal: tuple[int, bytes] = (401, UNAUTHORIZED)) -> None:
        self.valid = set(valid)
        self.refusal = refusal
        self.seen: list[str] = []

    def _check(self, headers: Mapping[str, str]) -> tuple[int, bytes]:
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        self.seen.append(token)
        return (200, b'{"kind":"JobList","items":[]}') if token in self.valid else self.refusal

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        return self._check(headers)

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        status, body = self._check(headers)
        if status == 200:
            body = b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'
        return _Answer(status, body)


def test_each_request_carries_the_sources_current_token() -> None:
    source, gate = Rotating("one"), Gate("one", "two")
    api = KubeApi(source, transport=gate)
    api.get("/apis/batch/v1/jobs")
    source.token = "two"
    api.get("/apis/batch/v1/jobs")
    assert gate.seen == ["one", "two"]
    assert source.forgotten == 0


def test_a_401_makes_the_source_forget_and_the_request_is_sent_once_more() -> None:
    source, gate = RereadOnForget("old"), Gate("new")
    api = KubeApi(source, transport=gate)
    assert api.get("/apis/batch/v1/jobs")["kind"] == "JobList"
    assert gate.seen == ["old", "new"]
    assert source.forgotten == 1
    assert api.calls == 2


def test_refused_twice_is_a_temporary_credentials_error_naming_where_to_look() -> None:
    source = Rotating("revoked-token-value")
    api = KubeApi(source, transport=Gate())
    with pytest.raises(CredentialsError) as info:
        api.get("/apis/batch/v1/namespaces/a/jobs/j")
    err = info.value
    assert isinstance(err, TemporaryError) and err.status == 503
    assert err.code == "cluster_credentials" and err.http_status == 401
    message = str(err)
    assert message.startswith("GET /apis/batch/v1/namespaces/a/jobs/j: the API server refused")
    assert "(401 Unauthorized)" in message
    assert "cluster prod-eu: check /etc/jobwarden/kubeconfig" in message
    assert "revoked-token-value" not in message
    assert source.forgotten == 2  # the next request starts from fresh credentials too


def test_a_403_to_system_anonymous_despite_a_token_counts_as_refused() -> None:
    api = KubeApi(Rotating("t"), transport=Gate(refusal=(403, ANONYMOUS)))
    with pytest.raises(CredentialsError, match=r"\(403 Forbidden\)"):
        api.get("/apis/batch/v1/jobs")


def test_an_rbac_403_is_not_a_credentials_problem_and_is_not_retried() -> None:
    source, gate = Rotating("t"), Gate(refusal=(403, FORBIDDEN))
    with pytest.raises(ForbiddenError):
        KubeApi(source, transport=gate).get("/apis/batch/v1/jobs")
    assert len(gate.seen) == 1 and source.forgotten == 0


def test_a_watch_refused_once_starts_again_with_fresh_credentials() -> None:
    gate = Gate("new")
    events = list(KubeApi(RereadOnForget("old"), transport=gate).watch("/apis/batch/v1/jobs"))
    assert [e["type"] for e in events] == ["ADDED"]
    assert gate.seen == ["old", "new"]


def test_a_watch_refused_twice_is_a_credentials_error() -> None:
    with pytest.raises(CredentialsError, match="WATCH /apis/batch/v1/jobs: the API server refused"):
        list(KubeApi(Rotating("t"), transport=Gate()).watch("/apis/batch/v1/jobs"))


def test_fixed_credentials_still_work_and_advise_giving_valid_ones() -> None:
    api = KubeApi(Credentials(server=SERVER, token="x"), transport=Gate())
    with pytest.raises(CredentialsError, match="are fixed; give valid ones"):
        api.get("/apis/batch/v1/jobs")
    assert api.credentials.token == "x"
