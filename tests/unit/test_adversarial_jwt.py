"""RFC 8725 (JWT Best Current Practices): every known attack on our access tokens, one
named test each, is refused by AccessTokens.verify (the authorizer's first step)."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import urllib.request
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.domain import AUDIENCE, CLIENT, ISSUER, Domain
from session_service.domain.errors import InvalidGrant, InvalidToken
from tests.helpers import register_and_login
from tests.unit.jwt_forgery import b64url, unsigned


def claims(domain: Domain, **changes: Any) -> dict[str, Any]:
    now = int(domain.clock.now)
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user",
        "sid": "session",
        "jti": "j",
        "iat": now,
        "exp": now + 600,
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def signed(domain: Domain, header: dict[str, Any] | None = None, **changes: Any) -> str:
    """A token signed with our real key: only what the test changes is wrong with it."""
    key = domain.keys.current().signer(domain.clock())
    headers = {"kid": key.kid, "typ": "at+jwt", **(header or {})}
    return jwt.encode(
        claims(domain, **changes), key.private_key, algorithm=key.algorithm, headers=headers
    )


def refused(domain: Domain, token: str) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        domain.access_tokens.verify(token)
    return caught.value


def test_control_a_token_signed_with_our_key_verifies(domain: Domain) -> None:
    # Every test below differs from this one in a single respect.
    assert domain.access_tokens.verify(signed(domain)).user_id == "user"


def test_alg_none_is_refused(domain: Domain) -> None:
    kid = domain.keys.current().signer(domain.clock()).kid
    for alg in ("none", "None", "NONE"):
        refused(domain, unsigned({"alg": alg, "kid": kid, "typ": "at+jwt"}, claims(domain)))


def test_hs256_signed_with_the_public_key_is_refused(domain: Domain) -> None:
    # The classic key-confusion attack: HMAC keyed with the RSA public key the JWKS publishes.
    key = domain.keys.current().signer(domain.clock())
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        public = key.public_key.public_bytes(
            encoding, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        signing_input = unsigned(
            {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}, claims(domain)
        ).rsplit(".", 1)[0]
        signature = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
        refused(domain, f"{signing_input}.{b64url(signature)}")


def test_algorithm_outside_the_allow_list_is_refused(domain: Domain) -> None:
    # PS256 with our own RSA key: a valid signature, but not the key's algorithm.
    key = domain.keys.current().signer(domain.clock())
    token = jwt.encode(
        claims(domain),
        key.private_key,
        algorithm="PS256",
        headers={"kid": key.kid, "typ": "at+jwt"},
    )
    refused(domain, token)
    refused(
        domain,
        jwt.encode(
            claims(domain), "s" * 64, algorithm="HS512", headers={"kid": key.kid, "typ": "at+jwt"}
        ),
    )


def test_unknown_kid_is_refused(domain: Domain) -> None:
    error = refused(domain, signed(domain, header={"kid": "some-other-key"}))
    assert "unknown key" in error.description


@pytest.mark.parametrize(
    "kid",
    [
        "../../../../etc/passwd",
        "/dev/null",
        "' OR '1'='1",
        "1; DROP TABLE keys --",
        "",
        "x" * 500,
        "\u0000",
        "kid\nInjected: header",
    ],
)
def test_kid_with_path_or_sql_characters_is_refused(domain: Domain, kid: str) -> None:
    # The kid is only ever a key into the in-memory key ring: no file, no query.
    refused(domain, signed(domain, header={"kid": kid}))


def test_non_string_kid_is_refused(domain: Domain) -> None:
    kid_is_a_number = signed(domain).split(".")
    kid_is_a_number[0] = b64url(json.dumps({"alg": "RS256", "kid": 7, "typ": "at+jwt"}).encode())
    refused(domain, ".".join(kid_is_a_number))


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}},
    ],
    ids=["jku", "x5u", "jwk"],
)
def test_jku_x5u_jwk_headers_are_ignored_and_never_fetched(
    domain: Domain, monkeypatch: pytest.MonkeyPatch, header: dict[str, Any]
) -> None:
    # Given no network at all: any fetch would fail the test
    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a key URL was fetched")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    # When an attacker signs with their own key and points at it
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        claims(domain),
        attacker,
        algorithm="RS256",
        headers={"kid": "attacker", "typ": "at+jwt", **header},
    )
    # Then it is refused, and our own token carrying the header still verifies by our key
    refused(domain, forged)
    assert domain.access_tokens.verify(signed(domain, header=header)).user_id == "user"


def test_crit_header_is_refused(domain: Domain) -> None:
    refused(domain, signed(domain, header={"crit": ["exp"]}))


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt+x", None])
def test_wrong_typ_is_refused(domain: Domain, typ: str | None) -> None:
    refused(domain, signed(domain, header={"typ": typ}))


def test_wrong_issuer_is_refused(domain: Domain) -> None:
    refused(domain, signed(domain, iss="https://evil.example"))
    refused(domain, signed(domain, iss=ISSUER + "/"))


def test_wrong_audience_is_refused(domain: Domain) -> None:
    refused(domain, signed(domain, aud="another-api"))
    refused(domain, signed(domain, aud=[AUDIENCE, "another-api"]))


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub", "sid", "jti"])
def test_missing_required_claim_is_refused(domain: Domain, claim: str) -> None:
    refused(domain, signed(domain, **{claim: None}))


def test_missing_exp_is_refused(domain: Domain) -> None:
    refused(domain, signed(domain, exp=None))


def test_non_numeric_exp_is_refused(domain: Domain) -> None:
    refused(domain, signed(domain, exp="tomorrow"))
    refused(domain, signed(domain, exp=True))


def test_exp_just_outside_the_one_second_leeway_is_refused(domain: Domain) -> None:
    now = int(domain.clock.now)
    assert domain.access_tokens.verify(signed(domain, exp=now))  # 1 s of leeway left
    domain.clock.advance(1)
    refused(domain, signed(domain, exp=now))


def test_nbf_just_outside_the_one_second_leeway_is_refused(domain: Domain) -> None:
    now = int(domain.clock.now)
    assert domain.access_tokens.verify(signed(domain, nbf=now + 1))
    refused(domain, signed(domain, nbf=now + 2))


def test_iat_in_the_future_beyond_the_leeway_is_refused(domain: Domain) -> None:
    now = int(domain.clock.now)
    refused(domain, signed(domain, iat=now + 2, exp=now + 600))


def test_oversized_token_is_refused_before_parsing(domain: Domain) -> None:
    refused(domain, signed(domain, padding="x" * 5000))


def test_tampered_payload_is_refused(domain: Domain) -> None:
    header, _, signature = signed(domain).split(".")
    payload = b64url(json.dumps(claims(domain, sub="admin")).encode())
    refused(domain, f"{header}.{payload}.{signature}")


def test_refresh_token_presented_as_an_access_token_is_refused(domain: Domain) -> None:
    issued = register_and_login(domain)
    refused(domain, issued.refresh_token)
    with pytest.raises(InvalidToken):
        domain.sessions.authorize(issued.refresh_token)


def test_access_token_presented_as_a_refresh_token_is_refused(domain: Domain) -> None:
    issued = register_and_login(domain)
    with pytest.raises(InvalidGrant):
        domain.sessions.refresh(issued.access_token, CLIENT)
    # and the session it belongs to is untouched
    domain.sessions.authorize(issued.access_token)


@pytest.mark.parametrize("grant_id", [7, "", "GRANT#x", "not-a-uuid", ["a"], "0" * 37])
def test_a_grant_id_that_is_not_one_of_ours_is_refused(domain: Domain, grant_id: Any) -> None:
    # (the authorizer reads the grant it names: nothing but a grant id reaches the key)
    assert refused(domain, signed(domain, grant_id=grant_id)).description == (
        "The access token's grant_id is not one of ours."
    )


def test_a_grant_id_of_ours_is_read_from_the_token(domain: Domain) -> None:
    grant_id = "0b0e6a53-4a51-4c3a-9a55-2b5d0f1e8a3c"
    assert domain.access_tokens.verify(signed(domain, grant_id=grant_id)).grant_id == grant_id
    assert domain.access_tokens.verify(signed(domain)).grant_id is None
