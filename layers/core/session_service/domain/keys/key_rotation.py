"""Rotation of the key ring: a new signing key and a new refresh-token MAC key, each
published ahead of its use and the keys they replace kept until nothing they made is valid.

A verifier caches the JWKS for up to JWKS_MAX_AGE_SECONDS, and our own containers cache the
ring (and the published keys) for `cache_seconds`; a new key activates only after both, so
no one ever meets a token signed or MACed by a key they cannot know yet. The first key of a
new ring activates at once: no token exists that it could surprise."""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from session_service.domain.keys.keyring import (
    DEVICE_TOKEN_LIFETIME_SECONDS,
    JWKS_MAX_AGE_SECONDS,
    LEGACY_MAC_KEY_ID,
    PrivateKey,
    as_epoch,
    as_rfc3339,
    lifetime_of,
    thumbprint,
)
from session_service.domain.models import JwtAlgorithm


@dataclass(frozen=True, slots=True)
class RotationTimes:
    """Seconds: how long a new key is published before it is used, and how long a replaced
    key still verifies once its successor is in use."""

    publication_lead: int
    signing_key_overlap: int
    mac_key_overlap: int


def rotation_times(
    access_token_ttl: int, cache_seconds: int, session_absolute_timeout: int
) -> RotationTimes:
    return RotationTimes(
        # A verifier's JWKS cache and ours, and a minute for the rotation's own steps
        # (the keys are published at setSecret, moments after createSecret sets this).
        publication_lead=cache_seconds + JWKS_MAX_AGE_SECONDS + 60,
        # Its tokens live `access_token_ttl` past the switch, verifiers allow the leeway,
        # and a minute covers clocks; the cache term is a margin for stale containers.
        signing_key_overlap=cache_seconds + access_token_ttl + 1 + 60,
        # A refresh token lives at most until its session's absolute expiry; a device
        # token for its own lifetime (the device is otherwise "new" at its next sign-in).
        mac_key_overlap=max(session_absolute_timeout, DEVICE_TOKEN_LIFETIME_SECONDS) + 60,
    )


def _new_private_key(algorithm: JwtAlgorithm) -> PrivateKey:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def generate_signing_key(
    algorithm: JwtAlgorithm, now: float, activate_at: float | None = None
) -> dict[str, Any]:
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
        "created_at": as_rfc3339(now),
        "activate_at": None if activate_at is None else as_rfc3339(activate_at),
        "retire_at": None,
    }


def new_refresh_token_key() -> str:
    return secrets.token_urlsafe(48)


def _new_mac_key(now: float, activate_at: float, taken: set[str]) -> dict[str, Any]:
    kid = secrets.token_urlsafe(6)
    while kid in taken or kid == LEGACY_MAC_KEY_ID:
        kid = secrets.token_urlsafe(6)
    return {
        "kid": kid,
        "key": new_refresh_token_key(),
        "created_at": as_rfc3339(now),
        "activate_at": as_rfc3339(activate_at),
        "retire_at": None,
    }


def _succeeded(
    entries: list[dict[str, Any]], now: float, switch_at: float, overlap: int
) -> list[dict[str, Any]]:
    """The entries once a new key takes over at `switch_at`: those not yet retiring retire
    `overlap` after it, those already retired are dropped."""
    kept: list[dict[str, Any]] = []
    for entry in entries:
        retire_at = entry.get("retire_at")
        if retire_at is None:
            kept.append({**entry, "retire_at": as_rfc3339(switch_at + overlap)})
        elif as_epoch(retire_at) > now:
            kept.append(entry)
    return kept


def rotated_secret(
    secret: Mapping[str, Any], algorithm: JwtAlgorithm, now: float, times: RotationTimes
) -> dict[str, Any]:
    """The secret after a rotation: a new signing key and a new MAC key, each published
    `times.publication_lead` before it is used (at once in a ring with no key in use), the
    keys they replace kept for their overlaps, retired ones dropped."""
    signing = list(secret.get("signing_keys", []))
    in_use = any(lifetime_of(entry).active(now) for entry in signing)
    # Whole seconds, rounded up: the stored instant is never earlier than the lead allows.
    switch_at = float(math.ceil(now + times.publication_lead)) if in_use else now
    legacy = secret.get("refresh_token_key") or new_refresh_token_key()
    mac = list(secret.get("refresh_token_keys", []))
    if "refresh_token_keys" not in secret and in_use:
        # A ring from before MAC key ids: its one key MACed every token out there.
        mac = [{"kid": LEGACY_MAC_KEY_ID, "key": legacy}]
    # New keys go last: a reader that knows no activation times (the version before them,
    # during an upgrade) signs with the first key, which stays the one in use.
    return {
        **secret,
        "refresh_token_key": legacy,
        "signing_keys": [
            *_succeeded(signing, now, switch_at, times.signing_key_overlap),
            generate_signing_key(algorithm, now, activate_at=switch_at),
        ],
        "refresh_token_keys": [
            *_succeeded(mac, now, switch_at, times.mac_key_overlap),
            _new_mac_key(now, switch_at, {str(entry["kid"]) for entry in mac}),
        ],
    }
