"""WebAuthn's two ceremonies, creating a passkey and signing in with one, through Duo
Labs' py_webauthn: it builds the options and verifies the responses (CBOR, COSE, the
attestation statement, the signature); nothing here parses them by hand. Imported by the
passkey routes only: the library, cbor2 and pyOpenSSL are not part of any other cold
start."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from session_service.domain.models import Passkey, b64url

# How long a ceremony's options are good for (the contract's at most 300 s).
CEREMONY_SECONDS = 300
_KNOWN_TRANSPORTS = frozenset({"usb", "nfc", "ble", "internal", "cable", "hybrid"})


class PasskeyRejected(ValueError):
    """The response does not prove what it should (its reason is for the logs only)."""


@dataclass(frozen=True, slots=True)
class RelyingParty:
    rp_id: str
    rp_name: str
    # ALLOWED_ORIGINS: a response from any other origin is refused.
    origins: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VerifiedRegistration:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    synced: bool


@dataclass(frozen=True, slots=True)
class VerifiedAssertion:
    new_sign_count: int
    synced: bool


@dataclass(frozen=True, slots=True)
class PresentedAssertion:
    """What an assertion names before it is verified: its credential and, for a
    discoverable credential, the user handle (the user id this service gave it)."""

    credential_id: bytes
    user_handle: str | None


def passkey_id_of(credential_id: bytes) -> str:
    """The passkey's id in the API and the table: a fixed-size digest of the credential
    id, so that a duplicate registration of one credential finds the same id."""
    return b64url(hashlib.sha256(credential_id).digest())


def _b64url_decode(value: object) -> bytes:
    if not isinstance(value, str) or not value:
        raise PasskeyRejected("not a base64url string")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise PasskeyRejected("not a base64url string") from None


def presented(credential: dict[str, Any]) -> PresentedAssertion:
    """The credential id (`rawId`) and user handle an AuthenticationResponseJSON names."""
    response = credential.get("response")
    handle = response.get("userHandle") if isinstance(response, dict) else None
    user_handle = _b64url_decode(handle).decode(errors="replace") if handle else None
    return PresentedAssertion(_b64url_decode(credential.get("rawId")), user_handle)


class WebAuthn:
    def __init__(self, party: RelyingParty) -> None:
        self._party = party

    def creation_options(
        self, user_id: str, username: str, challenge: bytes, existing: list[Passkey]
    ) -> dict[str, Any]:
        """PublicKeyCredentialCreationOptionsJSON: a discoverable credential preferred,
        user verification required, the user's passkeys excluded, no attestation."""
        import webauthn  # noqa: PLC0415
        from webauthn.helpers import structs  # noqa: PLC0415

        options = webauthn.generate_registration_options(
            rp_id=self._party.rp_id,
            rp_name=self._party.rp_name,
            user_id=user_id.encode(),
            user_name=username,
            user_display_name=username,
            challenge=challenge,
            timeout=CEREMONY_SECONDS * 1000,
            authenticator_selection=structs.AuthenticatorSelectionCriteria(
                resident_key=structs.ResidentKeyRequirement.PREFERRED,
                user_verification=structs.UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[_descriptor(passkey) for passkey in existing],
        )
        document: dict[str, Any] = json.loads(webauthn.options_to_json(options))
        return document

    def request_options(self, challenge: bytes, allowed: list[Passkey]) -> dict[str, Any]:
        """PublicKeyCredentialRequestOptionsJSON: user verification required; with the
        user's passkeys listed when a username was given, else any discoverable one."""
        import webauthn  # noqa: PLC0415
        from webauthn.helpers import structs  # noqa: PLC0415

        options = webauthn.generate_authentication_options(
            rp_id=self._party.rp_id,
            challenge=challenge,
            timeout=CEREMONY_SECONDS * 1000,
            allow_credentials=[_descriptor(passkey) for passkey in allowed],
            user_verification=structs.UserVerificationRequirement.REQUIRED,
        )
        document: dict[str, Any] = json.loads(webauthn.options_to_json(options))
        return document

    def verify_registration(
        self, credential: dict[str, Any], challenge: bytes
    ) -> VerifiedRegistration:
        """Challenge, origin, RP id hash, user presence and verification, the attestation
        statement and the public key's algorithm, as WebAuthn §7.1 has them."""
        import webauthn  # noqa: PLC0415
        from webauthn.helpers import parse_registration_credential_json  # noqa: PLC0415
        from webauthn.helpers.structs import CredentialDeviceType  # noqa: PLC0415

        try:
            parsed = parse_registration_credential_json(credential)
            verified = webauthn.verify_registration_response(
                credential=parsed,
                expected_challenge=challenge,
                expected_rp_id=self._party.rp_id,
                expected_origin=list(self._party.origins),
                require_user_verification=True,
            )
        except Exception as error:  # the library's many ways of saying "no"
            raise PasskeyRejected(f"{type(error).__name__}: {error}") from None
        transports = tuple(
            str(getattr(t, "value", t))
            for t in parsed.response.transports or ()
            if str(getattr(t, "value", t)) in _KNOWN_TRANSPORTS
        )
        return VerifiedRegistration(
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            transports=transports,
            synced=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
        )

    def verify_assertion(
        self, credential: dict[str, Any], challenge: bytes, passkey: Passkey
    ) -> VerifiedAssertion:
        """Challenge, origin, RP id hash, user presence and verification, and the
        signature by the passkey's public key (WebAuthn §7.2). The sign count is left to
        the caller: a count that went backwards is refused there, and recorded."""
        import webauthn  # noqa: PLC0415
        from webauthn.helpers.structs import CredentialDeviceType  # noqa: PLC0415

        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=self._party.rp_id,
                expected_origin=list(self._party.origins),
                credential_public_key=passkey.public_key,
                # 0: the library then never refuses a count; see sign_count_regressed.
                credential_current_sign_count=0,
                require_user_verification=True,
            )
        except Exception as error:  # the library's many ways of saying "no"
            raise PasskeyRejected(f"{type(error).__name__}: {error}") from None
        if verified.credential_id != passkey.credential_id:
            raise PasskeyRejected("the assertion is of another credential")
        synced = verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
        return VerifiedAssertion(verified.new_sign_count, synced or passkey.synced)


def sign_count_regressed(stored: int, presented_count: int) -> bool:
    """WebAuthn §6.1.1: an authenticator that counts must count up. A count that does not
    exceed the stored one (unless both are 0: synced passkeys do not count) may be a
    cloned authenticator."""
    return (stored > 0 or presented_count > 0) and presented_count <= stored


def _descriptor(passkey: Passkey) -> Any:
    from webauthn.helpers import structs  # noqa: PLC0415

    transports = [structs.AuthenticatorTransport(t) for t in passkey.transports]
    return structs.PublicKeyCredentialDescriptor(
        id=passkey.credential_id, transports=transports or None
    )
