"""The examples for integrators work against a running service: a resource server verifies
its access tokens from the JWKS with PyJWT (Python) and with jose (Node.js), and refuses a
token whose signature was tampered with."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from types import ModuleType

import jwt
import pytest

from local_run.template import ROOT
from tests.e2e.service import Service

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]
EXAMPLES = ROOT / "examples" / "resource_server"
NODE_TOOLS = ROOT / ".typescript"  # `make typescript` installs jose there


def _python_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_token", EXAMPLES / "verify_token.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    return f"{head}.{body}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"


def test_a_resource_server_verifies_tokens_from_the_jwks(service: Service) -> None:
    token = service.login(service.new_user())["access_token"]
    issuer = service.get("/.well-known/openid-configuration").json()["issuer"]
    audience = jwt.decode(token, options={"verify_signature": False})["aud"]
    jwks = service.url("/.well-known/jwks.json")
    # Python, PyJWT's PyJWKClient
    example = _python_example()
    client = example.verifier(jwks)
    claims = example.verify(client, token, issuer, audience)
    assert claims["sid"]
    with pytest.raises(jwt.InvalidTokenError):
        example.verify(client, _tampered(token), issuer, audience)
    with pytest.raises(jwt.InvalidTokenError):
        example.verify(client, token, issuer, "another-audience")
    # Node.js, jose (run from where `make typescript` installed it)
    node = shutil.which("node")
    assert node, "node is missing"
    script = NODE_TOOLS / "verify-token.mjs"
    shutil.copy(EXAMPLES / "verify-token.mjs", script)
    verified = subprocess.run(
        [node, str(script), jwks, issuer, audience, token],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert verified.returncode == 0, verified.stderr
    assert f'"sub":"{claims["sub"]}"' in verified.stdout
    refused = subprocess.run(
        [node, str(script), jwks, issuer, audience, _tampered(token)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "JWSSignatureVerificationFailed" in refused.stderr
