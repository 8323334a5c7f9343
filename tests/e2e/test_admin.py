"""The admin API against the local run, through the admin CLI (scripts/admin.py, signed
with the caller's credentials): the run accepts its own credentials and refuses anything
else; a disable and a revoke are refused by the authorizer on the next request."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from local_run.template import ROOT
from tests.e2e.service import DEPLOYED_URL, Service
from tests.helpers import PASSWORD

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.xdist_group("e2e"),
    pytest.mark.skipif(bool(DEPLOYED_URL), reason="signs with the local run's credentials"),
]


# What `make run` gives the run when the caller's environment names no credentials.
def admin_cli(service: Service, *args: str, secret: str = "local") -> tuple[int, object]:  # noqa: S107
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        # The local run's own credentials (its access key: a run on a shared DynamoDB
        # Local has one of its own)
        "AWS_ACCESS_KEY_ID": service.access_key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "admin.py"), "--api-url", service.base_url, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    status, _, body = done.stdout.strip().partition(" ")
    return int(status), json.loads(body) if body else None


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_cli_finds_a_user_and_a_wrong_signature_or_none_is_forbidden(
    configured: Callable[..., Service],
) -> None:
    service = configured()
    username = service.new_user()
    status, found = admin_cli(service, "find-user", username)
    assert status == 200
    assert isinstance(found, dict)
    assert found["username"] == username
    assert admin_cli(service, "find-user", username, secret="not-the-secret")[0] == 403
    unsigned = service.get(f"/admin/users?username={username}")
    assert unsigned.status_code == 403
    assert unsigned.json()["error"] == "forbidden"


def test_a_disable_and_a_revoke_are_refused_on_the_next_request(
    configured: Callable[..., Service],
) -> None:
    service = configured()
    username = service.new_user()
    first = service.login(username)
    session = service.get("/auth/session", headers=_bearer(first["access_token"])).json()
    user_id = session["user_id"]
    # An admin revoke: that session is refused at once
    assert admin_cli(service, "end-sessions", user_id, first["session_id"])[0] == 204
    refused = service.get("/auth/session", headers=_bearer(first["access_token"]))
    assert refused.status_code == 401
    # A disable: every session refused, and login answers like a wrong password
    second = service.login(username)
    assert admin_cli(service, "disable", user_id)[0] == 204
    gone = service.get("/auth/session", headers=_bearer(second["access_token"]))
    assert gone.status_code == 401
    login = service.post("/auth/login", {"username": username, "password": PASSWORD})
    assert (login.status_code, login.json()["error"]) == (401, "invalid_grant")
    # Enabling restores login
    assert admin_cli(service, "enable", user_id)[0] == 204
    assert service.login(username)["session_id"]
