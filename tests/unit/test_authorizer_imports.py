"""The authorizer, the most called function, imports only what verifying a token needs:
no argon2, no pyotp (the second factor), no pydantic (the API's bodies)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from local_run.template import ROOT

UNWANTED = ("argon2", "pyotp", "pydantic", "session_service.domain.one_time_codes")

PROBE = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import app  # the authorizer's handler module, as Lambda imports it
print(json.dumps(sorted(sys.modules)))
"""


def test_the_authorizer_loads_no_password_hashing_no_otp_and_no_body_models() -> None:
    env = {
        **os.environ,
        "TABLE_NAME": "t",
        "SIGNING_KEY_SECRET_ID": "s",
        "TOKEN_ISSUER": "https://issuer.example",
        "MFA_POLICY": "required",
    }
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            PROBE,
            str(ROOT / "functions" / "authorizer"),
            str(ROOT / "layers" / "core"),
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    modules = set(json.loads(loaded.stdout.splitlines()[-1]))
    assert "session_service.edge.authorization" in modules
    assert {m for m in modules if m.split(".")[0] in UNWANTED or m in UNWANTED} == set()
