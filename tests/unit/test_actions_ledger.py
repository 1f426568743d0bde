"""A confirmed action runs exactly the plan its token names, whatever the ledger says.

The ledger lives in the reports bucket, which every report function can write. Its records
are authenticated with the confirmation key and bound to their token: a record altered in
any field, made for another token, or naming another plan is 409 `stale`, and the cluster
sees no request but the caller's TokenReview and SubjectAccessReviews.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from jobwarden.actions import ledger
from jobwarden.actions.audit import read_audit
from jobwarden.actions.confirm import Binding, issue
from jobwarden.actions.http import serve
from jobwarden.errors import StaleError
from jobwarden.httpapi import HttpRequest
from jobwarden.kube import paths
from jobwarden.kubeapi import Stream
from jobwarden.runtime import Runtime
from tests.support.replay import make_runtime, memory_store

SECRET = "ledger-unit-test-confirmation-key-0123456789"
OTHER_KEY = "another-deployments-confirmation-key-0123456"
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CALLER = "system:serviceaccount:ops:alice"
TOKEN_BINDING = Binding(
    action="restart",
    cluster="local",
    namespace="batch",
    name="etl",
    uid="uid-etl-1",
    resource_version="4711",
    caller=CALLER,
    options={"increaseMemory": False, "newName": "etl-retry-1", "digest": "d" * 32},
)
PLAN = {
    "action": "restart",
    "digest": "d" * 32,
    "newName": "etl-retry-1",
    "containers": [{"name": "main", "image": "registry.example/etl:1", "env": ["DB_URL"]}],
    "podSpec": {"serviceAccountName": "etl"},
}


def expected(token_id: str) -> ledger.Binding:
    return ledger.Binding(
        id=token_id,
        action="restart",
        cluster="local",
        namespace="batch",
        name="etl",
        uid="uid-etl-1",
        caller=CALLER,
        digest="d" * 32,
        new_name="etl-retry-1",
    )


class _Cluster:
    """Answers the caller's TokenReview and SubjectAccessReviews; any other request is
    recorded and refused (500), so a test can say nothing else was asked."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> tuple[int, bytes]:
        path = url.split("://", 1)[1].split("/", 1)[1]
        self.requests.append((method, "/" + path))
        sent = json.loads(body or b"{}")
        if url.endswith(paths.TOKEN_REVIEWS):
            user = {"username": CALLER, "groups": ["system:serviceaccounts"], "uid": "u-1"}
            return 201, json.dumps(
                {**sent, "status": {"authenticated": True, "user": user}}
            ).encode()
        if url.endswith(paths.SUBJECT_ACCESS_REVIEWS):
            return 201, json.dumps({**sent, "status": {"allowed": True}}).encode()
        return 500, b'{"kind":"Status","message":"not expected in this test"}'

    def stream(
        self, method: str, url: str, *, headers: Mapping[str, str], timeout: float | None
    ) -> Stream:
        raise ConnectionError("no watches here")

    @property
    def others(self) -> list[tuple[str, str]]:
        reviews = (paths.TOKEN_REVIEWS, paths.SUBJECT_ACCESS_REVIEWS)
        return [r for r in self.requests if not r[1].endswith(reviews)]


@pytest.fixture
def cluster() -> _Cluster:
    return _Cluster()


@pytest.fixture
def runtime(cluster: _Cluster) -> Runtime:
    rt = make_runtime(cluster, env={"JOBWARDEN_CONFIRM_SECRET": SECRET}, store=memory_store())
    rt.clock = lambda: T0 + dt.timedelta(seconds=10)
    return rt


def confirm(runtime: Runtime, token: str, **more: Any) -> tuple[int, dict[str, Any]]:
    body = {"cluster": "local", "namespace": "batch", "name": "etl", "confirmationToken": token}
    answer = serve(
        "restart",
        HttpRequest(method="POST", body={**body, **more}, headers={"Authorization": "Bearer t"}),
        runtime,
    )
    return answer.status, json.loads(answer.text)


def _signed(secret: str = SECRET) -> tuple[str, str]:
    token = issue(TOKEN_BINDING, secret=secret, now=T0, ttl_seconds=300)
    return token.token, token.token_id


def _store_record(runtime: Runtime, token_id: str, state: str = "retryable") -> dict[str, Any]:
    book = ledger.Ledger(runtime.store, expected(token_id), PLAN, secret=SECRET)
    if state == "done":
        book.finish(T0, 200, {"status": "restarted"})
    else:
        book.release(T0)  # a temporary failure: the next call would resume
    record = runtime.store.get_json(ledger.ledger_key(token_id))
    assert isinstance(record, dict)
    return record


def test_an_authentic_record_reads_back_and_a_done_one_answers_as_the_first(
    runtime: Runtime, cluster: _Cluster
) -> None:
    token, token_id = _signed()
    _store_record(runtime, token_id, state="done")
    entry = ledger.lookup(runtime.store, token_id, secret=SECRET, expected=expected(token_id))
    assert entry is not None and entry.state == "done" and entry.plan == PLAN
    status, body = confirm(runtime, token)
    assert (status, body["status"], body["replayed"]) == (200, "restarted", True)
    assert cluster.others == []


def _set_binding(key: str, record: dict[str, Any]) -> None:
    record["binding"][key] = "other"


