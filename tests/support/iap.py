"""Identity-Aware Proxy's signed header, made in the test: our own P-256 keys, a JWK set
served over real HTTP on loopback, and ES256 assertions signed the way IAP signs them."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

AUDIENCE = "/projects/123456789/global/backendServices/987654321"
ISSUER = "https://cloud.google.com/iap"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IapKeys:
    """A signing key (and its kid) whose public half is published as a JWK set."""

    def __init__(self, kid: str = "test-key-1") -> None:
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0

    def jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "alg": "ES256",
            "use": "sig",
            "kid": self.kid,
            "x": b64(numbers.x.to_bytes(32, "big")),
            "y": b64(numbers.y.to_bytes(32, "big")),
        }

    def sign(
        self,
        email: str = "alice@example.com",
        *,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        expires_in: float = 600,
        issued_ago: float = 5,
        alg: str = "ES256",
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        now = time.time()
        header = {"alg": alg, "typ": "JWT", "kid": kid or self.kid}
        payload = {
            "iss": issuer,
            "aud": audience,
            "email": email,
            "sub": f"accounts.google.com:{abs(hash(email))}",
            "iat": int(now - issued_ago),
            "exp": int(now + expires_in),
            **claims,
        }
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
        der = self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        r, s = utils.decode_dss_signature(der)
        return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@contextmanager
def serve_jwks(*keys: IapKeys | GoogleOidcKeys) -> Iterator[str]:
    """Serve the keys' JWK set on loopback; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            for k in keys:
                k.fetches += 1
            body = json.dumps({"keys": [k.jwk() for k in keys]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/public_key-jwk"
    finally:
        server.shutdown()
        server.server_close()


class GoogleOidcKeys:
    """An RSA key whose public half is published like Google's OIDC certs; signs push tokens."""

    def __init__(self, kid: str = "google-test-1") -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa

        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.fetches = 0

    def jwk(self) -> dict[str, str]:
        numbers = self.key.public_key().public_numbers()
        n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": b64(n),
            "e": "AQAB",
        }

    def sign(
        self,
        email: str = "push@proj.iam.gserviceaccount.com",
        *,
        audience: str = "https://events.example.com",
        issuer: str = "https://accounts.google.com",
        expires_in: float = 3600,
        email_verified: bool = True,
    ) -> str:
        from cryptography.hazmat.primitives.asymmetric import padding

        now = time.time()
        header = {"alg": "RS256", "typ": "JWT", "kid": self.kid}
        payload = {
            "iss": issuer,
            "aud": audience,
            "email": email,
            "email_verified": email_verified,
            "sub": "1234567890",
            "iat": int(now - 5),
            "exp": int(now + expires_in),
        }
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"
