"""moto's KMS Sign, made to honour MessageType=DIGEST as KMS does. Installed in the embedded
emulator and in the tests that run moto in process.

moto signs every message as a raw one: given a digest, it hashes it again, and the
signature verifies against nothing the caller holds. KMS signs a DIGEST message as the
hash itself, which the rotation relies on (a document of many keys outgrows the 4,096
bytes KMS signs raw; adapters/kms.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from moto.kms.responses import KmsResponse

_ORIGINAL_SIGN = KmsResponse.sign
_HASHES = {"ECDSA_SHA_256": hashes.SHA256(), "ECDSA_SHA_384": hashes.SHA384()}


def install() -> None:
    """Replace moto's Sign handler (idempotent)."""
    KmsResponse.sign = _sign  # type: ignore[method-assign]


def _sign(self: KmsResponse) -> str:
    algorithm = self._get_param("SigningAlgorithm")
    if self._get_param("MessageType") != "DIGEST" or algorithm not in _HASHES:
        return str(_ORIGINAL_SIGN(self))
    key = self.kms_backend.describe_key(self._get_param("KeyId"))
    private_key = getattr(key.private_key, "private_key", None)
    if key.key_usage != "SIGN_VERIFY" or not isinstance(private_key, ec.EllipticCurvePrivateKey):
        return str(_ORIGINAL_SIGN(self))
    digest = self._get_param("Message")
    if isinstance(digest, str):
        digest = digest.encode("utf-8")
    signature = private_key.sign(digest, ec.ECDSA(utils.Prehashed(_HASHES[algorithm])))
    answer: dict[str, Any] = {
        "KeyId": key.arn,
        "Signature": base64.b64encode(signature).decode(),
        "SigningAlgorithm": algorithm,
    }
    return json.dumps(answer)
