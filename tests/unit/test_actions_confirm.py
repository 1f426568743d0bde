"""jobwarden.actions confirmation tokens: signed, short-lived, bound to the Job and the caller."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json

import pytest

from jobwarden.actions.confirm import (
    Binding,
    InvalidTokenError,
    Verdict,
    decode,
    issue,
    verify,
)

SECRET = "confirm-test-secret"
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
PLAN = Binding(
    action="restart",
    cluster="prod",
    namespace="batch",
    name="nightly-28744",
    uid="6f1c-uid",
    resource_version="4711",
    caller="system:serviceaccount:ops:alice",
    options={"increaseMemory": True, "newName": "nightly-28744-retry-1", "digest": "abc"},
)


def token(binding: Binding = PLAN, *, at: dt.datetime = T0, ttl: int = 300) -> str:
    return issue(binding, secret=SECRET, now=at, ttl_seconds=ttl).token


def test_token_round_trip_gives_back_the_binding_and_expiry() -> None:
    issued = issue(PLAN, secret=SECRET, now=T0, ttl_seconds=300)
    decoded = decode(issued.token, secret=SECRET)
    assert decoded.binding == PLAN
    assert decoded.token_id == issued.token_id and len(decoded.token_id) == 24
    assert decoded.expires_at == T0 + dt.timedelta(seconds=300)
    check = verify(issued.token, secret=SECRET, now=T0 + dt.timedelta(seconds=299), expected=PLAN)
    assert check.ok and check.verdict is Verdict.OK


def test_each_plan_gets_its_own_token_id() -> None:
    assert decode(token(), secret=SECRET).token_id != decode(token(), secret=SECRET).token_id


def test_token_expires_after_the_ttl_by_the_injected_clock() -> None:
    t = token(ttl=60)
    assert verify(t, secret=SECRET, now=T0 + dt.timedelta(seconds=59), expected=PLAN).ok
    check = verify(t, secret=SECRET, now=T0 + dt.timedelta(seconds=60), expected=PLAN)
    assert check.verdict is Verdict.EXPIRED
    assert "expired at 2025-03-01T12:01:00" in check.reason


def _reencode(t: str, change: dict[str, object]) -> str:
    prefix, payload, signature = t.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data.update(change)
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return f"{prefix}.{forged}.{signature}"


@pytest.mark.parametrize(
    "change",
    [{"exp": 4102444800}, {"n": "other-job"}, {"sub": "mallory"}, {"rv": "4712"}],
    ids=["later-expiry", "other-job", "other-caller", "other-resource-version"],
)
def test_a_changed_payload_is_tampered(change: dict[str, object]) -> None:
    forged = _reencode(token(), change)
    check = verify(forged, secret=SECRET, now=T0, expected=PLAN)
    assert check.verdict is Verdict.TAMPERED
    with pytest.raises(InvalidTokenError, match="signature does not match"):
        decode(forged, secret=SECRET)


@pytest.mark.parametrize(
    "bad", ["", "jw1.abc", "jw2.a.b", "not a token", "jw1..", "x" * 9000], ids=repr
)
def test_garbage_is_tampered(bad: str) -> None:
    assert verify(bad, secret=SECRET, now=T0, expected=PLAN).verdict is Verdict.TAMPERED


def test_a_token_signed_with_another_secret_is_tampered() -> None:
    other = issue(PLAN, secret="another-secret", now=T0, ttl_seconds=300).token
    assert verify(other, secret=SECRET, now=T0, expected=PLAN).verdict is Verdict.TAMPERED


def test_token_is_bound_to_the_jobs_uid_and_resource_version() -> None:
    t = token()
    changed = dataclasses.replace(PLAN, resource_version="4800")
    check = verify(t, secret=SECRET, now=T0, expected=changed)
    assert check.verdict is Verdict.STALE
    assert "resourceVersion 4711 -> 4800" in check.reason
    replaced = dataclasses.replace(PLAN, uid="9a9a-new-uid")
    check = verify(t, secret=SECRET, now=T0, expected=replaced)
    assert check.verdict is Verdict.STALE and "replaced" in check.reason


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("action", "delete", "confirms action 'restart'"),
        ("cluster", "staging", "confirms cluster 'prod'"),
        ("namespace", "other", "confirms namespace 'batch'"),
        ("name", "nightly-28745", "confirms job 'nightly-28744'"),
        ("caller", "bob", "issued to 'system:serviceaccount:ops:alice'"),
    ],
)
def test_token_confirms_only_its_action_job_and_caller(field: str, value: str, words: str) -> None:
    check = verify(
        token(), secret=SECRET, now=T0, expected=dataclasses.replace(PLAN, **{field: value})
    )
    assert check.verdict is Verdict.MISMATCH
    assert words in check.reason


def test_options_the_request_repeats_must_match_the_plan() -> None:
    t = token()
    same = dataclasses.replace(PLAN, options={"increaseMemory": True})
    assert verify(t, secret=SECRET, now=T0, expected=same).ok
    omitted = dataclasses.replace(PLAN, options={})
    assert verify(t, secret=SECRET, now=T0, expected=omitted).ok
    different = dataclasses.replace(PLAN, options={"increaseMemory": False})
    check = verify(t, secret=SECRET, now=T0, expected=different)
    assert check.verdict is Verdict.MISMATCH
    assert "increaseMemory=True" in check.reason


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret is empty"):
        issue(PLAN, secret="", now=T0, ttl_seconds=300)


def test_token_does_not_contain_the_secret() -> None:
    assert SECRET not in token()
    assert base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("=") not in token()


@pytest.mark.parametrize(
    "malformed",
    ["jw1.é.x", "jw1.e30", "jw1.e30.AA.BB", "jw1.e30.AA AA", "jw1.!!.AA", "x" * 9000, 42, None],
    ids=["non-ascii", "two-parts", "four-parts", "space", "bad-b64", "long", "int", "none"],
)
def test_a_malformed_token_is_invalid_never_an_unexpected_error(malformed: object) -> None:
    with pytest.raises(InvalidTokenError, match="not a jobwarden confirmation token"):
        decode(malformed, secret=SECRET)
