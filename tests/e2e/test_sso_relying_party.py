"""Single sign-on against a certified relying party: Node's openid-client (OpenID Certified)
drives the local run's OpenID Connect provider through discovery, the code flow with PKCE
and a nonce, its own validation of the ID token, userinfo, refresh, introspection,
revocation and RP-initiated logout (tests/e2e/oidc/relying_party.mjs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest
from botocore.credentials import Credentials

from local_run.sigv4 import signed_headers
from local_run.template import ROOT
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="registers a client with the run's credentials"),
]

RELYING_PARTY = ROOT / "tests" / "e2e" / "oidc" / "relying_party.mjs"
OPENID_CLIENT = ROOT / ".openid-client" / "node_modules" / "openid-client" / "build" / "index.js"
REDIRECT_URI = "http://127.0.0.1:8400/callback"
SIGNED_OUT_URI = "http://127.0.0.1:8400/signed-out"


def register_client(service: Service, body: dict[str, Any]) -> dict[str, Any]:
    """POST /admin/clients, signed with the local run's own credentials."""
    data = json.dumps(body).encode()
    credentials = Credentials(service.access_key, "local")
    url = service.url("/admin/clients")
    host = url.split("/")[2]
    headers = signed_headers("POST", url, data, credentials, "us-east-1", {"host": host})
    answer = service.post("/admin/clients", headers=headers, data=data)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_openid_client_signs_in_refreshes_and_signs_out(service: Service) -> None:
    node = shutil.which("node")
    assert node, "Node.js runs the relying party (make openid-client installs what it needs)"
    assert OPENID_CLIENT.exists(), "make openid-client installs Node's openid-client"
    username = service.new_user()
    client = register_client(
        service,
        {
            "name": "Relying party",
            "type": "confidential",
            "redirect_uris": [REDIRECT_URI],
            "post_logout_redirect_uris": [SIGNED_OUT_URI],
        },
    )
    env = {
        "PATH": os.environ["PATH"],
        "OPENID_CLIENT_MODULE": str(OPENID_CLIENT),
        "ISSUER": service.base_url,
        "CLIENT_ID": client["client_id"],
        "CLIENT_SECRET": client["client_secret"],
        "REDIRECT_URI": REDIRECT_URI,
        "POST_LOGOUT_REDIRECT_URI": SIGNED_OUT_URI,
        "USERNAME": username,
        "PASSWORD": PASSWORD,
    }
    run = subprocess.run(
        [node, str(RELYING_PARTY)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["issuer"] == service.base_url
    assert (outcome["signInPage"], outcome["signInStatus"]) == ("/signin", 303)
    assert outcome["idToken"]["aud"] == client["client_id"]
    assert outcome["idToken"]["amr"] == ["pwd"]
    assert outcome["userinfo"] == {
        "sub": outcome["idToken"]["sub"],
        "preferred_username": username,
    }
    assert outcome["refreshRotated"] is True
    assert outcome["introspected"] is True
    assert outcome["afterRevocation"] == "invalid_grant"
    assert outcome["logoutRedirect"] == f"{SIGNED_OUT_URI}?state=bye"
    assert outcome["activeAfterLogout"] is False
