"""Access-token minting and verification, including forged tokens; refresh-token format."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from session_service.errors import InvalidGrant, InvalidToken
from session_service.keyring import KeyRingSource
from session_service.tokens import AccessTokens
from tests.fakes import FixedClock, key_ring_source
from tests.unit.conftest import AUDIENCE, ISSUER, Domain


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    header_part, claims_part = (_b64(json.dumps(part).encode()) for part in (header, claims))
    return f"{header_part}.{claims_part}.{_b64(signature)}"


def _claims(domain: Domain, **changes: Any) -> dict[str, Any]:
    now = int(domain.clock.now)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user",
        "sid": "session",
        "jti": "token",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _signed(domain: Domain, header: dict[str, Any] | None = None, **changes: Any) -> str:
    key = domain.keys.current().signing_key
    headers = {"kid": key.kid, "typ": "at+jwt", **(header or {})}
    return jwt.encode(
        _claims(domain, **changes), key.private_key, algorithm=key.algorithm, headers=headers
    )


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_minted_token_verifies_with_each_algorithm(
    domain_with: Callable[..., Domain], algorithm: str
) -> None:
    domain = domain_with(algorithm=algorithm)
    minted = domain.access_tokens.mint("user", "session", not_after=2**40)
    header = jwt.get_unverified_header(minted.token)
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert header["kid"] == domain.keys.current().signing_key.kid
    claims = domain.access_tokens.verify(minted.token)
    assert (claims.user_id, claims.session_id) == ("user", "session")
    assert claims.expires_at - claims.issued_at == 600


def test_token_with_alg_none_is_refused(domain: Domain) -> None:
    kid = domain.keys.current().signing_key.kid
    token = _unsigned({"alg": "none", "kid": kid, "typ": "at+jwt"}, _claims(domain))
    with pytest.raises(InvalidToken):
        domain.access_tokens.verify(token)


def test_token_signed_with_hs256_using_the_public_key_is_refused(domain: Domain) -> None:
    key = domain.keys.current().signing_key
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    signing_input = _unsigned(header, _claims(domain)).rsplit(".", 1)[0]
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(InvalidToken):
        domain.access_tokens.verify(f"{signing_input}.{_b64(signature)}")


def test_token_with_unknown_kid_is_refused(domain: Domain) -> None:
    with pytest.raises(InvalidToken, match="unknown key"):
        domain.access_tokens.verify(_signed(domain, header={"kid": "not-our-key"}))


def test_token_with_tampered_payload_is_refused(domain: Domain) -> None:
    header, _, signature = _signed(domain).split(".")
    payload = _b64(json.dumps(_claims(domain, sub="someone-else")).encode())
    with pytest.raises(InvalidToken):
        domain.access_tokens.verify(f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    "changes",
    [
        {"iss": "https://evil.example"},
        {"aud": "other-api"},
        {"aud": [AUDIENCE, "x"]},
        {"sid": None},
    ],
)
def test_token_with_wrong_or_missing_claims_is_refused(
    domain: Domain, changes: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken):
        domain.access_tokens.verify(_signed(domain, **changes))


def test_expiry_allows_at_most_one_second_of_leeway(domain: Domain) -> None:
    token = _signed(domain, exp=int(domain.clock.now) + 10)
    domain.clock.advance(10.999)
    domain.access_tokens.verify(token)
    domain.clock.advance(0.001)
    with pytest.raises(InvalidToken, match="expired"):
        domain.access_tokens.verify(token)


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "a" * 5000, "Bearer x"])
def test_garbage_is_refused(domain: Domain, garbage: str) -> None:
    with pytest.raises(InvalidToken):
        domain.access_tokens.verify(garbage)


def test_unknown_kid_looks_up_the_secret_again_at_most_once_per_interval() -> None:
    # Given a key source that counts its fetches
    clock = FixedClock()
    _, secret = key_ring_source(clock=clock)
    fetches: list[bool] = []

    def fetch(force: bool) -> dict[str, Any]:
        fetches.append(force)
        return secret

    tokens = AccessTokens(KeyRingSource(fetch, clock=clock), lambda: ISSUER, AUDIENCE, 600, clock)
    forged = _unsigned({"alg": "RS256", "kid": "nope", "typ": "at+jwt"}, {}, b"x" * 256)
    # When tokens with made-up kids arrive again and again
    for _ in range(5):
        with pytest.raises(InvalidToken):
            tokens.verify(forged)
    # Then the secret was fetched afresh only once
    assert fetches.count(True) == 1
    clock.advance(31)
    with pytest.raises(InvalidToken):
        tokens.verify(forged)
    assert fetches.count(True) == 2


def test_refresh_token_carries_256_bits_of_randomness(domain: Domain) -> None:
    token = domain.refresh_tokens.issue(
        "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001", 0, 10**12
    )
    secret = token.value.split(".")[5]
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert domain.refresh_tokens.parse(token.value) == token


def test_refresh_tokens_are_unrelated_to_each_other(domain: Domain) -> None:
    ids = ("00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001")
    secrets = {domain.refresh_tokens.issue(*ids, 0, 10**12).value.split(".")[5] for _ in range(200)}
    assert len(secrets) == 200


def test_refresh_token_with_altered_generation_fails_its_mac(domain: Domain) -> None:
    ids = ("00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001")
    parts = domain.refresh_tokens.issue(*ids, 3, 10**12).value.split(".")
    parts[3] = "1"
    with pytest.raises(InvalidGrant):
        domain.refresh_tokens.parse(".".join(parts))
