"""A stand-in for the KMS document key in tests without KMS: an ECC_NIST_P256 key in memory
that signs as KMS's Sign does (a DER signature) and gives its public part, as verifiers
fetch it. Another instance is another key: what an attacker holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from session_service.domain.keys.key_documents import fetched, signed_document


class LocalDocumentKey:
    def __init__(self, key_id: str = "arn:aws:kms:us-east-1:123456789012:key/local") -> None:
        self.key_id = key_id
        self._private_key = ec.generate_private_key(ec.SECP256R1())

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message, ec.ECDSA(hashes.SHA256()))

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._private_key.public_key()

    def signed(self, document: Mapping[str, Any], issued_at: float) -> str:
        """The document as the rotation writes it to the parameter."""
        return signed_document(document, self.sign, self.key_id, issued_at)

    def fetched(self, document: Mapping[str, Any], issued_at: float) -> Mapping[str, Any]:
        """The same, as the parameter's fetcher hands it to the verifiers."""
        return fetched(self.signed(document, issued_at))
