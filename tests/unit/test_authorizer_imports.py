"""The authorizer, the most called function, imports only what verifying a token needs:
no argon2, no pyotp (the second factor), no pydantic (the API's bodies), no WebAuthn
(passkeys). The API function loads py_webauthn with the passkey routes' first call, not
at its cold start."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local_run.template import ROOT

# py_webauthn and what it brings (CBOR, ASN.1, pyOpenSSL).
WEBAUTHN = ("webauthn", "cbor2", "pyasn1", "pyasn1_modules", "OpenSSL")
UNWANTED = (
    "argon2",
    "pyotp",
    "pydantic",
    "session_service.domain.factors.one_time_codes",
    "session_service.domain.factors.webauthn_ceremonies",
    *WEBAUTHN,
    # the X-Ray SDK: only with TracingMode=Active
    "aws_xray_sdk",
    "wrapt",
)

TRACING_PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1]]
from session_service.adapters.aws import aws_client
client = aws_client("dynamodb")
print(json.dumps({
    "sdk": "aws_xray_sdk" in sys.modules,
    # wrapt's wrapper around botocore's one call path, when the SDK patched it
    "patched": type(sys.modules["botocore.client"].BaseClient.__dict__["_make_api_call"]).__name__,
}))
"""

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app  # the authorizer's handler module, as Lambda imports it
print(json.dumps(sorted(sys.modules)))
"""


ENV = {
    "TABLE_NAME": "t",
    "SIGNING_KEY_SECRET_ID": "s",
    "TOKEN_ISSUER": "https://issuer.example",
    "MFA_POLICY": "required",
    "ALLOWED_ORIGINS": "https://app.example",
}


def _loaded(function: str) -> set[str]:
    """The modules a cold start of the function's handler module loads."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(ROOT / "functions" / function),
            str(ROOT / "layers" / "core"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **ENV},
    )
    return set(json.loads(loaded.stdout.splitlines()[-1]))


def test_the_authorizer_loads_no_password_hashing_no_otp_no_body_models_no_webauthn() -> None:
    modules = _loaded("authorizer")
    assert "session_service.edge.authorization" in modules
    assert {m for m in modules if m.split(".")[0] in UNWANTED or m in UNWANTED} == set()


def test_the_api_function_loads_webauthn_otp_and_argon2_only_when_a_route_needs_them() -> None:
    modules = _loaded("api")
    assert "session_service.edge.passkey_routes" in modules
    heavy = (*WEBAUTHN, "pyotp", "argon2")
    assert {m for m in modules if m.split(".")[0] in heavy} == set()


def _client_made_with(tracing_mode: str) -> dict[str, object]:
    made = subprocess.run(
        [sys.executable, "-c", TRACING_PROBE, str(ROOT / "layers" / "core")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TRACING_MODE": tracing_mode, "AWS_DEFAULT_REGION": "us-east-1"},
    )
    return dict(json.loads(made.stdout.splitlines()[-1]))


def test_aws_calls_are_traced_only_with_tracing_on() -> None:
    # TracingMode=Active: the X-Ray SDK wraps botocore's calls, so they show in the trace
    assert _client_made_with("Active") == {"sdk": True, "patched": "FunctionWrapper"}
    # PassThrough, the default: the SDK is never loaded
    assert _client_made_with("PassThrough") == {"sdk": False, "patched": "function"}
