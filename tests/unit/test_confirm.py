"""Confirmation tokens: signed, short-lived, bound to the Job's uid and resourceVersion."""

from __future__ import annotations

import datetime as dt

import pytest

from jobwarden.operations.auth import ActionError
from jobwarden.operations.confirm import issue, verify
from jobwarden.operations.restart import clean_manifest, next_name

NOW = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)
CLAIMS = {
    "action": "restart",
    "cluster": "prod",
    "namespace": "batch",
    "name": "etl",
    "uid": "u-1",
    "resourceVersion": "42",
    "user": "alice",
}


def test_round_trip_within_its_lifetime() -> None:
    token, expires = issue("k", CLAIMS, now=NOW, ttl_s=300)
    assert expires == "2026-11-01T10:05:00Z"
    claims = verify("k", token, CLAIMS, now=NOW + dt.timedelta(seconds=299))
    assert claims["uid"] == "u-1"


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"resourceVersion": "43"}, 409, "changed since the plan"),
        ({"uid": "u-2"}, 409, "changed since the plan"),
        ({"user": "mallory"}, 403, "another user"),
        ({"action": "delete"}, 403, "another action"),
        ({"name": "other"}, 403, "another name"),
    ],
)
def test_a_token_only_fits_its_job_version_caller_and_action(
    change: dict[str, str], status: int, words: str
) -> None:
    token, _ = issue("k", CLAIMS, now=NOW, ttl_s=300)
    with pytest.raises(ActionError) as info:
        verify("k", token, {**CLAIMS, **change}, now=NOW)
    assert info.value.status == status
    assert words in str(info.value)


def test_expired_tampered_and_foreign_tokens_are_refused() -> None:
    token, _ = issue("k", CLAIMS, now=NOW, ttl_s=300)
    with pytest.raises(ActionError, match="expired") as expired:
        verify("k", token, CLAIMS, now=NOW + dt.timedelta(seconds=301))
    assert expired.value.status == 409
    with pytest.raises(ActionError, match="signature"):
        verify("other-key", token, CLAIMS, now=NOW)
    payload, mac = token.split(".")
    with pytest.raises(ActionError):
        verify("k", payload[:-2] + "AA." + mac, CLAIMS, now=NOW)
    with pytest.raises(ActionError, match="not a jobwarden confirmation token"):
        verify("k", "garbage", CLAIMS, now=NOW)


def test_new_names_count_up_and_fit_63_characters() -> None:
    assert next_name("{name}-retry-{n}", "etl", {"etl", "etl-retry-1"}) == "etl-retry-2"
    long = "x" * 63
    name = next_name("{name}-retry-{n}", long, set())
    assert len(name) <= 63
    assert name.endswith("-retry-1")


def test_recreated_job_drops_what_the_system_set_and_keeps_the_cronjob_owner() -> None:
    old = {
        "metadata": {
            "name": "nightly-1",
            "namespace": "b",
            "uid": "u",
            "resourceVersion": "9",
            "creationTimestamp": "t",
            "managedFields": [{}],
            "labels": {
                "batch.kubernetes.io/controller-uid": "u",
                "job-name": "nightly-1",
                "team": "d",
            },
            "ownerReferences": [{"kind": "CronJob", "name": "nightly", "uid": "c"}],
        },
        "spec": {
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "u"}},
            "template": {
                "metadata": {
                    "labels": {
                        "batch.kubernetes.io/controller-uid": "u",
                        "batch.kubernetes.io/job-name": "nightly-1",
                        "app": "x",
                    }
                },
                "spec": {"containers": [{"name": "w", "image": "i"}]},
            },
        },
        "status": {"failed": 1},
    }
    new = clean_manifest(old, "nightly-1-retry-1", requested_by="alice")
    assert "status" not in new
    assert new["metadata"]["name"] == "nightly-1-retry-1"
    assert new["metadata"]["labels"] == {"team": "d"}
    assert new["metadata"]["ownerReferences"] == [
        {"kind": "CronJob", "name": "nightly", "uid": "c"}
    ]
    assert not {"uid", "resourceVersion", "creationTimestamp", "managedFields"} & set(
        new["metadata"]
    )
    assert "selector" not in new["spec"]
    assert new["spec"]["template"]["metadata"]["labels"] == {"app": "x"}
    assert new["metadata"]["annotations"]["jobwarden.dev/restarted-by"] == "alice"
