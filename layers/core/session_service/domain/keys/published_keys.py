"""The verification keys, published apart from the private ones: what the authorizer (the
most exposed function) reads, so that it never holds a key that signs.

The document is a JWKS whose keys also carry `activate_at` and `retire_at`
(RFC 3339, or null); the rotation writes it from the key ring, signed with the document key
(key_documents), and verifiers use only what that key signed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.exceptions import PyJWTError

from session_service.domain.keys.key_documents import UntrustedDocument, verified_document
from session_service.domain.keys.keyring import (
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
from session_service.observability import logger

_FROM_JWK: dict[str, type[RSAAlgorithm | ECAlgorithm | OKPAlgorithm]] = {
    "RSA": RSAAlgorithm,
    "EC": ECAlgorithm,
    "OKP": OKPAlgorithm,
}
_TIMES = ("activate_at", "retire_at")
# A published-keys document was refused (unsigned, signed by another key, or a replay):
# someone wrote the parameter who should not (template.yaml alarms on it).
UNTRUSTED_KEY_DOCUMENTS = "UntrustedKeyDocuments"


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


def count_untrusted() -> None:
    """One `UNTRUSTED_KEY_DOCUMENTS` metric (EMF, flushed with the function's metrics)."""
    from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415

    from session_service.observability import metrics  # noqa: PLC0415

    metrics.add_metric(name=UNTRUSTED_KEY_DOCUMENTS, unit=MetricUnit.Count, value=1)


class PublishedKeySource(KeySource[PublishedKeys]):
    """The published verification keys, from their parameter: only a document the document
    key signed, and never one older than the document in use. Anything else is refused,
    logged and counted (`on_untrusted`) once per value read; the keys in use, if any, stay
    in use (with none, the keys are unavailable: 503)."""

    def __init__(
        self,
        fetch: SecretFetcher,
        document_key: Callable[[], ec.EllipticCurvePublicKey],
        on_untrusted: Callable[[], None] = count_untrusted,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(fetch, self._trusted, clock, what="the published verification keys")
        self._document_key = document_key
        self._on_untrusted = on_untrusted
        self._held: PublishedKeys | None = None
        self._held_issued_at = -1
        self._refused: Mapping[str, Any] | None = None

    def _trusted(self, fetched: Mapping[str, Any]) -> PublishedKeys:
        # (KeySource calls it under its lock, once for each value the fetcher reads)
        public_key = self._document_key()  # KMS failing is an outage, not a bad document
        if fetched is not self._refused:
            try:
                verified = verified_document(fetched, public_key)
                if verified.issued_at < self._held_issued_at:
                    raise UntrustedDocument("the published keys are older than those in use")
                keys = published_keys(verified.document)
            except KeyRingError as error:
                self._refused = fetched
                logger.error("refused the published verification keys", reason=str(error))
                self._on_untrusted()
            else:
                self._held, self._held_issued_at = keys, verified.issued_at
                return keys
        if self._held is None:
            raise UntrustedDocument("no trusted verification keys are published")
        return self._held
