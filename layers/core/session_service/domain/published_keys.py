"""The verification keys, published apart from the private ones: what the authorizer (the
most exposed function) reads, so that it never holds a key that signs.

The document is a JWKS whose keys also carry `activate_at` and `retire_at`
(RFC 3339, or null); the rotation writes it from the key ring (key_rotation.publish)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from session_service.domain.keyring import (
    KeyRing,
    KeyRingError,
    KeySource,
    Lifetime,
    PublicKey,
    SecretFetcher,
    as_rfc3339,
    lifetime_of,
    live_named,
)
from session_service.domain.models import JwtAlgorithm

_FROM_JWK: dict[str, type[RSAAlgorithm | ECAlgorithm | OKPAlgorithm]] = {
    "RSA": RSAAlgorithm,
    "EC": ECAlgorithm,
    "OKP": OKPAlgorithm,
}
_TIMES = ("activate_at", "retire_at")


@dataclass(frozen=True, slots=True)
class PublishedKey:
    kid: str
    algorithm: JwtAlgorithm
    public_key: PublicKey
    lifetime: Lifetime
    jwk: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class PublishedKeys:
    keys: tuple[PublishedKey, ...]

    def verification_key(self, kid: str, now: float) -> PublishedKey | None:
        return live_named(self.keys, kid, now)

    def jwks(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """The JWKS: every key that verifies now or will sign, as published."""
        return {"keys": [dict(key.jwk) for key in self.keys if key.lifetime.live(now)]}


def published_document(ring: KeyRing, current: KeyRing | None = None) -> dict[str, Any]:
    """Every public key of the ring, with its lifetime, retired ones included until a
    rotation drops them (readers compare `retire_at` with their clock). With `current`
    (the ring in use while `ring` is pending), a key both hold keeps the lifetime it has
    now: a rotation that never finishes retires nothing."""
    in_use = {key.kid: key for key in current.signing_keys} if current else {}
    return {
        "keys": [
            {
                **key.public_jwk(),
                **{
                    name: None if instant is None else as_rfc3339(instant)
                    for name, instant in zip(
                        _TIMES, (key.lifetime.activate_at, key.lifetime.retire_at), strict=True
                    )
                },
            }
            for key in (in_use.get(pending.kid, pending) for pending in ring.signing_keys)
        ]
    }


def _public_key(jwk: Mapping[str, Any]) -> PublicKey:
    key = _FROM_JWK[jwk["kty"]].from_jwk({k: v for k, v in jwk.items() if k not in _TIMES})
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        # Only public keys are ever published; a private one here is a mistake to stop.
        raise KeyRingError("a published key is not a public key of a usable type")
    return key


def published_keys(document: Mapping[str, Any]) -> PublishedKeys:
    try:
        keys = tuple(
            PublishedKey(
                kid=str(jwk["kid"]),
                algorithm=jwk["alg"],
                public_key=_public_key(jwk),
                lifetime=lifetime_of(jwk),
                jwk={name: value for name, value in jwk.items() if name not in _TIMES},
            )
            for jwk in document["keys"]
        )
    except (KeyError, TypeError, ValueError, PyJWTError) as error:
        raise KeyRingError(f"the published keys are malformed: {type(error).__name__}") from None
    if not keys:
        raise KeyRingError("no verification key is published yet")
    return PublishedKeys(keys)


class PublishedKeySource(KeySource[PublishedKeys]):
    """The published verification keys, from their parameter."""

    def __init__(self, fetch: SecretFetcher, clock: Callable[[], float] = time.time) -> None:
        super().__init__(fetch, published_keys, clock, what="the published verification keys")
