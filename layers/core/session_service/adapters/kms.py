"""KMS: the document key, which signs the published verification keys. The rotation signs
with it (its key policy lets no one else); verifiers read its public part once per
container and verify locally, through the one client factory. And the identity providers'
secret key, which seals their client secrets at rest (KmsSealer): the admin API encrypts
with it, the API decrypts, each call bound to the provider by its encryption context."""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography.hazmat.primitives.asymmetric import ec

from session_service.adapters.aws import aws_client
from session_service.domain.errors import Unavailable
from session_service.domain.keys.key_documents import Signer, document_public_key
from session_service.domain.keys.keyring import KeyRingError
from session_service.observability import logger

# KMS's name for ES256's signature (ECDSA on P-256 with SHA-256).
SIGNING_ALGORITHM = "ECDSA_SHA_256"


@functools.cache
def kms_client() -> Any:
    return aws_client("kms")


def kms_signer(client: Any, key_id: str) -> Signer:
    """Signs with the KMS key: a DER ECDSA signature of the message's SHA-256."""

    def sign(message: bytes) -> bytes:
        # KMS signs at most 4,096 bytes of message; a document of many keys (rotations
        # within one overlap) outgrows that, its digest never does.
        digest = hashlib.sha256(message).digest()
        answer = client.sign(
            KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm=SIGNING_ALGORITHM
        )
        return bytes(answer["Signature"])

    return sign


def document_key(client: Any, key_id: str) -> ec.EllipticCurvePublicKey:
    """The public part of the document key; KMS failing is the client's 503."""
    try:
        answer = client.get_public_key(KeyId=key_id)
    except (ClientError, BotoCoreError):
        logger.exception("could not read the document key's public part", key=key_id)
        raise Unavailable(retry_after=2) from None
    if answer.get("KeyUsage") != "SIGN_VERIFY" or SIGNING_ALGORITHM not in answer.get(
        "SigningAlgorithms", []
    ):
        raise KeyRingError("the document key is not an ECDSA_SHA_256 signing key")
    return document_public_key(bytes(answer["PublicKey"]))


# The encryption context's key: a sealed secret opens only for the provider it was sealed
# for (IAM's condition on kms:EncryptionContextKeys requires it).
CONTEXT_KEY = "provider_id"


class KmsSealer:
    """SecretSealer with a symmetric KMS key: Encrypt and Decrypt (both naming the key, so
    that a ciphertext of another key is refused, not opened with whichever key made it),
    with {"provider_id": context} as the encryption context. KMS failing is a 503."""

    def __init__(self, client: Any, key_id: str) -> None:
        self._kms = client
        self._key_id = key_id

    def seal(self, plaintext: str, context: str) -> bytes:
        try:
            answer = self._kms.encrypt(
                KeyId=self._key_id,
                Plaintext=plaintext.encode(),
                EncryptionContext={CONTEXT_KEY: context},
            )
        except (ClientError, BotoCoreError) as error:
            logger.error("could not seal a secret", key=self._key_id, error=_code(error))
            raise Unavailable(retry_after=2) from None
        return bytes(answer["CiphertextBlob"])

    def unseal(self, sealed: bytes, context: str) -> str:
        try:
            answer = self._kms.decrypt(
                KeyId=self._key_id,
                CiphertextBlob=sealed,
                EncryptionContext={CONTEXT_KEY: context},
            )
        except (ClientError, BotoCoreError) as error:
            # InvalidCiphertextException too: a sealed secret moved to another provider
            logger.error("could not unseal a secret", key=self._key_id, error=_code(error))
            raise Unavailable(retry_after=2) from None
        return bytes(answer["Plaintext"]).decode()


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", ""))
    return type(error).__name__
