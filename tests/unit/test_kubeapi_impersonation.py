"""`KubeApi.impersonating(caller)`: the same client, every request made as the caller.

The headers follow the Kubernetes impersonation contract (one `Impersonate-Group` line per
group, extra keys percent-encoded as client-go does); refusals of such a request are the
caller's (403 `forbidden`), except a refusal to impersonate, which is jobwarden's own RBAC.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from jobwarden.auth import Caller
from jobwarden.errors import (
    CallerRefusedError,
    ForbiddenError,
    InvalidError,
    error_body,
    status_for,
)
from jobwarden.kubeapi import Credentials, KubeApi, impersonation_headers

ALICE = Caller(
    username="alice@example.com",
    groups=("ops", "system:authenticated"),
    uid="u-42",
    extra={"authentication.kubernetes.io/credential-id": ("JTI=abc",), "scopes": ("a", "b")},
)
VAP_DENIAL = (
    "jobs.batch \"etl-retry-1\" is forbidden: ValidatingAdmissionPolicy 'no-jobs' with binding "
    "'no-jobs' denied request: alice may not create Jobs"
)


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[list[tuple[str, str]]]] = []
    answer: ClassVar[tuple[int, dict[str, Any]]] = (200, {"kind": "Job"})

    def _serve(self) -> None:
        type(self).seen.append(list(self.headers.items()))
        status, body = type(self).answer
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[str]:
    _Handler.seen = []
    _Handler.answer = (200, {"kind": "Job"})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_headers_name_user_each_group_uid_and_percent_encoded_extra_keys() -> None:
    assert impersonation_headers(ALICE) == [
        ("Impersonate-User", "alice@example.com"),
        ("Impersonate-Group", "ops"),
        ("Impersonate-Group", "system:authenticated"),
        ("Impersonate-Uid", "u-42"),
        ("Impersonate-Extra-authentication.kubernetes.io%2Fcredential-id", "JTI=abc"),
        ("Impersonate-Extra-scopes", "a"),
        ("Impersonate-Extra-scopes", "b"),
    ]
    odd = Caller(username="bob", extra={"50%/ü key": ("v",)})
    assert impersonation_headers(odd)[-1] == ("Impersonate-Extra-50%25%2F%C3%BC%20key", "v")
    assert impersonation_headers(Caller(username="carol")) == [("Impersonate-User", "carol")]


def test_the_wire_carries_one_line_per_group_and_the_original_client_stays_itself(
    server: str,
) -> None:
    api = KubeApi(Credentials(server=server, token="jobwarden-token"))
    as_alice = api.impersonating(ALICE)
    assert as_alice.transport is api.transport and as_alice.acting_as == "alice@example.com"
    as_alice.create("/apis/batch/v1/namespaces/a/jobs", {"kind": "Job"})
    api.get("/apis/batch/v1/namespaces/a/jobs/x")
    impersonated, own = _Handler.seen
    assert [v for k, v in impersonated if k == "Impersonate-Group"] == [
        "ops",
        "system:authenticated",
    ]
    assert ("Impersonate-User", "alice@example.com") in impersonated
    assert ("Authorization", "Bearer jobwarden-token") in impersonated
    assert ("Content-Type", "application/json") in impersonated
    assert not [k for k, _ in own if k.startswith("Impersonate-")]
    assert api.acting_as is None


@pytest.mark.parametrize(
    ("status", "message", "error", "http", "code"),
    [
        (403, VAP_DENIAL, CallerRefusedError, 403, "forbidden"),
        (422, VAP_DENIAL, CallerRefusedError, 403, "forbidden"),
        (
            400,
            'admission webhook "policy.example.com" denied the request: no hostNetwork',
            CallerRefusedError,
            403,
            "forbidden",
        ),
        (
            403,
            'jobs.batch is forbidden: User "alice" cannot create resource "jobs" in API group '
            '"batch" in the namespace "a"',
            CallerRefusedError,
            403,
            "forbidden",
        ),
        (
            403,
            'users "alice" is forbidden: User "system:serviceaccount:jobwarden:actions" cannot '
            'impersonate resource "users" in API group "" at the cluster scope',
            ForbiddenError,
            500,
            "jobwarden_forbidden",
        ),
        (
            422,
            'Job.batch "x" is invalid: spec.template: Required value',
            InvalidError,
            400,
            "invalid",
        ),
    ],
    ids=["vap-403", "vap-422", "webhook-400", "rbac", "cannot-impersonate", "plain-invalid"],
)
def test_a_refusal_of_a_request_made_as_the_caller_is_theirs_unless_impersonation_failed(
    server: str, status: int, message: str, error: type[Exception], http: int, code: str
) -> None:
    _Handler.answer = (status, {"kind": "Status", "reason": "Forbidden", "message": message})
    as_alice = KubeApi(Credentials(server=server)).impersonating(ALICE)
    with pytest.raises(error) as info:
        as_alice.create("/apis/batch/v1/namespaces/a/jobs", {"kind": "Job"})
    assert type(info.value) is error
    assert status_for(info.value) == http and error_body(info.value)["code"] == code
    assert message[:60] in str(info.value)


def test_without_impersonation_a_403_stays_jobwardens_own(server: str) -> None:
    _Handler.answer = (403, {"kind": "Status", "message": VAP_DENIAL})
    with pytest.raises(ForbiddenError):
        KubeApi(Credentials(server=server)).create("/apis/batch/v1/namespaces/a/jobs", {})
