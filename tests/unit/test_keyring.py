"""The key ring over time: a rotation publishes the new signing key (in the JWKS and in
the verification keys the authorizer reads) before it signs, keeps the old one until every
token it signed has expired, and rotates the refresh-token MAC key with an overlap that logs
nobody out."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.clock import ROTATION_TIMES, FixedClock
from harness.document_key import LocalDocumentKey
from session_service.domain.errors import InvalidGrant, InvalidToken, Unavailable
from session_service.domain.keys.key_rotation import (
    RotationTimes,
    generate_signing_key,
    new_refresh_token_key,
    rotated_secret,
)
from session_service.domain.keys.keyring import (
    JWKS_MAX_AGE_SECONDS,
    KeyRingError,
    KeyRingSource,
    MacKeys,
    key_ring_from_secret,
    thumbprint,
)
from session_service.domain.keys.published_keys import (
    PublishedKeySource,
    published_document,
    published_keys,
)
from session_service.domain.models import Credential, b64url
from session_service.domain.sessions.devices import DeviceTokens
from session_service.domain.sessions.tokens import AccessTokens, RefreshTokens

ISSUER, AUDIENCE, TTL, CACHE = "https://issuer.example", "api", 600, 300
TIMES = ROTATION_TIMES  # for TTL 600, CACHE 300, 30-day sessions
START = 1_800_000_000.0
USER, SESSION = "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001"


def tokens_over(secret: dict[str, Any], clock: FixedClock) -> AccessTokens:
    source = KeyRingSource(lambda _force: secret, clock=clock)
    return AccessTokens(source, lambda: ISSUER, AUDIENCE, TTL, clock)


def authorizer_over(secret: dict[str, Any], clock: FixedClock) -> AccessTokens:
    """What the authorizer verifies with: the published public keys only (as signed)."""
    document_key = LocalDocumentKey()
    document = document_key.fetched(published_document(key_ring_from_secret(secret)), clock())
    source = PublishedKeySource(lambda _force: document, document_key.public_key, clock=clock)
    return AccessTokens(None, lambda: ISSUER, AUDIENCE, TTL, clock, verification_keys=source)


def new_stack_ring(clock: FixedClock, algorithm: str = "RS256") -> dict[str, Any]:
    fresh = {"refresh_token_key": new_refresh_token_key(), "signing_keys": []}
    return rotated_secret(fresh, algorithm, clock(), TIMES)  # type: ignore[arg-type]


def kid_of(token: str) -> str:
    import jwt  # noqa: PLC0415

    return str(jwt.get_unverified_header(token)["kid"])


def test_the_lead_covers_a_jwks_cache_and_our_own() -> None:
    assert TIMES.publication_lead == JWKS_MAX_AGE_SECONDS + CACHE + 60
    assert TIMES.signing_key_overlap == CACHE + TTL + 1 + 60


def test_a_new_stack_signs_at_once_with_its_first_key() -> None:
    clock = FixedClock(START)
    secret = new_stack_ring(clock)
    token = tokens_over(secret, clock).mint("u", "s", not_after=2**40)
    assert kid_of(token.token) == secret["signing_keys"][0]["kid"]
    assert authorizer_over(secret, clock).verify(token.token)


def test_a_new_key_is_published_a_jwks_cache_lifetime_before_it_signs() -> None:
    # Given a ring in use, and a token it signed
    clock = FixedClock(START)
    secret = new_stack_ring(clock, "ES256")
    old_kid = secret["signing_keys"][0]["kid"]
    before = tokens_over(secret, clock).mint("u", "s", not_after=2**40)
    # When it rotates, the new key is in the JWKS and in the published keys at once
    rotated = rotated_secret(secret, "ES256", clock(), TIMES)
    new_kid = rotated["signing_keys"][-1]["kid"]
    jwks_fetched_now = {key["kid"] for key in key_ring_from_secret(rotated).jwks(clock())["keys"]}
    assert jwks_fetched_now == {old_kid, new_kid}
    published = {key["kid"] for key in published_document(key_ring_from_secret(rotated))["keys"]}
    assert published == {old_kid, new_kid}
    assert authorizer_over(rotated, clock).verify(before.token)
    # Then the old key signs until the lead is over: a container that read the ring
    # before the rotation and one that read it after agree
    clock.advance(TIMES.publication_lead - 1)
    for secret_read in (secret, rotated):
        assert kid_of(tokens_over(secret_read, clock).mint("u", "s", 2**40).token) == old_kid
    # and from then on the new key signs, and every unexpired token verifies, at the API
    # and at the authorizer
    clock.advance(1)
    after = tokens_over(rotated, clock).mint("u", "s", not_after=2**40)
    assert kid_of(after.token) == new_kid
    last_old = tokens_over(secret, clock).mint("u", "s", not_after=2**40)  # a stale container
    for verifier in (tokens_over(rotated, clock), authorizer_over(rotated, clock)):
        for token in (last_old.token, after.token):
            assert verifier.verify(token)


def test_the_old_key_leaves_the_jwks_once_its_last_token_has_expired() -> None:
    clock = FixedClock(START)
    secret = new_stack_ring(clock, "EdDSA")
    old_kid = secret["signing_keys"][0]["kid"]
    rotated = rotated_secret(secret, "EdDSA", clock(), TIMES)
    ring = key_ring_from_secret(rotated)
    # the last token the old key signs: at the instant the new key takes over
    clock.advance(TIMES.publication_lead - 1)
    last_token = tokens_over(rotated, clock).mint("u", "s", not_after=2**40)
    assert kid_of(last_token.token) == old_kid
    # it stays valid until its own expiry, and the key stays published past that
    clock.advance(TTL)
    assert tokens_over(rotated, clock).verify(last_token.token)
    assert authorizer_over(rotated, clock).verify(last_token.token)
    assert old_kid in {key["kid"] for key in ring.jwks(clock())["keys"]}
    # once the overlap is over, the key is gone from the JWKS and refused everywhere
    clock.now = START + TIMES.publication_lead + TIMES.signing_key_overlap
    assert old_kid not in {key["kid"] for key in ring.jwks(clock())["keys"]}
    for verifier in (tokens_over(rotated, clock), authorizer_over(rotated, clock)):
        with pytest.raises(InvalidToken):
            verifier.verify(last_token.token)


def test_a_second_rotation_drops_keys_past_their_retirement() -> None:
    clock = FixedClock(START)
    times = RotationTimes(publication_lead=10, signing_key_overlap=100, mac_key_overlap=1000)
    secret = new_stack_ring(clock, "EdDSA")
    first = rotated_secret(secret, "EdDSA", clock(), times)
    clock.advance(111)
    second = rotated_secret(first, "EdDSA", clock(), times)
    assert [k["kid"] for k in second["signing_keys"][:-1]] == [first["signing_keys"][-1]["kid"]]
    # MAC keys overlap for longer: all are kept, the new one last
    mac_kids = [key["kid"] for key in second["refresh_token_keys"]]
    assert mac_kids[:-1] == [key["kid"] for key in first["refresh_token_keys"]]
    assert len(mac_kids) == 3
    assert second["refresh_token_key"] == secret["refresh_token_key"]


def test_the_authorizer_cannot_sign() -> None:
    clock = FixedClock(START)
    with pytest.raises(RuntimeError, match="verifies tokens only"):
        authorizer_over(new_stack_ring(clock), clock).mint("u", "s", not_after=2**40)


def test_published_keys_hold_no_private_part_and_a_private_key_is_refused() -> None:
    clock = FixedClock(START)
    ring = key_ring_from_secret(new_stack_ring(clock))
    document = published_document(ring)
    assert all("d" not in key and "private_key" not in key for key in document["keys"])
    leaked = {"keys": [{**document["keys"][0], **_private_parts(new_stack_ring(clock))}]}
    with pytest.raises(KeyRingError):
        published_keys(leaked)
    with pytest.raises(KeyRingError):
        published_keys({"keys": []})


def _private_parts(secret: dict[str, Any]) -> dict[str, Any]:
    from jwt.algorithms import RSAAlgorithm  # noqa: PLC0415

    private_key = key_ring_from_secret(secret).signing_keys[0].private_key
    assert isinstance(private_key, rsa.RSAPrivateKey)
    jwk = RSAAlgorithm.to_jwk(private_key, as_dict=True)
    return {name: jwk[name] for name in ("n", "e", "d", "p", "q", "dp", "dq", "qi")}


# -- the refresh-token MAC key ------------------------------------------------------------


def refresh_tokens_over(secret: dict[str, Any], clock: FixedClock) -> RefreshTokens:
    return RefreshTokens(MacKeys(KeyRingSource(lambda _force: secret, clock=clock), clock))


def test_refresh_tokens_name_their_mac_key_and_outlive_a_rotation() -> None:
    # Given a refresh token made before a rotation
    clock = FixedClock(START)
    secret = new_stack_ring(clock)
    old_mac_kid = secret["refresh_token_keys"][0]["kid"]
    before = refresh_tokens_over(secret, clock).issue(USER, SESSION, 0, 2**40)
    assert before.value.startswith(f"rt2.{old_mac_kid}.")
    # When the ring rotates and its new MAC key takes over
    rotated = rotated_secret(secret, "RS256", clock(), TIMES)
    new_mac_kid = rotated["refresh_token_keys"][-1]["kid"]
    assert new_mac_kid != old_mac_kid
    clock.advance(TIMES.publication_lead)
    after = refresh_tokens_over(rotated, clock).issue(USER, SESSION, 1, 2**40)
    assert after.value.startswith(f"rt2.{new_mac_kid}.")
    # Then both parse, until the old key's overlap (a session's whole life) is over
    clock.advance(TIMES.mac_key_overlap - 1)
    for token in (before, after):
        assert refresh_tokens_over(rotated, clock).parse(token.value) == token
    clock.advance(1)
    with pytest.raises(InvalidGrant):
        refresh_tokens_over(rotated, clock).parse(before.value)
    assert TIMES.mac_key_overlap >= 2_592_000  # the default absolute session lifetime


def test_a_token_under_a_mac_key_a_container_has_not_seen_yet_is_looked_up_once() -> None:
    clock = FixedClock(START)
    secret = new_stack_ring(clock)
    rotated = rotated_secret(secret, "RS256", clock(), TIMES)
    clock.advance(TIMES.publication_lead)
    token = refresh_tokens_over(rotated, clock).issue(USER, SESSION, 1, 2**40)
    # a container that cached the ring before the rotation looks past its cache once
    stored = {"value": secret}
    source = KeyRingSource(lambda force: rotated if force else stored["value"], clock=clock)
    assert RefreshTokens(MacKeys(source, clock)).parse(token.value) == token


def test_a_token_moved_to_another_live_key_or_to_no_key_is_refused() -> None:
    # Two live MAC keys: a token's MAC holds under the key it names only
    clock = FixedClock(START)
    rotated = rotated_secret(new_stack_ring(clock), "RS256", clock(), TIMES)
    clock.advance(TIMES.publication_lead)
    tokens = refresh_tokens_over(rotated, clock)
    old_kid, new_kid = (key["kid"] for key in rotated["refresh_token_keys"])
    token = tokens.issue(USER, SESSION, 1, 2**40).value
    assert token.startswith(f"rt2.{new_kid}.")
    moved = token.replace(f"rt2.{new_kid}.", f"rt2.{old_kid}.", 1)
    no_key = token.replace(f"rt2.{new_kid}.", "rt1.", 1)  # well formed: the legacy shape
    for forged in (moved, no_key):
        with pytest.raises(InvalidGrant, match="invalid"):
            tokens.parse(forged)


def test_a_forged_key_id_or_mac_is_refused() -> None:
    clock = FixedClock(START)
    secret = new_stack_ring(clock)
    tokens = refresh_tokens_over(secret, clock)
    token = tokens.issue(USER, SESSION, 0, 2**40).value
    kid = secret["refresh_token_keys"][0]["kid"]
    for forged in (token.replace(f"rt2.{kid}.", "rt2.nokey."), token.replace("rt2.", "rt1.", 1)):
        with pytest.raises(InvalidGrant):
            tokens.parse(forged)


def test_tokens_from_before_mac_key_ids_keep_working_through_rotations() -> None:
    # Given a ring from before MAC key ids, and the rt1 and dt1 tokens it made
    clock = FixedClock(START)
    legacy: dict[str, Any] = {
        "refresh_token_key": new_refresh_token_key(),
        "signing_keys": [generate_signing_key("RS256", clock())],
    }
    key = legacy["refresh_token_key"].encode()
    body = f"rt1.{USER}.{SESSION}.0.{2**40}.{'A' * 43}"
    rt1 = f"{body}.{_mac(key, body)}"
    credential = Credential("ada", "ada", USER, "$argon2id$x", password_version=1)
    device_key = hmac.new(key, b"device-token", hashlib.sha256).digest()
    body = f"dt1.{SESSION}.{USER}.{int(clock())}"
    dt1 = f"{body}.{_mac(device_key, f'ada|1|{body}')}"
    # When it rotates twice
    once = rotated_secret(legacy, "RS256", clock(), TIMES)
    clock.advance(TIMES.publication_lead + 1)
    twice = rotated_secret(once, "RS256", clock(), TIMES)
    clock.advance(TIMES.publication_lead + 1)
    # Then they are still ours, under the legacy key's id
    assert refresh_tokens_over(twice, clock).parse(rt1).session_id == SESSION
    device_now = DeviceTokens(MacKeys(KeyRingSource(lambda _f: twice, clock), clock), clock)
    assert device_now.recognise(dt1, credential) is not None
    assert device_now.issue(credential).value.startswith(
        f"dt2.{twice['refresh_token_keys'][-1]['kid']}."
    )


def _mac(key: bytes, body: str) -> str:
    """The MAC of the tokens from before key ids, as that version made it."""
    return b64url(hmac.new(key, body.encode(), hashlib.sha256).digest()[:16])


def test_the_decoy_key_never_rotates() -> None:
    clock = FixedClock(START)
    secret = new_stack_ring(clock)
    rotated = rotated_secret(secret, "RS256", clock(), TIMES)
    clock.advance(TIMES.mac_key_overlap * 2)
    again = rotated_secret(rotated, "RS256", clock(), TIMES)
    decoys = {key_ring_from_secret(s).decoy_key for s in (secret, rotated, again)}
    assert decoys == {secret["refresh_token_key"].encode()}


def test_a_ring_from_before_activation_times_signs_with_its_key_not_retiring() -> None:
    # The previous version put the new key first and gave the old one a retire_at
    clock = FixedClock(START)
    newest, older = (generate_signing_key("ES256", clock()) for _ in range(2))
    for entry in (newest, older):
        del entry["activate_at"]
    older["retire_at"] = "2027-01-15T09:00:00Z"  # an hour after START: still live
    ring = key_ring_from_secret({"refresh_token_key": "k" * 64, "signing_keys": [newest, older]})
    assert ring.signer(clock()).kid == newest["kid"]
    # and listed the other way round, the same
    ring = key_ring_from_secret({"refresh_token_key": "k" * 64, "signing_keys": [older, newest]})
    assert ring.signer(clock()).kid == newest["kid"]


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    entry = generate_signing_key("RS256", 0)
    ring = key_ring_from_secret({"refresh_token_key": "k" * 64, "signing_keys": [entry]})
    assert entry["kid"] == thumbprint(ring.signer(0).public_key)
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
        {
            "refresh_token_key": "k" * 64,
            "signing_keys": [generate_signing_key("ES256", 0)],
            "refresh_token_keys": [{"kid": "a", "key": "short"}],
        },
        {
            "refresh_token_key": "k" * 64,
            "signing_keys": [generate_signing_key("ES256", 0)],
            "refresh_token_keys": [],
        },
    ],
)
def test_a_malformed_secret_is_refused(secret: dict[str, Any]) -> None:
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
    assert source.current().signer(clock()).kid == first["kid"]
    assert secret.forced == 2
