"""The upstream relying party (adapters/upstream_oidc.py) against a provider served by an
in-process http.server on loopback: discovery, the authorization URL, the code exchange,
every check of the ID token, the caches and the time budget."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from session_service.adapters import upstream_oidc
from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from session_service.domain.errors import Unavailable
from session_service.domain.federation.records import (
    AuthorizationRequest,
    CodeExchange,
    IdentityProvider,
    UpstreamIdentity,
    UpstreamRefused,
)
from tests.unit.jwt_forgery import b64url, unsigned

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


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    running = Upstream()
    yield running
    running.stop()


@pytest.fixture
def monotonic() -> Monotonic:
    return Monotonic()


@pytest.fixture
def party(monotonic: Monotonic) -> UpstreamRelyingParty:
    return UpstreamRelyingParty(allow_loopback_http=True, clock=lambda: NOW, monotonic=monotonic)


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


def test_the_authorization_url_carries_the_code_flow_with_pkce(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    request = AuthorizationRequest(EXCHANGE.redirect_uri, "the-state", "the-nonce", "the-challenge")
    url = party.authorization_url(provider_of(upstream), request)
    assert url.startswith(f"{upstream.issuer}/authorize?")
    assert parse_qs(urlsplit(url).query) == {
        "response_type": ["code"],
        "client_id": [CLIENT_ID],
        "redirect_uri": [EXCHANGE.redirect_uri],
        "scope": ["openid email profile"],
        "state": ["the-state"],
        "nonce": ["the-nonce"],
        "code_challenge": ["the-challenge"],
        "code_challenge_method": ["S256"],
    }


@pytest.mark.parametrize(
    ("kid", "key", "alg"), [("rsa-1", RSA_KEY, "RS256"), ("ec-1", EC_KEY, "ES256")]
)
def test_a_valid_id_token_signs_in_its_subject(
    party: UpstreamRelyingParty, upstream: Upstream, kid: str, key: Any, alg: str
) -> None:
    upstream.answer_id_token(signed(claims(upstream), kid, key, alg))
    identity = party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert identity == UpstreamIdentity("user-123", "ada@example.test", True, "Ada")
    method, path, headers, form = upstream.requests[1]
    assert (method, path) == ("POST", "/token")
    assert form == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "redirect_uri": [EXCHANGE.redirect_uri],
        "code_verifier": ["the-verifier"],
    }
    scheme, credentials = headers["Authorization"].split(" ")
    client_id, secret = base64.b64decode(credentials).decode().split(":")
    assert (scheme, unquote_plus(client_id), unquote_plus(secret)) == ("Basic", CLIENT_ID, SECRET)
    assert secret == "s3cr%3At%2B%2F+%C3%A9"


def test_a_provider_that_takes_only_client_secret_post_gets_the_secret_in_the_form(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    upstream.discovery["token_endpoint_auth_methods_supported"] = ["client_secret_post"]
    upstream.answer_id_token(signed(claims(upstream)))
    party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    _, _, headers, form = upstream.requests[1]
    assert "Authorization" not in headers
    assert (form["client_id"], form["client_secret"]) == ([CLIENT_ID], [SECRET])


def test_unverified_or_missing_claims_give_no_identity_details(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    token = signed(claims(upstream, email_verified="true", name=None, email="a" * 255))
    upstream.answer_id_token(token)
    assert party.sign_in(provider_of(upstream), SECRET, EXCHANGE) == UpstreamIdentity("user-123")


def test_the_leeway_is_sixty_seconds(party: UpstreamRelyingParty, upstream: Upstream) -> None:
    upstream.answer_id_token(signed(claims(upstream, exp=int(NOW) - 59, iat=int(NOW) + 60)))
    assert party.sign_in(provider_of(upstream), SECRET, EXCHANGE).subject == "user-123"


def hs256_with_the_public_key(payload: dict[str, Any]) -> str:
    """Algorithm confusion: the RSA public key's PEM as an HMAC secret."""
    pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    head = unsigned({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, payload)  # "h.c."
    return head + b64url(hmac.new(pem, head[:-1].encode(), hashlib.sha256).digest())


REFUSALS: dict[str, tuple[Callable[[Upstream], str], str]] = {
    "another audience": (
        lambda up: signed(claims(up, aud="another-client")),
        "The ID token's aud does not name this client.",
    ),
    "several audiences without azp": (
        lambda up: signed(claims(up, aud=[CLIENT_ID, "another-client"])),
        "The ID token has several audiences and no azp.",
    ),
    "a wrong azp": (
        lambda up: signed(claims(up, aud=[CLIENT_ID, "another-client"], azp="another-client")),
        "The ID token's azp is not this client.",
    ),
    "a wrong nonce": (
        lambda up: signed(claims(up, nonce="another-nonce")),
        "The ID token's nonce is not the one this sign-in sent.",
    ),
    "no nonce": (
        lambda up: signed(claims(up, nonce=None)),
        "The ID token's nonce is not the one this sign-in sent.",
    ),
    "expired": (
        lambda up: signed(claims(up, exp=int(NOW) - 61, iat=int(NOW) - 400)),
        "The ID token has expired (exp).",
    ),
    "issued in the future": (
        lambda up: signed(claims(up, iat=int(NOW) + 61)),
        "The ID token was issued in the future (iat).",
    ),
    "no exp": (lambda up: signed(claims(up, exp=None)), "The ID token has no exp claim."),
    "no sub": (lambda up: signed(claims(up, sub=None)), "The ID token has no sub claim."),
    "a sub too long": (
        lambda up: signed(claims(up, sub="s" * 256)),
        "The ID token's sub is not a string of 1 to 255 characters.",
    ),
    "alg none": (
        lambda up: unsigned({"alg": "none", "kid": "rsa-1"}, claims(up)),
        "The ID token's alg is not one the provider signs with (none).",
    ),
    "HS256 with the public key as secret": (
        lambda up: hs256_with_the_public_key(claims(up)),
        "The ID token's alg is not one the provider signs with (HS256).",
    ),
    "an alg the provider does not list": (
        lambda up: signed(claims(up), alg="PS256"),
        "The ID token's alg is not one the provider signs with (PS256).",
    ),
    "an alg other than its key's": (
        lambda up: signed(claims(up), kid="ec-1", key=RSA_KEY),
        "The ID token's alg is not its key's.",
    ),
    "another key with a known kid": (
        lambda up: signed(claims(up), key=OTHER_RSA_KEY),
        "The ID token's signature does not verify with the provider's key.",
    ),
    "an unknown kid": (
        lambda up: signed(claims(up), kid="rsa-2"),
        "The ID token's kid names no key of the provider's JWKS.",
    ),
    "no kid": (
        lambda up: jwt.encode(claims(up), RSA_KEY, algorithm="RS256"),
        "The ID token names no key (kid).",
    ),
    "a wrong issuer": (
        lambda up: signed(claims(up, iss="https://evil.example.test")),
        "The ID token's iss is not the provider's issuer.",
    ),
    "not a JWT": (lambda up: "not-a-jwt", "The ID token is not a signed JWT."),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_an_id_token_failing_a_check_is_refused_saying_which(
    party: UpstreamRelyingParty, upstream: Upstream, case: str
) -> None:
    make, description = REFUSALS[case]
    token = make(upstream)
    upstream.answer_id_token(token)
    assert refusal(party, upstream) == description


def test_a_discovery_document_of_another_issuer_is_refused(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    upstream.discovery["issuer"] = upstream.issuer + "/"
    assert refusal(party, upstream) == "The provider's discovery names another issuer."
    assert upstream.paths() == ["/.well-known/openid-configuration"]


def test_a_discovery_document_with_an_endpoint_over_plain_http_is_refused(
    party: UpstreamRelyingParty, upstream: Upstream
) -> None:
    upstream.discovery["token_endpoint"] = "http://idp.example.test/token"
    assert refusal(party, upstream) == "The provider's discovery has no https token_endpoint."


@pytest.mark.parametrize(
    ("answer", "description"),
    [
        (
            (400, b'{"error": "invalid_grant", "error_description": "code the-code is used"}'),
            "The provider's token endpoint answered 400 (invalid_grant).",
        ),
        ((401, b"<html>no</html>"), "The provider's token endpoint answered 401."),
        ((200, b"<html>ok</html>"), "The provider's token endpoint answered no JSON object."),
        ((200, b'{"access_token": "at"}'), "The provider's token endpoint answered no ID token."),
    ],
)
def test_an_error_or_odd_token_answer_is_refused_without_the_code(
    party: UpstreamRelyingParty, upstream: Upstream, answer: tuple[int, bytes], description: str
) -> None:
    upstream.token_answer = answer
    assert refusal(party, upstream) == description


@pytest.mark.parametrize("path", ["/token", "/jwks", "/.well-known/openid-configuration"])
def test_a_provider_answering_503_is_unavailable(
    party: UpstreamRelyingParty, upstream: Upstream, path: str
) -> None:
    upstream.answer_id_token(signed(claims(upstream)))
    upstream.overrides[path] = (503, b"{}")
    with pytest.raises(Unavailable) as unavailable:
        party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert unavailable.value.retry_after == 5
    what = {"/token": "token endpoint", "/jwks": "JWKS"}.get(path, "discovery")
    assert unavailable.value.description == f"The provider's {what} answered 503."


def test_a_provider_not_listening_is_unavailable(party: UpstreamRelyingParty) -> None:
    closed = Upstream()
    closed.stop()
    with pytest.raises(Unavailable) as unavailable:
        party.sign_in(provider_of(closed), SECRET, EXCHANGE)
    assert unavailable.value.description == (
        "The provider's discovery did not answer (ConnectionRefusedError)."
    )


def test_a_trickling_token_endpoint_ends_the_sign_in_at_its_total_budget(
    party: UpstreamRelyingParty, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream_oidc, "SIGN_IN_SECONDS", 1.0)
    upstream.trickle_token_answer = True
    started = time.monotonic()
    with pytest.raises(Unavailable) as unavailable:
        party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    took = time.monotonic() - started
    assert (
        unavailable.value.description
        == "The provider's token endpoint did not answer (TimeoutError)."
    )
    assert 1.0 <= took < 1.5


def test_an_oversized_jwks_is_refused(party: UpstreamRelyingParty, upstream: Upstream) -> None:
    upstream.jwks["padding"] = "x" * (512 * 1024)
    upstream.answer_id_token(signed(claims(upstream)))
    assert refusal(party, upstream) == "The provider's JWKS answered more than 512 KiB."


@pytest.mark.parametrize("issuer", ["http://idp.example.test", "loopback"])
def test_plain_http_is_refused_without_a_request_unless_loopback_is_allowed(
    upstream: Upstream, issuer: str
) -> None:
    party = UpstreamRelyingParty(clock=lambda: NOW)
    provider = provider_of(upstream, upstream.issuer if issuer == "loopback" else issuer)
    for attempt in (
        lambda: party.sign_in(provider, SECRET, EXCHANGE),
        lambda: party.authorization_url(provider, AuthorizationRequest("u", "s", "n", "c")),
    ):
        with pytest.raises(UpstreamRefused) as refused:
            attempt()
        assert refused.value.description == "The provider's issuer is not an https URL."
    assert upstream.requests == []


def test_discovery_and_jwks_are_fetched_once_then_again_when_stale(
    party: UpstreamRelyingParty, upstream: Upstream, monotonic: Monotonic
) -> None:
    upstream.answer_id_token(signed(claims(upstream)))
    provider = provider_of(upstream)
    party.sign_in(provider, SECRET, EXCHANGE)
    party.authorization_url(provider, AuthorizationRequest("u", "s", "n", "c"))
    party.sign_in(provider, SECRET, EXCHANGE)
    discovery, jwks = "/.well-known/openid-configuration", "/jwks"
    assert upstream.paths() == [discovery, "/token", jwks, "/token"]
    monotonic.now += 600  # the JWKS's ten minutes are over, not discovery's hour
    party.sign_in(provider, SECRET, EXCHANGE)
    assert upstream.paths()[4:] == ["/token", jwks]
    monotonic.now += 3000  # and discovery's hour (the JWKS is stale again too)
    party.sign_in(provider, SECRET, EXCHANGE)
    assert upstream.paths()[6:] == [discovery, "/token", jwks]


def test_an_unknown_kid_refetches_the_jwks_at_most_once_per_30_seconds(
    party: UpstreamRelyingParty, upstream: Upstream, monotonic: Monotonic
) -> None:
    # Given a JWKS fetched by a sign-in
    upstream.answer_id_token(signed(claims(upstream)))
    party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert upstream.paths().count("/jwks") == 1
    # When the provider rotates to a key the cache does not hold, within 30 s
    upstream.jwks["keys"].append(public_jwk(OTHER_RSA_KEY, "rsa-2", "RS256"))
    upstream.answer_id_token(signed(claims(upstream), kid="rsa-2", key=OTHER_RSA_KEY))
    monotonic.now += 29
    # Then its token is refused, and the JWKS not fetched again
    for _ in range(3):
        assert refusal(party, upstream) == "The ID token's kid names no key of the provider's JWKS."
    assert upstream.paths().count("/jwks") == 1
    # And 30 s after the fetch, the unknown kid refetches it, once, and signs in
    monotonic.now += 1
    assert party.sign_in(provider_of(upstream), SECRET, EXCHANGE).subject == "user-123"
    party.sign_in(provider_of(upstream), SECRET, EXCHANGE)
    assert upstream.paths().count("/jwks") == 2
    # And a kid that is nowhere refetches no more than once per 30 s either
    upstream.answer_id_token(signed(claims(upstream), kid="forged"))
    monotonic.now += 30
    for _ in range(3):
        assert refusal(party, upstream) == "The ID token's kid names no key of the provider's JWKS."
    assert upstream.paths().count("/jwks") == 3
