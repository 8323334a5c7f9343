"""The signing-key ring over time: a rotation signs with the new key at once and keeps the
old one in the JWKS until every token it signed has expired (plus a cache margin)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.clock import FixedClock
from session_service.domain.errors import InvalidToken, Unavailable
from session_service.domain.keyring import (
    KeyRingSource,
    generate_signing_key,
    key_ring_from_secret,
    new_refresh_token_key,
    retirement_delay,
    rotated_secret,
    thumbprint,
)
from session_service.domain.tokens import AccessTokens

ISSUER, AUDIENCE, TTL, CACHE = "https://issuer.example", "api", 600, 300


def tokens_over(secret: dict[str, Any], clock: FixedClock) -> AccessTokens:
    source = KeyRingSource(lambda _force: secret, clock=clock)
    return AccessTokens(source, lambda: ISSUER, AUDIENCE, TTL, clock)


def test_before_during_and_after_a_rotation_every_unexpired_token_verifies() -> None:
    clock = FixedClock(1_800_000_000.0)
    secret: dict[str, Any] = {
        "refresh_token_key": new_refresh_token_key(),
        "signing_keys": [generate_signing_key("RS256", clock())],
    }
    old_kid = secret["signing_keys"][0]["kid"]
    before = tokens_over(secret, clock).mint("u", "s", not_after=2**40)
    # During: the rotation has written its pending version; verifiers still read the old one
    delay = retirement_delay(TTL, CACHE)
    pending = rotated_secret(secret, "RS256", clock(), delay)
    assert tokens_over(secret, clock).verify(before.token)
    # After: the new key signs at once, the old key still verifies what it signed
    clock.advance(CACHE)
    after_tokens = tokens_over(pending, clock)
    signed_late_by_a_stale_container = tokens_over(secret, clock).mint("u", "s", not_after=2**40)
    after = after_tokens.mint("u", "s", not_after=2**40)
    assert key_ring_from_secret(pending).signing_key.kid != old_kid
    for token in (before.token, signed_late_by_a_stale_container.token, after.token):
        assert after_tokens.verify(token)
    kids = {key["kid"] for key in key_ring_from_secret(pending).jwks(clock())["keys"]}
    assert kids == {old_kid, key_ring_from_secret(pending).signing_key.kid}


def test_the_old_key_leaves_the_jwks_once_its_last_token_has_expired() -> None:
    clock = FixedClock(1_800_000_000.0)
    secret: dict[str, Any] = {
        "refresh_token_key": new_refresh_token_key(),
        "signing_keys": [generate_signing_key("ES256", clock())],
    }
    old_kid = secret["signing_keys"][0]["kid"]
    delay = retirement_delay(TTL, CACHE)
    # the last token the old key can sign: by a container whose cache is about to expire
    last_old = tokens_over(secret, clock)
    clock.advance(CACHE - 1)
    last_token = last_old.mint("u", "s", not_after=2**40)
    clock.advance(1 - CACHE)
    rotated = rotated_secret(secret, "ES256", clock(), delay)
    ring = key_ring_from_secret(rotated)
    # it stays valid until its own expiry, and the key stays published past that
    clock.advance(CACHE - 1 + TTL)
    assert tokens_over(rotated, clock).verify(last_token.token)
    assert old_kid in {key["kid"] for key in ring.jwks(clock())["keys"]}
    # once the margin is over, the key is gone from the JWKS and refused
    clock.now = 1_800_000_000.0 + delay
    assert old_kid not in {key["kid"] for key in ring.jwks(clock())["keys"]}
    with pytest.raises(InvalidToken):
        tokens_over(rotated, clock).verify(last_token.token)


def test_a_second_rotation_drops_keys_past_their_retirement() -> None:
    clock = FixedClock(1_800_000_000.0)
    secret = {
        "refresh_token_key": "k" * 64,
        "signing_keys": [generate_signing_key("EdDSA", clock())],
    }
    first = rotated_secret(secret, "EdDSA", clock(), 100)
    clock.advance(101)
    second = rotated_secret(first, "EdDSA", clock(), 100)
    assert len(second["signing_keys"]) == 2
    assert second["refresh_token_key"] == "k" * 64
    assert second["signing_keys"][1]["kid"] == first["signing_keys"][0]["kid"]


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    entry = generate_signing_key("RS256", 0)
    ring = key_ring_from_secret({"refresh_token_key": "k" * 64, "signing_keys": [entry]})
    assert entry["kid"] == thumbprint(ring.signing_key.public_key)
    jwk = ring.jwks(0)["keys"][0]
    assert (jwk["kid"], jwk["alg"], jwk["use"]) == (entry["kid"], "RS256", "sig")
    assert "d" not in jwk  # never the private part


@pytest.mark.parametrize(
    "secret",
    [
        {},
        {"signing_keys": []},
        {"refresh_token_key": "short", "signing_keys": []},
        {"refresh_token_key": "k" * 64, "signing_keys": [{"kid": "x"}]},
    ],
)
def test_a_malformed_secret_is_refused(secret: dict[str, Any]) -> None:
    from session_service.domain.keyring import KeyRingError  # noqa: PLC0415

    with pytest.raises(KeyRingError):
        key_ring_from_secret(secret)


class CachedSecret:
    """Secrets Manager behind Powertools' cache: a read that does not force it gets what
    was cached, however the secret has changed since."""

    def __init__(self, value: dict[str, Any]) -> None:
        self.stored = value
        self.cached = value
        self.forced = 0

    def __call__(self, force: bool) -> dict[str, Any]:
        if force:
            self.forced += 1
            self.cached = self.stored
        return self.cached


def test_a_container_that_read_the_secret_before_its_first_key_serves_once_it_exists() -> None:
    # Given a new stack's secret, with a MAC key and no signing key yet, read and cached
    clock = FixedClock(1_800_000_000.0)
    secret = CachedSecret({"refresh_token_key": new_refresh_token_key(), "signing_keys": []})
    source = KeyRingSource(secret, clock=clock)
    with pytest.raises(Unavailable):
        source.current()
    assert secret.forced == 1
    # Then another request moments later does not call Secrets Manager again
    clock.advance(1)
    with pytest.raises(Unavailable):
        source.current()
    assert secret.forced == 1
    # When the first rotation writes a key, the cache still holding the empty ring
    first = generate_signing_key("RS256", clock())
    secret.stored = {**secret.stored, "signing_keys": [first]}
    clock.advance(5)
    # Then the container reads past the cache and serves, long before the cache expires
    assert source.current().signing_key.kid == first["kid"]
    assert secret.forced == 2
