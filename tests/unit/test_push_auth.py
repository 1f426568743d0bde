"""security.pushAuth: an event function whose route is public accepts only Pub/Sub's signed
push requests for our push service account (Knative), refusing everything else with 401.

Through the real function (functions-framework test client) on recorded API answers, with
RSA keys made in the test and published as a JWK set over real HTTP on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jobwarden.cluster import ClusterRegistry, ClusterSpec
from jobwarden.config import parse_config
from jobwarden.kubeapi import Credentials, KubeApi
from jobwarden.runtime import Runtime
from tests.support.iap import GoogleOidcKeys, serve_jwks
from tests.support.replay import default_runtime, event_of, function_client, load, memory_store

AUDIENCE = "https://events.example.com"
PUSHER = "push@proj.iam.gserviceaccount.com"


@pytest.fixture
def keys() -> GoogleOidcKeys:
    return GoogleOidcKeys()


@pytest.fixture
def runtime(keys: GoogleOidcKeys) -> Iterator[tuple[Runtime, Any]]:
    replay = load("backoff-log-error").replay()
    with serve_jwks(keys) as url:
        settings = parse_config(
            {
                "clusters": [{"name": "local", "kubeconfig": "/nowhere"}],
                "sinks": {"storage": {"url": "file://./unused"}},
                "security": {
                    "pushAuth": {
                        "audience": AUDIENCE,
                        "serviceAccountEmail": PUSHER,
                        "jwksUrl": url,
                    }
                },
            },
            source="test",
        )
        registry = ClusterRegistry(
            [ClusterSpec(name="local")],
            factory=lambda spec: KubeApi(Credentials(server="https://k.invalid"), transport=replay),
        )
        yield Runtime(settings=settings, clusters=registry, env={}, _store=memory_store()), replay


def post(rt: Runtime, authorization: str | None, message_id: str) -> int:
    headers, body = event_of(load("backoff-log-error").meta["jobObject"], "failed", message_id)
    if authorization is not None:
        headers["Authorization"] = authorization
    with default_runtime(rt):
        answer = function_client("jobFailureReporter").post("/", headers=headers, data=body)
    return int(answer.status_code)


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer not-a-jwt",
        "Basic cHVzaDpwdXNo",
    ],
)
def test_a_push_without_a_valid_token_is_401_and_does_nothing(
    runtime: tuple[Runtime, Any], authorization: str | None
) -> None:
    rt, replay = runtime
    assert post(rt, authorization, "m-1") == 401
    assert rt.store.list() == [] and replay.served == []


@pytest.mark.parametrize(
    "change",
    [
        {"email": "attacker@proj.iam.gserviceaccount.com"},
        {"audience": "https://elsewhere.example.com"},
        {"issuer": "https://evil.example.com"},
        {"expires_in": -10},
        {"email_verified": False},
    ],
)
def test_a_token_failing_any_check_is_401(
    runtime: tuple[Runtime, Any], keys: GoogleOidcKeys, change: dict[str, Any]
) -> None:
    rt, _ = runtime
    assert post(rt, f"Bearer {keys.sign(**change)}", "m-2") == 401
    assert rt.store.list() == []


def test_a_token_signed_by_another_key_is_401(
    runtime: tuple[Runtime, Any], keys: GoogleOidcKeys
) -> None:
    rt, _ = runtime
    forger = GoogleOidcKeys(kid=keys.kid)
    assert post(rt, f"Bearer {forger.sign()}", "m-3") == 401


def test_pub_subs_signed_push_is_reported(
    runtime: tuple[Runtime, Any], keys: GoogleOidcKeys
) -> None:
    rt, _ = runtime
    assert post(rt, f"Bearer {keys.sign(PUSHER, audience=AUDIENCE)}", "m-4") == 200
    assert any("/jobFailureReporter/" in k for k in rt.store.list())
