"""Signed, short-lived confirmation tokens: "yes, do exactly the plan you showed me".

A token is `jw1.<payload>.<signature>`: the payload is base64url JSON naming the action,
cluster, namespace, Job name, the Job's uid and resourceVersion at plan time, the caller,
the plan's options, a random id and the issue and expiry times; the signature is
HMAC-SHA256 over `jw1.<payload>` with the secret from `security.confirmationSecretEnv`.
The payload is readable (it holds nothing the caller does not know) but cannot be changed.

Checking a token gives one verdict: ok, tampered (bad format or signature), expired,
mismatch (another action, Job, caller or option) or stale (the Job changed since the plan).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from jobwarden.errors import InvalidTokenError

PREFIX = "jw1"
MAX_TOKEN_CHARS = 8192
_SHAPE = re.compile(r"jw1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class Verdict(StrEnum):
    OK = "ok"
    TAMPERED = "tampered"
    EXPIRED = "expired"
    MISMATCH = "mismatch"
    STALE = "stale"


@dataclass(frozen=True)
class Binding:
    """What a token is bound to. `options` are the plan's options (and planned values)."""

    action: str
    cluster: str
    namespace: str
    name: str
    uid: str
    resource_version: str
    caller: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirmation:
    token_id: str
    binding: Binding
    issued_at: dt.datetime
    expires_at: dt.datetime
    token: str = field(repr=False)

    def expired(self, now: dt.datetime) -> bool:
        return now >= self.expires_at

    def mismatch(self, expected: Binding) -> str | None:
        """Why this token does not confirm `expected` (ignoring uid/resourceVersion), or None.

        Only the options `expected` names are compared: a confirming request may repeat
        the plan's options or leave them out.
        """
        mine = self.binding
        for what, got, want in (
            ("action", mine.action, expected.action),
            ("cluster", mine.cluster, expected.cluster),
            ("namespace", mine.namespace, expected.namespace),
            ("job", mine.name, expected.name),
        ):
            if got != want:
                return f"the token confirms {what} {got!r}, not {want!r}"
        if mine.caller != expected.caller:
            return f"the token was issued to {mine.caller!r}, not to {expected.caller!r}"
        for key, want in expected.options.items():
            if mine.options.get(key) != want:
                return f"the plan had {key}={mine.options.get(key)!r}, this request {want!r}"
        return None

    def stale(self, uid: str, resource_version: str) -> str | None:
        """Why the live Job is not the one planned for, or None."""
        if uid != self.binding.uid:
            return f"the Job was replaced since the plan (uid {self.binding.uid} -> {uid})"
        if resource_version != self.binding.resource_version:
            return (
                "the Job changed since the plan (resourceVersion "
                f"{self.binding.resource_version} -> {resource_version})"
            )
        return None


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    reason: str = ""
    confirmation: Confirmation | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(secret: str | bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    if not key:
        raise ValueError("the confirmation secret is empty")
    return key


def _sign(secret: str | bytes, signed: str) -> str:
    return _b64(hmac.new(_key(secret), signed.encode("ascii"), hashlib.sha256).digest())


def new_token_id() -> str:
    return secrets.token_hex(12)


def issue(
    binding: Binding,
    *,
    secret: str | bytes,
    now: dt.datetime,
    ttl_seconds: int,
    token_id: str | None = None,
) -> Confirmation:
    """A new token for `binding`, valid for `ttl_seconds` from `now`."""
    token_id = token_id or new_token_id()
    issued = int(now.timestamp())
    payload = {
        "id": token_id,
        "act": binding.action,
        "cl": binding.cluster,
        "ns": binding.namespace,
        "n": binding.name,
        "uid": binding.uid,
        "rv": binding.resource_version,
        "sub": binding.caller,
        "opt": dict(binding.options),
        "iat": issued,
        "exp": issued + ttl_seconds,
    }
    body = _b64(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode())
    signed = f"{PREFIX}.{body}"
    token = f"{signed}.{_sign(secret, signed)}"
    return _confirmation(payload, token)


def _confirmation(payload: Mapping[str, Any], token: str) -> Confirmation:
    def when(seconds: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(seconds, dt.UTC)

    text = ("id", "act", "cl", "ns", "n", "uid", "rv", "sub")
    if not all(isinstance(payload.get(k), str) for k in text):
        raise TypeError("a field is missing or not a string")
    if not isinstance(payload.get("opt"), dict):
        raise TypeError("opt is not an object")
    if not all(type(payload.get(k)) is int for k in ("iat", "exp")):
        raise TypeError("iat/exp are not integers")
    return Confirmation(
        token_id=payload["id"],
        binding=Binding(
            action=payload["act"],
            cluster=payload["cl"],
            namespace=payload["ns"],
            name=payload["n"],
            uid=payload["uid"],
            resource_version=payload["rv"],
            caller=payload["sub"],
            options=dict(payload["opt"]),
        ),
        issued_at=when(payload["iat"]),
        expires_at=when(payload["exp"]),
        token=token,
    )


def decode(token: object, *, secret: str | bytes) -> Confirmation:
    """The token's contents if its signature is ours; InvalidTokenError (400) otherwise.

    Anything else than `jw1.<base64url>.<base64url>` (other characters, non-ASCII, too long)
    is refused before the signature is computed.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _SHAPE.fullmatch(token):
        raise InvalidTokenError(
            "not a jobwarden confirmation token (expected jw1.<payload>.<signature>, "
            "base64url, as a plan answered it)"
        )
    prefix, body, signature = token.split(".")
    expected = _sign(secret, f"{prefix}.{body}")
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise InvalidTokenError("the confirmation token's signature does not match (altered?)")
    try:
        payload = json.loads(_unb64(body))
        if not isinstance(payload, dict):
            raise TypeError("the payload is not an object")
        return _confirmation(payload, token)
    except (ValueError, KeyError, TypeError, OverflowError, OSError, binascii.Error) as err:
        raise InvalidTokenError("the confirmation token's payload is unreadable") from err


def verify(token: object, *, secret: str | bytes, now: dt.datetime, expected: Binding) -> Check:
    """Decode and check a token against the request (`expected`) and the live Job's state."""
    try:
        confirmation = decode(token, secret=secret)
    except InvalidTokenError as err:
        return Check(Verdict.TAMPERED, str(err))
    if confirmation.expired(now):
        return Check(
            Verdict.EXPIRED,
            f"the confirmation expired at {confirmation.expires_at.isoformat()}",
            confirmation,
        )
    reason = confirmation.mismatch(expected)
    if reason:
        return Check(Verdict.MISMATCH, reason, confirmation)
    reason = confirmation.stale(expected.uid, expected.resource_version)
    if reason:
        return Check(Verdict.STALE, reason, confirmation)
    return Check(Verdict.OK, "", confirmation)
