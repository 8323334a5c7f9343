"""A provider served by an in-process http.server on loopback, for the unit tests of the
upstream relying party (adapters/upstream_oidc.py), and what they share."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from session_service.domain.federation.records import (
    CodeExchange,
    IdentityProvider,
    UpstreamRefused,
)

NOW = 1_800_000_000.0
CLIENT_ID = "service-client"
SECRET = "s3cr:t+/ é"  # RFC 6749 §2.3.1's encoding shows in the Basic header
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
EXCHANGE = CodeExchange(
    code="the-code",
    redirect_uri="https://sessions.example.test/auth/federation/acme/callback",
    code_verifier="the-verifier",
    nonce="the-nonce",
)


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = RSAAlgorithm if alg.startswith(("RS", "PS")) else ECAlgorithm
    jwk = dict(algorithm.to_jwk(key.public_key(), as_dict=True))
    return jwk | {"kid": kid, "alg": alg, "use": "sig"}


class Upstream:
    """A provider on 127.0.0.1: discovery, JWKS and token endpoint, each answer changeable,
    every request kept (method, path, headers, form)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, str], dict[str, list[str]]]] = []
        self.stopped = threading.Event()
        self.trickle_token_answer = False
        # Answers that replace a route's, by path
        self.overrides: dict[str, tuple[int, bytes]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self.server.server_port}"
        self.discovery: dict[str, Any] = {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "id_token_signing_alg_values_supported": ["RS256", "ES256", "HS256", "none"],
        }
        self.jwks: dict[str, Any] = {
            "keys": [public_jwk(RSA_KEY, "rsa-1", "RS256"), public_jwk(EC_KEY, "ec-1", "ES256")]
        }
        self.token_answer: tuple[int, bytes] = (200, b"{}")
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def answer_id_token(self, token: str) -> None:
        self.token_answer = (200, json.dumps({"id_token": token, "token_type": "Bearer"}).encode())

    def paths(self) -> list[str]:
        return [path for _, path, _, _ in self.requests]

    def stop(self) -> None:
        self.stopped.set()
        self.server.shutdown()
        self.server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            routes: ClassVar[dict[str, Callable[[], tuple[int, bytes]]]] = {
                "/.well-known/openid-configuration": lambda: (
                    200,
                    json.dumps(upstream.discovery).encode(),
                ),
                "/jwks": lambda: (200, json.dumps(upstream.jwks).encode()),
                "/token": lambda: upstream.token_answer,
            }

            def do_GET(self) -> None:
                self._answer({})

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                self._answer(parse_qs(body))

            def _answer(self, form: dict[str, list[str]]) -> None:
                upstream.requests.append((self.command, self.path, dict(self.headers), form))
                if self.path == "/token" and upstream.trickle_token_answer:
                    # Its head a byte every 0.05 s: no read ever waits a socket timeout
                    self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                    while not upstream.stopped.wait(0.05):
                        self.wfile.write(b"X")
                        self.wfile.flush()
                    return
                route = self.routes.get(self.path, lambda: (404, b"{}"))
                status, body = upstream.overrides.get(self.path) or route()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class Monotonic:
    """The caches' clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def provider_of(upstream: Upstream, issuer: str | None = None) -> IdentityProvider:
    return IdentityProvider(
        provider_id="acme",
        name="Acme",
        issuer=issuer or upstream.issuer,
        client_id=CLIENT_ID,
        sealed_secret=b"sealed",
        scopes=("openid", "email", "profile"),
        created_at=0,
    )


def claims(upstream: Upstream, **changes: Any) -> dict[str, Any]:
    base = {
        "iss": upstream.issuer,
        "aud": CLIENT_ID,
        "sub": "user-123",
        "exp": int(NOW) + 300,
        "iat": int(NOW),
        "nonce": "the-nonce",
        "email": "ada@example.test",
        "email_verified": True,
        "name": "Ada",
    }
    return {k: v for k, v in (base | changes).items() if v is not None}


def signed(
    payload: dict[str, Any], kid: str = "rsa-1", key: Any = RSA_KEY, alg: str = "RS256"
) -> str:
    return jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})


def refusal(party: UpstreamRelyingParty, upstream: Upstream) -> str:
    with pytest.raises(UpstreamRefused) as refused:
        party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    return refused.value.description
