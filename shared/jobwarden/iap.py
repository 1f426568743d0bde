"""Verify Identity-Aware Proxy's signed header, `X-Goog-IAP-JWT-Assertion`.

IAP signs every request it forwards with a JWT (ES256) whose keys it publishes as a JWK
set. A request is accepted only when its assertion

- is three base64url parts whose header says `alg: ES256` and names a `kid` in the key set;
- carries a valid ECDSA P-256 / SHA-256 signature by that key;
- has `iss` `https://cloud.google.com/iap`, `aud` equal to the configured audience
  (`/projects/<number>/global/backendServices/<id>`, or `/projects/<number>/apps/<project>`),
  an `exp` in the future, an `iat` not in the future (30 s of clock skew allowed), and an
  `email`.

The caller is the `email` claim. Keys are fetched from `jwks_url` on first use and cached
for an hour; an unknown `kid` fetches them again (at most once a minute), so IAP's key
rotation is picked up. Anything wrong raises `UnauthenticatedError` (401) naming what,
never echoing the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from jobwarden.errors import TemporaryError, UnauthenticatedError

HEADER: Final = "X-Goog-IAP-JWT-Assertion"
ISSUER: Final = "https://cloud.google.com/iap"
DEFAULT_JWKS_URL: Final = "https://www.gstatic.com/iap/verify/public_key-jwk"
CLOCK_SKEW_S: Final = 30.0
KEYS_TTL_S: Final = 3600.0
REFETCH_AFTER_S: Final = 60.0
_MAX_TOKEN = 8192


@dataclass(frozen=True)
class Identity:
    """Who IAP says the caller is."""

    email: str
    subject: str


def _b64(part: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as err:
        raise UnauthenticatedError(f"the IAP assertion's {what} is not base64url") from err


def _json(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(part, what))
    except ValueError as err:
        raise UnauthenticatedError(f"the IAP assertion's {what} is not JSON") from err
    if not isinstance(value, dict):
        raise UnauthenticatedError(f"the IAP assertion's {what} is not a JSON object")
    return value


def _fetch(url: str) -> bytes:
    if not url.startswith(("https://", "http://")):
        raise UnauthenticatedError(f"security.iap.jwksUrl {url[:100]!r} is not an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (scheme checked)
            return bytes(response.read(1_000_000))
    except OSError as err:
        raise TemporaryError(
            f"cannot fetch IAP's signing keys from {url} ({type(err).__name__}); try again"
        ) from err


@dataclass
class KeySet:
    """IAP's public keys by `kid`, fetched lazily and cached (thread-safe)."""

    url: str = DEFAULT_JWKS_URL
    fetch: Callable[[str], bytes] = _fetch
    clock: Callable[[], float] = time.monotonic
    _keys: dict[str, Any] = field(default_factory=dict)
    _fetched_at: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def key(self, kid: str) -> Any:
        with self._lock:
            now = self.clock()
            stale = self._fetched_at is None or now - self._fetched_at > KEYS_TTL_S
            unknown = kid not in self._keys and (
                self._fetched_at is None or now - self._fetched_at > REFETCH_AFTER_S
            )
            if stale or unknown:
                self._keys = _parse_jwks(self.fetch(self.url), self.url)
                self._fetched_at = now
            key = self._keys.get(kid)
        if key is None:
            raise UnauthenticatedError(
                f"the IAP assertion is signed with key {kid[:40]!r}, which is not in IAP's key "
                f"set ({self.url})"
            )
        return key


def _parse_jwks(data: bytes, url: str) -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        doc = json.loads(data)
        keys = doc["keys"] if isinstance(doc, dict) else None
    except (ValueError, KeyError) as err:
        raise TemporaryError(f"IAP's key set at {url} is not a JWK set: {err}") from err
    out: dict[str, Any] = {}
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict):
            continue
        try:
            if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256":
                x = int.from_bytes(_b64(str(jwk["x"]), "key x"), "big")
                y = int.from_bytes(_b64(str(jwk["y"]), "key y"), "big")
                key: Any = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
            elif jwk.get("kty") == "RSA":
                n = int.from_bytes(_b64(str(jwk["n"]), "key n"), "big")
                e = int.from_bytes(_b64(str(jwk["e"]), "key e"), "big")
                key = rsa.RSAPublicNumbers(e, n).public_key()
            else:
                continue
            out[str(jwk["kid"])] = key
        except (KeyError, ValueError, UnauthenticatedError):
            continue
    return out


def verify_signed(
    token: str, *, keys: KeySet, algorithm: str, what: str = HEADER
) -> dict[str, Any]:
    """The claims of a JWS `token` signed with `algorithm` (ES256 or RS256) by a key of
    `keys`; UnauthenticatedError naming `what` if its shape, key or signature is wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    token = token.strip()
    if not token or len(token) > _MAX_TOKEN or not token.isascii():
        raise UnauthenticatedError(f"{what} is empty, too long or not ASCII")
    parts = token.split(".")
    if len(parts) != 3:
        raise UnauthenticatedError(f"{what} is not a JWT (three dot-separated parts)")
    header, claims = _json(parts[0], "header"), _json(parts[1], "payload")
    if header.get("alg") != algorithm:
        raise UnauthenticatedError(
            f"{what}'s algorithm is {str(header.get('alg'))[:20]!r}, not {algorithm}"
        )
    signature = _b64(parts[2], "signature")
    key = keys.key(str(header.get("kid", "")))
    signed = f"{parts[0]}.{parts[1]}".encode()
    try:
        if algorithm == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                raise UnauthenticatedError(f"{what}'s signature is not an ES256 signature")
            der = utils.encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            )
            key.verify(der, signed, ec.ECDSA(hashes.SHA256()))
        elif algorithm == "RS256" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise UnauthenticatedError(f"{what} names a key of another type than {algorithm}")
    except InvalidSignature as err:
        raise UnauthenticatedError(f"{what}'s signature does not verify") from err
    return claims


def verify(token: str, *, audience: str, keys: KeySet, now: float | None = None) -> Identity:
    """The identity an IAP assertion vouches for; UnauthenticatedError if any check fails."""
    claims = verify_signed(token, keys=keys, algorithm="ES256", what="the IAP assertion")
    _check_claims(claims, audience, time.time() if now is None else now)
    return Identity(email=str(claims["email"])[:256], subject=str(claims.get("sub", ""))[:256])


def _check_claims(claims: Mapping[str, Any], audience: str, now: float) -> None:
    if claims.get("iss") != ISSUER:
        raise UnauthenticatedError(
            f"the IAP assertion's issuer is {str(claims.get('iss'))[:60]!r}, not {ISSUER}"
        )
    aud = claims.get("aud")
    if aud != audience and not (isinstance(aud, list) and audience in aud):
        raise UnauthenticatedError(
            f"the IAP assertion is for audience {str(aud)[:100]!r}, not this service's "
            f"({audience}); check security.iap.audience"
        )
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
        raise UnauthenticatedError("the IAP assertion has expired (or has no exp)")
    if not isinstance(iat, int | float) or isinstance(iat, bool) or iat > now + CLOCK_SKEW_S:
        raise UnauthenticatedError("the IAP assertion is issued in the future (or has no iat)")
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise UnauthenticatedError("the IAP assertion names no email")


_key_sets: dict[str, KeySet] = {}
_key_sets_lock = threading.Lock()


def key_set(url: str) -> KeySet:
    """The process's cached key set for `url` (one per URL)."""
    with _key_sets_lock:
        if url not in _key_sets:
            _key_sets[url] = KeySet(url)
        return _key_sets[url]
