"""One-time codes and what keeps them secret: TOTP (RFC 6238, through pyotp), recovery
codes, and the sealing of TOTP secrets at rest.

The key material comes from a secret kept apart from the table (the second-factor key
secret): an export of the table reveals no TOTP secret and no recovery code. Only the API
function loads this module; the authorizer never does."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from session_service.domain.models import b64url

# RFC 6238 as every authenticator app reads it: SHA-1, 6 digits, 30-second steps.
TOTP_DIGITS = 6
TOTP_STEP_SECONDS = 30
# Codes of the previous and next step are accepted too (clock drift, a slow typist).
TOTP_SKEW_STEPS = 1
RECOVERY_CODE_COUNT = 10
# 24 characters of base32 (120 bits), shown as four groups of six: at 112 bits or more a
# lookup secret may be stored with a standard hash (ASVS 5.0 V6.5.2), here an HMAC under
# a key kept apart from the table.
RECOVERY_CODE_LENGTH = 24
_RECOVERY_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_SEALED_PREFIX = "v1."
_NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value that this key cannot open (another key, or tampered with)."""


@dataclass(frozen=True, slots=True)
class SecondFactorKeys:
    """Keys derived (HKDF-SHA256) from the second-factor secret: one seals TOTP secrets,
    one keys the recovery codes' digests."""

    sealing_key: bytes
    code_key: bytes

    @classmethod
    def derive(cls, secret_text: str) -> SecondFactorKeys:
        material = secret_text.encode()

        def derived(purpose: bytes) -> bytes:
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose)
            return hkdf.derive(material)

        return cls(derived(b"totp-secret-sealing"), derived(b"recovery-code-digest"))


class SecretBox:
    """Seals a TOTP secret with AES-256-GCM, bound to its user (the associated data), so
    that a sealed secret copied onto another user's item does not open."""

    def __init__(self, keys: Callable[[], SecondFactorKeys]) -> None:
        self._keys = keys

    def seal(self, plaintext: str, user_id: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self._keys().sealing_key).encrypt(
            nonce, plaintext.encode(), user_id.encode()
        )
        return _SEALED_PREFIX + b64url(nonce + sealed)

    def open(self, sealed: str, user_id: str) -> str:
        if not sealed.startswith(_SEALED_PREFIX):
            raise SealError("unknown sealing format")
        raw = sealed.removeprefix(_SEALED_PREFIX)
        data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        nonce, ciphertext = data[:_NONCE_BYTES], data[_NONCE_BYTES:]
        try:
            plaintext = AESGCM(self._keys().sealing_key).decrypt(
                nonce, ciphertext, user_id.encode()
            )
        except InvalidTag:
            raise SealError("the sealed secret does not open with this key") from None
        return plaintext.decode()


@dataclass(frozen=True, slots=True)
class TotpSetup:
    secret: str
    otpauth_uri: str


def new_totp(username: str, issuer: str) -> TotpSetup:
    """A fresh 160-bit secret (RFC 4226's recommended length) and its otpauth URI, with
    the issuer in the label and as `issuer=`, as authenticator apps expect."""
    secret = pyotp.random_base32()
    uri = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=issuer
    )
    return TotpSetup(secret=secret, otpauth_uri=uri)


def matching_step(secret: str, code: str, now_seconds: float) -> int | None:
    """The time step whose code this is, within one step of now; None if none matches.
    The step, not a yes or no: a code is accepted once per step (the caller records it)."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_STEP_SECONDS)
    current = int(now_seconds // TOTP_STEP_SECONDS)
    for offset in range(-TOTP_SKEW_STEPS, TOTP_SKEW_STEPS + 1):
        step = current + offset
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def is_totp_code(code: str) -> bool:
    # ASCII only: str.isdigit() also accepts "١٢٣٤٥٦" and "²", which no app shows.
    return len(code) == TOTP_DIGITS and code.isascii() and code.isdigit()


def new_recovery_codes() -> list[str]:
    """Ten single-use recovery codes, as the user writes them down: `abcdef-ghijkl-...`."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH))
        codes.append("-".join(raw[i : i + 6] for i in range(0, RECOVERY_CODE_LENGTH, 6)))
    return codes


def normalise_recovery_code(code: str) -> str | None:
    """The code as stored, whatever case, spaces or hyphens the user typed; None if it
    cannot be one."""
    cleaned = "".join(code.split()).replace("-", "").lower()
    if len(cleaned) != RECOVERY_CODE_LENGTH or any(c not in _RECOVERY_ALPHABET for c in cleaned):
        return None
    return cleaned


def recovery_code_digest(keys: SecondFactorKeys, normalised: str) -> str:
    """What the table keeps of a recovery code: an HMAC under a key it does not hold."""
    return b64url(hmac.new(keys.code_key, normalised.encode(), hashlib.sha256).digest())