TAMPERING: dict[str, Callable[[dict[str, Any]], None]] = {
    "state": lambda r: r.update(state="done", status=200, body={"status": "restarted"}),
    "at": lambda r: r.update(at="2020-01-01T00:00:00Z"),
    "plan-image": lambda r: r["plan"]["containers"][0].update(image="evil.example/miner:1"),
    "plan-service-account": lambda r: r["plan"]["podSpec"].update(serviceAccountName="admin"),
    "plan-host-network": lambda r: r["plan"]["podSpec"].update(hostNetwork=True),
    "status": lambda r: r.update(status=200),
    "version": lambda r: r.update(v=2),
    "no-mac": lambda r: r.pop("mac"),
    "mac": lambda r: r.update(mac="0" * 64),
    **{
        f"binding-{key}": functools.partial(_set_binding, key)
        for key in (
            "id",
            "action",
            "cluster",
            "namespace",
            "name",
            "uid",
            "caller",
            "digest",
            "new_name",
            "request",
        )
    },
    "binding-memory": lambda r: r["binding"].update(
        memory=[{"container": "main", "field": "limit", "from": "1Gi", "to": "64Gi"}]
    ),
    "not-an-object": lambda r: (r.clear(), r.update(mac=[])),
}


@pytest.mark.parametrize("change", TAMPERING.values(), ids=TAMPERING.keys())
def test_a_record_altered_in_any_field_is_stale_and_nothing_runs(
    runtime: Runtime, cluster: _Cluster, change: Callable[[dict[str, Any]], None]
) -> None:
    token, token_id = _signed()
    record = copy.deepcopy(_store_record(runtime, token_id))
    change(record)
    runtime.store.put_json(ledger.ledger_key(token_id), record)
    with pytest.raises(StaleError):
        ledger.lookup(runtime.store, token_id, secret=SECRET, expected=expected(token_id))
    status, body = confirm(runtime, token)
    assert (status, body["code"]) == (409, "stale"), body
    assert cluster.others == []  # not even a read of the Job: no write, no plan
    (audited,) = read_audit(runtime.store)
    assert (audited["phase"], audited["httpStatus"], audited["result"]) == (
        "refused",
        409,
        "stale",
    )


def test_a_record_copied_from_another_token_or_signed_with_another_key_is_stale(
    runtime: Runtime, cluster: _Cluster
) -> None:
    token, token_id = _signed()
    _, other_id = _signed()
    runtime.store.put_json(
        ledger.ledger_key(token_id), _store_record(runtime, other_id, state="done")
    )
    assert confirm(runtime, token)[0] == 409
    foreign = ledger.Ledger(runtime.store, expected(token_id), PLAN, secret=OTHER_KEY)
    foreign.finish(T0, 200, {"status": "restarted", "newJob": {"name": "x"}})
    status, body = confirm(runtime, token)
    assert (status, body["code"]) == (409, "stale") and "signature" in body["error"], body
    assert cluster.others == []


def test_an_authentic_record_of_another_plan_for_this_token_is_stale(
    runtime: Runtime, cluster: _Cluster
) -> None:
    token, token_id = _signed()
    other_plan = dataclasses.replace(expected(token_id), digest="e" * 32)
    ledger.Ledger(runtime.store, other_plan, PLAN, secret=SECRET).release(T0)
    status, body = confirm(runtime, token)
    assert (status, body["code"]) == (409, "stale") and "another digest" in body["error"], body
    assert cluster.others == []


def test_an_expired_token_with_a_ledger_record_is_refused_before_the_ledger_is_read(
    runtime: Runtime, cluster: _Cluster
) -> None:
    token, token_id = _signed()
    _store_record(runtime, token_id, state="done")
    runtime.clock = lambda: T0 + dt.timedelta(days=30)
    status, body = confirm(runtime, token)
    assert (status, body["code"]) == (409, "expired"), body
    assert cluster.others == []


@pytest.mark.parametrize(
    "token",
    [
        "jw1.é.x",
        "jw1.\u00e9\u00e9.AAAA",
        "jw1.e30",
        "jw1.e30.AAAA.BBBB",
        "jw2.e30.AAAA",
        "jw1.e30.AA AA",
        "jw1.!!!.AAAA",
        "x" * 9000,
    ],
    ids=[
        "non-ascii",
        "non-ascii-2",
        "two-parts",
        "four-parts",
        "prefix",
        "space",
        "bad-b64",
        "long",
    ],
)
def test_a_malformed_token_is_400_bad_token_and_audited(
    runtime: Runtime, cluster: _Cluster, token: str
) -> None:
    status, body = confirm(runtime, token)
    assert (status, body["code"]) == (400, "bad_token"), body
    (audited,) = read_audit(runtime.store)
    assert (audited["phase"], audited["httpStatus"], audited["result"]) == (
        "refused",
        400,
        "bad_token",
    )
    assert token[:20] not in json.dumps(audited)
    assert cluster.others == []


def test_a_signed_token_whose_payload_has_the_wrong_shape_is_bad_token(
    runtime: Runtime,
) -> None:
    import base64
    import hashlib
    import hmac

    for payload in (b"[1, 2]", b'{"id": 1}', b"not json", b'{"opt": "x"}'):
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        signed = f"jw1.{body}"
        mac = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()
        token = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
        status, answer = confirm(runtime, token)
        assert (status, answer["code"]) == (400, "bad_token"), (payload, answer)
