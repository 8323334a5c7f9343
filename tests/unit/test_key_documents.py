"""The published keys are trusted as far as the document key signed them: whoever can write
the parameter, but not sign with that key, cannot make a verifier accept a key of theirs.
A document that does not verify is never used; the keys in use stay, and with none the
keys are unavailable (503)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any, cast

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness.clock import ROTATION_TIMES, FixedClock
from harness.document_key import LocalDocumentKey
from session_service.config import ConfigurationError, Settings
from session_service.domain.errors import InvalidToken, Unavailable
from session_service.domain.keys.key_documents import (
    ALGORITHM,
    document_public_key,
    fetched,
    verified_document,
)
from session_service.domain.keys.key_rotation import new_refresh_token_key, rotated_secret
from session_service.domain.keys.keyring import (
    KeyRingError,
    KeyRingSource,
    KeySource,
    VerificationKeys,
    key_ring_from_secret,
)
from session_service.domain.keys.published_keys import PublishedKeySource, published_document
from session_service.domain.models import b64url
from session_service.domain.sessions.tokens import AccessTokens

ISSUER, AUDIENCE, TTL = "https://issuer.example", "api", 600
START = 1_800_000_000.0
USER, SESSION = "00000000-0000-4000-8000-000000000000", "00000000-0000-4000-8000-000000000001"


class Parameter:
    """The SSM parameter as a verifier's fetcher reads it: the same value until the text
    changes (its cache), a new one when forced."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._read: tuple[str, Mapping[str, Any]] | None = None

    def fetch(self, force: bool) -> Mapping[str, Any]:
        if force or self._read is None or self._read[0] != self.text:
            self._read = (self.text, fetched(self.text))
        return self._read[1]


class Verifier:
    """The authorizer's view: the published keys from the parameter, checked with the
    document key's public part, refusals counted."""

    def __init__(self, parameter: Parameter, document_key: LocalDocumentKey, clock: Any) -> None:
        self.refused = 0
        self.keys = PublishedKeySource(
            parameter.fetch, document_key.public_key, on_untrusted=self._count, clock=clock
        )
        self.tokens = AccessTokens(
            None,
            lambda: ISSUER,
            AUDIENCE,
            TTL,
            clock,
            verification_keys=cast(KeySource[VerificationKeys], self.keys),
        )

    def _count(self) -> None:
        self.refused += 1

    def kids(self, now: float) -> set[str]:
        return {key["kid"] for key in self.keys.current().jwks(now)["keys"]}


def ring(clock: FixedClock) -> dict[str, Any]:
    fresh = {"refresh_token_key": new_refresh_token_key(), "signing_keys": []}
    return rotated_secret(fresh, "RS256", clock(), ROTATION_TIMES)


def token_of(secret: dict[str, Any], clock: FixedClock) -> str:
    minting = AccessTokens(
        KeyRingSource(lambda _force: secret), lambda: ISSUER, AUDIENCE, TTL, clock
    )
    return minting.mint(USER, SESSION, not_after=2**40).token


def document_of(secret: dict[str, Any]) -> dict[str, Any]:
    return published_document(key_ring_from_secret(secret))


def kid_of(secret: dict[str, Any]) -> str:
    return str(secret["signing_keys"][0]["kid"])


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def document_key() -> LocalDocumentKey:
    return LocalDocumentKey()


def test_keys_the_document_key_signed_verify_tokens_and_make_the_jwks(
    clock: FixedClock, document_key: LocalDocumentKey
) -> None:
    # Given the rotation's document, signed with the document key
    ours = ring(clock)
    parameter = Parameter(document_key.signed(document_of(ours), clock()))
    verifier = Verifier(parameter, document_key, clock)
    # Then its keys verify our tokens and are the JWKS, and nothing was refused
    assert verifier.tokens.verify(token_of(ours, clock)).session_id == SESSION
    assert verifier.kids(clock()) == {kid_of(ours)}
    assert verifier.refused == 0


def _as_plain_json(document: dict[str, Any], _signer: LocalDocumentKey, _at: float) -> str:
    return json.dumps(document)


def _signed_by_another_key(document: dict[str, Any], _ours: LocalDocumentKey, at: float) -> str:
    # a well-formed JWS, by a key of the attacker's own that it names as its kid
    return LocalDocumentKey("arn:aws:kms:us-east-1:999999999999:key/attacker").signed(document, at)


FORGERIES = [
    pytest.param(_as_plain_json, id="plain-json-jwks"),
    pytest.param(_signed_by_another_key, id="signed-by-another-key"),
]


@pytest.mark.parametrize("forge", FORGERIES)
def test_a_container_meeting_only_a_forged_document_refuses_every_token_as_unavailable(
    clock: FixedClock, document_key: LocalDocumentKey, forge: Any
) -> None:
    # Given a parameter someone else wrote: their key beside ours, with its lifetimes
    ours, theirs = ring(clock), ring(clock)
    forged = {"keys": document_of(theirs)["keys"] + document_of(ours)["keys"]}
    verifier = Verifier(Parameter(forge(forged, document_key, clock())), document_key, clock)
    # When a new container meets it, it holds no trusted key: its tokens and ours are
    # refused as the keys being unavailable (503), and so is the JWKS
    for token in (token_of(theirs, clock), token_of(ours, clock)):
        with pytest.raises(Unavailable):
            verifier.tokens.verify(token)
    with pytest.raises(Unavailable):
        verifier.keys.current()
    # (refused at its read, and at the one read past the cache a source with no key earns)
    assert verifier.refused == 2


