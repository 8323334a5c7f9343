"""Run by bench.coldstart in a fresh interpreter (`python -I -S`): time one import as a
Lambda cold start does it and print the result as JSON. Standard library only, until the
timed import.

    import_probe.py handler CODE_DIR LAYER_DIR...   import `app` from CODE_DIR
    import_probe.py boto3 LAYER_DIR...              import boto3, create a DynamoDB client
    import_probe.py document CODE_DIR LAYER_DIR...  import the authorizer's `app` (untimed),
        then time what its first request adds for the published keys' signature: the
        KMS client, and loading the document key's public part and verifying a document
        (GetPublicKey's round trip itself is not measured)
"""

import sys
import time

WATCHED = (
    "argon2",
    "pyotp",
    "pydantic",
    "aws_xray_sdk",
    "boto3",
    "webauthn",
    "botocore",
    "jwt",
    "cryptography",
)


def document_check() -> dict[str, float]:
    """Seconds for the KMS client (and the DynamoDB client, made the same way, for scale),
    and for the document key's public part and one signed document's verification."""
    import app  # type: ignore[import-not-found]  # noqa: F401, PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415

    from session_service.adapters.aws import aws_client  # noqa: PLC0415
    from session_service.domain.keys import key_documents  # noqa: PLC0415
    from session_service.domain.keys.key_rotation import generate_signing_key  # noqa: PLC0415
    from session_service.domain.keys.keyring import key_ring_from_secret  # noqa: PLC0415
    from session_service.domain.keys.published_keys import published_document  # noqa: PLC0415

    # A document as a rotation leaves it (the key in use and the next), signed
    private = ec.generate_private_key(ec.SECP256R1())
    keys = [generate_signing_key("RS256", 0), generate_signing_key("RS256", 0)]
    ring = key_ring_from_secret({"refresh_token_key": "k" * 64, "signing_keys": keys})
    signed = key_documents.signed_document(
        published_document(ring),
        lambda message: private.sign(message, ec.ECDSA(hashes.SHA256())),
        "key",
        issued_at=0,
    )
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # The clients of the first request, in its order: the DynamoDB client (timed, for
    # scale), the SSM client, then the KMS client
    start = time.perf_counter()
    aws_client("dynamodb")
    dynamodb = time.perf_counter() - start
    aws_client("ssm")
    start = time.perf_counter()
    aws_client("kms")
    kms = time.perf_counter() - start
    start = time.perf_counter()
    public_key = key_documents.document_public_key(der)
    key_documents.verified_document(key_documents.fetched(signed), public_key)
    return {
        "dynamodb_client_seconds": dynamodb,
        "kms_client_seconds": kms,
        "document_check_seconds": time.perf_counter() - start,
    }


def main() -> None:
    target, *paths = sys.argv[1:]
    sys.path[:0] = paths
    if target == "document":
        import json  # noqa: PLC0415

        print(json.dumps(document_check()))
        return
    start = time.perf_counter()
    if target == "handler":
        import app  # noqa: F401, PLC0415
    else:
        import boto3  # noqa: PLC0415

        boto3.client("dynamodb", region_name="us-east-1")
    seconds = time.perf_counter() - start
    import json  # noqa: PLC0415 - after the clock stopped

    watched = {name: name in sys.modules for name in WATCHED}
    print(json.dumps({"seconds": seconds, "modules": len(sys.modules), "imported": watched}))


if __name__ == "__main__":
    main()
