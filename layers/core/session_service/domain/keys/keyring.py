"""The key ring kept in Secrets Manager: the JWT signing keys and the refresh-token MAC keys,
which key signs or MACs now, which still verify, and the JWKS.

Every key carries an id and may carry two instants: `activate_at`, before which it is
published but not used (a rotation publishes the next key ahead of its use, see
key_rotation), and `retire_at`, after which nothing it signed can still be valid. Of the
active keys, the one activated last is in use."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from session_service.domain.errors import Unavailable
from session_service.domain.models import JwtAlgorithm, b64url, parse_rfc3339, rfc3339
from session_service.observability import logger

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# How long a verifier may cache the JWKS (its Cache-Control max-age): a new key is
# published at least this long, plus our own cache, before it signs.
JWKS_MAX_AGE_SECONDS = 300
# The id the refresh-token key of a ring from before MAC key ids goes by (it MACed the
# `rt1` and `dt1` tokens, which name no key).
LEGACY_MAC_KEY_ID = "0"
# What a MAC key id may look like inside a token.
MAC_KEY_ID_PATTERN = r"[A-Za-z0-9_-]{1,16}"
# How long a device token (sessions.devices) stays good: a MAC key that stopped MACing is
# kept at least this long (key_rotation), so no device token it made stops counting early.
DEVICE_TOKEN_LIFETIME_SECONDS = 180 * 86_400

# Members of the public JWK that RFC 7638 hashes into a thumbprint, by key type.
_THUMBPRINT_MEMBERS = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}


class KeyRingError(ValueError):
    """The secret does not hold a usable key ring."""


@dataclass(frozen=True, slots=True)
class Lifetime:
    """When a key is in use: from `activate_at` (None: always was) until the next key
    activates; it verifies until `retire_at` (None: until a rotation sets it)."""

    activate_at: float | None = None
    retire_at: float | None = None

    def active(self, now: float) -> bool:
        return (self.activate_at is None or now >= self.activate_at) and self.live(now)

    def live(self, now: float) -> bool:
        return self.retire_at is None or now < self.retire_at


class VerificationKey(Protocol):
    """What verifying a token needs of a key: a private key's ring entry or a published
    public key."""

    @property
    def kid(self) -> str: ...

    @property
    def algorithm(self) -> JwtAlgorithm: ...

    @property
    def public_key(self) -> PublicKey: ...


class VerificationKeys(Protocol):
    def verification_key(self, kid: str, now: float) -> VerificationKey | None: ...


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    algorithm: JwtAlgorithm
    private_key: PrivateKey
    lifetime: Lifetime = Lifetime()

    @property
    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def public_jwk(self) -> dict[str, Any]:
        return {**public_jwk(self.public_key), "kid": self.kid, "alg": self.algorithm, "use": "sig"}


@dataclass(frozen=True, slots=True)
class MacKey:
    kid: str
    key: bytes
    lifetime: Lifetime = Lifetime()


@dataclass(frozen=True, slots=True)
class KeyRing:
    signing_keys: tuple[SigningKey, ...]
    mac_keys: tuple[MacKey, ...]
    # Keys decoy passkey credential ids (passkeys.decoy_for): never rotated, as a decoy
    # that changed at a rotation while real ids stay would tell that a username is unused.
    decoy_key: bytes

    def signer(self, now: float) -> SigningKey:
        """The key that signs now: of the active ones, the one activated last."""
        return _in_use([key for key in self.signing_keys if key.lifetime.active(now)], "signing")

    def verification_key(self, kid: str, now: float) -> SigningKey | None:
        return live_named(self.signing_keys, kid, now)

    def jwks(self, now: float) -> dict[str, list[dict[str, Any]]]:
        """Every key that verifies now or will sign: a key to come is published early."""
        return {"keys": [k.public_jwk() for k in self.signing_keys if k.lifetime.live(now)]}

    def mac_key(self, now: float) -> MacKey:
        """The key that MACs new tokens now: of the active ones, the one activated last."""
        return _in_use([key for key in self.mac_keys if key.lifetime.active(now)], "MAC")

    def mac_key_named(self, kid: str, now: float) -> MacKey | None:
        return live_named(self.mac_keys, kid, now)


class NamedKey(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def lifetime(self) -> Lifetime: ...


def live_named[K: NamedKey](keys: Iterable[K], kid: str, now: float) -> K | None:
    """The key of that id, unless it is retired (or unknown)."""
    return next((key for key in keys if key.kid == kid and key.lifetime.live(now)), None)


def _in_use[K: (SigningKey, MacKey)](active: list[K], kind: str) -> K:
    if not active:
        raise KeyRingError(f"no {kind} key is active")
    # Activated last wins; a key with no activation time always was, so it loses to any.
    # Among those (a ring from before activation times), one not retiring wins.
    return max(
        enumerate(active),
        key=lambda pair: (
            pair[1].lifetime.activate_at or float("-inf"),
            pair[1].lifetime.retire_at or float("inf"),
            pair[0],
        ),
    )[1]


def public_jwk(public_key: PublicKey) -> dict[str, Any]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSAAlgorithm.to_jwk(public_key, as_dict=True)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return ECAlgorithm.to_jwk(public_key, as_dict=True)
    return OKPAlgorithm.to_jwk(public_key, as_dict=True)


def thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 JWK thumbprint: a kid derived from the key itself."""
    jwk = public_jwk(public_key)
    members = {name: jwk[name] for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(canonical).digest())


