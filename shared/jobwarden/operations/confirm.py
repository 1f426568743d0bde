"""Signed, short-lived confirmation tokens for restart and delete.

A first request returns a plan and a token; the confirmed request sends the token back.
The token is `<base64url(claims)>.<base64url(HMAC-SHA256(secret, claims))>`; the claims
bind it to the action, cluster, namespace, Job name, uid and resourceVersion and to the
caller, and carry an expiry. A Job that changed since the plan makes the token stale.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from typing import Any

from jobwarden.operations.auth import ActionError

BOUND = ("action", "cluster", "namespace", "name", "uid", "resourceVersion", "user")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: str, claims: dict[str, str], *, now: dt.datetime, ttl_s: int) -> tuple[str, str]:
    """(token, expiresAt ISO) for `claims` (which must hold every BOUND key)."""
    expires = now + dt.timedelta(seconds=ttl_s)
    body = {
        **{k: claims[k] for k in BOUND},
        "exp": int(expires.timestamp()),
        "n": secrets.token_hex(8),
    }
    payload = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}", expires.isoformat().replace("+00:00", "Z")


def verify(
    secret: str, token: str, expected: dict[str, str], *, now: dt.datetime
) -> dict[str, Any]:
    """The token's claims if it is genuine, unexpired and matches `expected`; else ActionError.

    400: not a token or signed by another key; 403: for another action, Job or user;
    409: the Job changed since the plan (new uid or resourceVersion) or the token expired.
    """
    try:
        payload_b64, mac_b64 = token.split(".")
        payload, mac = _unb64(payload_b64), _unb64(mac_b64)
        claims: dict[str, Any] = json.loads(payload)
    except (ValueError, TypeError) as err:
        raise ActionError(400, "confirmationToken is not a jobwarden confirmation token") from err
    good = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(good, mac):
        raise ActionError(
            400, "confirmationToken signature does not match (tampered, or another key)"
        )
    if int(claims.get("exp", 0)) < now.timestamp():
        raise ActionError(409, "confirmationToken expired: ask for a new plan")
    for key in ("action", "cluster", "namespace", "name", "user"):
        if claims.get(key) != expected.get(key):
            raise ActionError(403, f"confirmationToken was issued for another {key}")
    for key in ("uid", "resourceVersion"):
        if claims.get(key) != expected.get(key):
            raise ActionError(
                409,
                f"the Job changed since the plan ({key} {claims.get(key)} -> {expected.get(key)}): "
                "ask for a new plan",
            )
    return claims


def token_id(token: str) -> str:
    """A short stable id of a token (for the used-token record)."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]