@pytest.mark.parametrize("forge", FORGERIES)
def test_a_forged_document_leaves_the_keys_in_use_and_is_counted_once_per_read(
    clock: FixedClock, document_key: LocalDocumentKey, forge: Any
) -> None:
    # Given a container that verified with the rotation's document
    ours, theirs = ring(clock), ring(clock)
    parameter = Parameter(document_key.signed(document_of(ours), clock()))
    verifier = Verifier(parameter, document_key, clock)
    assert verifier.kids(clock()) == {kid_of(ours)}
    # When someone else writes the parameter with their key beside ours
    forged = {"keys": document_of(theirs)["keys"] + document_of(ours)["keys"]}
    parameter.text = forge(forged, document_key, clock())
    # Then the JWKS stays ours (the forged document, read once, refused once)
    assert verifier.kids(clock()) == {kid_of(ours)}
    assert verifier.refused == 1
    # our tokens still verify, without another read
    assert verifier.tokens.verify(token_of(ours, clock)).session_id == SESSION
    assert verifier.refused == 1
    # and theirs is refused: its key is unknown, also after the one look past the cache
    # that an unknown kid earns (a second read, refused again)
    with pytest.raises(InvalidToken):
        verifier.tokens.verify(token_of(theirs, clock))
    assert verifier.refused == 2


def test_an_older_signed_document_replayed_is_refused_where_a_newer_one_is_in_use(
    clock: FixedClock, document_key: LocalDocumentKey
) -> None:
    # Given a container that holds the document of a rotation (our key, then a new one)
    before = ring(clock)
    old_document = document_key.signed(document_of(before), clock())
    clock.advance(60)
    after = rotated_secret(before, "RS256", clock(), ROTATION_TIMES)
    parameter = Parameter(document_key.signed(document_of(after), clock()))
    verifier = Verifier(parameter, document_key, clock)
    assert len(verifier.kids(clock())) == 2
    # When the document from before the rotation is written back (genuinely signed)
    parameter.text = old_document
    # Then it is refused: the new key stays published, and tokens it signs verify
    assert len(verifier.kids(clock())) == 2
    assert verifier.refused == 1
    new_key_only = {**after, "signing_keys": [{**after["signing_keys"][-1], "activate_at": None}]}
    assert verifier.tokens.verify(token_of(new_key_only, clock)).session_id == SESSION


def _hs256_with_the_public_key(document_key: LocalDocumentKey, payload: bytes) -> str:
    # algorithm confusion: the document key's public part used as an HMAC secret
    public = document_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{b64url(b'{"alg":"HS256"}')}.{b64url(payload)}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _unsigned(_key: LocalDocumentKey, payload: bytes) -> str:
    return jwt.api_jws.encode(payload, "", algorithm="none")


def _bad_signature(document_key: LocalDocumentKey, payload: bytes) -> str:
    genuine = document_key.signed(json.loads(payload), START)
    return f"{genuine.rsplit('.', 1)[0]}.{b64url(bytes(64))}"


def _payload_swapped(document_key: LocalDocumentKey, payload: bytes) -> str:
    header, _, signature = document_key.signed({"keys": []}, START).split(".")
    return f"{header}.{b64url(payload)}.{signature}"


@pytest.mark.parametrize(
    "forge", [_hs256_with_the_public_key, _unsigned, _bad_signature, _payload_swapped]
)
def test_a_forged_jws_does_not_verify(document_key: LocalDocumentKey, forge: Any) -> None:
    payload = json.dumps({"keys": [], "issued_at": "2027-01-15T08:00:00.000Z"}).encode()
    with pytest.raises(KeyRingError):
        verified_document(fetched(forge(document_key, payload)), document_key.public_key())


@pytest.mark.parametrize("text", ["", "not a jws", "{}", '{"keys": []}', "a.b.c"])
def test_text_that_is_no_signed_document_does_not_verify(
    document_key: LocalDocumentKey, text: str
) -> None:
    with pytest.raises(KeyRingError):
        verified_document(fetched(text), document_key.public_key())


def test_the_signed_document_is_a_standard_es256_jws_carrying_when_it_was_signed(
    document_key: LocalDocumentKey,
) -> None:
    # Any JOSE library verifies it with the document key's public part
    signed = document_key.signed({"keys": [{"kid": "k"}]}, START)
    decoded = jwt.api_jws.decode_complete(signed, document_key.public_key(), algorithms=[ALGORITHM])
    assert decoded["header"] == {
        "alg": "ES256",
        "cty": "jwk-set+json",
        "kid": document_key.key_id,
    }
    assert json.loads(decoded["payload"]) == {
        "keys": [{"kid": "k"}],
        "issued_at": "2027-01-15T08:00:00.000Z",
    }
    verified = verified_document(fetched(signed), document_key.public_key())
    assert verified.issued_at == int(START * 1000)


@pytest.mark.parametrize(
    "private_key",
    [
        pytest.param(ec.generate_private_key(ec.SECP384R1()), id="P-384"),
        pytest.param(rsa.generate_private_key(public_exponent=65537, key_size=2048), id="RSA"),
    ],
)
def test_a_document_key_other_than_p256_is_refused(
    private_key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
) -> None:
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(KeyRingError, match="ECC_NIST_P256"):
        document_public_key(der)
    with pytest.raises(KeyRingError, match="not a public key"):
        document_public_key(b"\x30\x03garbage")


def test_a_function_reading_the_published_keys_needs_the_document_key() -> None:
    env = {
        "TABLE_NAME": "t",
        "TOKEN_ISSUER": ISSUER,
        "VERIFICATION_KEYS_PARAMETER": "/stack/verification-keys",
    }
    with pytest.raises(ConfigurationError, match="VERIFICATION_KEYS_SIGNING_KEY"):
        Settings.from_env(env)
    settings = Settings.from_env({**env, "VERIFICATION_KEYS_SIGNING_KEY": "arn:aws:kms:k"})
    assert settings.verification_keys_signing_key == "arn:aws:kms:k"
