"""Access-token minting and verification, including forged tokens; refresh-token format."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import jwt
import pytest

from harness.clock import FixedClock, key_ring_source
from harness.domain import AUDIENCE, ISSUER, Domain
from session_service.domain.errors import InvalidGrant, InvalidToken
from session_service.domain.keys.keyring import KeyRingSource
from session_service.domain.sessions.tokens import AccessTokens
from tests.unit.jwt_forgery import unsigned


@pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
def test_minted_token_verifies_with_each_algorithm(
    domain_with: Callable[..., Domain], algorithm: str
) -> None:
    domain = domain_with(algorithm=algorithm)
    minted = domain.access_tokens.mint("user", "session", not_after=2**40)
    header = jwt.get_unverified_header(minted.token)
    assert header["alg"] == algorithm
    assert header["typ"] == "at+jwt"
    assert header["kid"] == domain.keys.current().signer(domain.clock()).kid
    claims = domain.access_tokens.verify(minted.token)
    assert (claims.user_id, claims.session_id) == ("user", "session")
    assert claims.expires_at - claims.issued_at == 600


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
    forged = unsigned({"alg": "RS256", "kid": "nope", "typ": "at+jwt"}, {}, b"x" * 256)
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
    secret = token.value.split(".")[6]
    assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert domain.refresh_tokens.parse(token.value) == token


def test_refresh_tokens_are_unrelated_to_each_other(domain: Domain) -> None:
    ids = ("00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001")
    secrets = {domain.refresh_tokens.issue(*ids, 0, 10**12).value.split(".")[6] for _ in range(200)}
    assert len(secrets) == 200


def test_refresh_token_with_altered_generation_fails_its_mac(domain: Domain) -> None:
    ids = ("00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001")
    parts = domain.refresh_tokens.issue(*ids, 3, 10**12).value.split(".")
    parts[3] = "1"
    with pytest.raises(InvalidGrant):
        domain.refresh_tokens.parse(".".join(parts))
