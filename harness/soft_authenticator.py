"""A software WebAuthn authenticator for tests and benchmarks: it answers creation and
request options as a platform authenticator would (attestation "none", ES256, user
verified, a counter per credential), so that the service's verification, py_webauthn's,
meets real ceremonies without a browser. The browser tests use Chromium's own virtual
authenticator instead."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

FLAG_USER_PRESENT = 0x01
FLAG_USER_VERIFIED = 0x04
FLAG_BACKUP_ELIGIBLE = 0x08
FLAG_BACKED_UP = 0x10
FLAG_ATTESTED_DATA = 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class _Credential:
    key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    sign_count: int = 0


@dataclass
class SoftAuthenticator:
    rp_id: str
    origin: str
    # A synced passkey (backup eligible and backed up): it does not count (always 0).
    synced: bool = False
    credentials: dict[bytes, _Credential] = field(default_factory=dict)

    def _flags(self, attested: bool = False, verified: bool = True) -> int:
        flags = FLAG_USER_PRESENT | (FLAG_USER_VERIFIED if verified else 0)
        if self.synced:
            flags |= FLAG_BACKUP_ELIGIBLE | FLAG_BACKED_UP
        return flags | (FLAG_ATTESTED_DATA if attested else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        document = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**document, "crossOrigin": False}).encode()

    def create(self, options: dict[str, Any], origin: str | None = None) -> dict[str, Any]:
        """RegistrationResponseJSON for PublicKeyCredentialCreationOptionsJSON."""
        key = ec.generate_private_key(ec.SECP256R1())
        credential_id = os.urandom(16)
        self.credentials[credential_id] = _Credential(key, unb64url(options["user"]["id"]))
        numbers = key.public_key().public_numbers()
        cose_key = {
            1: 2,  # kty: EC2
            3: -7,  # alg: ES256
            -1: 1,  # crv: P-256
            -2: numbers.x.to_bytes(32, "big"),
            -3: numbers.y.to_bytes(32, "big"),
        }
        authenticator_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(attested=True)])
            + (0).to_bytes(4, "big")
            + bytes(16)  # AAGUID
            + len(credential_id).to_bytes(2, "big")
            + credential_id
            + cbor2.dumps(cose_key)
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": authenticator_data})
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }

    def get(
        self,
        options: dict[str, Any],
        origin: str | None = None,
        sign_count: int | None = None,
        verified: bool = True,
        discoverable: bool = True,
    ) -> dict[str, Any]:
        """AuthenticationResponseJSON: the first allowed credential this authenticator
        holds, or (no list) its first one. `sign_count` overrides the counter."""
        allowed = [unb64url(c["id"]) for c in options.get("allowCredentials") or ()]
        credential_id = next(
            (i for i in allowed if i in self.credentials), next(iter(self.credentials))
        )
        credential = self.credentials[credential_id]
        if sign_count is None and not self.synced:
            credential.sign_count += 1
        count = sign_count if sign_count is not None else credential.sign_count
        authenticator_data = (
            hashlib.sha256(self.rp_id.encode()).digest()
            + bytes([self._flags(verified=verified)])
            + count.to_bytes(4, "big")
        )
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = authenticator_data + hashlib.sha256(client_data).digest()
        signature = credential.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(authenticator_data),
            "signature": b64url(signature),
            "userHandle": b64url(credential.user_handle) if discoverable else None,
        }
        return {
            "id": b64url(credential_id),
            "rawId": b64url(credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        }
