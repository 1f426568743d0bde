"""security.tokenReviewAudiences: a bearer token is accepted only when issued for them.

Real API server, real TokenRequests: a token issued for audience `jobwarden` passes the
TokenReview that asks for `jobwarden`; a token issued for the API server's own audience
(what `kubectl create token` gives by default) is 401 once audiences are configured, so a
token stolen from another service cannot be replayed against jobwarden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app

from jobwarden.kubeapi import KubeApi
from jobwarden.runtime import Runtime, set_default_runtime
from jobwarden_dev.localstack.stack import StackInfo
from tests.support.kube import job_condition, job_manifest, wait_for
from tests.support.runtime import make_runtime

ROOT = Path(__file__).resolve().parents[2]
READS = [
    {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["get"]},
    {"apiGroups": [""], "resources": ["pods", "events"], "verbs": ["list"]},
]


@pytest.fixture
def configure(stack: StackInfo, tmp_path: Path) -> Iterator[Callable[..., Runtime]]:
    def make(**extra: Any) -> Runtime:
        rt = make_runtime(stack, tmp_path / "reports", extra=extra)
        set_default_runtime(rt)
        return rt

    yield make
    set_default_runtime(None)


def token_for(admin: KubeApi, namespace: str, name: str, audiences: list[str] | None) -> str:
    spec: dict[str, Any] = {"expirationSeconds": 3600}
    if audiences:
        spec["audiences"] = audiences
    review = admin.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
    )
    return str(review["status"]["token"])


def test_tokens_must_be_issued_for_the_configured_audiences(
    admin: KubeApi,
    namespace: str,
    mint_token: Callable[..., str],
    configure: Callable[..., Runtime],
) -> None:
    mint_token("reader", READS)  # the ServiceAccount and its Role
    admin.create(
        f"/apis/batch/v1/namespaces/{namespace}/jobs",
        job_manifest("etl", outcome="fail", backoff_limit=0),
    )
    wait_for(lambda: job_condition(admin, namespace, "etl", "Failed"), timeout=60, what="Failed")
    configure(security={"tokenReviewAudiences": ["jobwarden"]})
    fn = create_app(
        "job_info_enricher_http", str(ROOT / "functions/job_info_enricher/main.py"), "http"
    ).test_client()
    job = {"cluster": "local", "namespace": namespace, "name": "etl"}

    def ask(token: str) -> tuple[int, Any]:
        answer = fn.post("/", json=job, headers={"Authorization": f"Bearer {token}"})
        return answer.status_code, answer.get_json()

    status, body = ask(token_for(admin, namespace, "reader", ["jobwarden"]))
    assert status == 200 and body["job"] == "etl", body
    status, body = ask(token_for(admin, namespace, "reader", None))  # the API server's audience
    assert status == 401 and body["code"] == "unauthenticated", body
    status, body = ask(token_for(admin, namespace, "reader", ["some-other-service"]))
    assert status == 401, body
