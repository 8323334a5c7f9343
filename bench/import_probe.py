"""Run by bench.coldstart in a fresh interpreter (`python -I -S`): time one import as a
Lambda cold start does it and print the result as JSON. Standard library only.

    import_probe.py handler CODE_DIR LAYER_DIR...   import `app` from CODE_DIR
    import_probe.py boto3 LAYER_DIR...              import boto3, create a DynamoDB client
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


def main() -> None:
    target, *paths = sys.argv[1:]
    sys.path[:0] = paths
    start = time.perf_counter()
    if target == "handler":
        import app  # type: ignore[import-not-found]  # noqa: F401, PLC0415
    else:
        import boto3  # noqa: PLC0415

        boto3.client("dynamodb", region_name="us-east-1")
    seconds = time.perf_counter() - start
    import json  # noqa: PLC0415 - after the clock stopped

    watched = {name: name in sys.modules for name in WATCHED}
    print(json.dumps({"seconds": seconds, "modules": len(sys.modules), "imported": watched}))


if __name__ == "__main__":
    main()