def as_rfc3339(epoch: float) -> str:
    return rfc3339(int(epoch * 1000), timespec="seconds")


def as_epoch(value: str) -> float:
    return parse_rfc3339(value) / 1000


def lifetime_of(entry: Mapping[str, Any]) -> Lifetime:
    activate_at, retire_at = entry.get("activate_at"), entry.get("retire_at")
    return Lifetime(
        activate_at=as_epoch(activate_at) if activate_at else None,
        retire_at=as_epoch(retire_at) if retire_at else None,
    )


def _signing_key(entry: Mapping[str, Any]) -> SigningKey:
    private_key = serialization.load_pem_private_key(
        entry["private_key"].encode(),
        password=None,
        # The key is our own, generated by key_rotation; RSA validation would cost
        # milliseconds on every cold start for nothing.
        unsafe_skip_rsa_key_validation=True,
    )
    return SigningKey(
        kid=str(entry["kid"]),
        algorithm=entry["alg"],
        private_key=cast(PrivateKey, private_key),
        lifetime=lifetime_of(entry),
    )


def _mac_keys(secret: Mapping[str, Any], legacy: bytes) -> tuple[MacKey, ...]:
    entries = secret.get("refresh_token_keys")
    if entries is None:
        # A ring no rotation has given MAC key ids yet: its one key MACs everything.
        return (MacKey(LEGACY_MAC_KEY_ID, legacy),)
    keys = tuple(
        MacKey(str(entry["kid"]), str(entry["key"]).encode(), lifetime_of(entry))
        for entry in entries
    )
    if any(len(key.key) < 32 for key in keys):
        raise KeyRingError("a refresh-token key is shorter than 32 characters")
    return keys


def key_ring_from_secret(secret: Mapping[str, Any]) -> KeyRing:
    """Parse the secret's JSON (see the module's docstring)."""
    try:
        legacy = str(secret["refresh_token_key"]).encode()
        signing_keys = tuple(_signing_key(entry) for entry in secret["signing_keys"])
        mac_keys = _mac_keys(secret, legacy)
    except (KeyError, TypeError, ValueError) as error:
        if isinstance(error, KeyRingError):
            raise
        raise KeyRingError(f"the signing-key secret is malformed: {type(error).__name__}") from None
    if not signing_keys or not mac_keys or len(legacy) < 32:
        raise KeyRingError("the signing-key secret holds no signing key or refresh-token key")
    return KeyRing(signing_keys=signing_keys, mac_keys=mac_keys, decoy_key=legacy)


