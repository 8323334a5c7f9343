"""Signing keys: the key ring kept in Secrets Manager, its JWKS, generation and rotation."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from session_service.domain.errors import Unavailable
from session_service.domain.models import JwtAlgorithm, b64url, parse_rfc3339, rfc3339
from session_service.observability import logger

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# Members of the public JWK that RFC 7638 hashes into a thumbprint, by key type.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


class KeyRingError(ValueError):
    """The secret does not hold a usable key ring."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: JwtAlgorithm
    private_key: PrivateKey
    # After this instant (epoch seconds) no token it signed can still be valid.
    retire_at: float | None = None

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        jwk = _public_jwk(self.public_key)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True, slots=True)
class KeyRing:
    signing_key: SigningKey
    keys: Mapping[str, SigningKey]
    refresh_token_key: bytes

    def verification_key(self, kid: str, now: float) -> SigningKey | None:
        key = self.keys.get(kid)
        if key is None or (key.retire_at is not None and now >= key.retire_at):
            return None
        return key

    def jwks(self, now: float) -> dict[str, list[dict[str, Any]]]:
        live = [k for k in self.keys.values() if k.retire_at is None or now < k.retire_at]
        return {"keys": [key.public_jwk() for key in live]}


def _public_jwk(public_key: PublicKey) -> dict[str, Any]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public_key, as_dict=True)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(public_key, as_dict=True)
    return OKPAlgorithm.to_jwk(public_key, as_dict=True)


def thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself."""
    jwk = _public_jwk(public_key)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def _new_private_key(algorithm: JwtAlgorithm) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def _rfc3339(epoch: float) -> str:
    return rfc3339(int(epoch * 1000), timespec="seconds")


def _epoch(value: str) -> float:
    return parse_rfc3339(value) / 1000


def generate_signing_key(algorithm: JwtAlgorithm, now: float) -> dict[str, Any]:
    """A new key-ring entry: a fresh private key in PKCS#8 PEM with its thumbprint kid."""
    private_key = _new_private_key(algorithm)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "kid": thumbprint(private_key.public_key()),
        "alg": algorithm,
        "private_key": pem,
        "created_at": _rfc3339(now),
        "retire_at": None,
    }


def new_refresh_token_key() -> str:
    return secrets.token_urlsafe(48)


def rotated_secret(
    secret: Mapping[str, Any], algorithm: JwtAlgorithm, now: float, previous_valid_for: int
) -> dict[str, Any]:
    """The secret after a rotation: a new signer first, the old signer kept for verification
    until `previous_valid_for` seconds from now, keys already past retirement dropped."""
    kept: list[dict[str, Any]] = []
    for index, entry in enumerate(secret.get("signing_keys", [])):
        retire_at = entry.get("retire_at")
        if index == 0 and retire_at is None:
            kept.append({**entry, "retire_at": _rfc3339(now + previous_valid_for)})
        elif retire_at is not None and _epoch(retire_at) > now:
            kept.append(entry)
    return {
        **secret,
        "refresh_token_key": secret.get("refresh_token_key") or new_refresh_token_key(),
        "signing_keys": [generate_signing_key(algorithm, now), *kept],
    }


def key_ring_from_secret(secret: Mapping[str, Any]) -> KeyRing:
    """Parse the secret's JSON; the first signing key is the one that signs."""
    try:
        entries = secret["signing_keys"]
        refresh_token_key = str(secret["refresh_token_key"]).encode()
        keys: dict[str, SigningKey] = {}
        for entry in entries:
            private_key = serialization.load_pem_private_key(
                entry["private_key"].encode(),
                password=None,
                # The key is our own, generated by generate_signing_key; RSA validation
                # would cost milliseconds on every cold start for nothing.
                unsafe_skip_rsa_key_validation=True,
            )
            retire_at = entry.get("retire_at")
            key = SigningKey(
                kid=str(entry["kid"]),
                algorithm=entry["alg"],
                private_key=cast(PrivateKey, private_key),
                retire_at=_epoch(retire_at) if retire_at else None,
            )
            keys[key.kid] = key
    except (KeyError, TypeError, ValueError) as error:
        raise KeyRingError(f"the signing-key secret is malformed: {type(error).__name__}") from None
    if not entries or len(refresh_token_key) < 32:
        raise KeyRingError("the signing-key secret holds no signing key or refresh-token key")
    return KeyRing(
        signing_key=keys[str(entries[0]["kid"])], keys=keys, refresh_token_key=refresh_token_key
    )


