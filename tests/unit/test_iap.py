"""IAP mode: only a verified X-Goog-IAP-JWT-Assertion names the caller; anything else is 401."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jobwarden import iap
from jobwarden.auth import authenticate
from jobwarden.config import parse_config
from jobwarden.errors import ConfigError, UnauthenticatedError
from tests.support.iap import AUDIENCE, IapKeys, b64, serve_jwks


@pytest.fixture
def keys() -> IapKeys:
    return IapKeys()


@pytest.fixture
def jwks_url(keys: IapKeys) -> Iterator[str]:
    with serve_jwks(keys) as url:
        yield url


def security(jwks_url: str) -> Any:
    settings = parse_config(
        {"security": {"authentication": "iap", "iap": {"audience": AUDIENCE, "jwksUrl": jwks_url}}},
        source="test",
    )
    return settings.security


class NoApi:
    """IAP mode must not ask the cluster who the caller is."""

    def create(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("IAP mode sent a TokenReview")


def caller(jwks_url: str, headers: dict[str, str]) -> Any:
    return authenticate(NoApi(), headers, security=security(jwks_url), cluster="prod")  # type: ignore[arg-type]


def test_a_valid_assertion_names_the_caller_by_its_email(keys: IapKeys, jwks_url: str) -> None:
    who = caller(jwks_url, {iap.HEADER: keys.sign("alice@example.com")})
    assert who.username == "alice@example.com"
    assert who.groups == ("system:authenticated",) and who.via == "iap"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"audience": "/projects/1/global/backendServices/2"}, "not this service's"),
        ({"issuer": "https://accounts.google.com"}, "issuer"),
        ({"expires_in": -1}, "expired"),
        ({"issued_ago": -3600}, "future"),
        ({"alg": "HS256"}, "not ES256"),
        ({"kid": "unknown-kid"}, "not in IAP's key set"),
        ({"email": "no-at-sign"}, "names no email"),
    ],
)
def test_an_assertion_failing_any_check_is_401(
    keys: IapKeys, jwks_url: str, change: dict[str, Any], why: str
) -> None:
    kwargs = dict(change)
    email = kwargs.pop("email", "alice@example.com")
    with pytest.raises(UnauthenticatedError, match=why) as caught:
        caller(jwks_url, {iap.HEADER: keys.sign(email, **kwargs)})
    assert caught.value.status == 401


def test_a_signature_by_another_key_is_401(keys: IapKeys, jwks_url: str) -> None:
    forger = IapKeys(kid=keys.kid)  # same kid, another private key
    with pytest.raises(UnauthenticatedError, match="does not verify"):
        caller(jwks_url, {iap.HEADER: forger.sign()})


def test_a_tampered_payload_is_401(keys: IapKeys, jwks_url: str) -> None:
    header, _, signature = keys.sign("alice@example.com").split(".")
    forged = b64(
        b'{"iss":"https://cloud.google.com/iap","aud":"' + AUDIENCE.encode() + b'",'
        b'"email":"root@example.com","iat":1,"exp":99999999999}'
    )
    with pytest.raises(UnauthenticatedError, match="does not verify"):
        caller(jwks_url, {iap.HEADER: f"{header}.{forged}.{signature}"})


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Goog-Authenticated-User-Email": "accounts.google.com:alice@example.com"},
        {"Authorization": "Bearer some-kubernetes-token"},
        {iap.HEADER: "not.a.jwt.at.all"},
        {iap.HEADER: "é.é.é"},
        {iap.HEADER: ""},
    ],
)
def test_without_a_verified_assertion_other_headers_prove_nothing(
    jwks_url: str, headers: dict[str, str]
) -> None:
    with pytest.raises(UnauthenticatedError) as caught:
        caller(jwks_url, headers)
    assert caught.value.status == 401


def test_keys_are_fetched_once_and_again_for_an_unknown_kid(keys: IapKeys) -> None:
    rotated = IapKeys(kid="test-key-2")
    with serve_jwks(keys) as url:
        key_set = iap.KeySet(url)
        token = keys.sign()
        iap.verify(token, audience=AUDIENCE, keys=key_set)
        iap.verify(token, audience=AUDIENCE, keys=key_set)
        assert keys.fetches == 1
    with serve_jwks(keys, rotated) as url:
        clock = [0.0]
        key_set = iap.KeySet(url, clock=lambda: clock[0])
        iap.verify(keys.sign(), audience=AUDIENCE, keys=key_set)
        clock[0] += iap.REFETCH_AFTER_S + 1
        assert iap.verify(
            rotated.sign("bob@example.com"), audience=AUDIENCE, keys=key_set
        ).email == ("bob@example.com")


def test_iap_mode_without_its_audience_fails_at_load_with_the_key_path() -> None:
    with pytest.raises(ConfigError, match=r"security.*audience"):
        parse_config({"security": {"authentication": "iap"}}, source="test")
    with pytest.raises(ConfigError, match="audience"):
        parse_config(
            {"security": {"authentication": "iap", "iap": {"audience": "my-app"}}}, source="test"
        )


def test_the_old_unsigned_header_mode_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="authentication"):
        parse_config({"security": {"authentication": "trusted-header"}}, source="test")