SecretFetcher = Callable[[bool], Mapping[str, Any]]


class KeySource[Keys]:
    """The current keys, fetched through a cached fetcher and parsed only when the fetched
    value changes."""

    # An unknown kid may mean a rotation this container has not seen yet; look again,
    # but never more often than this, so forged kids cannot drive Secrets Manager calls.
    _UNKNOWN_KID_REFRESH_INTERVAL = 30.0
    # A source with no usable key (a new stack, before the first rotation has written
    # one) is read again past the cache, this often at most: the container serves as
    # soon as the key exists instead of keeping the empty ring for the cache's lifetime.
    _MISSING_KEY_REFRESH_INTERVAL = 5.0

    def __init__(
        self,
        fetch: SecretFetcher,
        parse: Callable[[Mapping[str, Any]], Keys],
        clock: Callable[[], float] = time.time,
        what: str = "the signing-key secret",
    ) -> None:
        self._fetch = fetch
        self._parse = parse
        self._clock = clock
        self._what = what
        self._lock = threading.Lock()
        self._raw: Mapping[str, Any] | None = None
        self._keys: Keys | None = None
        self._last_forced = float("-inf")
        self._last_missing_refetch = float("-inf")

    def current(self) -> Keys:
        return self._load(force=False)

    def refreshed(self) -> Keys | None:
        """Freshly fetched keys, or None when they were fetched moments ago."""
        with self._lock:
            if self._clock() - self._last_forced < self._UNKNOWN_KID_REFRESH_INTERVAL:
                return None
            self._last_forced = self._clock()
        return self._load(force=True)

    def _load(self, force: bool) -> Keys:
        try:
            return self._parsed(self._fetch(force))
        except KeyRingError:
            if not force and self._may_refetch_missing():
                try:
                    return self._parsed(self._fetch(True))
                except KeyRingError:
                    pass
            # Before the first rotation has run, or a damaged secret: an outage.
            logger.exception(f"{self._what} holds no usable key")
            raise Unavailable(retry_after=5) from None

    def _parsed(self, raw: Mapping[str, Any]) -> Keys:
        with self._lock:
            if raw is not self._raw or self._keys is None:
                self._keys = self._parse(raw)
                self._raw = raw
            return self._keys

    def _may_refetch_missing(self) -> bool:
        with self._lock:
            if self._clock() - self._last_missing_refetch < self._MISSING_KEY_REFRESH_INTERVAL:
                return False
            self._last_missing_refetch = self._clock()
            return True


class KeyRingSource(KeySource[KeyRing]):
    """The private key ring, from the signing-key secret."""

    def __init__(self, fetch: SecretFetcher, clock: Callable[[], float] = time.time) -> None:
        super().__init__(fetch, key_ring_from_secret, clock)


class MacKeys:
    """The MAC keys of our opaque tokens (refresh and device tokens): a token names the key
    that MACed it, and verifies under it while that key lives."""

    def __init__(self, source: KeySource[KeyRing], clock: Callable[[], float] = time.time) -> None:
        self._source = source
        self._clock = clock

    def current(self) -> MacKey:
        try:
            return self._source.current().mac_key(self._clock())
        except KeyRingError:
            logger.exception("no refresh-token key is in use")
            raise Unavailable(retry_after=5) from None

    def named(self, kid: str) -> MacKey | None:
        """The key `kid`, or None: unknown (after one look past the cache, as a rotation
        this container has not seen yet may have made it) or retired."""
        now = self._clock()
        key = self._source.current().mac_key_named(kid, now)
        if key is None:
            fresher = self._source.refreshed()
            key = fresher.mac_key_named(kid, now) if fresher else None
        return key

    def decoy_key(self) -> bytes:
        return self._source.current().decoy_key
