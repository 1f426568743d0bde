"""Verify that a CloudEvent was pushed by Pub/Sub as our push service account.

Where an event function's route must be reachable from outside the cluster (a Knative
Service that Pub/Sub pushes to), anyone who finds the URL could post events to it. With
`security.pushAuth` set, every CloudEvent request must carry `Authorization: Bearer <JWT>`,
the OIDC token Pub/Sub attaches to a push subscription with `oidc_token` set: an RS256
signature by Google's published keys, issuer `https://accounts.google.com`, `aud` equal to
`pushAuth.audience`, not expired, and `email` equal to `pushAuth.serviceAccountEmail`
(verified). Anything else is 401 and nothing is done. Cloud Run functions need none of this:
Cloud Run checks the same token itself (`roles/run.invoker`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Final

from jobwarden import iap
from jobwarden.config import PushAuthConfig
from jobwarden.errors import UnauthenticatedError

ISSUERS: Final = ("https://accounts.google.com", "accounts.google.com")


def verify_push(
    headers: Mapping[str, str], config: PushAuthConfig, *, now: float | None = None
) -> str:
    """The push service account's email, or UnauthenticatedError saying what is wrong."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "").strip()
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthenticatedError(
            "no `Authorization: Bearer` OIDC token: only Pub/Sub push requests signed for "
            "security.pushAuth.serviceAccountEmail are accepted"
        )
    claims = iap.verify_signed(
        token, keys=iap.key_set(config.jwks_url), algorithm="RS256", what="the push token"
    )
    moment = time.time() if now is None else now
    if claims.get("iss") not in ISSUERS:
        raise UnauthenticatedError(
            f"the push token's issuer is {str(claims.get('iss'))[:60]!r}, not Google"
        )
    if claims.get("aud") != config.audience:
        raise UnauthenticatedError(
            f"the push token is for audience {str(claims.get('aud'))[:100]!r}, not "
            f"{config.audience} (security.pushAuth.audience)"
        )
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= moment:
        raise UnauthenticatedError("the push token has expired (or has no exp)")
    email = claims.get("email")
    if email != config.service_account_email or claims.get("email_verified") is not True:
        raise UnauthenticatedError(
            f"the push token names {str(email)[:100]!r}, not the push service account "
            f"{config.service_account_email} (security.pushAuth.serviceAccountEmail)"
        )
    return str(email)
