"""KMS: the document key, which signs the published verification keys. The rotation signs
with it (its key policy lets no one else); verifiers read its public part once per
container and verify locally, through the one client factory."""

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