SecretFetcher = Callable[[bool], Mapping[str, Any]]


class KeyRingSource:
    """The current key ring, fetched through Powertools parameters (cached for `max_age`)
    and parsed only when the secret's value changes."""

    # An unknown kid may mean a rotation this container has not seen yet; look again,
    # but never more often than this, so forged kids cannot drive Secrets Manager calls.
    _UNKNOWN_KID_REFRESH_INTERVAL = 30.0
    # A secret with no usable key (a new stack, before the first rotation has written
    # one) is read again past the cache, this often at most: the container serves as
    # soon as the key exists instead of keeping the empty ring for the cache's lifetime.
    _MISSING_KEY_REFRESH_INTERVAL = 5.0

    def __init__(self, fetch: SecretFetcher, clock: Callable[[], float] = time.time) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._raw: Mapping[str, Any] | None = None
        self._ring: KeyRing | None = None
        self._last_forced = float("-inf")
        self._last_missing_refetch = float("-inf")

    def current(self) -> KeyRing:
        return self._load(force=False)

    def refreshed(self) -> KeyRing | None:
        """A freshly fetched ring, or None when one was fetched moments ago."""
        with self._lock:
            if self._clock() - self._last_forced < self._UNKNOWN_KID_REFRESH_INTERVAL:
                return None
            self._last_forced = self._clock()
        return self._load(force=True)

    def _load(self, force: bool) -> KeyRing:
        try:
            return self._parsed(self._fetch(force))
        except KeyRingError:
            if not force and self._may_refetch_missing():
                try:
                    return self._parsed(self._fetch(True))
                except KeyRingError:
                    pass
            # Before the first rotation has run, or a damaged secret: an outage.
            logger.exception("the signing-key secret holds no usable key ring")
            raise Unavailable(retry_after=5) from None

    def _parsed(self, raw: Mapping[str, Any]) -> KeyRing:
        with self._lock:
            if raw is not self._raw or self._ring is None:
                self._ring = key_ring_from_secret(raw)
                self._raw = raw
            return self._ring

    def _may_refetch_missing(self) -> bool:
        with self._lock:
            if self._clock() - self._last_missing_refetch < self._MISSING_KEY_REFRESH_INTERVAL:
                return False
            self._last_missing_refetch = self._clock()
            return True


def retirement_delay(access_token_ttl: int, cache_seconds: int) -> int:
    """How long a replaced signer must stay in the JWKS: containers that cached the old ring
    may sign with it for `cache_seconds` more, those tokens live `access_token_ttl`, and
    verifiers get the leeway plus a minute for their own JWKS caches."""
    return cache_seconds + access_token_ttl + 1 + 60


def rotation_step(
    client: Any,
    *,
    step: str,
    secret_id: str,
    token: str,
    algorithm: JwtAlgorithm,
    previous_valid_for: int,
    now: float,
) -> None:
    """One step of Secrets Manager's four-step rotation of the key-ring secret."""
    if step == "createSecret":
        try:
            client.get_secret_value(SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING")
            return  # this rotation already created its version
        except client.exceptions.ResourceNotFoundException:
            pass
        current = json.loads(
            client.get_secret_value(SecretId=secret_id, VersionStage="AWSCURRENT")["SecretString"]
        )
        client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=json.dumps(rotated_secret(current, algorithm, now, previous_valid_for)),
            VersionStages=["AWSPENDING"],
        )
    elif step == "setSecret":
        return  # the key ring lives only in the secret; nothing else to update
    elif step == "testSecret":
        pending = client.get_secret_value(
            SecretId=secret_id, VersionId=token, VersionStage="AWSPENDING"
        )
        key_ring_from_secret(json.loads(pending["SecretString"]))
    elif step == "finishSecret":
        versions = client.describe_secret(SecretId=secret_id)["VersionIdsToStages"]
        current = next((v for v, stages in versions.items() if "AWSCURRENT" in stages), None)
        if current == token:
            return
        client.update_secret_version_stage(
            SecretId=secret_id,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            RemoveFromVersionId=current,
        )
    else:
        raise ValueError(f"unknown rotation step {step!r}")
