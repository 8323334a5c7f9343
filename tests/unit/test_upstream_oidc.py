"""The upstream relying party (adapters/upstream_oidc.py) against a provider served by an
in-process http.server on loopback (tests/unit/upstream_fake.py): discovery, the
authorization URL, the code exchange and every check of the ID token."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from session_service.adapters.upstream_oidc import UpstreamRelyingParty
from session_service.domain.federation.records import (
    AuthorizationRequest,
    UpstreamIdentity,
)
from tests.unit.jwt_forgery import b64url, unsigned
from tests.unit.upstream_fake import (
    CLIENT_ID,
    EC_KEY,
    EXCHANGE,
    NOW,
    OTHER_RSA_KEY,
    RSA_KEY,
    SECRET,
    Upstream,
    claims,
    provider_of,
    refusal,
    signed,
)


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
