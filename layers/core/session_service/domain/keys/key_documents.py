"""The published keys' document as the rotation signs it and as verifiers accept it: a compact
JWS (ES256) by the document key, a KMS key only the rotation's role may sign with, so that
whoever can write the parameter still cannot publish a key of their own.

Verifiers use the public part of the key their configuration names (fetched from KMS once
per container), never a key the document names: a document signed with any other key, or
not signed at all, does not verify."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from session_service.domain.keys.keyring import KeyRingError
from session_service.domain.models import b64url, parse_rfc3339, rfc3339

# JOSE's name for ECDSA on P-256 with SHA-256 (KMS's ECDSA_SHA_256 on an ECC_NIST_P256 key).
ALGORITHM = "ES256"
# What the payload is: a JWK Set (RFC 7517), its keys with their lifetimes.
CONTENT_TYPE = "jwk-set+json"
# The member of a fetched value that holds the parameter's text (see `fetched`).
TEXT = "jws"
_COORDINATE_BYTES = 32
_JWS = jwt.PyJWS(algorithms=[ALGORITHM])

# Signs a message with the document key, answering an ASN.1 DER ECDSA signature (as KMS's
# Sign and cryptography do).
Signer = Callable[[bytes], bytes]


class UntrustedDocument(KeyRingError):
    """The parameter holds something the document key did not sign, or a signed document
    older than the one already in use (a replay): it is never used."""


@dataclass(frozen=True, slots=True)
class VerifiedDocument:
    document: Mapping[str, Any]
    # Milliseconds since the epoch: when the rotation signed it.
    issued_at: int


def signed_document(
    document: Mapping[str, Any], sign: Signer, key_id: str, issued_at: float
) -> str:
    """The document, with the instant it was signed at, as a compact JWS. `kid` names the
    KMS key for a reader's information; no verifier looks a key up by it."""
    header = {"alg": ALGORITHM, "cty": CONTENT_TYPE, "kid": key_id}
    payload = {**document, "issued_at": rfc3339(int(issued_at * 1000))}
    signing_input = f"{_segment(header)}.{_segment(payload)}"
    r, s = decode_dss_signature(sign(signing_input.encode("ascii")))
    # JWS carries the two coordinates side by side, not DER (RFC 7518 section 3.4).
    raw = r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
    return f"{signing_input}.{b64url(raw)}"


def _segment(value: Mapping[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def fetched(text: str) -> Mapping[str, Any]:
    """The parameter's text as a fetcher hands it on: never refused while being read, so
    that whatever was written reaches `verified_document`, which alone judges it."""
    return {TEXT: text}


def verified_document(
    value: Mapping[str, Any], public_key: ec.EllipticCurvePublicKey
) -> VerifiedDocument:
    """The document signed in a fetched value, if the document key signed it."""
    try:
        signed = _JWS.decode_complete(str(value[TEXT]), key=public_key, algorithms=[ALGORITHM])
        payload = json.loads(signed["payload"])
        issued_at = parse_rfc3339(str(payload["issued_at"]))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as error:
        raise UntrustedDocument(
            f"the published keys do not verify with the document key: {type(error).__name__}"
        ) from None
    return VerifiedDocument(document=payload, issued_at=issued_at)


def document_public_key(der: bytes) -> ec.EllipticCurvePublicKey:
    """The document key's public part, from its SubjectPublicKeyInfo DER (KMS's
    GetPublicKey): a P-256 key, or the configuration is wrong."""
    try:
        key = serialization.load_der_public_key(der)
    except ValueError:
        raise KeyRingError("the document key's public part is not a public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise KeyRingError("the document key is not an ECC_NIST_P256 key")
    return key
